"""The checks ``ft-tui train`` (and the TUI's Start) make before anything is launched: ``report_to``'s package, the
model (folder, config.json, the planner's reading of its shapes), the template, every dataset and row, and the
output folder (a folder, writable, room for a checkpoint).

Each raises :class:`~ft_tui.planner.errors.InputError` naming the key and file; none prints. ``runner/control.py``
calls them (and re-exports them, the control library's public names). Torch-free at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from ft_tui.planner.config import TrainConfig, load_config
from ft_tui.planner.errors import ConfigError, DataError, ModelError
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import hf_offline, is_local_model_ref
from ft_tui.runner import launch as _launch


@dataclass
class Checked:
    """A config that passed the checks ``train`` makes; ``rows`` samples were read (None: not read here, or a hub
    dataset left to the trainer). ``warnings``: the config's, then the datasets'."""

    config: TrainConfig
    rows: int | None = None
    warnings: list = field(default_factory=list)


class _Where(TypedDict):
    """Where an input error points (``InputError``'s ``key`` and ``file``)."""

    key: str | None
    file: str | None


def check_model(cfg: TrainConfig, *, here: bool = True) -> None:
    """The model must be a local folder with a config.json, or a hub id (in the local cache when offline).

    ``here=False`` (``--print-launch``: the line may be for another box, which downloads the model): a hub id
    need not be in this machine's cache."""
    ref = cfg.model_name_or_path
    where: _Where = {"key": "model_name_or_path", "file": cfg.source}
    if not ref:
        raise ModelError(Msg("model_not_set"), hint=Msg("hint_model_not_set"), **where)
    if is_local_model_ref(ref, cfg.base_dir):
        path = cfg.resolve_path(ref)
        if not path.is_dir():
            raise ModelError(Msg("model_folder_missing", path=str(path)), hint=Msg("hint_model_folder_missing"), **where)
        if not (path / "config.json").is_file():
            raise ModelError(Msg("model_no_config_json", path=str(path)), hint=Msg("hint_model_save_pretrained"),
                             **where)
    elif hf_offline():
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(ref, "config.json")
        if not isinstance(cached, str):
            if not here:
                return  # the machine the line is for downloads it; the planner reads its catalog entry
            raise ModelError(Msg("model_not_cached_offline", ref=ref), hint=Msg("hint_model_download"), **where)
    else:
        return  # a hub id with the network: the trainer downloads it
    # The planner's reading of config.json and the safetensors headers (shapes, bounds, truncated shards): a model
    # it refuses is refused here, with or without a GPU, before a run directory exists.
    from ft_tui.planner.models import inspect_model

    inspect_model(ref, trust_remote_code=cfg.trust_remote_code, base_dir=cfg.base_dir, allow_network=False)


def check_datasets(cfg: TrainConfig) -> list[str]:
    """Every name in ``dataset`` must resolve (dataset_dir registry, bundled demos, or a path) to existing files.

    Uses the same resolver the trainer uses; returns its warnings.
    """
    from ft_tui.templates.trainset import check_dataset

    if not cfg.datasets:
        raise DataError(Msg("err_no_dataset"), key="dataset", file=cfg.source, hint=Msg("hint_dataset_not_set"))
    warnings: list[str] = []
    for name in cfg.datasets:
        check_dataset(name, cfg, warnings)
    return warnings


def check_rows(cfg: TrainConfig) -> int:
    """Read and convert every row of the local datasets before anything is launched, so a malformed line, a
    missing column or an empty dataset is reported here (exit 2) rather than as a failed run. Hub datasets are
    left to the trainer. Returns the number of samples read."""
    from ft_tui.templates.datasets import resolve_dataset
    from ft_tui.templates.trainset import load_conversations

    if any(resolve_dataset(name, cfg).hub_url for name in cfg.datasets):
        return 0
    return len(load_conversations(cfg).samples)


#: ``report_to`` value -> the modules transformers' callback for it needs (any one of them).
INTEGRATIONS = {"wandb": ("wandb",), "tensorboard": ("tensorboard", "tensorboardX")}


def check_integrations(cfg: TrainConfig) -> None:
    """``report_to`` needs its package in this Python (the trainer runs with the same interpreter); without it
    the trainer would die with a traceback after the model loaded."""
    import importlib.util

    needs = INTEGRATIONS.get(cfg.report_to, ())
    if needs and not any(importlib.util.find_spec(name) is not None for name in needs):
        raise ConfigError(Msg("report_to_missing", value=cfg.report_to, package=needs[0]), key="report_to",
                          file=cfg.source, hint=Msg("report_to_missing_hint", package=needs[0]))


def check(cfg: TrainConfig, *, rows: bool = True, model_here: bool = True) -> Checked:
    """The checks ``train`` makes before a launch: the rules every command applies
    (:func:`ft_tui.templates.rules.config_findings`), ``report_to``, the model (``model_here=False``: a hub id need not
    be cached here, see :func:`check_model`), the template, every dataset and (``rows``) every row."""
    from ft_tui.templates.rules import config_findings

    warnings = list(cfg.warnings)
    # The rules plan, estimate and the TUI apply (the template, ...) first, so a config they refuse is refused
    # here with the same error; their hardware warnings come with the plan (control.plan), once the card is known.
    config_findings(cfg).raise_first()
    check_integrations(cfg)
    check_model(cfg, here=model_here)
    warnings += check_datasets(cfg)
    return Checked(config=cfg, rows=check_rows(cfg) if rows else None, warnings=warnings)


def load_checked(path: str | None, overrides: Any = None, *, model_here: bool = True) -> Checked:
    """Load the config file (with ``--set`` overrides) and :func:`check` it."""
    return check(load_config(path, overrides), model_here=model_here)


def _first_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(cfg: TrainConfig, plan_dict: Mapping[str, Any] | None) -> None:
    """Where the run will be written must be a folder (or creatable as one), writable, and have room for a
    checkpoint (the planner's size of one, when it made an estimate); ``output_dir`` must not hold control
    characters (a newline would silently write to another path)."""
    where: _Where = {"key": "output_dir" if cfg.output_dir else None, "file": cfg.source}
    if cfg.output_dir and any(ord(c) < 32 or ord(c) == 127 for c in cfg.output_dir):
        raise ConfigError(Msg("output_dir_control", value=cfg.output_dir), hint=Msg("output_dir_control_hint"),
                          **where)
    target = _launch.run_path_for(cfg, "run")
    existing = _first_existing(target)
    if not existing.is_dir():
        raise ConfigError(Msg("output_dir_not_folder", path=str(existing), target=str(target)),
                          hint=Msg("output_dir_hint"), **where)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(Msg("output_dir_not_writable", path=str(existing)), hint=Msg("output_dir_hint"), **where)
    estimate = (plan_dict or {}).get("estimate") or {}
    if "total_params" in estimate and "trainable_params" in estimate:
        import shutil

        from ft_tui.planner.memory import checkpoint_bytes

        need = checkpoint_bytes(cfg.finetuning_type, int(estimate["total_params"]), int(estimate["trainable_params"]))
        free = shutil.disk_usage(existing).free
        if free < need:
            raise ConfigError(Msg("output_dir_no_space", path=str(existing), free_gib=round(free / 2 ** 30, 2),
                                  need_gib=round(need / 2 ** 30, 2)), hint=Msg("output_dir_hint"), **where)
