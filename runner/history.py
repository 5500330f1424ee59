"""Planned against measured GPU memory of a run, and the run index as the planner's history of this machine.

The trainer writes into every ``end`` event of a run that trained:

- ``planned``: the plan's prediction from ``plan.json`` (:func:`planned_memory`): ``peak_gib`` per device, the
  ``cuda_context_gib`` it includes, and ``gpu`` (the card it was planned for); null when the run had no estimate;
- ``measured``: per rank, what its GPU measured (:func:`ft_tui.runner.callbacks.device_memory`): the device
  name, torch's ``max_allocated_gib`` / ``max_reserved_gib`` and the device's ``total_gib``; null on a CPU run
  (never zeros);
- ``model_type``: the model's family, for matching past runs.

:func:`memory_comparison` puts the two side by side (``runs --json``, the run screen); :func:`past_runs` reads the
finished runs of the run index into the planner's :class:`~ft_tui.planner.history.PastRun` values, which
``ft-tui plan`` and the TUI's plan panel turn into "past runs here: measured 4-9 % above plan".

Torch-free (the CLI and the TUI import it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ft_tui.planner.history import PastRun

from .events import fold, read_events
from .rundir import RunDir, indexed_runs, read_json


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def planned_memory(plan: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The plan's memory prediction per device from a ``plan.json`` dict, or None when it holds no estimate."""
    est = (plan or {}).get("estimate")
    peak = _num(est.get("peak_gib")) if isinstance(est, Mapping) else None
    if peak is None:
        return None
    out: dict[str, Any] = {"peak_gib": round(peak, 3)}
    breakdown = est.get("breakdown_gib")
    ctx = _num(breakdown.get("cuda_context")) if isinstance(breakdown, Mapping) else None
    if ctx is not None:
        out["cuda_context_gib"] = round(ctx, 3)
    hw = (plan or {}).get("hardware")
    if isinstance(hw, Mapping) and hw.get("name"):
        out["gpu"] = str(hw["name"])
    return out


def run_planned_memory(run: RunDir) -> dict[str, Any] | None:
    """:func:`planned_memory` of the run's ``plan.json``."""
    return planned_memory(read_json(run.plan_path, default={}) or {})


def memory_comparison(planned: Mapping[str, Any] | None, measured: Iterable[Mapping[str, Any]] | None
                      ) -> dict[str, Any] | None:
    """Planned against measured, per device, CUDA context excluded on both sides (torch does not see it).

    ``planned_gib`` is the plan's peak minus its CUDA context, ``measured_gib`` the largest reserved peak over the
    ranks, ``over_pct`` how far the measurement was above the plan. None unless both sides are known.
    """
    if not isinstance(planned, Mapping) or measured is None:
        return None
    peaks = [_num(m.get("max_reserved_gib")) for m in measured if isinstance(m, Mapping)]
    peaks = [p for p in peaks if p is not None]
    peak = _num(planned.get("peak_gib"))
    if not peaks or peak is None:
        return None
    plan_gib = peak - (_num(planned.get("cuda_context_gib")) or 0.0)
    if plan_gib <= 0:
        return None
    worst = max(peaks)
    return {"planned_gib": round(plan_gib, 3), "measured_gib": round(worst, 3),
            "over_pct": round((worst / plan_gib - 1.0) * 100, 1)}


#: The end event is the last line of events.jsonl: read this much of the file's end, not the whole history.
TAIL_BYTES = 64 * 1024


def _end_event(run: RunDir) -> dict[str, Any] | None:
    """The run's last ``end`` event, read from the end of events.jsonl (None when the run has not ended)."""
    if run.read_state().get("status") not in ("completed", "stopped"):
        return None
    try:
        start = max(0, run.events_path.stat().st_size - TAIL_BYTES)
    except OSError:
        return None
    end = fold(read_events(run.events_path, start)[0]).end  # a line cut by the start is skipped
    return dict(end) if end is not None else None


def past_run(run: RunDir) -> PastRun | None:
    """A finished run that measured its GPU, as the planner's :class:`PastRun` (None for any other run)."""
    end = _end_event(run)
    if end is None or end.get("status") not in ("completed", "stopped"):
        return None
    measured = end.get("measured")
    planned = end.get("planned")
    cmp = memory_comparison(planned, measured if isinstance(measured, list) else None)
    family = end.get("model_type")
    if cmp is None or not family:
        return None
    devices = {str(m.get("device")) for m in measured if isinstance(m, Mapping) and m.get("device")}
    if len(devices) != 1:  # a run over different cards says nothing about one of them
        return None
    return PastRun(run_id=run.id, gpu=devices.pop(), family=str(family), planned_gib=cmp["planned_gib"],
                   measured_gib=cmp["measured_gib"])


def past_runs() -> list[PastRun]:
    """Every finished run in this machine's run index that carries a plan and a GPU measurement, oldest first."""
    out = []
    for run in indexed_runs():
        try:
            item = past_run(run)
        except (OSError, ValueError, TypeError, AttributeError):  # an unreadable run never breaks planning
            continue
        if item is not None:
            out.append(item)
    return out


def cmd_plan(args) -> int:
    """`ft-tui plan`: the planner's command with this machine's run history (unless ``use_run_history: false``)."""
    from ft_tui.planner.cli import cmd_plan as plan_command
    from ft_tui.templates.planning import planning_data
    from ft_tui.templates.rules import config_findings

    return plan_command(args, planning_data=planning_data, rules=config_findings, history=past_runs())


def cmd_estimate(args) -> int:
    """`ft-tui estimate`: the planner's command with the data statistics and the rules of templates/ (it reads no run
    history)."""
    from ft_tui.planner.cli import cmd_estimate as estimate_command
    from ft_tui.templates.planning import planning_data
    from ft_tui.templates.rules import config_findings

    return estimate_command(args, planning_data=planning_data, rules=config_findings)
