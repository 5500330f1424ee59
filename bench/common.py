"""Shared helpers for the benchmark scripts: provenance record, JSON results, medians and percentiles.

Every script in ``bench/`` writes one JSON object to ``bench/results/<name>.json`` with the same envelope::

    {"bench": name, "date": ISO-8601 UTC, "machine": {...}, "versions": {...}, ...figures...}

so a figure quoted in the README can always be traced to the machine, the date and the library versions that
produced it. This module imports nothing heavy (no torch): the startup benchmark imports it too.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

#: Distributions whose versions every result records (missing ones are recorded as "not installed").
CORE_DISTS = ("ft-tui", "torch", "transformers", "peft", "bitsandbytes", "accelerate", "datasets", "tokenizers",
              "textual")


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string with seconds precision, e.g. ``2026-11-27T23:30:00Z``."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def versions(dists: Iterable[str] = CORE_DISTS) -> dict[str, str]:
    """Python's version and the installed version of each distribution (read from metadata: nothing is imported)."""
    out = {"python": platform.python_version()}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """Where the figures were measured: host, OS, CPU model and count, usable CPUs, memory, load average.

    The load average matters here: the development machine is shared, and a CPU benchmark run under load is slower
    than the same run on an idle box (the medians and the ratios are what to compare, not the absolute figures).
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem_gib = None
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages * page_size / 1024 ** 3, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {"host": platform.node(), "platform": platform.platform(), "cpu": _cpu_model(), "cpus": os.cpu_count(),
            "usable_cpus": usable, "memory_gib": mem_gib, "load_average": _load_average()}


def envelope(name: str, *, dists: Iterable[str] = CORE_DISTS) -> dict[str, Any]:
    """The provenance fields every result starts with."""
    return {"bench": name, "date": utc_now(), "machine": machine(), "versions": versions(dists)}


def write_result(name: str, record: dict[str, Any], results_dir: Path | None = None) -> Path:
    """Write ``record`` to ``<results_dir>/<name>.json`` atomically (write a temporary file, then rename)."""
    folder = Path(results_dir) if results_dir is not None else RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def display_path(path: Path | str) -> str:
    """``path`` relative to the repository when it lies inside it, else absolute."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


def median(values: Sequence[float]) -> float | None:
    """The median of ``values`` (None when empty)."""
    vals = [float(v) for v in values if v is not None]
    return statistics.median(vals) if vals else None


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The ``pct`` percentile with linear interpolation between closest ranks (numpy's default method)."""
    vals = sorted(float(v) for v in values if v is not None)
    if not vals:
        return None
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {pct}")
    pos = (len(vals) - 1) * pct / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def emit(record: dict[str, Any], as_json: bool, lines: Iterable[str]) -> None:
    """Print ``record`` as one JSON object (``--json``) or the human-readable ``lines``."""
    if as_json:
        sys.stdout.write(json.dumps(record, default=str) + "\n")
    else:
        for line in lines:
            sys.stdout.write(line + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    """Progress for the person watching; on stderr so that ``--json`` output stays one object on stdout."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def ensure_ft_tui_importable() -> str:
    """Make ``import ft_tui`` work, also where the package is not installed (the GPU machine).

    When ``ft_tui`` imports, nothing changes. Otherwise a temporary folder gets an ``ft_tui`` package whose
    sub-packages are symbolic links to the repository's top-level folders (``planner -> <repo>/planner``, ...), the
    same mapping pyproject's ``package-dir`` declares, and the folder goes first on ``sys.path`` and on
    ``PYTHONPATH`` (so subprocesses inherit it); it is removed when this process exits. Returns ``"installed"`` or
    the folder used.
    """
    import atexit
    import importlib
    import shutil
    import tempfile

    try:
        importlib.import_module("ft_tui.planner")
        return "installed"
    except ImportError:
        pass
    for name in [m for m in sys.modules if m == "ft_tui" or m.startswith("ft_tui.")]:
        del sys.modules[name]  # a failed partial import must not shadow the shim
    shim = Path(tempfile.mkdtemp(prefix="ft-tui-shim-"))
    atexit.register(shutil.rmtree, shim, True)  # children that inherit PYTHONPATH have ended by then
    pkg = shim / "ft_tui"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""ft-tui from a source checkout (bench shim)."""\n', encoding="utf-8")
    for sub in ("planner", "runner", "templates", "tui"):
        if (REPO_ROOT / sub).is_dir():
            (pkg / sub).symlink_to(REPO_ROOT / sub, target_is_directory=True)
    sys.path.insert(0, str(shim))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH", "")) if p)
    importlib.invalidate_caches()
    importlib.import_module("ft_tui.planner")
    return str(shim)
