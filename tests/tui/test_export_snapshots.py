"""Snapshot tests of the export dialog at 80x24 and 120x40, in English and Chinese (a merge chosen, so every
field is enabled; a fixed run path, so the default output folder is the same on every machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ft_tui.tui.screens.export import ExportDialog, ExportForm
from textual.app import App

RUN = Path("/home/me/runs/20261127-120000-Qwen2.5-7B-lora")


class DialogApp(App):
    def __init__(self, lang: str):
        super().__init__()
        self.lang = lang

    def on_mount(self) -> None:
        self.push_screen(ExportDialog(ExportForm(RUN, RUN.name, "lora", (200, 400))))


async def _merge_chosen(pilot) -> None:
    pilot.app.screen.query_one("#export-kind").value = "merged"
    await pilot.pause(0.2)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_export_dialog_snapshot(snap_compare, lang: str, size: tuple[int, int]) -> None:
    assert snap_compare(DialogApp(lang), terminal_size=size, run_before=_merge_chosen)
