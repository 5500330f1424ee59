"""Follow a run's progress events in a terminal.

On a terminal, one progress line (step/total, loss, lr, tokens/s, ETA, GPU memory) is redrawn in place and event
lines (checkpoint, eval, backoff, error, end) are printed above it. When stdout is not a terminal (a log file, CI, a
pipe) every event becomes one plain line, so nothing depends on carriage returns. The progress line shows the run's
state as the one fold (:class:`ft_tui.runner.events.RunModel`) has it after each event; the text formatting is here.

:class:`RunFollower` tails ``events.jsonl`` until the run ends: an ``end`` event from the current attempt, or the
trainer process gone without one (``interrupted``). It never imports torch.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ft_tui.planner.units import format_clock, token_rate
from ft_tui.runner.events import (
    BACKOFF,
    CHECKPOINT,
    END,
    ERROR,
    EVAL,
    LOG,
    START,
    STATUS,
    Event,
    RunModel,
    RunState,
    read_events,
)
from ft_tui.runner.launch import child_exit_code, wait_child
from ft_tui.runner.rundir import RUN_PROCESSES, RunDir, run_process_alive

CLEAR_LINE = "\r\x1b[2K"
#: Exit code the trainer uses for bad input (a config or data problem found at start); ``train`` passes it on.
BAD_INPUT_EXIT = 2


# ----------------------------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------------------------

def _num(value: Any, fmt: str) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, fmt)
    return None


def _rate(tokens_per_s: Any) -> str | None:
    if not isinstance(tokens_per_s, (int, float)):
        return None
    return f"{token_rate(tokens_per_s)} tok/s"


def progress_text(run: RunState) -> str:
    """The one-line progress summary of a run's state (after a ``log`` event)."""
    step, total = run.step, run.total_steps
    parts = [f"step {step}/{total}" if total else f"step {step}"]
    if total and total > 0:
        parts[0] += f" ({100 * step / total:.0f}%)"
    for label, value, fmt in (("loss", run.loss, ".4f"), ("lr", run.lr, ".2e"), ("grad", run.grad_norm, ".2f")):
        text = _num(value, fmt)
        if text is not None:
            parts.append(f"{label} {text}")
    rate = _rate(run.tokens_per_s)
    if rate:
        parts.append(rate)
    eta, elapsed = run.eta_s, run.elapsed_s
    if eta is None and total and step > 0 and elapsed is not None:
        eta = elapsed / step * (total - step)
    if elapsed is not None:
        parts.append(f"elapsed {format_clock(elapsed)}")
    if eta is not None:
        parts.append(f"ETA {format_clock(eta)}")
    if run.gpu_mem_reserved_gib is not None:
        parts.append(f"mem {run.gpu_mem_reserved_gib:.1f} GiB")
    return "  ".join(parts)


def _hardware_text(hw: Any) -> str | None:
    if isinstance(hw, (list, tuple)):
        names = sorted(set(map(str, hw)))
        return ", ".join(f"{sum(1 for h in hw if str(h) == n)}x {n}" for n in names) if hw else None
    if isinstance(hw, Mapping):
        name = hw.get("name") or hw.get("gpu") or hw.get("device")
        count = hw.get("count") or hw.get("gpus")
        if name and isinstance(count, int) and count > 1:
            return f"{count}x {name}"
        return str(name) if name else None
    return str(hw) if hw else None


