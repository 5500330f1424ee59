"""The plan panel: GPUs, the memory estimate as a bar against the budget with its breakdown, fits or not,
effective batch, estimated time; and the one-line summary shown instead on narrow terminals.

Both render from a :class:`~ft_tui.tui.state.SetupState` in the app's language (labels in ``tui/i18n.py``); they
hold no logic of their own. Every verdict is also written as a word ("fits", "DOES NOT FIT"), so the panel reads
the same with NO_COLOR.
"""

from __future__ import annotations

from ft_tui.planner.config import PLANNED_KEYS
from ft_tui.planner.messages import render
from ft_tui.planner.units import format_duration, gib, param_count
from ft_tui.tui.i18n import field_label, label, label_or
from ft_tui.tui.state import SetupState
from ft_tui.tui.widgets.wrap import WrappedStatic
from rich.text import Text
from textual.widgets import Static

_BREAKDOWN_KEYS = {f"bd_{k}" for k in ("weights", "optimizer", "gradients", "activations", "logits",
                                       "cuda_context", "overhead")}


def _pad(text: str, cells: int) -> str:
    """Left-align ``text`` in ``cells`` terminal cells (a CJK character takes two)."""
    from rich.cells import cell_len

    return text + " " * max(0, cells - cell_len(text))


def bar(value: float, scale: float, width: int) -> str:
    """A text bar of ``width`` cells, ``value / scale`` of it filled."""
    filled = 0 if scale <= 0 else min(width, int(round(value / scale * width)))
    return "█" * filled + "░" * (width - filled)


def hardware_lines(state: SetupState, lang: str = "en") -> Text:
    hw = state.hardware
    out = Text()
    out.append(label(lang, "plan_gpu") + "\n", style="bold")
    if hw is None or getattr(hw, "source", "none") == "none":
        out.append(f"  {label(lang, 'plan_no_gpu')}\n  {label(lang, 'plan_no_gpu_hint')}\n")
        return out
    total = getattr(hw, "memory_bytes", None)
    base = getattr(hw, "budget_base_bytes", None)
    out.append(f"  {hw.count} x {hw.name}\n")
    if state.gpus:
        for g in state.gpus:
            out.append("  " + label(lang, "plan_gpu_free", index=g.index, free=gib(g.free_bytes),
                                    total=gib(g.total_bytes)) + "\n")
    elif hw.source == "probe":
        out.append("  " + label(lang, "plan_free_smallest", free=gib(base), total=gib(total)) + "\n")
    else:
        out.append("  " + label(lang, "plan_each", total=gib(total), source=label_or(lang, f"src_{hw.source}", hw.source),
                                profile=hw.profile or label(lang, "plan_given_size")) + "\n")
    return out


def memory_lines(state: SetupState, width: int = 20, lang: str = "en") -> Text:
    out = Text()
    est = state.estimate
    gpu_known = getattr(state.hardware, "source", "none") != "none"
    out.append(label(lang, "plan_memory_gpu" if gpu_known else "plan_memory_proc") + "\n", style="bold")
    if est is None:
        why = render(state.model_error, lang) or label(lang, "plan_waiting_model")
        out.append(f"  {why}\n", style="italic")
        return out
    budget = est.budget_bytes
    scale = budget or est.peak_bytes or 1
    verdict_style = "bold green" if est.fits else ("bold red reverse" if est.fits is False else "bold")
    out.append(f"  {bar(est.peak_bytes, scale, width)} ")
    out.append(label(lang, "plan_peak", value=gib(est.peak_bytes)), style="bold")
    out.append("\n")
    if budget is not None:
        margin = state.config.memory_margin
        out.append("  " + label(lang, "plan_budget", budget=gib(budget), margin=f"{margin:.0%}"))
        out.append(label(lang, "plan_fits" if est.fits else "plan_not_fit"), style=verdict_style)
        out.append("\n")
    for key, value in est.breakdown.items():
        name = label(lang, f"bd_{key}") if f"bd_{key}" in _BREAKDOWN_KEYS else key
        out.append(f"  {_pad(name, 12)} {bar(value, scale, width // 2)} {gib(value):>9}\n")
    phase = label_or(lang, f"phase_{est.phase}", est.phase)
    out.append("  " + label(lang, "plan_peak_during", phase=phase) + "\n", style="dim")
    note = getattr(state.plan, "history_text", None)
    if note:
        out.append("  " + render(note, lang) + "\n", style="italic")
    return out


