"""Run statuses: the one list of what ``state.json`` ``status`` (and :meth:`RunDir.status`) can say.

``starting`` / ``running`` while the trainer lives; ``completed``, ``failed`` or ``stopped`` once it wrote its
``end``; ``interrupted`` when it died without one (derived by :meth:`RunDir.status`, never written); ``prepared``
for a run directory written by ``ft-tui train --print-launch`` that nobody has launched yet. The run directory,
the control library, the CLI and the TUI screens all read these names from here.
"""

from __future__ import annotations

from ft_tui.planner.messages import Msg, catalog

STARTING = "starting"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
STOPPED = "stopped"
INTERRUPTED = "interrupted"
PREPARED = "prepared"  # a run directory written by --print-launch, waiting for someone to run the line
UNKNOWN = "unknown"

#: The trainer (or the supervisor of a multi-process run) is alive.
LIVE_STATUSES = (STARTING, RUNNING)
#: What an ``end`` event says.
END_STATUSES = (COMPLETED, FAILED, STOPPED)
#: ``ft-tui resume`` continues these (from the last complete checkpoint, or from the start).
RESUMABLE = (INTERRUPTED, STOPPED, FAILED)
#: A run that ended like this is a success for the CLI (exit status 0).
OK_STATUSES = (COMPLETED, STOPPED)
#: Every status, in the order a run goes through them.
STATUSES = (PREPARED, STARTING, RUNNING, COMPLETED, STOPPED, FAILED, INTERRUPTED, UNKNOWN)


def status_word(status: str) -> Msg | str:
    """The word for ``status`` as a message (``run_status_<status>``: Chinese in the TUI); an unknown one as it is."""
    code = f"run_status_{status}"
    return Msg(code) if code in catalog() else status
