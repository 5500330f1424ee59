"""The demo tokenizer: round trips, special tokens, chat templates, determinism."""

from __future__ import annotations

import pytest
from ft_tui.runner import demo_kit as dk

TEXTS = [
    "The capital of France is Paris. 12 + 30 = 42.",
    "中国的首都是北京。一公里等于一千米。",
    "Mixed 混合 text with emoji 🚀 and tabs\tand\nnew lines  (two spaces).",
    "def add(a, b):\n    return a + b\n",
]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip(demo_tokenizer, text):
    ids = demo_tokenizer.encode(text, add_special_tokens=False)
    assert demo_tokenizer.decode(ids) == text
    assert demo_tokenizer.unk_token_id not in ids


def test_bpe_merges_make_text_shorter_than_bytes(demo_tokenizer):
    for text in TEXTS[:2]:
        assert len(demo_tokenizer.encode(text)) < 0.6 * len(text.encode("utf-8"))


def test_special_tokens(demo_tokenizer):
    tok = demo_tokenizer
    assert len(tok) == dk.DEFAULT_VOCAB_SIZE
    assert (tok.pad_token, tok.bos_token, tok.eos_token, tok.unk_token) == ("<pad>", "<s>", "</s>", "<unk>")
    assert tok.pad_token_id == 0
    for special in ("<|im_start|>", "<|im_end|>", "</s>"):
        ids = tok.encode(f"a{special}b", add_special_tokens=False)
        assert tok.convert_tokens_to_ids(special) in ids
        assert len(ids) == 3
    assert tok.encode("hi")[0] != tok.bos_token_id  # no bos by default (as ChatML tokenizers)


def test_default_chat_template_is_chatml(demo_tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "你好"},
                {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}]
    text = demo_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n"
                    "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                    "<|im_start|>assistant\n")


LLAMA3_LIKE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def test_extra_special_tokens_and_custom_template(tmp_path):
    from transformers import AutoTokenizer

    extra = ["<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]
    dk.build_tokenizer(tmp_path, extra_special_tokens=extra, chat_template=LLAMA3_LIKE, add_bos_token=True)
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    ids = [tok.convert_tokens_to_ids(t) for t in extra]
    assert len(set(ids)) == 3 and tok.unk_token_id not in ids
    assert tok.encode("hi")[0] == tok.bos_token_id
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text == ("<s><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n")
    encoded = tok.encode(text, add_special_tokens=False)
    assert encoded.count(ids[0]) == 1 and encoded.count(ids[1]) == 2


def test_tokenizer_is_deterministic(tmp_path):
    dk.build_tokenizer(tmp_path / "a", vocab_size=400)
    dk.build_tokenizer(tmp_path / "b", vocab_size=400, seed=7)
    dk.build_tokenizer(tmp_path / "c", vocab_size=400, corpus=["just a tiny corpus of words"] * 3)
    a, b, c = ((tmp_path / n / "tokenizer.json").read_bytes() for n in "abc")
    assert a == b
    assert a != c
