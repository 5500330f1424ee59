"""A stop at any moment of a run ends it `stopped`, never `interrupted`.

From the instant `ft-tui train` has spawned the trainer (the signal lands while the interpreter is still starting),
through the slow phases before the first optimizer step (imports, data, model load: simulated by the test hook
FT_TUI_TEST_PHASE_DELAY), with a repeated stop (counted only) and with `ft-tui stop --now` (at once). The stop during training (checkpoint + stopped)
is covered by test_worker_signals.py; the pieces (signal mask, state lock, the hook's parser) are checked here
without a trainer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ft_tui.runner import control, launch
from ft_tui.runner.rundir import RunDir, summarize
from ft_tui.runner.signals import STOP_NOW_SIGNAL, StopRequest, stop_signals_blocked
from ft_tui.runner.worker import PHASE_DELAY_ENV, phase_delays


def _end(run: RunDir) -> dict:
    events = run.events()
    assert events and events[-1]["type"] == "end", [e["type"] for e in events]
    return events[-1]


def _phase_begun(run: RunDir, phase: str) -> dict | None:
    return next((e for e in run.events() if e["type"] == "status" and e.get("phase") == phase), None)


def _assert_stopped_before_training(run: RunDir, end: dict) -> None:
    assert end["status"] == "stopped" and end["reason"] == "SIGTERM" and end["step"] == 0
    assert "before the first training step" in end["message"] and end.get("checkpoint") is None
    assert not [e for e in run.events() if e["type"] in ("start", "log", "checkpoint", "error")]
    assert run.checkpoints(complete_only=False) == []
    assert not (run.path / "adapter").exists()
    state = run.read_state()
    assert state["status"] == "stopped" and state["exit_code"] == 0
    assert run.status() == "stopped" and summarize(run).status == "stopped"


# ---------------------------------------------------------------------------------------------------- pieces

def test_phase_delay_hook_parses_pairs_and_skips_bad_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert phase_delays("model:2, data:0.5") == {"model": 2.0, "data": 0.5}
    assert phase_delays("") == {}
    assert phase_delays("model:soon,weights:1,imports:-1,data:1") == {"data": 1.0}
    err = capsys.readouterr().err
    assert all(f"'{bad}'" in err for bad in ("model:soon", "weights:1", "imports:-1")) and PHASE_DELAY_ENV in err


def test_a_repeated_stop_is_only_counted_and_stop_now_interrupts_only_while_armed() -> None:
    stop = StopRequest()
    stop.interruptible = True
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGINT):  # `ft-tui stop` twice, then a Ctrl+C
        stop._handle(sig, None)  # never escalates: the checkpoint is still saved
    assert stop.requested and stop.signal_name == "SIGTERM" and stop.count == 3 and stop.interruptible
    with pytest.raises(KeyboardInterrupt, match="SIGUSR1"):
        stop._handle(STOP_NOW_SIGNAL, None)  # `ft-tui stop --now`
    assert not stop.interruptible and stop.signal_name == "SIGUSR1"  # one hard stop; the end event is not torn
    stop._handle(STOP_NOW_SIGNAL, None)
    assert stop.count == 5 and stop.requested
    unarmed = StopRequest()  # start-up, or the end is being written: a stop-now only sets the flag
    unarmed._handle(STOP_NOW_SIGNAL, None)
    assert unarmed.requested and unarmed.signal_name == "SIGUSR1"


SIGBLK_PROBE = """
import signal, sys
blocked = int(next(l for l in open('/proc/self/status') if l.startswith('SigBlk:')).split()[1], 16)
print(sorted(int(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1) if blocked >> (s - 1) & 1))
"""


@pytest.mark.parametrize("held", [True, False])
def test_children_start_with_stop_signals_blocked_only_when_asked(held: bool) -> None:
    with stop_signals_blocked(held):
        out = subprocess.run([sys.executable, "-c", SIGBLK_PROBE], capture_output=True, text=True, timeout=30)
    expected = sorted([signal.SIGTERM, signal.SIGINT, signal.SIGUSR1]) if held else []
    assert out.stdout.strip() == str([int(s) for s in expected])
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == set()  # our own mask is restored


def test_only_the_worker_module_itself_is_started_with_signals_blocked(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert launch.starts_worker_directly([sys.executable, "-m", launch.WORKER_MODULE, str(run.path)])
    assert not launch.starts_worker_directly(launch.launch_command(run, 2, strategy="ddp"))  # torchrun
    assert not launch.starts_worker_directly([sys.executable, "/x/fake_worker.py", str(run.path)])


WRITE_KEYS = """
import sys
from pathlib import Path
from ft_tui.runner.rundir import RunDir
run = RunDir(Path(sys.argv[1]))
for i in range(40):
    run.write_state(**{f"{sys.argv[2]}{i}": i})
