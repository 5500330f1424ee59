"""Encoding: exact agreement with the public Jinja chat templates, exact label spans, truncation, batching."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ft_tui.planner.errors import DataError
from ft_tui.templates.encode import (
    IGNORE_INDEX,
    Encoded,
    _assemble,
    encode_batch,
    encode_messages,
    render_text,
)
from ft_tui.templates.registry import get_template, list_templates, resolve_template

FIXTURES = Path(__file__).parent / "fixtures"

#: fixture file -> (our template, bos, eos) as in the family's tokenizer_config.json
FAMILIES = {
    "chatml": ("chatml", None, "<|im_end|>"),
    "qwen2": ("qwen2", None, "<|im_end|>"),
    "qwen2.5": ("qwen", None, "<|im_end|>"),
    "qwen3": ("qwen3", None, "<|im_end|>"),
    "llama3": ("llama3", "<|begin_of_text|>", "<|eot_id|>"),
    "llama2": ("llama2", "<s>", "</s>"),
    "mistral": ("mistral", "<s>", "</s>"),
    "gemma": ("gemma", "<bos>", "<eos>"),
    "phi3": ("phi3", "<s>", "<|endoftext|>"),
    "phi4": ("phi4", None, "<|im_end|>"),
    "deepseek3": ("deepseek3", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "zephyr": ("zephyr", "<s>", "</s>"),
}
TOKENS_OF = {tpl: (bos, eos) for tpl, bos, eos in FAMILIES.values()} | {"qwen3_nothink": (None, "<|im_end|>")}

SYSTEM = {"role": "system", "content": "You are terse. Answer in one line."}
TURNS = [
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "What is 2+2?\nBe quick."},
    {"role": "assistant", "content": "Four.\n\nThat is all."},
]
PADDED = [  # whitespace that templates with `trim` remove
    {"role": "user", "content": "  spaced question  \n"},
    {"role": "assistant", "content": " spaced {braces} answer \n"},
]
CONVERSATIONS = {
    "multi_system": [SYSTEM, *TURNS],
    "multi": TURNS,
    "single_system": [SYSTEM, *TURNS[:2]],
    "single": TURNS[:2],
    "padded": PADDED,
}


def jinja(name: str) -> str:
    return (FIXTURES / f"{name}.jinja").read_text(encoding="utf-8").rstrip("\n")


@pytest.fixture(scope="module")
def family_tokenizer(make_tokenizer):
    cache: dict = {}

    def get(fixture: str | None = None, template: str | None = None, chat_template: str | None = None):
        name = template or FAMILIES[fixture][0]
        bos, eos = TOKENS_OF.get(name, ("<s>", "</s>"))
        key = (name, fixture, chat_template)
        if key not in cache:
            cache[key] = make_tokenizer(bos=bos, eos=eos,
                                        chat_template=jinja(fixture) if fixture else chat_template)
        return cache[key]

    return get


def label_runs(enc: Encoded) -> list[list[int]]:
    """Maximal runs of trained positions, as token id lists."""
    runs, cur = [], []
    for tid, lab in zip(enc.input_ids, enc.labels, strict=True):
        if lab != IGNORE_INDEX:
            assert lab == tid
            cur.append(tid)
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


def expected_replies(template, tokenizer, messages) -> list[str]:
    """Each reply as the template's `assistant` string says it is written (the content, then the stop token)."""
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    out = []
    for i, reply in enumerate(replies):
        if "assistant" in template.strip:
            reply = reply.strip()
        if template.thinking is not None and i == len(replies) - 1 and not template.thinking.in_prompt:
            reply = template.thinking.empty + reply
        text = template.assistant.replace("{content}", reply).replace("{eos}", tokenizer.eos_token)
        out.append(text.replace("{bos}", tokenizer.bos_token or ""))
    return out


# ------------------------------------------------------------------------------------------------ Jinja agreement

