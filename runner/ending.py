"""How one attempt of the trainer process ends: its context, and the ``end`` it writes when it is stopped, fails or
runs out of memory in a multi-process run.

``worker.py`` trains; this module holds what every way out of ``worker.main`` shares, so each end writes the same
events and state (see worker.py's docstring for the stop and out-of-memory rules):

* :class:`Context`: what one worker process knows about itself (run directory, event writer, rank, the stop flag).
* :func:`finishing`: the end is about to be written, so a stop-now signal may no longer interrupt it.
* :func:`end_stopped` / :func:`end_stopped_early` / :func:`end_hard_stop`: a graceful stop (in or before the
  training loop) and ``ft-tui stop --now``; :func:`fail`: a failed run (an error event and the end).
* :func:`leave_after_oom` / :func:`end_attempt_after_oom`: a rank of a multi-process run ran out of memory: its
  record for the supervisor (``RUN/oom/rank-N.json``), and how the attempt ends with or without one.
* :func:`end_process_group`: the process group at exit (aborted when a peer has left).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from ft_tui.planner.config import TrainConfig, load_config
from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg, to_json

from .backoff import OutOfMemoryGiveUp, load_oom_advice, multiprocess_oom_advice, oom_summary
from .checkpoints import checkpoint_step
from .events import EndEvent, ErrorEvent, EventWriter, fold
from .phases import PHASES, StoppedBeforeTraining
from .rundir import RunDir, process_start_ticks
from .signals import StopRequest
from .supervise import SUPERVISOR_ENV

log = logging.getLogger("ft_tui.worker")

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


class OutOfMemoryRelaunch(RuntimeError):
    """This rank of a supervised multi-process run ran out of memory: end the attempt for the supervisor."""


@dataclass
class Context:
    """What one worker process knows about itself."""

    run: RunDir
    events: EventWriter
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    resume: bool = False
    stop: StopRequest | None = None
    oom_exit: bool = False  # this attempt ends because a rank ran out of memory (multi-process)

    @property
    def stop_signal(self) -> str | None:
        """The name of the signal (or reason) that asked this process to stop, if one did."""
        return self.stop.signal_name if self.stop is not None else None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def state(self, **changes: Any) -> None:
        if self.is_main:
            self.run.write_state(**changes)


def supervisor_pid() -> int | None:
    """The pid of the live supervisor that started this process's launcher, or None (not supervised)."""
    from .rundir import pid_alive

    value = os.environ.get(SUPERVISOR_ENV, "").strip()
    pid = int(value) if value.isdigit() else None
    return pid if pid_alive(pid) else None


def leave_after_oom(cfg: TrainConfig, ctx: Context, step: int, message: str, *, injected: bool,
                     phase: str = "train") -> None:
    """This rank of a multi-process run ran out of memory: record it for the supervisor and end the attempt.

    ``phase`` is ``train`` (a smaller batch may fit: the supervisor backs off and relaunches) or ``load`` (the model
    itself did not fit: the record carries the advice, and the supervisor fails the run with it). Raises
    :class:`OutOfMemoryRelaunch` under a supervisor, else :class:`OutOfMemoryGiveUp` with what to change.
    """
    advice = load_oom_advice(cfg) if phase == "load" else None
    ctx.run.write_oom_record(ctx.rank, step=step, message=message, world_size=ctx.world_size,
                             local_rank=ctx.local_rank, host=socket.gethostname(), pid=os.getpid(),
                             injected=injected, phase=phase, advice=to_json(advice) if advice else None)
    log.warning("rank %d: out of memory %s; ending this attempt", ctx.rank,
                "while loading the model" if phase == "load" else f"after step {step}")
    if supervisor_pid() is not None:
        raise OutOfMemoryRelaunch(message)
    if advice:
        raise OutOfMemoryGiveUp(Msg("oom_message_advice", message=message, advice=advice))
    raise OutOfMemoryGiveUp(multiprocess_oom_advice(cfg, ctx.run.oom_records(), ctx.run))


def oom_in_attempt(ctx: Context) -> list[dict[str, Any]]:
    """The OOM records of this attempt of a multi-process run (empty in a single-process run)."""
    return ctx.run.oom_records() if ctx.world_size > 1 else []


