"""The TUI in Chinese: footer key labels (live with F2), data notes, dialogs, the command palette, and the
completeness of the label, note and key-help tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ft_tui.planner.messages import Msg, catalog, render
from ft_tui.templates import registry
from ft_tui.templates.stats import DataStats, format_stats
from ft_tui.templates.trainset import count_samples
from ft_tui.tui import keymap as K
from ft_tui.tui.app import FtTuiApp, make_app
from ft_tui.tui.i18n import BINDING_HELP_ZH, binding_label, worker_name
from ft_tui.tui.screens import run as run_module
from ft_tui.tui.screens import runs as runs_module
from ft_tui.tui.screens.dialogs import ConfirmDialog, PathDialog
from ft_tui.tui.screens.run import RunScreen
from ft_tui.tui.screens.runs import RunsScreen
from ft_tui.tui.screens.setup import SetupScreen
from ft_tui.tui.widgets.form import DataPreview
from ft_tui.tui.widgets.plan_panel import PlanPanel
from textual.app import App
from textual.widgets._footer import FooterKey

CJK = re.compile(r"[\u4e00-\u9fff]")


def footer(app) -> dict[str, str]:
    """Footer key -> label, as the footer of the current screen shows it now."""
    return {k.key: k.description for k in app.screen.query(FooterKey)}


# ---------------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------------

def test_every_label_the_screens_use_is_in_the_catalog():
    """Labels are catalog codes (both languages, same placeholders: tests/planner/test_messages.py); every
    ``label(lang, "key")`` with a literal key names one."""
    source = "".join(Path(p).read_text(encoding="utf-8") for p in Path(run_module.__file__).parents[1].rglob("*.py"))
    keys = set(re.findall(r'\blabel\((?:[\w.]+|None), "([^"]+)"', source))
    assert len(keys) > 100, len(keys)
    assert not keys - set(catalog()), sorted(keys - set(catalog()))


def test_every_label_has_a_chinese_translation() -> None:
    from ft_tui.planner.messages import render
    from ft_tui.runner.status import STATUSES, status_word
    from ft_tui.tui.i18n import label

    assert label("zh", "eta", eta="1:00") == "剩余 1:00"
    assert label("fr", "eta", eta="1:00") == "ETA 1:00"  # unknown language: English
    assert all(render(status_word(s), "zh") != s for s in STATUSES)
    assert render(status_word("interrupted"), "zh") == "已中断" and render(status_word("interrupted"), "en") == "interrupted"


def test_every_binding_has_a_label_in_both_languages_and_english_stays_as_declared():
    owners = (FtTuiApp, SetupScreen, RunScreen, RunsScreen, ConfirmDialog, PathDialog)
    for owner in owners:
        for b in owner.BINDINGS:
            assert f"key_{b.id}" in catalog(), b.id
            assert binding_label("en", b.id, "") == b.description, b.id  # the English footer is unchanged
            assert CJK.search(binding_label("zh", b.id, "")) or b.id == K.HELP_LANGUAGE, b.id
    assert set(BINDING_HELP_ZH) == set(K.known_binding_ids())


# ---------------------------------------------------------------------------------------------------------------
# Footer
# ---------------------------------------------------------------------------------------------------------------

async def test_f2_switches_the_footer_key_labels_live(catalog_config, settle):
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        shown = footer(app)
        assert shown["ctrl+t"] == "Start" and shown["f5"] == "Re-plan" and shown["ctrl+q"] == "Quit"
        await pilot.press("f2")
        await settle(pilot)
        shown = footer(app)
        assert app.lang == "zh"
        assert (shown["ctrl+t"], shown["f5"], shown["ctrl+s"], shown["ctrl+q"]) == ("开始", "规划", "保存", "退出")
        assert shown["ctrl+p"] == "命令" and shown["f4"] == "运行"  # short: the footer fits 80 columns
        await pilot.press("f2")
        await settle(pilot)
        assert footer(app)["ctrl+t"] == "Start" and footer(app)["ctrl+p"] == "menu"


async def test_a_remapped_key_keeps_its_chinese_label(catalog_config, settle):
    app = make_app(catalog_config, gpu="rtx4090", lang="zh")
    app.user_keymap = {K.START: "f9"}
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        shown = footer(app)
        assert shown.get("f9") == "开始" and "ctrl+t" not in shown


async def test_run_and_runs_screens_and_dialogs_speak_chinese(catalog_config, settle, recorded_run):
    app = make_app(catalog_config, gpu="rtx4090", lang="zh")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        shown = footer(app)
        assert shown["f5"] == "刷新" and shown["escape"] == "返回"
        names = [name for name, *_ in app.screen.palette_commands()]
        assert "刷新运行列表" in names
        await pilot.press("escape")
        await pilot.pause()
        app.push_screen(RunScreen(recorded_run, sampler=lambda: []))
        await pilot.pause()
        shown = footer(app)
        assert shown["m"] == "平滑" and shown["escape"] == "返回" and "d" not in shown  # an ended run: no detach
        assert "切换损失曲线平滑" in [name for name, *_ in app.screen.palette_commands()]
        await pilot.press("f2")  # app-level: switches the run screen live too
        await pilot.pause()
        assert footer(app)["m"] == "Smooth"


async def test_the_not_fit_dialog_and_path_dialog_are_chinese(catalog_config, settle, recorded_run):
    app = make_app(catalog_config, gpu="rtx4090", lang="zh")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.state.edit("cutoff_len", "16384")
        screen.refresh_view()
        assert app.setup_state.fits is False
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        texts = " ".join(str(b.label) for b in app.screen.query("Button"))
        assert "仍然开始" in texts and "返回" in texts
        assert "此计划超出显存" in app.screen.title_text and "GiB" in app.screen.body
        assert app.screen.active_bindings["escape"].binding.description == "取消"  # (keys panel; no footer)
        await pilot.press("n")
        await pilot.pause()
        screen.state.edit("cutoff_len", "1024")
        screen.refresh_view()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PathDialog) and app.screen.title_text == "配置另存为"
        app.screen.query_one("#path").value = ""
        app.screen.action_ok()
        await pilot.pause()
        assert app.screen.query_one("#path-error").render().plain == "请输入路径"


# ---------------------------------------------------------------------------------------------------------------
# Data notes
# ---------------------------------------------------------------------------------------------------------------

def sample_stats(**kw) -> DataStats:
    base = dict(kind="sft", rows=1234, rows_read=1300, dropped=66,
                dropped_reasons={Msg("drop_empty_response"): 60, Msg("drop_too_long", cutoff=1024): 6},
                p50=100, p90=300, p99=900, max_len=2000, mean_len=150.5, cutoff_len=1024, truncated_share=0.0123,
                train_sequences=1200, eval_sequences=34, total_tokens=200000, trainable_tokens=90000, packed=False,
                max_seq_len=1024, per_dataset={"a": 1000, "b": 234},
                warnings=[Msg("warn_column_key", name="a", key="x")])
    return DataStats(**{**base, **kw})


def test_format_stats_english_is_unchanged_and_chinese_is_complete():
    stats = sample_stats()
    en = format_stats(stats)
    assert en.splitlines() == [
        "1,234 samples kept of 1,300 rows read (a: 1,000, b: 234)",
        "full length in tokens: p50 100  p90 300  p99 900  max 2,000  mean 150.5",
        "cutoff_len 1,024: 1.2% of samples are truncated",
        "per epoch: 1,200 sequences (longest 1,024), 200,000 tokens, 90,000 trained; eval: 34 sequences",
        "dropped 66: 60 empty response; 6 longer than cutoff_len=1024 with nothing left to train; raise cutoff_len",
        "warning: dataset 'a': column key 'x' is unknown and ignored",
    ]
    zh = format_stats(stats, "zh")
    assert "1.2% 的样本超长，会被截断" in zh and "60 条（回复为空）" in zh and "未知的列键 'x'" in zh
    # what is left in Latin letters is key names, values and units, never an English sentence
    assert not re.search(r"\b(samples|sequences|tokens|dropped|warning|trained|eval)\b", zh), zh
    packed = format_stats(sample_stats(kind="pt", packed=True, eval_sequences=0, dropped=0, warnings=[]), "zh")
    assert "段文本" in packed and "打包序列" in packed and "cutoff_len 1,024" not in packed


def test_notes_keep_their_english_text_and_render_in_chinese(tmp_path: Path):
    """Joined notes keep every line's code (nothing is matched back from English text); plain text stays."""
    cfg_note = Msg("no_tokenizer_counted", cutoff=1024, rows=12)
    assert str(cfg_note).startswith("token lengths need the model's tokenizer on disk")
    joined = Msg.join([Msg("warning", text=Msg("warn_num_samples", name="d")), cfg_note,
                       "some line nobody translated"], "line")
    zh = render(joined, "zh").splitlines()
    assert zh[0] == "注意：数据集 'd'：'num_samples' 会被忽略；请在配置里用 max_samples"
    assert zh[1].startswith("统计 token 长度需要本地有模型的分词器") and "12 条样本" in zh[1]
    assert zh[2] == "some line nobody translated"
    assert render(joined, "en") == joined == "\n".join(
        ["warning: dataset 'd': 'num_samples' is ignored; use max_samples in the config", cfg_note,
         "some line nobody translated"])


