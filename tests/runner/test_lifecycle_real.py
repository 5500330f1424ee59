"""The run lifecycle with the REAL trainer on the tiny demo model: kill -> interrupted -> resume -> stop -> resume.

One run goes through every transition (each trainer start costs seconds of imports on this CPU), checking what a
user would: `runs` says interrupted after a SIGKILL, resume continues right after the last complete checkpoint,
`stop` leaves a checkpoint and status stopped, and the final resume finishes at max_steps. Plus the input paths
that need the trainer or the tokenizer: broken data exits 2, --dry-run prints the data statistics.
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
from ft_tui.runner import launch
from ft_tui.runner.rundir import RunDir, indexed_runs
from ft_tui.tui.cli import main

pytestmark = pytest.mark.slow_runner

FT_TUI = str(Path(sys.executable).with_name("ft-tui"))


@pytest.fixture
def env(tmp_path: Path, demo_kit) -> dict[str, str]:
    e = dict(os.environ)
    e.pop(launch.WORKER_OVERRIDE_ENV, None)
    e.update(XDG_STATE_HOME=str(tmp_path / "state"), XDG_CACHE_HOME=str(tmp_path / "cache"), HF_HUB_OFFLINE="1",
             OMP_NUM_THREADS="1")
    return e


def ft(env: dict[str, str], *args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([FT_TUI, *args], env=env, cwd=str(cwd), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def events(run_path: Path) -> list[dict]:
    return RunDir(run_path).events()


def wait_until(predicate, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def status_of(env, cwd: Path) -> str:
    return json.loads(ft(env, "runs", "--json", cwd=cwd).stdout)[-1]["status"]


def test_kill_resume_stop_resume_with_the_real_trainer(env, tmp_path, rt, demo_kit) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(rt.base_config(demo_kit, max_steps=60, save_steps=3, logging_steps=1)))
    res = ft(env, "train", str(config), "--detach", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    path = tmp_path / "runs" / res.stdout.strip()

    # 1. SIGKILL after a complete checkpoint: no end event, status interrupted.
    wait_until(lambda: any(e["type"] == "checkpoint" for e in events(path)), what="the first checkpoint")
    os.kill(json.loads((path / "state.json").read_text())["pid"], signal.SIGKILL)
    wait_until(lambda: status_of(env, tmp_path) == "interrupted", 30, "status interrupted")
    assert not [e for e in events(path) if e["type"] == "end"]
    complete = sorted(int(p.name.split("-")[1]) for p in path.glob("checkpoint-*") if (p / ".ft-tui-complete").exists())
    last_cp = complete[-1]

    # 2. Resume (detached): the first new step is the one right after the last complete checkpoint.
    n_before = len(events(path))
    res = ft(env, "resume", path.name, "--detach", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wait_until(lambda: sum(e["type"] == "log" for e in events(path)[n_before:]) >= 2, what="logs after resume")
    new = events(path)[n_before:]
    start = next(e for e in new if e["type"] == "start")
    assert start["resumed_from"] == last_cp
    assert next(e["step"] for e in new if e["type"] == "log") == last_cp + 1

    # 3. Stop: a checkpoint at the stop step, end status stopped.
    res = ft(env, "stop", path.name, "--wait", "120", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    end = [e for e in events(path) if e["type"] == "end"][-1]
    assert end["status"] == "stopped"
    assert (path / f"checkpoint-{end['step']}" / ".ft-tui-complete").exists()
    assert status_of(env, tmp_path) == "stopped"

    # 4. Resume in the foreground: it finishes at max_steps, continuing right after the stop.
    n_before = len(events(path))
    res = ft(env, "resume", path.name, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    new = events(path)[n_before:]
    logs = [e["step"] for e in new if e["type"] == "log"]
    assert logs[0] == end["step"] + 1 and logs[-1] == 60
    assert new[-1]["type"] == "end" and new[-1]["status"] == "completed" and new[-1]["step"] == 60
    assert "run completed at step 60/60" in res.stdout
    assert status_of(env, tmp_path) == "completed"


def test_broken_data_exits_2_from_the_trainer(env, tmp_path, rt, demo_kit) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "mine.json"}}))
    (data / "mine.json").write_text('[{"instruction": "hi", "output": "hello"},\n{"instruction": "x", "outp')
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(rt.base_config(demo_kit, dataset="mine", dataset_dir="data")))
    res = ft(env, "train", str(config), cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "mine.json" in res.stdout + res.stderr


def test_dry_run_prints_stats_and_plan_and_trains_nothing(tmp_path, rt, demo_kit, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(rt.base_config(demo_kit)))
    assert main(["train", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("template: chatml")
    assert "plan:" in out and out.rstrip().endswith("dry run: nothing was trained")
    assert indexed_runs() == [] and not (tmp_path / "runs").exists()