def end_attempt_after_oom(ctx: Context, records: list[dict[str, Any]], exc: BaseException | None = None) -> int:
    """End this rank's part of an attempt that a rank's OOM cut short.

    Under a supervisor no ``end`` is written (the supervisor backs off and relaunches) and rank 0 hands
    ``state.json`` ``pid`` back to the supervisor, so the run never looks dead in between. Without one, rank 0 ends
    the run ``failed`` with advice.
    """
    finishing(ctx)
    ctx.oom_exit = True
    why = oom_summary(records)
    sup = supervisor_pid()
    if sup is None:
        try:
            message = multiprocess_oom_advice(load_config(ctx.run.config_path), records, ctx.run)
        except InputError:  # config.yaml was edited meanwhile: say what happened without the values
            message = Msg("oom_halve_batch", what=why)
        return fail(ctx, EXIT_FAILED, message)
    if exc is not None:
        print(f"rank {ctx.rank}: ending this attempt ({type(exc).__name__}) after {why}; the supervisor backs off "
              "and relaunches", file=sys.stderr, flush=True)
    if ctx.is_main:
        ctx.run.write_state(pid=sup, pid_start=process_start_ticks(sup))
    return EXIT_FAILED


def finishing(ctx: Context) -> None:
    """The end is about to be written: from now on a stop-now signal must not interrupt it."""
    if ctx.stop is not None:
        ctx.stop.interruptible = False


def end_stopped(ctx: Context, *, step: int, loss: Any = None, early: StoppedBeforeTraining | None = None,
                 memory: dict[str, Any] | None = None) -> int:
    """Write the ``end`` event (status stopped) and state for a graceful stop; ``early`` for a stop outside the
    training loop.

    The event names the newest complete checkpoint (from this run or, after a stop before the first step, the
    one a resume would continue from).
    """
    finishing(ctx)
    ckpt = ctx.run.latest_checkpoint()
    fields: dict[str, Any] = {}
    if early is not None:
        when = Msg("when_before_restart") if early.restart else Msg("when_before_first_step")
        fields["phase"] = early.phase
        fields["message"] = Msg("stopped_early", signal=ctx.stop_signal, when=when, phase=PHASES[early.phase])
    ctx.events.emit(EndEvent(status="stopped", step=step, checkpoint=str(ckpt) if ckpt else None,
                             reason=ctx.stop_signal, loss=loss, **fields, **(memory or {})))
    ctx.state(status="stopped", exit_code=EXIT_OK, ended=time.time(), step=step)
    return EXIT_OK


def end_stopped_early(ctx: Context, early: StoppedBeforeTraining) -> int:
    step = checkpoint_step(ctx.run.latest_checkpoint()) or 0
    return end_stopped(ctx, step=step, early=early)


def fail(ctx: Context, code: int, message: Msg, tb: str | None = None) -> int:
    finishing(ctx)
    if tb:
        sys.stderr.write(tb)
        sys.stderr.flush()
    fields: dict[str, Any] = {"message": message}
    if tb:
        fields["traceback_tail"] = "".join(tb.splitlines(keepends=True)[-8:])
    ctx.events.emit(ErrorEvent(**fields))
    ctx.events.emit(EndEvent(status="failed", exit_code=code, message=message))
    ctx.state(status="failed", exit_code=code, ended=time.time(), error=message)
    return code


def end_hard_stop(ctx: Context, exc: KeyboardInterrupt) -> int:
    """``ft-tui stop --now`` (SIGUSR1) interrupted the run wherever it was: end ``stopped`` without a new
    checkpoint."""
    finishing(ctx)
    msg = (exc.args[0] if exc.args and isinstance(exc.args[0], Msg) else str(exc)) or Msg("stopped_at_once_plain")
    ckpt = ctx.run.latest_checkpoint()
    step = fold(ctx.run.events()).step if ctx.is_main else 0  # the last logged step: what the user last saw
    ctx.events.emit(EndEvent(status="stopped", step=step, reason=ctx.stop_signal,
                             checkpoint=str(ckpt) if ckpt else None, message=Msg("stopped_no_checkpoint", what=msg)))
    ctx.state(status="stopped", exit_code=EXIT_OK, ended=time.time(), step=step)
    return EXIT_OK


def end_process_group(*, abort: bool = False) -> None:
    """Destroy the process group at exit; ``abort`` when a peer has left (an OOM): a clean destroy could wait on it.

    NCCL communicators are aborted (torch's experimental ``_abort_process_group``); other backends are left to
    the process exit, which closes their connections.
    """
    if "torch.distributed" not in sys.modules:  # never imported: no group, and no reason to import torch now
        return
    try:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        if not abort:
            dist.destroy_process_group()
        elif dist.get_backend() == "nccl":
            from torch.distributed.distributed_c10d import _abort_process_group

            _abort_process_group()
    except Exception:  # noqa: BLE001 - best effort at exit
        pass
