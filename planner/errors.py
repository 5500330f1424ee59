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

from .messages import ERROR_LAYOUT, Msg, render


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

    def as_msg(self) -> Msg:
        """The whole error as one message (where, what, how to fix), to store or send with its codes."""
        return Msg(ERROR_LAYOUT, file=self.file, line=self.line, key=self.key, message=self.message, hint=self.hint)

    def render(self, lang: str | None = None) -> str:
        """The error as one paragraph: where (file:line, key), what, how to fix. In English unless ``lang`` names
        another language and the message is coded (an uncoded message keeps the whole error in English)."""
        return render(self.as_msg(), lang)


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

    def __init__(self, message: Any = "", *, details: dict[str, Any] | None = None):
        super().__init__(message)
        #: What was computed, for ``plan --json`` (``fits: false``, the setup, the minimum found, the suggestions).
        self.details: dict[str, Any] = dict(details or {})

    def as_msg(self) -> Msg | str:
        """The message (a :class:`~ft_tui.planner.messages.Msg`; its English text as it is otherwise)."""
        return self.args[0] if self.args else ""

    def render(self, lang: str | None = None) -> str:
        """The message in ``lang`` (English text when it has no code)."""
        return render(self.as_msg(), lang)
