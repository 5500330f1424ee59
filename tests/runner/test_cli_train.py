"""`ft-tui train`: input checks before launch (exit 2), following to the end (exit 0/1), --detach, --print-launch.

The trainer here is tests/runner/fake_worker.py (same protocol, no torch), injected through $FT_TUI_WORKER.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import pytest
import yaml
from ft_tui.runner import control, launch
from ft_tui.runner.rundir import indexed_runs
from ft_tui.tui.cli import main

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")
TINY_LLAMA = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 1024,
    "max_position_embeddings": 2048, "tie_word_embeddings": False, "torch_dtype": "float32",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A config folder with a model folder (config.json only) and a writer for train.yaml."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(launch.WORKER_OVERRIDE_ENV, str(FAKE_WORKER))
    monkeypatch.setenv("FAKE_STEP_S", "0.01")
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "project"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text(json.dumps(TINY_LLAMA))

    def write(**keys) -> Path:
        data = {"model_name_or_path": "model", "dataset": "demo_alpaca_en", "max_steps": 10, "save_steps": 4,
                "logging_steps": 2}
        data.update(keys)
        path = folder / "train.yaml"
        path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}))
        return path

    return write


def test_bad_config_value_exits_2_naming_key_and_line(project, capsys) -> None:
    cfg = project(learning_rate=-1)
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "learning_rate" in err and f"{cfg}:" in err and "Traceback" not in err
    assert indexed_runs() == []  # nothing was launched


def test_missing_model_path_exits_2(project, capsys) -> None:
    cfg = project(model_name_or_path="./no-such-model")
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and "model_name_or_path" in err and "does not exist" in err
    assert indexed_runs() == []


def test_model_folder_without_config_json_exits_2(project, tmp_path, capsys) -> None:
    (tmp_path / "project" / "empty").mkdir()
    assert main(["train", str(project(model_name_or_path="empty"))]) == 2
    assert "config.json" in capsys.readouterr().err


def test_missing_dataset_exits_2(project, capsys) -> None:
    cfg = project(dataset="no_such_dataset")
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "no_such_dataset" in err and "demo_alpaca_en" in err  # the message lists what is known
    assert indexed_runs() == []


def test_unset_dataset_exits_2(project, capsys) -> None:
    assert main(["train", str(project(dataset=None))]) == 2
    assert "no dataset is set" in capsys.readouterr().err


def test_bad_input_found_by_the_trainer_exits_2(project, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FAKE_BAD_INPUT", "data.json:3: row 2 has no 'output' column")
    assert main(["train", str(project())]) == 2
    captured = capsys.readouterr()
    assert "row 2 has no 'output' column" in captured.out + captured.err


def test_train_follows_to_completion_with_plain_lines(project, capsys) -> None:
    assert main(["train", str(project())]) == 0
    out = capsys.readouterr().out
    assert "\r" not in out  # not a terminal: plain lines only
    lines = out.splitlines()
    assert lines[0].startswith("started") and "10 steps" in lines[0]
    assert any(re.match(r"step 4/10 \(40%\)\s+loss 0\.7500", line) for line in lines)
    assert any(line.startswith("checkpoint: step 8 saved to ") for line in lines)
    assert lines[-1].startswith("run completed at step 10/10")
    (run,) = indexed_runs()
    assert run.status() == "completed"


def test_train_exits_1_when_the_run_fails(project, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FAKE_FAIL_AT", "6")
    assert main(["train", str(project())]) == 1
    captured = capsys.readouterr()
    assert "error: fake failure at step 6" in captured.out
    assert "failed: fake failure at step 6" in captured.err
    assert "Traceback: fake failure" in captured.err  # the tail of train.log
    assert "ft-tui resume" in captured.err  # a checkpoint exists (step 4)


def test_detach_prints_the_id_and_returns_at_once(project, capsys) -> None:
    t0 = time.monotonic()
    assert main(["train", str(project(max_steps=200)), "--detach", "--set", "save_steps=1000"]) == 0
    assert time.monotonic() - t0 < 5
    captured = capsys.readouterr()
    (run,) = indexed_runs()
    assert captured.out.strip() == run.id
    assert f"ft-tui attach {run.id}" in captured.err and str(run.path) in captured.err
    assert run.status() in ("starting", "running")
    deadline = time.monotonic() + 20
    while run.read_state().get("status") != "running" and time.monotonic() < deadline:
        time.sleep(0.02)  # a SIGTERM before the trainer installs its handler would simply kill it
    assert control.signal_run(run) is not None  # do not leave it running
    assert launch.wait_child(run.read_state()["launcher_pid"], 20) == 0


def test_overrides_win_and_are_written_to_the_run_config(project) -> None:
    assert main(["train", str(project()), "--set", "max_steps=4", "--set", "lora_rank=4"]) == 0
    (run,) = indexed_runs()
    written = yaml.safe_load(run.config_path.read_text())
    assert written["max_steps"] == 4 and written["lora_rank"] == 4
    assert Path(written["model_name_or_path"]).is_absolute()


def _two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from ft_tui.planner import gpu_probe

    def gpu(i: int) -> gpu_probe.GpuInfo:
        return gpu_probe.GpuInfo(index=i, name="NVIDIA A100-SXM4-80GB", uuid=f"GPU-{i}", total_bytes=80 * 2**30,
                                free_bytes=79 * 2**30, used_bytes=2**30, other_process_bytes=0,
                                compute_capability=(8, 0), bf16=True)

    report = gpu_probe.HardwareReport(gpus=[gpu(0), gpu(1)], source="nvml")
    monkeypatch.setattr(gpu_probe, "probe", lambda *a, **k: report)


def test_print_launch_with_two_gpus_prints_a_torchrun_line(project, monkeypatch, capsys) -> None:
    _two_gpus(monkeypatch)
    assert main(["train", str(project()), "--print-launch", "--prepare"]) == 0
    captured = capsys.readouterr()
    (run,) = indexed_runs()
    argv = shlex.split(captured.out.strip())
    assert Path(argv[0]).name == "torchrun"
    assert argv[1:] == ["--standalone", "--nproc_per_node", "2", "-m", "ft_tui.runner.worker", str(run.path)]
    assert "--nnodes $NNODES --node_rank $NODE_RANK" in captured.err  # the cluster form, to copy
    assert run.status() == "prepared" and not run.events_path.exists()  # nothing was started
    plan = json.loads(run.plan_path.read_text())
    assert plan["hardware"]["count"] == 2 and plan["estimate"]["peak_gib"] > 0


def test_print_launch_for_another_box(project, capsys) -> None:
    assert main(["train", str(project()), "--print-launch", "--gpu", "h100-80gb", "--gpus", "8"]) == 0
    argv = shlex.split(capsys.readouterr().out.strip())
    assert argv[argv.index("--nproc_per_node") + 1] == "8" or "--num_processes" in argv


def test_more_gpus_than_visible_is_refused_for_a_real_launch(project, capsys) -> None:
    assert main(["train", str(project()), "--gpu", "h100-80gb", "--gpus", "4"]) == 2
    assert "--print-launch" in capsys.readouterr().err
