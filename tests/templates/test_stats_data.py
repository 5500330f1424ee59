"""DataStats: percentiles, the on-disk cache, the text summary and the TUI preview."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from ft_tui.planner.config import load_config
from ft_tui.templates.stats import DataStats, format_stats, percentile
from ft_tui.templates.trainset import compute_stats, preview_rows

LF_DIR = Path(__file__).parent / "data" / "lf"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def make_cfg(folder: Path, **keys):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(keys), encoding="utf-8")
    return load_config(path)


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert [percentile(values, q) for q in (50, 90, 99, 100)] == [50, 90, 99, 100]
    assert percentile([5], 99) == 5 and percentile([], 50) == 0
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 51) == 3


def test_stats_are_cached_by_file_content(tmp_path, tokenizer, template):
    data = tmp_path / "data"
    shutil.copytree(LF_DIR, data)
    cfg = make_cfg(tmp_path, dataset="alpaca_demo", dataset_dir="data", cutoff_len=64)
    first = compute_stats(cfg, tokenizer, template)
    assert not first.cached and first.rows == 10
    assert list((tmp_path / "cache" / "ft-tui" / "data-stats").glob("*.json"))
    second = compute_stats(cfg, tokenizer, template)
    assert second.cached and second.to_dict() | {"cached": False} == first.to_dict()

    assert not compute_stats(cfg.replace(cutoff_len=32), tokenizer, template).cached  # another cutoff
    rows = json.loads((data / "alpaca_demo.json").read_text())
    (data / "alpaca_demo.json").write_text(json.dumps(rows[:4]))  # same name, new content
    changed = compute_stats(cfg, tokenizer, template)
    assert not changed.cached and changed.rows == 4


def test_format_stats_mentions_the_numbers_a_user_checks(tmp_path, tokenizer, template):
    cfg = make_cfg(tmp_path, dataset="alpaca_demo,sharegpt_demo", dataset_dir=str(LF_DIR), cutoff_len=24,
                   val_size=2)
    stats = compute_stats(cfg, tokenizer, template, use_cache=False)
    text = format_stats(stats)
    assert f"{stats.rows} samples kept of 14 rows read" in text
    assert f"p99 {stats.p99}" in text and "cutoff_len 24:" in text and "% of samples are truncated" in text
    assert "eval: 2 sequences" in text and "turns do not alternate" in text
    assert DataStats.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats


def test_preview_segments_rebuild_the_templated_text(tmp_path, tokenizer, template):
    from ft_tui.templates.encode import encode_messages
    from ft_tui.templates.trainset import load_conversations

    cfg = make_cfg(tmp_path, dataset="alpaca_demo", dataset_dir=str(LF_DIR), cutoff_len=256)
    rows = preview_rows(cfg, tokenizer, template, n=3)
    assert len(rows) == 3
    conv = load_conversations(cfg).samples[0]
    enc = encode_messages(template, tokenizer, conv, 256, False)
    assert "".join(text for text, _ in rows[0]) == tokenizer.decode(list(enc.input_ids), skip_special_tokens=False)
    assert rows[0][0][1] is False and any(trained for _, trained in rows[0])
    trained_text = "".join(text for text, trained in rows[0] if trained)
    assert conv[-1]["content"] in trained_text and conv[0]["content"] not in trained_text


def test_preview_for_pretraining(tmp_path, tokenizer, template):
    cfg = make_cfg(tmp_path, dataset="c4_demo", dataset_dir=str(LF_DIR), stage="pt", cutoff_len=8)
    rows = preview_rows(cfg, tokenizer, template, n=2)
    assert len(rows) == 2 and all(seg[0][1] for seg in rows)
    first_text = json.loads((LF_DIR / "pretrain_demo.jsonl").read_text().splitlines()[0])["text"]
    ids = tokenizer(first_text, add_special_tokens=False)["input_ids"][:8]
    assert rows[0] == [(tokenizer.decode(ids), True)]
