"""The Trainer callback that turns training progress into run-directory events, and the graceful-stop flag.

- ``log`` events carry step, epoch, loss, lr, grad_norm, tokens seen, tokens/s, elapsed time, ETA and GPU memory.
  Throughput and ETA count only what THIS process has done since its training loop began (the step and token
  counters are read at ``on_train_begin``, after a checkpoint was restored), so a resumed run reports a true
  ETA (LLaMA-Factory issue #7415 reports the opposite).
- ``checkpoint`` events are written in ``on_save``, after the Trainer has written the whole checkpoint, and only
  once :func:`~ft_tui.runner.checkpoints.mark_complete` has marked it: a reader never sees a checkpoint event
  for a half-written folder. The rotation (``save_total_limit``, kept from the Trainer) follows the mark, so a
  complete checkpoint is on disk at every instant.
- Stop: :class:`~ft_tui.runner.signals.StopRequest` turns SIGTERM/SIGINT into a flag (the worker installs it
  before any heavy import); at the next optimizer step the callback asks the Trainer to
  save a checkpoint and stop. In a multi-process run the flag is all-reduced every step (:func:`agreed_stop`), so
  a signal to any one rank stops all ranks at the same step.
- Test hook: ``FT_TUI_INJECT_OOM_AT_STEP=N`` raises ``torch.cuda.OutOfMemoryError`` when step N begins, once per
  run (``state.json`` records ``oom_injected`` so a restart does not inject it again). It exercises the OOM
  back-off on machines without a GPU. In a multi-process run it fires on every rank, or only on the rank named by
  ``FT_TUI_INJECT_OOM_RANK`` (a global rank, e.g. ``1``). Rank 0 records ``oom_injected`` itself; an injection on
  another rank is recorded by the supervisor from that rank's OOM record (only rank 0 writes state.json).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ft_tui.planner.units import GIB
from transformers import TrainerCallback

from .checkpoints import mark_complete, rotate
from .events import CheckpointEvent, EvalEvent, EventWriter, LogEvent, StartEvent
from .rundir import RunDir

if TYPE_CHECKING:
    from .signals import StopRequest

INJECT_OOM_ENV = "FT_TUI_INJECT_OOM_AT_STEP"
INJECT_OOM_RANK_ENV = "FT_TUI_INJECT_OOM_RANK"


def _round(value: Any, digits: int = 6) -> Any:
    if value is None:
        return None
    try:
        return round(float(value), digits)
    except (TypeError, ValueError):
        return value


def _env_int(name: str) -> int | None:
    """A non-negative integer test-hook setting, or None when unset or unreadable (a hook never fails a run)."""
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


def gpu_memory() -> dict[str, float] | None:
    """Peak allocator reservation/allocation of this process's GPU, in GiB, as :class:`LogEvent` fields (None
    without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return None
    return {"gpu_mem_reserved_gib": round(torch.cuda.max_memory_reserved() / GIB, 3),
            "gpu_mem_allocated_gib": round(torch.cuda.max_memory_allocated() / GIB, 3)}


def device_memory() -> dict[str, Any] | None:
    """What this process's GPU measured so far: torch's peak allocated and reserved memory and the device total,
    in GiB, with the device name (None without CUDA). A thin call to torch.cuda; tests replace it.

    The peaks are since the last ``torch.cuda.reset_peak_memory_stats`` (the OOM back-off resets them, so they
    belong to the attempt that finished)."""
    import torch

    if not torch.cuda.is_available():
        return None
    index = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return {"device": str(props.name), "max_allocated_gib": round(torch.cuda.max_memory_allocated(index) / GIB, 3),
            "max_reserved_gib": round(torch.cuda.max_memory_reserved(index) / GIB, 3),
            "total_gib": round(props.total_memory / GIB, 3)}


