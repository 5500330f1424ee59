"""bench/activation_truth.py: the planner's memory terms against what autograd and the allocator really hold.

The small slice (``--quick``: TinyLlama-shaped layers, four settings) runs in CI and holds every term to the 5 %
bound, so a change to ``planner/memory.py`` that drifts from what the runner's peft set-up saves fails here.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

pytest.importorskip("torch")
pytest.importorskip("peft")


@pytest.fixture(scope="module")
def truth():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("activation_truth")
    finally:
        sys.path.remove(str(BENCH))


def test_tinyllama_16bit_adapters_with_dropout_planned_activations_match_the_saved_tensors(truth, tmp_path):
    """TinyLlama-shaped layers (real width: hidden 2048, intermediate 5632, GQA 32/4), adapters in bf16, dropout
    0.05, no checkpointing: each targeted module keeps the dropout's mask and the dropped copy lora_A saves for its
    weight gradient. The planner's activations are within 5 % of the bytes autograd saves (deduplicated by
    storage), and so is each layer's share."""
    case = truth.Case("tinyllama", adapter_fp32=False, dropout=0.05, gc=False, seq=512)
    measured = truth.measure(case, tmp_path)
    layers = {k: v for k, v in measured["saved"].items() if k.startswith("layer")}
    assert len(layers) == 2 and all(v > 0 for v in layers.values())
    acts = sum(layers.values()) + measured["saved"].get("shared", 0)
    planned = truth.planned(case)["activations"]
    assert abs(planned - acts) / acts <= truth.TOLERANCE, (planned, acts)
    # the dropped copies are there: the same case without dropout saves markedly less
    no_drop = truth.measure(truth.Case("tinyllama", adapter_fp32=False, seq=512), tmp_path)
    assert sum(v for k, v in no_drop["saved"].items() if k.startswith("layer")) < 0.85 * sum(layers.values())


def test_quick_slice_holds_every_term_to_five_percent(tmp_path: Path, bench_env, bench_script) -> None:
    code, record, err = bench_script("activation_truth.py", "--quick", "--json", "--results-dir", str(tmp_path),
                                     timeout=240, env=bench_env)
    assert record is not None, err[-2000:]
    written = json.loads((tmp_path / "activation_truth_quick.json").read_text())
    assert written["rows"] == record["rows"]
    assert {"date", "machine", "versions"} <= set(record) and record["tolerance"] == 0.05
    rows = [r for r in record["rows"] if r["term"] in ("weights", "weight_copies", "activations", "logits", "peak")]
    assert {r["term"] for r in rows} == {"weights", "weight_copies", "activations", "logits", "peak"}
    assert len({r["case"] for r in rows}) == 4 and all(r["measured"] for r in rows if r["term"] != "weight_copies")
    off = [(r["case"], r["term"], r["error"]) for r in rows if r["error"] is None or abs(r["error"]) > 0.05]
    assert not off, off
    assert record["summary"]["pass"] is True and code == 0


def test_fake_tensors_save_what_real_ones_do_and_the_tracker_is_the_allocator(truth, tmp_path):
    """The matrix runs on fake tensors; on real CPU tensors the same case saves the same bytes, and the
    dispatch-level tracker's peak equals the CPU allocator's own (torch.profiler memory events)."""
    fake = truth.measure(truth.Case("tinyllama", seq=64, layers=1), tmp_path)
    real = truth.measure(truth.Case("tinyllama", seq=64, layers=1, real=True), tmp_path)
    assert fake["saved"] == real["saved"] and fake["peak"] == real["peak"]
    allocator = real["allocator_peak_above_start"] + real["base_bytes"]
    assert real["peak"] == pytest.approx(allocator, rel=1e-4)  # a few bytes of the allocator's own bookkeeping
