"""Stop signals: which signals mean "stop the run", and the handlers of the processes that receive them.

- :data:`STOP_SIGNALS` (SIGTERM, SIGINT) is the one list: ``ft-tui stop`` records a stop when it sends one of them
  (``control.signal_run``), ``launch.spawn_worker`` starts the worker and the supervisor with them blocked
  (:func:`stop_signals_blocked`), and both unblock them once their handler is in place.
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


class StopRequest:
    """A flag set by SIGTERM or SIGINT.

    A repeated signal raises ``KeyboardInterrupt`` (stop now, no checkpoint) once :attr:`interrupt_on_repeat` is
    on: ``main`` turns it on inside the block that turns that exception into an ``end`` event, and every path that
    writes the end turns it off again. Before and after that, a repeat is only counted.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self.count = 0
        self.interrupt_on_repeat = False

    def install(self) -> StopRequest:
        """Handle SIGTERM and SIGINT in this (main) thread, then unblock them (the launcher blocks them)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a pending signal is handled right here
        return self

    def _handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        self.count += 1
        if self.requested and self.interrupt_on_repeat:
            self.interrupt_on_repeat = False
            raise KeyboardInterrupt(Msg("stopped_at_once", signal=name))
        self.requested = True
        self.signal_name = self.signal_name or name

    def request(self, reason: str = "requested") -> None:
        self.requested = True
        self.signal_name = self.signal_name or reason


class StopSignals:
    """Counts SIGTERM/SIGINT; the supervisor acts on the count in its wait loop (nothing happens in the handler)."""

    def __init__(self) -> None:
        self.count = 0
        self.name: str | None = None

    def install(self) -> StopSignals:
        """Handle the stop signals, then unblock them (``spawn_worker`` starts this process with them blocked, so a
        stop sent during its start-up waits for this handler instead of killing it)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        self.name = self.name or signal.Signals(signum).name


@contextmanager
def stop_signals_blocked(enabled: bool = True) -> Iterator[None]:
    """Block SIGTERM and SIGINT in this thread while a child is forked, so the child starts with them blocked.

    Only this thread's mask changes, for the few milliseconds of the spawn; a signal that reaches this process
    meanwhile is delivered when the old mask is restored.
    """
    if not enabled:
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
