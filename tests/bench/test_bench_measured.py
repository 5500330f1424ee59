"""planner/measured.py: real-GPU results from bench/gpu_calibrate.py become calibration points."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ft_tui.planner import calibration, measured
from ft_tui.planner.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _entry(pid: str, model: str, method: str, quant, cutoff: int, batch: int, gc: bool, status: str = "ok",
           **values) -> dict:
    return {"id": pid, "model": model, "size": pid.split("-")[0], "method": method, "quant": quant, "cutoff": cutoff,
            "batch": batch, "gc": gc, "status": status, "measured": values}


def _record(points: list[dict], dry_run: bool = False) -> dict:
    return {"bench": "gpu_calibrate", "date": "2026-11-27T00:00:00Z", "dry_run": dry_run,
            "gpu": {"name": "NVIDIA H100 80GB HBM3"}, "points": points}


def test_ok_points_become_one_calibration_point_per_metric(tmp_path: Path) -> None:
    ok = _entry("1.5b-lora-s2048-b4-gcon", "Qwen/Qwen2.5-1.5B", "lora", None, 2048, 4, True,
                nvml_peak_gib=21.0, peak_reserved_gib=20.1, peak_allocated_gib=18.0)
    quant = _entry("7b-qlora4-s2048-b1-gcon", "Qwen/Qwen2.5-7B", "lora", 4, 2048, 1, True,
                   nvml_peak_gib=None, peak_reserved_gib=13.0, peak_allocated_gib=12.2)
    oom = _entry("7b-lora-s512-b4-gcoff", "Qwen/Qwen2.5-7B", "lora", None, 512, 4, False, status="oom",
                 peak_reserved_gib=70.0)
    (tmp_path / "gpu_calibrate.json").write_text(json.dumps(_record([ok, quant, oom])))
    (tmp_path / "gpu_calibrate_dryrun.json").write_text(json.dumps(_record([ok], dry_run=True)))
    points = measured.load_measured_points(tmp_path)
    assert [p["id"] for p in points] == [
        "gpu:1.5b-lora-s2048-b4-gcon:nvml", "gpu:1.5b-lora-s2048-b4-gcon:reserved",
        "gpu:1.5b-lora-s2048-b4-gcon:allocated", "gpu:7b-qlora4-s2048-b1-gcon:reserved",
        "gpu:7b-qlora4-s2048-b1-gcon:allocated"]
    for p in points:  # the fields calibration.yaml allows, nothing else
        assert not set(p) - calibration.SETUP_FIELDS - calibration.POINT_ONLY
    nvml = points[0]
    assert nvml["metric"] == "nvml" and nvml["include_context"] is True and nvml["measured"] == 21.0
    assert points[1]["include_context"] is False
    assert calibration.setup_for(points[3]).quant_bits == 4
    assert "H100" in nvml["src"] and nvml["unit"] == "GiB" and nvml["stack"] == "hf"


def test_calibration_predicts_what_gpu_calibrate_predicted(tmp_path: Path) -> None:
    """The two paths (calibration points and the bench's own prediction) must agree on the same setting."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import gpu_calibrate as gc
    finally:
        sys.path.remove(str(ROOT / "bench"))
    from ft_tui.planner.models import inspect_model

    for point in (gc.GPU_MATRIX[0], gc.GPU_MATRIX[1], gc.GPU_MATRIX[2]):
        spec = inspect_model(gc.MODELS[point.size], allow_network=False)
        pred = gc.predict(point, spec, None, cuda=True)
        entry = _entry(point.id, gc.MODELS[point.size], point.method, point.quant, point.cutoff, point.batch,
                       point.gc, nvml_peak_gib=10.0, peak_reserved_gib=9.0, peak_allocated_gib=8.0)
        pts = measured.points_from_record(_record([entry]), "test")
        results = {r.id.rsplit(":", 1)[1]: r.predicted for r in calibration.run_points(pts)}
        assert results["nvml"] == pytest.approx(pred["nvml_gib"], abs=2e-3)
        assert results["reserved"] == pytest.approx(pred["reserved_gib"], abs=2e-3)
        assert results["allocated"] == pytest.approx(pred["allocated_gib"], abs=2e-3)


def test_no_results_folder_means_no_points(tmp_path: Path) -> None:
    assert measured.load_measured_points(tmp_path / "missing") == ()


def test_a_broken_result_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "gpu_calibrate.json").write_text("{not json")
    with pytest.raises(ConfigError, match="gpu_calibrate.json"):
        measured.load_measured_points(tmp_path)
    (tmp_path / "gpu_calibrate.json").write_text(json.dumps({"bench": "startup"}))
    with pytest.raises(ConfigError, match="no 'points' list"):
        measured.load_measured_points(tmp_path)
