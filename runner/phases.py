"""The worker's phases before training (start-up, imports, data, model) and its stop points between them.

A stop that arrives before the first optimizer step is acted upon at the next stop point: the worker ends the run
``stopped`` with the phase it had reached (:class:`StoppedBeforeTraining`), without a checkpoint to save. Test hook:
``FT_TUI_TEST_PHASE_DELAY`` (``"model:2,data:0.5"``) sleeps after a phase's status event, like a slow load.
``runner/worker.py`` calls these (and re-exports them).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Protocol

from ft_tui.planner.messages import Msg

from .events import EventWriter, StatusEvent
from .signals import StopRequest


class PhaseContext(Protocol):
    """What the phases need of the worker's ``Context``."""

    events: EventWriter
    stop: StopRequest | None
    world_size: int


PHASE_DELAY_ENV = "FT_TUI_TEST_PHASE_DELAY"

#: What each phase does, for the status events and the ``end`` message of a stop before the first step.
PHASES = {phase: Msg(f"status_{phase}") for phase in ("start-up", "imports", "data", "model")}


class StoppedBeforeTraining(Exception):
    """A stop was requested before the training loop began, or before it restarted after an OOM back-off
    (``restart``); ``phase`` is the phase that had just finished."""

    def __init__(self, phase: str, *, restart: bool = False) -> None:
        super().__init__(phase)
        self.phase = phase
        self.restart = restart


def phase_delays(value: str | None = None) -> dict[str, float]:
    """The test hook ``FT_TUI_TEST_PHASE_DELAY`` (``"model:2,data:0.5"``) as {phase: seconds}.

    Unknown phases and unreadable values are reported on stderr and skipped: a test hook never fails a run.
    """
    raw = os.environ.get(PHASE_DELAY_ENV, "") if value is None else value
    delays: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        phase, _, seconds = item.partition(":")
        try:
            delay = float(seconds)
        except ValueError:
            delay = -1.0
        if phase.strip() not in PHASES or not 0 <= delay < 3600:
            print(f"warning: {PHASE_DELAY_ENV}: ignoring '{item}' (expected phase:seconds, phases "
                  f"{', '.join(p for p in PHASES if p != 'start-up')})", file=sys.stderr, flush=True)
            continue
        delays[phase.strip()] = delay
    return delays


def begin_phase(ctx: PhaseContext, phase: str) -> None:
    """Announce ``phase`` (a ``status`` event) and apply the test delay for it."""
    ctx.events.emit(StatusEvent(phase=phase, message=PHASES[phase]))
    delay = phase_delays().get(phase)
    if delay:
        time.sleep(delay)  # like a real load, not cut short by a stop: the stop is acted upon after it


def stop_point(ctx: PhaseContext, phase: str, device: Any = None, *, restart: bool = False) -> None:
    """Raise :class:`StoppedBeforeTraining` when a stop was requested; ``phase`` has just finished.

    In a multi-process run every rank must take the same decision: with a process group (``device`` is where
    the flag tensor lives, ``TrainingArguments.device``) the ranks agree on it; without one no rank stops alone
    and the request waits for the first agreed check.
    """
    stop = ctx.stop
    assert stop is not None, "the worker installs its stop handler before its first phase"
    if ctx.world_size > 1:
        if device is None:
            return
        from .callbacks import agreed_stop

        requested = agreed_stop(stop, device)
    else:
        requested = stop.requested
    if requested:
        raise StoppedBeforeTraining(phase, restart=restart)
