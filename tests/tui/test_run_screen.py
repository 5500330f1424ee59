"""Pilot tests of the run screen fed recorded events.jsonl files (no trainer, no GPU, fake stopper and sampler)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ft_tui.planner.messages import Msg
from ft_tui.runner import control
from ft_tui.runner.events import EndEvent, EventWriter, RunModel
from ft_tui.runner.rundir import RunDir
from ft_tui.tui.screens.run import GpuSampled, RunScreen, RunUpdated
from ft_tui.tui.widgets.run_chart import LossChart
from ft_tui.tui.widgets.run_gpu import GpuPanel
from ft_tui.tui.widgets.run_log import RunEvents, RunLog
from textual.app import App
from textual.widgets import Label

DATA = Path(__file__).parents[1] / "runner" / "data"  # recorded events files
H100 = {"nvml_index": 0, "name": "NVIDIA H100 80GB HBM3", "used_bytes": 60 * 1024 ** 3,
        "total_bytes": 80 * 1024 ** 3, "utilization_pct": 97, "temperature_c": 71, "power_w": 512.3}


def make_run_dir(root: Path, fixture: str, *, status: str = "running", pid: int | None = None,
                 lines: int | None = None, log: str = "") -> Path:
    """A run directory holding a recorded events file (optionally only its first ``lines`` lines)."""
    run = root / "runs" / "20261127-120000-demo-lora"
    run.mkdir(parents=True)
    text = (DATA / fixture).read_text(encoding="utf-8").replace("RUN_DIR", str(run))
    if lines is not None:
        text = "".join(text.splitlines(keepends=True)[:lines])
    (run / "events.jsonl").write_text(text, encoding="utf-8")
    (run / "state.json").write_text(json.dumps({"status": status, "pid": pid or os.getpid(), "id": run.name}),
                                    encoding="utf-8")
    (run / "train.log").write_text(log, encoding="utf-8")
    return run


def last_log_time(run: Path) -> float:
    times = [json.loads(line)["time"] for line in (run / "events.jsonl").read_text().splitlines()
             if line.endswith("}") and '"type": "log"' in line]
    return max(times)


class RunApp(App):
    """A bare app that shows RunScreen (pushed over a blank screen, or as its only screen)."""

    def __init__(self, screen_factory: Any, *, only: bool = False, lang: str = "en"):
        super().__init__()
        self.lang = lang
        self.factory, self.only = screen_factory, only

    def get_default_screen(self):
        return self.factory() if self.only else super().get_default_screen()

    def on_mount(self) -> None:
        if not self.only:
            self.push_screen(self.factory())


async def until(pilot, condition, what: str, tries: int = 200) -> None:
    """Poll ``condition`` between short pauses (bounded); fail naming ``what``."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def text_of(screen: RunScreen, selector: str) -> str:
    return str(screen.query_one(selector, Label).content)


def screen_of(app: App) -> RunScreen:
    screen = app.screen
    assert isinstance(screen, RunScreen)
    return screen


