"""The setup screen on the demo kit (a real local model and tokenizer): dataset statistics and the formatted
preview come from the data worker, the planner reasons are shown, and Start hands the config to the runner."""

from __future__ import annotations

import pytest
from ft_tui.tui.app import make_app
from ft_tui.tui.widgets.form import DataPreview
from ft_tui.tui.widgets.plan_panel import PlanPanel


class FakeRunner:
    def __init__(self, run_dir):
        self.run_dir, self.calls = run_dir, []

    def launch(self, config, plan, hardware):
        self.calls.append((config, plan))
        return self.run_dir


@pytest.fixture(scope="module")
def demo_kit(tmp_path_factory):
    from ft_tui.runner.demo_kit import build_demo_kit

    return build_demo_kit(cache_dir=tmp_path_factory.mktemp("kit"))


async def test_demo_config_shows_statistics_and_a_preview(demo_kit, tmp_path, settle, recorded_run):
    from ft_tui.runner.demo_kit import write_demo_config

    config = write_demo_config(demo_kit, tmp_path)
    runner = FakeRunner(recorded_run)
    app = make_app(config, gpu="rtx4090", lang="en", runner=runner)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, timeout=60)
        state = app.setup_state
        assert state.spec is not None and state.spec.local_path
        assert state.data is not None and state.data.rows > 0 and state.data.p99 > 0
        assert state.reason("template")  # detected from the tokenizer or the model type
        app.screen.show_section("Dataset")
        await settle(pilot)
        preview = app.screen.query_one(DataPreview)
        assert "Preview" in preview.shown_text and "p50" in preview.shown_text
        trained = [[t for t, is_trained in row if is_trained] for row in state.preview]
        prompt = [[t for t, is_trained in row if not is_trained] for row in state.preview]
        assert state.preview and all(trained) and all(prompt)  # the masked prompt and the reply both show
        assert "fits" in app.screen.query_one(PlanPanel).shown_text
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert len(runner.calls) == 1 and runner.calls[0][0].model_name_or_path == str(demo_kit.model_dir)


async def test_the_template_choice_says_which_template_auto_detected(demo_kit, tmp_path, settle):
    """Issue #13 item 8: the template Select shows "auto (chatml, from the tokenizer)" once the data worker has
    detected it, in both languages (it showed a bare "auto": the value did not change, so Textual kept the old
    words)."""
    from ft_tui.runner.demo_kit import write_demo_config
    from textual.widgets import Select

    config = write_demo_config(demo_kit, tmp_path)
    app = make_app(config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, timeout=60)
        state = app.setup_state
        assert state.config.template is None and state.template_reason is not None
        assert state.template_reason.code == "tpl_detected"
        name = state.template_reason.values["name"]
        select = app.screen.query_one("#field-template", Select)
        assert str(select.query_one("SelectCurrent #label").render()) == f"auto ({name}, from the tokenizer)"
        assert select.value == "null"
        await pilot.press("f2")
        await settle(pilot)
        assert str(select.query_one("SelectCurrent #label").render()) == f"自动（{name}，来自分词器）"