def measured_memory(rank: int = 0) -> list[dict[str, Any]] | None:
    """:func:`device_memory` of every rank, rank 0 first (a collective in a multi-process run: every rank calls
    it at the same point); None when no rank has a GPU (a CPU run records nothing, never zeros)."""
    mine = device_memory()
    mine = None if mine is None else {"rank": rank, **mine}
    rows: list[Any] = [mine]
    if _distributed():
        import torch.distributed as dist

        rows = [None] * dist.get_world_size()
        dist.all_gather_object(rows, mine)
    rows = sorted((r for r in rows if isinstance(r, dict)), key=lambda r: r.get("rank", 0))
    return rows or None


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def agreed_stop(stop: StopRequest, device: Any) -> bool:
    """``stop.requested`` OR-ed over every rank of the process group (a collective: every rank must call it at
    the same point); just the local flag without a group. ``device`` holds the flag tensor (``args.device``: a
    GPU for NCCL, the CPU for gloo). A rank that learns of another rank's request records it."""
    if not _distributed():
        return stop.requested
    import torch
    import torch.distributed as dist

    flag = torch.tensor([1 if stop.requested else 0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    if flag.item() and not stop.requested:
        stop.request("another rank was asked to stop")
    return bool(flag.item())


class ProgressCallback(TrainerCallback):
    """Writes ``start``/``log``/``eval``/``checkpoint`` events and handles stop requests and the OOM test hook.

    ``start_fields`` go into the start event (model info, data stats, hardware, ...). The start event is written
    once per process, even when the OOM back-off restarts the training loop.
    """

    def __init__(self, run: RunDir, events: EventWriter, stop: StopRequest, *, is_main: bool,
                 start_fields: dict[str, Any] | None = None, save_total_limit: int | None = None) -> None:
        self.run = run
        self.save_total_limit = save_total_limit
        self.events = events
        self.stop = stop
        self.is_main = is_main
        self.start_fields = dict(start_fields or {})
        self.started = False
        self.stopped_at: int | None = None
        self.last_log: dict[str, Any] = {}
        self.final_metrics: dict[str, Any] = {}
        self._t0 = time.monotonic()
        self._step0 = 0
        self._tokens0 = 0
        self._inject_at = _env_int(INJECT_OOM_ENV)
        self._inject_rank = _env_int(INJECT_OOM_RANK_ENV)
        self._inject_done = False
        #: the step at which this process raised the test hook's OOM (None: it did not)
        self.injected_oom_at: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        if self._inject_at is not None:
            # Decided here, before any rank can reach the step: every rank sees the same state.json.
            self._inject_done = self._inject_done or bool(self.run.read_state().get("oom_injected"))
        self._t0 = time.monotonic()
        self._step0 = state.global_step
        self._tokens0 = state.num_input_tokens_seen or 0
        if self.is_main:
            self.run.write_state(total_steps=state.max_steps, step=state.global_step)
            if not self.started:
                self.events.emit(StartEvent(total_steps=state.max_steps, **self.start_fields))
        self.started = True
        return control

    def on_step_begin(self, args, state, control, **kwargs):
        if self._inject_at is not None and state.global_step + 1 == self._inject_at:
            self._maybe_inject_oom(state.global_step + 1, args.process_index)
        return control

    def _maybe_inject_oom(self, step: int, rank: int) -> None:
        import torch

        if self._inject_done or (self._inject_rank is not None and rank != self._inject_rank):
            return
        self._inject_done = True
        self.injected_oom_at = step
        if self.is_main:
            self.run.write_state(oom_injected=step)
        raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (injected by {INJECT_OOM_ENV}={step} on rank {rank})")

    def on_step_end(self, args, state, control, **kwargs):
        if self._stop_agreed(args):
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
        return control

    def _stop_agreed(self, args) -> bool:
        """This rank's stop flag, OR-ed over every rank in a multi-process run."""
        return agreed_stop(self.stop, args.device)

    # -- progress -------------------------------------------------------------------------------------------
    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = dict(logs or {})
        if "train_loss" in logs and "loss" not in logs:  # the Trainer's end-of-training summary
            self.final_metrics = {k: _round(v) for k, v in logs.items() if isinstance(v, (int, float))}
            return control
        if "loss" not in logs or not self.is_main:
            return control
        step = state.global_step
        elapsed = time.monotonic() - self._t0
        done = step - self._step0
        tokens = state.num_input_tokens_seen or 0
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        eta = (state.max_steps - step) / rate if rate else None
        event = dict(
            step=step, total_steps=state.max_steps, epoch=_round(logs.get("epoch", state.epoch), 4),
            loss=_round(logs.get("loss")), lr=_round(logs.get("learning_rate"), 10),
            grad_norm=_round(logs.get("grad_norm")), tokens_seen=int(tokens),
            tokens_per_s=_round((tokens - self._tokens0) / elapsed, 2) if elapsed > 0 else None,
            elapsed_s=round(elapsed, 2), eta_s=round(eta, 1) if eta is not None else None,
        )
        event.update(gpu_memory() or {})
        self.last_log = event
        self.events.emit(LogEvent(**event))
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.is_main and metrics:
            extra = {k: _round(v) for k, v in metrics.items()
                     if k != "eval_loss" and isinstance(v, (int, float)) and k.startswith("eval_")}
            self.events.emit(EvalEvent(step=state.global_step, eval_loss=_round(metrics.get("eval_loss")),
                                       metrics=extra))
        return control

    def on_save(self, args, state, control, **kwargs):
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if _distributed():
            import torch.distributed as dist

            dist.barrier()  # every rank has written its part (e.g. its RNG state) before rank 0 marks it
        if self.is_main and path.is_dir():
            mark_complete(path, state.global_step)
            self.run.write_state(last_checkpoint=str(path), step=state.global_step)
            self.events.emit(CheckpointEvent(step=state.global_step, path=str(path)))
            rotate(self.run, self.save_total_limit)  # only now: the new checkpoint is complete on disk
        return control
