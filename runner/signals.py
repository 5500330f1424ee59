"""Stop signals: which signals mean "stop the run", and the handlers of the processes that receive them.

- :data:`STOP_SIGNALS` (SIGTERM, SIGINT) mean "save a checkpoint, then stop"; :data:`STOP_NOW_SIGNAL` (SIGUSR1,
  sent only by ``ft-tui stop --now``) means "stop at once, without saving". A stop signal repeated while the first
  is being honoured is only counted: it never turns a saving stop into one that loses the steps since the last
  checkpoint (two ``ft-tui stop`` in a row, or a stop from the TUI and one from a shell, end the same way).
- :data:`HANDLED_SIGNALS` is the one list of what the processes handle: ``ft-tui stop`` records a stop when it sends
  one of them (``control.signal_run``), ``launch.spawn_worker`` starts the worker and the supervisor with them
  blocked (:func:`stop_signals_blocked`), and both unblock them once their handler is in place.
- :class:`StopRequest` is the trainer's flag (``worker.py`` installs it as its very first statement, before any
  other import; it imports only ``signal``, so this module stays that cheap).
- :class:`StopSignals` counts the supervisor's stop signals (``supervise.py`` acts on the count in its wait loop).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from ft_tui.planner.messages import Msg

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_NOW_SIGNAL = signal.SIGUSR1
HANDLED_SIGNALS = (*STOP_SIGNALS, STOP_NOW_SIGNAL)


class StopRequest:
    """A flag set by SIGTERM or SIGINT (stop after saving a checkpoint); repeats are only counted.

    SIGUSR1 (``ft-tui stop --now``) raises ``KeyboardInterrupt`` (stop now, no checkpoint) while
    :attr:`interruptible` is on: ``main`` turns it on inside the block that turns that exception into an ``end``
    event, and every path that writes the end turns it off again. Outside that block it sets the flag like a
    SIGTERM (the run stops at its next check, saving a checkpoint when it is training).
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self.count = 0
        self.interruptible = False

    def install(self) -> StopRequest:
        """Handle the stop signals in this (main) thread, then unblock them (the launcher blocks them)."""
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, self._handle)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)  # a pending signal is handled right here
        return self

    def _handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        self.count += 1
        if signum == STOP_NOW_SIGNAL and self.interruptible:
            self.interruptible = False
            self.signal_name = name
            raise KeyboardInterrupt(Msg("stopped_at_once", signal=name))
        self.requested = True
        self.signal_name = self.signal_name or name

    def request(self, reason: str = "requested") -> None:
        self.requested = True
        self.signal_name = self.signal_name or reason


class StopSignals:
    """Counts the stop signals (``now``: how many were SIGUSR1); the supervisor acts on the counts in its wait loop
    (nothing happens in the handler)."""

    def __init__(self) -> None:
        self.count = 0
        self.now = 0
        self.name: str | None = None

    def install(self) -> StopSignals:
        """Handle the stop signals, then unblock them (``spawn_worker`` starts this process with them blocked, so a
        stop sent during its start-up waits for this handler instead of killing it)."""
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, self._handle)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        self.now += signum == STOP_NOW_SIGNAL
        self.name = self.name or signal.Signals(signum).name


@contextmanager
def stop_signals_blocked(enabled: bool = True) -> Iterator[None]:
    """Block the stop signals in this thread while a child is forked, so the child starts with them blocked.

    Only this thread's mask changes, for the few milliseconds of the spawn; a signal that reaches this process
    meanwhile is delivered when the old mask is restored.
    """
    if not enabled:
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
