"""The run screen's lower panels: notable events (checkpoints, back-offs, errors, resumes) and the train.log tail.

Both show text as it is: the event list builds ``rich.text.Text`` (never parsed as markup) and the log is a
Textual ``Log``, so ``[rank0]`` or ``[INFO]`` in a line stays literal.
"""

from __future__ import annotations

from ft_tui.planner.messages import render
from ft_tui.planner.units import format_clock
from ft_tui.runner.events import RunView
from ft_tui.runner.status import status_word
from ft_tui.tui.i18n import label
from rich.text import Text
from textual.widgets import Log, Static

LOG_MAX_LINES = 2000


def event_lines(view: RunView, lang: str) -> list[tuple[float, Text]]:
    """The run's notable events, oldest first, as ``(time, line)``; times print relative to the first event."""
    t0 = view.first_time or 0.0
    out: list[tuple[float, Text]] = []

    def add(when: float | None, step: int | None, message: str, style: str = "") -> None:
        t = when if when is not None else (view.last_time or t0)
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{'+' + format_clock(t - t0):>8} ", style="dim")
        line.append(f"{'' if step is None else step:>6}  ", style="bold")
        line.append(message, style=style)
        out.append((t, line))

    for cp in view.checkpoints:
        add(cp.time, cp.step, label(lang, "ev_checkpoint", path=cp.path.rsplit("/", 1)[-1]))
    for b in view.backoffs:
        add(b.time, b.step, label(lang, "ev_backoff", change=b.describe(),
                                  restart=b.restart_from if b.restart_from is not None else 0), "yellow")
    for message in view.errors:
        text = render(message, lang)
        add(None, None, label(lang, "ev_error", message=text.splitlines()[0] if text else ""), "red")
    if view.end:
        add(view.end.get("time") if isinstance(view.end.get("time"), (int, float)) else None,
            view.step, label(lang, "ev_end", status=render(status_word(view.phase), lang)), "bold")
    out.sort(key=lambda item: item[0])
    return out


class RunEvents(Static):
    """The last few notable events (as many as fit)."""

    DEFAULT_CSS = """
    RunEvents { height: 5; border: round $primary 50%; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show(self, view: RunView, lang: str) -> None:
        self.border_title = label(lang, "events_title")
        lines = [line for _, line in event_lines(view, lang)]
        if view.resumed_from is not None:
            lines.insert(0, Text(label(lang, "ev_resume", step=view.resumed_from), style="dim"))
        keep = max(1, self.content_size.height or 3)
        if not lines:
            self.update(Text(label(lang, "events_empty"), style="dim"))
            return
        text = Text("\n", no_wrap=True, overflow="ellipsis").join(lines[-keep:])
        self.update(text)


class RunLog(Log):
    """The tail of train.log, bounded to :data:`LOG_MAX_LINES` lines, never parsed as markup.

    Long lines (warnings, metric dicts) are cut at the panel's edge with no horizontal scrollbar: in that one-row
    bar only the thumb's fractional end (a lone "▎") stood out, a stray block in the panel. The log still scrolls
    sideways with the arrow keys when focused."""

    DEFAULT_CSS = """
    RunLog { height: 1fr; border: round $primary 50%; scrollbar-size-horizontal: 0; }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(max_lines=LOG_MAX_LINES, auto_scroll=True, id=id)
        self.border_title = label("en", "log_title")
