"""Our own GPU measurements (``bench/gpu_calibrate.py``) as calibration points for the memory model.

``bench/gpu_calibrate.py`` trains real architectures on a GPU through the runner's own code and writes
``bench/results/gpu_calibrate*.json``: per point the settings, torch's peak allocated / reserved memory and NVML's
peak for the process. :func:`load_measured_points` turns every point that trained (status ``ok``) into point dicts in
the format of ``data/calibration.yaml`` (``calibration.load_points``), one per measured metric, so the planner's
accuracy report covers them beside the published measurements. The dry run's file (``gpu_calibrate_dryrun.json``,
CPU, no memory figures) and any file with ``"dry_run": true`` are ignored.

The results folder is found next to the package sources (``<repo>/bench/results``, which exists in a checkout or an
editable install; an installed wheel has no measurements and gets an empty tuple). No torch, no textual.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .messages import Msg

#: Repository layout: planner/ and bench/ are siblings.
DEFAULT_RESULTS_DIR = Path(__file__).resolve().parent.parent / "bench" / "results"

#: measured key in a gpu_calibrate point -> (calibration metric, include_context)
METRICS = {
    "nvml_peak_gib": ("nvml", True),
    "peak_reserved_gib": ("reserved", False),
    "peak_allocated_gib": ("allocated", False),
}

#: The runner's set-up for every gpu_calibrate point (bench/gpu_calibrate.py point_config: bf16, adamw_torch, LoRA
#: rank 8 on all linear layers, no dropout, one micro-batch per step, sdpa attention, no fp32 upcast of the weights
#: bitsandbytes leaves unquantized).
RUNNER_SETUP = {
    "grad_accum": 1, "optimizer": "adamw_torch", "half": True, "precision_mode": "amp", "adapter_fp32": True,
    "autocast": True, "attn": "sdpa", "lora_rank": 8, "lora_targets": ["all"], "lora_dropout": 0.0,
    "double_quant": True, "kbit_prepare": False, "n_gpus": 1, "strategy": "single", "loss_impl": "hf",
    "compile": False,
}


def measurement_files(results_dir: Path | str | None = None) -> list[Path]:
    """The real-GPU result files (``gpu_calibrate*.json`` except the dry run's), sorted by name."""
    folder = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("gpu_calibrate*.json") if "dryrun" not in p.name)


def points_from_record(record: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """Calibration points (``calibration.yaml`` format) from one gpu_calibrate result record."""
    if record.get("dry_run"):
        return []
    gpu = (record.get("gpu") or {}).get("name", "unknown GPU")
    date = record.get("date", "")
    out = []
    for entry in record.get("points", []):
        if entry.get("status") != "ok":
            continue
        measured = entry.get("measured") or {}
        for key, (metric, context) in METRICS.items():
            value = measured.get(key)
            if not value:
                continue
            out.append({
                **RUNNER_SETUP, "id": f"gpu:{entry['id']}:{metric}", "src": f"{source} ({gpu}, {date})",
                "model": entry["model"], "measured": float(value), "unit": "GiB", "stack": "hf",
                "method": entry["method"], "quant": entry.get("quant"), "batch": int(entry["batch"]),
                "seq_len": int(entry["cutoff"]), "grad_ckpt": bool(entry["gc"]), "metric": metric,
                "include_context": context, "note": f"measured by bench/gpu_calibrate.py on {gpu}",
            })
    return out


def load_measured_points(results_dir: Path | str | None = None) -> tuple[dict[str, Any], ...]:
    """Every measured point of every real-GPU result file, in the format ``calibration.load_points`` returns."""
    points: list[dict[str, Any]] = []
    for path in measurement_files(results_dir):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(Msg("measured_unreadable", path=str(path), error=str(exc)), file=str(path),
                              hint=Msg("hint_measured")) from None
        if not isinstance(record, dict) or not isinstance(record.get("points"), list):
            raise ConfigError(Msg("measured_not_result", path=str(path)), file=str(path), hint=Msg("hint_measured"))
        points.extend(points_from_record(record, f"bench/results/{path.name}"))
    return tuple(points)
