"""The trainer process: ``python -m ft_tui.runner.worker RUN_DIR [--resume]``.

It reads ``RUN_DIR/config.yaml``, loads the tokenizer, the chat template, the data and the model, trains with the
transformers ``Trainer`` and reports through the run directory (``state.json`` and ``events.jsonl``, see
``rundir.py``). It is launchable as is by ``torchrun`` / ``accelerate launch``: only rank 0 writes events, state
and checkpoints.

Exit codes: 0 completed or stopped; 1 failed; 2 bad input (an ``InputError``: bad config, data or model path).

Stop: SIGTERM or SIGINT saves a checkpoint at the next optimizer step and ends with status ``stopped``; a second
signal stops at once without a checkpoint. Under torchrun, signal rank 0 (``state.json`` ``pid``): the flag is
shared by all ranks at the next step. (torchrun itself forwards SIGTERM to every rank and kills them 30 s later.)

Resume (``--resume``): continues in the same run directory from the newest COMPLETE checkpoint; the Trainer
restores the optimizer, scheduler, RNG and data position.

OOM back-off (single process): on ``torch.cuda.OutOfMemoryError`` the worker halves
``per_device_train_batch_size`` and raises ``gradient_accumulation_steps`` so the effective batch is unchanged,
writes a ``backoff`` event, rewrites ``config.yaml`` (the original is kept as ``config.launched.yaml``) and restarts
from the last complete checkpoint in the same process. At batch 1 it turns gradient checkpointing on; past that
it fails with advice. Test hook: ``FT_TUI_INJECT_OOM_AT_STEP=N`` (see ``callbacks.py``).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import logging
import math
import os
import shutil
import socket
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_tui.planner.config import TrainConfig, dump_config, load_config
from ft_tui.planner.errors import ConfigError, InputError

from .rundir import EventWriter, RunDir, atomic_write_json, atomic_write_text, process_start_ticks

log = logging.getLogger("ft_tui.worker")

LAUNCHED_CONFIG = "config.launched.yaml"
EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


class OutOfMemoryGiveUp(RuntimeError):
    """The OOM back-off has nothing left to try; the message says what to change."""


@dataclass
class Context:
    """What one worker process knows about itself."""

    run: RunDir
    events: EventWriter
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    resume: bool = False
    stop: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def state(self, **changes: Any) -> None:
        if self.is_main:
            self.run.write_state(**changes)


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


def backoff_config(cfg: TrainConfig) -> tuple[TrainConfig, dict[str, Any]]:
    """The next setup to try after an OOM, and what changed. Raises :class:`OutOfMemoryGiveUp` at the end.

    Halve the per-device batch and raise accumulation so bs * ga stays the same (rounded up for odd sizes);
    at batch 1 turn gradient checkpointing on; then give up with advice.
    """
    bs, ga = cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps
    if bs > 1:
        new_bs = bs // 2
        new_ga = math.ceil(bs * ga / new_bs)
        changes = {"per_device_train_batch_size": new_bs, "gradient_accumulation_steps": new_ga}
        old = {"per_device_train_batch_size": bs, "gradient_accumulation_steps": ga}
    elif not cfg.gradient_checkpointing:
        changes = {"disable_gradient_checkpointing": False}
        old = {"disable_gradient_checkpointing": True}
    else:
        advice = []
        if cfg.finetuning_type != "lora":
            advice.append("finetuning_type: lora")
        elif cfg.quantization_bit != 4:
            advice.append("quantization_bit: 4")
        if cfg.cutoff_len > 64:
            advice.append(f"a shorter cutoff_len (e.g. cutoff_len: {cfg.cutoff_len // 2})")
        advice.append("a smaller model or a GPU with more memory")
        raise OutOfMemoryGiveUp(
            "out of GPU memory even at per_device_train_batch_size 1 with gradient checkpointing on. Try "
            + ", or ".join(advice) + "; `ft-tui estimate` shows the memory each choice needs.")
    return cfg.replace(**changes), {"old": old, "new": changes}


def save_backoff_config(run: RunDir, cfg: TrainConfig) -> None:
    """Rewrite ``config.yaml`` with the backed-off values; keep the launched one as ``config.launched.yaml``."""
    launched = run.path / LAUNCHED_CONFIG
    if not launched.exists() and run.config_path.exists():
        shutil.copy2(run.config_path, launched)
    atomic_write_text(run.config_path, dump_config(cfg))


# ---------------------------------------------------------------------------------------------------- data

def prepare_data(cfg: TrainConfig, tokenizer: Any, model_type: str) -> tuple[Any, Any, str]:
    """(PreparedData, Template, reason the template was chosen)."""
    from ft_tui.templates import datasets as tdata
    from ft_tui.templates import registry

    template, reason = registry.resolve_template(cfg.template, tokenizer, cfg.model_name_or_path or "",
                                                 model_type)
    data = tdata.prepare_datasets(cfg, tokenizer, template)
    if data.train is None or len(data.train) == 0:
        raise InputError("the dataset has no training samples left after encoding", key="dataset",
                         hint="Check the dataset and cutoff_len (samples with nothing trainable are dropped).")
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


# ---------------------------------------------------------------------------------------------------- trainer

def training_arguments(cfg: TrainConfig, ctx: Context, has_eval: bool) -> Any:
    """``TrainingArguments`` for the run (output_dir is the run directory itself)."""
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    if cfg.fp16 and not cuda:
        raise ConfigError("fp16 mixed precision needs a CUDA GPU and none is visible", key="fp16",
                          hint="On a CPU set fp16: false (and bf16: true or false); check CUDA_VISIBLE_DEVICES.")
    warmup: float | int = cfg.warmup_steps if cfg.warmup_steps > 0 else float(cfg.warmup_ratio)
    kwargs: dict[str, Any] = dict(
        output_dir=str(ctx.run.path),
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler_type, warmup_steps=warmup,
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm, optim=cfg.optim,
        bf16=cfg.bf16, fp16=cfg.fp16, seed=cfg.seed, data_seed=cfg.seed,
        num_train_epochs=cfg.num_train_epochs, max_steps=cfg.max_steps,
        logging_strategy="steps", logging_steps=cfg.logging_steps,
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        report_to=[] if cfg.report_to == "none" else [cfg.report_to],
        disable_tqdm=True, remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0, dataloader_pin_memory=cuda, use_cpu=not cuda,
        ddp_find_unused_parameters=False if ctx.world_size > 1 else None,
        log_level="warning",
    )
    if ctx.world_size > 1 and not cuda:
        kwargs["ddp_backend"] = "gloo"
    if has_eval:
        kwargs.update(eval_strategy="steps", eval_steps=cfg.eval_steps or cfg.save_steps,
                      per_device_eval_batch_size=cfg.per_device_eval_batch_size or cfg.per_device_train_batch_size,
                      eval_accumulation_steps=1, prediction_loss_only=True)
    else:
        kwargs["eval_strategy"] = "no"
    return TrainingArguments(**kwargs)


def build_trainer(cfg: TrainConfig, ctx: Context, model: Any, tokenizer: Any, data: Any, callback: Any) -> Any:
    import torch
    from transformers import Trainer

    from .collate import PadCollator

    args = training_arguments(cfg, ctx, data.eval is not None and len(data.eval) > 0)
    return Trainer(model=model, args=args, train_dataset=data.train,
                   eval_dataset=data.eval if args.eval_strategy != "no" else None,
                   data_collator=PadCollator(tokenizer.pad_token_id,
                                             pad_to_multiple_of=8 if torch.cuda.is_available() else None), processing_class=tokenizer,
                   callbacks=[callback])


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


# ---------------------------------------------------------------------------------------------------- the run

def run_training(ctx: Context) -> int:
    """Train the run in ``ctx.run`` to completion, a stop, or a failure (raised). Returns the exit code."""
    from .callbacks import ProgressCallback
    from .modeling import load_tokenizer

    run = ctx.run
    cfg = load_config(run.config_path)
    digest = config_digest(run.config_path)
    state = run.read_state()
    resume_from = run.latest_checkpoint() if ctx.resume else None
    ctx.state(status="running", pid=os.getpid(), pid_start=process_start_ticks(os.getpid()),
              host=socket.gethostname(), started=state.get("started") or time.time(),
              resumed=time.time() if ctx.resume else None, world_size=ctx.world_size, exit_code=None)
    if ctx.resume and resume_from is None:
        ctx.events.emit("status", message="no complete checkpoint in the run directory: starting from step 0")

    tokenizer = load_tokenizer(cfg)
    ctx.events.emit("status", message="preparing the data")
    data, template, reason = prepare_data(cfg, tokenizer, _model_type(cfg))
    from ft_tui.templates.registry import template_warnings

    warnings = [*cfg.warnings, *template_warnings(template, tokenizer, cfg.model_name_or_path or "")]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    start_fields: dict[str, Any] = dict(
        warnings=warnings or None,
        hardware=hardware(), world_size=ctx.world_size, config_digest=digest,
        data=_stats_summary(data.stats), template=getattr(template, "name", None), template_reason=reason,
        resumed_from=_checkpoint_step(resume_from),
        model_name_or_path=cfg.model_name_or_path, method=cfg.finetuning_type,
        batch={"per_device": cfg.per_device_train_batch_size, "accumulation": cfg.gradient_accumulation_steps,
               "processes": ctx.world_size, "effective": cfg.effective_batch * ctx.world_size},
    )
    callback = ProgressCallback(run, ctx.events, ctx.stop, is_main=ctx.is_main, start_fields=start_fields)

    outcome = _train_with_backoff(cfg, ctx, tokenizer, data, callback, resume_from)
    if outcome is None:  # stopped before the training loop began
        return _end_stopped(ctx, callback, step=_checkpoint_step(resume_from) or 0)
    trainer, result, cfg = outcome

    step = trainer.state.global_step
    if callback.stopped_at is not None:
        return _end_stopped(ctx, callback, step=step)
    out = save_final(cfg, ctx, trainer, tokenizer, template, reason)
    metrics = dict(callback.final_metrics)
    if result is not None and getattr(result, "training_loss", None) is not None:
        metrics.setdefault("train_loss", round(float(result.training_loss), 6))
    ctx.events.emit("end", status="completed", step=step, total_steps=trainer.state.max_steps,
                    loss=callback.last_log.get("loss"), metrics=metrics, output=str(out))
    ctx.state(status="completed", exit_code=EXIT_OK, ended=time.time(), step=step, output=str(out))
    return EXIT_OK


def _train_with_backoff(cfg: TrainConfig, ctx: Context, tokenizer: Any, data: Any, callback: Any,
                        resume_from: Path | None) -> tuple[Any, Any, TrainConfig] | None:
    """Build the model and Trainer and train; on OOM back off and restart from the last complete checkpoint.

    Returns ``(trainer, train_output, final_config)``, or None when a stop was requested before training began.
    """
    import torch

    from .modeling import build_model

    while True:
        if ctx.stop.requested and not callback.started:
            return None
        ctx.events.emit("status", message="loading the model")
        model, info = build_model(cfg, device_map=device_map_for(cfg))
        callback.start_fields["model"] = info
        trainer = build_trainer(cfg, ctx, model, tokenizer, data, callback)
        if ctx.stop.requested and not callback.started:
            return None
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
            raise OutOfMemoryGiveUp(f"{oom_message}. The automatic back-off runs only in single-process runs: "
                                    "halve per_device_train_batch_size and double gradient_accumulation_steps, "
                                    "then `ft-tui resume` this run.")
        cfg, change = backoff_config(cfg)
        save_backoff_config(ctx.run, cfg)
        resume_from = ctx.run.latest_checkpoint()
        ctx.events.emit("backoff", step=step, reason=oom_message, old=change["old"], new=change["new"],
                        restart_from=_checkpoint_step(resume_from) or 0)
        log.warning("out of memory at step %d: retrying with %s from %s", step, change["new"],
                    resume_from or "the start")


def _end_stopped(ctx: Context, callback: Any, *, step: int) -> int:
    ckpt = ctx.run.latest_checkpoint()
    ctx.events.emit("end", status="stopped", step=step, checkpoint=str(ckpt) if ckpt else None,
                    reason=ctx.stop.signal_name, loss=callback.last_log.get("loss") if callback else None)
    ctx.state(status="stopped", exit_code=EXIT_OK, ended=time.time(), step=step)
    return EXIT_OK


def _checkpoint_step(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return int(Path(path).name.rsplit("-", 1)[-1])
    except ValueError:
        return None


def device_map_for(cfg: TrainConfig) -> Any:
    """Quantized models need an explicit placement; full-precision ones are placed by the Trainer."""
    if cfg.quantization_bit is None:
        return None
    from .modeling import default_device_map

    return default_device_map()


_device_map_for = device_map_for  # bench/gpu_calibrate.py imports the old name


# ---------------------------------------------------------------------------------------------------- entry point

def _fail(ctx: Context, code: int, message: str, tb: str | None = None) -> int:
    if tb:
        sys.stderr.write(tb)
        sys.stderr.flush()
    fields: dict[str, Any] = {"message": message}
    if tb:
        fields["traceback_tail"] = "".join(tb.splitlines(keepends=True)[-8:])
    ctx.events.emit("error", **fields)
    ctx.events.emit("end", status="failed", exit_code=code, message=message)
    ctx.state(status="failed", exit_code=code, ended=time.time(), error=message)
    return code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ft_tui.runner.worker",
                                description="ft-tui trainer process (started by `ft-tui train`).")
    p.add_argument("run_dir", help="the run directory holding config.yaml")
    p.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    return p.parse_args(argv)


def main(argv: list[str] | None = None, *, install_signals: bool = True) -> int:
    """Run the trainer for one run directory; returns the process exit code."""
    from .callbacks import StopRequest

    args = parse_args(argv)
    os.umask(0o077)
    os.environ.setdefault("TQDM_DISABLE", "1")
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
    ctx.stop = StopRequest().install() if install_signals else StopRequest()
    try:
        return run_training(ctx)
    except InputError as exc:
        return _fail(ctx, EXIT_INPUT, exc.render())
    except OutOfMemoryGiveUp as exc:
        return _fail(ctx, EXIT_FAILED, str(exc))
    except KeyboardInterrupt as exc:
        msg = str(exc) or "interrupted"
        ctx.events.emit("end", status="stopped", message=f"{msg}; no checkpoint was saved for the current step")
        ctx.state(status="stopped", exit_code=EXIT_OK, ended=time.time())
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the run must end with a failed status whatever happened
        first = (str(exc).strip().splitlines() or [""])[0]
        return _fail(ctx, EXIT_FAILED, f"{type(exc).__name__}: {first}"[:1000], traceback.format_exc())
    finally:
        ctx.events.close()
        _destroy_process_group()


def _destroy_process_group() -> None:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001 - best effort at exit
        pass


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "run_training", "backoff_config", "training_arguments", "Context", "OutOfMemoryGiveUp"]
