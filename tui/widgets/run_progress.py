"""The run screen's top block: status line, step / total with a progress bar and ETA, and the latest metrics."""

from __future__ import annotations

from typing import Any

from ft_tui.planner.messages import render
from ft_tui.planner.units import format_clock, token_rate
from ft_tui.runner.events import RunView
from ft_tui.runner.history import memory_comparison
from ft_tui.runner.status import STATUSES, status_word
from ft_tui.tui.i18n import label
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

#: CSS classes of the status label: every run status, and ``waiting`` (no event read yet).
STATUS_CLASSES = (*STATUSES, "waiting")


def fmt_float(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def fmt_rate(tokens_per_s: float | None) -> str:
    return "-" if tokens_per_s is None else token_rate(tokens_per_s)


def metrics_text(view: RunView, lang: str, width: int | None = None) -> Text:
    """``loss 1.5915 · eval 1.6615 · lr 2.0e-04 · grad norm 0.850 · 1.4k tok/s · peak mem 17.3 GiB``.

    With ``width``, lines break between metrics (never inside one) to fit it."""
    parts = [  # (label before, value, unit after)
        (label(lang, "loss"), fmt_float(view.loss, ".4f"), ""),
        (label(lang, "eval_loss"), fmt_float(view.eval_last, ".4f"), ""),
        (label(lang, "lr"), fmt_float(view.lr, ".1e"), ""),
        (label(lang, "grad_norm"), fmt_float(view.grad_norm, ".3f"), ""),
        ("", fmt_rate(view.tokens_per_s), label(lang, "tokens_s")),
    ]
    versus = planned_vs_measured(view, lang)
    if versus is not None:
        parts.append(("", versus, ""))
    elif view.gpu_mem_reserved_gib is not None:
        parts.append((label(lang, "gpu_mem"), f"{view.gpu_mem_reserved_gib:.1f}", "GiB"))
    text = Text(no_wrap=True, overflow="ellipsis")
    line_len = 0
    for i, (before, value, after) in enumerate(parts):
        item = Text()
        if before:
            item.append(f"{before} ", style="dim")
        item.append(value, style="bold")
        if after:
            item.append(f" {after}", style="dim")
        if i and width is not None and line_len + 3 + item.cell_len > width:
            text.append("\n")
            line_len = 0
        elif i:
            text.append(" · ", style="dim")
            line_len += 3
        text.append_text(item)
        line_len += item.cell_len
    return text


def planned_vs_measured(view: RunView, lang: str) -> str | None:
    """``memory planned 10.0 GiB, measured 10.6 GiB (+6 %)`` once the run's ``end`` event carries both (CUDA
    context excluded on both sides: ``runner.history.memory_comparison``); None before, or for a CPU run."""
    end = view.end or {}
    cmp = memory_comparison(end.get("planned"), end.get("measured"))
    if cmp is None:
        return None
    return label(lang, "mem_vs_plan", planned=f"{cmp['planned_gib']:.1f}", measured=f"{cmp['measured_gib']:.1f}",
                 over=f"{cmp['over_pct']:+.0f}")


def step_text(view: RunView, lang: str) -> str:
    step = label(lang, "step", step=view.step, total=view.total_steps) if view.total_steps \
        else label(lang, "step_nototal", step=view.step)
    if view.epoch is not None:
        step += "  " + label(lang, "run_epoch", epoch=f"{view.epoch:.2f}")
    return step


def time_text(view: RunView, status: str, now: float | None, lang: str) -> str:
    """ETA while the run is live (relative to ``now``), else how long the events span."""
    if status in ("running", "starting"):
        eta = view.eta_at(now)
        return label(lang, "eta", eta=format_clock(eta))
    duration = view.duration()
    return label(lang, "elapsed", time=format_clock(duration)) if duration is not None else ""


class RunProgress(Vertical):
    """Status, progress and metrics of one run; :meth:`show` redraws it from a :class:`RunView`."""

    DEFAULT_CSS = """
    RunProgress { height: auto; padding: 0 1; }
    RunProgress > Horizontal { height: 1; }
    RunProgress #run-state { width: auto; text-style: bold; margin-right: 1; }
    RunProgress #run-state.-running, RunProgress #run-state.-starting { color: $success; }
    RunProgress #run-state.-completed { color: $primary; }
    RunProgress #run-state.-failed { color: $error; }
    RunProgress #run-state.-stopped, RunProgress #run-state.-interrupted { color: $warning; }
    RunProgress #run-title { width: 1fr; color: $text-muted; }
    RunProgress #run-step { width: auto; margin-right: 1; }
    RunProgress ProgressBar { width: 1fr; }
    RunProgress ProgressBar Bar { width: 1fr; }
    RunProgress #run-eta { width: auto; margin-left: 1; }
    RunProgress #run-metrics { width: 1fr; height: auto; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("", id="run-state", markup=False)
            yield Label("", id="run-title", markup=False)
        with Horizontal():
            yield Label("", id="run-step", markup=False)
            yield ProgressBar(total=None, show_eta=False, id="run-bar")
            yield Label("", id="run-eta", markup=False)
        yield Label("", id="run-metrics", markup=False)

    def show(self, view: RunView, status: str, *, run_id: str, lang: str, now: float | None,
             stopping: bool = False) -> None:
        """Redraw from ``view``; ``status`` is the run's status (``RunDir.status()``), ``now`` the clock for the
        ETA (None: the ETA as the last log wrote it)."""
        state = self.query_one("#run-state", Label)
        state.update(f"● {render(status_word(status), lang)}")
        for name in STATUS_CLASSES:
            state.set_class(name == status, f"-{name}")
        self.query_one("#run-title", Label).update(self._title(view, run_id, lang, stopping))
        self.query_one("#run-step", Label).update(step_text(view, lang))
        bar = self.query_one("#run-bar", ProgressBar)
        if view.total_steps or status in ("running", "starting"):
            bar.update(total=view.total_steps or None, progress=min(view.step, view.total_steps or view.step))
        else:  # an ended run whose length was never known: a still, empty bar rather than the busy animation
            bar.update(total=max(view.step, 1), progress=view.step)
        self.query_one("#run-eta", Label).update(time_text(view, status, now, lang))
        metrics = self.query_one("#run-metrics", Label)
        metrics.update(metrics_text(view, lang, metrics.content_size.width or None))

    @staticmethod
    def _title(view: RunView, run_id: str, lang: str, stopping: bool) -> str:
        parts: list[Any] = [run_id]  # the status word beside it already says "run" ("● running 2026...")
        if view.attempts > 1 and view.resumed_from is not None:
            parts.append(label(lang, "attempt", n=view.attempts, step=view.resumed_from))
        elif view.attempts > 1:
            parts.append(label(lang, "attempt_plain", n=view.attempts))
        if stopping:
            parts.append(label(lang, "stopping"))
        elif view.message and view.phase in ("waiting", "starting"):
            parts.append(render(view.message, lang))
        return " · ".join(str(p) for p in parts)
