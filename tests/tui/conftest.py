"""Generic fixtures for the TUI tests (setup, app, run and runs screens).

Every test gets its own config, state and cache folders (keymap, run index, stats cache) and runs offline.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import shutil
import time
from pathlib import Path

import pytest
from ft_tui.runner.events import (
    CheckpointEvent,
    EndEvent,
    EvalEvent,
    Event,
    EventWriter,
    LogEvent,
    StartEvent,
)

CATALOG_MODEL = "Qwen/Qwen2.5-7B-Instruct"


@pytest.fixture(autouse=True)
def isolated_tui_env(tmp_path_factory, monkeypatch):
    """Private XDG folders, offline hub, no colour overrides and an English locale for every TUI test."""
    home = tmp_path_factory.mktemp("xdg")
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return home


@pytest.fixture
def lf_example(tmp_path) -> Path:
    """A copy of LLaMA-Factory's examples/train_lora/qwen3_lora_sft.yaml (tests/planner/data), free to overwrite."""
    path = tmp_path / "qwen3_lora_sft.yaml"
    shutil.copy(Path(__file__).parents[1] / "planner" / "data" / "lf_qwen3_lora_sft.yaml", path)
    return path


def _changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.fixture
def changed_lines():
    """``changed_lines(before, after)``: the ``-``/``+`` lines of their diff (test modules cannot import conftest
    under --import-mode=importlib)."""
    return _changed_lines


async def _save_as(pilot, path: Path) -> None:
    from ft_tui.tui.screens.dialogs import PathDialog

    await pilot.press("ctrl+s")
    await pilot.pause()
    assert isinstance(pilot.app.screen, PathDialog)
    pilot.app.screen.query_one("#path").value = str(path)
    await pilot.press("enter")
    await pilot.pause()


@pytest.fixture
def save_as():
    """``await save_as(pilot, path)``: Ctrl+S on the setup screen, the path typed into its dialog, Enter."""
    return _save_as


@pytest.fixture
def catalog_config(tmp_path) -> Path:
    """A config for a catalog model (no weights, no tokenizer: inspection reads the built-in catalog)."""
    path = tmp_path / "cfg" / "qwen7b.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"model_name_or_path: {CATALOG_MODEL}\ndataset: demo_alpaca_en\n", encoding="utf-8")
    return path


@pytest.fixture
def settle():
    """``await settle(pilot)``: wait until no worker is running and the message queues are drained.

    Exclusive workers cancel their predecessors, so ``workers.wait_for_complete()`` would raise for those."""

    async def _settle(pilot, timeout: float = 30.0) -> None:
        app = pilot.app
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await pilot.pause()
            if all(w.is_finished for w in app.workers):
                await pilot.pause()
                if all(w.is_finished for w in app.workers):
                    return
            await asyncio.sleep(0.02)
        raise AssertionError(f"workers still running after {timeout}s: {list(app.workers)}")

    return _settle


@pytest.fixture
def recorded_run(tmp_path) -> Path:
    """A finished run directory: config.yaml, state.json and a recorded events.jsonl (start, logs, eval,
    checkpoint, end)."""
    run = tmp_path / "runs" / "20260101-000000-demo-lora"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"model_name_or_path: {CATALOG_MODEL}\ndataset: demo_alpaca_en\n",
                                     encoding="utf-8")
    t0 = 1_767_225_600.0
    events: list[Event] = [StartEvent(time=t0, total_steps=20, hardware=["cpu"])]
    for step in range(1, 21):
        events.append(LogEvent(time=t0 + step, step=step, epoch=step / 10, loss=round(3.0 - step * 0.1, 3),
                               lr=5e-4 * (1 - step / 20), grad_norm=1.0, tokens_seen=step * 512,
                               tokens_per_s=512.0, elapsed_s=float(step), eta_s=float(20 - step)))
        if step % 10 == 0:
            events.append(EvalEvent(time=t0 + step, step=step, eval_loss=2.5 - step * 0.05))
            events.append(CheckpointEvent(time=t0 + step, step=step, path=str(run / f"checkpoint-{step}")))
    events.append(EndEvent(time=t0 + 21, status="completed"))
    with EventWriter(run / "events.jsonl") as writer:
        writer.emit_all(events)
    (run / "state.json").write_text(json.dumps({"status": "completed", "pid": None, "id": run.name,
                                                "model": CATALOG_MODEL, "method": "lora"}), encoding="utf-8")
    return run
