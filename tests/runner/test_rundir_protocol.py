"""The run directory protocol (runner/rundir.py): atomic state, interrupted detection, the index (the events file's
writer and reader: test_events.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ft_tui.planner.errors import InputError
from ft_tui.runner import rundir
from ft_tui.runner.checkpoints import mark_complete
from ft_tui.runner.events import EndEvent, EventWriter, LogEvent, StartEvent
from ft_tui.runner.rundir import (
    RunDir,
    find_run,
    indexed_runs,
    register_run,
    summarize,
)


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _run(tmp_path: Path, name: str = "r1", **state) -> RunDir:
    run = RunDir.create(tmp_path / name)
    run.write_state(status="starting", id=run.id, **state)
    return run


# ---------------------------------------------------------------------------------------------------- state

def test_state_is_replaced_atomically_under_concurrent_readers(tmp_path: Path) -> None:
    run = _run(tmp_path)
    errors: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            text = run.state_path.read_text()
            try:
                json.loads(text)
            except json.JSONDecodeError:
                errors.append(text)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(60):
            run.write_state(step=i, blob="x" * (i * 37 % 4000))
    finally:
        done.set()
        t.join()
    assert errors == []
    state = run.read_state()
    assert state["step"] == 59 and state["status"] == "starting"
    assert not [p for p in tmp_path.joinpath("r1").iterdir() if p.name.endswith(".tmp")]


def test_run_directory_is_private_and_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    run = _run(tmp_path)
    assert (run.path.stat().st_mode & 0o777) == 0o700
    with pytest.raises(InputError, match="not empty"):
        RunDir.create(run.path)


# ---------------------------------------------------------------------------------------------------- status

def _dead_pid() -> tuple[int, int | None]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    start = rundir.process_start_ticks(proc.pid)
    proc.wait()
    return proc.pid, start


def test_status_is_interrupted_when_the_process_is_gone_without_an_end_event(tmp_path: Path) -> None:
    pid, start = _dead_pid()
    run = _run(tmp_path, pid=pid, pid_start=start)
    run.write_state(status="running")
    with EventWriter(run.events_path) as ev:
        ev.emit(StartEvent(total_steps=10))
        ev.emit(LogEvent(step=3, loss=1.0))
    assert run.status() == "interrupted"
    assert summarize(run).status == "interrupted"


def test_status_stays_running_while_our_process_lives(tmp_path: Path) -> None:
    run = _run(tmp_path, pid=os.getpid(), pid_start=rundir.process_start_ticks(os.getpid()))
    run.write_state(status="running")
    assert run.status() == "running"


def test_a_reused_pid_does_not_count_as_alive(tmp_path: Path) -> None:
    start = rundir.process_start_ticks(os.getpid())
    run = _run(tmp_path, pid=os.getpid(), pid_start=start + 12345)
    run.write_state(status="running")
    assert run.status() == "interrupted"


def test_a_zombie_child_counts_as_gone(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    start = rundir.process_start_ticks(proc.pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and rundir.pid_alive(proc.pid, start):
        time.sleep(0.05)  # exited but not reaped: a zombie
    try:
        assert not rundir.pid_alive(proc.pid, start)
    finally:
        proc.wait()


def test_end_event_wins_and_an_end_from_before_a_relaunch_does_not(tmp_path: Path) -> None:
    run = _run(tmp_path, pid=os.getpid(), pid_start=rundir.process_start_ticks(os.getpid()))
    run.write_state(status="running", launched=time.time() - 60)
    with EventWriter(run.events_path) as ev:
        ev.emit(EndEvent(status="stopped", step=4))
    assert run.status() == "stopped"
    # `ft-tui resume` relaunches: the old end event must not make the new attempt look finished.
    run.write_state(status="starting", launched=time.time() + 1)
    assert run.status() == "starting"


def test_host_elsewhere_is_not_declared_interrupted(tmp_path: Path) -> None:
    pid, start = _dead_pid()
    run = _run(tmp_path, pid=pid, pid_start=start, host="some-other-host")
    run.write_state(status="running")
    assert run.status() == "running"


def test_checkpoints_count_only_when_marked_complete(tmp_path: Path) -> None:
    run = _run(tmp_path)
    for step in (2, 4, 10):
        (run.path / f"checkpoint-{step}").mkdir()
    mark_complete(run.path / "checkpoint-2", 2)
    mark_complete(run.path / "checkpoint-4", 4)
    assert run.latest_checkpoint() == run.path / "checkpoint-4"
    assert [s for s, _ in run.checkpoints(complete_only=False)] == [2, 4, 10]


# ---------------------------------------------------------------------------------------------------- index

def test_index_dedupes_orders_and_drops_removed_runs(tmp_path: Path) -> None:
    a, b, c = _run(tmp_path, "a"), _run(tmp_path, "b"), _run(tmp_path, "c")
    for run in (a, b, a, c):
        register_run(run)
    with open(rundir.index_path(), "a") as fh:
        fh.write('{"torn": \n')
    assert [r.id for r in indexed_runs()] == ["a", "b", "c"]
    import shutil

    shutil.rmtree(b.path)
    assert [r.id for r in indexed_runs()] == ["a", "c"]
    assert oct(rundir.index_path().stat().st_mode & 0o777) == oct(0o600)


def test_find_run_by_path_id_and_prefix(tmp_path: Path) -> None:
    one = _run(tmp_path, "20260101-000000-m-lora")
    two = _run(tmp_path, "20260101-000001-m-lora")
    register_run(one)
    register_run(two)
    assert find_run(str(one.path)).path == one.path
    assert find_run("20260101-000001-m-lora").path == two.path
    assert find_run("20260101-000001").path == two.path
    with pytest.raises(InputError, match="matches several runs"):
        find_run("20260101-00000")
    with pytest.raises(InputError, match="no run 'nope'"):
        find_run("nope")
