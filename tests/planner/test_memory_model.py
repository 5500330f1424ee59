"""The memory model term by term (planner.memory), on catalog models and hand-built configs."""

from __future__ import annotations

import dataclasses
import time

import pytest
from ft_tui.planner import memory as m
from ft_tui.planner.catalogs.reasons import CATALOG
from ft_tui.planner.config import config_from_dict, load_config
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.models import inspect_model
from ft_tui.planner.params import count_params, lora_trainable_params
from ft_tui.planner.recommend import band_fits, make_plan
from ft_tui.planner.units import GIB


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def model(name):
    spec = inspect_model(name, allow_network=False)
    return spec, count_params(spec)


def est(name, **kw):
    spec, counts = model(name)
    return m.estimate_setup(spec, counts, m.TrainSetup(**kw))


# ------------------------------------------------------------------------------------------------------ weights

def test_nf4_bytes_per_param_match_the_paper():
    # QLoRA paper: 4.5 bits/param with fp32 block-64 constants, 4.127 with double quantization
    assert m.NF4_BYTES * 8 == pytest.approx(4.5)
    assert m.NF4_DQ_BYTES * 8 == pytest.approx(4.127, abs=1e-3)


def test_qlora_weights_keep_embeddings_and_head_16bit_unless_peft_upcasts_them():
    spec, counts = model("meta-llama/Meta-Llama-3-8B")
    s = m.TrainSetup(quant_bits=4, lora_targets=("q_proj",), lora_rank=1)
    assert s.kbit_prepare is False  # the runner's default: no prepare_model_for_kbit_training
    w = m.weight_bytes(spec, counts, s)
    non_linear = counts.total - counts.linear
    adapters = m.lora_params(spec, counts, s) * 4
    assert w == int(counts.linear * m.NF4_DQ_BYTES + non_linear * 2 + adapters)
    upcast = m.weight_bytes(spec, counts, dataclasses.replace(s, kbit_prepare=True))  # stacks that call peft's
    assert non_linear * 4 / GIB == pytest.approx(3.92, abs=0.02)  # research note §2.2 table
    assert upcast - w == pytest.approx(non_linear * 2, rel=1e-6)


def test_int8_weights_are_about_one_byte_per_linear_param():
    spec, counts = model("meta-llama/Llama-2-7b-hf")
    s = m.TrainSetup(quant_bits=8, kbit_prepare=False, lora_rank=1, lora_targets=("q_proj",))
    w = m.weight_bytes(spec, counts, s)
    base = counts.linear + (counts.total - counts.linear) * 2
    assert base < w < base * 1.01


def test_lora_params_match_published_counts_and_models_module():
    spec, counts = model("meta-llama/Llama-2-7b-hf")
    s = m.TrainSetup(lora_rank=8, lora_targets=("q_proj", "v_proj"))
    assert m.lora_params(spec, counts, s) == 4_194_304  # litgpt table
    spec3, counts3 = model("meta-llama/Llama-3.2-3B")
    s3 = m.TrainSetup(lora_rank=32, lora_targets=("q_proj", "v_proj"))
    assert m.lora_params(spec3, counts3, s3) == 9_175_040  # PEFT MetaMathQA JSON
    s_all = m.TrainSetup(lora_rank=16, lora_targets=("all",))
    spec8, counts8 = model("meta-llama/Meta-Llama-3-8B")
    assert m.lora_params(spec8, counts8, s_all) == lora_trainable_params(spec8, "all", 16) == 41_943_040


def test_full_ft_bytes_per_param_amp_vs_pure():
    """AMP: fp32 weights 4 + autocast copy 2 + grads 4 + AdamW 8 = 18 B/param (HF docs); pure bf16: 2 + 2 + 4."""
    spec, counts = model("Qwen/Qwen2.5-0.5B")
    amp = m.TrainSetup(method="full", precision_mode="amp", grad_accum=2)
    pure = dataclasses.replace(amp, precision_mode="pure")
    for setup, per_param in ((amp, 18), (pure, 8)):
        w = m.weight_bytes(spec, counts, setup) + m.autocast_copy_bytes(spec, counts, setup)
        total = w + m.gradient_bytes(spec, counts, setup) + m.optimizer_bytes(spec, counts, setup)
        assert total / counts.total == pytest.approx(per_param, rel=0.01)


# ---------------------------------------------------------------------------------------------------- optimizer

