"""Every command-palette entry on every screen runs without an exception (issue #13, item 2).

Each entry (Textual's own system commands and the screen's and the app's) is run the way the palette runs it (its
callback), then the focus moves (tab) and the screen redraws; whatever the entry opened (a dialog, a sub-palette,
a pushed screen) is closed again before the next one. Quit runs last and must end the app cleanly.
"""

from __future__ import annotations

import inspect

from ft_tui.tui.app import make_app
from ft_tui.tui.commands import ScreenCommands
from ft_tui.tui.screens.run import RunScreen
from ft_tui.tui.screens.runs import RunsScreen
from ft_tui.tui.screens.setup import SetupScreen


class FakeRunner:
    def __init__(self, run_dir):
        self.run_dir = run_dir

    def launch(self, config, plan, hardware):
        return self.run_dir


def palette_entries(app) -> list[tuple[str, object]]:
    """(title, callback) of every entry the palette offers on the current screen, searchable ones included."""
    out = [(c.title, c.callback) for c in app.get_system_commands(app.screen)]
    provider = ScreenCommands(app.screen)
    out += [(name, callback) for name, _help, callback, *_ in provider._commands()]
    return out


async def back_to(pilot, screen, reopen) -> object:
    """Close whatever an entry opened on top of ``screen`` (or, when the entry left it, e.g. Detach, open a new one
    with ``reopen``). Returns the screen under test."""
    app = pilot.app
    if screen not in app.screen_stack:
        while len(app.screen_stack) > 1 and not isinstance(app.screen, SetupScreen):
            app.pop_screen()
            await pilot.pause()
        screen = reopen()
        await pilot.pause()
    for _ in range(10):
        if app.screen is screen:
            return screen
        app.pop_screen()
        await pilot.pause()
    assert app.screen is screen, app.screen_stack
    return screen


async def run_every_entry(pilot, screen, done: list[str], reopen=None) -> None:
    app = pilot.app
    count = len(palette_entries(app))
    assert count > 3
    for index in range(count):
        entries = palette_entries(app)  # of the screen now under test (Detach leaves it for a new one)
        if index >= len(entries):
            break
        title, callback = entries[index]
        if str(title) in ("Quit", "退出"):
            continue
        result = callback()
        if inspect.isawaitable(result):
            await result
        elif hasattr(result, "wait"):  # a worker (the field jumps)
            await result.wait()
        await pilot.pause()
        await pilot.press("tab")
        await pilot.pause()
        assert app._exception is None, f"{title!r} on {type(screen).__name__}: {app._exception!r}"
        done.append(f"{type(screen).__name__}: {title}")
        screen = await back_to(pilot, screen, reopen)


async def test_every_palette_entry_on_every_screen(catalog_config, settle, recorded_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the screenshot entry writes its SVG into the working folder
    lang = "en"  # the entries' callbacks are the same in Chinese; test_i18n_zh checks their words
    app = make_app(catalog_config, gpu="rtx4090", lang=lang, runner=FakeRunner(recorded_run))
    done: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        setup = app.screen
        assert isinstance(setup, SetupScreen)
        await run_every_entry(pilot, setup, done)
        app.lang = lang  # the language entry toggled it (an even number of times is not guaranteed)
        app.action_open_runs()
        await pilot.pause()
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await run_every_entry(pilot, runs, done)
        app.pop_screen()
        await pilot.pause()

        def open_run():
            app.open_run(recorded_run)
            return app.screen

        run = open_run()
        await pilot.pause()
        assert isinstance(run, RunScreen)
        await run_every_entry(pilot, run, done, reopen=open_run)
        quit_entry = next(cb for title, cb in palette_entries(app) if str(title) in ("Quit", "退出"))
        result = quit_entry()
        if inspect.isawaitable(result):
            await result
        await pilot.pause()
    assert app._exception is None and app.return_code in (0, None)
    assert any("Keys" in d or "按键" in d for d in done), done


async def test_keys_panel_then_tab_keeps_the_field_help(catalog_config, settle):
    """The issue's steps: ctrl+p, "Keys", enter, then tab. Textual's keys panel opens beside the field help."""
    from ft_tui.tui.widgets.help_panel import FieldHelp
    from textual.widgets import HelpPanel as KeysPanel

    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = {c.title: c for c in app.get_system_commands(app.screen)}
        assert titles["Keys"].help.startswith("Show"), titles["Keys"]  # not "Hide": no keys panel is shown yet
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Keys")
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("tab")
        await settle(pilot)
        assert app._exception is None
        assert app.screen.query(KeysPanel) and app.screen.query_one(FieldHelp).shown_text
