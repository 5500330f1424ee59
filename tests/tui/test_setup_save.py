"""Saving from the setup screen (issue #13, item 3): a loaded LLaMA-Factory YAML saved to a new path differs from
it by the one line the user changed, and saving onto an existing file asks first."""

from __future__ import annotations

from ft_tui.tui.app import make_app
from ft_tui.tui.screens.dialogs import ConfirmDialog
from ft_tui.tui.screens.setup import SetupScreen


async def test_a_llamafactory_file_saved_elsewhere_differs_by_the_changed_line_and_overwriting_asks(
        tmp_path, settle, lf_example, changed_lines, save_as):
    original = lf_example
    text = original.read_text(encoding="utf-8")
    app = make_app(original, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await app.screen.focus_field("lora_rank").wait()
        await pilot.press("end", "ctrl+u", "1", "6")
        await settle(pilot)
        await pilot.pause(0.5)  # the re-plan after typing: it must not leak the planner's choices into the file
        await settle(pilot)
        assert app.setup_state.config.lora_rank == 16

        copy = tmp_path / "qwen3_lora_sft_r16.yaml"
        await save_as(pilot, copy)
        assert isinstance(app.screen, SetupScreen)
        assert changed_lines(text, copy.read_text(encoding="utf-8")) == ["-lora_rank: 8", "+lora_rank: 16"]

        # onto the loaded file itself: asked first; no keeps it as it was
        await save_as(pilot, original)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause()
        assert original.read_text(encoding="utf-8") == text
        await save_as(pilot, original)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await pilot.pause()
        assert changed_lines(text, original.read_text(encoding="utf-8")) == ["-lora_rank: 8", "+lora_rank: 16"]
