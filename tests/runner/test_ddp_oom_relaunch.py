"""The OOM back-off of a multi-process run, for real: `ft-tui train`'s spawn path (supervisor + torchrun, 2 gloo
processes on the CPU), an OOM injected on rank 1 only, a relaunch from the last complete checkpoint."""

from __future__ import annotations

import io
import threading

import pytest
import yaml
from ft_tui.runner import control, launch
from ft_tui.runner.backoff import LAUNCHED_CONFIG
from ft_tui.runner.follow import ProgressPrinter, RunFollower
from ft_tui.runner.rundir import RunDir, pid_alive
from ft_tui.runner.status import LIVE_STATUSES

pytestmark = pytest.mark.ddp


@pytest.fixture
def inject_oom_on_rank1(monkeypatch):
    """The OOM test hook at step 3 on rank 1 only, in the environment spawn_worker hands down."""
    monkeypatch.setenv("FT_TUI_INJECT_OOM_AT_STEP", "3")
    monkeypatch.setenv("FT_TUI_INJECT_OOM_RANK", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


class LivenessWatch(threading.Thread):
    """Polls state.json: while the run is live, its ``pid`` must be a live process and its status not interrupted."""

    def __init__(self, run: RunDir) -> None:
        super().__init__(daemon=True)
        self.rundir = run
        self.done = threading.Event()
        self.polls = 0
        self.pids: set[int] = set()
        self.problems: list[str] = []

    def run(self) -> None:
        while not self.done.wait(0.05):
            state = self.rundir.read_state()
            if state.get("status") not in LIVE_STATUSES:
                continue
            self.polls += 1
            pid = state.get("pid")
            self.pids.add(pid)
            if not pid_alive(pid, state.get("pid_start")) and self.rundir.read_state().get("pid") == pid:
                # (re-read: a pid that was handed on between the two reads is no finding)
                self.problems.append(f"state.json pid {pid} is dead while the run is {state.get('status')}")
            if self.rundir.status() == "interrupted":
                self.problems.append("status interrupted while the supervisor is alive")


def test_oom_on_rank1_backs_off_relaunches_and_completes(new_run, inject_oom_on_rank1):
    run = new_run(max_steps=6, save_steps=2, per_device_train_batch_size=2, gradient_accumulation_steps=1)
    watch = LivenessWatch(run)
    watch.start()
    sup = launch.spawn_worker(run, nproc=2)  # as `ft-tui train` on a 2-GPU box: supervisor + torchrun
    out = io.StringIO()
    try:
        result = RunFollower(run, ProgressPrinter(out, tty=False), poll=0.2).follow()  # as `ft-tui attach`
        assert launch.wait_child(sup, 60) == 0, run.log_path.read_text()[-3000:]
    finally:
        watch.done.set()
        _kill(sup)
    assert result.status == "completed", run.log_path.read_text()[-3000:]
    events = run.events()
    backoffs = [e for e in events if e["type"] == "backoff"]
    assert len(backoffs) == 1
    b = backoffs[0]
    assert b["old"] == {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 1}
    assert b["new"] == {"per_device_train_batch_size": 1, "gradient_accumulation_steps": 2}
    assert b["step"] == 2 and b["restart_from"] == 2 and b["ranks"] == [1]
    starts = [e for e in events if e["type"] == "start"]
    assert len(starts) == 2 and starts[1].get("resumed_from") == 2
    assert starts[0]["batch"]["effective"] == starts[1]["batch"]["effective"] == 4  # 2 procs x 2 x 1 = 2 x 1 x 2
    after = events[events.index(b):]
    assert [e["step"] for e in after if e["type"] == "log"] == [3, 4, 5, 6]
    assert [e["type"] for e in events].count("end") == 1
    assert events[-1]["status"] == "completed" and events[-1]["step"] == 6
    # config.yaml holds the backed-off values; the launched one is kept
    now = yaml.safe_load(run.config_path.read_text())
    assert (now["per_device_train_batch_size"], now["gradient_accumulation_steps"]) == (1, 2)
    assert yaml.safe_load((run.path / LAUNCHED_CONFIG).read_text())["per_device_train_batch_size"] == 2
    state = run.read_state()
    assert state["status"] == "completed" and state["oom_injected"] == 3 and state["backoffs"] == 1
    assert not list(run.oom_path.glob("rank-*.json"))
    # launch.txt: the real torchrun lines, the second one resuming
    lines = [x for x in run.launch_path.read_text().splitlines() if not x.startswith("#")]
    assert len(lines) == 2 and "--nproc_per_node 2" in lines[0] and lines[1].endswith("--resume")
    # the run never looked dead: state.json pid was rank 0 of each attempt or the supervisor in between
    assert not watch.problems, watch.problems[:5]
    assert watch.polls > 20 and sup in watch.pids and len(watch.pids) >= 3
    # the follower went on across the relaunch and showed the back-off
    text = out.getvalue()
    assert "backoff: CUDA out of memory" in text and "on rank 1" in text and "restarting from step 2" in text
    assert "run completed at step 6" in text


def test_stop_during_the_second_attempt_ends_stopped(new_run, monkeypatch):
    # the hook's default: every rank runs out of memory at step 3 (rank 0 included, which then hands pid back)
    monkeypatch.setenv("FT_TUI_INJECT_OOM_AT_STEP", "3")
    monkeypatch.delenv("FT_TUI_INJECT_OOM_RANK", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run = new_run(max_steps=300, save_steps=2)
    sup = launch.spawn_worker(run, nproc=2)
    try:
        assert _wait(lambda: any(e["type"] == "log" and e["step"] >= 4 for e in _after_backoff(run)), 200), \
            run.log_path.read_text()[-3000:]
        rank0 = control.signal_run(run)  # as `ft-tui stop`
        assert rank0 is not None and rank0 != sup  # the relaunched attempt's rank 0
        assert launch.wait_child(sup, 120) == 0, run.log_path.read_text()[-3000:]
    finally:
        _kill(sup)
    events = run.events()
    end = events[-1]
    assert end["type"] == "end" and end["status"] == "stopped"
    assert run.latest_checkpoint() == run.path / f"checkpoint-{end['step']}" and end["step"] >= 4
    backoffs = [e for e in events if e["type"] == "backoff"]
    assert len(backoffs) == 1 and backoffs[0]["ranks"] == [0, 1] and backoffs[0]["restart_from"] == 2
    assert [e["type"] for e in events].count("end") == 1
    assert run.read_state()["status"] == "stopped" and run.status() == "stopped"
    assert len([x for x in run.launch_path.read_text().splitlines() if not x.startswith("#")]) == 2


def _after_backoff(run: RunDir) -> list[dict]:
    events = run.events()
    idx = next((i for i, e in enumerate(events) if e["type"] == "backoff"), None)
    return [] if idx is None else events[idx:]


def _wait(predicate, timeout: float) -> bool:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _kill(pid: int) -> None:
    """Leave nothing running when a test fails: end the supervisor's whole session (it leads its own)."""
    import os
    import signal

    if launch.child_exit_code(pid) is None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        launch.wait_child(pid, 10)
