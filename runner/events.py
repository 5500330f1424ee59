"""The run-event protocol: the schema, the writer and reader of ``events.jsonl``, and the one fold of events into
a run's state that every reader uses.

Schema. An event is one JSON object per line: ``v`` (:data:`PROTOCOL_VERSION`), ``type``, ``time`` (Unix seconds),
then the fields of its type. Each type is one frozen dataclass below (``StatusEvent`` ... ``EndEvent``) whose
fields are that type's field names: a misspelt field is a ``TypeError`` in the writer, and adding a field is one
line in its class. Fields left None are not written. The trainer, the supervisor, the fake trainers and the tests
build events through these classes and write them with :class:`EventWriter`.

Reading. :func:`read_events` leaves a torn last line (a writer caught mid-line) for the next read, skips lines that
are not JSON objects and keeps unknown fields. :class:`RunModel` folds events into the run's state;
:class:`RunView` is its immutable snapshot. The TUI's run and runs screens, ``attach --plain``, ``runs [--json]``
and the supervisor read runs through them. Rules for a history that is not a straight line:

- A resumed run writes a second ``start``; a loop restarted by the OOM back-off or a resume re-logs steps. A point
  whose step is not past the last recorded one cuts the history back to before that step, so the chart shows the
  attempt that counts, never two values for one step.
- An ``end`` ends the current attempt only: a later ``start`` makes the run live again, and
  :meth:`RunView.current_end` ignores an ``end`` written before the latest launch (``state.json`` ``launched``).
- Unknown event types and fields are ignored; values of the wrong type are treated as missing.
Torch-free and Textual-free."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ft_tui.planner.messages import Msg, event_fields, event_message
from ft_tui.runner.status import COMPLETED, FAILED, LIVE_STATUSES

PROTOCOL_VERSION = 1

# Event types ------------------------------------------------------------------------------------------------------
STATUS, START, LOG, EVAL, CHECKPOINT, BACKOFF, ERROR, END = (
    "status", "start", "log", "eval", "checkpoint", "backoff", "error", "end")


# -- Schema: one class per event type ------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Event:
    """The envelope every event shares; ``time`` None means "now" (the writer stamps it)."""

    TYPE: ClassVar[str] = ""
    time: float | None = None

    def to_dict(self, *, now: float | None = None) -> dict[str, Any]:
        """The event as written: ``v``, ``type``, ``time`` (``now`` when the event has none), then every field
        that is not None (a field marked ``flatten`` spreads its mapping beside the others)."""
        out: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": self.TYPE}
        when = self.time if self.time is not None else now
        if when is not None:
            out["time"] = when
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "time" or value is None:
                continue
            if f.metadata.get("flatten"):
                out.update({k: v for k, v in value.items() if v is not None})
            elif isinstance(value, Msg):  # its code and values too, so the TUI can say it in Chinese
                out.update(event_fields(value))
            else:
                out[f.name] = value
        return out


@dataclass(frozen=True, kw_only=True)
class StatusEvent(Event):
    """What the trainer is doing before training begins (``phase``: imports, data, model; see worker.PHASES)."""

    TYPE: ClassVar[str] = STATUS
    message: str
    phase: str | None = None


@dataclass(frozen=True, kw_only=True)
class StartEvent(Event):
    """The training loop began (once per trainer process; a resumed run writes another)."""

    TYPE: ClassVar[str] = START
    total_steps: int | None = None
    resumed_from: int | None = None  # the checkpoint step this attempt continues from
    hardware: Any = None  # a list of GPU names, or "cpu"
    world_size: int | None = None
    config_digest: str | None = None
    data: Mapping[str, Any] | None = None  # the data statistics summary
    template: str | None = None
    template_reason: str | None = None
    model_name_or_path: str | None = None
    method: str | None = None
    batch: Mapping[str, Any] | None = None  # per_device, accumulation, processes, effective
    model: Mapping[str, Any] | None = None  # what modeling.build_model reports
    warnings: list[str] | None = None
    pid: int | None = None  # who trains (pid, start ticks, host): `stop` finds the worker from here when
    pid_start: int | None = None  # state.json is damaged or gone
    host: str | None = None


@dataclass(frozen=True, kw_only=True)
class LogEvent(Event):
    """Training progress at an optimizer step. Rates and the ETA count only this process's own steps; the GPU
    fields are the allocator's peaks so far (``torch.cuda.max_memory_reserved`` / ``max_memory_allocated``)."""

    TYPE: ClassVar[str] = LOG
    step: int
    total_steps: int | None = None
    epoch: float | None = None
    loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    tokens_seen: int | None = None
    tokens_per_s: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None
    gpu_mem_reserved_gib: float | None = None
    gpu_mem_allocated_gib: float | None = None


