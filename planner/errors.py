"""Errors that mean "the user gave us something we cannot use".

Every layer (planner, templates, runner, TUI) raises :class:`InputError` (or a subclass) for bad input. The CLI
catches it, prints its message as one paragraph and exits with status 2, with no traceback. The message must say
what is wrong, where (key, file, line) and how to fix it.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: a config value, a data file, a model path, a command-line argument."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None, file: str | None = None,
                 line: int | None = None, hint: str | None = None):
        self.message = message
        self.key = key
        self.file = file
        self.line = line
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else str(self.file))
        if self.key:
            where.append(f"key '{self.key}'")
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.hint:
            text += ("" if text.rstrip().endswith((".", "!", "?", ":", ";")) else ".") + " " + self.hint
        return text


class ConfigError(InputError):
    """A config key or value is wrong."""


class DataError(InputError):
    """A dataset file or registry entry is wrong."""


class ModelError(InputError):
    """The model path or id cannot be resolved or read."""


class NothingFits(Exception):
    """The planner found no setup that fits the memory budget (CLI exit status 3)."""

    exit_code = 3
