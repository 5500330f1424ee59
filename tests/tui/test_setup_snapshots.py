"""Snapshots of the setup screen at 80x24 and 120x40, in English and Chinese, for every section.

Deterministic inputs: a catalog model (no files), a named GPU profile (no probe), no clock or timing text.
Review a changed SVG before accepting it with `pytest --snapshot-update`.
"""

from __future__ import annotations

import pytest
from ft_tui.tui.app import make_app
from textual.widgets import Input

#: section -> the field focused in it (one with a help entry, and for most a planner reason)
SECTIONS = {"model": "quantization_bit", "dataset": "cutoff_len", "training": "per_device_train_batch_size",
            "lora": "lora_rank"}


@pytest.mark.parametrize("section", list(SECTIONS))
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_setup_screen_snapshot(snap_compare, catalog_config, settle, size, lang, section):
    app = make_app(catalog_config, gpu="rtx4090", lang=lang)

    async def ready(pilot):
        await settle(pilot)
        pilot.app.screen.focus_field(SECTIONS[section])
        await settle(pilot)
        for editor in pilot.app.screen.query(Input):
            editor.cursor_blink = False  # a blinking cursor would make the screenshot depend on timing
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)