def test_template_warnings_of_the_registry_render_in_chinese():
    """The registry's warnings are coded notes: rendered from their code, not matched from their text."""
    class BareTokenizer:  # a base model's tokenizer: no chat template, none of the template's special tokens
        chat_template = None

        def get_vocab(self):
            return {"a": 0}

    template = registry.get_template("qwen")
    warnings = registry.template_warnings(template, BareTokenizer(), "acme/base-7b")
    assert [w.code for w in warnings] == ["warn_base_model", "warn_missing_tokens"]
    for w in warnings:
        zh = render(Msg("warning", text=w), "zh")
        assert zh.startswith("注意：") and CJK.search(zh[3:]) and "looks like" not in zh and "pick the" not in zh


def test_the_trainer_status_messages_are_chinese_by_their_code(tmp_path: Path):
    """What the trainer writes (events with the message's code and values) is what the run screen shows."""
    from ft_tui.runner.events import EventWriter, RunModel, StatusEvent, read_events
    from ft_tui.runner.worker import PHASES

    path = tmp_path / "events.jsonl"
    with EventWriter(path) as writer:
        for phase, message in PHASES.items():
            writer.emit(StatusEvent(phase=phase, message=message))
        writer.emit(StatusEvent(message=Msg("status_no_checkpoint")))
        writer.emit(StatusEvent(message="something new"))  # an older trainer's text: shown as it came
    events, _ = read_events(path)
    shown = []
    for event in events:
        model = RunModel()
        model.ingest([event])
        shown.append(model.snapshot().message)
    assert [str(m) for m in shown[:4]] == [str(m) for m in PHASES.values()]  # English as the runner wrote it
    assert all(CJK.search(render(m, "zh")) for m in shown[:4])
    assert render(shown[4], "zh") == "运行目录里没有完整的检查点：从第 0 步开始"
    assert render(shown[5], "zh") == "something new"