"""


def test_concurrent_state_updates_from_two_processes_are_all_kept(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.write_state(status="starting")
    procs = [subprocess.Popen([sys.executable, "-c", WRITE_KEYS, str(tmp_path), prefix]) for prefix in "ab"]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    state = json.loads(run.state_path.read_text())
    assert {f"{p}{i}" for p in "ab" for i in range(40)} <= set(state) and state["status"] == "starting"


# ---------------------------------------------------------------------------------------------------- real trainer

@pytest.fixture
def launch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment `ft-tui train` would hand the real trainer (no stand-in worker, one CPU thread)."""
    monkeypatch.delenv(launch.WORKER_OVERRIDE_ENV, raising=False)
    monkeypatch.delenv(PHASE_DELAY_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.slow_runner
@pytest.mark.parametrize("delay_s", [0.0, 0.05])
def test_stop_right_after_the_spawn_ends_stopped(new_run, launch_env, delay_s: float) -> None:
    run = new_run(max_steps=500, save_steps=1000)
    pid = launch.spawn_worker(run)  # as `ft-tui train --detach` and the TUI start it
    try:
        if delay_s:
            time.sleep(delay_s)
        assert control.signal_run(run) == pid  # as `ft-tui stop` does: the interpreter may not even be up yet
        assert launch.wait_child(pid, 120) == 0
    finally:
        if launch.child_exit_code(pid) is None:
            os.kill(pid, signal.SIGKILL)
    end = _end(run)
    assert end["phase"] in ("start-up", "imports")
    _assert_stopped_before_training(run, end)
    assert run.read_state()["pid"] == pid


PHASE_S = 1.0  # how long the slowed phase takes


def _stop_during(run: RunDir, rt, phase: str, delay_s: float,
                 signals: tuple[int, ...] = (signal.SIGTERM,)) -> tuple[dict, float, float]:
    """Run the trainer with ``phase`` slowed by ``delay_s``, send it ``signals`` (0.1 s apart) once the phase has
    begun; (end event, time of the last signal, time the phase began)."""
    proc = rt.spawn_worker(run, env=rt.worker_env(**{PHASE_DELAY_ENV: f"{phase}:{delay_s}"}))
    try:
        assert rt.wait_for(lambda: _phase_begun(run, phase) is not None, 120, poll=0.02)
        for sig in signals:
            os.kill(proc.pid, sig)
            sent = time.time()
            time.sleep(0.1)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    return _end(run), sent, _phase_begun(run, phase)["time"]


@pytest.mark.slow_runner
def test_stop_while_the_data_is_prepared_never_loads_the_model(new_run, rt) -> None:
    run = new_run(max_steps=500, save_steps=1000)
    end, sent, begun = _stop_during(run, rt, "data", PHASE_S)
    assert end["phase"] == "data"
    _assert_stopped_before_training(run, end)
    assert _phase_begun(run, "model") is None  # acted upon at the boundary, before the model load
    assert end["time"] - (begun + PHASE_S) < 1.5  # the rest of the phase (tokenizer + tiny dataset, ~0.1 s)


@pytest.mark.slow_runner
def test_stop_during_the_model_load_ends_after_the_load(new_run, rt) -> None:
    run = new_run(max_steps=500, save_steps=1000)
    end, sent, begun = _stop_during(run, rt, "model", PHASE_S)
    assert end["phase"] == "model"
    _assert_stopped_before_training(run, end)
    assert end["time"] - (begun + PHASE_S) < 1.5  # the rest of the load (tiny model + Trainer, ~0.1 s)


@pytest.mark.slow_runner
def test_a_repeated_stop_during_the_model_load_still_ends_after_the_load(new_run, rt) -> None:
    run = new_run(max_steps=500, save_steps=1000)
    end, sent, begun = _stop_during(run, rt, "model", PHASE_S, signals=(signal.SIGTERM, signal.SIGTERM))
    assert end["phase"] == "model"  # the second stop did not cut the load short
    _assert_stopped_before_training(run, end)


@pytest.mark.slow_runner
def test_stop_now_during_the_model_load_stops_at_once(new_run, rt) -> None:
    run = new_run(max_steps=500, save_steps=1000)
    end, sent, begun = _stop_during(run, rt, "model", 30, signals=(signal.SIGTERM, STOP_NOW_SIGNAL))
    assert end["status"] == "stopped" and "ft-tui stop --now" in end["message"]
    assert end["time"] - sent < 5.0  # did not wait for the 30 s load
    assert run.read_state()["status"] == "stopped" and run.status() == "stopped"
    assert run.checkpoints(complete_only=False) == []


@pytest.mark.ddp
def test_stop_on_rank0_before_the_process_group_stops_every_rank_together(new_run, rt) -> None:
    """Rank 0 is signalled while the data is prepared: no rank stops alone (the others would hang in the process
    group's set-up); all agree once the group exists, before the model load."""
    run = new_run(max_steps=500, save_steps=1000)
    env = rt.worker_env(**{PHASE_DELAY_ENV: "data:2"})
    proc = rt.spawn_worker(run, env=env, torchrun_nproc=2)
    try:
        assert rt.wait_for(lambda: _phase_begun(run, "data") is not None, 200, poll=0.05)
        os.kill(run.read_state()["pid"], signal.SIGTERM)  # rank 0 only, as `ft-tui stop` does
        assert proc.wait(timeout=120) == 0, run.log_path.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    end = _end(run)
    assert end["phase"] == "data" and run.read_state()["world_size"] == 2
    _assert_stopped_before_training(run, end)
    assert _phase_begun(run, "model") is None