def test_8bit_adam_is_about_2_bytes_and_small_tensors_stay_fp32():
    spec, counts = model("Qwen/Qwen2.5-0.5B")  # h = 896 < 4096: norms keep fp32 states
    s = m.TrainSetup(method="full", optimizer="adamw_bnb_8bit", precision_mode="pure")
    state = m.optimizer_bytes(spec, counts, s)
    assert 2.03 < state / counts.total < 2.1
    small = counts.norms * (8 - m.ADAM8_BYTES)
    assert state == pytest.approx(counts.total * m.ADAM8_BYTES + small, rel=0.01)


def test_paged_state_counted_by_nvidia_smi_but_not_by_the_allocator():
    spec, counts = model("meta-llama/Llama-3.2-1B")
    nvml = m.TrainSetup(method="full", optimizer="paged_adamw_8bit", metric="nvml")
    alloc = dataclasses.replace(nvml, metric="allocated")
    assert m.optimizer_bytes(spec, counts, nvml) > 2 * counts.total
    assert m.optimizer_bytes(spec, counts, alloc) < 0.01 * counts.total  # only tensors < 1e5 elements remain


def test_sgd_has_no_state_and_adamw_foreach_has_a_step_temporary():
    spec, counts = model("Qwen/Qwen2.5-0.5B")
    s = m.TrainSetup(method="full", optimizer="sgd")
    assert m.optimizer_bytes(spec, counts, s) == 0
    torch_adamw = dataclasses.replace(s, optimizer="adamw_torch")
    fused = dataclasses.replace(s, optimizer="adamw_torch_fused")
    assert m.optimizer_temp_bytes(spec, counts, torch_adamw) == counts.total * 4
    assert m.optimizer_temp_bytes(spec, counts, fused) == 0


# -------------------------------------------------------------------------------------------------- activations

def test_checkpointing_cuts_activations_and_keeps_one_input_per_layer():
    spec, counts = model("meta-llama/Meta-Llama-3-8B")
    base = m.TrainSetup(batch=1, seq_len=2048, grad_ckpt=False)
    gc = dataclasses.replace(base, grad_ckpt=True)
    a_off, a_on = m.activation_bytes(spec, counts, base), m.activation_bytes(spec, counts, gc)
    assert a_on < a_off / 5
    a_layer = m.activation_bytes_per_token_layer(spec, counts, gc, trainable=False)
    assert a_on == int(2048 * (spec.num_hidden_layers * spec.hidden_size * 2 + a_layer))


def test_eager_attention_adds_a_term_quadratic_in_sequence_length():
    spec, counts = model("meta-llama/Llama-3.2-1B")
    def extra(s):
        sdpa = m.TrainSetup(seq_len=s, grad_ckpt=False)
        return m.activation_bytes(spec, counts, dataclasses.replace(sdpa, attn="eager")) - \
            m.activation_bytes(spec, counts, sdpa)
    # per token, eager keeps n_q * s scores twice (fp32 softmax + 16-bit probabilities) where sdpa keeps one
    # 16-bit mask row of s (measured: bench/activation_truth.py): the difference grows linearly in s per token
    per_token = (extra(2048) / 2048 - extra(1024) / 1024) / 1024 / spec.num_hidden_layers
    assert per_token == pytest.approx(spec.num_attention_heads * (4 + 2) - 2, rel=1e-6)
    assert extra(1024) > 0


def test_freeze_tuning_keeps_activations_of_trained_layers_only():
    spec, counts = model("meta-llama/Llama-3.2-1B")
    full = m.TrainSetup(method="full", precision_mode="pure", grad_ckpt=False, seq_len=512)
    frz = dataclasses.replace(full, method="freeze", freeze_layers=2)
    ratio = m.activation_bytes(spec, counts, frz) / m.activation_bytes(spec, counts, full)
    # the lowest trained layer keeps a little less: its input (from the frozen layers) needs no gradient
    assert ratio == pytest.approx(2 / spec.num_hidden_layers, rel=0.05) and ratio < 2 / spec.num_hidden_layers
    assert m.trainable_params(spec, counts, frz) < counts.total / 5


def test_lora_dropout_and_targets_add_saved_inputs():
    spec, counts = model("meta-llama/Llama-3.2-1B")
    s0 = m.TrainSetup(lora_targets=("q_proj", "v_proj"), grad_ckpt=False)
    s1 = dataclasses.replace(s0, lora_dropout=0.05)
    s_all = dataclasses.replace(s0, lora_targets=("all",))
    a0, a1, a_all = (m.activation_bytes(spec, counts, s) for s in (s0, s1, s_all))
    assert a0 < a1 and a0 < a_all


