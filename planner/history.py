"""What finished runs on this machine measured against what the planner predicted, and the wider margin it implies.

The runner records in every run's ``end`` event the plan's peak (``planned``) and what each rank's GPU measured
(``measured``: torch's ``max_memory_reserved`` / ``max_memory_allocated`` and the device total). The runner's run
index reader (``ft_tui.runner.history.past_runs``) turns the finished runs that carry both into :class:`PastRun`
values and hands them to the planner: this module never reads the run index itself (the planner imports nothing
from the runner).

Comparable quantities: the plan's peak includes the CUDA context, which torch's allocator does not see, so a past
run is compared as ``measured reserved peak / (planned peak - planned CUDA context)``.

:func:`history_note` summarizes the past runs of the same GPU (name as the probe or profile spells it) and the same
model family (``model_type``); when the runs measured more than planned, :func:`widened_margin` widens the memory
margin by the largest overshoot, so the next plan keeps the headroom the planner turned out to lack. Users turn
it off with ``use_run_history: false``.

Pure functions, no torch, no file I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .messages import Msg

#: The widened margin never exceeds this (the config key's own maximum is 0.9).
MAX_MARGIN = 0.6


@dataclass(frozen=True)
class PastRun:
    """One finished run: where it ran, what the plan predicted and what the GPU measured (GiB, context excluded)."""

    run_id: str
    gpu: str
    family: str
    planned_gib: float
    measured_gib: float

    @property
    def over(self) -> float:
        """How far the measurement was above the plan, as a fraction (negative: below)."""
        return self.measured_gib / self.planned_gib - 1.0


@dataclass(frozen=True)
class HistoryNote:
    """The past runs of one GPU and model family: how far off the planner was, and by how much to widen."""

    gpu: str
    family: str
    runs: tuple[PastRun, ...]

    @property
    def low(self) -> float:
        return min(r.over for r in self.runs)

    @property
    def high(self) -> float:
        return max(r.over for r in self.runs)

    @property
    def widen(self) -> float:
        """The margin to add: the largest overshoot, or 0 when no run measured more than planned."""
        return max(0.0, self.high)

    def text(self, margin: float, *, enabled: bool = True) -> Msg:
        """The one-line note for the plan, given the configured margin (before widening)."""
        common = dict(n=len(self.runs), family=self.family, gpu=self.gpu, low=_pct(self.low), high=_pct(self.high),
                      old=f"{margin:.0%}")
        if self.widen <= 0:
            return Msg("history_within", **common)
        if not enabled:
            return Msg("history_over_kept", **common)
        return Msg("history_over", new=f"{widened_margin(margin, self):.0%}", **common)

    def to_dict(self, margin: float, *, enabled: bool = True) -> dict:
        return {"gpu": self.gpu, "family": self.family, "runs": [r.run_id for r in self.runs],
                "low_pct": round(self.low * 100, 1), "high_pct": round(self.high * 100, 1),
                "margin": margin, "widened_margin": widened_margin(margin, self) if enabled else margin,
                "enabled": enabled, "text": str(self.text(margin, enabled=enabled))}


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.0f}"


def same_gpu(a: str | None, b: str | None) -> bool:
    """Whether two GPU names are the same card (case and spacing ignored)."""
    norm = lambda s: " ".join(str(s or "").lower().split())  # noqa: E731
    return bool(norm(a)) and norm(a) == norm(b)


def history_note(past: Iterable[PastRun], gpu: str | None, family: str | None) -> HistoryNote | None:
    """The past runs on ``gpu`` with a model of ``family`` (``model_type``), or None when there are none."""
    runs = tuple(r for r in past if same_gpu(r.gpu, gpu) and family and r.family == family and r.planned_gib > 0)
    if not runs or gpu is None or family is None:
        return None
    return HistoryNote(gpu=str(gpu), family=str(family), runs=runs)


def widened_margin(margin: float, note: HistoryNote | None) -> float:
    """``margin`` widened by the largest overshoot of ``note``'s runs (unchanged without an overshoot), capped at
    :data:`MAX_MARGIN` (or ``margin`` itself when that is larger already)."""
    if note is None or note.widen <= 0:
        return margin
    return max(margin, min(MAX_MARGIN, margin + note.widen))
