"""Typing fast while the estimate and the workers run: the field, the config and the plan hold what was typed.

Each burst (move to the end, delete the old text, type the new) goes to the terminal driver in one go, as tmux
or a fast typist delivers it, while the estimate is slowed artificially and model / data workers post their
results in the middle of the burst. After each burst the editor, the state, the config a Start would launch and the
plan (re-planned by the workers' answers) must all hold the typed text (issue #13, item 1).
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from ft_tui.tui.app import make_app
from ft_tui.tui.screens.setup import DEBOUNCE_S
from textual import events
from textual.keys import _character_to_key

#: Seconds every memory estimate takes in these tests (the real one takes well under a millisecond).
SLOW_ESTIMATE_S = 0.02
#: Seconds every dataset-statistics worker takes before answering.
SLOW_DATA_S = 0.03

#: (key, values typed in turn, how the config holds the text)
FIELDS = [
    ("per_device_train_batch_size", ["222", "32", "2", "512", "16", "8", "64", "3", "128", "1"], int),
    ("cutoff_len", ["512", "1024", "300", "2048", "64", "4096", "777", "128", "1536", "256"], int),
    ("learning_rate", ["0.0003", "1e-4", "2e-5", "0.001", "5e-4", "0.02", "3e-3", "7e-6", "0.5", "1e-3"],
     float),
    ("output_dir", ["out/a", "runs/bb", "x", "saves/qwen-7b/lora", "o2", "tmp/zz", "a/b/c", "q", "w9", "last"],
     str),
]


@pytest.fixture
def slow_planner(monkeypatch):
    """Slow the synchronous estimate and the data worker down, as on a loaded machine."""
    import ft_tui.tui.screens.setup as setup_screen
    import ft_tui.tui.state as state_module

    real_estimate, real_data = state_module.estimate_memory, setup_screen.load_data_facts

    def slow_estimate(*args, **kwargs):
        time.sleep(SLOW_ESTIMATE_S)
        return real_estimate(*args, **kwargs)

    def slow_data(*args, **kwargs):
        time.sleep(SLOW_DATA_S)
        return real_data(*args, **kwargs)

    monkeypatch.setattr(state_module, "estimate_memory", slow_estimate)
    monkeypatch.setattr(setup_screen, "load_data_facts", slow_data)


async def send_burst(app, keys: list[str], rng: random.Random) -> None:
    """Deliver ``keys`` to the driver as a terminal does: without waiting for the app to handle them (Pilot.press
    waits), some back to back, some a few milliseconds apart (the app runs its handlers in between)."""
    for key in keys:
        if len(key) == 1:
            char, name = key, (key if key.isalnum() else _character_to_key(key))
        else:
            char, name = None, key
        event = events.Key(name, char)
        event.set_sender(app)
        app._driver.send_message(event)
        if rng.random() < 0.5:
            await asyncio.sleep(rng.uniform(0.0, 0.03))


async def test_forty_fast_bursts_are_all_kept(catalog_config, settle, slow_planner):
    rng = random.Random(13)
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    kept = 0
    failures: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen, state = app.screen, app.setup_state
        for key, values, parse in FIELDS:
            await screen.focus_field(key).wait()
            await settle(pilot)
            editor = screen.query_one(f"#field-{key}")
            for value in values:
                # workers answer in the middle of the burst: a data check and a model inspection
                screen.inspect_data(delay=rng.uniform(0.0, 0.08))
                screen.inspect_model(delay=rng.uniform(0.0, 0.08))
                await send_burst(app, ["end", *["backspace"] * (len(editor.value) + 1), *value], rng)
                await settle(pilot)
                await asyncio.sleep(DEBOUNCE_S)  # a worker's re-plan waits until the typing stops
                await settle(pilot)
                got = (editor.value, state.display(key), getattr(state.config, key),
                       state.plan_dict()["config"][key], getattr(state.plan_input, key))
                if got == (value, value, parse(value), parse(value), parse(value)):
                    kept += 1
                else:
                    failures.append(f"{key}: typed {value!r}, got editor/state/config/launch/plan {got!r}")
        assert app.focused is editor
    assert kept == 40, "\n".join(failures)
