"""Start-up and interaction latency: the TUI's first full screen, ``ft-tui estimate``, one field edit.

    python bench/startup.py [--json] [--tui-runs 5] [--estimate-runs 5] [--edits 200] [--skip-tui]
                            [--gpu rtx4090] [--model Qwen/Qwen2.5-7B] [--results-dir DIR]

1. **TUI time to first full screen**: a fresh process (as a user's ``ft-tui --gpu rtx4090 CONFIG``) imports the
   app, builds it on a catalog config and runs it headless (Textual's ``run_test``, 120x40) until the setup screen
   is mounted, the model inspection has finished and the plan panel shows the memory estimate. The time is counted
   from just before the parent spawns the process (interpreter start and imports included) to that moment. Also
   reported: how much of it is imports, and whether torch was imported (it must not be).
2. **``ft-tui estimate`` latency**: the console script as a subprocess, ``estimate CONFIG --gpu G --json``, wall
   time of the whole command (median of N).
3. **Re-estimate latency for one field edit** (target < 20 ms): in-process, the TUI's own path
   (``ft_tui.tui.state.SetupState.edit``: validation of the whole config, memory estimate, time estimate), alternating
   ``lora_rank`` between two values so every edit changes the estimate; median and p95 of N edits. The bare
   ``estimate_memory`` call is timed as well.

The config is a catalog model (no weights needed) with the bundled demo dataset. Results go to
``bench/results/startup.json``. Exit status 1 when the re-estimate median misses the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (bench/common.py, next to this script)

RESULT_NAME = "startup"
TARGET_EDIT_MS = 20.0
DEFAULT_MODEL = "Qwen/Qwen2.5-7B"
DEFAULT_GPU = "rtx4090"
TUI_TIMEOUT_S = 60.0


def write_config(folder: Path, model: str) -> Path:
    """A config for a catalog model and the bundled demo dataset; returns its path."""
    from ft_tui.runner.demo_kit import demo_dataset_dir

    path = folder / "startup-bench.yaml"
    path.write_text(f"model_name_or_path: {model}\ndataset: demo_alpaca_en\ndataset_dir: {demo_dataset_dir()}\n"
                    f"cutoff_len: 1024\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------- 1. TUI

async def _first_screen(config: str, gpu: str, t_spawn: float, t_imported: float) -> dict[str, Any]:
    """Inside the child: run the app headless until the estimate is on screen; return the timings."""
    from ft_tui.tui.app import make_app
    from ft_tui.tui.screens.setup import SetupScreen
    from ft_tui.tui.widgets.plan_panel import PlanPanel

    app = make_app(config, gpu=gpu, lang="en")
    t_app = time.time()
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + TUI_TIMEOUT_S
        while time.monotonic() < deadline:
            screen = app.screen
            if isinstance(screen, SetupScreen) and screen.state.estimate is not None:
                panel = screen.query_one(PlanPanel)
                if "peak" in panel.shown_text.lower() or "GiB" in panel.shown_text:
                    t_ready = time.time()
                    return {"first_screen_s": round(t_ready - t_spawn, 3), "imports_s": round(t_imported - t_spawn, 3),
                            "app_built_s": round(t_app - t_spawn, 3),
                            "peak_gib": round(screen.state.estimate.peak_bytes / 1024 ** 3, 2),
                            "torch_imported": "torch" in sys.modules}
            await pilot.pause(0.005)
    raise TimeoutError(f"the setup screen did not show an estimate within {TUI_TIMEOUT_S:.0f} s")


def _tui_child(config: str, gpu: str, t_spawn: float) -> int:
    import ft_tui.tui.app  # noqa: F401  (timed: the import cost a user pays)

    t_imported = time.time()
    result = asyncio.run(_first_screen(config, gpu, t_spawn, t_imported))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


def time_tui(config: Path, gpu: str, runs: int) -> dict[str, Any]:
    """Spawn the TUI child ``runs`` times; median of each timing."""
    samples = []
    for _ in range(runs):
        t0 = time.time()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child-tui", str(config),
                               "--gpu", gpu, "--t-spawn", repr(t0)], capture_output=True, text=True,
                              timeout=TUI_TIMEOUT_S + 30, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if proc.returncode != 0:
            raise RuntimeError(f"the TUI child failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
        samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out: dict[str, Any] = {"runs": runs, "size": "120x40", "driver": "textual headless (App.run_test)"}
    for key in ("first_screen_s", "imports_s", "app_built_s"):
        out[key] = round(common.median([s[key] for s in samples]), 3)
        out[f"{key}_all"] = [s[key] for s in samples]
    out["torch_imported"] = any(s["torch_imported"] for s in samples)
    out["peak_gib"] = samples[-1]["peak_gib"]
    return out


# ---------------------------------------------------------------------------------------------------- 2. CLI

def ft_tui_command() -> list[str]:
    """The console script next to this interpreter, else on PATH, else the CLI module through this interpreter."""
    here = Path(sys.executable).parent / "ft-tui"
    if here.is_file():
        return [str(here)]
    found = shutil.which("ft-tui")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from ft_tui.tui.cli import main; sys.exit(main())"]


def time_estimate_cli(config: Path, gpu: str, runs: int) -> dict[str, Any]:
    """Wall time of ``ft-tui estimate CONFIG --gpu G --json`` (median of ``runs``)."""
    cmd = [*ft_tui_command(), "estimate", str(config), "--gpu", gpu, "--json"]
    times, last = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
        last = json.loads(proc.stdout)
    return {"runs": runs, "command": " ".join(["ft-tui", *cmd[len(ft_tui_command()):]]),
            "median_s": round(common.median(times), 3), "min_s": round(min(times), 3),
            "all_s": [round(t, 3) for t in times], "peak_gib": (last or {}).get("peak_gib")}


# ---------------------------------------------------------------------------------------------------- 3. edit

def time_edits(config: Path, gpu: str, edits: int) -> dict[str, Any]:
    """Median and p95 of ``SetupState.edit`` (validate + estimate memory and time), and of bare estimate_memory."""
    from ft_tui.planner.config import load_config
    from ft_tui.planner.hardware import resolve_hardware
    from ft_tui.planner.memory import estimate_memory
    from ft_tui.planner.models import inspect_model
    from ft_tui.planner.params import count_params
    from ft_tui.tui.state import SetupState

    cfg = load_config(config)
    hw = resolve_hardware(gpu)
    spec = inspect_model(cfg.model_name_or_path, allow_network=False)
    counts = count_params(spec)
    state = SetupState.from_config(cfg, hw)
    state.set_spec(spec, counts, name=cfg.model_name_or_path)
    state.run_estimate()
    values = ("16", "8")
    edit_ms, peaks = [], set()
    for i in range(edits):
        t0 = time.perf_counter()
        problems = state.edit("lora_rank", values[i % 2])
        edit_ms.append(1000 * (time.perf_counter() - t0))
        if problems:
            raise RuntimeError(f"the edit was rejected: {problems}")
        peaks.add(state.estimate.peak_bytes)
    bare_ms = []
    for _ in range(edits):
        t0 = time.perf_counter()
        estimate_memory(state.config, spec, hw, counts=counts)
        bare_ms.append(1000 * (time.perf_counter() - t0))
    med = common.median(edit_ms)
    return {"edits": edits, "field": "lora_rank (8 <-> 16)", "path": "SetupState.edit: validate + memory + time",
            "median_ms": round(med, 3), "p95_ms": round(common.percentile(edit_ms, 95), 3),
            "max_ms": round(max(edit_ms), 3), "estimate_memory_median_ms": round(common.median(bare_ms), 3),
            "estimate_memory_p95_ms": round(common.percentile(bare_ms, 95), 3),
            "distinct_estimates": len(peaks), "target_ms": TARGET_EDIT_MS, "meets_target": med < TARGET_EDIT_MS}


# ---------------------------------------------------------------------------------------------------- main

def run(args: argparse.Namespace) -> dict[str, Any]:
    record = common.envelope(RESULT_NAME, dists=("ft-tui", "textual", "pyyaml", "rich"))
    record.update(model=args.model, gpu=args.gpu)
    with tempfile.TemporaryDirectory(prefix="ft-tui-startup-") as tmp:
        config = write_config(Path(tmp), args.model)
        common.log("timing one field edit ...")
        record["re_estimate"] = time_edits(config, args.gpu, args.edits)
        common.log("timing ft-tui estimate ...")
        record["estimate_cli"] = time_estimate_cli(config, args.gpu, args.estimate_runs)
        if not args.skip_tui:
            common.log("timing the TUI's first screen ...")
            record["tui_first_screen"] = time_tui(config, args.gpu, args.tui_runs)
    record["path"] = common.display_path(common.write_result(RESULT_NAME, record, Path(args.results_dir) if args.results_dir
                                             else None))
    return record


def report_lines(r: dict[str, Any]) -> list[str]:
    e, c, t = r["re_estimate"], r["estimate_cli"], r.get("tui_first_screen")
    lines = [f"startup ({r['model']} on --gpu {r['gpu']}; load average {r['machine']['load_average']}):"]
    if t:
        lines.append(f"  TUI first full screen   median {t['first_screen_s']:.2f} s over {t['runs']} runs "
                     f"(imports {t['imports_s']:.2f} s; torch imported: {t['torch_imported']})")
    lines.append(f"  ft-tui estimate         median {c['median_s']:.2f} s over {c['runs']} runs (min {c['min_s']:.2f})")
    lines.append(f"  re-estimate, one edit   median {e['median_ms']:.2f} ms, p95 {e['p95_ms']:.2f} ms over "
                 f"{e['edits']} edits (target < {e['target_ms']:.0f} ms: {'met' if e['meets_target'] else 'MISSED'});"
                 f" estimate_memory alone {e['estimate_memory_median_ms']:.3f} ms")
    lines.append(f"  written to {r['path']}")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--tui-runs", type=int, default=5, help="TUI launches to time (median)")
    p.add_argument("--estimate-runs", type=int, default=5, help="`ft-tui estimate` runs to time (median)")
    p.add_argument("--edits", type=int, default=200, help="field edits to time (median, p95)")
    p.add_argument("--skip-tui", action="store_true", help="skip the TUI measurement")
    p.add_argument("--gpu", default=DEFAULT_GPU, help="GPU profile to plan for")
    p.add_argument("--model", default=DEFAULT_MODEL, help="catalog model id")
    p.add_argument("--results-dir", default="", help="write the result JSON here instead of bench/results")
    p.add_argument("--child-tui", default="", help=argparse.SUPPRESS)
    p.add_argument("--t-spawn", type=float, default=0.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("tui_runs", "estimate_runs", "edits"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_tui:
        return _tui_child(args.child_tui, args.gpu, args.t_spawn)
    common.ensure_ft_tui_importable()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    record = run(args)
    common.emit(record, args.json, report_lines(record))
    return 0 if record["re_estimate"]["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