def test_every_worker_of_the_run_and_runs_screens_has_a_chinese_name():
    source = "".join(Path(m.__file__).read_text(encoding="utf-8") for m in (run_module, runs_module))
    names = re.findall(r'@work\([^)]*name="([^"]+)"', source)
    assert len(names) >= 5, names
    for name in names:
        assert worker_name("en", name) == name
        assert CJK.search(worker_name("zh", name)), name


async def test_a_model_error_shows_in_chinese_and_follows_f2(tmp_path, settle):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model_name_or_path: zzqq/qqzz-xx\ndataset: demo_alpaca_en\n", encoding="utf-8")
    app = make_app(cfg, gpu="rtx4090", lang="zh")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        state = app.setup_state
        assert str(state.model_error).startswith("key 'model_name_or_path': unknown model 'zzqq/qqzz-xx'")
        blockers = state.start_blockers("zh")
        assert any(b.startswith("配置项 'model_name_or_path'：未知的模型 'zzqq/qqzz-xx'") for b in blockers)
        plan_text = str(app.screen.query_one(PlanPanel).render())
        assert "未知的模型 'zzqq/qqzz-xx'" in plan_text and "unknown model" not in plan_text
        await pilot.press("f2")
        await settle(pilot)
        assert "unknown model 'zzqq/qqzz-xx'" in str(app.screen.query_one(PlanPanel).render())
        assert any(b.startswith("key 'model_name_or_path': unknown model") for b in state.start_blockers("en"))


def test_nothing_fits_shows_in_chinese_in_the_plan_panel():
    from ft_tui.planner.config import load_config
    from ft_tui.planner.hardware import resolve_hardware
    from ft_tui.planner.models import inspect_model
    from ft_tui.tui.state import SetupState
    from ft_tui.tui.widgets.plan_panel import status_lines

    cfg = load_config(None, {"model_name_or_path": "meta-llama/Llama-3.1-70B", "dataset": "demo_alpaca_en"})
    state = SetupState.from_config(cfg, resolve_hardware("rtx4090", None))
    state.set_spec(inspect_model("meta-llama/Llama-3.1-70B", allow_network=False), None,
                   name="meta-llama/Llama-3.1-70B")
    state.replan()
    assert str(state.plan_error).startswith("nothing fits: meta-llama/Llama-3.1-70B")
    zh = status_lines(state, "zh").plain
    assert "怎样都放不下：meta-llama/Llama-3.1-70B" in zh and "What would fit" not in zh
    assert "What would fit" in status_lines(state, "en").plain


