"""Export a finished run: the adapter (or model) as it is, or a LoRA adapter merged into its base model.

``export_run(run_dir)`` copies ``adapter/`` (LoRA) or ``model/`` (full, freeze) with the tokenizer and
``ft_tui_template.json`` (the chat template the data was encoded with) to ``RUN/export`` or ``out``.

``export_run(run_dir, merge=True)`` loads the base model in 16-bit, applies the adapter and folds it into the
weights with ``merge_and_unload()``, then saves safetensors + tokenizer: a plain model any runtime loads without
peft. The dtype is bf16 when the run trained in bf16, else fp16 on a GPU; on a CPU-only machine fp16 matmuls are
slow or missing, so the merge runs in fp32 there (the saved model is then fp32; pass ``dtype`` to override). A run
trained on a 4-bit or 8-bit base is merged into the 16-bit base it was quantized from: merging into quantized
weights would round the adapter away.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ft_tui.planner.config import TrainConfig, load_config
from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg

from .modeling import TEMPLATE_FILE, build_model, final_output_dir
from .rundir import RunDir, atomic_write_json

log = logging.getLogger(__name__)

DTYPES = ("bfloat16", "float16", "float32")
#: In an export folder while it is being written: an export cut short is ours to overwrite, not a stranger's folder.
INCOMPLETE = ".ft-tui-export-incomplete"


def source_dir(run: RunDir, cfg: TrainConfig, checkpoint: int | None = None) -> Path:
    """The folder an export (or anything that loads the result) reads: the run's final ``adapter/`` or ``model/``,
    or with ``checkpoint`` the complete ``checkpoint-N`` (which holds the same files at step N)."""
    needed = "adapter_config.json" if cfg.finetuning_type == "lora" else "config.json"
    if checkpoint is not None:
        found = dict(run.checkpoints())
        if checkpoint not in found:
            steps = Msg.join([str(step) for step in sorted(found)], "list") if found else "-"
            raise InputError(Msg("export_no_checkpoint", id=run.id, step=checkpoint, steps=steps),
                             key="checkpoint", file=str(run.path), hint=Msg("hint_export_checkpoints"))
        if not (found[checkpoint] / needed).is_file():
            raise InputError(Msg("export_checkpoint_incomplete", path=str(found[checkpoint]), needed=needed),
                             key="checkpoint", hint=Msg("hint_export_checkpoints"))
        return found[checkpoint]
    final = final_output_dir(run.path, cfg.finetuning_type)
    if not (final / needed).is_file():
        raise InputError(Msg("export_not_final", id=run.id, final=final.name), file=str(run.path),
                         hint=Msg("hint_export_resume", id=run.id))
    return final


def default_out(run_path: Path, *, merge: bool = False, checkpoint: int | None = None) -> Path:
    """Where an export goes unless told: RUN/merged for a merged model, RUN/export for the adapter (so one never
    overwrites the other), with ``-checkpoint-N`` for an intermediate checkpoint."""
    name = "merged" if merge else "export"
    return run_path / (name if checkpoint is None else f"{name}-checkpoint-{checkpoint}")


def _prepare_out(run: RunDir, out: str | Path | None, *, merge: bool = False, checkpoint: int | None = None) -> Path:
    """The output folder: ``out``, else :func:`default_out`."""
    target = Path(out).expanduser().resolve() if out else default_out(run.path, merge=merge, checkpoint=checkpoint)
    ours = (target / TEMPLATE_FILE).exists() or (target / INCOMPLETE).exists()
    if target.exists() and any(target.iterdir()) and not ours:
        raise InputError(Msg("export_target_not_empty", target=str(target)), hint=Msg("hint_export_target"))
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    (target / INCOMPLETE).touch()  # an export cut short (cancelled, killed) can be written again
    return target


def _template_info(final: Path, cfg: TrainConfig) -> dict[str, Any]:
    from .rundir import read_json

    info = read_json(final / TEMPLATE_FILE, default=None)
    if isinstance(info, dict):
        return info
    return {"template": cfg.template, "base_model": cfg.model_name_or_path,
            "finetuning_type": cfg.finetuning_type, "quantization_bit": cfg.quantization_bit, "stage": cfg.stage}


def _quiet_libraries() -> None:
    """Keep the terminal to our own lines: no weight-loading progress bars, no optional-kernel notices."""
    import logging as _logging
    import os

    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    _logging.getLogger("bitsandbytes").setLevel(_logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def merge_dtype(cfg: TrainConfig, dtype: str | None = None) -> str:
    """The dtype a merge runs and saves in (see the module docstring)."""
    if dtype is not None:
        if dtype not in DTYPES:
            raise InputError(Msg("export_unknown_dtype", dtype=dtype), key="dtype",
                             hint=Msg("hint_export_dtypes", dtypes=Msg.join(DTYPES, "list")))
        return dtype
    import torch

    if cfg.bf16:
        return "bfloat16"
    return "float16" if torch.cuda.is_available() else "float32"


def export_run(run_dir: str | Path, *, merge: bool = False, out: str | Path | None = None,
               dtype: str | None = None, checkpoint: int | None = None,
               report: Callable[[str], None] | None = None) -> Path:
    """Export the run's result (or its ``checkpoint``); returns the folder written. ``report`` receives one line per
    notable choice and step."""
    say = report or log.info
    run = RunDir(Path(run_dir))
    if not run.config_path.is_file():
        raise InputError(Msg("export_not_run_dir", path=str(run.path)), hint=Msg("hint_export_run_ref"))
    cfg = load_config(run.config_path)
    final = source_dir(run, cfg, checkpoint)
    target = _prepare_out(run, out, merge=merge and cfg.finetuning_type == "lora", checkpoint=checkpoint)
    template = _template_info(final, cfg)

    if not merge or cfg.finetuning_type != "lora":
        if merge:
            say(Msg("export_nothing_to_merge", finetuning_type=cfg.finetuning_type))
        shutil.copytree(final, target, dirs_exist_ok=True)
        atomic_write_json(target / TEMPLATE_FILE, template)
        (target / INCOMPLETE).unlink(missing_ok=True)
        say(Msg("export_copied", name=final.name, target=str(target)))
        return target

    _quiet_libraries()
    from peft import PeftModel

    from .modeling import load_tokenizer

    name = merge_dtype(cfg, dtype)
    if cfg.quantization_bit is not None:
        say(Msg("export_merge_quantized", bits=cfg.quantization_bit, dtype=name))
    if name == "float32" and dtype is None:
        say(Msg("export_merge_cpu_float32"))
    base_cfg = cfg.replace(quantization_bit=None, bf16=name == "bfloat16", fp16=name == "float16")
    say(Msg("export_loading_base", model=cfg.model_name_or_path, dtype=name))
    base, _ = build_model(base_cfg, for_training=False)
    model = PeftModel.from_pretrained(base, str(final))
    say(Msg("export_merging", adapter=final.name))
    merged = model.merge_and_unload()
    say(Msg("export_saving", target=str(target)))
    merged.save_pretrained(str(target), safe_serialization=True)
    tokenizer_src = final if (final / "tokenizer_config.json").is_file() else None
    if tokenizer_src is not None:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(tokenizer_src)).save_pretrained(str(target))
    else:
        load_tokenizer(cfg).save_pretrained(str(target))
    atomic_write_json(target / TEMPLATE_FILE, {**template, "merged": True, "dtype": name})
    (target / INCOMPLETE).unlink(missing_ok=True)
    say(Msg("export_merged", model=cfg.model_name_or_path, dtype=name, target=str(target)))
    return target
