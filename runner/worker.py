"""The trainer process: ``python -m ft_tui.runner.worker RUN_DIR [--resume]``.

It reads ``RUN_DIR/config.yaml``, loads the tokenizer, the chat template, the data and the model, trains with the
stage's ``Trainer`` (``stages.py``; the worker itself is the same for every stage) and reports through the run
directory (``state.json`` and ``events.jsonl``, see
``rundir.py``). It is launchable as is by ``torchrun`` / ``accelerate launch``: only rank 0 writes events, state
and checkpoints.

Exit codes: 0 completed or stopped; 1 failed; 2 bad input (an ``InputError``: bad config, data or model path).

Stop (``ft-tui stop`` sends SIGTERM to ``state.json`` ``pid``; Ctrl+C sends SIGINT):

- The handler (:class:`~ft_tui.runner.signals.StopRequest`) is the first thing this module does when it runs as
  ``__main__``, before any other import (``signals.py`` imports only ``signal``); it only sets a flag. ``launch.spawn_worker`` starts this process with SIGTERM and SIGINT blocked
  and :meth:`StopRequest.install` unblocks them, so a signal sent during the spawn or the interpreter's start-up
  waits in the kernel for the handler instead of killing the process. ``ft-tui stop`` therefore needs no special
  case for a run that is still ``starting``: whenever it signals, the run ends ``stopped``. (A process started
  some other way, e.g. by hand or by torchrun, has only the interpreter's start-up, tens of milliseconds, in which
  a signal still kills it.)
- Before the first optimizer step the flag is checked at each phase boundary: after start-up, after importing the
  training libraries (~6 s), after the tokenizer and data are ready, and after the model is loaded (minutes for a
  large model; a load is never interrupted in the middle). A stop there ends the run at once with ``end``
  ``status: stopped``, ``phase`` (the phase just finished) and a message saying it stopped before the first
  step; no checkpoint is written. Once training runs, the callback saves a checkpoint at the next optimizer step
  and ends ``stopped``.
- A repeated SIGTERM/SIGINT while the first is honoured is only counted: the checkpoint is still saved. SIGUSR1
  (``ft-tui stop --now``) stops at once without a checkpoint (``KeyboardInterrupt``), still ending ``stopped``
  with a message that says so; one that arrives while the end is being written only sets the flag, so the end
  event and state are never torn.
- Multi-process (torchrun): signal rank 0 (``state.json`` ``pid``); its flag is OR-ed over all ranks
  (``all_reduce``) at every check once the process group exists. The group is created by ``TrainingArguments``,
  which the worker builds right after the data is ready and before the model loads, so a stop during the model
  load ends every rank together. A stop that reaches rank 0 during start-up, imports or data preparation (before
  the group exists) is acted upon at that first agreed check: a rank never stops alone, which would leave the
  others waiting in a collective. A SIGUSR1 ends only the signalled rank at once; torchrun then ends the others.
  (torchrun itself forwards SIGTERM to every rank and kills them 30 s later.)
- Test hook: ``FT_TUI_TEST_PHASE_DELAY="model:2"`` (comma-separated ``phase:seconds`` pairs, phases ``imports``,
  ``data``, ``model``) sleeps that long at the start of the phase, standing in for a slow import, dataset or model
  load; the sleep, like a real load, is not cut short by a stop.

Resume (``--resume``): continues in the same run directory from the newest COMPLETE checkpoint; the Trainer
restores the optimizer, scheduler, RNG and data position.

OOM back-off (single process; the policy is ``backoff.py``): on ``torch.cuda.OutOfMemoryError`` the worker halves
``per_device_train_batch_size`` and raises ``gradient_accumulation_steps`` so the effective batch is unchanged,
writes a ``backoff`` event, rewrites ``config.yaml`` (the original is kept as ``config.launched.yaml``) and restarts
from the last complete checkpoint in the same process. At batch 1 it turns gradient checkpointing on; past that
it fails with advice. Test hook: ``FT_TUI_INJECT_OOM_AT_STEP=N`` (see ``callbacks.py``).

OOM back-off (multi-process): recovering in the process is not safe there (the other ranks wait in a collective
that will never complete), so the run is relaunched instead. The rank that runs out of memory writes
``RUN/oom/rank-N.json`` (step, message) and exits non-zero; torchrun then ends the other ranks, whose attempt ends
with a failed collective or torchrun's SIGTERM. With a supervisor (``supervise.py``, which sets
``FT_TUI_SUPERVISOR_PID``) no rank writes an ``end`` event for such an attempt: rank 0 hands ``state.json``
``pid`` back to the supervisor, which backs off, rewrites config.yaml and relaunches with ``--resume``. Without one
(the launch line run by hand or by a cluster scheduler) rank 0 ends the run ``failed`` with the values to set.
"""