async def test_recorded_run_shows_step_loss_and_eta(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path, "run_resumed_live.jsonl", log="[rank0] step 50 [INFO] done\n")
    now = last_log_time(run) + 25.0  # 25 s after the last log: 145 s estimated then, 120 s left now
    app = RunApp(lambda: RunScreen(run, sampler=list, clock=lambda: now, tail_interval=0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.step == 50 and screen.status == "running", "the history")
        await pilot.pause(0.6)  # one throttled redraw
        assert text_of(screen, "#run-step") == "step 50/100  epoch 1.00"
        assert text_of(screen, "#run-eta") == "ETA 2:00"
        assert text_of(screen, "#run-state") == "● running"
        assert "attempt 2, resumed from step 25" in text_of(screen, "#run-title")
        metrics = text_of(screen, "#run-metrics")
        assert "loss 1.5215" in metrics and "eval 1.5915" in metrics and "1.4k tok/s" in metrics
        assert screen.check_action("stop", ()) is True
        events = str(screen.query_one(RunEvents).render())
        assert "checkpoint-50" in events and "back-off" in events
        log = screen.query_one(RunLog)
        await until(pilot, lambda: log.line_count >= 1, "the log tail")
        assert log.lines[0] == "[rank0] step 50 [INFO] done"  # brackets kept literally


async def test_appended_events_and_log_lines_show_up(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path, "run_completed.jsonl", lines=10, log="loading\n")
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.step == 5, "the first events")
        rest = (DATA / "run_completed.jsonl").read_text().replace("RUN_DIR", str(run)).splitlines(keepends=True)
        with (run / "events.jsonl").open("a") as fh:
            fh.writelines(rest[10:30])
            fh.write(rest[30][:25])  # a torn line: the writer is mid-line
        with (run / "train.log").open("a") as fh:
            fh.write("[rank0] {'loss': 6.9}\npartial")
        expected = RunModel()
        expected.ingest(json.loads(line) for line in rest[:30])
        await until(pilot, lambda: screen.view.step == expected.step > 5, "the appended events")
        assert screen.view.train_loss == tuple(expected.train_loss)
        await until(pilot, lambda: screen.query_one(RunLog).line_count == 2, "the appended log line")
        assert screen.query_one(RunLog).lines[-1] == "[rank0] {'loss': 6.9}"
        with (run / "events.jsonl").open("a") as fh:
            fh.write(rest[30][25:])
            fh.writelines(rest[31:])
        await until(pilot, lambda: screen.status == "completed" and screen.view.phase == "completed", "the end")
        await until(pilot, lambda: "took" in text_of(screen, "#run-eta"), "the redraw")
        assert text_of(screen, "#run-step").startswith("step 40/40")
        assert screen.check_action("stop", ()) is False  # nothing to stop: the binding is hidden


async def test_dead_process_without_end_event_is_interrupted(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    run = make_run_dir(tmp_path, "run_completed.jsonl", lines=30, pid=int(dead.stdout))
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "interrupted", "the interrupted status")
        await pilot.pause(0.6)
        assert text_of(screen, "#run-state") == "● interrupted"
        assert screen.check_action("stop", ()) is False
        assert "s Stop" not in app.export_screenshot()  # hidden from the footer, not just dimmed


async def test_resume_from_the_run_screen(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    run = make_run_dir(tmp_path, "run_completed.jsonl", lines=30, pid=int(dead.stdout))
    calls: list[RunDir] = []
    app = RunApp(lambda: RunScreen(run, sampler=list, resumer=calls.append, tail_interval=0.05))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "interrupted", "the interrupted status")
        assert screen.check_action("resume", ()) is True
        await pilot.press("r")
        await until(pilot, lambda: bool(calls), "the resumer")
        assert calls[0].path == run.resolve()
        await until(pilot, lambda: any("Resuming" in str(n.message) for n in app._notifications), "the notice")


async def test_resume_warnings_show_as_notices_on_the_run_screen(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    run = make_run_dir(tmp_path, "run_completed.jsonl", lines=30, pid=int(dead.stdout))

    def resumer(r: RunDir) -> control.Resumed:
        return control.Resumed(r, None, 1, 0, [Msg("resume_no_checkpoint", id=r.id),
                                                Msg("resume_fewer_gpus", nproc=4, visible=1)])

    app = RunApp(lambda: RunScreen(run, sampler=list, resumer=resumer, tail_interval=0.05))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "interrupted", "the interrupted status")
        await pilot.press("r")
        await until(pilot, lambda: any("starts over from step 0" in str(n.message) for n in app._notifications),
                    "the no-checkpoint notice")
        warnings = [str(n.message) for n in app._notifications if n.severity == "warning"]
        assert any("resuming on 1 changes the effective batch size" in w for w in warnings), warnings
        assert any(f"run {run.name} has no complete checkpoint" in w for w in warnings), warnings


