"""Following a run directory as it grows: new events into the fold, the run's status, and train.log's new lines.

File I/O only (no UI, no torch, no Textual). :class:`RunTail` reads what was appended to ``events.jsonl`` (through
:func:`ft_tui.runner.events.read_events`, which leaves a torn last line for the next read) into a
:class:`~ft_tui.runner.events.RunModel`, re-checks the run's status, and tails ``train.log`` (:class:`LogTail`).
The TUI's run screen calls :meth:`RunTail.poll` from a worker thread every half second and posts the immutable
:class:`~ft_tui.runner.events.RunView` it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ft_tui.runner.events import END, START, RunModel, RunView, read_events
from ft_tui.runner.rundir import RunDir

#: On attach, show at most this much of the end of train.log; later polls read at most this much each.
LOG_WINDOW_BYTES = 64 * 1024


@dataclass(frozen=True)
class TailUpdate:
    """What one :meth:`RunTail.poll` found: a new view (None when no event arrived), the run status when it was
    (re)checked, and the new complete lines of train.log."""

    view: RunView | None
    status: str | None
    log_lines: tuple[str, ...]


class LogTail:
    """Reads the lines appended to a text file (train.log), starting near its end.

    A line still being written is held back until its newline arrives; a carriage-return progress line keeps only
    its last state; a file that shrank (rotated or truncated) is read again from its start.
    """

    def __init__(self, path: Path | str, window: int = LOG_WINDOW_BYTES):
        self.path = Path(path)
        self.window = window
        self.offset: int | None = None
        self._partial = b""

    def read(self) -> list[str]:
        """The complete lines added since the last call (on the first call: the last ``window`` bytes' lines)."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        first = self.offset is None
        offset = max(0, size - self.window) if self.offset is None else self.offset
        if not first and size < offset:
            offset, self._partial = 0, b""
        self.offset = offset
        if size == offset:
            return []
        with self.path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(min(size - offset, self.window))
        skip_first = first and offset > 0
        self.offset = offset + len(data)
        data = self._partial + data
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
            return []
        self._partial = data[end + 1:]
        lines = data[:end].split(b"\n")
        if skip_first:
            lines = lines[1:]  # the window began mid-line
        return [_clean_line(raw) for raw in lines]


def _clean_line(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").rstrip("\r")
    if "\r" in text:
        text = text.rsplit("\r", 1)[-1]
    return text.expandtabs(4)


class RunTail:
    """Follows one run directory: new events into a :class:`RunModel`, the status, and train.log's new lines.

    ``poll(now)`` reads what was appended since the last call. The status (``RunDir.status()``, which reads
    state.json and checks the process) is re-checked every ``status_every`` seconds, and at once when an event
    arrives that may change it (start, end); the view carries the last status checked.
    """

    def __init__(self, run_dir: Path | str, *, status_every: float = 2.0):
        self.run = RunDir(Path(run_dir))
        self.model = RunModel()
        self.offset = 0
        self.status_every = status_every
        self.log = LogTail(self.run.log_path)
        self._status_checked: float | None = None

    def poll(self, now: float) -> TailUpdate:
        """Read what was appended; ``now`` is a monotonic clock in seconds (it only schedules status checks)."""
        events, self.offset = read_events(self.run.events_path, self.offset)
        self.model.ingest(events)
        status = None
        decisive = any(ev.get("type") in (START, END) for ev in events)
        if decisive or self._status_checked is None or now - self._status_checked >= self.status_every:
            status = self.model.status = self.run.status(self.model)
            self._status_checked = now
        return TailUpdate(self.model.snapshot() if events else None, status, tuple(self.log.read()))
