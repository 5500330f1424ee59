"""Import hygiene, checked in fresh interpreters (harlequin-style).

- planner/ and templates/ import neither textual nor torch-family libraries at module import time;
- runner/ never imports textual or the TUI;
- the TUI and `ft-tui --help` never import torch, transformers, peft or bitsandbytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "peft", "bitsandbytes", "accelerate")
UI = ("textual", "ft_tui.tui")


def modules_of(folder: str, package: str) -> list[str]:
    out = []
    for p in sorted((ROOT / folder).rglob("*.py")):
        rel = p.relative_to(ROOT / folder).with_suffix("")
        parts = [x for x in rel.parts if x != "__init__"]
        if p.name == "__main__.py":
            continue
        out.append(".".join([package, *parts]))
    return out


def loaded_after_import(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    return set(json.loads(res.stdout.strip().splitlines()[-1]))


def offenders(loaded: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == b or m.startswith(b + ".") for b in banned))


@pytest.mark.parametrize("folder", ["planner", "templates"])
def test_core_packages_import_no_ui_and_no_torch(folder):
    loaded = loaded_after_import(modules_of(folder, f"ft_tui.{folder}"))
    assert offenders(loaded, UI + HEAVY) == []


def test_runner_never_imports_the_ui():
    mods = [m for m in modules_of("runner", "ft_tui.runner")]
    loaded = loaded_after_import(mods)
    assert offenders(loaded, UI) == []


def test_runner_control_modules_are_torch_free():
    mods = [m for m in ("ft_tui.runner.events", "ft_tui.runner.tail", "ft_tui.runner.rundir", "ft_tui.runner.launch",
                        "ft_tui.runner.control", "ft_tui.runner.cli", "ft_tui.runner.follow",
                        "ft_tui.runner.supervise")
            if (ROOT / "runner" / (m.rsplit(".", 1)[1] + ".py")).exists()]
    loaded = loaded_after_import(mods)
    assert offenders(loaded, HEAVY) == []


def test_tui_imports_no_torch():
    loaded = loaded_after_import(modules_of("tui", "ft_tui.tui"))
    assert offenders(loaded, HEAVY) == []


def test_help_is_fast_and_torch_free():
    exe = shutil.which("ft-tui", path=str(Path(sys.executable).parent)) or "ft-tui"
    best = 10.0
    for _ in range(3):
        t0 = time.perf_counter()
        res = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30)
        best = min(best, time.perf_counter() - t0)
        assert res.returncode == 0
    for cmd in ("plan", "estimate", "train", "runs", "attach", "stop", "resume", "export", "gpus", "demo"):
        assert cmd in res.stdout
    assert best < 0.5, f"ft-tui --help took {best:.2f}s"