from __future__ import annotations

from ft_tui.runner.signals import StopRequest

# The stop handler goes in before every other import (see "Stop" above), hence the late imports below.
_EARLY_STOP = StopRequest().install() if __name__ == "__main__" else None

import argparse  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from ft_tui.planner.config import TrainConfig, load_config  # noqa: E402
from ft_tui.planner.errors import InputError  # noqa: E402
from ft_tui.planner.messages import Msg  # noqa: E402

from . import stages  # noqa: E402
from .backoff import (  # noqa: E402
    OutOfMemoryGiveUp,
    backoff_config,
    load_oom_advice,
    save_backoff_config,
)
from .checkpoints import (  # noqa: E402
    checkpoint_step,
    failed_save_message,
    holds_the_end,
    remove_partial,
    resume_point,
    set_aside,
)
from .ending import (  # noqa: E402
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    Context,
    OutOfMemoryRelaunch,
    end_attempt_after_oom,
    end_hard_stop,
    end_process_group,
    end_stopped,
    end_stopped_early,
    fail,
    finishing,
    leave_after_oom,
    oom_in_attempt,
)
from .events import BackoffEvent, EndEvent, EventWriter, StatusEvent  # noqa: E402
from .phases import PHASE_DELAY_ENV, PHASES, StoppedBeforeTraining, begin_phase, phase_delays, stop_point  # noqa: E402,F401
from .rundir import RunDir, atomic_write_json, process_start_ticks  # noqa: E402

log = logging.getLogger("ft_tui.worker")

# ---------------------------------------------------------------------------------------------------- helpers

def hardware() -> list[str] | str:
    import torch

    if torch.cuda.is_available():
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return "cpu"


def config_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower() and "cuda" in str(exc).lower())


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# ---------------------------------------------------------------------------------------------------- data

def prepare_data(cfg: TrainConfig, tokenizer: Any, model_type: str) -> tuple[Any, Any, str]:
    """(PreparedData, Template, reason the template was chosen)."""
    from ft_tui.templates import registry, trainset

    template, reason = registry.resolve_template(cfg.template, tokenizer, cfg.model_name_or_path or "",
                                                 model_type)
    data = trainset.prepare_datasets(cfg, tokenizer, template)
    if data.train is None or len(data.train) == 0:
        raise InputError(Msg("train_no_samples"), key="dataset", hint=Msg("hint_train_no_samples"))
    return data, template, reason


def _stats_summary(stats: Any) -> dict[str, Any] | None:
    if stats is None:
        return None
    d = stats.to_dict() if hasattr(stats, "to_dict") else dict(vars(stats))
    keep = ("kind", "rows", "dropped", "p50", "p90", "p99", "max_len", "cutoff_len", "truncated_share",
            "train_sequences", "eval_sequences", "total_tokens", "trainable_tokens", "packed")
    return {k: d[k] for k in keep if k in d}


def _model_type(cfg: TrainConfig) -> str:
    from transformers import AutoConfig

    from .modeling import model_path

    try:
        return AutoConfig.from_pretrained(model_path(cfg), trust_remote_code=cfg.trust_remote_code).model_type
    except (OSError, ValueError):
        return ""  # build_model reports the load error with the path


# ---------------------------------------------------------------------------------------------------- trainer (per stage: stages.py)

def build_trainer(cfg: TrainConfig, ctx: Context, model: Any, tokenizer: Any, data: Any, callback: Any,
                  args: Any = None) -> Any:
    """The stage's ``Trainer`` for the run (``stages.py``); ``args`` are built from ``cfg`` when not given."""
    if args is None:
        args = stages.training_arguments(cfg, output_dir=ctx.run.path, world_size=ctx.world_size,
                                         has_eval=stages.has_eval_data(data))
    return stages.build_trainer(cfg, model, tokenizer, data, args, [callback])


