"""Every run records what its GPU measured next to the plan's prediction (end event, runs --json, run history).

This machine has no GPU: the trainer runs in process on the tiny model with the device memory reader replaced by
a fake (``callbacks.device_memory`` is a thin call to torch.cuda); without the fake it is a CPU run, which records
no measurement at all (null, never zeros).
"""

from __future__ import annotations

import json

import pytest
from ft_tui.runner import callbacks
from ft_tui.runner.history import memory_comparison, past_run, past_runs, planned_memory
from ft_tui.runner.rundir import atomic_write_json, register_run
from ft_tui.tui.cli import main

PLAN = {"estimate": {"peak_gib": 10.5, "breakdown_gib": {"cuda_context": 0.5, "weights": 6.0}, "fits": True},
        "hardware": {"name": "NVIDIA GeForce RTX 4090", "count": 1}}
FAKE = {"device": "NVIDIA GeForce RTX 4090", "max_allocated_gib": 9.8, "max_reserved_gib": 10.6, "total_gib": 23.988}


@pytest.fixture(autouse=True)
def _state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _planned_run(new_run, name="run", **overrides):
    run = new_run(name, **{"max_steps": 2, "save_steps": 10, **overrides})
    atomic_write_json(run.plan_path, PLAN)
    register_run(run)
    return run


def test_a_gpu_run_records_planned_and_measured_in_the_end_event_and_runs_json(new_run, rt, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(callbacks, "device_memory", lambda: calls.append(1) or dict(FAKE))
    run = _planned_run(new_run)
    assert rt.run_worker(run) == 0
    assert calls  # read once the training loop ended

    end = run.events()[-1]
    assert end["type"] == "end" and end["status"] == "completed"
    assert end["planned"] == {"peak_gib": 10.5, "cuda_context_gib": 0.5, "gpu": "NVIDIA GeForce RTX 4090"}
    assert end["measured"] == [{"rank": 0, **FAKE}]
    assert end["model_type"] == "llama"

    capsys.readouterr()  # the trainer's own output
    assert main(["runs", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["planned"]["peak_gib"] == 10.5 and row["measured"][0]["max_reserved_gib"] == 10.6
    assert row["measured"][0]["max_allocated_gib"] == 9.8 and row["measured"][0]["total_gib"] == 23.988
    # context excluded on both sides: 10.6 reserved against 10.5 - 0.5 planned = 6 % above plan
    assert row["memory"] == {"planned_gib": 10.0, "measured_gib": 10.6, "over_pct": 6.0}

    (past,) = past_runs()
    assert past.run_id == run.id and past.gpu == FAKE["device"] and past.family == "llama"
    assert past.over == pytest.approx(0.06)


def test_a_cpu_run_leaves_the_measurement_empty_never_zero(new_run, rt, capsys):
    run = _planned_run(new_run)
    assert rt.run_worker(run) == 0
    end = run.events()[-1]
    assert end["status"] == "completed" and "measured" not in end  # the event omits what is unknown
    assert end["planned"]["peak_gib"] == 10.5
    capsys.readouterr()  # the trainer's own output
    assert main(["runs", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["measured"] is None and row["memory"] is None
    assert past_runs() == []  # nothing measured, nothing to learn from


def test_a_stopped_run_records_the_measurement_too(new_run, rt, monkeypatch):
    monkeypatch.setattr(callbacks, "device_memory", lambda: dict(FAKE))
    run = _planned_run(new_run, max_steps=50)
    # a stop requested at the first optimizer step: the callback saves and stops there
    monkeypatch.setattr(callbacks.ProgressCallback, "_stop_agreed", lambda self, args: True)
    assert rt.run_worker(run) == 0
    end = run.events()[-1]
    assert end["status"] == "stopped" and end["measured"] == [{"rank": 0, **FAKE}]
    assert past_run(run) is not None


def test_the_device_reader_is_a_thin_call_to_torch_cuda(monkeypatch):
    import torch

    class Props:
        name, total_memory = "NVIDIA H100 80GB HBM3", 85_520_809_984

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: Props)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda i: 3 * 1024 ** 3)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda i: int(3.5 * 1024 ** 3))
    assert callbacks.device_memory() == {"device": "NVIDIA H100 80GB HBM3", "max_allocated_gib": 3.0,
                                         "max_reserved_gib": 3.5, "total_gib": 79.647}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert callbacks.device_memory() is None and callbacks.measured_memory() is None


def test_comparison_needs_both_sides():
    assert planned_memory({}) is None and planned_memory({"estimate": {"peak_gib": None}}) is None
    assert planned_memory({"estimate": {"peak_gib": 4}}) == {"peak_gib": 4.0}
    assert memory_comparison(None, [FAKE]) is None
    assert memory_comparison({"peak_gib": 10.5}, None) is None
    assert memory_comparison({"peak_gib": 10.5}, []) is None
    worst = memory_comparison({"peak_gib": 10.0}, [{"max_reserved_gib": 8.0}, {"max_reserved_gib": 9.0}])
    assert worst == {"planned_gib": 10.0, "measured_gib": 9.0, "over_pct": -10.0}
