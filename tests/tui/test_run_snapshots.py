"""Snapshot tests of the run screen at 80x24 and 120x40, in English and Chinese.

Deterministic: a recorded events file (resumed, with a back-off, still running: state.json holds this test's own
pid), a fixed train.log, a fixed GPU sample, and a frozen clock (the ETA is 25 s after the last log).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ft_tui.tui.screens.run import RunScreen
from ft_tui.tui.widgets.run_gpu import GpuPanel
from textual.app import App

DATA = Path(__file__).parents[1] / "runner" / "data"  # recorded events files
GPUS = [
    {"nvml_index": 0, "name": "NVIDIA GeForce RTX 4090", "used_bytes": int(19.5 * 1024 ** 3),
     "total_bytes": 24 * 1024 ** 3, "utilization_pct": 98, "temperature_c": 74, "power_w": 421.6},
]
LOG = ("[rank0] loading checkpoint shards: 100%\n"
       "{'loss': 1.5215, 'grad_norm': 0.85, 'learning_rate': 0.0002, 'epoch': 1.0}\n"
       "[WARNING] out of memory at step 41: retrying with per_device_train_batch_size=4\n")


def snapshot_run(root: Path) -> tuple[Path, float]:
    run = root / "20261127-120000-Qwen2.5-7B-lora"
    run.mkdir(parents=True)
    text = (DATA / "run_resumed_live.jsonl").read_text(encoding="utf-8").replace("RUN_DIR", str(run))
    (run / "events.jsonl").write_text(text, encoding="utf-8")
    (run / "state.json").write_text(json.dumps({"status": "running", "pid": os.getpid()}), encoding="utf-8")
    (run / "train.log").write_text(LOG, encoding="utf-8")
    last_log = max(json.loads(line)["time"] for line in text.splitlines()
                   if line.endswith("}") and '"type": "log"' in line)
    return run, last_log + 25.0


class SnapApp(App):
    def __init__(self, run: Path, now: float, lang: str):
        super().__init__()
        self.lang = lang
        self.run_dir, self.now = run, now

    def get_default_screen(self) -> RunScreen:
        return RunScreen(self.run_dir, sampler=lambda: GPUS, clock=lambda: self.now, tail_interval=0.05)


async def _loaded(pilot) -> None:
    screen = pilot.app.screen
    for _ in range(300):
        if screen.view.step == 50 and screen.status == "running" and screen.query_one(GpuPanel).display \
                and screen.query_one("RunLog").line_count == 3:
            break
        await pilot.pause(0.02)
    await pilot.pause(0.6)  # the throttled redraw


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_run_screen_snapshot(snap_compare, tmp_path: Path, lang: str, size: tuple[int, int]) -> None:
    run, now = snapshot_run(tmp_path)
    assert snap_compare(SnapApp(run, now, lang), terminal_size=size, run_before=_loaded)
