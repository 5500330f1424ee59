"""The run screen's GPU panel: memory used / total, utilization, temperature and power per GPU (NVML samples).

Hidden (``display: none``) until a sample lists at least one GPU, so a machine without a GPU shows no panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ft_tui.planner.units import gib, gib_number
from ft_tui.tui.i18n import label
from rich.text import Text
from textual.widgets import Static

BAR_WIDTH = 10


def _bar(fraction: float, width: int = BAR_WIDTH) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def _opt(value: Any, fmt: str, unit: str) -> str:
    return f"{format(value, fmt)}{unit}" if isinstance(value, (int, float)) else "-"


def _short_name(name: Any) -> str:
    text = str(name or "GPU")
    return text[len("NVIDIA "):] if text.startswith("NVIDIA ") else text


def gpu_lines(stats: Sequence[Mapping[str, Any]]) -> Text:
    """Two lines per GPU: ``0 H100 80GB HBM3  97% 71°C 512 W`` then ``███████░░░ 55.9/79.2 GiB``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, gpu in enumerate(stats):
        if i:
            text.append("\n")
        text.append(f"{gpu.get('nvml_index', i)} ", style="bold")
        text.append(_short_name(gpu.get("name")))
        text.append(f"  {_opt(gpu.get('utilization_pct'), 'd', '%')}"
                    f" {_opt(gpu.get('temperature_c'), '.0f', '°C')}"
                    f" {_opt(gpu.get('power_w'), '.0f', ' W')}", style="dim")
        used, total = gpu.get("used_bytes"), gpu.get("total_bytes")
        text.append("\n")
        if isinstance(used, (int, float)) and isinstance(total, (int, float)) and total > 0:
            frac = used / total
            style = "red" if frac > 0.95 else "yellow" if frac > 0.85 else "green"
            text.append(_bar(frac), style=style)
            text.append(f" {gib_number(used)}/{gib(total)}")
        else:
            text.append("- GiB")
    return text


class GpuPanel(Static):
    """Live GPU stats; ``show_stats([])`` hides the panel."""

    DEFAULT_CSS = """
    GpuPanel { width: 38; height: 1fr; border: round $primary 50%; padding: 0 1; display: none;
               text-wrap: nowrap; text-overflow: ellipsis; }
    GpuPanel.-has-gpus { display: block; }
    """

    def show_stats(self, stats: Sequence[Mapping[str, Any]], lang: str = "en") -> None:
        self.set_class(bool(stats), "-has-gpus")
        self.border_title = label(lang, "gpu_title")
        if stats:
            self.update(gpu_lines(stats))
