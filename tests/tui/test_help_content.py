"""The bundled parameter help (``tui/help/params.yaml``): coverage, both languages, and sizes that fit the panel.

Reads the YAML directly (no Textual, no torch) so it runs in milliseconds.
"""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
import yaml
from ft_tui.planner.config import FIELDS, KEYS
from ft_tui.planner.lf_keys import LLAMAFACTORY_IGNORED

LANGS = ("en", "zh")
FIELDS_REQUIRED = ("title", "what", "memory", "speed", "quality", "typical")
#: Entries that are settings of the setup screen rather than config keys.
UI_ONLY = frozenset({"gpu", "gpus", "lang"})
#: LLaMA-Factory options the Chinese guide and LLaMA-Factory's panel explain that ft-tui does not have; each must
#: have its own entry saying what ft-tui does instead.
REQUIRED_LLAMAFACTORY = ("neftune_noise_alpha", "use_dora", "use_rslora", "use_unsloth", "pure_bf16", "deepspeed")
#: Longest text per field, in characters after whitespace is collapsed (as the loader does). Chinese carries about
#: twice the information per character and takes two terminal cells per character, hence the lower bounds.
MAX_CHARS = {
    "en": {"title": 40, "what": 250, "memory": 200, "speed": 200, "quality": 200, "typical": 200},
    "zh": {"title": 30, "what": 150, "memory": 120, "speed": 120, "quality": 120, "typical": 120},
}
CJK = re.compile(r"[\u4e00-\u9fff]")
# Leftovers that show an entry was never written: placeholders and copy-paste markers.
PLACEHOLDER = re.compile(r"\b(TODO|TBD|FIXME|XXX|lorem)\b|\.\.\.$", re.I)


def _collapse(value: object) -> str:
    return " ".join(str(value).split())


@pytest.fixture(scope="module")
def help_data() -> dict:
    text = (files("ft_tui.tui") / "help" / "params.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict), "params.yaml must be a mapping of key -> {en, zh}"
    return data


def _entries(data: dict):
    for key, langs in data.items():
        for lang in LANGS:
            yield key, lang, langs[lang]


def test_every_config_key_has_both_languages_with_all_fields(help_data):
    missing = []
    for key in KEYS:
        entry = help_data.get(key)
        if not isinstance(entry, dict):
            missing.append(f"{key}: no entry")
            continue
        for lang in LANGS:
            part = entry.get(lang)
            if not isinstance(part, dict):
                missing.append(f"{key}.{lang}: missing")
                continue
            missing += [f"{key}.{lang}.{f}" for f in FIELDS_REQUIRED if not _collapse(part.get(f) or "")]
    assert not missing, "help entries missing or empty: " + ", ".join(missing)


def test_every_entry_is_complete_and_has_no_stray_fields(help_data):
    problems = []
    for key, langs in help_data.items():
        if not isinstance(langs, dict) or set(langs) != set(LANGS):
            problems.append(f"{key}: must have exactly the languages {LANGS}, has {sorted(langs or {})}")
            continue
        for lang in LANGS:
            part = langs[lang]
            if not isinstance(part, dict) or set(part) != set(FIELDS_REQUIRED):
                problems.append(f"{key}.{lang}: fields must be {FIELDS_REQUIRED}, got {sorted(part or {})}")
            elif any(not isinstance(v, str) or not v.strip() for v in part.values()):
                problems.append(f"{key}.{lang}: every field must be non-empty text")
    assert not problems, "\n".join(problems)


def test_no_entry_for_an_unknown_name(help_data):
    allowed = set(KEYS) | UI_ONLY | set(LLAMAFACTORY_IGNORED)
    unknown = sorted(set(help_data) - allowed)
    assert not unknown, (f"help entries for names that are neither config keys, UI-only settings {sorted(UI_ONLY)} "
                         f"nor LLAMAFACTORY_IGNORED keys: {unknown}")


def test_llamafactory_only_options_are_explained(help_data):
    for name in REQUIRED_LLAMAFACTORY:
        assert name in LLAMAFACTORY_IGNORED, f"{name} is expected to be a LLaMA-Factory key ft-tui ignores"
        assert name in help_data, f"no help entry for LLaMA-Factory's {name}"
    # An entry for an option ft-tui ignores must say so, so nobody expects it to work.
    for name in set(help_data) & set(LLAMAFACTORY_IGNORED):
        en, zh = help_data[name]["en"], help_data[name]["zh"]
        assert "LLaMA-Factory" in en["title"] and "LLaMA-Factory" in zh["title"], name
        assert re.search(r"not (supported|used)|ignored", en["what"], re.I), f"{name}.en.what must say ft-tui ignores it"
        assert re.search(r"不支持|不使用|忽略", zh["what"]), f"{name}.zh.what must say ft-tui ignores it"
        assert re.search(r"ft-tui", en["typical"]) and re.search(r"ft-tui", zh["typical"]), \
            f"{name}.typical must say what to do in ft-tui instead"


def test_chinese_text_is_chinese_and_english_text_is_not(help_data):
    problems = []
    for key, lang, part in _entries(help_data):
        for name in FIELDS_REQUIRED:
            text = _collapse(part[name])
            has_cjk = bool(CJK.search(text))
            if lang == "zh" and not has_cjk:
                problems.append(f"{key}.zh.{name} has no Chinese characters: {text!r}")
            if lang == "en" and has_cjk:
                problems.append(f"{key}.en.{name} contains Chinese characters: {text!r}")
    assert not problems, "\n".join(problems)


def test_no_field_is_too_long_for_the_side_panel(help_data):
    too_long = []
    for key, lang, part in _entries(help_data):
        for name, limit in MAX_CHARS[lang].items():
            text = _collapse(part[name])
            if len(text) > limit:
                too_long.append(f"{key}.{lang}.{name}: {len(text)} > {limit}")
    assert not too_long, "\n".join(too_long)


def test_no_placeholder_text(help_data):
    found = [f"{key}.{lang}.{name}" for key, lang, part in _entries(help_data) for name in FIELDS_REQUIRED
             if PLACEHOLDER.search(_collapse(part[name]))]
    assert not found, "placeholder text in: " + ", ".join(found)


def test_choice_keys_name_their_choices_in_english(help_data):
    """The help of a choice key names every non-empty choice, so the panel is a full reference for the field."""
    missing = []
    for key in KEYS:
        choices = FIELDS[key].metadata["choices"]
        if not choices:
            continue
        text = " ".join(_collapse(v) for v in help_data[key]["en"].values())
        missing += [f"{key}: {c}" for c in choices if c is not None and str(c) not in text]
    assert not missing, "choices not mentioned in the help: " + ", ".join(missing)
