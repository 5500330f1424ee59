"""Warnings a user must see about the chosen template before training."""

from __future__ import annotations

from ft_tui.templates.registry import get_template, template_warnings


def test_chat_template_on_a_base_model_warns(make_tokenizer):
    tok = make_tokenizer()  # no chat template: looks like a base model
    warnings = template_warnings(get_template("chatml"), tok, "meta-llama/Meta-Llama-3-8B")
    assert len(warnings) == 1 and "base model" in warnings[0] and "template: default or empty" in warnings[0]


def test_instruct_model_with_its_template_is_quiet(make_tokenizer):
    tok = make_tokenizer()
    assert template_warnings(get_template("llama3"), tok, "meta-llama/Meta-Llama-3-8B-Instruct") == []


def test_template_tokens_missing_from_the_tokenizer_warn(make_tokenizer, monkeypatch):
    tok = make_tokenizer(chat_template="{{ messages }}")
    vocab = {k: v for k, v in tok.get_vocab().items() if k != "<|im_end|>"}
    monkeypatch.setattr(tok, "get_vocab", lambda: vocab)
    warnings = template_warnings(get_template("chatml"), tok, "Qwen/Qwen2.5-7B-Instruct")
    assert any("<|im_end|>" in w and "single tokens" in w for w in warnings)
