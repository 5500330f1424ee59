"""Units, and how numbers are shown to a person: the one home for byte sizes, parameter counts, token rates and
durations, so the CLI, the plan, the run screen and the benchmarks print them alike.

Memory is in binary units (GiB = 2**30 bytes, what NVML and torch report) with one decimal. Time has two
deliberately different forms: :func:`format_duration` for estimates in a plan ("2h 05m": coarse, in words) and
:func:`format_clock` for live progress ("1:02:05": a clock that ticks).

No torch, no textual, nothing of ours.
"""

from __future__ import annotations

import math

GIB = 1024**3
MIB = 1024**2


def gib_number(n_bytes: float | None) -> str:
    """Bytes as GiB with one decimal, no unit (``"17.3"``): for a column headed GiB or a message that says the unit;
    ``"?"`` when unknown."""
    return "?" if n_bytes is None else f"{n_bytes / GIB:.1f}"


def gib(n_bytes: float | None, *, width: int = 0) -> str:
    """Bytes as GiB with one decimal and the unit (``"17.3 GiB"``, ``"22.4 GiB"`` for 24 GB); ``width`` pads the
    number for aligned columns; ``"?"`` when unknown."""
    if n_bytes is None:
        return "?"
    return f"{n_bytes / GIB:{width}.1f} GiB"


def param_count(n: int) -> str:
    """A parameter count: ``7.62B``, ``40.4M``, ``96.3K``, ``512``."""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.{2 if unit == 'B' else 1}f}{unit}"
    return str(n)


def token_rate(tokens_per_s: float) -> str:
    """Tokens per second without the unit: ``1.4k``, ``850``."""
    return f"{tokens_per_s / 1000:.1f}k" if tokens_per_s >= 1000 else f"{tokens_per_s:.0f}"


def format_duration(seconds: float | None) -> str:
    """An estimated duration, for plans: ``'2h 05m'``, ``'14m 30s'``, ``'45s'``, ``'3d 01h'``, or ``'unknown'``."""
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    if s >= 86400:
        return f"{s // 86400}d {s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


def format_clock(seconds: float | None) -> str:
    """A clock reading, for live progress: ``75`` -> ``1:15``, ``3725`` -> ``1:02:05``; ``?`` when unknown."""
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