@pytest.mark.parametrize("conv", sorted(CONVERSATIONS))
@pytest.mark.parametrize("fixture", sorted(FAMILIES))
def test_rendering_and_ids_match_the_official_jinja_template(family_tokenizer, fixture, conv):
    tok = family_tokenizer(fixture)
    template = get_template(FAMILIES[fixture][0])
    messages = CONVERSATIONS[conv]
    reference = tok.apply_chat_template(messages, tokenize=False)
    assert render_text(template, messages, tok) == reference
    enc = encode_messages(template, tok, messages, cutoff_len=4096)
    assert enc.input_ids == tok(reference, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("fixture", ["chatml", "qwen2.5", "qwen3", "llama3", "gemma", "phi3", "phi4", "deepseek3",
                                     "zephyr"])
def test_generation_prompt_matches_the_official_template(family_tokenizer, fixture):
    tok = family_tokenizer(fixture)
    template = get_template(FAMILIES[fixture][0])
    messages = [SYSTEM, *TURNS[:3]]
    reference = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert render_text(template, messages, tok, add_generation_prompt=True) == reference


def test_qwen3_nothink_generation_prompt_matches_enable_thinking_false(family_tokenizer):
    tok = family_tokenizer("qwen3")
    messages = TURNS[:3]
    reference = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert render_text(get_template("qwen3_nothink"), messages, tok, add_generation_prompt=True) == reference
    # a full training conversation renders the same for both variants (only the label split differs)
    assert render_text(get_template("qwen3_nothink"), TURNS, tok) == tok.apply_chat_template(TURNS, tokenize=False)


def test_qwen3_reasoning_in_replies_follows_the_official_rules(family_tokenizer):
    tok = family_tokenizer("qwen3")
    messages = [
        {"role": "user", "content": "a?"},
        {"role": "assistant", "content": "<think>\nold reasoning\n</think>\n\nold answer"},
        {"role": "user", "content": "b?"},
        {"role": "assistant", "content": "<think>\n\nnew reasoning\n\n</think>\n\n\nnew answer"},
    ]
    for name in ("qwen3", "qwen3_nothink"):
        template = get_template(name)
        reference = tok.apply_chat_template(messages, tokenize=False)
        assert render_text(template, messages, tok) == reference
        enc = encode_messages(template, tok, messages, 4096)
        runs = [tok.decode(r, skip_special_tokens=False) for r in label_runs(enc)]
        assert runs == ["old answer<|im_end|>", "<think>\nnew reasoning\n</think>\n\nnew answer<|im_end|>"]


def test_qwen3_empty_think_block_is_trained_only_with_thinking_on(family_tokenizer):
    tok = family_tokenizer("qwen3")
    on = encode_messages(get_template("qwen3"), tok, TURNS[:2], 4096)
    off = encode_messages(get_template("qwen3_nothink"), tok, TURNS[:2], 4096)
    assert on.input_ids == off.input_ids
    assert tok.decode(label_runs(on)[-1]) == "<think>\n\n</think>\n\nHello! How can I help?<|im_end|>"
    assert tok.decode(label_runs(off)[-1]) == "Hello! How can I help?<|im_end|>"


# ------------------------------------------------------------------------------------------------ every template

@pytest.mark.parametrize("conv", ["multi_system", "multi", "padded"])
@pytest.mark.parametrize("name", list_templates())
def test_label_spans_are_exactly_the_replies_and_their_stop_tokens(family_tokenizer, name, conv):
    tok = family_tokenizer(template=name)
    template = get_template(name)
    messages = CONVERSATIONS[conv]
    enc = encode_messages(template, tok, messages, 4096)
    assert len(enc.input_ids) == len(enc.labels)
    runs = label_runs(enc)
    expected = expected_replies(template, tok, messages)
    assert [tok.decode(r, skip_special_tokens=False) for r in runs] == expected
    stop = tok.eos_token if template.stop_token == "{eos}" else template.stop_token
    stop_id = tok.convert_tokens_to_ids(stop)
    assert all(r[-1] == stop_id for r in runs), "every reply must end with its stop token, trained"


@pytest.mark.parametrize("name", [n for n in list_templates() if n != "empty"])
def test_segment_encoding_equals_tokenizing_the_rendered_text(family_tokenizer, name):
    # `empty` is excluded on purpose: it joins prompt and reply with nothing in between, so a word can straddle
    # the boundary ("Hi there" + "Hello" -> "thereHello") and the two tokenizations legitimately differ.
    tok = family_tokenizer(template=name)
    template = get_template(name)
    for messages in CONVERSATIONS.values():
        text = render_text(template, messages, tok)
        enc = encode_messages(template, tok, messages, 4096)
        assert enc.input_ids == tok(text, add_special_tokens=False)["input_ids"], (name, text)


def test_bos_appears_once_and_first(family_tokenizer):
    tok = family_tokenizer("llama3")
    enc = encode_messages(get_template("llama3"), tok, [SYSTEM, *TURNS], 4096)
    assert enc.input_ids[0] == tok.bos_token_id
    assert enc.input_ids.count(tok.bos_token_id) == 1


def test_train_on_prompt_trains_every_token(family_tokenizer):
    tok = family_tokenizer("chatml")
    enc = encode_messages(get_template("chatml"), tok, [SYSTEM, *TURNS], 4096, train_on_prompt=True)
    assert enc.labels == enc.input_ids


def test_default_template_uses_the_tokenizer_jinja_with_exact_labels(family_tokenizer):
    """`default` over a tokenizer's own template gives exactly what the matching built-in template gives."""
    for fixture in ("llama3", "phi3", "chatml", "gemma", "zephyr", "qwen3"):
        tok = family_tokenizer(fixture)
        for messages in (TURNS, [SYSTEM, *TURNS]):
            by_jinja = encode_messages(get_template("default"), tok, messages, 4096)
            by_builtin = encode_messages(get_template(FAMILIES[fixture][0]), tok, messages, 4096)
            assert by_jinja == by_builtin, fixture


def test_default_without_a_chat_template_uses_the_plain_format(family_tokenizer):
    tok = family_tokenizer(template="default")
    assert render_text(get_template("default"), TURNS[:2], tok) == "<s>User: Hi there\nAssistant: Hello! How can I help?</s>\n"


def test_detected_template_round_trip(family_tokenizer):
    tok = family_tokenizer("gemma")
    template, _ = resolve_template(None, tok)
    assert render_text(template, [SYSTEM, *TURNS], tok) == tok.apply_chat_template([SYSTEM, *TURNS], tokenize=False)


# ------------------------------------------------------------------------------------------------ truncation

@pytest.mark.parametrize("name", ["llama3", "chatml", "llama2", "qwen3", "phi3"])
def test_truncation_keeps_leading_turns_and_always_leaves_something_to_train(family_tokenizer, name):
    tok = family_tokenizer(template=name)
    template = get_template(name)
    messages = [SYSTEM, *TURNS]
    full = encode_messages(template, tok, messages, 4096)
    first_turn = encode_messages(template, tok, [SYSTEM, *TURNS[:2]], 4096)
    for cutoff in range(1, len(full.input_ids) + 2):
        enc = encode_messages(template, tok, messages, cutoff)
        assert enc is not None
        assert len(enc.input_ids) == len(enc.labels) <= cutoff
        assert any(lab != IGNORE_INDEX for lab in enc.labels)
        n = len(enc.input_ids)
        if cutoff >= len(full.input_ids):
            assert enc == full
        elif n >= len(first_turn.input_ids):  # the first turn is kept whole, then a prefix of the rest
            assert enc.input_ids == full.input_ids[:n]
            assert enc.labels == full.labels[:n]


def test_long_first_prompt_shares_the_budget():
    pairs = [(list(range(100)), [7, 8, 9, 10])]
    enc = _assemble(pairs, [], 20, False)
    assert len(enc.input_ids) == 20
    assert enc.labels[-1:] == [7] and enc.input_ids[:19] == list(range(19))
    # a second turn whose prompt does not fit is dropped whole, the first kept
    enc = _assemble([([1, 2], [3]), ([4] * 50, [5])], [9], 10, False)
    assert enc.input_ids == [1, 2, 3]


def test_nothing_trainable_gives_none():
    assert _assemble([([1, 2, 3], [])], [4], 10, False) is None
    assert _assemble([([1, 2, 3], [])], [4], 10, True) == Encoded([1, 2, 3, 4], [1, 2, 3, 4])


# ------------------------------------------------------------------------------------------------ errors and batch

@pytest.mark.parametrize(("messages", "fragment"), [
    ([], "non-empty list"),
    ([{"role": "assistant", "content": "x"}], "out of order"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "out of order"),
    ([{"role": "user", "content": "a"}], "ends with a user message"),
    ([{"role": "user", "content": 3}, {"role": "assistant", "content": "b"}], "string content"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "system", "content": "s"}],
     "out of order"),
])
def test_bad_conversations_raise_data_errors(family_tokenizer, messages, fragment):
    tok = family_tokenizer("chatml")
    with pytest.raises(DataError) as exc:
        encode_batch(get_template("chatml"), tok, [TURNS, messages], 128)
    assert "conversation 1" in str(exc.value) and fragment in str(exc.value)
    out = encode_batch(get_template("chatml"), tok, [TURNS, messages], 128, drop_invalid=True)
    assert out[0] is not None and out[1] is None