@dataclass(frozen=True, kw_only=True)
class EvalEvent(Event):
    """An evaluation; ``metrics`` are the other ``eval_*`` values, written beside ``eval_loss``."""

    TYPE: ClassVar[str] = EVAL
    step: int
    eval_loss: float | None = None
    metrics: Mapping[str, Any] | None = field(default=None, metadata={"flatten": True})


@dataclass(frozen=True, kw_only=True)
class CheckpointEvent(Event):
    """A checkpoint folder is complete on disk (written only after it was marked complete)."""

    TYPE: ClassVar[str] = CHECKPOINT
    step: int
    path: str


@dataclass(frozen=True, kw_only=True)
class BackoffEvent(Event):
    """An out-of-memory retry: at ``step`` the settings changed ``old`` -> ``new``; training restarts from
    checkpoint ``restart_from`` (0: the start). A multi-process run's supervisor adds ``ranks`` and ``attempt``."""

    TYPE: ClassVar[str] = BACKOFF
    step: int | None = None
    reason: str | None = None
    old: Mapping[str, Any] | None = None
    new: Mapping[str, Any] | None = None
    restart_from: int | None = None
    ranks: list[int] | None = None
    attempt: int | None = None


@dataclass(frozen=True, kw_only=True)
class ErrorEvent(Event):
    """Why the run failed (an ``end`` ``failed`` follows)."""

    TYPE: ClassVar[str] = ERROR
    message: str
    traceback_tail: str | None = None


@dataclass(frozen=True, kw_only=True)
class EndEvent(Event):
    """The attempt ended: ``status`` completed, stopped or failed."""

    TYPE: ClassVar[str] = END
    status: str
    step: int | None = None
    total_steps: int | None = None
    loss: float | None = None  # the last logged training loss
    metrics: Mapping[str, Any] | None = None  # the Trainer's summary (train_loss, train_runtime, ...)
    output: str | None = None  # the adapter or model folder of a completed run
    checkpoint: str | None = None  # the newest complete checkpoint of a stopped run
    reason: str | None = None  # the signal that stopped it
    message: str | None = None
    exit_code: int | None = None
    phase: str | None = None  # a stop before the first step: the phase it came in
    log_tail: list[str] | None = None  # the supervisor's failure: the last lines of train.log
    planned: Mapping[str, Any] | None = None  # GPU memory the plan predicted (runner/history.py)
    measured: list[Mapping[str, Any]] | None = None  # per rank, what its GPU measured (None on a CPU run)
    model_type: str | None = None  # the model family, for the planner's history of this machine


# -- Writing and reading events.jsonl ------------------------------------------------------------------------

