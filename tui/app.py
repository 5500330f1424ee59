"""The Textual app and its one factory, used by the CLI and the tests alike (posting's ``make_posting``).

``make_app`` builds everything the app needs before it starts (config, hardware target, language, keymap,
runner), so bad input fails as a one-paragraph CLI error (exit 2) instead of a broken screen. Entry points:
``run_from_cli`` (``ft-tui [CONFIG]``), ``run_demo`` (``ft-tui demo``) and ``run_attach`` (``ft-tui attach``).

Nothing here imports torch: the demo kit is built (torch) by ``run_demo`` before the app starts, and the runner
is a detached process.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from ft_tui.tui import keymap as K
from ft_tui.tui.commands import Palette, ScreenCommands
from ft_tui.tui.help import default_language
from ft_tui.tui.i18n import label, system_text
from ft_tui.tui.state import SetupState
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen


class Runner(Protocol):
    """How the setup screen starts a run. Tests pass a fake that records the call."""

    def launch(self, config: Any, plan: dict[str, Any], hardware: Any) -> Path:
        """Create the run directory, start the detached trainer, return the run directory."""
        ...


class LocalRunner:
    """The real runner: the runner's control library, as `ft-tui train` uses it: the checks (model and datasets
    resolve; the rows were read by the setup screen already), then the launch (config.yaml, plan.json, state.json,
    run index, detached trainer)."""

    def launch(self, config: Any, plan: dict[str, Any], hardware: Any) -> Path:
        from ft_tui.runner import control

        control.check(config, rows=False)
        nproc = max(1, int(getattr(hardware, "count", 1) or 1)) if getattr(hardware, "source", "") == "probe" \
            else 1
        return control.launch(config, plan, hardware, nproc=nproc).run.path


class FtTuiApp(App):
    """ft-tui's app: opens the setup screen (or, for ``attach``, a run screen)."""

    CSS_PATH = "app.tcss"
    TITLE = "ft-tui"
    COMMANDS = App.COMMANDS | {ScreenCommands}
    BINDINGS = [
        Binding(K.keys_for(K.QUIT), "quit", "Quit", id=K.QUIT, priority=True),
        Binding(K.keys_for(K.HELP_LANGUAGE), "toggle_language", "EN/中文", id=K.HELP_LANGUAGE),
        Binding(K.keys_for(K.RUNS), "open_runs", "Runs", id=K.RUNS),
    ]

    lang: reactive[str] = reactive("en")

    def __init__(self, *, state: SetupState | None = None, runner: Runner | None = None, lang: str = "en",
                 keymap: dict[str, str] | None = None, run_dir: Path | None = None):
        super().__init__()
        if state is None and run_dir is None:
            raise ValueError("FtTuiApp needs a setup state or a run directory")
        self.setup_state = state
        self.runner: Runner = runner or LocalRunner()
        self.start_run_dir = Path(run_dir) if run_dir is not None else None
        self.user_keymap = dict(keymap or {})
        self.set_reactive(FtTuiApp.lang, lang)

    def get_default_screen(self) -> Screen:
        if self.start_run_dir is not None:
            return self.run_screen(self.start_run_dir)
        from ft_tui.tui.screens.setup import SetupScreen

        return SetupScreen(self.setup_state)

    def on_mount(self) -> None:
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
        K.localize_bindings(self, self.lang)

    def watch_lang(self, lang: str) -> None:
        """The app's own footer keys follow the language (each screen relabels its own)."""
        K.localize_bindings(self, lang)

    # -- navigation --------------------------------------------------------------------------------------------
    @staticmethod
    def run_screen(run_dir: Path) -> Screen:
        """T2's live run screen for ``run_dir`` (imported lazily: it is not on the setup screen's path)."""
        from ft_tui.tui.screens.run import RunScreen

        return RunScreen(run_dir)

    def open_run(self, run_dir: Path) -> None:
        """Show the run screen for ``run_dir``."""
        self.push_screen(self.run_screen(run_dir))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """F4 (runs) is left out of the footer on the runs screen itself, where it does nothing (room for its keys
        at 80 columns). The runs screen's module is only looked up, not imported: it is off the start-up path."""
        runs = sys.modules.get("ft_tui.tui.screens.runs")
        if action == "open_runs" and runs is not None:
            from textual.screen import ModalScreen

            # under a dialog, the footer still shows the screen beneath it
            shown = next((s for s in reversed(self.screen_stack) if not isinstance(s, ModalScreen)), None)
            if isinstance(shown, runs.RunsScreen):
                return False
        return True

    def action_open_runs(self) -> None:
        """Show the runs screen: the one already on the stack when there is one (F4 -> r -> F4 goes back to it, so
        the stack never grows and one esc returns where the user came from), else a new one."""
        from ft_tui.tui.screens.runs import RunsScreen

        if isinstance(self.screen, RunsScreen):
            return
        if any(isinstance(s, RunsScreen) for s in self.screen_stack):
            while not isinstance(self.screen, RunsScreen):
                self.pop_screen()
            return
        self.push_screen(RunsScreen())

    def action_toggle_language(self) -> None:
        self.lang = "zh" if self.lang == "en" else "en"

    def action_command_palette(self) -> None:
        """The command palette, in the app's language (ctrl+p)."""
        if self.use_command_palette and not Palette.is_open(self):
            self.push_screen(Palette(self.lang, id="--command-palette"))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's own palette entries (theme, quit, keys, screenshot) in the app's language."""
        for command in super().get_system_commands(screen):
            yield command._replace(title=system_text(self.lang, command.title),
                                   help=system_text(self.lang, command.help))

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        lang = self.lang
        return [
            (label(lang, "cmd_runs"), label(lang, "cmd_runs_help"), self.action_open_runs),
            (label(lang, "cmd_language"), label(lang, "cmd_language_help"), self.action_toggle_language),
        ]


# ----------------------------------------------------------------------------------------------------------------
# Factory and entry points
# ----------------------------------------------------------------------------------------------------------------

def make_app(config_path: str | Path | None = None, gpu: str = "auto", gpus: int | None = None,
             lang: str | None = None, runner: Runner | None = None) -> FtTuiApp:
    """Build the app on a config file (or defaults) for hardware ``gpu`` x ``gpus``.

    Raises InputError (CLI exit 2) for an unreadable or invalid config, an unknown ``--gpu`` or a bad keymap
    file. ``lang`` defaults to the locale (zh for a Chinese LANG, else en).
    """
    from ft_tui.planner.config import load_config
    from ft_tui.planner.gpu_probe import probe
    from ft_tui.planner.hardware import resolve_hardware

    cfg = load_config(config_path) if config_path is not None else load_config(None)
    gpu = (gpu or "auto").strip()
    report = probe() if gpu.lower() == "auto" else None
    hardware = resolve_hardware(gpu, gpus, report=report)
    used = report.gpus[: hardware.count] if report is not None else []
    from ft_tui.runner.history import past_runs

    state = SetupState.from_config(cfg, hardware, gpus=used, history=past_runs())
    return FtTuiApp(state=state, runner=runner, lang=lang or default_language(), keymap=K.load_keymap())


def run_from_cli(args: Any) -> int:
    """``ft-tui [CONFIG] [--gpu G] [--gpus N] [--lang en|zh]``."""
    app = make_app(getattr(args, "config", None), getattr(args, "gpu", "auto"), getattr(args, "gpus", None),
                   getattr(args, "lang", None))
    for warning in app.setup_state.config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    app.run()
    return int(app.return_code or 0)


def run_demo(args: Any) -> int:
    """``ft-tui demo``: build the demo kit first (torch, once, cached), then open the setup screen on it."""
    import os

    from ft_tui.runner.demo_kit import build_demo_kit, write_demo_config

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(label(getattr(args, "lang", None) or default_language(), "demo_preparing"), file=sys.stderr)
    kit = build_demo_kit()
    path = write_demo_config(kit, Path.cwd() / "runs")  # the same config `ft-tui demo --headless` trains
    app = make_app(path, "auto", None, getattr(args, "lang", None))
    app.run()
    return int(app.return_code or 0)


def run_attach(run_dir: str | Path, lang: str | None = None) -> int:
    """``ft-tui attach RUN``: open the run screen directly on a run directory."""
    app = FtTuiApp(run_dir=Path(run_dir), lang=lang or default_language(), keymap=K.load_keymap())
    app.run()
    return int(app.return_code or 0)
