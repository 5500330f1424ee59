"""bench/gpu_calibrate.py: the dry run (CI), the result schema and the import fallback for the GPU machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def _without_gpu_image_gaps(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` plus a ``sitecustomize`` that makes ``datasets`` and ``textual`` absent in every process started with
    it, as on the GPU machine's image (``sys.modules[name] = None``: ``import`` fails and ``find_spec`` says not
    installed, exactly as for a package that is not there)."""
    block = tmp_path / "gpu-image"
    block.mkdir()
    (block / "sitecustomize.py").write_text("import sys\nsys.modules.update(datasets=None, textual=None)\n")
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(block), os.environ.get("PYTHONPATH")]))}


def test_dry_run_measures_and_predicts_every_point(tmp_path: Path, bench_env, bench_script) -> None:
    """The dry run, with the packages the GPU machine lacks made absent: the calibration path must not need them."""
    env = _without_gpu_image_gaps(tmp_path, bench_env)
    probe = subprocess.run([sys.executable, "-c", "import datasets"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, **env})
    assert probe.returncode != 0 and "datasets" in probe.stderr  # the block works
    code, record, err = bench_script("gpu_calibrate.py", "--dry-run", "--json", "--results-dir", str(tmp_path),
                                   timeout=150, env=env)
    assert code == 0, err[-2000:]
    assert record is not None, err[-2000:]
    written = json.loads((tmp_path / "gpu_calibrate_dryrun.json").read_text())
    assert written["points"] == record["points"]
    assert record["dry_run"] is True and record["bench"] == "gpu_calibrate_dryrun"
    assert {"date", "machine", "versions"} <= set(record)
    assert record["versions"]["torch"] != "not installed"
    ids = [p["id"] for p in record["points"]]
    assert ids == ["tiny-lora-s64-b2-gcon", "tiny-qlora4-s64-b2-gcoff"]
    for point in record["points"]:
        assert point["status"] == "ok", point
        measured, predicted = point["measured"], point["predicted"]
        # trained through the runner's model code: the info it records, and real step times
        assert measured["model_info"]["method"] == "lora"
        assert measured["tokens_per_s"] > 0 and len(measured["step_times_s"]) == 5
        assert measured["cuda"] is False and "peak_reserved_gib" not in measured  # CPU: no allocator figures
        # the planner's prediction, for every metric, ordered as the metrics nest
        assert predicted["nvml_gib"] > predicted["reserved_gib"] >= predicted["allocated_gib"] > 0
        assert predicted["trainable_params"] == measured["model_info"]["trainable_params"]
    quant = record["points"][1]["measured"]["model_info"]
    assert quant["quantization"].startswith("4bit") and quant["gradient_checkpointing"] is False
    assert record["points"][0]["measured"]["model_info"]["gradient_checkpointing"] is True
    assert record["summary"]["acceptance"]["pass"] is None  # no GPU figures to judge on a CPU


def test_budget_stops_starting_points(tmp_path: Path, bench_env, bench_script) -> None:
    code, record, err = bench_script("gpu_calibrate.py", "--dry-run", "--json", "--results-dir", str(tmp_path),
                                   "--budget-s", "1", timeout=60, env=bench_env)
    assert record is not None, err[-2000:]
    assert [p["status"] for p in record["points"]] == ["not_run", "not_run"]
    assert "budget" in record["points"][0]["reason"]
    assert code == 1  # nothing was measured


def test_list_prints_the_gpu_matrix_most_informative_first() -> None:
    out = subprocess.run([sys.executable, str(BENCH / "gpu_calibrate.py"), "--list"], capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()
    assert out[1] == "1.5b-lora-s2048-b4-gcon" and "7b-qlora4-s2048-b1-gcon" in out


def test_shim_imports_ft_tui_from_the_checkout_without_an_install(tmp_path: Path) -> None:
    """On the GPU machine ft_tui is not installed: ``common.ensure_ft_tui_importable`` maps the repo folders."""
    site = sysconfig.get_paths()["purelib"]  # third-party packages, but -S skips the .pth of the editable install
    code = (f"import sys; sys.path.insert(0, {str(BENCH)!r}); import common; where = common.ensure_ft_tui_importable(); "
            "import ft_tui.planner.memory as m, ft_tui.runner.modeling as r; from pathlib import Path; "
            "print(where); print(Path(where, 'ft_tui', 'planner').is_symlink()); print(Path(m.__file__).resolve()); "
            "print(Path(r.__file__).resolve())")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = site
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    where, linked, memory_file, modeling_file = proc.stdout.split()
    assert where != "installed" and linked == "True"
    assert not Path(where).exists()  # removed when the process ended
    assert Path(memory_file).resolve() == ROOT / "planner" / "memory.py"
    assert Path(modeling_file).resolve() == ROOT / "runner" / "modeling.py"
