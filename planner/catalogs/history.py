"""Local history: how far the planner was off on this machine's finished runs, and the margin it widened.

Part of the one message catalog (see :mod:`ft_tui.planner.messages`): code -> {"en": ..., "zh": ...}.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    "history_over": {
        "en": "past runs here: measured {low}-{high} % above plan on {n} run(s) of {family} on {gpu}; memory margin "
              "widened from {old} to {new} (use_run_history: false turns this off)",
        "zh": "本机以往的运行：在 {gpu} 上训练 {family} 的 {n} 次运行实测比计划高 {low}-{high} %；显存余量已从 {old} "
              "放宽到 {new}（设 use_run_history: false 可关闭）"},
    "history_within": {
        "en": "past runs here: measured {low} to {high} % against plan on {n} run(s) of {family} on {gpu} (never "
              "above it: margin unchanged)",
        "zh": "本机以往的运行：在 {gpu} 上训练 {family} 的 {n} 次运行实测与计划相差 {low} 到 {high} %（从未超过计划："
              "余量不变）"},
    "history_over_kept": {
        "en": "past runs here: measured {low}-{high} % above plan on {n} run(s) of {family} on {gpu}; margin kept "
              "at {old} (use_run_history is false)",
        "zh": "本机以往的运行：在 {gpu} 上训练 {family} 的 {n} 次运行实测比计划高 {low}-{high} %；余量保持 {old}"
              "（use_run_history 为 false）"},
}