def test_logits_term_is_tokens_times_vocab_times_k():
    spec, _ = model("meta-llama/Meta-Llama-3-8B")
    s = m.TrainSetup(batch=2, seq_len=1024)
    # 12 B per vocabulary entry (HF's loss) + the final norm's fp32 upcast and 16-bit output (measured here)
    assert m.logits_bytes(spec, s) == 2 * 1024 * (128256 * 12 + (4 + 2) * spec.hidden_size)
    assert m.logits_bytes(spec, dataclasses.replace(s, loss_impl="chunked")) < m.logits_bytes(spec, s) / 3
    assert m.logits_bytes(spec, dataclasses.replace(s, loss_impl="fused")) == 0


# ---------------------------------------------------------------------------------------------------- multi-GPU

def test_fsdp_shards_model_states_and_ddp_adds_buckets():
    spec, counts = model("meta-llama/Meta-Llama-3-8B")
    one = m.TrainSetup(method="full", precision_mode="pure", grad_accum=4)
    fsdp = dataclasses.replace(one, n_gpus=8, strategy="fsdp")
    ddp = dataclasses.replace(one, n_gpus=8, strategy="ddp")
    for term in (m.weight_bytes, m.gradient_bytes, m.optimizer_bytes):
        assert term(spec, counts, fsdp) == pytest.approx(term(spec, counts, one) / 8, rel=1e-3)
    assert m.dequant_temp_bytes(spec, counts, fsdp) > 0  # gathered layers
    assert m.ddp_bucket_bytes(spec, counts, ddp) == m.gradient_bytes(spec, counts, one)
    assert m.context_bytes(ddp) > m.context_bytes(one)


# ----------------------------------------------------------------------------------------------------- assembly

def test_breakdown_sums_to_peak_and_metric_options():
    e = est("meta-llama/Meta-Llama-3-8B", batch=2, seq_len=1024, grad_accum=4)
    assert sum(e.breakdown.values()) == e.peak_bytes
    assert set(e.breakdown) == {"weights", "optimizer", "gradients", "activations", "logits", "cuda_context",
                                "overhead"}
    alloc = est("meta-llama/Meta-Llama-3-8B", batch=2, seq_len=1024, grad_accum=4, metric="allocated")
    assert alloc.breakdown["cuda_context"] == 0
    assert alloc.peak_bytes < e.peak_bytes - m.CUDA_CONTEXT_BYTES


def test_gradients_persist_only_when_accumulating():
    one = est("Qwen/Qwen2.5-0.5B", method="full", grad_accum=1, seq_len=4096)
    acc = est("Qwen/Qwen2.5-0.5B", method="full", grad_accum=8, seq_len=4096)
    assert one.phase == "forward/backward"
    assert acc.peak_bytes > one.peak_bytes
    assert one.breakdown["gradients"] == 0 and acc.breakdown["gradients"] > 0


def test_step_phase_can_be_the_peak_for_full_ft_with_tiny_batches():
    e = est("Qwen/Qwen2.5-0.5B", method="full", batch=1, seq_len=16, grad_accum=1)
    assert e.phase == "optimizer step"
    assert e.breakdown["activations"] == 0 and e.breakdown["gradients"] > 0


def test_estimate_memory_from_config_budget_and_dict():
    cfg = config_from_dict({"model_name_or_path": "meta-llama/Meta-Llama-3-8B", "bf16": True,
                            "quantization_bit": 4, "memory_margin": 0.2})
    spec = inspect_model(cfg.model_name_or_path, allow_network=False)
    hw = resolve_hardware("rtx4090")
    e = m.estimate_memory(cfg, spec, hw)
    assert e.budget_bytes == int(hw.budget_base_bytes * 0.8)
    assert e.fits is (e.peak_bytes <= e.budget_bytes)
    d = e.to_dict()
    for key in ("peak_gib", "breakdown_gib", "total_params", "trainable_params", "budget_gib", "fits"):
        assert key in d
    assert d["peak_gib"] == pytest.approx(e.peak_bytes / GIB, abs=1e-3)
    no_gpu = m.estimate_memory(cfg, spec, None).to_dict()
    assert "budget_gib" not in no_gpu and "fits" not in no_gpu


def test_data_stats_shorten_the_peak_sequence_unless_packing():
    class Stats:
        max_len = 300
    cfg = config_from_dict({"model_name_or_path": "x", "cutoff_len": 1024})
    assert m.peak_seq_len(cfg, Stats()) == 300
    assert m.peak_seq_len(cfg, None) == 1024
    assert m.peak_seq_len(cfg.replace(packing=True), Stats()) == 1024


