"""Pilot tests of the setup screen: live re-estimate, validation, Start, help language, save/load, layout."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import pytest
import yaml
from ft_tui.tui.app import make_app
from ft_tui.tui.messages import FieldEdited
from ft_tui.tui.screens.dialogs import ConfirmDialog, PathDialog
from ft_tui.tui.screens.run import RunScreen
from ft_tui.tui.screens.setup import SetupScreen
from ft_tui.tui.widgets.help_panel import FieldHelp
from ft_tui.tui.widgets.plan_panel import PlanPanel, PlanSummary

CJK = re.compile(r"[\u4e00-\u9fff]")


class FakeRunner:
    """Records launches and returns a recorded run directory instead of starting a trainer."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.calls: list[tuple] = []

    def launch(self, config, plan, hardware) -> Path:
        self.calls.append((config, plan, hardware))
        return self.run_dir


def peak_label(app) -> str:
    m = re.search(r"peak (\d+\.\d) GiB", app.screen.query_one(PlanPanel).shown_text)
    assert m, app.screen.query_one(PlanPanel).shown_text
    return m.group(1)


def shown_peak(state, cfg) -> str:
    """The peak the plan panel shows for ``cfg`` (one GPU, as the state estimates it)."""
    from ft_tui.planner.memory import estimate_memory

    est = estimate_memory(cfg, state.spec, state.hardware, state.data, counts=state.counts, n_gpus=1,
                          strategy=state.strategy)
    return f"{est.peak_gib:.1f}"


async def type_into(pilot, key: str, text: str) -> None:
    """Focus a field's editor, clear it and type ``text`` as keystrokes."""
    await pilot.app.screen.focus_field(key).wait()
    await pilot.pause()
    await pilot.press("end", "ctrl+u", *text)
    await pilot.pause()


async def test_an_edit_re_estimates(catalog_config, settle):
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        state = app.setup_state
        assert state.estimate is not None and "GiB" in app.screen.query_one(PlanPanel).shown_text
        assert peak_label(app) == shown_peak(state, state.config)
        batch_before = state.config.per_device_train_batch_size
        await type_into(pilot, "cutoff_len", "512")
        assert state.config.cutoff_len == 512 and state.is_user_set("cutoff_len")
        # the panel shows the estimate of the edited config (the planner may re-plan the other fields once the
        # typing stops and fill the budget again, so the peak itself need not change)
        assert peak_label(app) == shown_peak(state, state.config)
        assert shown_peak(state, state.config.replace(cutoff_len=2048)) != shown_peak(state, state.config)
        # F5 re-plans around the user's cutoff (so does the data check the edit sets off): the shorter sequences
        # leave room for a larger batch
        await settle(pilot)
        await pilot.press("f5")
        await pilot.pause()
        assert state.config.cutoff_len == 512 and state.reason("cutoff_len") == "set by you"
        assert state.config.per_device_train_batch_size > batch_before
        after_cutoff = peak_label(app)
        await type_into(pilot, "per_device_train_batch_size", "1")
        assert state.config.per_device_train_batch_size == 1
        assert peak_label(app) != after_cutoff
        # a choice field, by keyboard: open the menu, move to 4-bit, choose it
        before_quant = peak_label(app)
        await app.screen.focus_field("quantization_bit").wait()
        await pilot.press("enter", "down", "enter")
        await pilot.pause()
        assert state.config.quantization_bit == 4 and state.is_user_set("quantization_bit")
        assert float(peak_label(app)) < float(before_quant)


async def test_the_screen_applies_an_edit_within_50_ms(catalog_config, settle):
    """Validation, re-estimate and the update of the rows and the plan panel: the screen's FieldEdited handler,
    timed synchronously (the terminal paints the result on its next frame)."""
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        timings = []
        for i in range(20):
            t0 = time.perf_counter()
            screen._field_edited(FieldEdited("cutoff_len", str(1024 + 64 * i)))
            timings.append(time.perf_counter() - t0)
            assert f"peak {app.setup_state.estimate.peak_gib:.1f} GiB" in screen.query_one(PlanPanel).shown_text
        await pilot.pause()
        assert app.setup_state.config.cutoff_len == 1024 + 64 * 19
        assert statistics.median(timings) < 0.050, timings
        rows = app.screen.query_one("#row-cutoff_len")
        assert "●" in str(rows.query_one(".field-name").render())