def event_text(ev: Mapping[str, Any], run: RunState) -> str | None:
    """One line for event ``ev``, ``run`` being the state after it (None for event types a reader need not
    show)."""
    t = ev.get("type")
    step, total = ev.get("step"), run.total_steps
    if t == START:
        parts = ["started"]
        if ev.get("resumed_from"):
            parts.append(f"(resumed from step {ev['resumed_from']})")
        if ev.get("total_steps"):
            parts.append(f"{ev['total_steps']} steps")
        hw = _hardware_text(ev.get("hardware"))
        if hw:
            parts.append(f"on {hw}")
        warnings = ev.get("warnings")
        if isinstance(warnings, list) and warnings:
            return "\n".join([" ".join(parts), *(f"warning: {w}" for w in warnings)])
        return " ".join(parts)
    if t == LOG:
        return progress_text(run)
    if t == CHECKPOINT:
        return f"checkpoint: step {step} saved to {ev.get('path', '?')}"
    if t == EVAL:
        loss = _num(ev.get("eval_loss"), ".4f")
        return f"eval: step {step}" + (f"  eval_loss {loss}" if loss else "")
    if t == BACKOFF:
        return backoff_text(ev)
    if t == ERROR:
        return f"error: {ev.get('message', '(no message)')}"
    if t == END:
        status = ev.get("status", "completed")
        parts = [f"run {status}"]
        if step is not None:
            parts.append(f"at step {step}" + (f"/{total}" if total else ""))
        metrics = ev.get("metrics") if isinstance(ev.get("metrics"), Mapping) else {}
        loss = _num(metrics.get("train_loss", ev.get("loss")), ".4f")
        if loss:
            parts.append(f"train_loss {loss}")
        if ev.get("output"):
            parts.append(f"-> {ev['output']}")
        if ev.get("message") and status not in ("completed", "failed"):  # a failure's message came as "error"
            parts.append(f"({ev['message']})")
        return " ".join(parts)
    if t == STATUS and ev.get("message"):
        return f"status: {ev['message']}"
    return None


def backoff_text(ev: Mapping[str, Any]) -> str:
    """``backoff: CUDA out of memory ... on rank 1: per_device_train_batch_size 2 -> 1, ...; restarting from step
    4`` for a ``backoff`` event."""
    text = f"backoff: {ev.get('reason') or 'out of memory, retrying'}"
    ranks = ev.get("ranks")
    if isinstance(ranks, list) and ranks:
        text += f" on rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}"
    old = ev.get("old") if isinstance(ev.get("old"), Mapping) else {}
    new = ev.get("new")
    if isinstance(new, Mapping) and new:
        text += ": " + ", ".join(f"{k} {old[k]} -> {v}" if k in old else f"{k} -> {v}" for k, v in new.items())
    restart = ev.get("restart_from")
    if restart is not None:
        text += f"; restarting from step {restart}" if restart else "; restarting from the start"
    return text


class ProgressPrinter:
    """Prints events: a redrawn progress line plus event lines on a terminal, plain lines otherwise.

    ``model`` is the run's state: each event is folded into it before it is shown."""

    def __init__(self, out: TextIO | None = None, *, tty: bool | None = None):
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.model = RunModel()
        self._progress: str | None = None

    def handle(self, ev: Mapping[str, Any] | Event) -> None:
        if isinstance(ev, Event):
            ev = ev.to_dict()
        self.model.ingest([ev])
        if ev.get("type") == LOG and self.tty:
            self._progress = progress_text(self.model)
            self._draw()
            return
        text = event_text(ev, self.model)
        if text is not None:
            self.line(text)

    def line(self, text: str) -> None:
        """Print one line above the progress line."""
        if self.tty:
            self.out.write(CLEAR_LINE + text + "\n")
            self._draw()
        else:
            self.out.write(text + "\n")
            self.out.flush()

    def _draw(self) -> None:
        if self._progress is None:
            self.out.flush()
            return
        width = shutil.get_terminal_size((100, 24)).columns
        self.out.write(CLEAR_LINE + self._progress[: max(10, width - 1)])
        self.out.flush()

    def finish(self) -> None:
        """Leave the last progress line on screen and move below it."""
        if self.tty and self._progress is not None:
            self.out.write("\n")
            self.out.flush()
            self._progress = None