def test_one_field_edit_re_estimates_in_under_20_ms():
    cfg = config_from_dict({"model_name_or_path": "meta-llama/Llama-3.1-70B", "bf16": True})
    spec = inspect_model(cfg.model_name_or_path, allow_network=False)
    counts = count_params(spec)
    hw = resolve_hardware("a100-80gb")
    m.estimate_memory(cfg, spec, hw, counts=counts)
    start = time.perf_counter()
    for rank in range(8, 28):
        m.estimate_memory(cfg.replace(lora_rank=rank), spec, hw, counts=counts)
    assert (time.perf_counter() - start) / 20 < 0.020


def test_published_point_full_ft_llama32_3b_within_5_percent():
    """PEFT MetaMathQA full FT of Llama-3.2-3B measured 36.20 GiB max reserved (research note §3 I1)."""
    e = est("meta-llama/Llama-3.2-3B", method="full", precision_mode="pure", autocast=False, batch=4,
            seq_len=768, grad_ckpt=False, metric="reserved", include_context=False)
    assert e.peak_bytes / GIB == pytest.approx(36.20, rel=0.05)


def test_freeze_weights_match_the_runner_trained_layers_fp32_rest_16bit():
    spec, counts = model("meta-llama/Llama-3.2-1B")
    s = m.TrainSetup(method="freeze", freeze_layers=2)
    trained = m.trainable_params(spec, counts, s)
    assert m.weight_bytes(spec, counts, s) == trained * 4 + (counts.total - trained) * 2
    assert m.gradient_bytes(spec, counts, s) == trained * 4
    assert m.optimizer_bytes(spec, counts, s) == trained * 8


# ------------------------------------------------------------------------------- terms checked by the CPU bench
# (bench/activation_truth.py measures each on real shapes; tests/bench runs a slice of it)

def test_gemma2_runs_eager_attention_and_its_soft_capped_logits_cost_more():
    spec, counts = model("google/gemma-2-2b")
    s = m.TrainSetup(seq_len=1024, grad_ckpt=False)
    assert m.attention_kernel(spec, s) == "eager"  # transformers 5 has no sdpa for Gemma 2
    llama, _ = model("meta-llama/Llama-3.2-1B")
    assert m.attention_kernel(llama, s) == "sdpa"
    per_vocab = (m.logits_bytes(spec, s) / s.tokens - 6 * spec.hidden_size) / spec.vocab_size
    assert per_vocab == 12 + 2  # + the tanh output of the final-logit soft-cap


def test_lora_dropout_keeps_a_mask_on_cuda_and_the_noise_on_a_cpu():
    spec, counts = model("meta-llama/Llama-3.2-1B")
    s = m.TrainSetup(lora_dropout=0.05, grad_ckpt=False)
    d_in = sum(a for a, _ in counts.per_layer_linear.values())
    no_drop = m.lora_extra_bytes_per_token_layer(spec, counts, dataclasses.replace(s, lora_dropout=0.0))
    cuda = m.lora_extra_bytes_per_token_layer(spec, counts, s)
    cpu = m.lora_extra_bytes_per_token_layer(spec, counts, dataclasses.replace(s, device="cpu"))
    assert cuda - no_drop == d_in * 1  # bool mask
    assert cpu - no_drop == d_in * 4   # the fp32 noise (peft casts the input to the fp32 adapters' dtype)
    # 16-bit adapters: the dropped copy lora_A keeps for its weight gradient, per module, beside the mask
    b16 = dataclasses.replace(s, adapter_fp32=False)
    assert m.lora_extra_bytes_per_token_layer(spec, counts, b16) >= d_in * (1 + 2)


def test_moe_lora_all_trains_the_experts_and_keeps_their_merged_weights():
    spec, counts = model("Qwen/Qwen3-30B-A3B")
    all_ = m.TrainSetup(lora_targets=("all",), grad_ckpt=False, seq_len=512)
    attn = dataclasses.replace(all_, lora_targets=("q_proj", "k_proj", "v_proj", "o_proj"))
    assert m.lora_params(spec, counts, all_) > 50 * m.lora_params(spec, counts, attn)
    merged = m.autocast_copy_bytes(spec, counts, all_) - m.autocast_copy_bytes(spec, counts, attn)
    assert merged > 2 * counts.experts  # one 16-bit merged copy of every expert weight, plus the adapters' casts
    gc = dataclasses.replace(all_, grad_ckpt=True)
    assert m.autocast_copy_bytes(spec, counts, gc) < merged / 10  # one layer at a time with checkpointing


# ---- the estimate's uncertainty band (every part has a source; the recommender keeps the high end under budget)

