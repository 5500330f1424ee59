"""User-facing messages in English and Chinese: one type, one catalog shape, one render function.

A :class:`Msg` is a ``str`` of its English text (so the CLI, JSON output, logs and tests see plain English,
unchanged), that also keeps its message ``code`` and ``values``, so :func:`render` can say it in another language.
Every message ft-tui shows (errors, warnings, planner reasons, data notes, the runner's events) is made where it
arises as ``Msg(code, **values)``; nothing is ever matched back from English text.

The catalog is one mapping, code -> ``{"en": template, "zh": template}`` with ``str.format`` ``{placeholders}``,
kept by area in the modules of :mod:`ft_tui.planner.catalogs` (:data:`AREAS`) and merged once by :func:`catalog`
(a code is unique across areas). Key names, values, paths and ids stay as they are inside the Chinese text.

No torch, no textual, nothing of ours: every layer imports this module.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

#: The catalog's areas, one module each under ``ft_tui.planner.catalogs``.
AREAS = ("common", "config", "reasons", "models", "fit", "planner", "data", "runner", "tui", "history")

#: Join codes: a message that joins several texts (``Msg.join``); the code's template is the separator.
JOIN_PREFIX = "join_"
#: The code of an error's layout (``InputError.as_msg``): where it is, what is wrong, how to fix it.
ERROR_LAYOUT = "error_layout"
#: What ends a sentence, by language: no stop is added before an error's hint after one of these.
_STOPS = {"en": (".", "!", "?", ":", ";"), "zh": ("。", "！", "？", "：", "；", ".", "!", "?")}


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, str]]:
    """Every message by code, merged from the areas' modules (read once)."""
    merged: dict[str, dict[str, str]] = {}
    for area in AREAS:
        part = importlib.import_module(f"ft_tui.planner.catalogs.{area}").CATALOG
        clash = merged.keys() & part.keys()
        if clash:
            raise RuntimeError(f"message codes defined twice (catalog area {area!r}): {sorted(clash)}")
        merged.update(part)
    return merged


def template(code: str, lang: str | None = "en") -> str:
    """The catalog's text of ``code`` in ``lang`` (English when ``lang`` is None or the catalog lacks it)."""
    texts = catalog()[code]
    return texts[lang] if lang in texts else texts["en"]


class Msg(str):
    """A message: its English text as a ``str``, plus the ``code`` and ``values`` to say it in another language.

    ``Msg(code, **values)`` formats the catalog's English template; a value that is itself a message (or an error)
    is rendered in the same language as the message around it. ``Msg.join(items, sep)`` joins several texts."""

    code: str
    values: dict[str, Any]

    def __new__(cls, code: str, /, **values: Any) -> Msg:
        obj = super().__new__(cls, _format(code, values, "en"))
        obj.code, obj.values = code, values
        return obj

    @classmethod
    def join(cls, items: Iterable[Any], sep: str = "semicolon") -> Msg:
        """``items`` joined with the separator ``sep`` (``list``, ``semicolon``, ``line``, ``space``) of each
        language; every item keeps rendering in the language of the whole (``str.join`` would lose the codes)."""
        return cls(JOIN_PREFIX + sep, items=tuple(items))

    def __reduce__(self):  # copies and pickles keep the code (str subclasses with extra state need this)
        return (_rebuild, (self.code, self.values))


def _rebuild(code: str, values: dict[str, Any]) -> Msg:
    return Msg(code, **values)


def _format(code: str, values: Mapping[str, Any], lang: str | None) -> str:
    if code == ERROR_LAYOUT:
        return _error_layout(values, lang)
    text = template(code, lang)
    if code.startswith(JOIN_PREFIX):
        return text.join(render(item, lang) for item in values["items"])
    return text.format(**{k: _value(v, lang) for k, v in values.items()})


def _error_layout(values: Mapping[str, Any], lang: str | None) -> str:
    """``file:line, key 'k': message. Hint`` in ``lang``; all English when the message has no code (an error is
    never half-translated)."""
    message, hint, file, line, key = (values.get(k) for k in ("message", "hint", "file", "line", "key"))
    lang = lang if isinstance(message, Msg) and lang in _STOPS else "en"
    where = [f"{file}:{line}" if line else str(file)] if file else []
    if key:
        where.append(template("where_key", lang).format(key=key))
    text = template("where_sep", lang).join(where) + template("where_colon", lang) if where else ""
    text += render(message, lang)
    tail = ""
    if hint:
        tail = template("hint_space" if text.rstrip().endswith(_STOPS[lang]) else "hint_stop", lang) + render(hint, lang)
    return template(ERROR_LAYOUT, lang).format(text=text, hint=tail)


def _value(value: Any, lang: str | None) -> Any:
    """A message's value as its template formats it: messages and errors in ``lang``, anything else as it is (so
    ``{n:,}`` or ``{value!r}`` still apply)."""
    if isinstance(value, (Msg, BaseException)):
        return render(value, lang)
    return value


def error_msg(error: BaseException) -> Any:
    """An exception as a message: its own (``as_msg()``: ``InputError``, ``NothingFits``) or ``Type: text``."""
    own = getattr(error, "as_msg", None)
    return own() if callable(own) else f"{type(error).__name__}: {error}"


def render(value: Any, lang: str | None = None) -> str:
    """``value`` as text in ``lang`` (``en``, ``zh``; None is English): a :class:`Msg` from its code, an error
    (``InputError``, ``NothingFits``: anything with ``render(lang)``) by its own render, any other exception as
    ``Type: text``, None as "", anything else as its text."""
    if value is None:
        return ""
    if isinstance(value, Msg):
        return str(value) if (lang or "en") == "en" else _format(value.code, value.values, lang)
    if isinstance(value, BaseException):
        own = getattr(value, "render", None)
        return own(lang) if callable(own) else render(error_msg(value), lang)
    return str(value)


def to_json(value: Any) -> Any:
    """A message as JSON, ``{"code": ..., "values": {...}}`` (nested messages too); a number, bool or None as it
    is; anything else (paths and other values) as its text, as the English message shows it."""
    if isinstance(value, BaseException):
        return to_json(error_msg(value))
    if isinstance(value, Msg):
        if value.code.startswith(JOIN_PREFIX):
            return {"code": value.code, "values": {"items": [to_json(i) for i in value.values["items"]]}}
        return {"code": value.code, "values": {k: to_json(v) for k, v in value.values.items()}}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def from_json(data: Any, english: str | None = None) -> Any:
    """The inverse of :func:`to_json`. A code the catalog no longer has (or whose values changed) gives
    ``english`` (the text stored next to it) when there is one; plain values come back as they are."""
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        values = data.get("values") or {}
        try:
            if data["code"].startswith(JOIN_PREFIX):
                return Msg.join([from_json(i) for i in values["items"]], data["code"][len(JOIN_PREFIX):])
            return Msg(data["code"], **{k: from_json(v) for k, v in values.items()})
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            return english if english is not None else data["code"]
    return data


def event_fields(message: Any) -> dict[str, Any]:
    """The fields a runner event carries for its ``message``: ``message`` (English), ``code`` and ``values``."""
    if isinstance(message, Msg):
        return {"message": str(message), **to_json(message)}
    return {"message": message}


def event_message(event: Mapping[str, Any]) -> Any:
    """The message of a runner event (``message`` in English, ``code`` and ``values`` next to it): a :class:`Msg`
    when the event carries a code the catalog knows, else its English ``message`` (events of older runs)."""
    english = event.get("message")
    if event.get("code"):
        return from_json({"code": event["code"], "values": event.get("values") or {}}, english)
    return english
