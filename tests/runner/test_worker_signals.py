"""Graceful stop of the detached trainer (a real subprocess, as `ft-tui train` starts it)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from ft_tui.runner.worker import PHASES

pytestmark = pytest.mark.slow_runner


def _has(run, type_, **match):
    return any(e["type"] == type_ and all(e.get(k) == v for k, v in match.items()) for e in run.events())


SECRET = "hf_ftTuiTestSecretDoNotLeak123"


def test_sigterm_saves_a_checkpoint_and_ends_stopped(new_run, rt):
    run = new_run(max_steps=500, save_steps=1000)
    proc = rt.spawn_worker(run, env=rt.worker_env(HF_TOKEN=SECRET))
    try:
        assert rt.wait_for(lambda: any(e["type"] == "log" and e["step"] >= 2 for e in run.events()), 120)
        os.kill(proc.pid, signal.SIGTERM)
        sent = time.monotonic()
        assert proc.wait(timeout=60) == 0
        assert time.monotonic() - sent < 60
    finally:
        if proc.poll() is None:
            proc.kill()
    end = run.events()[-1]
    assert end["type"] == "end" and end["status"] == "stopped" and end["reason"] == "SIGTERM"
    step = end["step"]
    assert 2 <= step < 500
    assert run.latest_checkpoint() == run.path / f"checkpoint-{step}"
    assert _has(run, "checkpoint", step=step)
    state = run.read_state()
    assert state["status"] == "stopped" and state["exit_code"] == 0 and state["pid"] == proc.pid
    assert not (run.path / "adapter").exists()
    # the token in the environment is never written anywhere in the run directory
    for path in run.path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_sigterm_before_training_ends_stopped_without_a_checkpoint(new_run, rt):
    run = new_run(max_steps=500, save_steps=1000)
    proc = rt.spawn_worker(run)
    try:
        assert rt.wait_for(lambda: _has(run, "status"), 120)  # handlers are installed, training not begun
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    events = run.events()
    assert events[-1]["type"] == "end" and events[-1]["status"] == "stopped"
    assert events[-1]["phase"] in PHASES and "before the first training step" in events[-1]["message"]
    assert not any(e["type"] in ("log", "checkpoint") for e in events)
    assert run.checkpoints(complete_only=False) == [] and run.read_state()["status"] == "stopped"