def test_every_part_has_a_source_and_the_band_brackets_the_peak():
    spec, counts = model("Qwen/Qwen2.5-7B")
    est = m.estimate_setup(spec, counts, m.TrainSetup(seq_len=2048, batch=2), budget_bytes=40 * GIB)
    assert est.low_bytes < est.peak_bytes < est.high_bytes
    assert est.high_bytes - est.peak_bytes == pytest.approx(est.peak_bytes - est.low_bytes, abs=2)  # symmetric
    assert {v["source"] for v in est.band.values()} <= {"measured-here", "published", "assumed"}
    assert set(est.band) <= set(m.TERM_SOURCES)
    # the parts of the band are the parts of the peak, each with its own relative uncertainty
    assert sum(v["bytes"] for v in est.band.values()) == est.peak_bytes
    assert est.band["activations"]["source"] == "measured-here" and est.band["cuda_context"]["source"] == "published"
    # root of the sum of squares of each part's uncertainty
    delta = sum((v["rel"] * v["bytes"]) ** 2 for v in est.band.values()) ** 0.5
    assert est.high_bytes - est.peak_bytes == pytest.approx(delta, abs=2)
    fa2 = m.estimate_setup(spec, counts, m.TrainSetup(seq_len=2048, batch=2, attn="fa2"))
    assert fa2.band["activations"]["source"] == "assumed"  # FlashAttention-2 cannot be measured on a CPU


def test_estimate_json_keeps_its_fields_and_adds_the_band():
    spec, counts = model("meta-llama/Meta-Llama-3-8B")
    d = m.estimate_setup(spec, counts, m.TrainSetup(), budget_bytes=24 * GIB).to_dict()
    assert {"peak_gib", "breakdown_gib", "total_params", "trainable_params", "peak_phase", "budget_gib", "fits",
            "assumptions"} <= set(d)
    assert d["peak_low_gib"] < d["peak_gib"] < d["peak_high_gib"]
    assert isinstance(d["fits_band"], bool) and d["assumptions"]["allocator"] == "expandable_segments:True"
    assert all({"source", "rel", "gib"} == set(v) for v in d["band"].values())


def test_plan_keeps_the_whole_band_under_the_budget_and_says_so():
    cfg = load_config(None, {"model_name_or_path": "Qwen/Qwen2.5-7B"})
    p = make_plan(cfg, resolve_hardware("rtx4090"), inspect_model("Qwen/Qwen2.5-7B", allow_network=False))
    assert band_fits(p.estimate) and p.estimate.high_bytes <= p.estimate.budget_bytes
    assert p.reasons["memory"].code == "memory_band_safe"
    # the batch is the largest whose band fits: doubling it puts the band's high end over the budget
    spec, counts = model("Qwen/Qwen2.5-7B")
    s = p.estimate.setup
    bigger = m.estimate_setup(spec, counts, dataclasses.replace(s, batch=2 * s.batch), p.estimate.budget_bytes)
    if p.config.per_device_train_batch_size * 2 <= cfg.target_effective_batch:
        assert not band_fits(bigger)


def test_within_the_band_of_the_limit_the_reason_says_so_and_names_a_safe_leaner_setting():
    """Every memory key fixed: a GPU whose budget lies between the estimate and its band's high end gets the
    setting the estimate fits, with a reason naming the band and the first leaner setting that is safe."""
    keys = {"model_name_or_path": "Qwen/Qwen2.5-1.5B", "quantization_bit": None, "per_device_train_batch_size": 4,
            "disable_gradient_checkpointing": True, "optim": "adamw_torch", "cutoff_len": 1024, "bf16": True,
            "lora_rank": 8}
    cfg = load_config(None, keys)
    spec, counts = model("Qwen/Qwen2.5-1.5B")
    est = m.estimate_memory(cfg, spec, None, counts=counts, n_gpus=1, strategy="single")
    between = (est.peak_bytes + est.high_bytes) / 2 / (1 - cfg.memory_margin)
    hw = resolve_hardware(f"{between / GIB:.3f}GiB")
    p = make_plan(cfg, hw, spec)
    assert p.estimate.fits and not band_fits(p.estimate)
    why = p.reasons["memory"]
    assert why.code == "memory_band_edge" and "within the uncertainty band of the limit" in why
    assert why.values["lean"] == "per_device_train_batch_size: 2"
    lean = m.estimate_setup(spec, counts, dataclasses.replace(p.estimate.setup, batch=2), p.estimate.budget_bytes)
    assert band_fits(lean)
    assert CATALOG["memory_band_edge"]["zh"] and "{lean}" in CATALOG["memory_band_edge"]["zh"]