async def test_stop_asks_then_calls_the_stopper(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path, "run_resumed_live.jsonl")
    calls: list[RunDir] = []

    def stopper(r: RunDir) -> int:
        calls.append(r)
        return 4242

    app = RunApp(lambda: RunScreen(run, sampler=list, stopper=stopper, tail_interval=0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "running", "the running status")
        await pilot.press("s")
        await until(pilot, lambda: app.screen is not screen, "the confirm dialog")
        await pilot.press("n")  # changes nothing
        await until(pilot, lambda: app.screen is screen, "the dialog to close")
        assert calls == [] and not screen.stopping
        await pilot.press("s")
        await until(pilot, lambda: app.screen is not screen, "the confirm dialog")
        await pilot.press("y")
        await until(pilot, lambda: bool(calls), "the stopper")
        assert calls[0].path == run.resolve()
        assert screen.stopping and screen.check_action("stop", ()) is False
        assert "stop requested" in text_of(screen, "#run-title")
        await until(pilot, lambda: any("4242" in str(n.message) for n in app._notifications), "the notice")


async def test_stop_when_the_process_is_gone_says_so(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path, "run_resumed_live.jsonl")
    app = RunApp(lambda: RunScreen(run, sampler=list, stopper=lambda r: None, tail_interval=0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "running", "the running status")
        await pilot.press("s")
        await until(pilot, lambda: app.screen is not screen, "the confirm dialog")
        await pilot.press("y")
        await until(pilot, lambda: any("nothing to stop" in str(n.message) for n in app._notifications),
                    "the warning")
        assert not screen.stopping


async def test_gpu_panel_hidden_without_gpus_and_shown_with(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path, "run_completed.jsonl")
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: all(w.is_finished for w in screen.workers if w.group == "run-gpu"),
                    "the sampler to give up")
        assert screen.query_one(GpuPanel).display is False

    samples: list[int] = []

    def sampler() -> list[dict]:
        samples.append(1)
        return [H100]

    app = RunApp(lambda: RunScreen(run, sampler=sampler, tail_interval=0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = screen_of(app)
        panel = screen.query_one(GpuPanel)
        await until(pilot, lambda: panel.display, "the GPU panel")
        text = str(panel.render())
        assert "H100 80GB HBM3" in text and "60.0/80.0 GiB" in text and "97%" in text and "512 W" in text


@pytest.mark.parametrize("key", ["d", "q"])
async def test_as_only_screen_detach_and_quit_exit_the_app(tmp_path: Path, key: str) -> None:
    run = make_run_dir(tmp_path, "run_resumed_live.jsonl")
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05), only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "running", "the running status")
        await pilot.press(key)
        await until(pilot, lambda: not app.is_running, f"'{key}' to exit")


async def test_detach_pops_back_when_pushed(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path, "run_resumed_live.jsonl")
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "running", "the running status")
        await pilot.press("d")
        await until(pilot, lambda: not isinstance(app.screen, RunScreen), "the pop")
        assert app.is_running
        assert any("keeps going" in str(n.message) for n in app._notifications)
        assert (run / "events.jsonl").exists()  # the run directory is untouched


async def test_smoothing_toggle_and_chinese_labels(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path, "run_resumed_live.jsonl")
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05), lang="zh")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "running" and screen.view.step == 50, "the history")
        await pilot.pause(0.6)
        assert text_of(screen, "#run-state") == "● 运行中"
        assert text_of(screen, "#run-step").startswith("步数 50/100")
        chart = screen.query_one(LossChart)
        raw, _ = chart.columns(60)
        await pilot.press("m")
        assert chart.smoothing is True
        smoothed, _ = chart.columns(60)
        assert len(raw) == len(smoothed) == 60 and raw != smoothed
        assert "平滑" in str(chart.border_subtitle)


