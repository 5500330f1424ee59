"""bench/startup.py: a fast smoke of the estimate-latency parts (the CLI and one field edit) and the TUI part."""

from __future__ import annotations

import json
from pathlib import Path


def test_estimate_latency_smoke(tmp_path: Path, bench_env, bench_script) -> None:
    code, record, err = bench_script("startup.py", "--json", "--skip-tui", "--estimate-runs", "1", "--edits", "40",
                                     "--results-dir", str(tmp_path), timeout=90, env=bench_env)
    assert record is not None, err[-2000:]
    assert json.loads((tmp_path / "startup.json").read_text())["re_estimate"] == record["re_estimate"]
    edit = record["re_estimate"]
    assert edit["edits"] == 40 and 0 < edit["median_ms"] <= edit["p95_ms"] <= edit["max_ms"]
    assert edit["distinct_estimates"] == 2  # lora_rank 8 <-> 16 changes the estimate every time
    assert code == (0 if edit["meets_target"] else 1)
    cli = record["estimate_cli"]
    assert cli["runs"] == 1 and cli["median_s"] > 0 and cli["peak_gib"] > 0
    assert "tui_first_screen" not in record
    assert {"date", "machine", "versions"} <= set(record)


def test_tui_first_screen_without_torch(tmp_path: Path, bench_env, bench_script) -> None:
    code, record, err = bench_script("startup.py", "--json", "--tui-runs", "1", "--estimate-runs", "1", "--edits",
                                     "5", "--results-dir", str(tmp_path), timeout=120, env=bench_env)
    assert record is not None, err[-2000:]
    tui = record["tui_first_screen"]
    assert 0 < tui["imports_s"] <= tui["app_built_s"] <= tui["first_screen_s"]
    assert tui["peak_gib"] > 0
    assert tui["torch_imported"] is False
