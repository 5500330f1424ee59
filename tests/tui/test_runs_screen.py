"""Pilot tests of the runs screen on fake runs registered in a private run index (XDG_STATE_HOME in tmp)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ft_tui.planner.errors import InputError
from ft_tui.runner import control
from ft_tui.runner.events import EndEvent, EventWriter, LogEvent, StartEvent
from ft_tui.runner.rundir import RunDir, indexed_runs, register_run
from ft_tui.tui.screens.run import RunScreen
from ft_tui.tui.screens.runs import RunsScreen
from textual.app import App
from textual.screen import Screen
from textual.widgets import DataTable

T0 = 1_795_800_000.0


def dead_pid() -> int:
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                         check=True)
    return int(out.stdout)


def fake_run(root: Path, name: str, status: str, *, steps: int, total: int, end: str | None = None,
             pid: int | None = None, started: float = T0) -> RunDir:
    """A registered run directory: state.json and an events file with ``steps`` logged steps."""
    run = RunDir.create(root / name)
    run.config_path.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\n", encoding="utf-8")
    run.write_state(status=status, pid=pid, model="Qwen/Qwen2.5-0.5B", method="lora", started=started, id=name)
    with EventWriter(run.events_path) as writer:
        writer.emit(StartEvent(time=started, total_steps=total))
        writer.emit_all(LogEvent(time=started + s, step=s, loss=round(2.0 - s / 100, 4))
                        for s in range(1, steps + 1))
        if end:
            writer.emit(EndEvent(time=started + steps + 1, status=end, step=steps))
    register_run(run)
    return run


class RunsApp(App):
    def __init__(self, screen: Screen, lang: str = "en"):
        super().__init__()
        self.lang = lang
        self._first = screen

    def on_mount(self) -> None:
        self.push_screen(self._first)


async def until(pilot, condition, what: str, tries: int = 200) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def rows(app: App) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def watch_screen(path: Path) -> Screen:
    return RunScreen(path, sampler=list, tail_interval=0.05)


async def select(pilot, app: App, run_id: str) -> None:
    table = app.screen.query_one(DataTable)
    index = next(i for i, row in enumerate(rows(app)) if row[0] == run_id)
    table.move_cursor(row=index)
    await pilot.pause()


async def test_lists_runs_with_status_progress_and_loss(tmp_path: Path) -> None:
    fake_run(tmp_path, "a-done", "completed", steps=20, total=20, end="completed", started=T0)
    fake_run(tmp_path, "b-dead", "running", steps=7, total=50, pid=dead_pid(), started=T0 + 100)
    fake_run(tmp_path, "c-live", "running", steps=3, total=10, pid=os.getpid(), started=T0 + 200)
    app = RunsApp(RunsScreen(screen_factory=watch_screen))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 3, "the run list")
        table = rows(app)
        assert [r[0] for r in table] == ["c-live", "b-dead", "a-done"]  # newest first
        by_id = {r[0]: r for r in table}
        # id, status, progress, loss, model, method, started
        assert by_id["a-done"][1:5] == ["completed", "20/20 100%", "1.8000", "Qwen/Qwen2.5-0.5B"]
        assert by_id["b-dead"][1:4] == ["interrupted", "7/50  14%", "1.9300"]
        assert by_id["c-live"][1:4] == ["running", "3/10  30%", "1.9700"]
        screen = app.screen
        await select(pilot, app, "c-live")
        assert not screen.check_action("resume", ()) and not screen.check_action("export", ())
        await select(pilot, app, "b-dead")
        assert screen.check_action("resume", ()) and not screen.check_action("export", ())
        await select(pilot, app, "a-done")
        assert screen.check_action("export", ()) and not screen.check_action("resume", ())


async def test_open_watches_the_selected_run(tmp_path: Path) -> None:
    fake_run(tmp_path, "a-done", "completed", steps=20, total=20, end="completed")
    app = RunsApp(RunsScreen(screen_factory=watch_screen))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 1, "the run list")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen")
        run_screen = app.screen
        await until(pilot, lambda: run_screen.view.step == 20 and run_screen.status == "completed", "the history")
        await pilot.press("escape")  # a completed run: Back (esc), no detach, to the list
        await until(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs screen")


async def test_resume_calls_the_resumer_then_watches(tmp_path: Path) -> None:
    run = fake_run(tmp_path, "b-dead", "running", steps=7, total=50, pid=dead_pid())
    calls: list[Path] = []
    app = RunsApp(RunsScreen(resumer=lambda r: calls.append(r.path), screen_factory=watch_screen))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 1, "the run list")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen")
        assert calls == [run.path]


async def test_resume_failure_is_reported(tmp_path: Path) -> None:
    fake_run(tmp_path, "b-dead", "running", steps=7, total=50, pid=dead_pid())

    def refuse(run: RunDir) -> None:
        raise InputError("no complete checkpoint and no config", hint="Start a new run.")

    app = RunsApp(RunsScreen(resumer=refuse, screen_factory=watch_screen))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 1, "the run list")
        await pilot.press("r")
        await until(pilot, lambda: any("Could not resume" in str(n.message) for n in app._notifications),
                    "the error")
        assert app.screen is screen and screen.busy == set()


def with_adapter(run: RunDir, *, checkpoints: tuple[int, ...] = ()) -> RunDir:
    """A LoRA run's result files (not loadable weights: an adapter export copies them as they are)."""
    for folder in ["adapter", *(f"checkpoint-{step}" for step in checkpoints)]:
        (run.path / folder).mkdir()
        (run.path / folder / "adapter_config.json").write_text('{"r": 8, "lora_alpha": 16}', encoding="utf-8")
        (run.path / folder / "adapter_model.safetensors").write_bytes(folder.encode())
    for step in checkpoints:  # marked complete, as the runner marks them
        from ft_tui.runner import checkpoints as cp

        cp.mark_complete(run.path / f"checkpoint-{step}", step)
    return run


