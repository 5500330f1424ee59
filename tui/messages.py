"""Messages the TUI's widgets and workers post; small dataclasses, one place (posting's ``messages.py``).

Widgets emit, screens coordinate: a form row posts :class:`FieldEdited`; the setup screen forwards it to the
headless :class:`ft_tui.tui.state.SetupState` and redraws. Workers post their results as messages too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class FieldEdited(Message):
    """The user changed a config field in the form (``value``: text as typed, or the chosen option)."""

    key: str
    value: Any


@dataclass
class FieldFocused(Message):
    """A config field got the focus (the help panel follows it)."""

    key: str


class SectionMounted(Message):
    """A section's rows were mounted (sections other than the first mount lazily, after the first paint)."""


@dataclass
class ModelInspected(Message):
    """A model-inspection worker finished (``facts``: ``state.ModelFacts``)."""

    facts: Any


@dataclass
class DataInspected(Message):
    """A dataset-statistics worker finished (``facts``: ``state.DataFacts``)."""

    facts: Any
