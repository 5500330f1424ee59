"""planner.timing: FLOPs per token, assumed utilization, steps and ETA."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest
from ft_tui.planner import timing as t
from ft_tui.planner.config import config_from_dict
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.memory import TrainSetup, activation_bytes, setup_from_config
from ft_tui.planner.models import inspect_model
from ft_tui.planner.params import count_params


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def llama():
    spec = inspect_model("meta-llama/Meta-Llama-3-8B", allow_network=False)
    return spec, count_params(spec)


def test_full_finetune_is_6n_plus_attention(llama):
    spec, counts = llama
    s = TrainSetup(method="full", seq_len=2048, grad_ckpt=False)
    n = t.matmul_params(spec, counts)
    assert n == counts.linear + spec.vocab_size * spec.hidden_size
    attn = t.attention_flops_per_token(spec, 2048)
    assert attn == 4 * 32 * 4096 * 1024
    assert t.training_flops_per_token(spec, counts, s, counts.total) == pytest.approx(6 * n + 3 * attn)


def test_lora_skips_weight_grads_and_checkpointing_adds_a_forward(llama):
    spec, counts = llama
    full = TrainSetup(method="full", seq_len=1024, grad_ckpt=False)
    lora = dataclasses.replace(full, method="lora")
    f_full = t.training_flops_per_token(spec, counts, full, counts.total)
    f_lora = t.training_flops_per_token(spec, counts, lora, 40_000_000)
    assert f_lora < f_full * 0.75
    n = t.matmul_params(spec, counts)
    gc = dataclasses.replace(lora, grad_ckpt=True)
    extra = t.training_flops_per_token(spec, counts, gc, 40_000_000) - f_lora
    assert extra == pytest.approx(2 * n + t.attention_flops_per_token(spec, 1024))


def test_freeze_costs_between_lora_and_full(llama):
    spec, counts = llama
    frz = TrainSetup(method="freeze", freeze_layers=2, seq_len=1024, grad_ckpt=False)
    full = dataclasses.replace(frz, method="full")
    lora = dataclasses.replace(frz, method="lora")
    f = t.training_flops_per_token(spec, counts, frz, 0)
    assert t.training_flops_per_token(spec, counts, frz, 0) < t.training_flops_per_token(spec, counts, full, 0)
    assert f < t.training_flops_per_token(spec, counts, lora, 0)  # no input grads through the frozen bottom
    first = dataclasses.replace(frz, freeze_layers=-2)
    assert t.training_flops_per_token(spec, counts, first, 0) > f  # grads flow through every layer above
    assert activation_bytes(spec, counts, first) > activation_bytes(spec, counts, frz)


def test_quantized_and_fp32_runs_assume_lower_utilization():
    base = TrainSetup()
    assert t.mfu_for(base) == t.MFU_16BIT == 0.35
    assert t.mfu_for(dataclasses.replace(base, quant_bits=4)) == pytest.approx(0.35 / 1.5)
    assert t.mfu_for(dataclasses.replace(base, quant_bits=8)) < t.mfu_for(dataclasses.replace(base, quant_bits=4))
    assert t.mfu_for(dataclasses.replace(base, half=False)) == pytest.approx(0.35 * 0.25)


def _time(cfg_dict, llama, data=None, gpu="a100-80gb", gpus=None):
    spec, counts = llama
    cfg = config_from_dict({"model_name_or_path": "meta-llama/Meta-Llama-3-8B", "bf16": True, **cfg_dict})
    hw = resolve_hardware(gpu, gpus)
    setup = setup_from_config(cfg, hw, data)
    return cfg, t.estimate_time(cfg, spec, counts, setup, hw, 41_943_040, data)


def test_steps_and_eta_from_data_stats(llama):
    data = SimpleNamespace(rows=1000, train_sequences=900, total_tokens=900 * 400, mean_len=400.0, p99=900,
                           max_len=1000)
    cfg, est = _time({"per_device_train_batch_size": 1, "gradient_accumulation_steps": 16,
                      "num_train_epochs": 2}, llama, data)
    assert est.steps == math.ceil(900 * 2 / 16)
    assert est.tokens_per_step == pytest.approx(16 * 400)
    assert est.eta_s == pytest.approx(est.steps * est.step_s)
    assert est.tokens_per_s == pytest.approx(
        312e12 * est.mfu / est.flops_per_token, rel=0.02)  # A100 dense bf16 peak ~312 TFLOP/s
    assert "statistics" in est.note


def test_batches_pad_to_their_longest_row_unless_grouped_by_length(llama):
    """Batch 4 of uneven rows pads towards the long tail; grouping by length pads little; packing pads nothing."""
    data = SimpleNamespace(rows=1000, train_sequences=1000, total_tokens=1000 * 200, mean_len=200.0, p99=1800,
                           max_len=2000)
    batch = {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 4}
    _, padded = _time(batch, llama, data)
    _, grouped = _time({**batch, "group_by_length": True}, llama, data)
    assert padded.tokens_per_step == pytest.approx(16 * (200 + 1800) / 2)
    # 1,000 rows, batch 4 x accumulation 4: megabatches of min(1000 // 64, 50) x 16 = 240 rows, 60 batches each
    assert grouped.tokens_per_step == pytest.approx(16 * (200 + 800 * 1.3 * 4 / 240))
    assert grouped.eta_s < padded.eta_s / 4 and "grouped" in grouped.note
    assert grouped.steps == padded.steps  # the same rows, only their order changes
    # a small dataset has small megabatches: grouping helps less
    small = SimpleNamespace(**{**vars(data), "rows": 40, "train_sequences": 40, "total_tokens": 40 * 200})
    _, few = _time({**batch, "group_by_length": True}, llama, small)
    _, few_random = _time(batch, llama, small)
    assert grouped.tokens_per_step < few.tokens_per_step <= few_random.tokens_per_step


def test_without_data_steps_are_unknown_unless_max_steps(llama):
    _, est = _time({}, llama)
    assert est.steps is None and est.eta_s is None and "cutoff_len" in est.note
    cfg, est = _time({"max_steps": 100}, llama)
    assert est.steps == 100 and est.eta_s == pytest.approx(100 * est.step_s)
    assert est.tokens_per_step == cfg.effective_batch * cfg.cutoff_len


def test_more_gpus_are_faster_but_not_linearly(llama):
    _, one = _time({"max_steps": 10}, llama)
    _, four = _time({"max_steps": 10}, llama, gpus=4)
    assert 3.0 < four.tokens_per_s / one.tokens_per_s < 4.0


def test_no_throughput_known_means_no_time(llama):
    spec, counts = llama
    cfg = config_from_dict({"model_name_or_path": "x"})
    assert t.estimate_time(cfg, spec, counts, TrainSetup(), resolve_hardware("24GiB"), 0) is None
    assert t.estimate_time(cfg, spec, counts, TrainSetup(), None, 0) is None