async def test_export_dialog_runs_the_export_child_and_says_where(tmp_path: Path) -> None:
    """e opens the dialog with the CLI's choices; Export runs runner/export_job.py as a child (the real one)."""
    from ft_tui.tui.screens.export import ExportDialog

    run = with_adapter(fake_run(tmp_path, "a-done", "completed", steps=20, total=20, end="completed"),
                       checkpoints=(10,))
    app = RunsApp(RunsScreen(screen_factory=watch_screen), lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 1, "the run list")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ExportDialog), "the export dialog")
        dialog = app.screen
        assert dialog.form.checkpoints == (10,) and dialog.form.can_merge
        assert dialog.query_one("#export-output").placeholder == str(run.path / "export")
        dialog.query_one("#export-checkpoint").value = 10
        await pilot.pause()
        assert dialog.query_one("#export-output").placeholder == str(run.path / "export-checkpoint-10")
        await pilot.click("#start")
        await until(pilot, lambda: dialog.result is not None or "未导出" in str(dialog.query_one("#export-status")
                                                                               .render()), "the result", tries=1000)
        assert dialog.result == run.path / "export-checkpoint-10"
        assert (dialog.result / "adapter_model.safetensors").read_bytes() == b"checkpoint-10"
        assert [n.code for n in dialog.notes] == ["export_copied"]
        await pilot.press("escape")
        await until(pilot, lambda: any(str(dialog.result) in str(n.message) for n in app._notifications),
                    "the notice")
        assert isinstance(app.screen, RunsScreen) and app.screen.busy == set()


async def test_export_dialog_keeps_the_form_after_an_error_and_stops_a_running_export(tmp_path: Path) -> None:
    from ft_tui.runner.childproc import Child
    from ft_tui.tui.screens.export import ExportDialog, ExportForm

    run = with_adapter(fake_run(tmp_path, "a-done", "completed", steps=2, total=2, end="completed"))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    slow: list[Child] = []

    def sleeper(path: Path, choice) -> Child:  # a child that never answers, to be stopped
        slow.append(Child("http.server", ["0", "--bind", "127.0.0.1"], log_path=tmp_path / "slow.log").start())
        return slow[-1]

    app = RunsApp(ExportDialog(ExportForm.read(run.path)), lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = app.screen
        dialog.query_one("#export-output").value = str(foreign)
        await pilot.click("#start")
        status = dialog.query_one("#export-status")
        await until(pilot, lambda: "Not exported" in str(status.render()), "the error", tries=1000)
        assert "not empty" in str(status.render()) and not dialog.has_class("-running")
        assert dialog.query_one("#export-output").value == str(foreign)  # what the user typed is kept
        assert (foreign / "notes.txt").read_text(encoding="utf-8") == "mine"

        dialog.starter = sleeper
        await pilot.click("#start")
        await until(pilot, lambda: bool(slow) and slow[0].running, "the child", tries=1000)
        await pilot.press("escape")
        await until(pilot, lambda: "Stopped" in str(status.render()), "the stop", tries=1000)
        assert not slow[0].running and app.screen is dialog  # a second esc closes it


async def test_empty_index_says_how_to_start(tmp_path: Path) -> None:
    app = RunsApp(RunsScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.has_class("-empty"), "the empty state")
        assert not screen.check_action("open", ())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunsScreen), "back")