def save_final(cfg: TrainConfig, ctx: Context, trainer: Any, tokenizer: Any, template: Any, reason: str) -> Path:
    """Write the finished adapter (lora) or model (full/freeze) with its tokenizer and template name."""
    from .modeling import final_output_dir

    out = final_output_dir(ctx.run.path, cfg.finetuning_type)
    trainer.save_model(str(out))
    if ctx.is_main:
        tokenizer.save_pretrained(str(out))
        write_template_file(out, template, reason, cfg)
    return out


def write_template_file(out: Path, template: Any, reason: str, cfg: TrainConfig) -> None:
    """Record the chat template (and base model) next to a saved adapter/model, for export and inference."""
    from .modeling import TEMPLATE_FILE

    atomic_write_json(Path(out) / TEMPLATE_FILE, {
        "template": getattr(template, "name", None) or cfg.template, "reason": reason,
        "base_model": cfg.model_name_or_path, "finetuning_type": cfg.finetuning_type,
        "quantization_bit": cfg.quantization_bit, "stage": cfg.stage,
    })


def _import_training_stack(cfg: TrainConfig) -> None:
    """Import what training needs now, so that this slow phase (~6 s) ends at a stop point of its own."""
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from transformers import Trainer, TrainingArguments  # noqa: F401

    from . import callbacks, collate, modeling  # noqa: F401

    if cfg.finetuning_type == "lora" or cfg.quantization_bit:
        import peft  # noqa: F401


# ---------------------------------------------------------------------------------------------------- the run

def run_training(ctx: Context) -> int:
    """Train the run in ``ctx.run`` to completion, a stop, or a failure (raised). Returns the exit code.

    Raises :class:`StoppedBeforeTraining` when a stop arrives before the first optimizer step.
    """
    run = ctx.run
    cfg = load_config(run.config_path)
    digest = config_digest(run.config_path)
    state = run.read_state()
    resume_from = _resume_point(ctx) if ctx.resume else None
    ctx.state(status="running", pid=os.getpid(), pid_start=process_start_ticks(os.getpid()),
              host=socket.gethostname(), started=state.get("started") or time.time(),
              resumed=time.time() if ctx.resume else None, world_size=ctx.world_size, exit_code=None)
    if ctx.is_main and ctx.world_size > 1:
        # Records of an earlier attempt; no other rank can reach a training step before rank 0 joins the group.
        run.clear_oom_records()
    stop_point(ctx, "start-up")

    begin_phase(ctx, "imports")
    _import_training_stack(cfg)
    stop_point(ctx, "imports")

    from .callbacks import ProgressCallback
    from .modeling import load_tokenizer

    begin_phase(ctx, "data")
    tokenizer = load_tokenizer(cfg)
    model_type = _model_type(cfg)
    data, template, reason = prepare_data(cfg, tokenizer, model_type)
    stop_point(ctx, "data")
    from ft_tui.templates.registry import template_warnings

    warnings = [*cfg.warnings, *template_warnings(template, tokenizer, cfg.model_name_or_path or "")]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    start_fields: dict[str, Any] = dict(
        warnings=warnings or None,
        hardware=hardware(), world_size=ctx.world_size, config_digest=digest,
        data=_stats_summary(data.stats), template=getattr(template, "name", None), template_reason=reason,
        resumed_from=checkpoint_step(resume_from),
        # who trains: `stop` finds the worker from here too when state.json is damaged or gone
        pid=os.getpid(), pid_start=process_start_ticks(os.getpid()), host=socket.gethostname(),
        model_name_or_path=cfg.model_name_or_path, method=cfg.finetuning_type,
        batch={"per_device": cfg.per_device_train_batch_size, "accumulation": cfg.gradient_accumulation_steps,
               "processes": ctx.world_size, "effective": cfg.effective_batch * ctx.world_size},
    )
    callback = ProgressCallback(run, ctx.events, ctx.stop, is_main=ctx.is_main, start_fields=start_fields,
                                save_total_limit=cfg.save_total_limit)

    trainer, result, cfg = _train_with_backoff(cfg, ctx, tokenizer, data, callback, resume_from)
    step = trainer.state.global_step
    memory = _memory_fields(ctx, model_type)
    if callback.stopped_at is not None:
        return end_stopped(ctx, step=step, loss=callback.last_log.get("loss"), memory=memory)
    out = save_final(cfg, ctx, trainer, tokenizer, template, reason)
    metrics = dict(callback.final_metrics)
    if result is not None and getattr(result, "training_loss", None) is not None:
        metrics.setdefault("train_loss", round(float(result.training_loss), 6))
    finishing(ctx)
    ctx.events.emit(EndEvent(status="completed", step=step, total_steps=trainer.state.max_steps,
                             loss=callback.last_log.get("loss"), metrics=metrics, output=str(out), **memory))
    ctx.state(status="completed", exit_code=EXIT_OK, ended=time.time(), step=step, output=str(out))
    return EXIT_OK


