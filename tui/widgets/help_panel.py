"""The help panel: what the focused field does and how it moves memory, speed and quality, in English or
Chinese (:mod:`ft_tui.tui.help`), after the planner's reason for the field's current value."""

from __future__ import annotations

from ft_tui.tui.help import help_for
from ft_tui.tui.i18n import label
from ft_tui.tui.widgets.wrap import WrappedStatic
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static


def help_text(key: str, lang: str, note: str = "") -> Text:
    """The panel's text for ``key`` in ``lang``; ``note`` is the field's note in ``lang``
    (:meth:`ft_tui.tui.state.SetupState.note`: the planner's word on the value as it is now)."""
    entry = help_for(key, lang)
    out = Text()
    out.append(entry.title, style="bold")
    out.append(f"  ({key})", style="dim")
    out.append("\n")
    # the planner's word on the field's value first: the panel shows only a few lines on a small terminal
    if note:
        out.append(label(lang, "help_planner"), style="bold")
        out.append(note + "\n")
    for heading, body in entry.parts():
        out.append(heading + label(lang, "help_colon"), style="bold")
        out.append(body + "\n")
    out.rstrip()
    return out


class FieldHelp(VerticalScroll, can_focus=False):
    """Scrollable help for one key; :meth:`show` redraws it. (Not named HelpPanel: Textual's keys panel has that
    name, and its palette entries find and remove widgets by it.)"""

    DEFAULT_CSS = """
    FieldHelp { height: auto; max-height: 40%; border-top: solid $primary; padding: 0 1; }
    FieldHelp > Static { height: auto; }
    """

    def compose(self):
        yield WrappedStatic("", markup=False, id="help-text")

    shown_text = ""  # what is shown, as plain text

    def show(self, key: str, lang: str, note: str = "") -> None:
        content = help_text(key, lang, note)
        self.shown_text = content.plain
        self.query_one("#help-text", Static).update(content)
        self.scroll_home(animate=False)

    def scroll_lines(self, lines: int) -> None:
        """Scroll the help by ``lines`` (negative: up); the setup screen binds keys to it (the panel never has the
        focus: the field being edited keeps it)."""
        self.scroll_relative(y=lines, animate=False)