def test_default_resumer_refuses_a_completed_run(tmp_path: Path) -> None:
    run = fake_run(tmp_path, "a-done", "completed", steps=2, total=2, end="completed")
    assert RunsScreen().resumer is control.resume
    try:
        control.resume(run)
    except InputError as exc:
        assert "cannot be resumed" in str(exc) or "complete" in str(exc)
    else:  # the runner's own resume_run may print and return for a completed run; it must not relaunch it
        assert run.read_state()["status"] == "completed"
    assert [r.id for r in indexed_runs()] == ["a-done"]


async def test_resume_a_stopped_run_for_real(tmp_path: Path, monkeypatch) -> None:
    """The default resumer starts the runner's stand-in worker (same protocol, no torch) with --resume: it goes on
    from the last complete checkpoint, and the run screen shows the second attempt to its end."""
    from ft_tui.runner.checkpoints import mark_complete
    from ft_tui.runner.launch import wait_child

    monkeypatch.setenv("FT_TUI_WORKER", str(Path(__file__).parents[1] / "runner" / "fake_worker.py"))
    monkeypatch.setenv("FAKE_STEP_S", "0.01")
    run = fake_run(tmp_path, "stopped-run", "stopped", steps=5, total=30, end="stopped", started=1.0)
    run.config_path.write_text("max_steps: 30\nsave_steps: 10\nlogging_steps: 1\n", encoding="utf-8")
    (run.path / "checkpoint-5").mkdir()
    mark_complete(run.path / "checkpoint-5", 5)
    app = RunsApp(RunsScreen(screen_factory=watch_screen))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 1, "the run list")
        assert app.screen.check_action("resume", ())
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen", 500)
        watch = app.screen
        await until(pilot, lambda: watch.status == "completed" and watch.view.phase == "completed", "the end", 500)
        assert watch.view.attempts == 2 and watch.view.resumed_from == 5 and watch.view.step == 30
        assert [s for s, _ in watch.view.train_loss] == list(range(1, 31))
    state = run.read_state()
    assert state["status"] == "completed" and state["resumes"] == 1
    wait_child(state.get("launcher_pid"), 5.0)


async def test_resume_shows_the_runners_warnings(tmp_path: Path, monkeypatch) -> None:
    """Resuming (the real resume, with the stand-in worker) a run launched on 2 processes, with no complete
    checkpoint, where 1 GPU is visible: the notices say it starts over and that the effective batch changes."""
    from ft_tui.runner.launch import wait_child

    monkeypatch.setenv("FT_TUI_WORKER", str(Path(__file__).parents[1] / "runner" / "fake_worker.py"))
    monkeypatch.setenv("FAKE_STEP_S", "0.01")
    monkeypatch.setattr(control, "visible_gpu_count", lambda: 1)
    run = fake_run(tmp_path, "no-ckpt", "stopped", steps=3, total=6, end="stopped", started=1.0)
    run.config_path.write_text("max_steps: 6\nsave_steps: 10\nlogging_steps: 1\n", encoding="utf-8")
    run.write_state(nproc=2)
    app = RunsApp(RunsScreen(screen_factory=watch_screen), lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 1, "the run list")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen", 500)
        notices = {str(n.message): n.severity for n in app._notifications}
        assert notices.get("训练 no-ckpt 没有完整的检查点：将从第 0 步重新开始") == "warning", notices
        assert any("有效批大小" in text and severity == "warning" for text, severity in notices.items()), notices
    state = run.read_state()
    assert state["nproc"] == 1 and state["resumes"] == 1  # resumed on the one visible GPU
    wait_child(state.get("launcher_pid"), 5.0)


# -- #13 item 14: delete runs from the runs screen (the rule of `ft-tui runs rm`) ---------------------------------

async def test_delete_asks_then_removes_the_run_and_its_index_entry(tmp_path: Path) -> None:
    from ft_tui.tui.screens.dialogs import ConfirmDialog

    keep = fake_run(tmp_path, "a-keep", "completed", steps=2, total=2, end="completed", started=T0)
    gone = fake_run(tmp_path, "b-gone", "failed", steps=2, total=9, end="failed", started=T0 + 100)
    (gone.path / "checkpoint-2").mkdir()
    app = RunsApp(RunsScreen(screen_factory=watch_screen))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 2, "the run list")
        await select(pilot, app, "b-gone")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        assert app.screen.title_text == "Delete run b-gone?" and str(gone.path) in app.screen.body
        await pilot.press("n")  # no: nothing is removed
        await until(pilot, lambda: app.screen is screen, "back on the list")
        assert gone.path.exists() and len(indexed_runs()) == 2
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation again")
        await pilot.press("y")
        await until(pilot, lambda: [r[0] for r in rows(app)] == ["a-keep"], "the list without the run")
        assert not gone.path.exists() and keep.path.exists()
        assert [r.id for r in indexed_runs()] == ["a-keep"]
        assert any(str(n.message) == "Deleted run b-gone." for n in app._notifications)