def _memory_fields(ctx: Context, model_type: str) -> dict[str, Any]:
    """The end event's memory record: the plan's prediction, each rank's GPU measurement (None on a CPU run) and
    the model family (``runner/history.py``). Every rank calls it after training: the measurement is gathered."""
    from .callbacks import measured_memory
    from .history import run_planned_memory

    measured = measured_memory(ctx.rank)
    return {"planned": run_planned_memory(ctx.run), "measured": measured, "model_type": model_type or None}


def _train_with_backoff(cfg: TrainConfig, ctx: Context, tokenizer: Any, data: Any, callback: Any,
                        resume_from: Path | None) -> tuple[Any, Any, TrainConfig]:
    """Build the model and Trainer and train; on OOM back off and restart from the last complete checkpoint.

    Returns ``(trainer, train_output, final_config)``. Raises :class:`StoppedBeforeTraining` when a stop arrives
    before the training loop (re)starts. The ``TrainingArguments`` are built before the model: in a multi-process
    run they create the process group, so the ranks can agree on a stop during the model load.
    """
    import torch

    from .modeling import build_model

    while True:
        args = stages.training_arguments(cfg, output_dir=ctx.run.path, world_size=ctx.world_size,
                                         has_eval=stages.has_eval_data(data))
        stop_point(ctx, "data", args.device, restart=callback.started)
        begin_phase(ctx, "model")
        try:
            model, info = build_model(cfg, device_map=device_map_for(cfg))
            callback.start_fields["model"] = info
            trainer = build_trainer(cfg, ctx, model, tokenizer, data, callback, args)  # moves the model to the GPU
        except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            message = str(exc).splitlines()[0][:300]
            _free_memory()
            if ctx.world_size > 1:
                leave_after_oom(cfg, ctx, 0, message, injected=False, phase="load")
            raise OutOfMemoryGiveUp(Msg("oom_message_advice", message=message, advice=load_oom_advice(cfg))) from None
        stop_point(ctx, "model", args.device, restart=callback.started)
        if resume_from is not None and holds_the_end(resume_from, max_steps=args.max_steps,
                                                          num_train_epochs=args.num_train_epochs):
            # Killed after the last step's checkpoint (in the final save): transformers, resumed from it, trains
            # one step past max_steps (its loop checks the limit only after a step). Restore the checkpoint
            # instead, as a resume does, and go on to the final save.
            trainer._load_from_checkpoint(str(resume_from))
            trainer.state = type(trainer.state).load_from_json(str(Path(resume_from) / "trainer_state.json"))
            callback.on_train_begin(args, trainer.state, trainer.control)
            return trainer, None, cfg
        oom_message = None
        try:
            result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            oom_message = str(exc).splitlines()[0][:300]  # keep text only: the traceback pins device memory
            step = trainer.state.global_step
        if oom_message is None:
            return trainer, result, cfg
        del trainer, model
        _free_memory()
        if ctx.world_size > 1:
            leave_after_oom(cfg, ctx, step, oom_message, injected=callback.injected_oom_at is not None)
        cfg, change = backoff_config(cfg)
        save_backoff_config(ctx.run, cfg)
        resume_from = _resume_point(ctx)
        ctx.events.emit(BackoffEvent(step=step, reason=oom_message, old=change["old"], new=change["new"],
                                     restart_from=checkpoint_step(resume_from) or 0))
        log.warning("out of memory at step %d: retrying with %s from %s", step, change["new"],
                    resume_from or "the start")


def _resume_point(ctx: Context) -> Path | None:
    """The newest checkpoint that passes its check (``checkpoints.resume_point``: every rank picks the same one);
    None: from step 0. Rank 0 sets the damaged newer ones aside and removes the unmarked leftovers of a save cut
    short, saying so in ``status`` events."""
    point = resume_point(ctx.run)
    if ctx.is_main:
        for path, problem in point.skipped:
            ctx.events.emit(StatusEvent(message=Msg("status_checkpoint_skipped", checkpoint=path.name,
                                                    problem=problem, kept=set_aside(path).name)))
        remove_partial(ctx.run, point.step)
        if point.path is None:
            ctx.events.emit(StatusEvent(message=Msg("status_no_checkpoint")))
    return point.path


