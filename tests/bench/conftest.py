"""Shared helpers for the benchmark tests: where the scripts are and how to run one as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def run_script(name: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None,
               python: list[str] | None = None) -> tuple[int, dict[str, Any] | None, str]:
    """Run ``bench/<name>`` with ``args``; returns (exit code, the JSON object on stdout or None, stderr)."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", **(env or {})}
    proc = subprocess.run([*(python or [sys.executable]), str(BENCH / name), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=full_env)
    try:
        obj = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        obj = None
    return proc.returncode, obj, proc.stderr


@pytest.fixture
def bench_script():
    """:func:`run_script`, as a fixture (test modules cannot import conftest under --import-mode=importlib)."""
    return run_script


@pytest.fixture
def bench_env(tmp_path: Path) -> dict[str, str]:
    """Keep the benchmarks' caches and run index out of the user's home."""
    return {"XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")),
            "XDG_STATE_HOME": str(tmp_path / "state")}
