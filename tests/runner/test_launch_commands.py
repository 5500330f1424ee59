"""runner/launch.py: the run directory a launch writes, the detached spawn, and the multi-GPU launch lines."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

import pytest
import yaml
from ft_tui.planner.config import load_config
from ft_tui.planner.paths import is_local_model_ref
from ft_tui.runner import launch
from ft_tui.runner.rundir import indexed_runs, process_start_ticks

PROBE = """
import json, os, sys
out = {"pid": os.getpid(), "sid": os.getsid(0), "ppid": os.getppid(), "argv": sys.argv[1:],
       "stdin": sys.stdin.read(), "cwd": os.getcwd(),
       "env": {k: os.environ.get(k) for k in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "PYTHONUNBUFFERED",
                                              "PYTORCH_CUDA_ALLOC_CONF")}}
print(json.dumps(out))
print("to stderr", file=sys.stderr)
"""


@pytest.fixture(autouse=True)
def _homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text('{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, '
                                                 '"num_attention_heads": 4, "vocab_size": 1024}')
    (folder / "data").mkdir()
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump({"model_name_or_path": "./model", "dataset": "demo_alpaca_en",
                                    "dataset_dir": "data", "max_steps": 5, "bf16": True}))
    return path


def test_prepare_run_writes_resolved_config_plan_state_and_registers(tmp_path: Path, cfg_file: Path) -> None:
    cfg = load_config(cfg_file)
    run = launch.prepare_run(cfg, {"estimate": {"peak_gib": 1.5}, "strategy": "single"})
    assert run.path.parent == tmp_path / "runs"  # ./runs/<id> under the current directory
    assert (run.path.stat().st_mode & 0o777) == 0o700
    written = yaml.safe_load(run.config_path.read_text())
    assert written["model_name_or_path"] == str((cfg_file.parent / "model").resolve())
    assert written["dataset_dir"] == str((cfg_file.parent / "data").resolve())
    assert written["max_steps"] == 5 and written["bf16"] is True
    assert json.loads(run.plan_path.read_text())["estimate"]["peak_gib"] == 1.5
    state = run.read_state()
    assert state["status"] == "starting" and state["id"] == run.id and state["method"] == "lora"
    assert state["host"] and state["created"] <= time.time()
    assert [r.path for r in indexed_runs()] == [run.path]
    # The same config again in the same second gets its own directory.
    again = launch.prepare_run(cfg, {})
    assert again.path != run.path


def test_output_dir_is_relative_to_the_config_file(tmp_path: Path, cfg_file: Path) -> None:
    cfg = load_config(cfg_file, ["output_dir=saves/first"])
    run = launch.prepare_run(cfg, {})
    assert run.path == (cfg_file.parent / "saves" / "first").resolve()


def test_hub_id_is_left_alone(cfg_file: Path) -> None:
    cfg = load_config(cfg_file, ["model_name_or_path=Qwen/Qwen2.5-0.5B"])
    assert launch.resolved_config(cfg).model_name_or_path == "Qwen/Qwen2.5-0.5B"
    assert not is_local_model_ref("Qwen/Qwen2.5-0.5B", cfg.base_dir)
    assert is_local_model_ref("./model", cfg.base_dir) and is_local_model_ref("a/b/c", cfg.base_dir)


def test_spawn_worker_detaches_and_logs_to_train_log(tmp_path: Path, cfg_file: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in launch.ALLOC_CONF_VARS:
        monkeypatch.delenv(name, raising=False)
    run = launch.prepare_run(load_config(cfg_file), {})
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    argv = [sys.executable, str(script), str(run.path)]
    pid = launch.spawn_worker(run, argv=argv)
    assert launch.wait_child(pid, timeout=20) == 0
    lines = run.log_path.read_text().splitlines()
    out = json.loads(lines[0])
    assert "to stderr" in lines  # stderr goes to the same file
    assert out["pid"] == pid and out["sid"] == pid  # its own session: a closed terminal does not reach it
    assert out["stdin"] == "" and out["cwd"] == str(run.path)
    assert out["env"] == {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "PYTHONUNBUFFERED": "1",
                          "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}  # the planner's assumed allocator
    state = run.read_state()
    assert state["launcher_pid"] == pid and state["pid"] == pid and state["launched"] > 0
    assert state["launcher_start"] is None or isinstance(state["launcher_start"], int)
    assert shlex.split(run.launch_path.read_text().splitlines()[1]) == argv


def test_allocator_setting_is_expandable_segments_unless_the_user_set_one() -> None:
    """Without expandable segments, batches of varying length grow the reserved pool past the allocated peak: the
    trainer gets the setting the planner's margin assumes, and a user's own setting (either name) is kept."""
    from ft_tui.planner.memory import ASSUMED_ALLOC_CONF

    assert launch.child_env({})["PYTORCH_CUDA_ALLOC_CONF"] == ASSUMED_ALLOC_CONF == "expandable_segments:True"
    mine = launch.child_env({"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128"})
    assert mine["PYTORCH_CUDA_ALLOC_CONF"] == "max_split_size_mb:128"
    newer = launch.child_env({"PYTORCH_ALLOC_CONF": "expandable_segments:False"})
    assert newer["PYTORCH_ALLOC_CONF"] == "expandable_segments:False" and "PYTORCH_CUDA_ALLOC_CONF" not in newer


def test_worker_argv_default_and_override(tmp_path: Path, cfg_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = launch.prepare_run(load_config(cfg_file), {})
    monkeypatch.delenv(launch.WORKER_OVERRIDE_ENV, raising=False)
    assert launch.worker_argv(run) == [sys.executable, "-m", "ft_tui.runner.worker", str(run.path)]
    assert launch.launch_command(run, 1, resume=True)[-1] == "--resume"
    monkeypatch.setenv(launch.WORKER_OVERRIDE_ENV, "/x/fake.py")
    assert launch.worker_argv(run) == [sys.executable, "/x/fake.py", str(run.path)]


def test_torchrun_line_for_several_gpus(cfg_file: Path) -> None:
    run = launch.prepare_run(load_config(cfg_file), {"strategy": "ddp"})
    argv = launch.launch_command(run, 4)
    assert Path(argv[0]).name == "torchrun"
    assert argv[1:] == ["--standalone", "--nproc_per_node", "4", "-m", "ft_tui.runner.worker", str(run.path)]


def test_multinode_line_reads_the_topology_from_the_environment(cfg_file: Path) -> None:
    run = launch.prepare_run(load_config(cfg_file), {"strategy": "ddp"})
    line = launch.format_command(launch.multinode_command(run, 8))
    assert "--nnodes $NNODES --node_rank $NODE_RANK --nproc_per_node 8" in line
    assert "--rdzv_endpoint $MASTER_ADDR:$MASTER_PORT" in line
    assert line.endswith(f"-m ft_tui.runner.worker {run.path}")
    fixed = launch.launch_command(run, 8, 2)
    assert fixed[fixed.index("--nnodes") + 1] == "2"


def test_fsdp_plan_uses_accelerate_with_a_written_config(cfg_file: Path) -> None:
    if not launch.accelerate_available():  # find_spec only: importing accelerate would import torch
        pytest.skip("accelerate is not installed")
    run = launch.prepare_run(load_config(cfg_file), {"strategy": "fsdp"})
    argv = launch.launch_command(run, 2)
    assert Path(argv[0]).name == "accelerate" and argv[1] == "launch"
    cfg_path = Path(argv[argv.index("--config_file") + 1])
    assert cfg_path.parent == run.path
    acc = yaml.safe_load(cfg_path.read_text())
    assert acc["distributed_type"] == "FSDP" and acc["num_processes"] == 2
    assert acc["mixed_precision"] == "bf16"  # follows the run's config
    assert acc["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert argv[-3:] == ["-m", "ft_tui.runner.worker", str(run.path)]
    multi = launch.format_command(launch.multinode_command(run, 4))
    assert "--num_processes $((NNODES*4))" in multi and "--machine_rank $NODE_RANK" in multi


def test_format_command_quotes_everything_but_env_tokens() -> None:
    line = launch.format_command(["torchrun", "--rdzv_endpoint", "$MASTER_ADDR:$MASTER_PORT", "/a b/run;rm"])
    assert line == "torchrun --rdzv_endpoint $MASTER_ADDR:$MASTER_PORT '/a b/run;rm'"


def test_child_exit_code_is_none_for_unknown_pids() -> None:
    assert launch.child_exit_code(os.getpid()) is None
    assert launch.wait_child(None, 0.1) is None


def test_launcher_start_ticks_identify_the_process(tmp_path: Path, cfg_file: Path) -> None:
    run = launch.prepare_run(load_config(cfg_file), {})
    pid = launch.spawn_worker(run, argv=[sys.executable, "-c", "import time; time.sleep(0.3)"])
    start = run.read_state()["launcher_start"]
    assert start is not None and start == process_start_ticks(pid)
    launch.wait_child(pid, 20)
