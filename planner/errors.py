"""Errors that mean "the user gave us something we cannot use".

Every layer (planner, templates, runner, TUI) raises :class:`InputError` (or a subclass) for bad input. The CLI
catches it, prints its message as one paragraph and exits with status 2, with no traceback. The message must say
what is wrong, where (key, file, line) and how to fix it.

Messages: an error's ``message`` and ``hint`` are :class:`~ft_tui.planner.messages.Msg` texts (a ``str``, its
English text, that also keeps a message code and values). The CLI prints the English text; the TUI calls
``render(lang)`` to show the error in the user's language. An error whose message has no code renders in English in
every language (never half-translated).
"""

from __future__ import annotations

from typing import Any

from .messages import Msg, render, template

#: What ends a sentence, by language: no stop is added before the hint after one of these.
_STOPS = {"en": (".", "!", "?", ":", ";"), "zh": ("。", "！", "？", "：", "；", ".", "!", "?")}


class InputError(Exception):
    """Bad input from the user: a config value, a data file, a model path, a command-line argument.

    ``message`` and ``hint`` are :class:`~ft_tui.planner.messages.Msg` texts; ``code`` / ``params`` are the
    message's code and values (None / {} for plain text) and :meth:`render` says the whole error in ``lang``."""

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
        return dict(getattr(self.message, "values", {}) or {})

    def render(self, lang: str | None = None) -> str:
        """The error as one paragraph: where (file:line, key), what, how to fix. In English unless ``lang`` names
        another language and the message is coded (an uncoded message keeps the whole error in English)."""
        lang = lang if isinstance(self.message, Msg) and lang in _STOPS else "en"
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else str(self.file))
        if self.key:
            where.append(template("where_key", lang).format(key=self.key))
        text = (template("where_sep", lang).join(where) + template("where_colon", lang) if where else "")
        text += render(self.message, lang)
        if self.hint:
            stop = "hint_space" if text.rstrip().endswith(_STOPS[lang]) else "hint_stop"
            text += template(stop, lang) + render(self.hint, lang)
        return text


class ConfigError(InputError):
    """A config key or value is wrong."""


class DataError(InputError):
    """A dataset file or registry entry is wrong."""


class ModelError(InputError):
    """The model path or id cannot be resolved or read."""


class NothingFits(Exception):
    """The planner found no setup that fits the memory budget (CLI exit status 3).

    Its message (``str(exc)``, English) is a :class:`~ft_tui.planner.messages.Msg`; :meth:`render` says it in
    ``lang``."""

    exit_code = 3

    def render(self, lang: str | None = None) -> str:
        """The message in ``lang`` (English text when it has no code)."""
        return render(self.args[0] if self.args else "", lang)
