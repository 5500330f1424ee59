"""The memory model against published measurements (planner/data/calibration.yaml, bench/planner_accuracy.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from ft_tui.planner.calibration import UNITS, load_points, run_points, setup_for, summarize
from ft_tui.planner.models import inspect_model

BENCH = Path(__file__).resolve().parents[2] / "bench" / "planner_accuracy.py"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_every_point_is_well_formed_and_its_model_is_in_the_catalog():
    points = load_points()
    assert len(points) >= 25
    assert len({p["id"] for p in points}) == len(points)
    for p in points:
        assert p["unit"] in UNITS and p["measured"] > 0 and p["src"].startswith("§3")
        assert p["stack"] in ("hf", "litgpt", "torchtune")
        inspect_model(p["model"], allow_network=False)
        setup_for(p)  # every field maps onto an estimator option


def test_our_stack_meets_the_acceptance_bar():
    results = run_points()
    hf = [r for r in results if r.stack == "hf"]
    summary = summarize(hf)
    assert summary["points"] >= 8
    assert summary["median_abs_pct"] <= 10.0
    assert summary["worst_under_pct"] >= -15.0


def test_skipped_points_say_why_and_are_not_predicted():
    skipped = [r for r in run_points() if r.skip]
    assert skipped and all(r.predicted is None and len(r.skip) > 10 for r in skipped)


def test_summary_math():
    class R:
        def __init__(self, e):
            self.error = e
    s = summarize([R(0.1), R(-0.2), R(0.05), R(None)])
    assert s == {"points": 3, "median_abs_pct": 10.0, "worst_under_pct": -20.0, "worst_over_pct": 10.0}


def _bench():
    spec = importlib.util.spec_from_file_location("planner_accuracy", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_prints_points_and_passes(capsys):
    assert _bench().main([]) == 0
    out = capsys.readouterr().out
    assert "I1" in out and "median |error|" in out and "PASS" in out


def test_bench_json(capsys):
    assert _bench().main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["acceptance"]["pass"] is True
    assert {p["id"] for p in data["points"]} >= {"I1", "I2", "J1", "D2"}
