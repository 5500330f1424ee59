"""The out-of-memory back-off policy: what to try next after a run ran out of GPU memory, and what to advise when
nothing is left to try.

Used by the trainer (``worker.py``, single process: it backs off in the process and restarts from the last complete
checkpoint) and by the supervisor of a multi-process run (``supervise.py``: it backs off and relaunches). Torch-free:
the policy is arithmetic on the config.

- :func:`backoff_config`: halve ``per_device_train_batch_size`` and raise ``gradient_accumulation_steps`` so the
  effective batch is unchanged; at batch 1 turn gradient checkpointing on; then :class:`OutOfMemoryGiveUp` with
  advice.
- :func:`save_backoff_config`: rewrite the run's ``config.yaml`` (the launched one is kept as
  :data:`LAUNCHED_CONFIG`).
- :func:`oom_summary`, :func:`multiprocess_oom_advice`, :func:`load_oom_advice`: the messages.
"""

from __future__ import annotations

import math
import shutil
from typing import Any

from ft_tui.planner.config import TrainConfig, dump_config
from ft_tui.planner.messages import Msg

from .rundir import RunDir, atomic_write_text

LAUNCHED_CONFIG = "config.launched.yaml"


class OutOfMemoryGiveUp(RuntimeError):
    """The OOM back-off has nothing left to try; the message (a :class:`Msg`) says what to change."""

    def as_msg(self) -> Msg:
        return self.args[0]


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
        advice: list[str | Msg] = []
        if cfg.finetuning_type != "lora":
            advice.append("finetuning_type: lora")
        elif cfg.quantization_bit != 4:
            advice.append("quantization_bit: 4")
        if cfg.cutoff_len > 64:
            advice.append(Msg("oom_try_cutoff", cutoff=cfg.cutoff_len // 2))
        advice.append(Msg("oom_try_smaller"))
        raise OutOfMemoryGiveUp(Msg("oom_give_up", options=Msg.join(advice, "or")))
    return cfg.replace(**changes), {"old": old, "new": changes}


def multiprocess_oom_advice(cfg: TrainConfig, records: list[dict[str, Any]], run: RunDir) -> Msg:
    """The failure message of an unsupervised multi-process run that ran out of memory: what happened and the
    values the back-off would have set."""
    what = oom_summary(records)
    try:
        _, change = backoff_config(cfg)
    except OutOfMemoryGiveUp as exc:
        return Msg("oom_what_detail", what=what, detail=exc.as_msg())
    values = Msg.join([f"{k}: {v}" for k, v in change["new"].items()], "list")
    return Msg("oom_multiprocess", what=what, values=values, config=str(run.config_path), id=run.id)


def oom_summary(records: list[dict[str, Any]]) -> Msg:
    """``out of memory on rank 1 after step 2 (CUDA out of memory ...)`` for a set of OOM records."""
    if not records:
        return Msg("oom_summary_none")
    ranks = Msg.join([str(r["rank"]) for r in records], "list")
    step = max(int(r.get("step") or 0) for r in records)
    message = str(records[0].get("message") or "").strip()
    when = Msg("oom_when_loading") if any(r.get("phase") == "load" for r in records) else \
        Msg("oom_when_step", step=step)
    return Msg("oom_summary_ranks" if len(records) > 1 else "oom_summary_rank", ranks=ranks, when=when,
               detail=Msg("oom_detail", message=message) if message else "")


def save_backoff_config(run: RunDir, cfg: TrainConfig) -> None:
    """Rewrite ``config.yaml`` with the backed-off values; keep the launched one as ``config.launched.yaml``."""
    launched = run.path / LAUNCHED_CONFIG
    if not launched.exists() and run.config_path.exists():
        shutil.copy2(run.config_path, launched)
    atomic_write_text(run.config_path, dump_config(cfg))


def load_oom_advice(cfg: TrainConfig) -> Msg:
    """What to change when the model itself does not fit while it loads (a smaller batch would not help)."""
    options: list[str | Msg] = []
    if cfg.finetuning_type != "lora":
        options.append("finetuning_type: lora")
    if cfg.quantization_bit != 4:
        options.append(Msg("oom_load_qlora") if cfg.finetuning_type == "lora" else Msg("oom_load_then_qlora"))
    options.append(Msg("oom_load_smaller"))
    options.append(Msg("oom_load_more_gpus"))
    return Msg("oom_loading", options=Msg.join(options, "or"))