# ----------------------------------------------------------------------------------------------------------------
# Following
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class FollowResult:
    """How a followed run ended. ``status``: completed, stopped, failed or interrupted."""

    status: str
    offset: int
    exit_code: int | None = None
    end: dict[str, Any] | None = None
    error: str | None = None

    @property
    def cli_exit(self) -> int:
        """0 for completed/stopped; 2 when the trainer rejected its input; 1 otherwise."""
        if self.status in ("completed", "stopped"):
            return 0
        if self.exit_code == BAD_INPUT_EXIT:
            return BAD_INPUT_EXIT
        return 1


def process_alive(run: RunDir, state: Mapping[str, Any] | None = None) -> bool:
    """Whether a process of ``run`` is still running on this machine (``rundir.run_process_alive``); first reaps
    the ones this process started, so an exited trainer does not linger as a zombie that looks alive."""
    state = run.read_state() if state is None else state
    for pid_key, _ in RUN_PROCESSES:
        child_exit_code(state.get(pid_key))
    return run_process_alive(state)


class RunFollower:
    """Prints a run's events from byte ``offset`` of events.jsonl until the current attempt of the run ends.

    The run has ended when the last event is an ``end`` written after the latest launch (a resumed run's earlier
    ``end`` does not count), or when its process is gone without one (then ``interrupted``, or ``failed`` when the
    trainer we started exited non-zero). :meth:`follow` may be called again after a KeyboardInterrupt: ``offset``
    always points after the last event shown. ``live`` overrides the process check (tests). The run's state is the
    printer's fold of the events shown (:attr:`model`).
    """

    def __init__(self, run: RunDir, printer: ProgressPrinter | None = None, *, offset: int = 0,
                 poll: float = 0.5, on_event: Callable[[dict[str, Any]], None] | None = None,
                 live: Callable[[], bool] | None = None):
        self.run = run
        self.printer = printer or ProgressPrinter()
        self.offset = offset
        self.poll = poll
        self.on_event = on_event
        self.live = live

    @property
    def model(self) -> RunModel:
        return self.printer.model

    @property
    def error(self) -> str | None:
        """The last error the run reported (an ``error`` event, or a failed ``end``'s message)."""
        return self.model.errors[-1] if self.model.errors else None

    def read(self) -> list[dict[str, Any]]:
        """Show the events written since the last call."""
        events, self.offset = read_events(self.run.events_path, self.offset)
        for ev in events:
            self.printer.handle(ev)
            if self.on_event is not None:
                self.on_event(ev)
        return events

    def follow(self) -> FollowResult:
        gone_polls = 0
        while True:
            self.read()
            state = self.run.read_state()
            end = self.model.current_end(state.get("launched"))
            if end is not None:
                self.printer.finish()
                return FollowResult(str(end.get("status", "completed")), self.offset,
                                    exit_code=self._exit_code(end, state), end=dict(end), error=self.error)
            alive = self.live() if self.live is not None else process_alive(self.run, state)
            if not alive:
                # One more pass: the trainer may have written its last lines just before it exited.
                gone_polls += 1
                if gone_polls >= 2:
                    return self._gone(state)
                continue
            time.sleep(self.poll)

    @staticmethod
    def _exit_code(end: Mapping[str, Any], state: Mapping[str, Any]) -> int | None:
        """The trainer's exit code: from its end event, else from our child once it exits, else state.json."""
        if isinstance(end.get("exit_code"), int):
            return end["exit_code"]
        code = wait_child(state.get("launcher_pid"), 5.0) if end.get("status") == "failed" else None
        if code is None:
            code = child_exit_code(state.get("launcher_pid"))
        return code if code is not None else state.get("exit_code")

    def _gone(self, state: Mapping[str, Any]) -> FollowResult:
        self.printer.finish()
        code = child_exit_code(state.get("launcher_pid"))
        if code is None:
            code = state.get("exit_code")
        failed = code not in (None, 0) or state.get("status") == "failed"
        return FollowResult("failed" if failed else "interrupted", self.offset, exit_code=code,
                            error=self.error or state.get("error"))


def log_tail(path: Path, lines: int = 20) -> list[str]:
    """The last ``lines`` lines of a text file (train.log), for showing why a trainer died."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return data.splitlines()[-lines:]