async def test_invalid_input_disables_start_with_the_reason(catalog_config, settle, recorded_run):
    runner = FakeRunner(recorded_run)
    app = make_app(catalog_config, gpu="rtx4090", lang="en", runner=runner)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.check_action("start", ()) is True
        await type_into(pilot, "learning_rate", "fast")
        assert screen.check_action("start", ()) is None  # dimmed in the footer
        panel = screen.query_one(PlanPanel).shown_text
        assert "Start disabled" in panel and "learning_rate" in panel and "must be a number" in panel
        note = str(screen.query_one("#row-learning_rate").query_one(".field-note").render())
        assert "must be a number" in note
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert runner.calls == []
        await type_into(pilot, "learning_rate", "1e-4")
        assert screen.check_action("start", ()) is True


async def test_start_with_a_fake_runner_opens_the_run_screen(catalog_config, settle, recorded_run):
    runner = FakeRunner(recorded_run)
    app = make_app(catalog_config, gpu="rtx4090", lang="en", runner=runner)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_into(pilot, "lora_rank", "4")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert len(runner.calls) == 1
        cfg, plan, hw = runner.calls[0]
        assert cfg.lora_rank == 4 and "lora_rank" in cfg.explicit
        assert plan["estimate"]["fits"] is True and plan["config"]["lora_rank"] == 4
        assert hw.profile == "rtx4090"
        await pilot.pause()  # the run screen tails events.jsonl in a long-lived worker: no settle here
        assert isinstance(app.screen, RunScreen)


async def test_a_plan_that_does_not_fit_asks_before_starting(catalog_config, settle, recorded_run):
    runner = FakeRunner(recorded_run)
    app = make_app(catalog_config, gpu="rtx4090", lang="en", runner=runner)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_into(pilot, "cutoff_len", "16384")
        assert app.setup_state.fits is False
        assert "DOES NOT FIT" in app.screen.query_one(PlanPanel).shown_text
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen) and runner.calls == []
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert len(runner.calls) == 1 and runner.calls[0][1]["estimate"]["fits"] is False


async def test_help_follows_the_focus_and_switches_to_chinese(catalog_config, settle):
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        help_panel = app.screen.query_one(FieldHelp)
        app.screen.focus_field("quantization_bit")
        await settle(pilot)
        assert "(quantization_bit)" in help_panel.shown_text and "Planner:" in help_panel.shown_text
        app.screen.focus_field("lora_rank")
        await settle(pilot)
        assert "(lora_rank)" in help_panel.shown_text and not CJK.search(help_panel.shown_text)
        await pilot.press("f2")
        await pilot.pause()
        assert app.lang == "zh" and CJK.search(help_panel.shown_text)
        await pilot.press("f2")
        await pilot.pause()
        assert app.lang == "en" and not CJK.search(help_panel.shown_text)
        await pilot.press("f1")
        assert help_panel.display is False
        # keyboard-only section switching: LoRA -> (wraps to) Model & Method, focus on its first field
        await pilot.press("alt+right")
        await pilot.pause()
        assert app.focused.id == "field-model_name_or_path"
        await pilot.press("alt+left")
        await pilot.pause()
        assert app.focused.id == "field-lora_rank"


async def _path_dialog(pilot, key: str, path: Path) -> None:
    """Open the save (ctrl+s) or load (ctrl+o) dialog, fill in ``path`` and press enter."""
    await pilot.press(key)
    await pilot.pause()
    assert isinstance(pilot.app.screen, PathDialog)
    pilot.app.screen.query_one("#path").value = str(path)  # typing a long path key by key only costs time
    await pilot.press("enter")
    await pilot.pause()


