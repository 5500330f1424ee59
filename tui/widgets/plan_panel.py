"""The plan panel: GPUs, the memory estimate as a bar against the budget with its breakdown, fits or not,
effective batch, estimated time; and the one-line summary shown instead on narrow terminals.

Both render from a :class:`~ft_tui.tui.state.SetupState`; they hold no logic of their own. Every verdict is also
written as a word ("fits", "DOES NOT FIT"), so the panel reads the same with NO_COLOR.
"""

from __future__ import annotations

from ft_tui.planner.memory import GIB
from ft_tui.planner.timing import format_duration
from ft_tui.tui.state import SetupState
from rich.text import Text
from textual.widgets import Static

BREAKDOWN_LABELS = {
    "weights": "weights", "optimizer": "optimizer", "gradients": "gradients", "activations": "activations",
    "logits": "logits+loss", "cuda_context": "CUDA context", "overhead": "overhead",
}


def gib(n: float | None) -> str:
    return "?" if n is None else f"{n / GIB:.1f} GiB"


def count(n: int) -> str:
    """A parameter count: 7.62B, 40.4M, 96.3K."""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.{2 if unit == 'B' else 1}f}{unit}"
    return str(n)


def bar(value: float, scale: float, width: int) -> str:
    """A text bar of ``width`` cells, ``value / scale`` of it filled."""
    filled = 0 if scale <= 0 else min(width, int(round(value / scale * width)))
    return "█" * filled + "░" * (width - filled)


def hardware_lines(state: SetupState) -> Text:
    hw = state.hardware
    out = Text()
    out.append("GPU\n", style="bold")
    if hw is None or getattr(hw, "source", "none") == "none":
        out.append("  no GPU found: the estimate has no budget.\n  Plan for a card with --gpu (e.g. rtx4090).\n")
        return out
    total = getattr(hw, "memory_bytes", None)
    base = getattr(hw, "budget_base_bytes", None)
    out.append(f"  {hw.count} x {hw.name}\n")
    if state.gpus:
        for g in state.gpus:
            out.append(f"  GPU {g.index}: {gib(g.free_bytes)} free of {gib(g.total_bytes)}\n")
    elif hw.source == "probe":
        out.append(f"  free {gib(base)} of {gib(total)} (smallest over GPUs)\n")
    else:
        out.append(f"  {gib(total)} each ({hw.source}: {hw.profile or 'given size'})\n")
    return out


def memory_lines(state: SetupState, width: int = 20) -> Text:
    out = Text()
    est = state.estimate
    gpu_known = getattr(state.hardware, "source", "none") != "none"
    out.append("Memory (one GPU)\n" if gpu_known else "Memory (one process)\n", style="bold")
    if est is None:
        why = state.model_error or "waiting for the model's shape…"
        out.append(f"  {why}\n", style="italic")
        return out
    budget = est.budget_bytes
    scale = budget or est.peak_bytes or 1
    verdict_style = "bold green" if est.fits else ("bold red reverse" if est.fits is False else "bold")
    out.append(f"  {bar(est.peak_bytes, scale, width)} ")
    out.append(f"peak {gib(est.peak_bytes)}", style="bold")
    out.append("\n")
    if budget is not None:
        margin = state.config.memory_margin
        out.append(f"  budget {gib(budget)} ({margin:.0%} margin): ")
        out.append("fits" if est.fits else "DOES NOT FIT", style=verdict_style)
        out.append("\n")
    for key, value in est.breakdown.items():
        label = BREAKDOWN_LABELS.get(key, key)
        out.append(f"  {label:<12} {bar(value, scale, width // 2)} {gib(value):>9}\n")
    out.append(f"  peak during {est.phase}\n", style="dim")
    return out


