"""Every reader of a run's events agrees on step, loss, tokens/s, GPU memory and status.

The recording ``data/run_gpu_fields.jsonl`` is a real run: ``data/record_gpu_run.py`` trained the tiny demo model
for 8 steps on the CPU through the real trainer process code (status, start, log, eval, checkpoint, end events as
``ft-tui train`` writes them). Its GPU memory fields (``gpu_mem_reserved_gib``, ``gpu_mem_allocated_gib``) were
written by the trainer's own callback code (``callbacks.gpu_memory``) with ``torch.cuda``'s peak counters standing in
for a GPU's, since the recording machine had none. The run directory is ``RUN_DIR`` in the file.

The readers: the fold (``events.fold``), the TUI run screen (its view and the text it shows), the runs screen (its
row and the summary behind it), ``ft-tui attach --plain`` (the text it prints) and ``ft-tui runs --json``. The
expected values come from the file's last ``log`` and ``end`` events, read here without the fold.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ft_tui.runner.events import LOG, fold, read_events
from ft_tui.runner.rundir import RunDir, register_run
from ft_tui.tui.cli import main
from ft_tui.tui.screens.run import RunScreen
from ft_tui.tui.screens.runs import RunsScreen
from ft_tui.tui.widgets.run_progress import fmt_rate
from textual.app import App
from textual.screen import Screen
from textual.widgets import DataTable, Label

RECORDING = Path(__file__).parent / "data" / "run_gpu_fields.jsonl"
RUN_ID = "20261201-101500-tiny-seed0-v1-lora"


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunDir:
    """The recording as a finished run directory in a private run index."""
    for var in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("LANG", "C.UTF-8")
    run = RunDir.create(tmp_path / "runs" / RUN_ID)
    run.events_path.write_text(RECORDING.read_text(encoding="utf-8").replace("RUN_DIR", str(run.path)),
                               encoding="utf-8")
    run.config_path.write_text("model_name_or_path: MODELS/tiny-seed0-v1\n", encoding="utf-8")
    run.write_state(status="completed", id=run.id, model="MODELS/tiny-seed0-v1", method="lora", exit_code=0)
    register_run(run)
    return run


@pytest.fixture
def truth() -> dict:
    """What the file says, read without the fold: the last log event's figures and the end event's status."""
    events, _ = read_events(RECORDING)
    last_log = [e for e in events if e["type"] == LOG][-1]
    (end,) = [e for e in events if e["type"] == "end"]
    assert last_log["gpu_mem_reserved_gib"] > 0 and last_log["gpu_mem_allocated_gib"] > 0  # a GPU recording
    return {"step": end["step"], "total": end["total_steps"], "loss": last_log["loss"],
            "tokens_per_s": last_log["tokens_per_s"], "gpu_reserved": last_log["gpu_mem_reserved_gib"],
            "gpu_allocated": last_log["gpu_mem_allocated_gib"], "status": end["status"]}


class OneScreen(App):
    def __init__(self, screen: Screen):
        super().__init__()
        self.lang = "en"
        self._first = screen

    def on_mount(self) -> None:
        self.push_screen(self._first)


async def until(pilot, condition, what: str, tries: int = 1500) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_fold(recorded: RunDir, truth: dict) -> None:
    view = fold(recorded.events(), status=recorded.status())
    assert (view.step, view.total_steps) == (truth["step"], truth["total"])
    assert view.loss == truth["loss"] and view.tokens_per_s == truth["tokens_per_s"]
    assert view.gpu_mem_reserved_gib == truth["gpu_reserved"]
    assert view.gpu_mem_allocated_gib == truth["gpu_allocated"]
    assert view.status == view.phase == truth["status"]


async def test_the_tui_run_screen(recorded: RunDir, truth: dict) -> None:
    screen = RunScreen(recorded.path, sampler=list, tail_interval=0.05)
    async with OneScreen(screen).run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: screen.view.phase == "completed" and screen.status != "unknown", "the history")
        view = screen.view
        assert (view.step, view.loss, view.tokens_per_s) == (truth["step"], truth["loss"], truth["tokens_per_s"])
        assert (view.gpu_mem_reserved_gib, screen.status) == (truth["gpu_reserved"], truth["status"])
        await pilot.pause(0.6)  # a throttled redraw
        shown = {name: str(screen.query_one(f"#run-{name}", Label).content) for name in ("state", "step",
                                                                                         "metrics")}
    assert shown["state"] == f"● {truth['status']}"
    assert shown["step"].startswith(f"step {truth['step']}/{truth['total']}")
    assert f"loss {truth['loss']:.4f}" in shown["metrics"]
    assert f"{fmt_rate(truth['tokens_per_s'])} tok/s" in shown["metrics"]
    assert f"peak mem {truth['gpu_reserved']:.1f} GiB" in shown["metrics"]


async def test_the_runs_screen(recorded: RunDir, truth: dict) -> None:
    screen = RunsScreen()
    async with OneScreen(screen).run_test(size=(140, 30)) as pilot:
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 1, "the run list")
        row = [str(c) for c in screen.query_one(DataTable).get_row_at(0)]
        summary = screen.runs[str(recorded.path)]
    assert row[:4] == [RUN_ID, truth["status"], f"{truth['step']}/{truth['total']} 100%", f"{truth['loss']:.4f}"]
    assert (summary.tokens_per_s, summary.gpu_mem_reserved_gib) == (truth["tokens_per_s"], truth["gpu_reserved"])


def test_attach_plain_shows_gpu_memory(recorded: RunDir, truth: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["attach", "--plain", RUN_ID]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    progress = [line for line in lines if line.startswith("step ")]
    assert len(progress) == truth["step"]  # one plain line per log event
    last = progress[-1]
    assert last.startswith(f"step {truth['step']}/{truth['total']} (100%)")
    assert f"loss {truth['loss']:.4f}" in last and f"{truth['tokens_per_s']:.0f} tok/s" in last
    assert f"mem {truth['gpu_reserved']:.1f} GiB" in last
    assert lines[-1].startswith(f"run {truth['status']} at step {truth['step']}/{truth['total']}")
    assert f"run {RUN_ID}: {truth['status']}" in err


def test_runs_json(recorded: RunDir, truth: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["runs", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["step"], entry["total_steps"], entry["loss"]) == (truth["step"], truth["total"], truth["loss"])
    assert entry["tokens_per_s"] == truth["tokens_per_s"] and entry["status"] == truth["status"]
    assert (entry["gpu_mem_reserved_gib"], entry["gpu_mem_allocated_gib"]) == (truth["gpu_reserved"],
                                                                               truth["gpu_allocated"])