class EventWriter:
    """Appends events to ``events.jsonl``, one flushed line each.

    ``enabled=False`` makes every call a no-op (non-zero ranks in a multi-process run write nothing).
    """

    def __init__(self, path: Path | str, *, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self._fh = None
        if enabled:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._fh = os.fdopen(fd, "a", encoding="utf-8", buffering=1)

    def emit(self, event: Event) -> dict[str, Any] | None:
        """Write ``event`` (stamped with the current time unless it has one); returns what was written."""
        if not self.enabled or self._fh is None:
            return None
        line = event.to_dict(now=round(time.time(), 3))
        self._fh.write(json.dumps(line, ensure_ascii=False, default=_json_default) + "\n")
        self._fh.flush()
        return line

    def emit_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.emit(event)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return str(value)  # paths and anything else


def read_events(path: Path | str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events from byte ``offset`` on, and the offset after the last COMPLETE line.

    A torn last line (a writer caught mid-line) is left for the next call; a line that is not JSON or not an
    object is skipped. Unknown fields are kept as they are.
    """
    try:
        with Path(path).open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    events: list[dict[str, Any]] = []
    for raw in data[: end + 1].splitlines():
        raw = raw.strip()
        if not raw:
            continue
        try:
            ev = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(ev, dict) and "type" in ev:
            events.append(ev)
    return events, offset + end + 1


# -- The fold: events -> the run's state ---------------------------------------------------------------------

MAX_POINTS = 4096  # points kept per loss series; beyond, the older half is thinned (every second point kept)
MAX_RECORDS = 200  # checkpoint / back-off / error records kept


def _number(value: Any) -> float | None:
    """A finite float, or None for anything else (strings, bools, NaN, missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    num = _number(value)
    return int(num) if num is not None else None


class _Attempt:  # the current attempt, as the model and its snapshot both tell it
    start: Mapping[str, Any] | None
    end: Mapping[str, Any] | None

    def current_end(self, launched: float | None) -> Mapping[str, Any] | None:
        """The ``end`` event of the current attempt: the last one, unless it was written before ``launched``
        (``state.json`` ``launched``: the latest launch; a resumed run's earlier ``end`` does not count)."""
        return _since(self.end, launched)

    def current_start(self, launched: float | None) -> Mapping[str, Any] | None:
        """The current attempt's ``start`` event (its training loop has begun), as :meth:`current_end`."""
        return _since(self.start, launched)


def _since(event: Mapping[str, Any] | None, launched: Any) -> Mapping[str, Any] | None:
    if event is None:
        return None
    return event if (_number(event.get("time")) or 0.0) >= (_number(launched) or 0.0) else None


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
    ranks: tuple[int, ...] = ()

    def describe(self) -> str:
        """``per_device_train_batch_size 8->4, gradient_accumulation_steps 1->2``."""
        keys = list(self.new) or list(self.old)
        parts = [f"{k} {self.old.get(k, '?')}->{self.new.get(k, '?')}" for k in keys]
        return ", ".join(parts) or self.reason


@dataclass(frozen=True)
class RunView(_Attempt):
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
    start: Mapping[str, Any] | None = None  # the latest ``start`` event (the current attempt's worker)
    message_phase: str | None = None  # the ``phase`` of the status event that gave ``message`` (its code)
    gpu_mem_allocated_gib: float | None = None
    status: str | None = None

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
        if self.eta_s is None or self.phase not in LIVE_STATUSES:
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
class RunModel(_Attempt):
    """Folds events into the run's current state and its loss history. ``ingest(events)`` takes consecutive
    batches (dicts as read, or :class:`Event` objects); ``snapshot()`` returns a :class:`RunView`. ``phase`` is what
    the events alone say (``waiting`` before any event, ``starting`` until the ``start`` event, ``running``, then
    the ``end`` event's status); ``status`` is the run's ``RunDir.status()`` when a reader checked it (else None).
    """

    phase: str = "waiting"
    status: str | None = None
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
    gpu_mem_allocated_gib: float | None = None
    end: dict[str, Any] | None = None
    start: dict[str, Any] | None = None
    events_seen: int = 0
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    eval_loss: list[tuple[int, float]] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    backoffs: list[Backoff] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    # -- ingest ------------------------------------------------------------------------------------------------
    def ingest(self, events: Iterable[Mapping[str, Any] | Event]) -> int:
        """Fold ``events`` in, in order; returns how many were events of a known type."""
        known = 0
        for ev in events:
            if isinstance(ev, Event):
                ev = ev.to_dict()
            if not isinstance(ev, Mapping):
                continue
            self._clock(ev)
            handler = _HANDLERS.get(str(ev.get("type")))
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
        self.start = dict(ev)
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
        # A peak survives a log without it (a restarted attempt logs its own once it has one).
        self.gpu_mem_reserved_gib = _number(ev.get("gpu_mem_reserved_gib")) or self.gpu_mem_reserved_gib
        self.gpu_mem_allocated_gib = _number(ev.get("gpu_mem_allocated_gib")) or self.gpu_mem_allocated_gib
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
        self.step = max(self.step, step)
        self.checkpoints = [c for c in self.checkpoints if c.step != step]
        self.checkpoints.append(Checkpoint(step, str(ev.get("path") or f"checkpoint-{step}"),
                                           _number(ev.get("time"))))
        del self.checkpoints[:-MAX_RECORDS]

    def _on_backoff(self, ev: Mapping[str, Any]) -> None:
        old, new, ranks = ev.get("old"), ev.get("new"), ev.get("ranks")
        self.backoffs.append(Backoff(
            _int(ev.get("step")), str(ev.get("reason") or "out of memory"),
            dict(old) if isinstance(old, Mapping) else {}, dict(new) if isinstance(new, Mapping) else {},
            _int(ev.get("restart_from")), _number(ev.get("time")),
            tuple(r for r in (_int(x) for x in (ranks if isinstance(ranks, list) else [])) if r is not None)))
        del self.backoffs[:-MAX_RECORDS]
        restart = self.backoffs[-1].restart_from
        if restart is not None:
            self.step = restart
        self.tokens_per_s = self.eta_s = None

    def _on_error(self, ev: Mapping[str, Any]) -> None:
        message = ev.get("message")
        self.errors.append(event_message(ev) if isinstance(message, str) and message else Msg("error_no_message"))
        del self.errors[:-MAX_RECORDS]

    def _on_end(self, ev: Mapping[str, Any]) -> None:
        self.end = dict(ev)
        status = ev.get("status")
        self.phase = status if isinstance(status, str) and status else COMPLETED
        step = _int(ev.get("step"))
        if step is not None:
            self.step = step
        self.total_steps = _int(ev.get("total_steps")) or self.total_steps
        loss = _number(ev.get("loss"))
        if loss is not None:
            self.loss = loss
        if self.phase == FAILED and isinstance(ev.get("message"), str) and ev["message"] not in self.errors:
            self.errors.append(event_message(ev))
        self.eta_s = None

    # -- views -------------------------------------------------------------------------------------------------
    def snapshot(self) -> RunView:
        """An immutable copy of the current state."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(RunView)}
        for name in ("train_loss", "eval_loss", "checkpoints", "backoffs", "errors"):
            values[name] = tuple(values[name])
        values["end"] = dict(self.end) if self.end else None
        values["start"] = dict(self.start) if self.start else None
        return RunView(**values)


#: What progress formatting reads: the live model or a snapshot of it (same attribute names).
RunState = RunModel | RunView

_HANDLERS = {
    STATUS: RunModel._on_status,
    START: RunModel._on_start,
    LOG: RunModel._on_log,
    EVAL: RunModel._on_eval,
    CHECKPOINT: RunModel._on_checkpoint,
    BACKOFF: RunModel._on_backoff,
    ERROR: RunModel._on_error,
    END: RunModel._on_end,
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


def fold(events: Iterable[Mapping[str, Any] | Event], *, status: str | None = None) -> RunView:
    """The state of a run after ``events`` (``status``: its ``RunDir.status()``, when the caller has it)."""
    model = RunModel(status=status)
    model.ingest(events)
    return model.snapshot()
