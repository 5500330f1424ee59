"""prepare_datasets: encoding, dropping, val_size splits, pt blocks and sft packing (tiny local tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ft_tui.planner.config import load_config
from ft_tui.planner.errors import DataError

LF_DIR = Path(__file__).parent / "data" / "lf"
IGNORE = -100


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def make_cfg(folder: Path, **keys):
    folder.mkdir(parents=True, exist_ok=True)
    keys.setdefault("dataset_dir", str(LF_DIR))
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(keys), encoding="utf-8")
    return load_config(path)


def col(ds, name):
    """A column as a plain list (datasets 5 returns a lazy Column object)."""
    return [list(x) if isinstance(x, (list, tuple)) else x for x in ds[name]]


def prepare(cfg, tokenizer, template):
    from ft_tui.templates.trainset import prepare_datasets

    return prepare_datasets(cfg, tokenizer, template)


def test_sft_rows_become_masked_token_sequences(tmp_path, tokenizer, template):
    from ft_tui.templates.encode import encode_messages

    cfg = make_cfg(tmp_path, dataset="alpaca_demo,openai_demo", cutoff_len=256)
    out = prepare(cfg, tokenizer, template)
    assert out.eval is None and len(out.train) == 15
    assert set(out.train.column_names) == {"input_ids", "labels", "length"}
    row = out.train[0]
    assert len(row["input_ids"]) == len(row["labels"]) == row["length"]
    assert row["labels"][0] == IGNORE and any(x != IGNORE for x in row["labels"])  # prompt masked, reply trained
    from ft_tui.templates.trainset import load_conversations

    direct = encode_messages(template, tokenizer, load_conversations(cfg).samples[0], 256, False)
    assert row["input_ids"] == list(direct.input_ids) and row["labels"] == list(direct.labels)
    s = out.stats
    assert s.rows == 15 and s.train_sequences == 15 and s.truncated_share == 0
    assert s.total_tokens == sum(col(out.train, "length"))
    assert s.trainable_tokens == sum(sum(1 for x in lab if x != IGNORE) for lab in col(out.train, "labels"))


def test_val_size_fraction_and_count_are_deterministic(tmp_path, tokenizer, template):
    cfg = make_cfg(tmp_path, dataset="alpaca_demo", cutoff_len=256, val_size=0.2, seed=7)
    a = prepare(cfg, tokenizer, template)
    b = prepare(cfg, tokenizer, template)
    assert len(a.train) == 8 and len(a.eval) == 2
    assert col(a.eval, "input_ids") == col(b.eval, "input_ids")
    assert col(a.train, "input_ids") == col(b.train, "input_ids")
    full = col(prepare(cfg.replace(val_size=0), tokenizer, template).train, "input_ids")
    assert sorted(map(tuple, col(a.train, "input_ids") + col(a.eval, "input_ids"))) == sorted(map(tuple, full))
    counted = prepare(cfg.replace(val_size=3), tokenizer, template)
    assert len(counted.train) == 7 and len(counted.eval) == 3 and counted.stats.eval_sequences == 3
    other_seeds = [col(prepare(cfg.replace(seed=s), tokenizer, template).eval, "input_ids") for s in range(3)]
    assert any(e != col(a.eval, "input_ids") for e in other_seeds)  # the seed decides the split


def test_val_size_that_leaves_nothing_to_train(tmp_path, tokenizer, template):
    cfg = make_cfg(tmp_path, dataset="alpaca_demo", cutoff_len=256, val_size=10)
    with pytest.raises(DataError, match="val_size=10 takes 10 of the 10"):
        prepare(cfg, tokenizer, template)


def test_pretraining_packs_texts_into_cutoff_blocks(tmp_path, tokenizer, template):
    cfg = make_cfg(tmp_path, dataset="c4_demo", stage="pt", cutoff_len=16)
    out = prepare(cfg, tokenizer, template)
    texts = [json.loads(line)["text"] for line in (LF_DIR / "pretrain_demo.jsonl").read_text().splitlines()]
    n_tokens = sum(len(ids) + 2 for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])  # bos, eos
    assert len(out.train) == n_tokens // 16 > 1
    assert set(col(out.train, "length")) == {16}
    assert col(out.train, "labels") == col(out.train, "input_ids")
    flat = [t for block in col(out.train, "input_ids") for t in block]
    assert flat.count(tokenizer.eos_token_id) >= len(texts) - 1  # texts are joined with eos
    assert out.stats.packed and out.stats.train_sequences == n_tokens // 16 and out.stats.max_seq_len == 16
    assert out.stats.rows == len(texts) and out.stats.total_tokens == 16 * (n_tokens // 16)


def test_pretraining_blocks_are_bos_text_eos_cut_exactly(tmp_path, make_tokenizer):
    """Stage pt through the path the trainer takes: bos + text + eos per text (bos only when the tokenizer has
    one), concatenated and cut into cutoff_len blocks, the remainder dropped with a warning; text shorter than one
    block is kept as one short block (with a warning) rather than leaving nothing to train."""
    texts = ["Hello there.", "The quick brown fox.", "Paris is the capital of France."]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    tok = make_tokenizer(bos="<s>", eos="</s>")
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    flat = [x for seq in ids for x in [tok.bos_token_id, *seq, tok.eos_token_id]]
    cfg = make_cfg(tmp_path, dataset="texts.txt", stage="pt", cutoff_len=5)
    out = prepare(cfg, tok, None)
    blocks = col(out.train, "input_ids")
    assert blocks == [flat[i:i + 5] for i in range(0, len(flat) - 4, 5)] and len(blocks) == len(flat) // 5
    assert col(out.train, "labels") == blocks
    assert out.stats.rows == 3 and out.stats.total_tokens == 5 * (len(flat) // 5)
    if len(flat) % 5:
        assert f"the last {len(flat) % 5} tokens (less than one block) are dropped" in out.stats.warnings
    one = prepare(cfg.replace(cutoff_len=10_000), tok, None)
    assert col(one.train, "input_ids") == [flat]
    assert (f"all text is {len(flat)} tokens, less than one cutoff_len=10000 block; training on one shorter block"
            in one.stats.warnings)
    no_bos = make_tokenizer(bos=None, eos="</s>")
    plain = col(prepare(cfg.replace(cutoff_len=4), no_bos, None).train, "input_ids")
    assert plain and all(len(b) == 4 for b in plain)
    assert no_bos.convert_tokens_to_ids("<s>") not in [x for b in plain for x in b]


def test_sft_packing_fits_cutoff_and_keeps_every_token(tmp_path, tokenizer, template):
    cfg = make_cfg(tmp_path, dataset="alpaca_demo,openai_demo,alpaca_full", cutoff_len=128)
    plain = prepare(cfg, tokenizer, template)
    packed = prepare(cfg.replace(packing=True), tokenizer, template)
    assert len(packed.train) < len(plain.train)
    assert max(col(packed.train, "length")) <= 128
    assert sum(col(packed.train, "length")) == sum(col(plain.train, "length"))
    assert packed.stats.trainable_tokens == plain.stats.trainable_tokens
    assert packed.stats.packed and packed.stats.train_sequences == len(packed.train)
    assert packed.stats.max_seq_len == max(col(packed.train, "length")) > plain.stats.max_seq_len
    assert plain.stats.max_seq_len == max(col(plain.train, "length"))


def test_rows_longer_than_cutoff_are_truncated_not_dropped(tmp_path, tokenizer, template):
    rows = [{"instruction": "word " * 200, "input": "", "output": "ok " * 50} for _ in range(12)]
    (tmp_path / "long.json").write_text(json.dumps(rows))
    out = prepare(make_cfg(tmp_path, dataset="long.json", cutoff_len=64), tokenizer, template)
    assert col(out.train, "length") == [64] * 12
    assert all(any(x != IGNORE for x in lab) for lab in col(out.train, "labels"))
    assert out.stats.truncated_share == 1.0 and out.stats.p50 > 64


def test_rows_with_nothing_left_after_truncation_are_counted_and_explained(tmp_path, tokenizer, template,
                                                                           monkeypatch):
    """An encoder may leave nothing trainable once a row is cut to cutoff_len: the rows are dropped and counted."""
    import ft_tui.templates.encode as encode

    real = encode.encode_batch

    def prompt_eats_budget(template, tokenizer, convs, cutoff_len, train_on_prompt=False, **kw):
        return [None if e is not None and cutoff_len < 1000 else e
                for e in real(template, tokenizer, convs, cutoff_len, train_on_prompt, **kw)]

    monkeypatch.setattr(encode, "encode_batch", prompt_eats_budget)
    rows = [{"instruction": "word " * 200, "input": "", "output": "ok"} for _ in range(12)]
    (tmp_path / "long.json").write_text(json.dumps(rows))
    with pytest.raises(DataError) as err:
        prepare(make_cfg(tmp_path, dataset="long.json", cutoff_len=64), tokenizer, template)
    msg = err.value.render()
    assert "all 12 rows were dropped" in msg and "longer than cutoff_len=64" in msg and "raise cutoff_len" in msg


def test_truncation_is_counted_from_full_lengths(tmp_path, tokenizer, template):
    from ft_tui.templates.encode import encode_messages
    from ft_tui.templates.trainset import load_conversations

    cfg = make_cfg(tmp_path, dataset="alpaca_full,sharegpt_demo,alpaca_demo", cutoff_len=40)
    out = prepare(cfg, tokenizer, template)
    full = sorted(len(encode_messages(template, tokenizer, c, 100_000, False).input_ids)
                  for c in load_conversations(cfg).samples)
    s = out.stats
    assert s.max_len == full[-1] > 40  # the untruncated length, not the cutoff
    assert s.truncated_share == round(sum(n > 40 for n in full) / len(full), 4) > 0
    assert max(col(out.train, "length")) <= 40
    assert s.dropped_reasons["turns do not alternate user/assistant"] == 1
