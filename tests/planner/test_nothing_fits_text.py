"""The "nothing fits" message states the setup that was really computed and suggests only what the user has not
already chosen (issue #13, item 5)."""

from __future__ import annotations

import pytest
from ft_tui.planner.config import load_config
from ft_tui.planner.errors import NothingFits
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.models import inspect_model
from ft_tui.planner.recommend import make_plan

MODEL = "Qwen/Qwen2.5-7B-Instruct"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def nothing_fits(**keys) -> NothingFits:
    cfg = load_config(None, {"model_name_or_path": MODEL, **keys})
    with pytest.raises(NothingFits) as info:
        make_plan(cfg, resolve_hardware("rtx4090"), inspect_model(MODEL))
    return info.value


def test_the_users_batch_quantization_and_checkpointing_are_stated_as_they_are():
    exc = nothing_fits(per_device_train_batch_size=8, quantization_bit=4, disable_gradient_checkpointing=True,
                       cutoff_len=4096)
    text = str(exc)
    setup = text.split("GiB per GPU with ")[1].split(", the leanest settings")[0]
    assert setup == ("batch 8 (yours), 4-bit quantization (yours), no gradient checkpointing (yours), optimizer "
                     "paged_adamw_8bit, cutoff_len 4096 (yours)")
    assert "even with batch 1" not in text and "even with gradient checkpointing" not in text
    hints = text.split("What would fit: ")[1]
    assert "4-bit" not in hints and "quantization_bit" not in hints  # 4-bit is already set
    # the user's own choices that stand in the way, checked with the same estimator
    assert "batch 1 instead of your 8 with gradient checkpointing back on" in hints
    zh = exc.render("zh")
    assert "batch 8（你设定的）" in zh and "不开梯度检查点（你设定的）" in zh and "重新开启梯度检查点" in zh


def test_giving_back_one_choice_is_suggested_alone_when_it_is_enough():
    exc = nothing_fits(per_device_train_batch_size=64, quantization_bit=4)
    hints = str(exc).split("What would fit: ")[1]
    assert hints.startswith("batch 1 instead of your 64 (per_device_train_batch_size: 1)"), hints
    plan_cfg = load_config(None, {"model_name_or_path": MODEL, "per_device_train_batch_size": 1,
                                  "quantization_bit": 4})
    assert make_plan(plan_cfg, resolve_hardware("rtx4090"), inspect_model(MODEL)).estimate.fits  # it does fit


def test_the_need_is_computed_for_the_stated_setup():
    from ft_tui.planner.memory import estimate_memory

    exc = nothing_fits(per_device_train_batch_size=8, disable_gradient_checkpointing=True, cutoff_len=4096)
    need = float(str(exc).split("needs at least ")[1].split(" GiB")[0])
    cfg = load_config(None, {"model_name_or_path": MODEL, "per_device_train_batch_size": 8,
                             "disable_gradient_checkpointing": True, "cutoff_len": 4096, "quantization_bit": 4,
                             "optim": "paged_adamw_8bit", "bf16": True})
    est = estimate_memory(cfg, inspect_model(MODEL), resolve_hardware("rtx4090"))
    assert abs(est.peak_gib - need) < 0.01 * need, (est.peak_gib, need)  # the planner's own search adds no batch
    assert "4-bit quantization, " in str(exc)  # the leanest quantization, not the user's: not marked as theirs