def test_batch_equals_one_by_one(family_tokenizer):
    tok = family_tokenizer("llama3")
    template = get_template("llama3")
    convs = [list(c) for c in CONVERSATIONS.values()] * 3
    assert encode_batch(template, tok, convs, 40) == [encode_messages(template, tok, c, 40) for c in convs]


def test_batch_is_fast(family_tokenizer):
    tok = family_tokenizer("qwen2.5")
    template = get_template("qwen")
    convs = [[{"role": "user", "content": f"Question number {i}: what is {i} plus {i}?"},
              {"role": "assistant", "content": f"The answer is {2 * i}."}] for i in range(10_000)]
    start = time.perf_counter()
    out = encode_batch(template, tok, convs, 512)
    elapsed = time.perf_counter() - start
    assert all(e is not None for e in out)
    assert elapsed < 10, f"10k rows took {elapsed:.1f}s (a per-row tokenizer call would be about 10x slower)"


# ------------------------------------------------------------------------------------------------ demo tokenizer

@pytest.fixture(scope="module")
def demo_tokenizer(tmp_path_factory):
    """The demo kit's tokenizer (plain GPT-2 byte-level pre-tokenizer, ChatML chat template) with every template's
    special tokens added."""
    from ft_tui.runner.demo_kit import build_tokenizer
    from ft_tui.templates.registry import all_templates

    extra = sorted({s for t in all_templates().values() for s in t.special_tokens})
    return build_tokenizer(tmp_path_factory.mktemp("demo-tok"), extra_special_tokens=extra)


