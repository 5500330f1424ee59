"""bench/throughput.py: the generated data, the baseline's tokenization against the runner's, the summary."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "bench", ROOT / "bench" / "baselines"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import hf_trainer_lora as baseline  # noqa: E402
import throughput  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from ft_tui.runner.demo_kit import build_demo_kit
    from transformers import AutoTokenizer

    kit = build_demo_kit("tiny", cache_dir=tmp_path_factory.mktemp("kit"))
    return kit, AutoTokenizer.from_pretrained(str(kit.model_dir))


def test_conversations_are_deterministic_and_vary_in_length() -> None:
    rows = throughput.make_conversations(200, seed=3)
    assert rows == throughput.make_conversations(200, seed=3)
    assert rows != throughput.make_conversations(200, seed=4)
    words = [sum(len(m["value"].split()) for m in r["conversations"]) for r in rows]
    assert statistics.pstdev(words) / statistics.mean(words) > 0.6  # padding to the longest row wastes a lot
    assert {len(r["conversations"]) for r in rows} == {2, 4, 6}


def test_baseline_trains_the_same_tokens_as_the_runner(tmp_path: Path, tokenizer) -> None:
    """Same ids (no truncation here: the runner truncates turn-aware, the baseline cuts the tail); the labels
    differ only on the newline after each reply's <|im_end|> (the baseline trains it)."""
    from ft_tui.planner.config import config_from_dict
    from ft_tui.templates import registry, trainset

    kit, tok = tokenizer
    data_file = throughput.write_dataset(tmp_path / "data", throughput.make_conversations(12, seed=0))
    cfg = config_from_dict({"model_name_or_path": str(kit.model_dir), "dataset": "bench_conversations",
                            "dataset_dir": str(tmp_path / "data"), "cutoff_len": 2048})
    template, _ = registry.resolve_template(None, tok, str(kit.model_dir), "llama")
    ours = trainset.prepare_datasets(cfg, tok, template).train
    theirs = [baseline.tokenize_conversation(tok, m, 2048) for m in baseline.load_conversations(str(data_file))]
    assert len(ours) == len(theirs) == 12
    newline = tok.encode("\n", add_special_tokens=False)
    for row, other in zip(ours, theirs, strict=True):
        assert row["input_ids"] == other["input_ids"]
        diff = [(a, b) for a, b in zip(row["labels"], other["labels"], strict=True) if a != b]
        assert all(a == -100 and [b] == newline for a, b in diff)
        assert len(diff) <= sum(1 for lab in row["labels"] if lab != -100)


def _run(variant: str, rep: int, tps: float, loss: float = 2.0) -> dict:
    return {"variant": variant, "rep": rep, "useful_tokens_per_s": tps, "train_runtime": 1000 / tps,
            "useful_tokens_per_cpu_s": tps / 2, "train_cpu_s": 2000 / tps,
            "train_loss": loss, "useful_tokens": 1000, "input_tokens": 1500, "sequences": 10, "steps": 3}


def test_summary_takes_medians_and_checks_the_targets() -> None:
    runs = [_run("runner", 0, 100), _run("baseline", 0, 100), _run("runner_packing", 0, 150),
            _run("runner", 1, 90), _run("baseline", 1, 110), _run("runner_packing", 1, 120),
            _run("runner", 2, 300), _run("baseline", 2, 95), _run("runner_packing", 2, 140, loss=2.1)]
    s = throughput.summarize(runs)
    assert s["variants"]["runner"]["useful_tokens_per_s"] == 100
    assert s["variants"]["baseline"]["useful_tokens_per_s"] == 100
    assert s["ratio_runner"] == 1.0 and s["target_runner"]["met"] is True
    assert s["ratio_runner_packing"] == 1.4 and s["target_runner_packing"]["met"] is True
    assert s["ratio_cpu_runner"] == 1.0 and s["target_runner"]["met_on_cpu_time"] is True
    assert s["ratio_best_runner"] == round(300 / 110, 3)
    assert s["time_ratio_runner_packing"] == pytest.approx(1.4, abs=2e-3)  # runtimes are rounded to 10 ms
    assert s["loss_vs_baseline_runner_packing_pct"] == 0.0  # median loss: 2.0 for both
    half = {True: 1.0, False: 0.5}
    slow = [dict(r, useful_tokens_per_s=r["useful_tokens_per_s"] * half[r["variant"] == "baseline"],
                 useful_tokens_per_cpu_s=r["useful_tokens_per_cpu_s"] * half[r["variant"] == "baseline"])
            for r in runs]
    assert throughput.summarize(slow)["target_runner"] == {"min_ratio": 1.0, "met": False, "met_on_cpu_time": False}


def test_variants_rotate_so_none_always_runs_first() -> None:
    firsts = {throughput._order(rep)[0] for rep in range(len(throughput.VARIANTS))}
    assert firsts == set(throughput.VARIANTS)
