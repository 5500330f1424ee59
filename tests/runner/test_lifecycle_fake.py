"""Run lifecycle through the installed `ft-tui` command: runs, attach, stop, resume, with a detached trainer.

The trainer is tests/runner/fake_worker.py (same protocol as the real one, no torch) so each test takes about a
second; tests/runner/test_lifecycle_real.py repeats the key paths with the real trainer and the tiny model.
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
import yaml
from ft_tui.runner.rundir import RunDir

FT_TUI = str(Path(sys.executable).with_name("ft-tui"))
FAKE_WORKER = Path(__file__).with_name("fake_worker.py")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e.update(XDG_STATE_HOME=str(tmp_path / "state"), XDG_CACHE_HOME=str(tmp_path / "cache"), HF_HUB_OFFLINE="1",
             FT_TUI_WORKER=str(FAKE_WORKER), FAKE_STEP_S="0.02")
    for key in ("FAKE_FAIL_AT", "FAKE_BAD_INPUT"):
        e.pop(key, None)
    return e


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text('{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, '
                                                 '"num_attention_heads": 4, "vocab_size": 1024}')
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump({"model_name_or_path": "model", "dataset": "demo_alpaca_en", "max_steps": 40,
                                    "save_steps": 5, "logging_steps": 1}))
    return path


def ft(env: dict[str, str], *args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([FT_TUI, *args], env=env, cwd=str(cwd), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def runs_json(env: dict[str, str], cwd: Path) -> list[dict]:
    res = ft(env, "runs", "--json", cwd=cwd)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def events(run_path: Path, type_: str | None = None) -> list[dict]:
    return [ev for ev in RunDir(run_path).events() if type_ is None or ev["type"] == type_]


def start_detached(env, config: Path, cwd: Path, *sets: str) -> tuple[str, Path]:
    res = ft(env, "train", str(config), "--detach", *[a for s in sets for a in ("--set", s)], cwd=cwd)
    assert res.returncode == 0, res.stderr
    run_id = res.stdout.strip()
    return run_id, cwd / "runs" / run_id


def test_runs_json_from_another_directory(env, config, tmp_path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    res = ft(env, "train", str(config), "--set", "max_steps=6", cwd=work)
    assert res.returncode == 0, res.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (entry,) = runs_json(env, elsewhere)
    assert set(entry) >= {"id", "path", "status", "model", "method", "step", "total_steps", "loss", "started"}
    assert Path(entry["path"]).is_absolute() and Path(entry["path"]).parent == work / "runs"
    assert entry["status"] == "completed" and entry["method"] == "lora"
    assert entry["step"] == 6 and entry["total_steps"] == 6 and entry["loss"] == pytest.approx(0.5)
    assert entry["model"] == str(config.parent / "model")
    table = ft(env, "runs", cwd=elsewhere).stdout.splitlines()
    assert table[0].split() == ["ID", "STATUS", "MODEL", "METHOD", "STEP", "LOSS", "STARTED"]
    assert table[1].split()[:5] == [entry["id"], "completed", "model", "lora", "6/6"]


def test_runs_drops_a_run_whose_directory_was_removed(env, config, tmp_path) -> None:
    ft(env, "train", str(config), "--set", "max_steps=2", cwd=tmp_path)
    ft(env, "train", str(config), "--set", "max_steps=3", cwd=tmp_path)
    first, second = runs_json(env, tmp_path)
    import shutil

    shutil.rmtree(first["path"])
    assert [r["id"] for r in runs_json(env, tmp_path)] == [second["id"]]


def test_killed_run_is_interrupted_then_resume_finishes_it(env, config, tmp_path) -> None:
    run_id, path = start_detached(env, config, tmp_path)
    wait_until(lambda: (path / "checkpoint-10").exists() and len(events(path, "checkpoint")) >= 2)
    state = json.loads((path / "state.json").read_text())
    os.kill(state["pid"], signal.SIGKILL)  # no chance to write an end event
    wait_until(lambda: runs_json(env, tmp_path)[0]["status"] == "interrupted")

    attach = ft(env, "attach", run_id, "--plain", cwd=tmp_path)
    assert attach.returncode == 1
    assert attach.stdout.splitlines()[0].startswith("started")
    assert "checkpoint: step 10" in attach.stdout  # the whole history
    assert "interrupted" in attach.stderr and f"ft-tui resume {run_id}" in attach.stderr

    last_cp = max(int(p.name.split("-")[1]) for p in path.glob("checkpoint-*") if (p / ".ft-tui-complete").exists())
    n_before = len(events(path))
    res = ft(env, "resume", run_id, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    new = events(path)[n_before:]
    assert new[0]["type"] == "start" and new[0]["resumed_from"] == last_cp
    logs = [e["step"] for e in new if e["type"] == "log"]
    assert logs[0] == last_cp + 1 and logs[-1] == 40
    assert "resumed from step" in res.stdout and "run completed at step 40/40" in res.stdout
    assert runs_json(env, tmp_path)[0]["status"] == "completed"
    again = ft(env, "resume", run_id, cwd=tmp_path)
    assert again.returncode == 0 and "complete" in again.stdout and "max_steps" in again.stdout


def test_stop_checkpoints_and_resume_finishes(env, config, tmp_path) -> None:
    run_id, path = start_detached(env, config, tmp_path, "save_steps=1000")
    wait_until(lambda: len(events(path, "log")) >= 3)
    res = ft(env, "stop", run_id, "--wait", "30", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (end,) = events(path, "end")
    assert end["status"] == "stopped"
    cp = path / f"checkpoint-{end['step']}"
    assert cp.is_dir() and f"checkpoint: {cp}" in res.stdout
    assert runs_json(env, tmp_path)[0]["status"] == "stopped"
    assert ft(env, "stop", run_id, cwd=tmp_path).returncode == 0  # already ended: a message, exit 0

    res = ft(env, "resume", run_id, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    logs = [e["step"] for e in events(path, "log")]
    assert logs[logs.index(end["step"]) + 1] == end["step"] + 1 and logs[-1] == 40
    assert events(path)[-1]["type"] == "end" and events(path)[-1]["status"] == "completed"


def test_resume_refuses_a_running_run_and_stop_an_unknown_one(env, config, tmp_path) -> None:
    run_id, path = start_detached(env, config, tmp_path, "max_steps=1000")
    try:
        wait_until(lambda: json.loads((path / "state.json").read_text()).get("status") == "running")
        res = ft(env, "resume", run_id, cwd=tmp_path)
        assert res.returncode == 2 and "still running" in res.stderr
    finally:
        assert ft(env, "stop", run_id, cwd=tmp_path).returncode == 0
    assert ft(env, "stop", "no-such-run", cwd=tmp_path).returncode == 2
    assert ft(env, "attach", "no-such-run", cwd=tmp_path).returncode == 2


def test_attach_follows_a_live_run_to_its_end(env, config, tmp_path) -> None:
    run_id, path = start_detached(env, config, tmp_path, "max_steps=30")
    res = ft(env, "attach", run_id, "--plain", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("started") and lines[-1].startswith("run completed at step 30/30")
    assert sum(1 for line in lines if line.startswith("step ")) == 30


def test_two_resumes_at_once_start_one_worker(env, config, tmp_path) -> None:
    """One run has at most one worker (#19 item 4): of two `resume --detach` at once, one launches, the other says
    the run is already running; every step is logged once."""
    run_id, path = start_detached(env, config, tmp_path, "max_steps=60")
    wait_until(lambda: len(events(path, "checkpoint")) >= 1)
    os.kill(json.loads((path / "state.json").read_text())["pid"], signal.SIGKILL)
    wait_until(lambda: runs_json(env, tmp_path)[0]["status"] == "interrupted")
    n_before = len(events(path))
    procs = [subprocess.Popen([FT_TUI, "resume", run_id, "--detach"], env=env, cwd=str(tmp_path), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
             for _ in range(2)]
    outs = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in outs)
    assert codes == [0, 2], outs
    refused = next(err for rc, _, err in outs if rc == 2)
    assert "already running" in refused or "still" in refused
    wait_until(lambda: runs_json(env, tmp_path)[0]["status"] == "completed", timeout=60)
    new = events(path)[n_before:]
    assert len([e for e in new if e["type"] == "start"]) == 1
    steps = [e["step"] for e in new if e["type"] == "log"]
    assert len(steps) == len(set(steps)) and steps[-1] == 60
