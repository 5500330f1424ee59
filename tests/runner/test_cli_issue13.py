"""Issue #13 (the CLI part) for `ft-tui train`: it says what it will really run on (item 13), ...

The trainer is tests/runner/fake_worker.py (no torch); this machine's GPUs are faked where it matters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ft_tui.planner import gpu_probe
from ft_tui.runner import launch
from ft_tui.runner.rundir import indexed_runs
from ft_tui.tui.cli import main

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(launch.WORKER_OVERRIDE_ENV, str(FAKE_WORKER))
    monkeypatch.setenv("FAKE_STEP_S", "0.01")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    report = gpu_probe.HardwareReport(gpus=[], source="none", message="No GPU found.")
    monkeypatch.setattr(gpu_probe, "probe", lambda *a, **k: report)


def write_config(folder: Path, kit: Any, **keys: Any) -> Path:
    data = {"model_name_or_path": str(kit.model_dir), "dataset": "demo_alpaca_en",
            "dataset_dir": str(kit.dataset_dir), "max_steps": 4, "save_steps": 4, "logging_steps": 2, **keys}
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# -- item 13: train --gpu rtx4090 on a machine without that card -------------------------------------------------

def test_train_gpu_profile_not_here_says_it_runs_on_this_machine(isolated, demo_kit, monkeypatch, capsys):
    _no_gpu(monkeypatch)
    path = write_config(isolated, demo_kit)
    assert main(["train", str(path), "--gpu", "rtx4090", "--detach"]) == 0
    err = capsys.readouterr().err
    assert "--gpu rtx4090: this machine has no NVIDIA GeForce RTX 4090 (no GPU: it would train on the CPU)" in err
    assert "train plans for and runs on this machine" in err, err
    (run,) = indexed_runs()
    plan = json.loads(run.plan_path.read_text())
    assert plan["hardware"]["source"] == "none"  # planned for what it runs on, not for the profile
    assert not plan.get("time")


def test_dry_run_gpu_profile_not_here_promises_no_speed(isolated, demo_kit, monkeypatch, capsys):
    _no_gpu(monkeypatch)
    path = write_config(isolated, demo_kit)
    assert main(["train", str(path), "--gpu", "rtx4090", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "this machine has no NVIDIA GeForce RTX 4090" in err and "no time is shown" in err, err
    assert "tokens/s" not in out and "time:" not in out, out
    assert indexed_runs() == []


def test_print_launch_may_plan_for_another_box(isolated, demo_kit, monkeypatch, capsys):
    _no_gpu(monkeypatch)
    path = write_config(isolated, demo_kit)
    assert main(["train", str(path), "--gpu", "rtx4090", "--print-launch"]) == 0
    err = capsys.readouterr().err
    assert "this machine has no" not in err


def test_train_gpu_profile_that_is_here_says_nothing(isolated, demo_kit, monkeypatch, capsys):
    info = gpu_probe.GpuInfo(index=0, name="NVIDIA GeForce RTX 4090", uuid="GPU-0", total_bytes=24 * 2**30,
                             free_bytes=23 * 2**30, used_bytes=2**30, other_process_bytes=0,
                             compute_capability=(8, 9), bf16=True)
    report = gpu_probe.HardwareReport(gpus=[info], source="nvml")
    monkeypatch.setattr(gpu_probe, "probe", lambda *a, **k: report)
    path = write_config(isolated, demo_kit)
    assert main(["train", str(path), "--gpu", "rtx4090", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "this machine has no" not in err and "tokens/s" in out


# -- item 14: ft-tui runs rm RUN... -------------------------------------------------------------------------------

def _indexed_run(root: Path, name: str, status: str, **state: Any):
    import os
    import time

    from ft_tui.runner.rundir import RunDir, register_run

    run = RunDir.create(root / "runs" / name)
    run.config_path.write_text("max_steps: 10\n")
    (run.path / "checkpoint-4").mkdir()
    run.write_state(status=status, id=run.id, model="m", method="lora", created=time.time(), **state)
    register_run(run)
    assert os.path.isdir(run.path)
    return run


def test_runs_rm_deletes_the_runs_and_their_index_entries(isolated, capsys):
    a = _indexed_run(isolated, "a", "completed")
    b = _indexed_run(isolated, "b", "stopped")
    keep = _indexed_run(isolated, "c", "failed")
    assert main(["runs", "rm", a.id, str(b.path), "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"removed run {a.id}" in out and f"removed run {b.id}" in out
    assert not a.path.exists() and not b.path.exists() and keep.path.exists()
    assert [r.id for r in indexed_runs()] == [keep.id]
    from ft_tui.runner.rundir import index_path

    paths = [json.loads(line)["path"] for line in index_path().read_text().splitlines()]
    assert paths == [str(keep.path)]  # the index entries are gone too, not only hidden
    assert main(["runs"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == [keep.id]


def test_runs_rm_refuses_a_live_run_and_removes_nothing(isolated, capsys):
    import os

    from ft_tui.runner.rundir import process_start_ticks

    done = _indexed_run(isolated, "done", "completed")
    live = _indexed_run(isolated, "live", "running", pid=os.getpid(), pid_start=process_start_ticks(os.getpid()))
    assert main(["runs", "rm", done.id, live.id, "--yes"]) == 2
    err = capsys.readouterr().err
    assert f"run {live.id} is still running" in err and f"ft-tui stop {live.id}" in err and "Traceback" not in err
    assert done.path.exists() and live.path.exists() and len(indexed_runs()) == 2


def test_runs_rm_unknown_run_exits_2(isolated, capsys):
    assert main(["runs", "rm", "no-such-run", "--yes"]) == 2
    assert "no-such-run" in capsys.readouterr().err


def test_runs_rm_asks_on_a_terminal_and_a_no_keeps_the_run(isolated, monkeypatch, capsys):
    import sys

    run = _indexed_run(isolated, "a", "completed")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt="": "n")
    assert main(["runs", "rm", run.id]) == 1
    assert run.path.exists() and "nothing was removed" in capsys.readouterr().out
    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    assert main(["runs", "rm", run.id]) == 0 and not run.path.exists()


# -- item 14: train --print-launch for a catalog id not in the cache, leaving nothing behind ----------------------

def _empty_hub_cache(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    cache = root / "hub-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))


def _nothing_left(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ft_tui.runner.rundir import index_path

    assert indexed_runs() == [] and not (root / "runs").exists()
    assert not index_path().exists() or not index_path().read_text().strip()
    assert main(["runs"]) == 0 and "no runs yet" in capsys.readouterr().out


def test_print_launch_for_a_catalog_id_not_in_the_cache_prints_the_line_and_leaves_nothing(isolated, monkeypatch,
                                                                                        capsys):
    import shlex

    _no_gpu(monkeypatch)
    _empty_hub_cache(isolated, monkeypatch)
    path = isolated / "train.yaml"
    path.write_text("model_name_or_path: Qwen/Qwen2.5-7B-Instruct\ndataset: demo_alpaca_en\nmax_steps: 10\n")
    assert main(["train", str(path), "--print-launch", "--gpu", "h100-80gb", "--gpus", "8"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "not in the local Hugging Face cache" not in err, err
    (line,) = out.splitlines()
    argv = shlex.split(line)
    assert Path(argv[0]).name == "torchrun"
    assert argv[1:6] == ["--standalone", "--nproc_per_node", "8", "-m", "ft_tui.runner.worker"]
    run_dir = Path(argv[6])
    assert run_dir.parent == isolated / "runs" and run_dir.name.endswith("-Qwen2.5-7B-Instruct-lora")
    assert "# nothing was written" in err and f"`ft-tui train {path}`" in err and "--prepare" in err, err
    assert "--nnodes $NNODES --node_rank $NODE_RANK --nproc_per_node 8" in err
    _nothing_left(isolated, capsys)


def test_print_launch_for_a_local_model_leaves_nothing_and_prepare_writes_the_run_it_names(isolated, demo_kit,
                                                                                         monkeypatch, capsys):
    import shlex

    from ft_tui.planner.config import load_config

    _no_gpu(monkeypatch)
    path = write_config(isolated, demo_kit, output_dir="out/run1")
    assert main(["train", str(path), "--print-launch", "--set", "lora_rank=4"]) == 0
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    assert shlex.split(line)[-1] == str(isolated / "out" / "run1")
    assert f"`ft-tui train {path} --set lora_rank=4`" in err, err
    assert not (isolated / "out").exists()
    _nothing_left(isolated, capsys)
    # --prepare writes the run directory the same line names, for a scheduler to run
    assert main(["train", str(path), "--print-launch", "--prepare", "--set", "lora_rank=4"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [line] and "# run directory prepared" in err
    (run,) = indexed_runs()
    assert run.path == isolated / "out" / "run1" and run.status() == "prepared"
    assert load_config(run.config_path).lora_rank == 4 and not run.events_path.exists()


def test_prepare_without_print_launch_is_bad_input(isolated, demo_kit, capsys):
    path = write_config(isolated, demo_kit)
    assert main(["train", str(path), "--prepare"]) == 2
    err = capsys.readouterr().err
    assert "--prepare goes with --print-launch" in err and "Traceback" not in err
    assert indexed_runs() == []
