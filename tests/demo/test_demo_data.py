"""The bundled demo datasets: registry, files, shapes, row counts, correctness and reproducibility."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from ft_tui.runner.demo_kit import demo_dataset_dir

DATA = demo_dataset_dir()
GENERATOR = Path(__file__).resolve().parents[2] / "bench" / "tools" / "make_demo_data.py"
MIN_ROWS = {"demo_alpaca_en": 300, "demo_alpaca_zh": 300, "demo_sharegpt": 60, "demo_pretrain": 200}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _info() -> dict:
    return json.loads((DATA / "dataset_info.json").read_text(encoding="utf-8"))


def _rows(name: str) -> list[dict]:
    path = DATA / _info()[name]["file_name"]
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def test_registry_names_and_files():
    info = _info()
    assert set(info) == set(MIN_ROWS)
    for name, entry in info.items():
        assert (DATA / entry["file_name"]).is_file(), name
        assert entry.get("formatting", "alpaca") in {"alpaca", "sharegpt"}
    assert info["demo_pretrain"]["columns"] == {"prompt": "text"}
    assert info["demo_sharegpt"]["tags"] == {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                                             "assistant_tag": "gpt", "system_tag": "system"}


@pytest.mark.parametrize("name", sorted(MIN_ROWS))
def test_row_counts_and_declared_columns(name):
    entry, rows = _info()[name], _rows(name)
    assert len(rows) >= MIN_ROWS[name]
    required = [col for key, col in entry["columns"].items() if key != "system"]
    for i, row in enumerate(rows):
        for col in required:
            assert col in row, f"{name} row {i} lacks {col!r}"


@pytest.mark.parametrize("name,chinese", [("demo_alpaca_en", False), ("demo_alpaca_zh", True)])
def test_alpaca_rows_are_varied(name, chinese):
    rows = _rows(name)
    for row in rows:
        assert set(row) == {"instruction", "input", "output"}
        assert all(isinstance(v, str) for v in row.values())
        assert row["instruction"].strip() and row["output"].strip()
    with_input = sum(bool(r["input"]) for r in rows)
    assert 0.2 * len(rows) < with_input < 0.8 * len(rows)
    lengths = sorted(len(r["output"]) for r in rows)
    assert lengths[0] <= 5 and lengths[-1] >= (40 if chinese else 100)
    assert sum(bool(CJK.search(r["output"])) for r in rows) > (0.5 if chinese else -1) * len(rows)
    if not chinese:
        assert not any(CJK.search(r["instruction"]) for r in rows)
    assert len({(r["instruction"], r["input"]) for r in rows}) == len(rows)


def test_generated_answers_are_correct():
    rows = _rows("demo_alpaca_en")
    checked = 0
    ops = {"plus": lambda a, b: a + b, "minus": lambda a, b: a - b, "times": lambda a, b: a * b}
    for row in rows:
        m = re.fullmatch(r"What is (\d+) (plus|minus|times) (\d+)\?", row["instruction"])
        if m:
            assert int(row["output"]) == ops[m[2]](int(m[1]), int(m[3]))
            checked += 1
        if row["instruction"] == "Reverse the letters of the word.":
            assert row["output"] == row["input"][::-1]
            checked += 1
        if row["instruction"] == "Sort these words in alphabetical order.":
            assert row["output"] == ", ".join(sorted(row["input"].split(", ")))
            checked += 1
    assert checked >= 30
    for row in _rows("demo_alpaca_zh"):
        m = re.fullmatch(r"(\d+)(加|减|乘以)(\d+)等于多少？", row["instruction"])
        if m:
            a, b = int(m[1]), int(m[3])
            assert int(row["output"]) == {"加": a + b, "减": a - b, "乘以": a * b}[m[2]]


def test_sharegpt_conversations():
    rows = _rows("demo_sharegpt")
    with_system = 0
    for i, row in enumerate(rows):
        turns = row["conversations"]
        assert 4 <= len(turns) <= 8 and len(turns) % 2 == 0, i
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2), i
        assert all(isinstance(t["value"], str) and t["value"] for t in turns), i
        if "system" in row:
            assert row["system"].strip()
            with_system += 1
    assert 0 < with_system < len(rows)
    assert {len(r["conversations"]) // 2 for r in rows} >= {2, 3, 4}


def test_pretrain_lines():
    rows = _rows("demo_pretrain")
    assert all(set(r) == {"text"} and len(r["text"]) > 10 for r in rows)
    assert any(CJK.search(r["text"]) for r in rows)


def test_files_are_reproducible_from_the_generator():
    spec = importlib.util.spec_from_file_location("make_demo_data", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.render_all().items():
        assert (DATA / name).read_text(encoding="utf-8") == text, f"{name} differs; rerun {GENERATOR.name}"


def test_tiny_model_learns_the_demo_data(demo_kit):
    """A short run on the English demo set lowers the loss clearly (the data is learnable)."""
    import torch
    from ft_tui.runner.demo_kit import load_demo_kit

    model, tok = load_demo_kit(demo_kit)
    texts = [tok.apply_chat_template([{"role": "user", "content": (r["instruction"] + "\n" + r["input"]).strip()},
                                      {"role": "assistant", "content": r["output"]}], tokenize=False)
             for r in _rows("demo_alpaca_en")[:128]]
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for step in range(40):
        batch = tok(texts[(step * 8) % 128:(step * 8) % 128 + 8], padding=True, truncation=True, max_length=96,
                    return_tensors="pt")
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    print(f"demo loss: first {first:.2f} -> last {last:.2f}")
    assert last < 0.6 * first, (first, last)
