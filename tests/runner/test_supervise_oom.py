"""The supervisor of multi-process runs, with a torch-free stand-in launch line (fake_ddp_launcher.py).

The real thing (torchrun, 2 gloo processes, an injected OOM) is in test_ddp_oom_relaunch.py; these check each of
the supervisor's decisions in well under a second each.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ft_tui.planner.config import config_from_dict, dump_config
from ft_tui.runner import control, launch
from ft_tui.runner.backoff import LAUNCHED_CONFIG
from ft_tui.runner.launch import SUPERVISOR_MODULE, supervisor_argv
from ft_tui.runner.rundir import RunDir, process_start_ticks
from ft_tui.runner.supervise import is_single_node, relaunch_argv

FAKE = Path(__file__).with_name("fake_ddp_launcher.py")


def _run(tmp_path: Path, **cfg) -> RunDir:
    config = config_from_dict({"model_name_or_path": "m", "dataset": "d", "per_device_train_batch_size": 4,
                               "gradient_accumulation_steps": 2, **cfg})
    run = RunDir.create(tmp_path / "run")
    run.config_path.write_text(dump_config(config), encoding="utf-8")
    run.write_state(status="starting", created=time.time(), id=run.id)
    return run


def _start(run: RunDir, monkeypatch: pytest.MonkeyPatch, plan: str, *extra: str, **env: str) -> int:
    monkeypatch.setenv("FAKE_PLAN", plan)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return launch.spawn_worker(run, argv=[sys.executable, str(FAKE), str(run.path), *extra], supervise=True)


def _attempts(run: RunDir) -> list[str]:
    path = run.path / "fake-attempts.txt"
    return path.read_text().splitlines() if path.exists() else []


def _types(run: RunDir) -> list[str]:
    return [e["type"] for e in run.events()]


def test_oom_record_backs_off_and_relaunches_with_resume(tmp_path, monkeypatch):
    run = _run(tmp_path)
    pid = _start(run, monkeypatch, "oom,complete")
    assert launch.wait_child(pid, 30) == 0, run.log_path.read_text()
    attempts = _attempts(run)
    assert len(attempts) == 2 and not attempts[0].endswith("--resume") and attempts[1].endswith("--resume")
    backoff = next(e for e in run.events() if e["type"] == "backoff")
    assert backoff["old"] == {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2}
    assert backoff["new"] == {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 4}
    assert backoff["step"] == 2 and backoff["restart_from"] == 0 and backoff["ranks"] == [1]
    assert "out of memory" in backoff["reason"].lower()
    assert _types(run).count("end") == 1 and run.events()[-1]["status"] == "completed"
    now = yaml.safe_load(run.config_path.read_text())
    assert (now["per_device_train_batch_size"], now["gradient_accumulation_steps"]) == (2, 4)
    assert yaml.safe_load((run.path / LAUNCHED_CONFIG).read_text())["per_device_train_batch_size"] == 4
    assert not list(run.oom_path.glob("rank-*.json"))  # cleared before the relaunch
    state = run.read_state()
    assert state["status"] == "completed" and state["backoffs"] == 1 and state["supervisor_pid"] == pid
    # launch.txt shows the launch lines themselves (the second one resuming), never the supervisor's command
    lines = [line for line in run.launch_path.read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == 2 and lines[1].endswith("--resume") and SUPERVISOR_MODULE not in run.launch_path.read_text()


def test_gives_up_at_batch_one_with_checkpointing_on_with_advice(tmp_path, monkeypatch):
    run = _run(tmp_path, per_device_train_batch_size=1, gradient_accumulation_steps=8,
               disable_gradient_checkpointing=False, cutoff_len=2048)
    pid = _start(run, monkeypatch, "oom,complete")
    assert launch.wait_child(pid, 30) == 1
    assert len(_attempts(run)) == 1  # not relaunched
    assert "backoff" not in _types(run)
    end = run.events()[-1]
    assert end["type"] == "end" and end["status"] == "failed"
    assert "rank 1" in end["message"] and "per_device_train_batch_size 1 with gradient checkpointing on" in \
        end["message"] and "quantization_bit: 4" in end["message"] and "cutoff_len: 1024" in end["message"]
    assert run.read_state()["status"] == "failed" and run.status() == "failed"
    assert not (run.path / LAUNCHED_CONFIG).exists()


def test_a_failure_without_an_end_event_ends_failed_with_the_log_tail(tmp_path, monkeypatch):
    run = _run(tmp_path)
    pid = _start(run, monkeypatch, "crash")
    assert launch.wait_child(pid, 30) == 3
    end = run.events()[-1]
    assert end["status"] == "failed" and end["exit_code"] == 3
    assert "status 3" in end["message"] and "RuntimeError: fake launcher crash" in end["message"]
    assert "RuntimeError: fake launcher crash" in end["log_tail"]
    assert run.read_state()["status"] == "failed" and len(_attempts(run)) == 1


def test_an_end_written_by_the_ranks_is_left_alone(tmp_path, monkeypatch):
    run = _run(tmp_path)
    pid = _start(run, monkeypatch, "complete")
    assert launch.wait_child(pid, 30) == 0
    assert _types(run) == ["start", "end"] and run.read_state()["status"] == "completed"


def test_stop_between_attempts_does_not_relaunch(tmp_path, monkeypatch):
    run = _run(tmp_path)
    pid = _start(run, monkeypatch, "oom,complete", FAKE_DELAY_S="1.0")
    assert _wait(lambda: _attempts(run))
    assert control.signal_run(run) == pid  # the attempt's rank 0 has not written its pid: the supervisor gets it
    assert launch.wait_child(pid, 30) == 0
    assert len(_attempts(run)) == 1
    types = _types(run)
    assert types.count("backoff") == 1 and types[-1] == "end"
    end = run.events()[-1]
    assert end["status"] == "stopped" and "before the relaunch" in end["message"]
    assert yaml.safe_load(run.config_path.read_text())["per_device_train_batch_size"] == 2  # kept for resume
    assert run.read_state()["status"] == "stopped"


def test_a_stop_recorded_by_ft_tui_stop_is_honoured_between_attempts(tmp_path, monkeypatch):
    # `ft-tui stop` signalled a rank 0 that was already leaving after another rank's OOM: only the record is left
    run = _run(tmp_path)
    pid = _start(run, monkeypatch, "oom,complete", FAKE_DELAY_S="1.0")
    assert _wait(lambda: _attempts(run))
    run.write_state(stop_requested=time.time())
    assert launch.wait_child(pid, 30) == 0
    assert len(_attempts(run)) == 1 and run.events()[-1]["status"] == "stopped"


def test_stop_before_rank0_started_is_forwarded_to_rank0(tmp_path, monkeypatch):
    run = _run(tmp_path)
    pid = _start(run, monkeypatch, "stoppable", FAKE_DELAY_S="0.5")
    assert _wait(lambda: run.read_state().get("supervisor_pid") == pid)
    assert control.signal_run(run) == pid
    assert launch.wait_child(pid, 30) == 0
    assert _types(run) == ["start", "end"] and run.events()[-1]["status"] == "stopped"
    assert "SIGTERM forwarded to rank 0" in run.log_path.read_text()


def test_multinode_launch_is_not_relaunched(tmp_path, monkeypatch):
    run = _run(tmp_path)
    pid = _start(run, monkeypatch, "oom,complete", "--nnodes", "2")
    assert launch.wait_child(pid, 30) == 1
    assert len(_attempts(run)) == 1
    end = run.events()[-1]
    assert end["status"] == "failed" and "only single-node runs" in end["message"]


def test_status_counts_a_live_supervisor_as_a_live_run(tmp_path):
    run = _run(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(dead.stdout)
    run.write_state(status="running", pid=gone, pid_start=None, launched=time.time())
    assert run.status() == "interrupted"
    me = os.getpid()
    run.write_state(supervisor_pid=me, supervisor_start=process_start_ticks(me))
    assert run.status() == "running"
    run.write_state(supervisor_start=process_start_ticks(me) + 1)  # a reused pid is not our supervisor
    assert run.status() == "interrupted"


def test_launch_lines_and_argv_helpers(tmp_path):
    run = _run(tmp_path)
    assert launch.is_multiprocess_command(launch.launch_command(run, 2, strategy="ddp"))
    assert not launch.is_multiprocess_command(launch.launch_command(run, 1))
    assert launch.is_multiprocess_command(["/v/bin/accelerate", "launch", "--config_file", "x"])
    assert launch.is_multiprocess_command([sys.executable, "-m", "torch.distributed.run", "--standalone"])
    assert supervisor_argv(run, ["torchrun", "x"])[1:] == ["-m", SUPERVISOR_MODULE, str(run.path), "--",
                                                           "torchrun", "x"]
    assert relaunch_argv(["torchrun", "-m", "w", "R"])[-1] == "--resume"
    assert relaunch_argv(["torchrun", "-m", "w", "R", "--resume"]).count("--resume") == 1
    assert is_single_node(["torchrun", "--standalone"]) and is_single_node(["torchrun", "--nnodes", "1"])
    assert not is_single_node(["torchrun", "--nnodes", "$NNODES"]) and not is_single_node(["a", "--nnodes=2"])
    assert not is_single_node(["accelerate", "launch", "--num_machines", "4"])


def test_supervisor_and_worker_modules_import_without_torch():
    code = ("import sys; import ft_tui.runner.supervise, ft_tui.runner.worker, ft_tui.runner.launch; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _wait(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_an_oom_while_loading_fails_with_the_advice_and_no_relaunch(tmp_path, monkeypatch):
    run = _run(tmp_path)
    pid = _start(run, monkeypatch, "oom,complete", FAKE_OOM_PHASE="load")
    assert launch.wait_child(pid, 30) == 1
    assert len(_attempts(run)) == 1 and "backoff" not in _types(run)
    end = run.events()[-1]
    assert end["status"] == "failed" and "while loading the model" in end["message"]
    assert "quantization_bit: 4 (fake advice)" in end["message"]
    assert yaml.safe_load(run.config_path.read_text())["per_device_train_batch_size"] == 4