def test_demo_tokenizer_is_detected_and_encodes_exactly(demo_tokenizer):
    tok = demo_tokenizer
    template, reason = resolve_template(None, tok, model_name="ft-tui-demo-tiny")
    assert template.name == "chatml", reason
    messages = [SYSTEM, *TURNS]
    assert render_text(template, messages, tok) == tok.apply_chat_template(messages, tokenize=False)
    assert encode_messages(get_template("default"), tok, messages, 4096) == encode_messages(template, tok,
                                                                                            messages, 4096)
    for name in list_templates():
        if name == "empty":
            continue
        enc = encode_messages(get_template(name), tok, messages, 4096)
        text = render_text(get_template(name), messages, tok)
        assert enc.input_ids == tok(text, add_special_tokens=False)["input_ids"], name


def test_missing_special_tokens_are_reported(demo_tokenizer, make_tokenizer, tmp_path):
    from ft_tui.templates.registry import missing_special_tokens

    assert missing_special_tokens(get_template("llama3"), demo_tokenizer) == []
    tok = make_tokenizer()
    assert missing_special_tokens(get_template("llama3"), tok) == []
    from ft_tui.runner.demo_kit import build_tokenizer

    plain = build_tokenizer(tmp_path / "plain")
    assert missing_special_tokens(get_template("llama3"), plain) == ["<|start_header_id|>", "<|end_header_id|>",
                                                                     "<|eot_id|>"]
    assert missing_special_tokens(get_template("chatml"), plain) == []


def test_default_over_an_unknown_jinja_template_trains_reply_and_eos(family_tokenizer):
    custom = ("{% for m in messages %}{{ '### ' + m['role'] + ':\\n' + m['content'] }}"
              "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
              "{% if add_generation_prompt %}{{ '### assistant:\\n' }}{% endif %}")
    tok = family_tokenizer(template="default", chat_template=custom)
    template, reason = resolve_template(None, tok)
    assert template.name == "default" and "matches no built-in" in reason
    messages = [SYSTEM, *TURNS]
    enc = encode_messages(template, tok, messages, 4096)
    text = tok.apply_chat_template(messages, tokenize=False)
    assert render_text(template, messages, tok) == text
    assert enc.input_ids == tok(text, add_special_tokens=False)["input_ids"]
    assert [tok.decode(r) for r in label_runs(enc)] == ["Hello! How can I help?</s>", "Four.\n\nThat is all.</s>"]


def test_render_without_a_tokenizer_uses_the_template_tokens():
    text = render_text(get_template("llama3"), TURNS[:2])
    assert text.startswith("<|begin_of_text|><|start_header_id|>user")
    assert render_text(get_template("mistral"), TURNS[:2]) == "<s>[INST] Hi there[/INST] Hello! How can I help?</s>"
