"""Check the memory model against published measurements (``data/calibration.yaml``).

Each point carries the settings its source states; :func:`predict` turns them into a :class:`TrainSetup` and runs
the same estimator the planner uses. Differences between a source's stack and ours are estimator options, never a
per-point constant. :func:`summarize` reports the median absolute error and the worst under-prediction.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .errors import ConfigError
from .measured import load_measured_points
from .memory import TrainSetup, estimate_setup, weight_bytes
from .messages import Msg
from .units import GIB, MIB

UNITS = {"GB": 1e9, "GiB": GIB, "MB": 1e6, "MiB": MIB}
SETUP_FIELDS = {f.name for f in fields(TrainSetup)}
POINT_ONLY = {"id", "src", "model", "measured", "unit", "stack", "target", "skip", "note", "compile", "quant"}


@dataclass
class Result:
    """One point: measured vs predicted in the source's unit; ``error`` = (predicted - measured) / measured."""

    id: str
    stack: str
    model: str
    measured: float
    predicted: float | None
    unit: str
    skip: str | None = None
    compile: bool = False
    note: str = ""

    @property
    def error(self) -> float | None:
        if self.predicted is None:
            return None
        return (self.predicted - self.measured) / self.measured

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "stack": self.stack, "model": self.model, "measured": self.measured,
                "predicted": None if self.predicted is None else round(self.predicted, 3), "unit": self.unit,
                "error_pct": None if self.error is None else round(100 * self.error, 1), "skip": self.skip,
                "compile": self.compile, "note": self.note}


@lru_cache(maxsize=1)
def load_points() -> tuple[dict[str, Any], ...]:
    """The calibration points with defaults applied."""
    text = resources.files("ft_tui.planner").joinpath("data/calibration.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    defaults = raw.get("defaults", {})
    out = []
    for p in raw["points"]:
        point = {**defaults, **p}
        unknown = set(point) - SETUP_FIELDS - POINT_ONLY - {"quant"}
        if unknown:
            raise ConfigError(Msg("calibration_unknown_fields", point=point.get("id"), fields=sorted(unknown)),
                              file="planner/data/calibration.yaml")
        out.append(point)
    return tuple(out) + load_measured_points()


def setup_for(point: dict[str, Any]) -> TrainSetup:
    """The estimator settings a point describes."""
    values = {k: v for k, v in point.items() if k in SETUP_FIELDS}
    values["quant_bits"] = point.get("quant")
    values["lora_targets"] = tuple(point.get("lora_targets") or ("all",))
    return TrainSetup(**values)


def predict(point: dict[str, Any]) -> float:
    """Predicted value for ``point`` in its own unit (GB, GiB, MB)."""
    from .models import inspect_model
    from .params import count_params

    spec = inspect_model(point["model"], allow_network=False)
    counts = count_params(spec)
    setup = setup_for(point)
    if point.get("target") == "weights":
        value = weight_bytes(spec, counts, setup)
    else:
        value = estimate_setup(spec, counts, setup).peak_bytes
    return value / UNITS[point["unit"]]


def run_points(points=None) -> list[Result]:
    """Predict every point (skipped points are kept, with their reason and no prediction)."""
    out = []
    for p in points or load_points():
        skip = p.get("skip")
        predicted = None if skip else predict(p)
        out.append(Result(id=p["id"], stack=p["stack"], model=p["model"], measured=float(p["measured"]),
                          predicted=predicted, unit=p["unit"], skip=skip, compile=bool(p.get("compile")),
                          note=p.get("note", "")))
    return out


def summarize(results: list[Result]) -> dict[str, Any]:
    """Median absolute % error and worst under-prediction (most negative error) over the predicted points."""
    errors = [r.error for r in results if r.error is not None]
    if not errors:
        return {"points": 0, "median_abs_pct": None, "worst_under_pct": None, "worst_over_pct": None}
    return {
        "points": len(errors),
        "median_abs_pct": round(100 * statistics.median(abs(e) for e in errors), 1),
        "worst_under_pct": round(100 * min(min(errors), 0.0), 1),
        "worst_over_pct": round(100 * max(max(errors), 0.0), 1),
    }
