"""Errors that mean "the user gave us something we cannot use".

Every layer (planner, templates, runner, TUI) raises :class:`InputError` (or a subclass) for bad input. The CLI
catches it, prints its message as one paragraph and exits with status 2, with no traceback. The message must say
what is wrong, where (key, file, line) and how to fix it.

Message codes: an error's ``message`` and ``hint`` may be :class:`Coded` texts (a ``str``, its English text, that
also keeps a message code and values from a catalog with English and Chinese). The CLI prints the English text,
unchanged; the TUI calls ``render(lang)`` to show the error in the user's language. An error whose message has no
code renders in English in every language (never half-translated).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar


class Coded(str):
    """A message from a catalog: its English text as a ``str``, plus the code and values to say it in another
    language. Subclasses name their catalog (``CATALOG``: code -> {"en": ..., "zh": ...}); a value that can itself
    ``render(lang)`` (another coded text) is rendered in the same language."""

    CATALOG: ClassVar[dict[str, dict[str, str]]] = {}
    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, **params: Any) -> Coded:
        obj = super().__new__(cls, cls.CATALOG[code]["en"].format(**params))
        obj.code, obj.params = code, params
        return obj

    def render(self, lang: str | None = None) -> str:
        """This text in ``lang`` (English when ``lang`` is None or the catalog lacks it)."""
        texts = self.CATALOG[self.code]
        template = texts.get(lang or "en") or texts["en"]
        return template.format(**{k: localized(v, lang) for k, v in self.params.items()})

    def __reduce__(self):  # copies and pickles keep the code (str subclasses with extra state need this)
        return (_rebuild, (type(self), self.code, self.params))


def _rebuild(cls: type[Coded], code: str, params: dict[str, Any]) -> Coded:
    return cls(code, **params)


#: How :class:`Joined` separates its items, by separator name and language.
SEPARATORS: dict[str, dict[str, str]] = {
    "list": {"en": ", ", "zh": "、"},
    "semicolon": {"en": "; ", "zh": "；"},
    "line": {"en": "\n", "zh": "\n"},
    "space": {"en": " ", "zh": ""},
}


class Joined(str):
    """Several texts joined into one ``str`` (English, as ``sep.join`` would give it) that still renders each item
    in another language: joining coded texts with ``str.join`` would lose their codes."""

    items: tuple[Any, ...]
    sep: str

    def __new__(cls, items: Iterable[Any], sep: str = "semicolon") -> Joined:
        items = tuple(items)
        obj = super().__new__(cls, SEPARATORS[sep]["en"].join(str(i) for i in items))
        obj.items, obj.sep = items, sep
        return obj

    def render(self, lang: str | None = None) -> str:
        """The items in ``lang``, joined with that language's separator."""
        sep = SEPARATORS[self.sep].get(lang or "en") or SEPARATORS[self.sep]["en"]
        return sep.join(in_lang(i, lang) for i in self.items)

    def __reduce__(self):
        return (Joined, (self.items, self.sep))


def localized(value: Any, lang: str | None) -> Any:
    """``value`` rendered in ``lang`` when it can render itself (a coded text, a planner reason, a config
    message, an error); any other value as it is (so a catalog's ``{n:,}`` or ``{value!r}`` still applies)."""
    render = getattr(value, "render", None)
    if callable(render) and isinstance(value, (str, BaseException)):
        return render(lang)
    return value


def in_lang(value: Any, lang: str | None) -> str:
    """``value`` as text in ``lang`` (see :func:`localized`); None is ""."""
    return "" if value is None else str(localized(value, lang))


#: The "where" part of a rendered error, in Chinese (English is built by :meth:`InputError.render` as it was).
_WHERE_ZH = {"key": "配置项 '{key}'", "sep": "，", "colon": "：", "stops": ("。", "！", "？", "：", "；", ".", "!", "?")}


class InputError(Exception):
    """Bad input from the user: a config value, a data file, a model path, a command-line argument.

    ``message`` and ``hint`` may be :class:`Coded` texts; then ``code`` / ``params`` are the message's code and
    values (None / {} for plain text) and :meth:`render` can say the whole error in Chinese."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None, file: str | None = None,
                 line: int | None = None, hint: str | None = None):
        self.message = message
        self.key = key
        self.file = file
        self.line = line
        self.hint = hint
        super().__init__(self.render())

    @property
    def code(self) -> str | None:
        """The message code when the message is a coded text."""
        return getattr(self.message, "code", None)

    @property
    def params(self) -> dict[str, Any]:
        return dict(getattr(self.message, "params", {}) or {})

    def render(self, lang: str | None = None) -> str:
        """The error as one paragraph: where (file:line, key), what, how to fix. In English unless ``lang`` names
        another language and the message is coded (an uncoded message keeps the whole error in English)."""
        if (lang or "en") != "en" and isinstance(self.message, (Coded, Joined)):
            return self._render_zh(lang)
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else str(self.file))
        if self.key:
            where.append(f"key '{self.key}'")
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.hint:
            text += ("" if text.rstrip().endswith((".", "!", "?", ":", ";")) else ".") + " " + self.hint
        return text

    def _render_zh(self, lang: str | None) -> str:
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else str(self.file))
        if self.key:
            where.append(_WHERE_ZH["key"].format(key=self.key))
        text = (_WHERE_ZH["sep"].join(where) + _WHERE_ZH["colon"] if where else "") + in_lang(self.message, lang)
        if self.hint:
            text += ("" if text.rstrip().endswith(_WHERE_ZH["stops"]) else "。") + in_lang(self.hint, lang)
        return text


class ConfigError(InputError):
    """A config key or value is wrong."""


class DataError(InputError):
    """A dataset file or registry entry is wrong."""


class ModelError(InputError):
    """The model path or id cannot be resolved or read."""


class NothingFits(Exception):
    """The planner found no setup that fits the memory budget (CLI exit status 3).

    Its message (``str(exc)``, English) may be a :class:`Coded` text; :meth:`render` says it in ``lang``."""

    exit_code = 3

    def render(self, lang: str | None = None) -> str:
        """The message in ``lang`` (English text when it has no code)."""
        message = self.args[0] if self.args else ""
        return in_lang(message, lang)
