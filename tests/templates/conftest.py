"""Generic fixtures for the templates/data tests: a tiny local fast tokenizer factory (no hub access)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: Llama-3 / Qwen2 pre-tokenizer pattern: newlines group with preceding whitespace, as real chat tokenizers do.
SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

#: bos/eos strings of the model families the tests imitate, plus every built-in template's special tokens.
FAMILY_TOKENS = ["<s>", "</s>", "<pad>", "<|begin_of_text|>", "<|eot_id|>", "<bos>", "<eos>", "<|endoftext|>",
                 "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"]

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello! How can I help you today?\n\nI would like to know the capital of France.",
    "The capital of France is Paris. It is known for the Eiffel Tower.",
    "You are a helpful assistant. Answer briefly and politely.",
    "What is two plus two?\nTwo plus two is four.\n\nThanks a lot!",
    "system\nuser\nassistant\nmodel\nUSER: ASSISTANT: ### Instruction:\n\n### Response:\n",
    "Write a haiku about autumn leaves falling in the quiet wind.",
    "Sure, here is a short answer: yes. { braces } and [brackets] too.",
]


def _special_tokens() -> list[str]:
    from ft_tui.templates.registry import all_templates

    tokens = list(FAMILY_TOKENS)
    for t in all_templates().values():
        tokens += [s for s in t.special_tokens if s not in tokens]
    return list(dict.fromkeys(tokens))


@pytest.fixture(scope="session")
def tiny_tokenizer_json() -> str:
    """A byte-level BPE tokenizer (serialized) knowing every special token the built-in templates use."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, min_frequency=1, special_tokens=_special_tokens(),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    return tok.to_str()


@pytest.fixture(scope="session")
def make_tokenizer(tiny_tokenizer_json):
    """Factory: ``make_tokenizer(bos="<s>", eos="</s>", chat_template=None)`` -> a PreTrainedTokenizerFast.

    ``bos=None`` gives a tokenizer without a bos token (like Qwen's). All special tokens are known to the vocab.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    specials = _special_tokens()

    def make(*, bos: str | None = "<s>", eos: str = "</s>", chat_template: str | None = None):
        kwargs = {"bos_token": bos} if bos is not None else {}
        extra = [s for s in specials if s not in (bos, eos, "<pad>")]
        return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tiny_tokenizer_json), eos_token=eos,
                                       pad_token="<pad>", additional_special_tokens=extra,
                                       chat_template=chat_template, clean_up_tokenization_spaces=False, **kwargs)

    return make


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    """The demo kit's tokenizer (byte-level BPE with a ChatML chat template), built once."""
    from ft_tui.runner.demo_kit import build_tokenizer

    return build_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="session")
def template(tokenizer):
    """The template detected from that tokenizer (chatml)."""
    from ft_tui.templates.registry import resolve_template

    return resolve_template(None, tokenizer, "demo", "llama")[0]
