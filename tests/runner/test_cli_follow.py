"""The terminal follower (runner/follow.py) and Ctrl+C while following (detach or stop)."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

import pytest
from ft_tui.runner import cli as runner_cli
from ft_tui.runner import control, follow, launch
from ft_tui.runner.events import (
    BackoffEvent,
    CheckpointEvent,
    EndEvent,
    EvalEvent,
    EventWriter,
    LogEvent,
    StartEvent,
    StatusEvent,
    fold,
)
from ft_tui.runner.follow import CLEAR_LINE, ProgressPrinter, RunFollower, event_text, progress_text
from ft_tui.runner.rundir import RunDir, process_start_ticks

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")


def test_plain_printer_prints_one_line_per_event() -> None:
    out = io.StringIO()
    p = ProgressPrinter(out, tty=False)
    p.handle(StartEvent(total_steps=100, hardware=["NVIDIA H100", "NVIDIA H100"]))
    p.handle(StatusEvent(message="loading the model"))
    p.handle(LogEvent(step=25, loss=1.23456, lr=2e-4, tokens_per_s=12345.0, elapsed_s=30, eta_s=90))
    p.handle(BackoffEvent(step=26, reason="CUDA out of memory", old={"b": 4}))
    p.handle(EvalEvent(step=50, eval_loss=1.1))
    p.handle(CheckpointEvent(step=50, path="/r/checkpoint-50"))
    p.handle({"type": "some_future_type", "x": 1})
    p.handle(EndEvent(status="completed", step=100, metrics={"train_loss": 1.05}, output="/r/a"))
    p.finish()
    assert out.getvalue().splitlines() == [
        "started 100 steps on 2x NVIDIA H100",
        "status: loading the model",
        "step 25/100 (25%)  loss 1.2346  lr 2.00e-04  12.3k tok/s  elapsed 0:30  ETA 1:30",
        "backoff: CUDA out of memory",
        "eval: step 50  eval_loss 1.1000",
        "checkpoint: step 50 saved to /r/checkpoint-50",
        "run completed at step 100/100 train_loss 1.0500 -> /r/a",
    ]


def test_tty_printer_redraws_one_progress_line_and_prints_events_above() -> None:
    out = io.StringIO()
    p = ProgressPrinter(out, tty=True)
    p.handle(StartEvent(total_steps=10))
    p.handle(LogEvent(step=1, loss=2.0))
    p.handle(LogEvent(step=2, loss=1.5))
    p.handle(CheckpointEvent(step=2, path="/c2"))
    p.finish()
    text = out.getvalue()
    assert text.count("\n") == 3  # start, checkpoint, and the final progress line: log lines are redrawn in place
    assert text.endswith(CLEAR_LINE + "step 2/10 (20%)  loss 1.5000\n")
    assert CLEAR_LINE + "checkpoint: step 2 saved to /c2\n" + CLEAR_LINE + "step 2/10" in text


def test_eta_is_derived_when_the_event_has_none() -> None:
    assert "ETA 0:30" in progress_text(fold([StartEvent(total_steps=40), LogEvent(step=10, elapsed_s=10.0)]))


def test_failed_end_does_not_repeat_the_error_message() -> None:
    failed = EndEvent(status="failed", step=3, message="boom")
    line = event_text(failed.to_dict(), fold([failed]))
    assert line == "run failed at step 3"
    stopped = EndEvent(status="stopped", step=3)
    assert "(SIGTERM)" not in event_text(stopped.to_dict(), fold([stopped]))


# ---------------------------------------------------------------------------------------------------- following

@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunDir:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    r = RunDir.create(tmp_path / "run")
    r.write_state(status="running", pid=os.getpid(), pid_start=process_start_ticks(os.getpid()), launched=1.0)
    return r


def test_follower_stops_at_the_end_event_and_ignores_an_old_one(run: RunDir) -> None:
    with EventWriter(run.events_path) as ev:
        ev.emit(EndEvent(status="stopped", step=3))  # the attempt before a resume
    run.write_state(launched=time.time() + 0.01)
    time.sleep(0.02)
    with EventWriter(run.events_path) as ev:
        ev.emit_all([StartEvent(total_steps=5, resumed_from=3), LogEvent(step=4, loss=1.0),
                     EndEvent(status="completed", step=5)])
    out = io.StringIO()
    result = RunFollower(run, ProgressPrinter(out, tty=False), poll=0.01).follow()
    assert result.status == "completed" and result.cli_exit == 0
    assert out.getvalue().splitlines()[0] == "run stopped at step 3"


def test_follower_reports_interrupted_when_the_process_is_gone(run: RunDir) -> None:
    with EventWriter(run.events_path) as ev:
        ev.emit_all([StartEvent(total_steps=5), LogEvent(step=1, loss=1.0)])
    result = RunFollower(run, ProgressPrinter(io.StringIO(), tty=False), poll=0.01, live=lambda: False).follow()
    assert result.status == "interrupted" and result.cli_exit == 1


def test_follower_passes_on_the_trainers_bad_input_exit(run: RunDir) -> None:
    run.write_state(status="failed", exit_code=2)
    result = RunFollower(run, ProgressPrinter(io.StringIO(), tty=False), poll=0.01, live=lambda: False).follow()
    assert result.status == "failed" and result.cli_exit == 2


# ---------------------------------------------------------------------------------------------------- Ctrl+C

@pytest.fixture
def live_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_STEP_S", "0.02")
    folder = tmp_path / "run"
    r = RunDir.create(folder)
    r.config_path.write_text("max_steps: 2000\nsave_steps: 1000\nlogging_steps: 1\n")
    r.write_state(status="starting")
    pid = launch.spawn_worker(r, argv=[sys.executable, str(FAKE_WORKER), str(r.path)])
    deadline = time.monotonic() + 20
    while r.read_state().get("status") != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    yield r
    control.signal_run(r)
    launch.wait_child(pid, 20)


def _interrupt_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = time.sleep
    calls = {"n": 0}

    def sleep(seconds: float) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real_sleep(seconds)

    monkeypatch.setattr(follow.time, "sleep", sleep)


def test_ctrl_c_without_a_terminal_detaches_and_leaves_the_run_going(live_run, monkeypatch, capsys) -> None:
    _interrupt_once(monkeypatch)
    assert runner_cli.follow_with_prompt(live_run, printer=ProgressPrinter(io.StringIO(), tty=False)) == 0
    assert "detached" in capsys.readouterr().err
    assert live_run.status() == "running"


def test_ctrl_c_then_stop_waits_for_the_checkpoint(live_run, monkeypatch, capsys) -> None:
    _interrupt_once(monkeypatch)
    monkeypatch.setattr(runner_cli, "_ask_detach_or_stop", lambda: "s")
    out = io.StringIO()
    assert runner_cli.follow_with_prompt(live_run, printer=ProgressPrinter(out, tty=False)) == 0
    assert live_run.status() == "stopped" and live_run.latest_checkpoint() is not None
    assert out.getvalue().splitlines()[-1].startswith("run stopped at step")
    assert f"ft-tui resume {live_run.id}" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- a real terminal

def _read_until(fd: int, needle: bytes, timeout: float = 30.0) -> bytes:
    import select

    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {needle!r}; got {buf[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_in_a_terminal_ctrl_c_asks_and_detach_leaves_the_run_going(tmp_path: Path) -> None:
    """`ft-tui train` on a pty: one redrawn progress line, then Ctrl+C -> the prompt -> 'd' -> exit 0."""
    import pty

    folder = tmp_path / "project"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text('{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, '
                                                 '"num_attention_heads": 4, "vocab_size": 1024}')
    cfg = folder / "train.yaml"
    cfg.write_text("model_name_or_path: model\ndataset: demo_alpaca_en\nmax_steps: 3000\nsave_steps: 1000\n"
                   "logging_steps: 1\n")
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), HF_HUB_OFFLINE="1",
               FT_TUI_WORKER=str(FAKE_WORKER), FAKE_STEP_S="0.02", COLUMNS="120", LINES="30")
    pid, fd = pty.fork()
    if pid == 0:  # the child: ft-tui with the pty as its controlling terminal
        os.chdir(tmp_path)
        os.execve(str(Path(sys.executable).with_name("ft-tui")), ["ft-tui", "train", str(cfg)], env)
    try:
        seen = _read_until(fd, b"step 20/3000")
        assert b"\r\x1b[2K" in seen and b"\nstep 1/3000" not in seen  # redrawn in place, not one line per step
        os.write(fd, b"\x03")  # Ctrl+C through the terminal's line discipline
        _read_until(fd, b"Detach (d, default) or stop the run (s)?")
        os.write(fd, b"d\n")
        _read_until(fd, b"detached")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    run = RunDir(run_dir)
    assert run.status() == "running"  # Ctrl+C did not reach the trainer: it is in its own session
    assert control.signal_run(run) is not None
    deadline = time.monotonic() + 20
    while run.status() == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.status() == "stopped"