async def _save_via_dialog(pilot, path: Path) -> None:
    await _path_dialog(pilot, "ctrl+s", path)


async def _load_via_dialog(pilot, path: Path) -> None:
    await _path_dialog(pilot, "ctrl+o", path)


async def test_save_and_load_round_trip(catalog_config, settle, tmp_path):
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    out = tmp_path / "saved" / "mine.yaml"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_into(pilot, "lora_rank", "24")
        await type_into(pilot, "learning_rate", "0.0003")
        await _save_via_dialog(pilot, out)
        assert isinstance(app.screen, SetupScreen)
        saved = yaml.safe_load(out.read_text())
        assert saved["lora_rank"] == 24 and saved["learning_rate"] == pytest.approx(3e-4)
        assert saved["model_name_or_path"] == "Qwen/Qwen2.5-7B-Instruct"
        await type_into(pilot, "lora_rank", "4")
        assert app.setup_state.config.lora_rank == 4
        await _load_via_dialog(pilot, out)
        await settle(pilot)
        state = app.setup_state
        assert state.config.lora_rank == 24 and state.config.learning_rate == pytest.approx(3e-4)
        assert state.display("lora_rank") == "24"
        assert app.screen.query_one("#field-lora_rank").value == "24"
        assert state.estimate is not None


async def test_a_llamafactory_yaml_loads(catalog_config, settle, tmp_path):
    lf = tmp_path / "lf" / "qwen_lora_sft.yaml"
    lf.parent.mkdir()
    lf.write_text(
        "### model\nmodel_name_or_path: Qwen/Qwen2.5-7B-Instruct\ntrust_remote_code: true\n\n"
        "### method\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 8\nlora_target: all\n\n"
        "### dataset\ndataset: identity,alpaca_en_demo\ntemplate: qwen\ncutoff_len: 2048\nmax_samples: 1000\n"
        "overwrite_cache: true\npreprocessing_num_workers: 16\n\n"
        "### output\noutput_dir: saves/qwen-7b/lora/sft\nlogging_steps: 10\nsave_steps: 500\nplot_loss: true\n"
        "overwrite_output_dir: true\n\n"
        "### train\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 8\nlearning_rate: 1.0e-4\n"
        "num_train_epochs: 3.0\nlr_scheduler_type: cosine\nwarmup_ratio: 0.1\nbf16: true\nddp_timeout: 180000000\n"
        "\n### eval\nval_size: 0.1\nper_device_eval_batch_size: 1\neval_strategy: steps\neval_steps: 500\n",
        encoding="utf-8")
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await _load_via_dialog(pilot, lf)
        await settle(pilot)
        state = app.setup_state
        cfg = state.config
        assert cfg.dataset == "identity,alpaca_en_demo" and cfg.template == "qwen"
        assert cfg.learning_rate == pytest.approx(1e-4) and cfg.val_size == pytest.approx(0.1)
        assert state.is_user_set("per_device_train_batch_size") and not state.is_user_set("optim")
        assert cfg.warnings and any("do_train" in w for w in cfg.warnings)
        assert app.screen.query_one("#field-template").value == "qwen"
        assert state.estimate is not None
        # 'identity' is LLaMA-Factory's own data/ entry, not known here: named inline, and Start is blocked
        assert state.data_error and "unknown dataset 'identity'" in state.data_error
        note = str(app.screen.query_one("#row-dataset").query_one(".field-note").render())
        assert "unknown dataset 'identity'" in note
        assert app.screen.check_action("start", ()) is None


