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

from .rundir import RunDir, atomic_write_text

LAUNCHED_CONFIG = "config.launched.yaml"


class OutOfMemoryGiveUp(RuntimeError):
    """The OOM back-off has nothing left to try; the message says what to change."""


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


def multiprocess_oom_advice(cfg: TrainConfig, records: list[dict[str, Any]], run: RunDir) -> str:
    """The failure message of an unsupervised multi-process run that ran out of memory: what happened and the
    values the back-off would have set."""
    what = oom_summary(records)
    try:
        _, change = backoff_config(cfg)
    except OutOfMemoryGiveUp as exc:
        return f"{what}: {exc}"
    values = ", ".join(f"{k}: {v}" for k, v in change["new"].items())
    return (f"{what}. A multi-process run backs off automatically only when ft-tui started it on one machine "
            f"(`ft-tui train` / `ft-tui resume`); this one was launched by hand or by a scheduler. Set {values} in "
            f"{run.config_path} (the same effective batch), then rerun the launch line with --resume on every "
            f"node, or `ft-tui resume {run.id}` on a single machine.")


def oom_summary(records: list[dict[str, Any]]) -> str:
    """``out of memory on rank 1 after step 2 (CUDA out of memory ...)`` for a set of OOM records."""
    if not records:
        return "out of memory"
    ranks = ", ".join(str(r["rank"]) for r in records)
    step = max(int(r.get("step") or 0) for r in records)
    message = str(records[0].get("message") or "").strip()
    when = "while loading the model" if any(r.get("phase") == "load" for r in records) else f"after step {step}"
    return f"out of memory on rank{'s' if len(records) > 1 else ''} {ranks} {when}" + \
        (f" ({message})" if message else "")


def save_backoff_config(run: RunDir, cfg: TrainConfig) -> None:
    """Rewrite ``config.yaml`` with the backed-off values; keep the launched one as ``config.launched.yaml``."""
    launched = run.path / LAUNCHED_CONFIG
    if not launched.exists() and run.config_path.exists():
        shutil.copy2(run.config_path, launched)
    atomic_write_text(run.config_path, dump_config(cfg))


def load_oom_advice(cfg: TrainConfig) -> str:
    """What to change when the model itself does not fit while it loads (a smaller batch would not help)."""
    options = []
    if cfg.finetuning_type != "lora":
        options.append("finetuning_type: lora")
    if cfg.quantization_bit != 4:
        options.append("quantization_bit: 4 (QLoRA: about a quarter of the 16-bit weights)"
                       if cfg.finetuning_type == "lora" else "then quantization_bit: 4")
    options.append("a smaller model")
    options.append("more GPUs (with several visible, ft-tui train shards a model that does not fit one GPU)")
    return ("The GPU ran out of memory while loading the model, before training began, so a smaller batch would "
            "not help. Check that no other process holds GPU memory (`ft-tui gpus`), or try "
            + ", or ".join(options) + "; `ft-tui estimate CONFIG` shows the memory each choice needs.")