def test_queued_updates_are_dropped_only_when_a_newer_one_covers_them() -> None:
    """Textual drops a queued message when ``older.can_replace(newer)``; a view must never be lost."""
    view = object()
    full, view_only, status_only = RunUpdated(view, "running"), RunUpdated(view, None), RunUpdated(None, "x")
    assert view_only.can_replace(full) and full.can_replace(RunUpdated(view, "stopped"))
    assert not full.can_replace(view_only)  # the newer one has no status: keep the older
    assert not view_only.can_replace(status_only)  # ... or no view
    assert status_only.can_replace(full)
    assert GpuSampled([]).can_replace(GpuSampled([H100]))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_layout_fits(tmp_path: Path, size: tuple[int, int]) -> None:
    run = make_run_dir(tmp_path, "run_resumed_live.jsonl")
    app = RunApp(lambda: RunScreen(run, sampler=lambda: [H100], tail_interval=0.05))
    async with app.run_test(size=size) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.step == 50 and screen.query_one(GpuPanel).display, "the view")
        await pilot.pause(0.6)
        chart = screen.query_one(LossChart)
        assert chart.content_size.height >= 3 and chart.content_size.width >= 30
        assert screen.query_one(RunLog).size.height >= 3
        assert screen.has_class("-compact") is (size == (80, 24))


async def test_stop_a_real_detached_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end with the runner's stand-in worker (same protocol, no torch): spawn it detached, watch it, stop
    it from the screen with the default stopper (``ft-tui stop``'s SIGTERM); it checkpoints and ends 'stopped'."""
    from ft_tui.runner.launch import spawn_worker, wait_child

    monkeypatch.setenv("FT_TUI_WORKER", str(Path(__file__).parents[1] / "runner" / "fake_worker.py"))
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    run = RunDir.create(tmp_path / "run")
    run.config_path.write_text("max_steps: 2000\nsave_steps: 1000\nlogging_steps: 1\n", encoding="utf-8")
    run.write_state(status="starting", id=run.id)
    pid = spawn_worker(run)
    try:
        app = RunApp(lambda: RunScreen(run.path, sampler=list, tail_interval=0.05))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = screen_of(app)
            await until(pilot, lambda: screen.status == "running" and screen.view.step >= 3, "live steps", 500)
            await pilot.press("s")
            await until(pilot, lambda: app.screen is not screen, "the confirm dialog")
            await pilot.press("y")
            await until(pilot, lambda: screen.status == "stopped", "the stopped status", 500)
            assert screen.view.phase == "stopped" and screen.view.checkpoints
            assert screen.view.checkpoints[-1].step == screen.view.step
            assert not screen.stopping and screen.check_action("stop", ()) is False
    finally:
        if wait_child(pid, 5.0) is None:
            os.kill(pid, 9)


async def test_attach_opens_the_run_screen_as_the_apps_only_screen(tmp_path: Path) -> None:
    """``ft-tui attach`` builds the app on a run directory; the language key relabels the screen; quit exits."""
    from ft_tui.tui.app import FtTuiApp

    run = make_run_dir(tmp_path, "run_completed.jsonl", status="completed")
    app = FtTuiApp(run_dir=run, lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = screen_of(app)
        assert len(app.screen_stack) == 1
        await until(pilot, lambda: screen.status == "completed" and screen.view.step == 40, "the history", 300)
        await until(pilot, lambda: text_of(screen, "#run-state") == "● completed", "the redraw")
        app.action_toggle_language()
        await until(pilot, lambda: text_of(screen, "#run-state") == "● 已完成", "the Chinese labels")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "quit")


async def test_stop_key_can_be_remapped_by_id(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path, "run_resumed_live.jsonl")
    calls: list[RunDir] = []
    app = RunApp(lambda: RunScreen(run, sampler=list, stopper=lambda r: calls.append(r) or 1, tail_interval=0.05))
    async with app.run_test(size=(100, 30)) as pilot:
        app.set_keymap({"run.stop": "x"})
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "running", "the running status")
        await pilot.press("s")
        await pilot.pause()
        assert app.screen is screen  # the old key no longer stops
        await pilot.press("x")
        await until(pilot, lambda: app.screen is not screen, "the confirm dialog")
        await pilot.press("y")
        await until(pilot, lambda: bool(calls), "the stopper")