async def test_a_missing_model_is_shown_inline_and_blocks_start(tmp_path, settle):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model_name_or_path: ./no-such-model\ndataset: alpaca_en_demo\n", encoding="utf-8")
    app = make_app(cfg, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert app.setup_state.model_error and "does not exist" in app.setup_state.model_error
        note = str(screen.query_one("#row-model_name_or_path").query_one(".field-note").render())
        assert "does not exist" in note
        assert screen.check_action("start", ()) is None


async def test_narrow_terminal_shows_a_summary_and_toggles_the_plan(catalog_config, settle):
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.has_class("-narrow")
        assert "GiB" in screen.query_one(PlanSummary).shown_text
        assert screen.query_one("#plan-column").display is False or not screen.query_one("#plan-column").region
        await pilot.press("f3")
        await pilot.pause()
        assert screen.has_class("-show-plan") and screen.query_one("#plan-column").region.width > 40
        await pilot.press("f3")
        assert not screen.has_class("-show-plan")
        await type_into(pilot, "learning_rate", "x")  # the reason Start is off shows in the summary too
        assert "learning_rate" in screen.query_one(PlanSummary).shown_text


async def test_start_is_disabled_while_the_started_run_is_live(catalog_config, settle, tmp_path):
    import json
    import os
    import socket

    live = tmp_path / "runs" / "live-run"
    live.mkdir(parents=True)
    (live / "state.json").write_text(json.dumps({"status": "running", "pid": os.getpid(),
                                                 "host": socket.gethostname()}), encoding="utf-8")
    runner = FakeRunner(live)
    app = make_app(catalog_config, gpu="rtx4090", lang="en", runner=runner)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert len(runner.calls) == 1
        if not isinstance(app.screen, SetupScreen):  # the run screen: go back to the setup screen
            app.pop_screen()
            await pilot.pause()
        assert isinstance(app.screen, SetupScreen) and app.screen.check_action("start", ()) is None
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert len(runner.calls) == 1
        (live / "state.json").write_text(json.dumps({"status": "completed"}), encoding="utf-8")
        app.screen.on_screen_resume()
        assert app.screen.check_action("start", ()) is True


async def test_a_newcomer_types_the_model_name_first(settle):
    """Bare `ft-tui`: the model field has the focus and shows empty (not the YAML word null); typing names it."""
    app = make_app(None, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        editor = app.screen.query_one("#field-model_name_or_path")
        assert app.focused is editor and editor.value == ""
        await pilot.press(*"Qwen/Qwen2.5-0.5B")
        await settle(pilot)
        assert app.setup_state.config.model_name_or_path == "Qwen/Qwen2.5-0.5B"
        assert app.setup_state.is_user_set("model_name_or_path")


async def test_f2_switches_the_section_titles_and_the_plan_panel_too(catalog_config, settle):
    from textual.widgets import TabbedContent

    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(PlanPanel)
        tabs = app.screen.query_one("#sections", TabbedContent)
        assert "Memory (one GPU)" in panel.shown_text and str(tabs.get_tab("tab-dataset").label) == "Dataset"
        await pilot.press("f2")
        await pilot.pause()
        assert "显存（单卡）" in panel.shown_text and "峰值" in panel.shown_text
        assert str(tabs.get_tab("tab-dataset").label) == "数据集"
        await pilot.press("f2")
        await pilot.pause()
        assert "Memory (one GPU)" in panel.shown_text and not CJK.search(panel.shown_text)


async def test_a_broken_user_template_is_left_out_and_named_not_fatal(catalog_config, settle):
    import os

    folder = Path(os.environ["XDG_CONFIG_HOME"]) / "ft-tui" / "templates"
    folder.mkdir(parents=True)
    bad = folder / "mine.yaml"
    bad.write_text('name: mine\nuser: "{content}"\nassistant: "unclosed\n', encoding="utf-8")
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SetupScreen) and app.setup_state.estimate is not None
        shown = [n for n in app._notifications if n.title == "Templates left out (they do not load)"]
        assert len(shown) == 1 and str(bad) in shown[0].message and shown[0].severity == "warning"
        from ft_tui.templates.registry import list_templates

        assert "chatml" in list_templates() and "mine" not in list_templates()
