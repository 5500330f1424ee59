"""The training stages of the trainer process: for each ``cfg.stage``, its training arguments and its Trainer.

The worker (``worker.py``) is stage-agnostic: it loads the tokenizer, the data (``templates.trainset`` builds each
stage's training set) and the model, then asks this module for the ``TrainingArguments`` and the ``Trainer`` and
runs them under its guarantees (stop at any time, exact resume, the OOM back-off, events). Each entry of
:data:`STAGES` says how one stage trains:

* ``arguments``: the arguments class (imported when called): ``transformers.TrainingArguments`` for sft and pt; a
  stage trained by TRL gives its config class (a ``TrainingArguments`` subclass, so every shared key still
  applies), plus the stage's own keys through ``extra_arguments``.
* ``trainer``: builds the Trainer from the model, the tokenizer, the prepared data, the arguments and the callbacks
  (sft and pt: a plain ``transformers.Trainer`` with the padding collator of ``collate.py``).

sft and pt train the same way (causal-LM loss on the labelled tokens); they differ only in their data.
A new stage is one more entry here (see docs/ARCHITECTURE.md, "Where things go").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_tui.planner.config import TrainConfig
from ft_tui.planner.errors import ConfigError
from ft_tui.planner.messages import Msg


def _no_extra(cfg: TrainConfig) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class RunnerStage:
    """How the trainer process trains one stage."""

    arguments: Callable[[], type]  # the TrainingArguments class, imported when called
    trainer: Callable[[TrainConfig, Any, Any, Any, Any, list[Any]], Any]  # (cfg, model, tokenizer, data, args, cbs)
    extra_arguments: Callable[[TrainConfig], dict[str, Any]] = field(default=_no_extra)


def _training_arguments_class() -> type:
    from transformers import TrainingArguments

    return TrainingArguments


def _causal_lm_trainer(cfg: TrainConfig, model: Any, tokenizer: Any, data: Any, args: Any,
                       callbacks: list[Any]) -> Any:
    """A ``transformers.Trainer`` on unpadded ``input_ids``/``labels`` rows, padded per batch by ``PadCollator``."""
    import torch
    from transformers import Trainer

    from .collate import PadCollator

    collator = PadCollator(tokenizer.pad_token_id, pad_to_multiple_of=8 if torch.cuda.is_available() else None)
    return Trainer(model=model, args=args, train_dataset=data.train,
                   eval_dataset=data.eval if args.eval_strategy != "no" else None,
                   data_collator=collator, processing_class=tokenizer, callbacks=callbacks)


_CAUSAL_LM = RunnerStage(arguments=_training_arguments_class, trainer=_causal_lm_trainer)

#: Training stage (``cfg.stage``) -> how the trainer process trains it.
STAGES: dict[str, RunnerStage] = {"sft": _CAUSAL_LM, "pt": _CAUSAL_LM}


def stage(name: str) -> RunnerStage:
    """The runner stage ``name`` (the config already refused any stage not in :data:`STAGES`)."""
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"no runner stage {name!r} (known: {', '.join(STAGES)})") from None


def has_eval_data(data: Any) -> bool:
    return data.eval is not None and len(data.eval) > 0


def training_arguments(cfg: TrainConfig, *, output_dir: Path | str, world_size: int, has_eval: bool) -> Any:
    """The stage's ``TrainingArguments`` for the run (``output_dir`` is the run directory itself).

    In a multi-process run creating them creates the process group (the worker relies on it to agree on a stop
    during the model load)."""
    import torch

    cuda = torch.cuda.is_available()
    if cfg.fp16 and not cuda:
        raise ConfigError(Msg("fp16_needs_cuda"), key="fp16", hint=Msg("hint_fp16_needs_cuda"))
    warmup: float | int = cfg.warmup_steps if cfg.warmup_steps > 0 else float(cfg.warmup_ratio)
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler_type, warmup_steps=warmup,
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm, optim=cfg.optim,
        bf16=cfg.bf16, fp16=cfg.fp16, seed=cfg.seed, data_seed=cfg.seed, full_determinism=cfg.full_determinism,
        num_train_epochs=cfg.num_train_epochs, max_steps=cfg.max_steps,
        logging_strategy="steps", logging_steps=cfg.logging_steps,
        # save_total_limit: ft-tui rotates (runner/checkpoints.py): the Trainer would delete the old checkpoint
        # before the new one is marked complete
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=None,
        report_to=[] if cfg.report_to == "none" else [cfg.report_to],
        disable_tqdm=True, remove_unused_columns=False,
        # group_by_length: transformers 5 names it a sampling strategy; the sampler reads the data's "length" column
        train_sampling_strategy="group_by_length" if cfg.group_by_length and not cfg.effective_packing else "random",
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0, dataloader_pin_memory=cuda, use_cpu=not cuda,
        ddp_find_unused_parameters=False if world_size > 1 else None,
        log_level="warning",
    )
    if world_size > 1 and not cuda:
        kwargs["ddp_backend"] = "gloo"
    if has_eval:
        kwargs.update(eval_strategy="steps", eval_steps=cfg.eval_steps or cfg.save_steps,
                      per_device_eval_batch_size=cfg.per_device_eval_batch_size or cfg.per_device_train_batch_size,
                      eval_accumulation_steps=1, prediction_loss_only=True)
    else:
        kwargs["eval_strategy"] = "no"
    runner_stage = stage(cfg.stage)
    kwargs.update(runner_stage.extra_arguments(cfg))
    return runner_stage.arguments()(**kwargs)


def build_trainer(cfg: TrainConfig, model: Any, tokenizer: Any, data: Any, args: Any, callbacks: list[Any]) -> Any:
    """The stage's Trainer for the run (moves the model to the GPU, as any ``Trainer`` does)."""
    return stage(cfg.stage).trainer(cfg, model, tokenizer, data, args, callbacks)
