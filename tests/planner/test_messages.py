"""The one message type and its catalog: every code in English and Chinese with the same placeholders, the Chinese
text really Chinese; a message is its English text and renders in Chinese from its code, through copies, pickles,
JSON and joins; every code the product names exists."""

from __future__ import annotations

import ast
import copy
import json
import pickle
import re
import string
from pathlib import Path

import pytest
from ft_tui.planner import messages
from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg, catalog, from_json, render, to_json

ROOT = Path(messages.__file__).resolve().parents[1]
PRODUCT = [p for pkg in ("planner", "templates", "runner", "tui") for p in sorted((ROOT / pkg).rglob("*.py"))]
#: Chinese characters or full-width punctuation.
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
#: Codes whose Chinese has no Chinese: separators, the pass-through of an error (it renders itself), and labels
#: that are names (GPU, LoRA, train.log, batch NxM).
SAME_IN_BOTH = {"join_line", "join_space", "hint_space", "error", "error_layout", "gpu_title", "plan_gpu",
                "log_title", "sec_LoRA", "summary_batch", "preview_sep"}
#: Codes whose English names the Chinese language in Chinese (the language switch).
NAMES_CHINESE = {"key_help.language", "cmd_language"}


def fields(text: str) -> list[tuple[str, str | None, str]]:
    return sorted((name, conv, spec) for _, name, spec, conv in string.Formatter().parse(text) if name is not None)


def test_every_code_has_english_and_chinese_with_the_same_placeholders():
    for code, texts in catalog().items():
        assert set(texts) == {"en", "zh"}, code
        assert fields(texts["en"]) == fields(texts["zh"]), code
        assert code in NAMES_CHINESE or not CJK.search(texts["en"]), f"{code}: the English text has Chinese in it"
        if code in SAME_IN_BOTH:
            continue
        assert CJK.search(texts["zh"]), f"{code}: the Chinese text has no Chinese in it"


def test_areas_do_not_define_a_code_twice():
    import importlib

    seen: dict[str, str] = {}
    for area in messages.AREAS:
        for code in importlib.import_module(f"ft_tui.planner.catalogs.{area}").CATALOG:
            assert code not in seen, f"{code} is in {seen.get(code)} and {area}"
            seen[code] = area
    assert len(seen) == len(catalog())


def _literal_codes() -> list[tuple[str, int, str]]:
    """Every ``Msg("code", ...)`` with a literal code in the product, with its file and line."""
    out = []
    for path in PRODUCT:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Msg"
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                out.append((str(path.relative_to(ROOT)), node.lineno, node.args[0].value))
    return out


def test_every_code_the_product_names_is_in_the_catalog():
    codes = _literal_codes()
    assert len(codes) > 200, len(codes)
    missing = [(f, line, code) for f, line, code in codes if code not in catalog()]
    assert not missing, missing


def test_a_message_is_its_english_text_and_renders_in_chinese():
    m = Msg("cutoff_p99", value=512, p99=480)
    assert isinstance(m, str) and m == "512: covers 99% of samples (p99 = 480 tokens), rounded up"
    assert (m.code, m.values) == ("cutoff_p99", {"value": 512, "p99": 480})
    assert render(m, "zh") == "512：覆盖 99% 的样本（p99 = 480 token），向上取整"
    assert render(m) == render(m, "en") == render(m, "fr") == m
    assert render("plain", "zh") == "plain" and render(None, "zh") == ""
    assert json.loads(json.dumps({"k": m})) == {"k": str(m)}


def test_values_that_are_messages_or_errors_render_in_the_same_language():
    nested = Msg("fit_cutoff", length=512, quant=Msg("with_quant", bits=4))
    assert nested == "a shorter cutoff_len: 512 and 4-bit quantization"
    assert render(nested, "zh") == "更短的 cutoff_len：512，并使用 4 位量化"
    error = InputError(Msg("lora_rank", value=0), key="lora_rank")
    wrapped = Msg("error", error=error)
    assert wrapped == "key 'lora_rank': must be a positive integer, got 0."
    assert render(wrapped, "zh") == "配置项 'lora_rank'：必须是正整数，当前为 0。"
    assert Msg("error", error=ValueError("odd")) == "ValueError: odd" == render(ValueError("odd"), "zh")


@pytest.mark.parametrize("sep, en, zh", [("list", "a, b", "a、b"), ("semicolon", "a; b", "a；b"),
                                         ("line", "a\nb", "a\nb"), ("space", "a b", "ab")])
def test_joins_use_each_languages_separator(sep, en, zh):
    joined = Msg.join(["a", "b"], sep)
    assert joined == en and render(joined, "zh") == zh


def test_messages_survive_copies_pickles_and_json():
    m = Msg.join([Msg("fit_cutoff", length=512, quant=Msg("with_quant", bits=4)), Msg("fit_qlora"), "plain"])
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m)), from_json(json.loads(json.dumps(to_json(m))))):
        assert isinstance(clone, Msg) and clone == m and render(clone, "zh") == render(m, "zh")


def test_from_json_of_a_code_that_is_gone_gives_the_english_text():
    assert from_json({"code": "no_such_code_anywhere", "values": {}}, "the text") == "the text"
    assert from_json({"code": "cutoff_p99", "values": {"value": 1}}, "the text") == "the text"  # a value is missing
    assert from_json("plain") == "plain" and from_json(3) == 3


def test_an_error_travels_as_json_with_its_codes():
    """How the runner sends an error to the TUI (an event's code and values): it renders there as it would here."""
    error = InputError(Msg("lora_rank", value=0), key="lora_rank", file="cfg.yaml", line=3, hint=Msg("hint_gated"))
    back = from_json(json.loads(json.dumps(to_json(error))))
    assert isinstance(back, Msg) and back == error.render() == str(error)
    assert render(back, "zh") == error.render("zh") == (
        "cfg.yaml:3，配置项 'lora_rank'：必须是正整数，当前为 0。" + render(Msg("hint_gated"), "zh"))
    assert from_json(to_json(RuntimeError("boom"))) == "RuntimeError: boom"
