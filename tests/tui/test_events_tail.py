"""RunModel (the run screen's pure events.jsonl reader) on recorded event files; no Textual involved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ft_tui.runner.rundir import RunDir, read_events
from ft_tui.tui.events_tail import (
    MAX_POINTS,
    LogTail,
    RunModel,
    RunTail,
    TailUpdate,
    resample,
    smooth,
    step_column,
)

DATA = Path(__file__).parent / "data"
COMPLETED = DATA / "run_completed.jsonl"  # a real 40-step CPU run of the tiny demo model, paths rewritten
RESUMED = DATA / "run_resumed_live.jsonl"  # interrupted at 27, resumed from 25, OOM back-off at 41, torn tail


def model_of(path: Path) -> tuple[RunModel, int]:
    events, offset = read_events(path)
    model = RunModel()
    model.ingest(events)
    return model, offset


def test_completed_run_recording() -> None:
    model, _ = model_of(COMPLETED)
    view = model.snapshot()
    assert view.phase == "completed"
    assert (view.step, view.total_steps) == (40, 40)
    assert view.fraction == 1.0
    assert view.loss == pytest.approx(6.717247)  # the end event's final loss
    assert len(view.train_loss) == 40 and view.train_loss[0] == (1, pytest.approx(6.935727))
    assert [s for s, _ in view.eval_loss] == [10, 20, 30, 40]
    assert len(view.checkpoints) == 20 and view.checkpoints[-1].path.endswith("checkpoint-40")
    assert view.attempts == 1 and view.resumed_from is None
    assert view.eta_at(None) is None  # ended: no ETA
    assert view.duration() == pytest.approx(1795820405.437 - 1795820373.39)
    assert view.errors == () and view.backoffs == ()


def test_resume_backoff_and_torn_last_line() -> None:
    model, offset = model_of(RESUMED)
    raw = RESUMED.read_bytes()
    assert offset == raw.rfind(b"\n") + 1 < len(raw)  # the torn line is left for the next read
    view = model.snapshot()
    assert view.phase == "running"
    assert view.attempts == 2 and view.resumed_from == 25
    assert (view.step, view.total_steps) == (50, 100)
    steps = [s for s, _ in view.train_loss]
    assert steps == list(range(1, 51)), "re-done steps 26-27 replace the first attempt's points"
    assert [s for s, _ in view.eval_loss] == [25, 50]
    assert [c.step for c in view.checkpoints] == [25, 40, 50]
    (backoff,) = view.backoffs
    assert backoff.step == 41 and backoff.restart_from == 40
    assert backoff.describe() == "per_device_train_batch_size 8->4, gradient_accumulation_steps 2->4"
    assert view.tokens_per_s == pytest.approx(1412.25)
    assert view.eta_s == pytest.approx(145.0)
    assert view.gpu_mem_reserved_gib == pytest.approx(17.25)  # first attempt's value survives a log without it
    # ETA relative to the events: 10 s after the last log, 10 s less remain.
    assert view.eta_at(view.last_log_time + 10) == pytest.approx(135.0)
    assert view.eta_at(view.last_log_time + 1e6) == 0.0


def test_incremental_batches_match_one_batch() -> None:
    events, _ = read_events(RESUMED)
    whole = RunModel()
    whole.ingest(events)
    pieces = RunModel()
    for i in range(0, len(events), 7):
        pieces.ingest(events[i:i + 7])
    assert pieces.snapshot() == whole.snapshot()


def test_appended_torn_line_completes_on_next_read(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(RESUMED.read_bytes())
    model, offset = model_of(path)
    with path.open("ab") as fh:  # the writer finishes the torn line and adds the end event
        fh.write(b'00702.0, "step": 51, "loss": 1.5, "eta_s": 140.0}\n')
        fh.write(json.dumps({"v": 1, "type": "end", "time": 1795800800.0, "status": "stopped",
                             "step": 51}).encode() + b"\n")
    events, offset2 = read_events(path, offset)
    assert [e["type"] for e in events] == ["log", "end"]
    model.ingest(events)
    view = model.snapshot()
    assert offset2 == path.stat().st_size
    assert view.phase == "stopped" and view.step == 51 and view.train_loss[-1] == (51, 1.5)


def test_unknown_fields_and_types_and_bad_values() -> None:
    model = RunModel()
    n = model.ingest([
        {"v": 2, "type": "start", "time": 10, "total_steps": "many", "new_field": [1, 2]},
        {"v": 1, "type": "log", "time": 11, "step": 3, "loss": "nan?", "lr": True, "grad_norm": float("nan")},
        {"v": 1, "type": "log", "time": 12, "step": 4, "loss": 2.0},
        {"v": 1, "type": "heartbeat", "time": 13},
        {"v": 1, "type": "backoff", "time": 14, "old": "x", "new": None},
        {"v": 1, "type": "error", "time": 15},
        "not an event",
    ])
    view = model.snapshot()
    assert n == 5
    assert view.total_steps is None and view.fraction is None
    assert view.lr is None and view.grad_norm is None
    assert view.train_loss == ((4, 2.0),)
    assert view.backoffs[0].describe() == "out of memory"
    assert view.errors == ("error (no message)",)
    assert view.last_time == 15


def test_failed_end_keeps_error_message() -> None:
    model = RunModel()
    model.ingest([
        {"type": "status", "time": 1, "message": "loading the model"},
        {"type": "error", "time": 2, "message": "dataset row 7: missing 'output'"},
        {"type": "end", "time": 2, "status": "failed", "exit_code": 2, "message": "dataset row 7: missing 'output'"},
    ])
    view = model.snapshot()
    assert view.phase == "failed"
    assert view.errors == ("dataset row 7: missing 'output'",)
    assert view.attempts == 0


def test_phase_before_start() -> None:
    model = RunModel()
    assert model.snapshot().phase == "waiting"
    model.ingest([{"type": "status", "time": 1, "message": "preparing the data"}])
    assert model.snapshot().phase == "starting" and model.snapshot().message == "preparing the data"


def test_history_is_bounded() -> None:
    model = RunModel()
    model.ingest({"type": "log", "time": i, "step": i, "loss": 1.0 / i} for i in range(1, 3 * MAX_POINTS))
    series = model.snapshot().train_loss
    assert len(series) <= MAX_POINTS
    assert series[-1][0] == 3 * MAX_POINTS - 1
    assert [s for s, _ in series] == sorted(s for s, _ in series)


def test_smooth_is_debiased_ema() -> None:
    assert smooth([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])
    assert smooth([1.0, 3.0], 0.0) == [1.0, 3.0]
    # s1 = 0.5*1 / (1-0.5) = 1; s2 = (0.25 + 1.5) / 0.75
    assert smooth([1.0, 3.0], 0.5) == pytest.approx([1.0, 1.75 / 0.75])
    with pytest.raises(ValueError):
        smooth([1.0], 1.0)


def test_resample_buckets_by_step() -> None:
    pts = [(s, float(s)) for s in range(1, 101)]
    out = resample(pts, 10)
    assert len(out) == 10
    assert out[0] == pytest.approx(5.5) and out[-1] == pytest.approx(95.5)
    # fewer points than columns: a step function over the full width
    assert resample(pts[:3], 10) == [1.0] * 3 + [2.0] * 3 + [3.0] * 4
    assert resample([(1, 1.0), (10, 2.0)], 10) == [1.0] * 9 + [2.0]  # a gap carries the value before it
    assert resample([(5, 4.0)], 10) == [4.0]
    assert step_column(10, 1, 10, 10) == 9 and step_column(1, 1, 10, 10) == 0
    assert resample([], 5) == [] and resample(pts, 0) == []


def test_import_is_light() -> None:
    code = ("import sys, ft_tui.tui.events_tail; "
            "bad = [m for m in ('textual', 'torch', 'transformers') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- file tails --------------------------------------------------------------------------------------------------

def test_log_tail_holds_partial_lines_and_keeps_progress_bars_last_state(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    tail = LogTail(path)
    assert tail.read() == []  # no file yet
    path.write_bytes(b"[rank0] start\n 10%|#\r 50%|#####\r100%|##########\nhalf a li")
    assert tail.read() == ["[rank0] start", "100%|##########"]
    with path.open("ab") as fh:
        fh.write(b"ne\n\tindented \xff\n")
    assert tail.read() == ["half a line", "    indented \ufffd"]
    assert tail.read() == []
    path.write_bytes(b"new file\n")  # truncated / rotated: read from the start
    assert tail.read() == ["new file"]


def test_log_tail_starts_near_the_end_of_a_big_log(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text("".join(f"line {i:05d}\n" for i in range(20000)), encoding="utf-8")
    lines = LogTail(path, window=1024).read()
    assert lines[-1] == "line 19999"
    assert all(line.startswith("line ") and len(line) == 10 for line in lines)  # no cut first line
    assert len(lines) < 1024 // 11 + 1


def test_run_tail_polls_events_status_and_log(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run")
    run.write_state(status="running", pid=os.getpid())
    lines = COMPLETED.read_text(encoding="utf-8").splitlines(keepends=True)
    run.events_path.write_text("".join(lines[:5]), encoding="utf-8")
    run.log_path.write_text("hello\n", encoding="utf-8")
    tail = RunTail(run.path, status_every=2.0)
    first = tail.poll(now=100.0)
    assert first.view is not None and first.view.step == 2
    assert first.status == "running" and first.log_lines == ("hello",)
    quiet = tail.poll(now=101.0)
    assert quiet == TailUpdate(None, None, ())  # nothing new, status not due
    assert tail.poll(now=102.5).status == "running"  # due again
    with run.events_path.open("a", encoding="utf-8") as fh:
        fh.writelines(lines[5:])
    last = tail.poll(now=102.6)  # the end event forces a status check
    assert last.view is not None and last.view.phase == "completed" and last.status == "completed"


def test_run_tail_reports_interrupted_for_a_dead_process(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    run = RunDir.create(tmp_path / "run")
    run.write_state(status="running", pid=int(dead.stdout))
    run.events_path.write_text("".join(COMPLETED.read_text().splitlines(keepends=True)[:20]), encoding="utf-8")
    update = RunTail(run.path).poll(now=0.0)
    assert update.status == "interrupted" and update.view is not None and update.view.phase == "running"


def test_every_label_has_a_chinese_translation() -> None:
    from ft_tui.planner.messages import render
    from ft_tui.runner.status import STATUSES, status_word
    from ft_tui.tui.i18n import label

    assert label("zh", "eta", eta="1:00") == "剩余 1:00"
    assert label("fr", "eta", eta="1:00") == "ETA 1:00"  # unknown language: English
    assert all(render(status_word(s), "zh") != s for s in STATUSES)
    assert render(status_word("interrupted"), "zh") == "已中断" and render(status_word("interrupted"), "en") == "interrupted"
