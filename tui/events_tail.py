"""A reader of a run directory for the run screen, with no Textual and no torch.

:class:`RunModel` (pure) folds progress events into what the run screen shows; :class:`RunTail` (file I/O only)
reads what was appended to ``events.jsonl`` (through :func:`ft_tui.runner.rundir.read_events`, which leaves a torn
last line for the next read), re-checks the run's status, and tails ``train.log`` (:class:`LogTail`). The run
screen's worker thread calls :meth:`RunTail.poll` and posts :meth:`RunModel.snapshot`, an immutable
:class:`RunView`, so a newer view can replace an older one still queued without losing anything.

Rules for a history that is not a straight line:

- A resumed run writes a second ``start`` event; a training loop restarted by the OOM back-off or a resume
  re-logs steps it had already logged. A point whose step is not past the last recorded one cuts the history back
  to before that step, so the chart shows the attempt that counts, never two values for one step.
- An ``end`` event ends the current attempt only: a later ``start`` (resume) makes the run live again.
- Unknown event types and unknown fields are ignored; values of the wrong type are treated as missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_tui.planner.messages import Msg, event_message
from ft_tui.runner.rundir import RunDir, read_events

#: Keep at most this many points per loss series; older halves are thinned (every second point kept).
MAX_POINTS = 4096
#: Keep at most this many checkpoint / back-off / error records.
MAX_RECORDS = 200

LIVE = ("starting", "running")


def _number(value: Any) -> float | None:
    """A finite float, or None for anything else (strings, bools, NaN, missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    num = _number(value)
    return int(num) if num is not None else None


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: str
    time: float | None


@dataclass(frozen=True)
class Backoff:
    """An out-of-memory retry: at ``step``, what changed (``old`` -> ``new``) and where training restarted."""

    step: int | None
    reason: str
    old: Mapping[str, Any]
    new: Mapping[str, Any]
    restart_from: int | None
    time: float | None

    def describe(self) -> str:
        """``per_device_train_batch_size 8->4, gradient_accumulation_steps 1->2``."""
        keys = list(self.new) or list(self.old)
        parts = [f"{k} {self.old.get(k, '?')}->{self.new.get(k, '?')}" for k in keys]
        return ", ".join(parts) or self.reason


@dataclass(frozen=True)
class RunView:
    """An immutable snapshot of a :class:`RunModel` (safe to hand from a worker thread to the UI)."""

    phase: str
    step: int
    total_steps: int | None
    epoch: float | None
    loss: float | None
    lr: float | None
    grad_norm: float | None
    tokens_per_s: float | None
    tokens_seen: int | None
    elapsed_s: float | None
    eta_s: float | None
    last_log_time: float | None
    first_time: float | None
    last_time: float | None
    attempts: int
    resumed_from: int | None
    message: str | None
    train_loss: tuple[tuple[int, float], ...]
    eval_loss: tuple[tuple[int, float], ...]
    checkpoints: tuple[Checkpoint, ...]
    backoffs: tuple[Backoff, ...]
    errors: tuple[str, ...]
    end: Mapping[str, Any] | None
    gpu_mem_reserved_gib: float | None
    events_seen: int
    message_phase: str | None = None  # the ``phase`` of the status event that gave ``message`` (its code)

    @property
    def fraction(self) -> float | None:
        """Progress in [0, 1], or None without a known total."""
        if not self.total_steps:
            return None
        return max(0.0, min(1.0, self.step / self.total_steps))

    @property
    def eval_last(self) -> float | None:
        return self.eval_loss[-1][1] if self.eval_loss else None

    def eta_at(self, now: float | None) -> float | None:
        """The ETA as of ``now`` (Unix seconds): the last log's estimate minus the time since that log.

        ``now=None`` gives the estimate as written. None once the run has ended or before any estimate."""
        if self.eta_s is None or self.phase not in LIVE:
            return None
        if now is None or self.last_log_time is None:
            return self.eta_s
        return max(0.0, self.eta_s - max(0.0, now - self.last_log_time))

    def duration(self) -> float | None:
        """Seconds from the first event to the last one (the run's wall time so far, as the file tells it)."""
        if self.first_time is None or self.last_time is None:
            return None
        return max(0.0, self.last_time - self.first_time)


@dataclass
class RunModel:
    """Folds events into the run's current state and its loss history.

    ``ingest(events)`` may be called any number of times with consecutive batches; ``snapshot()`` returns a
    :class:`RunView`. ``phase`` is what the events alone say (``waiting`` before any event, ``starting`` until the
    ``start`` event, ``running``, then the ``end`` event's status); the live status of a run (``interrupted`` when
    its process died) comes from ``RunDir.status()``, not from here.
    """

    phase: str = "waiting"
    step: int = 0
    total_steps: int | None = None
    epoch: float | None = None
    loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    tokens_seen: int | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None
    last_log_time: float | None = None
    first_time: float | None = None
    last_time: float | None = None
    attempts: int = 0
    resumed_from: int | None = None
    message: str | None = None
    message_phase: str | None = None
    gpu_mem_reserved_gib: float | None = None
    end: dict[str, Any] | None = None
    events_seen: int = 0
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    eval_loss: list[tuple[int, float]] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    backoffs: list[Backoff] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    last_event: dict[str, Any] | None = None

    # -- ingest ------------------------------------------------------------------------------------------------
    def ingest(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Fold ``events`` in, in order; returns how many were events of a known type."""
        known = 0
        for ev in events:
            if not isinstance(ev, Mapping):
                continue
            handler = _HANDLERS.get(str(ev.get("type")))
            self._clock(ev)
            self.last_event = dict(ev)
            if handler is None:
                continue
            handler(self, ev)
            known += 1
        self.events_seen += known
        return known

    def _clock(self, ev: Mapping[str, Any]) -> None:
        t = _number(ev.get("time"))
        if t is None:
            return
        if self.first_time is None:
            self.first_time = t
        self.last_time = t if self.last_time is None else max(self.last_time, t)

    def _on_status(self, ev: Mapping[str, Any]) -> None:
        if isinstance(ev.get("message"), str):
            self.message = event_message(ev)
            phase = ev.get("phase")
            self.message_phase = phase if isinstance(phase, str) else None
        if self.phase == "waiting":
            self.phase = "starting"

    def _on_start(self, ev: Mapping[str, Any]) -> None:
        self.attempts += 1
        self.phase = "running"
        self.end = None
        self.message = self.message_phase = None
        self.total_steps = _int(ev.get("total_steps")) or self.total_steps
        resumed = _int(ev.get("resumed_from"))
        if resumed is None and self.attempts > 1:
            resumed = self.step
        if self.attempts > 1 or resumed:
            self.resumed_from = resumed
            if resumed is not None:
                self.step = resumed
        # Per-attempt rates and estimates are stale until the new attempt logs.
        self.tokens_per_s = self.eta_s = None

    def _on_log(self, ev: Mapping[str, Any]) -> None:
        step = _int(ev.get("step"))
        if self.phase in ("waiting", "starting"):
            self.phase = "running"
        if step is not None:
            self.step = step
        self.total_steps = _int(ev.get("total_steps")) or self.total_steps
        for name in ("epoch", "lr", "grad_norm", "tokens_per_s", "elapsed_s", "eta_s"):
            if name in ev:
                setattr(self, name, _number(ev.get(name)))
        self.tokens_seen = _int(ev.get("tokens_seen")) if "tokens_seen" in ev else self.tokens_seen
        self.gpu_mem_reserved_gib = _number(ev.get("gpu_mem_reserved_gib")) or self.gpu_mem_reserved_gib
        self.last_log_time = _number(ev.get("time")) or self.last_log_time
        loss = _number(ev.get("loss"))
        if loss is not None:
            self.loss = loss
            if step is not None:
                _append_point(self.train_loss, step, loss)

    def _on_eval(self, ev: Mapping[str, Any]) -> None:
        step = _int(ev.get("step"))
        loss = _number(ev.get("eval_loss"))
        if step is not None and loss is not None:
            _append_point(self.eval_loss, step, loss)
        if step is not None:
            self.step = max(self.step, step)

    def _on_checkpoint(self, ev: Mapping[str, Any]) -> None:
        step = _int(ev.get("step"))
        if step is None:
            return
        self.checkpoints = [c for c in self.checkpoints if c.step != step]
        self.checkpoints.append(Checkpoint(step, str(ev.get("path") or f"checkpoint-{step}"),
                                           _number(ev.get("time"))))
        del self.checkpoints[:-MAX_RECORDS]

    def _on_backoff(self, ev: Mapping[str, Any]) -> None:
        old = ev.get("old") if isinstance(ev.get("old"), Mapping) else {}
        new = ev.get("new") if isinstance(ev.get("new"), Mapping) else {}
        self.backoffs.append(Backoff(_int(ev.get("step")), str(ev.get("reason") or "out of memory"), dict(old),
                                     dict(new), _int(ev.get("restart_from")), _number(ev.get("time"))))
        del self.backoffs[:-MAX_RECORDS]
        restart = self.backoffs[-1].restart_from
        if restart is not None:
            self.step = restart
        self.tokens_per_s = self.eta_s = None

    def _on_error(self, ev: Mapping[str, Any]) -> None:
        text = event_message(ev) if isinstance(ev.get("message"), str) and ev["message"] else Msg("error_no_message")
        self.errors.append(text)
        del self.errors[:-MAX_RECORDS]

    def _on_end(self, ev: Mapping[str, Any]) -> None:
        self.end = dict(ev)
        status = ev.get("status")
        self.phase = status if isinstance(status, str) and status else "completed"
        step = _int(ev.get("step"))
        if step is not None:
            self.step = step
        self.total_steps = _int(ev.get("total_steps")) or self.total_steps
        loss = _number(ev.get("loss"))
        if loss is not None:
            self.loss = loss
        if self.phase == "failed" and isinstance(ev.get("message"), str) and ev["message"] not in self.errors:
            self.errors.append(event_message(ev))
        self.eta_s = None

    # -- views -------------------------------------------------------------------------------------------------
    def snapshot(self) -> RunView:
        """An immutable copy of the current state."""
        return RunView(
            phase=self.phase, step=self.step, total_steps=self.total_steps, epoch=self.epoch, loss=self.loss,
            lr=self.lr, grad_norm=self.grad_norm, tokens_per_s=self.tokens_per_s, tokens_seen=self.tokens_seen,
            elapsed_s=self.elapsed_s, eta_s=self.eta_s, last_log_time=self.last_log_time,
            first_time=self.first_time, last_time=self.last_time, attempts=self.attempts,
            resumed_from=self.resumed_from, message=self.message, train_loss=tuple(self.train_loss),
            eval_loss=tuple(self.eval_loss), checkpoints=tuple(self.checkpoints), backoffs=tuple(self.backoffs),
            errors=tuple(self.errors), end=dict(self.end) if self.end else None,
            gpu_mem_reserved_gib=self.gpu_mem_reserved_gib, events_seen=self.events_seen,
            message_phase=self.message_phase,
        )


_HANDLERS = {
    "status": RunModel._on_status,
    "start": RunModel._on_start,
    "log": RunModel._on_log,
    "eval": RunModel._on_eval,
    "checkpoint": RunModel._on_checkpoint,
    "backoff": RunModel._on_backoff,
    "error": RunModel._on_error,
    "end": RunModel._on_end,
}


def _append_point(series: list[tuple[int, float]], step: int, value: float) -> None:
    """Append ``(step, value)``; a step not past the last one first drops the points it re-does."""
    if series and step <= series[-1][0]:
        keep = len(series)
        while keep and series[keep - 1][0] >= step:
            keep -= 1
        del series[keep:]
    series.append((step, value))
    if len(series) > MAX_POINTS:
        half = len(series) // 2
        series[:half] = series[:half:2]


# ----------------------------------------------------------------------------------------------------------------
# Series helpers for the chart
# ----------------------------------------------------------------------------------------------------------------

def smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's scalar smoothing, debiased as in Adam).

    ``s_t = w * s_{t-1} + (1 - w) * x_t`` with ``s_0 = 0``, reported as ``s_t / (1 - w**t)`` so early points are
    not pulled toward zero (Kingma & Ba 2015, section 3). ``weight`` in [0, 1); 0 returns the values unchanged.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out: list[float] = []
    acc = 0.0
    for t, x in enumerate(values, start=1):
        acc = weight * acc + (1.0 - weight) * x
        out.append(acc / (1.0 - weight ** t))
    return out


def step_column(step: int, first: int, last: int, width: int) -> int:
    """The column (0 .. width-1) that ``step`` falls in when steps ``first`` .. ``last`` span ``width`` columns."""
    span = max(1, last - first + 1)
    return max(0, min(width - 1, int((step - first) * width / span)))


def resample(points: Sequence[tuple[int, float]], width: int) -> list[float]:
    """``points`` (step, value), ascending steps, as ``width`` values over the step axis (:func:`step_column`).

    A column holding several points gets their mean; an empty one (fewer points than columns, or a gap in the
    steps) carries the value before it, so a short run fills the width as a step function. One point gives one
    column.
    """
    if width <= 0 or not points:
        return []
    if len(points) == 1:
        return [points[0][1]]
    first, last = points[0][0], points[-1][0]
    sums = [0.0] * width
    counts = [0] * width
    for step, value in points:
        i = step_column(step, first, last, width)
        sums[i] += value
        counts[i] += 1
    out: list[float] = []
    prev = points[0][1]
    for s, c in zip(sums, counts, strict=True):
        if c:
            prev = s / c
        out.append(prev)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Tailing a run directory (file I/O, no UI): what the run screen's worker calls every half second
# ----------------------------------------------------------------------------------------------------------------

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
        if first:
            self.offset = max(0, size - self.window)
        elif size < self.offset:
            self.offset, self._partial = 0, b""
        if size == self.offset:
            return []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read(min(size - self.offset, self.window))
        skip_first = first and self.offset > 0
        self.offset += len(data)
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
    arrives that may change it (start, end).
    """

    def __init__(self, run_dir: Path | str, *, status_every: float = 2.0):
        self.run = RunDir(run_dir)
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
        decisive = any(ev.get("type") in ("start", "end") for ev in events)
        if decisive or self._status_checked is None or now - self._status_checked >= self.status_every:
            last = self.model.last_event
            status = self.run.status([last] if last is not None else [])
            self._status_checked = now
        return TailUpdate(self.model.snapshot() if events else None, status, tuple(self.log.read()))