def run_lines(state: SetupState, lang: str = "en") -> Text:
    out = Text()
    cfg = state.config
    n = max(1, int(getattr(state.hardware, "count", 1) or 1))
    est = state.estimate
    out.append(label(lang, "plan_run") + "\n", style="bold")
    eff = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * n
    gpus = label(lang, "plan_gpus_suffix", n=n) if n > 1 else ""
    out.append("  " + label(lang, "plan_eff_batch", batch=cfg.per_device_train_batch_size,
                            accum=cfg.gradient_accumulation_steps, gpus=gpus, eff=eff) + "\n")
    if n > 1:
        out.append("  " + label(lang, "plan_strategy", strategy=state.strategy) + "\n")
    if est is not None:
        out.append("  " + label(lang, "plan_params", total=param_count(est.total_params),
                                trainable=param_count(est.trainable_params)) + "\n")
    t = state.time
    if t is None:
        if est is not None:
            out.append("  " + label(lang, "plan_time_unknown") + "\n", style="dim")
        return out
    steps = label(lang, "plan_steps", steps=f"{t.steps:,}") if t.steps is not None \
        else label(lang, "plan_steps_unknown")
    out.append("  " + label(lang, "plan_speed", tps=f"{t.tokens_per_s:,.0f}", step_s=f"{t.step_s:.1f}") + "\n")
    out.append("  " + label(lang, "plan_eta", steps=steps, eta=format_duration(t.eta_s)) + "\n")
    return out


def status_lines(state: SetupState, lang: str = "en") -> Text:
    out = Text()
    if state.plan_error:
        out.append(label(lang, "plan_plan") + "\n", style="bold")
        out.append(f"  {render(state.plan_error, lang)}\n", style="bold red")
        yours = [k for k in PLANNED_KEYS if k in state.user_keys]
        if yours:  # F5 keeps them; say how to give them back
            out.append("  " + label(lang, "plan_replan_all_hint",
                                    keys=", ".join(field_label(lang, k) for k in yours)) + "\n", style="italic")
    blockers = state.start_blockers(lang)
    if blockers:
        out.append(label(lang, "plan_start_disabled") + "\n", style="bold")
        for b in blockers:
            out.append(f"  ✗ {b}\n", style="red")
    elif state.fits is False:
        out.append(label(lang, "plan_asks_first") + "\n", style="bold red")
    else:
        out.append(label(lang, "plan_ready") + "\n", style="bold green")
    if state.problems and state.estimate is not None:
        out.append("  " + label(lang, "plan_last_valid") + "\n", style="dim")
    for w in state.value_warnings():
        out.append(f"  ⚠ {render(w, lang)}\n", style="yellow")
    return out


class PlanPanel(WrappedStatic):
    """The full plan panel (right column on wide terminals, a page of its own on narrow ones)."""

    DEFAULT_CSS = """
    PlanPanel { padding: 0 1; height: auto; }
    """

    def __init__(self, **kwargs):
        super().__init__("", markup=False, **kwargs)
        self.shown_text = ""  # what is shown, as plain text

    def show(self, state: SetupState, lang: str = "en") -> None:
        out = Text()
        for part in (hardware_lines(state, lang), memory_lines(state, lang=lang), run_lines(state, lang),
                     status_lines(state, lang)):
            out.append_text(part)
            out.append("\n")
        out.rstrip()
        if out.plain != self.shown_text or not self.shown_text:
            self.shown_text = out.plain
            self.update(out)


def summary_text(state: SetupState, lang: str = "en") -> Text:
    """One line: peak / budget, verdict, effective batch, ETA."""
    out = Text()
    blockers = state.start_blockers(lang)
    if blockers:  # the reason Start is disabled comes first; F3 shows them all
        more = f" (+{len(blockers) - 1}, F3)" if len(blockers) > 1 else ""
        out.append(f"✗ {blockers[0]}{more}  ", style="bold red")
    est = state.estimate
    if est is None:
        out.append("" if blockers else label(lang, "summary_estimating"))
        return out
    out.append(label(lang, "plan_peak", value=gib(est.peak_bytes)), style="bold")
    if est.budget_bytes is not None:
        out.append(f" / {gib(est.budget_bytes)} ")
        out.append(label(lang, "plan_fits" if est.fits else "plan_not_fit"),
                   style="bold green" if est.fits else "bold red reverse")
    cfg = state.config
    n = max(1, int(getattr(state.hardware, "count", 1) or 1))
    out.append("  " + label(lang, "summary_batch", batch=cfg.per_device_train_batch_size,
                            accum=cfg.gradient_accumulation_steps, gpus=f"x{n}" if n > 1 else ""))
    if state.time is not None and state.time.eta_s is not None:
        out.append("  " + label(lang, "summary_eta", eta=format_duration(state.time.eta_s)))
    return out


class PlanSummary(Static):
    """The plan summary for narrow terminals (a second line only when Start is blocked)."""

    DEFAULT_CSS = """
    PlanSummary { height: auto; max-height: 2; padding: 0 1; background: $panel; }
    """

    def __init__(self, **kwargs):
        super().__init__("", markup=False, **kwargs)
        self.shown_text = ""  # what is shown, as plain text

    def show(self, state: SetupState, lang: str = "en") -> None:
        text = summary_text(state, lang)
        if text.plain != self.shown_text or not self.shown_text:
            self.shown_text = text.plain
            self.update(text)