async def test_delete_refuses_a_live_run_with_the_reason_and_asks_nothing(tmp_path: Path) -> None:
    from ft_tui.runner.rundir import process_start_ticks
    from ft_tui.tui.screens.dialogs import ConfirmDialog

    live = fake_run(tmp_path, "c-live", "running", steps=3, total=10, pid=os.getpid())
    live.write_state(pid_start=process_start_ticks(os.getpid()))
    app = RunsApp(RunsScreen(screen_factory=watch_screen), lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 1, "the run list")
        assert screen.check_action("delete", ())  # offered, so that pressing it says why not
        await pilot.press("d")
        await until(pilot, lambda: any("运行 c-live 仍在" in str(n.message) for n in app._notifications),
                    "the refusal")
        notice = next(str(n.message) for n in app._notifications if "c-live" in str(n.message))
        assert "ft-tui stop c-live" in notice and "没有删除任何东西" in notice, notice
        assert not isinstance(app.screen, ConfirmDialog)
        assert live.path.exists() and [r.id for r in indexed_runs()] == ["c-live"]


async def test_delete_is_in_the_palette_and_the_footer_at_80x24(tmp_path: Path) -> None:
    from textual.widgets._footer import FooterKey

    fake_run(tmp_path, "a-done", "completed", steps=2, total=2, end="completed")
    app = RunsApp(RunsScreen(screen_factory=watch_screen))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 1, "the run list")
        await pilot.pause()
        titles = [title for title, _help, _run in screen.palette_commands()]
        assert "Delete run" in titles
        keys = {k.description: k.region for k in screen.query(FooterKey)}
        assert "Delete" in keys, keys
        assert all(region.right <= 80 and region.width > 0 for region in keys.values()), keys


async def test_every_runs_key_fits_the_app_footer_at_80x24_in_both_languages(tmp_path: Path, catalog_config,
                                                                            settle) -> None:
    """In the real app (its F1-F4 and quit keys too), the most keys the runs screen shows at once (Open, Resume,
    Delete on a failed run) fit 80 columns in English and Chinese; F4 (runs) is left out where it does nothing."""
    from ft_tui.tui.app import make_app
    from textual.widgets._footer import FooterKey

    fake_run(tmp_path, "b-failed", "failed", steps=2, total=9, end="failed")
    for lang, words in (("en", ("Open", "Resume", "Delete", "Refresh", "Back")),
                        ("zh", ("打开", "续训", "删除", "刷新", "返回"))):
        app = make_app(catalog_config, gpu="rtx4090", lang=lang)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("f4")
            await until(pilot, lambda a=app: isinstance(a.screen, RunsScreen), "the runs screen")
            await until(pilot, lambda a=app: a.screen.query_one(DataTable).row_count == 1, "the run list")
            await pilot.pause()
            keys = {k.key: (k.description, k.region) for k in app.screen.query(FooterKey)}
            assert "f4" not in keys, keys
            shown = [d for d, region in keys.values() if region.width > 0 and region.right <= 80]
            assert all(word in shown for word in words), (lang, keys)


async def test_f4_r_f4_does_not_stack_screens(tmp_path: Path, catalog_config, settle, monkeypatch) -> None:
    """#13 item 17: F4 (runs) -> r (resume: the run screen) -> F4 goes back to the runs screen already open, so one
    esc then returns to the setup screen the user came from."""
    from ft_tui.tui.app import make_app
    from ft_tui.tui.screens.setup import SetupScreen

    fake_run(tmp_path, "b-failed", "failed", steps=2, total=9, end="failed")
    monkeypatch.setattr(control, "resume", lambda run: None)  # no trainer: the screens are what is tested
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs screen")
        await until(pilot, lambda: app.screen.query_one(DataTable).row_count == 1, "the run list")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen after resume")
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs screen again")
        assert [type(s).__name__ for s in app.screen_stack] == ["SetupScreen", "RunsScreen"], app.screen_stack
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, SetupScreen), "one esc back to setup")
        assert app.is_running
