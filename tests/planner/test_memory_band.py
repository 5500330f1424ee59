"""The estimate's uncertainty band (planner.memory.uncertainty_band) and the recommender's use of it."""

from __future__ import annotations

import dataclasses

import pytest
from ft_tui.planner import memory as m
from ft_tui.planner.catalogs.reasons import CATALOG
from ft_tui.planner.config import load_config
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.models import inspect_model
from ft_tui.planner.params import count_params
from ft_tui.planner.recommend import band_fits, make_plan
from ft_tui.planner.units import GIB


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def model(name):
    spec = inspect_model(name, allow_network=False)
    return spec, count_params(spec)


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
