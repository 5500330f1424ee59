"""The event protocol (runner/events.py): the schema's classes, the writer and reader of events.jsonl, the fold
(RunModel) on recorded event files, and the file tailer (runner/tail.py). No Textual, no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ft_tui.runner import events as protocol
from ft_tui.runner.events import (
    MAX_POINTS,
    BackoffEvent,
    CheckpointEvent,
    EndEvent,
    ErrorEvent,
    EvalEvent,
    EventWriter,
    LogEvent,
    RunModel,
    StartEvent,
    StatusEvent,
    fold,
    read_events,
)
from ft_tui.runner.rundir import RunDir
from ft_tui.runner.tail import LogTail, RunTail, TailUpdate

DATA = Path(__file__).parent / "data"
COMPLETED = DATA / "run_completed.jsonl"  # a real 40-step CPU run of the tiny demo model, paths rewritten
RESUMED = DATA / "run_resumed_live.jsonl"  # interrupted at 27, resumed from 25, OOM back-off at 41, torn tail


def test_torn_last_line_is_left_for_the_next_read(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r1")
    with EventWriter(run.events_path) as ev:
        ev.emit(StartEvent(total_steps=3))
        ev.emit(LogEvent(step=1, loss=2.0))
    with open(run.events_path, "a", encoding="utf-8") as fh:
        fh.write('{"v": 1, "type": "log", "step": 2, "lo')  # a writer caught mid-line
    events, offset = read_events(run.events_path)
    assert [e["type"] for e in events] == ["start", "log"]
    assert offset < run.events_path.stat().st_size
    with open(run.events_path, "a", encoding="utf-8") as fh:
        fh.write('ss": 1.5, "future_field": [1, 2]}\n')
    more, offset2 = read_events(run.events_path, offset)
    assert more == [{"v": 1, "type": "log", "step": 2, "loss": 1.5, "future_field": [1, 2]}]
    assert offset2 == run.events_path.stat().st_size


def test_garbage_lines_are_skipped_and_unknown_fields_kept(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('not json\n[1, 2]\n{"no_type": 1}\n\n{"type": "eval", "step": 4, "new": "x"}\n')
    events, _ = read_events(path)
    assert events == [{"type": "eval", "step": 4, "new": "x"}]


def test_event_writer_stamps_version_type_time_and_drops_none(tmp_path: Path) -> None:
    with EventWriter(tmp_path / "e.jsonl") as ev:
        out = ev.emit(LogEvent(step=5, loss=1.25, eta_s=None, tokens_seen=_Scalar(7)))
        ev.emit(EvalEvent(time=12.5, step=5, eval_loss=1.5, metrics={"eval_runtime": 0.5, "eval_bleu": None}))
    line, second = (json.loads(raw) for raw in (tmp_path / "e.jsonl").read_text().splitlines())
    assert line["time"] == out["time"] and line["step"] == out["step"] == 5
    assert list(line)[:3] == ["v", "type", "time"]
    assert line["v"] == protocol.PROTOCOL_VERSION and line["type"] == "log"
    assert abs(line["time"] - time.time()) < 5 and "eta_s" not in line
    assert line["tokens_seen"] == 7  # a tensor / numpy scalar is written as its number
    assert second == {"v": 1, "type": "eval", "time": 12.5, "step": 5, "eval_loss": 1.5, "eval_runtime": 0.5}


def test_disabled_writer_writes_nothing(tmp_path: Path) -> None:
    ev = EventWriter(tmp_path / "e.jsonl", enabled=False)
    assert ev.emit(LogEvent(step=1)) is None
    assert not (tmp_path / "e.jsonl").exists()

class _Scalar:
    """Stands for a torch / numpy scalar: the writer stores ``.item()``."""

    def __init__(self, value: int) -> None:
        self.value = value

    def item(self) -> int:
        return self.value


def test_a_misspelled_field_is_an_error_and_every_type_has_its_class() -> None:
    with pytest.raises(TypeError):
        LogEvent(step=1, gpu_mem_gib=3.0)  # type: ignore[call-arg]  (the old reader's wrong name)
    classes = [StatusEvent, StartEvent, LogEvent, EvalEvent, CheckpointEvent, BackoffEvent,
               ErrorEvent, EndEvent]
    assert [c.TYPE for c in classes] == ["status", "start", "log", "eval", "checkpoint", "backoff", "error", "end"]
    assert set(protocol._HANDLERS) == {c.TYPE for c in classes}  # the fold knows every type the schema has


def test_event_objects_fold_like_the_lines_they_write(tmp_path: Path) -> None:
    evs = [StartEvent(time=1, total_steps=4), LogEvent(time=2, step=1, loss=2.0, gpu_mem_reserved_gib=3.5,
                                                        gpu_mem_allocated_gib=2.25, tokens_per_s=100.0),
           CheckpointEvent(time=3, step=2, path="/r/checkpoint-2"),
           BackoffEvent(time=4, step=2, reason="CUDA out of memory", old={"b": 2}, new={"b": 1},
                        restart_from=2, ranks=[1]),
           EndEvent(time=5, status="stopped", step=2)]
    with EventWriter(tmp_path / "e.jsonl") as writer:
        writer.emit_all(evs)
    from_file = fold(read_events(tmp_path / "e.jsonl")[0])
    assert from_file == fold(evs)
    assert (from_file.step, from_file.gpu_mem_reserved_gib, from_file.gpu_mem_allocated_gib) == (2, 3.5, 2.25)
    assert from_file.checkpoints[0].path == "/r/checkpoint-2" and from_file.backoffs[0].ranks == (1,)
    assert from_file.current_end(launched=5.0) is not None and from_file.current_end(launched=5.5) is None
    assert from_file.current_start(launched=1.0) is not None and from_file.current_start(launched=1.5) is None
    assert fold(evs[:3]).current_end(launched=0) is None  # no end yet


def test_the_gpu_fields_the_callback_writes_are_the_log_events_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """callbacks.gpu_memory on a (pretended) GPU: its keys are LogEvent fields, and the fold reads them."""
    import torch
    from ft_tui.runner import callbacks

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda *a, **k: 3 * 2 ** 30)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a, **k: 2 * 2 ** 30)
    view = fold([LogEvent(step=1, loss=1.0, **callbacks.gpu_memory())])
    assert (view.gpu_mem_reserved_gib, view.gpu_mem_allocated_gib) == (3.0, 2.0)


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
    with path.open("ab") as fh:  # the writer finishes the torn line
        fh.write(b'00702.0, "step": 51, "loss": 1.5, "eta_s": 140.0}\n')
    with EventWriter(path) as writer:  # and adds the end event
        writer.emit(EndEvent(time=1795800800.0, status="stopped", step=51))
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
    view = fold([
        StatusEvent(time=1, message="loading the model"),
        ErrorEvent(time=2, message="dataset row 7: missing 'output'"),
        EndEvent(time=2, status="failed", exit_code=2, message="dataset row 7: missing 'output'"),
    ])
    assert view.phase == "failed"
    assert view.errors == ("dataset row 7: missing 'output'",)
    assert view.attempts == 0


def test_phase_before_start() -> None:
    model = RunModel()
    assert model.snapshot().phase == "waiting"
    model.ingest([StatusEvent(time=1, message="preparing the data")])
    assert model.snapshot().phase == "starting" and model.snapshot().message == "preparing the data"


def test_history_is_bounded() -> None:
    model = RunModel()
    model.ingest(LogEvent(time=i, step=i, loss=1.0 / i) for i in range(1, 3 * MAX_POINTS))
    series = model.snapshot().train_loss
    assert len(series) <= MAX_POINTS
    assert series[-1][0] == 3 * MAX_POINTS - 1
    assert [s for s, _ in series] == sorted(s for s, _ in series)


def test_import_is_light() -> None:
    code = ("import sys, ft_tui.runner.events, ft_tui.runner.tail; "
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
    assert last.view.status == "completed"  # the view carries the status last checked


def test_run_tail_reports_interrupted_for_a_dead_process(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    run = RunDir.create(tmp_path / "run")
    run.write_state(status="running", pid=int(dead.stdout))
    run.events_path.write_text("".join(COMPLETED.read_text().splitlines(keepends=True)[:20]), encoding="utf-8")
    update = RunTail(run.path).poll(now=0.0)
    assert update.status == "interrupted" and update.view is not None and update.view.phase == "running"
    assert update.view.status == "interrupted"