async def test_data_notes_show_in_chinese_and_follow_f2(catalog_config, settle):
    cfg = make_app(catalog_config, gpu="rtx4090", lang="zh").setup_state.config
    _, note = count_samples(cfg)
    app = make_app(catalog_config, gpu="rtx4090", lang="zh")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await app.screen.populate_sections()
        await settle(pilot)
        preview = app.screen.query_one(DataPreview)
        assert app.setup_state.data_note == note  # no tokenizer on disk for a catalog model: the note says so
        assert "统计 token 长度需要本地有模型的分词器" in preview.shown_text
        assert f"{app.setup_state.data.rows} 条样本" in preview.shown_text
        assert "token lengths need" not in preview.shown_text
        await pilot.press("f2")
        await settle(pilot)
        assert "token lengths need the model's tokenizer on disk" in preview.shown_text
        assert f"{app.setup_state.data.rows} samples" in preview.shown_text


async def test_preview_heading_in_chinese():
    class PreviewApp(App):
        def compose(self):
            yield DataPreview()

    async with PreviewApp().run_test() as pilot:
        preview = pilot.app.query_one(DataPreview)
        preview.show("", [[("问", False), ("答", True)]], None, lang="zh")
        assert preview.shown_text.startswith("预览（提示词，不训练 / 训练）：\n1. 问答")
        preview.show("", [[("q", False), ("a", True)]], None)
        assert preview.shown_text.startswith("Preview (prompt, not trained / trained):\n1. qa")


async def test_palette_and_system_commands_in_chinese(catalog_config, settle):
    app = make_app(catalog_config, gpu="rtx4090", lang="zh")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        entries = app.screen.palette_commands() + app.palette_commands()
        names = [e[0] for e in entries]
        assert {"开始训练", "重新规划", "分区：数据集", "运行列表"} <= set(names)
        assert all(e[3] is False for e in entries if e[0].startswith("字段："))
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"主题", "退出", "截图"} <= titles


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_plan_phase_word_follows_the_language(lang):
    from ft_tui.tui.i18n import label_or

    word = label_or(lang, "phase_optimizer step", "optimizer step")
    assert word == ("optimizer step" if lang == "en" else "优化器更新")
    assert label_or(lang, "phase_unheard of", "unheard of") == "unheard of"


def test_one_chinese_word_for_tokens_per_second() -> None:
    """#13 item 17: the run screen said "词元/秒" and the plan panel "token/秒"; the catalogs say "token" throughout
    (the seed guide uses neither), so "词元" appears nowhere in Chinese text."""
    help_text = (Path(__file__).parents[2] / "tui" / "help" / "params.yaml").read_text(encoding="utf-8")
    assert "词元" not in help_text
    assert [code for code, text in catalog().items() if "词元" in text["zh"]] == []
    assert catalog()["tokens_s"]["zh"] == "token/秒" and "token/秒" in catalog()["plan_speed"]["zh"]


async def test_chinese_dialog_text_breaks_between_characters_not_only_at_latin_words() -> None:
    """#13 item 17: a dialog body wrapped at the spaces around its Latin words ("batch", "F5", "shift+F5"), leaving
    short lines and pushing whole Chinese runs down. At 80x24 no line may end early where the next line's first
    Chinese character would still have fit."""
    from ft_tui.tui.screens.dialogs import ConfirmDialog
    from ft_tui.tui.widgets.wrap import OPENING, break_points, is_cjk
    from rich.cells import cell_len
    from textual.app import App

    body = render(Msg("not_fit_body", peak="25.6", budget="22.0"), "zh")

    class DialogApp(App):
        lang = "zh"

        def on_mount(self) -> None:
            self.push_screen(ConfirmDialog("显存不够", body))

    app = DialogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        widget = app.screen.query_one(".dialog-body")
        width = widget.content_region.width
        lines = ["".join(seg.text for seg in widget.render_line(y)).rstrip()
                 for y in range(widget.content_region.height)]
        lines = [line.strip() for line in lines if line.strip()]
        assert "".join(lines).replace(" ", "") == body.replace(" ", ""), lines
        for line, after in zip(lines, lines[1:], strict=False):
            points = break_points(after)
            first = after[: points[0]] if points else after  # the next line's first unbreakable piece
            if is_cjk(after[0]) and line[-1] not in OPENING:
                assert cell_len(line) + cell_len(first.rstrip()) > width, (width, line, after)
