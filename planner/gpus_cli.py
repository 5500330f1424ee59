"""`ft-tui gpus`: what the hardware probe sees, and (`--profiles`) the GPU catalog usable with `--gpu`.

Exit status 0 whether or not a GPU is found: "no GPU here" is an answer, not an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .gpu_probe import GpuInfo, HardwareReport, probe
from .hardware import load_profiles
from .units import gib_number


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Rows aligned under their headers; columns in ``right`` are right-aligned (numbers)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return [line(headers).rstrip(), *(line(r).rstrip() for r in rows)]


def _gpu_row(g: GpuInfo) -> list[str]:
    cc = f"{g.compute_capability[0]}.{g.compute_capability[1]}" if g.compute_capability else "?"
    bf16 = {True: "yes", False: "no", None: "?"}[g.bf16]
    return [str(g.index), g.name + (" (MIG)" if g.is_mig else ""), f"{gib_number(g.used_bytes)} / {gib_number(g.total_bytes)}",
            gib_number(g.free_bytes), bf16, cc, gib_number(g.other_process_bytes)]


def render_report(report: HardwareReport) -> str:
    """The human-readable `ft-tui gpus` output."""
    if not report.gpus:
        lines = [report.message or "No NVIDIA GPU found.",
                 "ft-tui can still plan for another machine: `ft-tui plan --gpu rtx4090` (or a100-80gb, h100-80gb, "
                 "a size such as 24GiB; `ft-tui gpus --profiles` lists the cards)."]
        return "\n".join(lines + [f"note: {n}" for n in report.notes])
    versions = []
    if report.driver_version:
        versions.append(f"driver {report.driver_version}")
    if report.cuda_version:
        versions.append(f"CUDA {report.cuda_version}")
    head = report.message + (f" ({', '.join(versions)})" if versions else "")
    headers = ["#", "name", "used / total GiB", "free GiB", "bf16", "cc", "other procs GiB"]
    body = _table(headers, [_gpu_row(g) for g in report.gpus], right={0, 2, 3, 6})
    return "\n".join([head, *body, *(f"note: {n}" for n in report.notes)])


def _profile_rows() -> list[dict[str, Any]]:
    return [p.to_dict() for p in load_profiles().values()]


def render_profiles() -> str:
    """The human-readable `ft-tui gpus --profiles` table."""
    rows = []
    for p in load_profiles().values():
        tflops = p.peak_tflops()
        rows.append([p.name, f"{p.memory_gib:g}", "yes" if p.bf16 else "no",
                     f"{tflops:g}" if tflops is not None else "?", f"{p.bandwidth_gbs:g}", ", ".join(p.aliases)])
    headers = ["profile", "GiB", "bf16", "TFLOP/s", "GB/s", "aliases"]
    lines = _table(headers, rows, right={1, 3, 4})
    lines.append("TFLOP/s: dense bf16 tensor peak (fp16 where the card has no bf16), FP32 accumulate; "
                 "use a name with --gpu, e.g. `ft-tui plan --gpu l40s --gpus 2`.")
    return "\n".join(lines)


def cmd_gpus(args: argparse.Namespace) -> int:
    """`ft-tui gpus [--json] [--profiles]`. Always exits 0."""
    as_json = bool(getattr(args, "json", False))
    if getattr(args, "profiles", False):
        text = json.dumps({"profiles": _profile_rows()}) if as_json else render_profiles()
    else:
        report = probe()
        text = json.dumps(report.to_dict()) if as_json else render_report(report)
    sys.stdout.write(text + "\n")
    return 0
