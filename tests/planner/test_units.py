"""planner/units.py: one home for units and how sizes, counts, rates and durations are shown."""

from __future__ import annotations

from ft_tui.planner import units
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.units import (
    GIB,
    MIB,
    format_clock,
    format_duration,
    gib,
    gib_number,
    param_count,
    token_rate,
)


def test_binary_units():
    assert GIB == 2**30 and MIB == 2**20


def test_gib_has_one_decimal_whatever_the_size():
    assert gib(17.3 * GIB) == "17.3 GiB"
    assert gib(24 * GIB) == "24.0 GiB"
    assert gib(24 * 10**9) == "22.4 GiB"          # 24 GB, not 22.3517
    assert gib(0) == "0.0 GiB" and gib(None) == "?"
    assert gib(3.5 * GIB, width=5) == "  3.5 GiB"
    assert gib_number(79.6 * GIB) == "79.6" and gib_number(None) == "?"


def test_a_raw_gpu_size_is_named_with_a_clean_number():
    """#13 item 17: `--gpu 24GB` is a "24GB" card, 24 GiB as GPU memory is marketed; never 22.35 / 22.4."""
    assert resolve_hardware("24GB").name == "24 GiB GPU"
    assert resolve_hardware("24GiB").name == "24 GiB GPU"
    assert resolve_hardware("24GB").memory_bytes == 24 * GIB
    assert resolve_hardware("22.5GiB").name == "22.5 GiB GPU"


def test_param_counts_and_token_rates():
    assert param_count(7_615_616_512) == "7.62B"
    assert param_count(40_370_176) == "40.4M"
    assert param_count(96_256) == "96.3K"
    assert param_count(512) == "512"
    assert token_rate(1432.0) == "1.4k" and token_rate(850.4) == "850"


def test_format_duration():
    assert format_duration(None) == "unknown"
    assert format_duration(45) == "45s"
    assert format_duration(14 * 60 + 30) == "14m 30s"
    assert format_duration(2 * 3600 + 5 * 60) == "2h 05m"
    assert format_duration(3 * 86400 + 3600) == "3d 01h"


def test_format_clock():
    assert format_clock(0) == "0:00"
    assert format_clock(75.4) == "1:15"
    assert format_clock(3725) == "1:02:05"
    assert format_clock(None) == "?" and format_clock(float("nan")) == "?"


def test_the_planner_and_the_live_screens_use_these_formatters():
    from ft_tui.planner import cli as planner_cli
    from ft_tui.runner import follow
    from ft_tui.tui.widgets import plan_panel, run_progress

    assert planner_cli.format_duration is plan_panel.format_duration is units.format_duration
    assert follow.format_clock is run_progress.format_clock is units.format_clock
    from ft_tui.runner.events import fold

    state = fold([{"v": 1, "type": "start", "time": 1.0, "total_steps": 10},
                  {"v": 1, "type": "log", "time": 2.0, "step": 3, "tokens_per_s": 1432.0}])
    assert follow.progress_text(state).endswith("1.4k tok/s")
    assert run_progress.fmt_rate(1432.0) == "1.4k"
