"""The trainer under torchrun with 2 CPU processes (gloo): one writer of events, state and checkpoints."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ddp


def test_two_processes_train_and_only_rank0_reports(new_run, rt):
    run = new_run(max_steps=4, save_steps=2)
    proc = rt.spawn_worker(run, torchrun_nproc=2)
    try:
        code = proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, run.log_path.read_text()[-3000:]
    events = run.events()
    types = [e["type"] for e in events]
    assert types.count("start") == 1 and types.count("end") == 1
    start = next(e for e in events if e["type"] == "start")
    assert start["world_size"] == 2 and start["total_steps"] == 4
    assert [e["step"] for e in events if e["type"] == "log"] == [1, 2, 3, 4]
    assert events[-1]["status"] == "completed" and events[-1]["step"] == 4
    assert [s for s, _ in run.checkpoints()] == [2, 4]
    # both ranks saved their RNG state into the checkpoint before it was marked complete
    assert {p.name for p in (run.path / "checkpoint-4").glob("rng_state*.pth")} == {"rng_state_0.pth",
                                                                                      "rng_state_1.pth"}
    assert (run.path / "adapter" / "adapter_model.safetensors").is_file()
    assert run.read_state()["status"] == "completed"


def test_sigterm_to_rank0_stops_every_rank_at_the_same_step(new_run, rt):
    import os
    import signal

    run = new_run(max_steps=500, save_steps=1000)
    proc = rt.spawn_worker(run, torchrun_nproc=2)
    try:
        assert rt.wait_for(lambda: any(e["type"] == "log" and e["step"] >= 2 for e in run.events()), 200)
        os.kill(run.read_state()["pid"], signal.SIGTERM)  # rank 0 only, as `ft-tui stop` does
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    end = run.events()[-1]
    assert end["type"] == "end" and end["status"] == "stopped"
    ckpt = run.latest_checkpoint()
    assert ckpt == run.path / f"checkpoint-{end['step']}"
    assert {p.name for p in ckpt.glob("rng_state*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
    assert run.read_state()["status"] == "stopped"
