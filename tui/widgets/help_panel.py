"""The help panel: what the focused field does and how it moves memory, speed and quality, in English or
Chinese (:mod:`ft_tui.tui.help`), plus the planner's reason for the field's current value."""

from __future__ import annotations

from ft_tui.planner.messages import render
from ft_tui.tui.help import help_for
from ft_tui.tui.i18n import label
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static


def help_text(key: str, lang: str, reason: str = "", recommendation: str | None = None) -> Text:
    """The panel's text for ``key`` in ``lang``."""
    entry = help_for(key, lang)
    out = Text()
    out.append(entry.title, style="bold")
    out.append(f"  ({key})", style="dim")
    out.append("\n")
    for heading, body in entry.parts():
        out.append(heading + label(lang, "help_colon"), style="bold")
        out.append(body + "\n")
    if reason:
        out.append(label(lang, "help_planner"), style="bold")
        out.append(render(reason, lang) + "\n")
    if recommendation is not None:
        out.append(label(lang, "help_recommended"), style="bold")
        out.append(recommendation + "\n")
    out.rstrip()
    return out


class HelpPanel(VerticalScroll, can_focus=False):
    """Scrollable help for one key; :meth:`show` redraws it."""

    DEFAULT_CSS = """
    HelpPanel { height: auto; max-height: 40%; border-top: solid $primary; padding: 0 1; }
    HelpPanel > Static { height: auto; }
    """

    def compose(self):
        yield Static("", markup=False, id="help-text")

    shown_text = ""  # what is shown, as plain text

    def show(self, key: str, lang: str, reason: str = "", recommendation: str | None = None) -> None:
        content = help_text(key, lang, reason, recommendation)
        self.shown_text = content.plain
        self.query_one("#help-text", Static).update(content)
        self.scroll_home(animate=False)