async def test_a_run_stopped_before_its_first_step_shows_a_still_bar(tmp_path: Path) -> None:
    """No start event, so no total: an ended run shows an empty bar, not the busy animation of a starting one."""
    from textual.widgets import ProgressBar

    run = tmp_path / "runs" / "20261128-010000-demo-lora"
    run.mkdir(parents=True)
    with EventWriter(run / "events.jsonl") as writer:
        writer.emit(EndEvent(time=1795830600.0, status="stopped", step=0, reason="SIGTERM", phase="start-up",
                             message="stopped by SIGTERM before the first training step"))
    (run / "state.json").write_text(json.dumps({"status": "stopped", "pid": os.getpid(), "id": run.name}),
                                    encoding="utf-8")
    (run / "train.log").write_text("", encoding="utf-8")
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "stopped", "the stopped status")
        await pilot.pause(0.2)
        bar = screen.query_one("#run-bar", ProgressBar)
        assert bar.total is not None and bar.progress == 0


def footer_words(app: App) -> dict[str, str]:
    """The run screen's footer as shown: key -> description."""
    from textual.widgets._footer import FooterKey

    return {k.key: str(k.description) for k in app.screen.query(FooterKey) if k.region.width > 0}


async def test_title_does_not_repeat_the_word_run_in_chinese(tmp_path: Path) -> None:
    """#13 item 17: the status word says "运行中"; the title beside it is the run id, not "运行 <id>" again."""
    run = make_run_dir(tmp_path, "run_resumed_live.jsonl")
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05), lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "running" and screen.view.step == 50, "the history")
        await pilot.pause(0.6)
        title = text_of(screen, "#run-title")
        assert title.startswith("20261127-120000-demo-lora"), title
        assert "运行" not in title, title
        assert "token/秒" in text_of(screen, "#run-metrics")


@pytest.mark.parametrize("status", ["completed", "failed", "stopped"])
async def test_an_ended_run_offers_back_not_detach(tmp_path: Path, status: str) -> None:
    """#13 item 17: nothing to detach from once the run has ended: the footer offers Back (esc), not "d Detach"."""
    run = make_run_dir(tmp_path, "run_completed.jsonl", status=status)
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == status, f"the {status} status")
        await pilot.pause()
        shown = footer_words(app)
        assert "Detach" not in shown.values() and "d" not in shown, shown
        assert shown.get("escape") == "Back", shown
        titles = [title for title, _help, _run in screen.palette_commands()]
        assert "Detach" not in titles and "Back" in titles
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunScreen), "esc to go back")
        assert not any("keeps going" in str(n.message) for n in app._notifications)


async def test_a_live_run_offers_detach_not_back(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path, "run_resumed_live.jsonl")
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.status == "running", "the running status")
        await pilot.pause()
        shown = footer_words(app)
        assert "Detach" in shown.values() and "Back" not in shown.values(), shown
        await pilot.press("escape")  # esc still detaches a live run
        await until(pilot, lambda: not isinstance(app.screen, RunScreen), "the pop")
        assert any("keeps going" in str(n.message) for n in app._notifications)


async def test_long_log_lines_draw_no_horizontal_scrollbar(tmp_path: Path) -> None:
    """#13 item 17: a train.log line wider than the panel drew a horizontal scrollbar whose lone thumb end ("▎")
    looked like a stray block at 80x24; the panel cuts long lines instead (arrow keys still scroll)."""
    long = "  warnings.warn(\"Setting `save_embedding_layers` to `True` as embedding layers found in "  \
           "`target_modules`.\")\n"
    run = make_run_dir(tmp_path, "run_completed.jsonl", status="completed", log=long * 30)
    app = RunApp(lambda: RunScreen(run, sampler=list, tail_interval=0.05))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = screen_of(app)
        log = screen.query_one(RunLog)
        await until(pilot, lambda: log.line_count >= 30, "the log tail")
        await pilot.pause()
        assert log.virtual_size.width > log.scrollable_content_region.width  # the lines are wider than the panel
        bar = log.horizontal_scrollbar
        assert not (log.show_horizontal_scrollbar and bar.region.height > 0), bar.region
        assert log.scrollable_content_region.height == log.content_region.height
