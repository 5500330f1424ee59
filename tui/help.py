"""Parameter help: loads ``tui/help/params.yaml`` (per config key, ``en`` and ``zh`` entries with ``title``,
``what``, ``memory``, ``speed``, ``quality``, ``typical``) and falls back to a line generated from the config schema
for keys that have no entry yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

import yaml
from ft_tui.planner.config import FIELDS, KEYS
from ft_tui.tui.i18n import label, value_words

LANGUAGES = ("en", "zh")
PARTS = ("what", "memory", "speed", "quality", "typical")


@dataclass(frozen=True)
class HelpEntry:
    """Help for one key in one language. ``generated`` is True for the schema fallback."""

    key: str
    lang: str
    title: str
    what: str
    memory: str = ""
    speed: str = ""
    quality: str = ""
    typical: str = ""
    generated: bool = False

    def parts(self) -> list[tuple[str, str]]:
        """(heading, text) pairs of the non-empty parts, headings in the entry's language."""
        return [(label(self.lang, f"help_part_{p}"), getattr(self, p)) for p in PARTS if getattr(self, p)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return " ".join(str(value).split())


@lru_cache(maxsize=1)
def load_help_file() -> dict[str, dict[str, HelpEntry]]:
    """Every entry of the bundled params.yaml: key -> lang -> HelpEntry. Missing file: {}."""
    try:
        text = (files("ft_tui.tui") / "help" / "params.yaml").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return {}
    raw = yaml.safe_load(text) or {}
    if isinstance(raw, dict) and isinstance(raw.get("params"), dict):
        raw = raw["params"]
    out: dict[str, dict[str, HelpEntry]] = {}
    for key, langs in (raw.items() if isinstance(raw, dict) else ()):
        if not isinstance(langs, dict):
            continue
        per: dict[str, HelpEntry] = {}
        for lang in LANGUAGES:
            entry = langs.get(lang)
            if isinstance(entry, dict):
                per[lang] = HelpEntry(key=str(key), lang=lang, title=_text(entry.get("title")) or str(key),
                                      **{p: _text(entry.get(p)) for p in PARTS})
        if per:
            out[str(key)] = per
    return out


def _schema_line(key: str, lang: str) -> str:
    meta = FIELDS[key].metadata
    default = FIELDS[key].default
    bits = []
    if meta["choices"]:
        bits.append(" | ".join(value_words(lang, key, "null") if c is None else str(c) for c in meta["choices"]))
    elif meta["kind"] in ("int", "float"):
        lo, hi = meta["min"], meta["max"]
        if lo is not None or hi is not None:
            bits.append(f"{'' if lo is None else lo} .. {'' if hi is None else hi}")
    shown = value_words(lang, key, "null") if default is None else str(default).lower() if isinstance(default, bool) \
        else str(default)
    if lang == "zh":
        return f"配置项 {key}（{meta['kind']}{'；' + bits[0] if bits else ''}；默认 {shown}）。"
    return f"Config key {key} ({meta['kind']}{'; ' + bits[0] if bits else ''}; default {shown})."


def help_for(key: str, lang: str = "en") -> HelpEntry:
    """The help entry for ``key`` in ``lang`` (English when that language has none; generated from the schema
    when the key has no entry at all)."""
    lang = lang if lang in LANGUAGES else "en"
    per = load_help_file().get(key, {})
    if lang in per:
        return per[lang]
    if "en" in per and lang != "en":
        return per["en"]
    if key not in FIELDS:
        return HelpEntry(key=key, lang=lang, title=key, what="", generated=True)
    return HelpEntry(key=key, lang=lang, title=key, what=_schema_line(key, lang), generated=True)


def missing_help(keys: tuple[str, ...] = KEYS) -> dict[str, list[str]]:
    """Keys without a written entry, per language (for the report and a test)."""
    have = load_help_file()
    return {lang: [k for k in keys if lang not in have.get(k, {})] for lang in LANGUAGES}


def default_language(env: dict[str, str] | None = None) -> str:
    """``zh`` when LC_ALL / LC_MESSAGES / LANG names a Chinese locale, else ``en``."""
    import os

    env = os.environ if env is None else env
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"
