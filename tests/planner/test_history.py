"""Local history: past runs on this machine say how far the planner was off, and widen the margin when they
measured more than planned (same GPU, same model family); ``use_run_history: false`` turns the widening off."""

from __future__ import annotations

import json

import pytest
from ft_tui.planner.config import config_from_dict
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.history import MAX_MARGIN, PastRun, history_note, widened_margin
from ft_tui.planner.messages import render
from ft_tui.planner.models import inspect_model
from ft_tui.planner.recommend import make_plan
from ft_tui.runner.events import EndEvent, EventWriter, StartEvent
from ft_tui.runner.rundir import RunDir, register_run
from ft_tui.tui.cli import main

GPU = "NVIDIA GeForce RTX 4090"


def _past(over: float, gpu: str = GPU, family: str = "qwen2", run_id: str = "r") -> PastRun:
    return PastRun(run_id=run_id, gpu=gpu, family=family, planned_gib=10.0, measured_gib=10.0 * (1 + over))


def test_the_note_covers_only_the_same_gpu_and_family():
    past = [_past(0.04, run_id="a"), _past(0.09, run_id="b"), _past(0.5, gpu="NVIDIA A100-SXM4-80GB"),
            _past(0.5, family="llama")]
    note = history_note(past, "nvidia geforce  rtx 4090", "qwen2")
    assert [r.run_id for r in note.runs] == ["a", "b"]
    assert note.low == pytest.approx(0.04) and note.high == pytest.approx(0.09)
    assert str(note.text(0.10)) == ("past runs here: measured 4-9 % above plan on 2 run(s) of qwen2 on "
                                    "nvidia geforce  rtx 4090; memory margin widened from 10% to 19% "
                                    "(use_run_history: false turns this off)")
    zh = render(note.text(0.10), "zh")
    assert "本机以往的运行" in zh and "19%" in zh
    assert history_note(past, GPU, "gemma2") is None and history_note([], GPU, "qwen2") is None


def test_the_margin_widens_by_the_largest_overshoot_only():
    assert widened_margin(0.10, history_note([_past(0.04), _past(0.09)], GPU, "qwen2")) == pytest.approx(0.19)
    within = history_note([_past(-0.05), _past(-0.01)], GPU, "qwen2")
    assert widened_margin(0.10, within) == 0.10 and "never above it" in str(within.text(0.10))
    assert widened_margin(0.10, None) == 0.10
    assert widened_margin(0.10, history_note([_past(2.0)], GPU, "qwen2")) == MAX_MARGIN


def _cfg(**keys):
    return config_from_dict({"model_name_or_path": "Qwen/Qwen2.5-7B", **keys}, explicit=set(keys))


def test_a_plan_with_history_keeps_the_headroom_the_planner_lacked():
    hw, spec = resolve_hardware("rtx4090", None), inspect_model("Qwen/Qwen2.5-7B")
    plain = make_plan(_cfg(), hw, spec)
    history = [_past(0.30, run_id="big")]
    wider = make_plan(_cfg(), hw, spec, history=history)
    assert wider.estimate.budget_bytes == plain.estimate.budget_bytes  # the estimate's budget is the config's
    assert plain.estimate.peak_bytes > hw.budget_base_bytes * 0.60  # the 10 % plan would not keep 40 % free
    assert wider.estimate.peak_bytes <= hw.budget_base_bytes * 0.60   # the widened one does (here: 4-bit)
    assert "40% margin" in wider.reasons["per_device_train_batch_size"]
    assert wider.history["widened_margin"] == pytest.approx(0.40) and wider.history["runs"] == ["big"]
    assert "measured 30-30 % above plan" in str(wider.history_text)
    assert plain.history is None and plain.history_text is None

    off = make_plan(_cfg(use_run_history=False), hw, spec, history=history)
    assert off.config.per_device_train_batch_size == plain.config.per_device_train_batch_size
    assert off.history["enabled"] is False and "margin kept at 10%" in str(off.history_text)


@pytest.fixture
def state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path


def _finished_run(root, name: str, *, reserved: float, model_type: str = "qwen2", status: str = "completed"):
    run = RunDir.create(root / "runs" / name)
    run.write_state(status=status, id=name, created=0)
    with EventWriter(run.events_path) as ev:
        ev.emit(StartEvent(total_steps=2))
        ev.emit(EndEvent(status=status, step=2, model_type=model_type,
                         planned={"peak_gib": 20.5, "cuda_context_gib": 0.5, "gpu": GPU},
                         measured=[{"rank": 0, "device": GPU, "max_allocated_gib": reserved - 1,
                                    "max_reserved_gib": reserved, "total_gib": 23.988}]))
    register_run(run)
    return run


def test_ft_tui_plan_reads_this_machines_runs(state_home, capsys):
    _finished_run(state_home, "a", reserved=20.8)          # 4 % above 20.0
    _finished_run(state_home, "b", reserved=21.8)          # 9 % above
    _finished_run(state_home, "c", reserved=30.0, model_type="llama")   # another family
    _finished_run(state_home, "d", reserved=30.0, status="failed")      # not finished
    assert main(["plan", "--model", "Qwen/Qwen2.5-7B", "--gpu", "rtx4090", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["history"]["runs"] == ["a", "b"] and plan["history"]["widened_margin"] == pytest.approx(0.19)
    assert plan["history"]["low_pct"] == 4.0 and plan["history"]["high_pct"] == 9.0

    assert main(["plan", "--model", "Qwen/Qwen2.5-7B", "--gpu", "rtx4090"]) == 0
    assert "Past runs here: measured 4-9 % above plan on 2 run(s) of qwen2" in capsys.readouterr().out

    assert main(["plan", "--model", "Qwen/Qwen2.5-7B", "--gpu", "rtx4090", "--set", "use_run_history=false",
                 "--json"]) == 0
    off = json.loads(capsys.readouterr().out)
    assert off["history"]["enabled"] is False and off["history"]["widened_margin"] == 0.10
