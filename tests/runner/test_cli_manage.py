"""`ft-tui runs` / `export` / `resume` / `stop` edge cases, in process (no trainer needed)."""

from __future__ import annotations

import argparse
import json
import os
import time
import types
from pathlib import Path

import pytest
from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import render
from ft_tui.runner import cli as runner_cli
from ft_tui.runner import control
from ft_tui.runner.events import EndEvent, EventWriter, LogEvent, StartEvent
from ft_tui.runner.rundir import RunDir, process_start_ticks, register_run
from ft_tui.tui.cli import main


@pytest.fixture(autouse=True)
def _homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


def _run(tmp_path: Path, name: str, status: str, **state) -> RunDir:
    run = RunDir.create(tmp_path / "runs" / name)
    run.config_path.write_text("max_steps: 10\n")
    run.write_state(status=status, id=run.id, model="/models/Qwen2.5-0.5B", method="lora", created=time.time(),
                    **state)
    register_run(run)
    return run


def test_runs_without_any_run(capsys) -> None:
    assert main(["runs"]) == 0
    assert "no runs yet" in capsys.readouterr().out
    assert main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_runs_table_shows_step_loss_and_short_model(tmp_path, capsys) -> None:
    run = _run(tmp_path, "20260101-000000-m-lora", "completed")
    with EventWriter(run.events_path) as ev:
        ev.emit_all([StartEvent(total_steps=10), LogEvent(step=10, loss=0.123456),
                     EndEvent(status="completed", step=10)])
    assert main(["runs"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:6] == ["20260101-000000-m-lora", "completed", "Qwen2.5-0.5B", "lora", "10/10", "0.1235"]


def test_resume_refuses_a_prepared_run_and_says_why(tmp_path, capsys) -> None:
    run = _run(tmp_path, "prep", "prepared")
    with pytest.raises(InputError, match="cannot be resumed"):
        runner_cli.cmd_resume(argparse.Namespace(run=str(run.path), detach=True))


def test_stop_and_resume_refuse_a_run_on_another_host(tmp_path) -> None:
    run = _run(tmp_path, "remote", "running", host="gpu-box-7", pid=1, pid_start=1)
    with pytest.raises(InputError, match="gpu-box-7"):
        runner_cli.cmd_stop(argparse.Namespace(run=run.id, wait=1.0))
    with pytest.raises(InputError, match="gpu-box-7"):
        runner_cli.cmd_resume(argparse.Namespace(run=run.id, detach=True))


def test_stop_of_an_ended_run_is_a_message(tmp_path, capsys) -> None:
    run = _run(tmp_path, "done", "completed")
    assert runner_cli.cmd_stop(argparse.Namespace(run=run.id, wait=1.0)) == 0
    assert "is not running (completed)" in capsys.readouterr().out


def test_signal_run_never_signals_a_process_that_is_not_ours(tmp_path) -> None:
    # Our own pid with a different start time stands for a pid the kernel gave to another process.
    run = _run(tmp_path, "reused", "running", pid=os.getpid(),
               pid_start=process_start_ticks(os.getpid()) + 999, launcher_pid=os.getpid(), launcher_start=None)
    assert control.signal_run(run) is None  # no start time and our cmdline does not name the run: not ours


def test_export_calls_the_exporter_and_prints_the_folder(tmp_path, monkeypatch, capsys) -> None:
    run = _run(tmp_path, "finished", "completed")
    calls = []

    def export_run(run_dir, *, merge=False, out=None, dtype=None, checkpoint=None, report=None):
        calls.append((Path(run_dir), merge, out, checkpoint))
        return Path(run_dir) / "merged"

    monkeypatch.setitem(__import__("sys").modules, "ft_tui.runner.export",
                        types.SimpleNamespace(export_run=export_run))
    assert main(["export", run.id, "--merge", "-o", "out"]) == 0
    assert calls == [(run.path, True, "out", None)]
    assert capsys.readouterr().out.strip() == str(run.path / "merged")
    assert main(["export", run.id, "--checkpoint", "20"]) == 0
    assert calls[-1] == (run.path, False, None, 20)


def test_export_refuses_a_live_run(tmp_path, capsys) -> None:
    run = _run(tmp_path, "live", "running", pid=os.getpid(), pid_start=process_start_ticks(os.getpid()))
    assert main(["export", run.id]) == 2
    assert "still running" in capsys.readouterr().err


def test_apply_plan_keeps_explicit_keys(tmp_path) -> None:
    from ft_tui.planner.config import load_config

    cfg = load_config(None, ["lora_rank=32", "model_name_or_path=x"])
    planned = cfg.replace(lora_rank=8, per_device_train_batch_size=16)
    new, changed = control.apply_plan(cfg, planned)
    assert new.lora_rank == 32 and new.per_device_train_batch_size == 16
    assert changed == ["per_device_train_batch_size"]
    assert "lora_rank" in new.explicit and "per_device_train_batch_size" not in new.explicit


def test_loss_summary() -> None:
    logs = [LogEvent(step=i, loss=v).to_dict() for i, v in enumerate((6.0, 5.0, 4.0, 3.0, 2.0, 1.0), 1)]
    assert runner_cli.loss_summary(logs) == (5.0, 2.0)
    assert runner_cli.loss_summary(logs[:1]) is None


def test_resume_returns_its_warnings_and_the_cli_prints_them(tmp_path, monkeypatch, capsys) -> None:
    """No complete checkpoint (it starts over) and fewer GPUs than at launch (the effective batch changes): the
    library returns both as coded warnings, in English and Chinese; `ft-tui resume` prints them."""
    monkeypatch.setenv("FT_TUI_WORKER", str(Path(__file__).with_name("fake_worker.py")))
    monkeypatch.setenv("FAKE_STEP_S", "0.01")
    monkeypatch.setattr(control, "visible_gpu_count", lambda: 1)
    run = _run(tmp_path, "nockpt", "stopped", nproc=4)
    assert runner_cli.cmd_resume(argparse.Namespace(run=run.id, detach=True)) == 0
    err = capsys.readouterr().err
    assert f"warning: run {run.id} has no complete checkpoint: it starts over from step 0" in err
    assert "warning: the run was launched on 4 processes but only 1 GPU(s) are visible now; resuming on 1 " \
           "changes the effective batch size" in err
    assert control.wait_for_end(run, 0, 30.0)[0] is not None  # the stand-in trainer ran to its end
    other = _run(tmp_path, "nockpt2", "interrupted", nproc=2)
    resumed = control.resume(other)
    assert [w.code for w in resumed.warnings] == ["resume_no_checkpoint", "resume_fewer_gpus"]
    assert resumed.nproc == 1 and resumed.checkpoint is None and other.read_state()["nproc"] == 1
    assert render(resumed.warnings[1], "zh").startswith("这个训练启动时用了 2 个进程")
    assert control.wait_for_end(other, 0, 30.0)[0] is not None