def run_lines(state: SetupState) -> Text:
    out = Text()
    cfg = state.config
    n = max(1, int(getattr(state.hardware, "count", 1) or 1))
    est = state.estimate
    out.append("Run\n", style="bold")
    eff = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * n
    gpus = f" x {n} GPUs" if n > 1 else ""
    out.append(f"  effective batch {cfg.per_device_train_batch_size} x {cfg.gradient_accumulation_steps}{gpus}"
               f" = {eff}\n")
    if n > 1:
        out.append(f"  strategy {state.strategy}\n")
    if est is not None:
        out.append(f"  params {count(est.total_params)}, trainable {count(est.trainable_params)}\n")
    t = state.time
    if t is None:
        if est is not None:
            out.append("  time: unknown (no GPU throughput known)\n", style="dim")
        return out
    steps = f"{t.steps:,} steps" if t.steps is not None else "steps unknown"
    out.append(f"  ~{t.tokens_per_s:,.0f} tokens/s, {t.step_s:.1f} s/step\n")
    out.append(f"  {steps}, ETA {format_duration(t.eta_s)}\n")
    return out


def status_lines(state: SetupState) -> Text:
    out = Text()
    if state.plan_error:
        out.append("Plan\n", style="bold")
        out.append(f"  {state.plan_error}\n", style="bold red")
    blockers = state.start_blockers()
    if blockers:
        out.append("Start disabled\n", style="bold")
        for b in blockers:
            out.append(f"  ✗ {b}\n", style="red")
    elif state.fits is False:
        out.append("Start asks first: the plan does not fit\n", style="bold red")
    else:
        out.append("Ready to start\n", style="bold green")
    if state.problems and state.estimate is not None:
        out.append("  (estimate shows the last valid values)\n", style="dim")
    return out


class PlanPanel(Static):
    """The full plan panel (right column on wide terminals, a page of its own on narrow ones)."""

    DEFAULT_CSS = """
    PlanPanel { padding: 0 1; height: auto; }
    """

    def __init__(self, **kwargs):
        super().__init__("", markup=False, **kwargs)
        self.shown_text = ""  # what is shown, as plain text

    def show(self, state: SetupState) -> None:
        out = Text()
        for part in (hardware_lines(state), memory_lines(state), run_lines(state), status_lines(state)):
            out.append_text(part)
            out.append("\n")
        out.rstrip()
        if out.plain != self.shown_text or not self.shown_text:
            self.shown_text = out.plain
            self.update(out)


def summary_text(state: SetupState) -> Text:
    """One line: peak / budget, verdict, effective batch, ETA."""
    out = Text()
    blockers = state.start_blockers()
    if blockers:  # the reason Start is disabled comes first; F3 shows them all
        more = f" (+{len(blockers) - 1}, F3)" if len(blockers) > 1 else ""
        out.append(f"✗ {blockers[0]}{more}  ", style="bold red")
    est = state.estimate
    if est is None:
        out.append("" if blockers else "estimating…")
        return out
    out.append(f"peak {gib(est.peak_bytes)}", style="bold")
    if est.budget_bytes is not None:
        out.append(f" / {gib(est.budget_bytes)} ")
        out.append("fits" if est.fits else "DOES NOT FIT", style="bold green" if est.fits else "bold red reverse")
    cfg = state.config
    n = max(1, int(getattr(state.hardware, "count", 1) or 1))
    out.append(f"  batch {cfg.per_device_train_batch_size}x{cfg.gradient_accumulation_steps}"
               f"{f'x{n}' if n > 1 else ''}")
    if state.time is not None and state.time.eta_s is not None:
        out.append(f"  ETA {format_duration(state.time.eta_s)}")
    return out


class PlanSummary(Static):
    """The plan summary for narrow terminals (a second line only when Start is blocked)."""

    DEFAULT_CSS = """
    PlanSummary { height: auto; max-height: 2; padding: 0 1; background: $panel; }
    """

    def __init__(self, **kwargs):
        super().__init__("", markup=False, **kwargs)
        self.shown_text = ""  # what is shown, as plain text

    def show(self, state: SetupState) -> None:
        text = summary_text(state)
        if text.plain != self.shown_text or not self.shown_text:
            self.shown_text = text.plain
            self.update(text)
