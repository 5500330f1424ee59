"""planner.recommend.make_plan: choices, reasons, user keys, and what happens when nothing fits."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from ft_tui.planner.config import config_from_dict, load_config
from ft_tui.planner.errors import NothingFits
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.models import inspect_model
from ft_tui.planner.recommend import SET_BY_YOU, make_plan


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def plan(model, gpu, gpus=None, data=None, **keys):
    cfg = load_config(None, {"model_name_or_path": model, **keys})
    spec = inspect_model(model, allow_network=False)
    return make_plan(cfg, resolve_hardware(gpu, gpus), spec, data)


def test_llama3_8b_on_rtx4090_fits_with_reasons_for_every_planned_key():
    p = plan("meta-llama/Meta-Llama-3-8B-Instruct", "rtx4090")
    assert p.estimate.fits and p.estimate.peak_bytes <= p.estimate.budget_bytes
    for key in ("quantization_bit", "per_device_train_batch_size", "gradient_accumulation_steps",
                "disable_gradient_checkpointing", "bf16", "fp16", "optim", "lora_rank", "lora_alpha",
                "cutoff_len", "strategy"):
        assert p.reasons[key], key
    assert p.config.bf16 and not p.config.fp16
    assert p.time is not None and p.time.tokens_per_s > 0
    d = p.to_dict()
    assert {"config", "estimate", "reasons", "hardware", "time"} <= set(d)


def test_t4_gets_fp16_and_quantization():
    p = plan("meta-llama/Meta-Llama-3-8B-Instruct", "t4")
    assert p.config.quantization_bit in (4, 8)
    assert p.config.fp16 and not p.config.bf16
    assert "bf16" in p.reasons["bf16"]


def test_70b_on_one_24gb_card_raises_with_what_would_fit():
    with pytest.raises(NothingFits) as info:
        plan("meta-llama/Llama-3.1-70B", "rtx4090")
    text = str(info.value)
    assert "What would fit" in text and "FSDP" in text and "smaller model" in text
    n = int(text.split("What would fit: ")[1].split(" x ")[0])
    # the suggested GPU count really fits, with the same estimator
    p = plan("meta-llama/Llama-3.1-70B", "rtx4090", gpus=n)
    assert p.estimate.fits and p.strategy == "fsdp"


def test_70b_on_a100_80gb_picks_4bit():
    p = plan("meta-llama/Llama-3.1-70B", "a100-80gb")
    assert p.config.quantization_bit == 4
    assert "4-bit" in p.reasons["quantization_bit"]


def test_small_full_finetune_on_h100_uses_bf16_without_quantization():
    p = plan("Qwen/Qwen2.5-0.5B", "h100-80gb", finetuning_type="full")
    assert p.config.quantization_bit is None and p.config.bf16
    assert p.estimate.fits


def test_user_keys_are_kept_and_marked():
    p = plan("meta-llama/Meta-Llama-3-8B-Instruct", "a100-80gb", per_device_train_batch_size=1, lora_rank=64,
             optim="adamw_bnb_8bit")
    assert p.config.per_device_train_batch_size == 1 and p.config.lora_rank == 64
    assert p.config.optim == "adamw_bnb_8bit"
    for key in ("per_device_train_batch_size", "lora_rank", "optim"):
        assert p.reasons[key] == SET_BY_YOU
        assert key in p.user_keys
    assert p.config.lora_alpha == 128  # alpha follows the user's rank


def test_explicit_no_quantization_that_cannot_fit_suggests_4bit():
    with pytest.raises(NothingFits, match="4-bit"):
        plan("meta-llama/Llama-3.1-70B", "a100-80gb", quantization_bit=None)


def test_explicit_batch_too_large_suggests_alternatives():
    with pytest.raises(NothingFits, match="cutoff_len"):
        plan("Qwen/Qwen2.5-7B", "rtx4090", per_device_train_batch_size=64, quantization_bit=4)


def test_gradient_accumulation_reaches_the_target_effective_batch():
    p = plan("Qwen/Qwen2.5-0.5B", "rtx4090", target_effective_batch=48)
    b, ga = p.config.per_device_train_batch_size, p.config.gradient_accumulation_steps
    assert ga == math.ceil(48 / b)
    assert b & (b - 1) == 0  # a power of two


def test_checkpointing_off_when_a_useful_batch_fits():
    p = plan("Qwen/Qwen2.5-0.5B", "h100-80gb", cutoff_len=512)
    assert p.config.disable_gradient_checkpointing is True
    assert "fits without it" in p.reasons["disable_gradient_checkpointing"]
    tight = plan("meta-llama/Meta-Llama-3-8B-Instruct", "rtx4090")
    assert tight.config.disable_gradient_checkpointing is False


def test_cutoff_from_data_p99_and_context_cap():
    data = SimpleNamespace(rows=2000, p99=700, max_len=900, mean_len=300.0, train_sequences=2000,
                           total_tokens=600_000)
    p = plan("Qwen/Qwen2.5-0.5B", "rtx4090", data=data)
    assert p.config.cutoff_len == 704 and "p99" in p.reasons["cutoff_len"]
    assert p.time.steps == math.ceil(2000 * 3 / p.config.effective_batch)
    long = plan("meta-llama/Llama-2-7b-hf", "h100-80gb", data=SimpleNamespace(rows=10, p99=9000, max_len=9000))
    assert long.config.cutoff_len == 4096 and long.config.rope_scaling is None


def test_cutoff_beyond_context_set_by_user_gets_rope_scaling():
    p = plan("meta-llama/Llama-2-7b-hf", "h100-80gb", cutoff_len=8192, quantization_bit=4)
    assert p.config.cutoff_len == 8192 and p.config.rope_scaling == "linear"
    assert "2.0x" in p.reasons["rope_scaling"]


def test_multi_gpu_strategy_ddp_when_it_fits_one_gpu_else_fsdp():
    assert plan("Qwen/Qwen2.5-0.5B", "a100-80gb", gpus=4).strategy == "ddp"
    big = plan("meta-llama/Meta-Llama-3-8B", "a100-80gb", gpus=8, finetuning_type="full")
    assert big.strategy == "fsdp" and big.estimate.fits


def test_no_gpu_returns_config_with_cpu_precision_and_hint():
    cfg = config_from_dict({"model_name_or_path": "Qwen/Qwen2.5-0.5B", "lora_rank": 4})
    hw = SimpleNamespace(source="none", count=0, name="no GPU", to_dict=lambda: {"source": "none"})
    p = make_plan(cfg, hw, inspect_model("Qwen/Qwen2.5-0.5B", allow_network=False))
    assert not p.config.bf16 and not p.config.fp16
    assert "--gpu" in p.reasons["hardware"]
    assert p.config.lora_rank == 4 and p.estimate.fits is None
    assert p.config.per_device_train_batch_size == cfg.per_device_train_batch_size


@pytest.mark.parametrize("name", ["Qwen/Qwen2.5-7B", "google/gemma-2-9b", "mistralai/Mixtral-8x7B-v0.1",
                                  "meta-llama/Llama-3.2-1B", "Qwen/Qwen3-30B-A3B"])
@pytest.mark.parametrize("gpu", ["t4", "rtx4090", "a100-80gb"])
def test_plan_never_recommends_what_its_estimate_rejects(name, gpu):
    try:
        p = plan(name, gpu)
    except NothingFits as exc:
        assert "What would fit" in str(exc)
        return
    assert p.estimate.fits and p.estimate.peak_bytes <= p.estimate.budget_bytes


def test_several_gpus_prefer_sharding_over_quantization():
    p = plan("meta-llama/Llama-3.1-70B", "a100-80gb", gpus=8)
    assert p.config.quantization_bit is None and p.strategy == "fsdp" and p.estimate.fits


def test_user_set_checkpointing_is_kept():
    p = plan("Qwen/Qwen2.5-0.5B", "h100-80gb", disable_gradient_checkpointing=False)
    assert p.config.disable_gradient_checkpointing is False
    assert p.reasons["disable_gradient_checkpointing"] == SET_BY_YOU
    assert p.config.gradient_accumulation_steps * p.config.per_device_train_batch_size >= 16


def test_a_quantized_moe_that_does_not_fit_says_its_experts_stay_unquantized():
    with pytest.raises(NothingFits) as info:
        plan("mistralai/Mixtral-8x7B-Instruct-v0.1", "h100-80gb", quantization_bit=4)
    text = str(info.value)
    assert text.startswith("nothing fits") and "45.1B expert parameters" in text and "stay in 16-bit" in text
    zh = info.value.render("zh")
    assert "专家参数" in zh and "What would fit" not in zh
    with pytest.raises(NothingFits) as dense:
        plan("meta-llama/Llama-3.1-70B", "rtx4090")
    assert "expert" not in str(dense.value)  # dense models get no such note