def device_map_for(cfg: TrainConfig) -> Any:
    """Quantized models need an explicit placement; full-precision ones are placed by the Trainer, and every
    model by FSDP when it shards them."""
    from .modeling import default_device_map, fsdp_enabled

    if cfg.quantization_bit is None or fsdp_enabled():
        return None
    return default_device_map()


# ---------------------------------------------------------------------------------------------------- entry point

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ft_tui.runner.worker",
                                description="ft-tui trainer process (started by `ft-tui train`).")
    p.add_argument("run_dir", help="the run directory holding config.yaml")
    p.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    return p.parse_args(argv)


def main(argv: list[str] | None = None, *, install_signals: bool = True) -> int:
    """Run the trainer for one run directory; returns the process exit code.

    As ``__main__`` the stop handler is already installed (module top); otherwise ``install_signals`` installs it
    now (it must then run in the main thread). In-process tests pass ``install_signals=False``.
    """
    args = parse_args(argv)
    os.umask(0o077)
    os.environ.setdefault("TQDM_DISABLE", "1")
    # the allocator setting the planner assumes, also when this worker was started by hand or by a scheduler's line
    # rather than by ft-tui (which already sets it); before torch initialises CUDA
    from .launch import allocator_env

    allocator_env(os.environ)
    # transformers 5 renamed gradient_checkpointing* to activation_checkpointing*; peft still calls the old names
    warnings.filterwarnings("ignore", message=r".*deprecated and will be removed in v6.*", category=FutureWarning)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run = RunDir(Path(args.run_dir))
    if not run.config_path.exists():
        sys.stderr.write(f"{run.config_path}: no config.yaml in this run directory\n")
        return EXIT_INPUT
    if args.resume and run.read_state().get("status") == "completed":
        # Leave the finished run's state and events as they are.
        sys.stderr.write(f"run {run.id} has already completed; there is nothing to resume. Start a new run with "
                         "`ft-tui train` to train further.\n")
        return EXIT_INPUT
    rank = int(os.environ.get("RANK", "0"))
    ctx = Context(run=run, events=EventWriter(run.events_path, enabled=rank == 0), rank=rank,
                  local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                  world_size=int(os.environ.get("WORLD_SIZE", "1")), resume=args.resume)
    if _EARLY_STOP is not None:
        ctx.stop = _EARLY_STOP
    else:
        ctx.stop = StopRequest().install() if install_signals else StopRequest()
    try:
        ctx.stop.interruptible = True
        return run_training(ctx)
    except StoppedBeforeTraining as exc:
        return end_stopped_early(ctx, exc)
    except InputError as exc:
        return fail(ctx, EXIT_INPUT, exc.as_msg())
    except OutOfMemoryRelaunch:
        return end_attempt_after_oom(ctx, ctx.run.oom_records())
    except OutOfMemoryGiveUp as exc:
        ctx.oom_exit = ctx.world_size > 1
        return fail(ctx, EXIT_FAILED, exc.as_msg())
    except KeyboardInterrupt as exc:
        records = oom_in_attempt(ctx)
        return end_attempt_after_oom(ctx, records, exc) if records else end_hard_stop(ctx, exc)
    except Exception as exc:  # noqa: BLE001 - the run must end with a failed status whatever happened
        records = oom_in_attempt(ctx)  # another rank ran out of memory and left: our collective failed
        if records:
            return end_attempt_after_oom(ctx, records, exc)
        first = (str(exc).strip().splitlines() or [""])[0]
        kind = type(exc).__name__
        message = Msg("error_unexpected", type=kind, text=first[:max(0, 998 - len(kind))])
        if ctx.is_main:  # a save cut short: its partial folder removed, the kept checkpoint named
            message = failed_save_message(ctx.run, exc, message)
        return fail(ctx, EXIT_FAILED, message, traceback.format_exc())
    finally:
        finishing(ctx)
        ctx.events.close()
        end_process_group(abort=ctx.oom_exit)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "run_training", "build_trainer", "Context", "OutOfMemoryRelaunch",
           "StoppedBeforeTraining", "phase_delays", "stop_point", "PHASES", "PHASE_DELAY_ENV"]
