"""What the setup form says: human labels that fit at 80x24 (item 4), notes that follow edits (item 6), the
meaning of an unset value instead of YAML's null (item 8), fields found by their Chinese names (item 9)."""

from __future__ import annotations

import pytest
from ft_tui.planner.config import KEYS, config_from_dict
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.messages import render
from ft_tui.planner.models import inspect_model
from ft_tui.planner.params import count_params
from ft_tui.tui.app import make_app
from ft_tui.tui.commands import ScreenCommands
from ft_tui.tui.i18n import field_label, value_words
from ft_tui.tui.state import SECTIONS, SetupState, section_keys
from ft_tui.tui.widgets.form import FieldRow
from rich.cells import cell_len
from textual.widgets import Select

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def planned_state(**values) -> SetupState:
    cfg = config_from_dict({"model_name_or_path": MODEL, "dataset": "demo_alpaca_en", **values})
    state = SetupState.from_config(cfg, resolve_hardware("rtx4090"))
    spec = inspect_model(MODEL)
    state.set_spec(spec, count_params(spec), name=MODEL)
    state.replan()
    return state


# -- item 4: labels ------------------------------------------------------------------------------------------------

def test_every_key_has_a_short_human_label_in_both_languages():
    for key in KEYS:
        for lang in ("en", "zh"):
            name = field_label(lang, key)
            assert name != key and 0 < cell_len(name) <= 25, (lang, key, name)
    assert field_label("zh", "per_device_train_batch_size") == "批处理大小"  # the users' guide's names
    assert field_label("zh", "gradient_accumulation_steps") == "梯度累积步数"
    assert field_label("zh", "learning_rate") == "学习率" and field_label("zh", "cutoff_len") == "截止长度"


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_no_label_is_blank_or_runs_into_its_value_at_80x24(catalog_config, settle, lang):
    app = make_app(catalog_config, gpu="rtx4090", lang=lang)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        await screen.populate_sections()
        for title in SECTIONS:
            screen.show_section(title)
            await pilot.pause()
            for key in section_keys(title):
                row = screen.query_one(f"#row-{key}", FieldRow)
                row.scroll_visible(animate=False)
                await pilot.pause()
                name = row.query_one(".field-name")
                text = str(name.render())
                assert field_label(lang, key) in text, (key, text)
                assert cell_len(text) <= name.content_region.width, (key, text, name.content_region)
                assert name.region.right <= row.editor.region.x, (key, name.region, row.editor.region)


# -- item 6: notes follow edits ------------------------------------------------------------------------------------

def test_the_planners_note_for_a_field_goes_when_the_user_types_a_value():
    state = planned_state()
    assert state.reason("per_device_train_batch_size") != "set by you"  # the planner's reason for its batch
    state.edit("per_device_train_batch_size", "3")
    assert render(state.reason("per_device_train_batch_size"), "en") == "set by you"


def test_a_recommendation_keeps_the_users_other_keys():
    state = planned_state(lora_rank=16, lora_alpha=32)
    assert state.recommendation("lora_alpha") is None  # 2 x rank 16: the planner agrees with 32
    state.edit("lora_alpha", "16")
    state.replan()
    assert state.recommendation("lora_alpha") == "32"


def _stats(p99: int):
    from ft_tui.templates.stats import DataStats

    return DataStats(kind="sft", rows=400, rows_read=400, dropped=0, dropped_reasons={}, p50=p99 // 2,
                     p90=p99 - 10, p99=p99, max_len=p99 + 5, mean_len=p99 / 2, cutoff_len=2048,
                     truncated_share=0.0, train_sequences=400, eval_sequences=0, total_tokens=400 * p99 // 2,
                     trainable_tokens=400 * p99 // 4, packed=False, max_seq_len=p99)


def test_a_typed_batch_is_noted_as_the_users_with_the_planners_pick_and_whether_it_fits():
    state = planned_state()
    planner_batch = state.config.per_device_train_batch_size
    assert "largest power of two" in state.note("per_device_train_batch_size")
    state.edit("per_device_train_batch_size", str(planner_batch + 1))
    state.replan()
    note = state.note("per_device_train_batch_size")
    assert note.startswith("set by you") and "largest power of two" not in note, note
    assert f"planner would pick {planner_batch}" in note, note
    assert ("does not fit" if state.fits is False else "fits the") in note, note
    zh = state.note("per_device_train_batch_size", "zh")
    assert zh.startswith("由你设定") and f"计划器会选 {planner_batch}" in zh, zh
    assert state.note("per_device_train_batch_size", "zh") != note


def test_the_alpha_note_follows_the_rank_the_config_has_now():
    state = planned_state(lora_alpha=16)  # no data statistics: the planner's rank for 7B is 16, alpha 32
    assert state.config.lora_rank == 16 and state.note("lora_alpha") == "set by you; planner would pick 32"
    state.edit("lora_rank", "8")  # before the re-plan: no pick made for rank 16 is shown
    assert state.note("lora_alpha") == "set by you", state.note("lora_alpha")
    state.replan()
    assert state.note("lora_alpha") == "set by you"  # 2 x 8: the planner agrees with 16
    state.edit("lora_rank", "16")
    state.edit("lora_alpha", "32")
    state.replan()
    assert state.note("lora_alpha") == "set by you"  # rank 16 and alpha 32: never "planner would pick 16"
    state.edit("lora_alpha", "16")
    state.replan()
    assert state.note("lora_alpha") == "set by you; planner would pick 32"


def test_a_planner_set_alpha_never_explains_a_rank_no_longer_there():
    state = planned_state()
    assert state.config.lora_rank == 16
    assert state.note("lora_alpha") == "32: 2 x rank, a common scale for the adapter update"
    state.edit("lora_rank", "8")
    assert "2 x rank" not in state.note("lora_alpha")  # alpha is still 32, but 2 x 8 is 16
    assert state.note("lora_alpha") == "re-planning after your edit…"
    state.replan()
    assert state.config.lora_alpha == 16 and state.note("lora_alpha").startswith("16: 2 x rank")


def test_gradient_accumulation_follows_the_batch_and_the_target():
    state = planned_state()
    state.edit("per_device_train_batch_size", "4")
    assert state.note("gradient_accumulation_steps") == "re-planning after your edit…"
    state.replan()
    assert state.note("gradient_accumulation_steps").startswith("4: 4 x 4 = 16 samples"), \
        state.note("gradient_accumulation_steps")
    state.edit("target_effective_batch", "32")
    assert "= 16 samples" not in state.note("gradient_accumulation_steps")
    state.replan()
    assert state.note("gradient_accumulation_steps").startswith("8: 4 x 8 = 32 samples"), \
        state.note("gradient_accumulation_steps")
    state.edit("gradient_accumulation_steps", "2")
    state.replan()
    assert state.note("gradient_accumulation_steps") == "set by you; planner would pick 8"


def test_the_cutoff_note_follows_the_data_statistics():
    state = planned_state()
    assert state.note("cutoff_len").startswith("2048: default")
    state.set_data(_stats(300))
    assert state.note("cutoff_len") == "re-planning after your edit…"  # the plan is for no statistics
    state.replan()
    assert state.config.cutoff_len == 320 and state.note("cutoff_len") == render(state.plan.reasons["cutoff_len"])
    assert "300" in state.note("cutoff_len"), state.note("cutoff_len")  # the data's p99, not "default"
    state.edit("cutoff_len", "1024")
    state.replan()
    note = state.note("cutoff_len")
    assert note.startswith("set by you; planner would pick 320"), note
    assert "fit" in note


def test_an_invalid_field_holds_the_notes_until_the_config_is_valid():
    state = planned_state()
    state.edit("lora_rank", "8")
    state.edit("learning_rate", "fast")
    state.replan()  # refused: the config does not validate
    assert state.note("lora_alpha") == "re-planned once every field is valid"
    state.edit("learning_rate", "1e-4")
    state.replan()
    assert state.note("lora_alpha").startswith("16: 2 x rank")


async def test_the_form_and_the_help_show_the_notes_of_the_config_as_it_is(catalog_config, settle):
    """Item 6 in the screen: a typed batch, then rank 16 with alpha 32: every row's note and the help panel say
    what holds for the values on screen, right after each edit and after the re-plan."""
    import asyncio

    from ft_tui.tui.widgets.help_panel import FieldHelp

    def note(key: str) -> str:
        return str(app.screen.query_one(f"#row-{key}").query_one(".field-note").render())

    async def type_into(key: str, text: str) -> None:
        await app.screen.focus_field(key).wait()
        await pilot.pause()
        await pilot.press("end", "ctrl+u", *text)
        await pilot.pause()

    async def replanned() -> None:
        await asyncio.sleep(0.6)  # the re-plan waits for a pause in the typing
        await settle(pilot)

    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        state = app.setup_state
        await app.screen.focus_field("lora_rank").wait()
        await settle(pilot)
        batch = state.config.per_device_train_batch_size
        await type_into("per_device_train_batch_size", str(batch + 2))
        planner_line = app.screen.query_one(FieldHelp).shown_text.splitlines()[1]  # the rest is the static help
        for shown in (note("per_device_train_batch_size"), planner_line):
            assert "set by you" in shown and "largest power of two" not in shown, shown
        assert note("gradient_accumulation_steps") in ("re-planning after your edit…", state.note(
            "gradient_accumulation_steps"))
        await replanned()
        assert f"planner would pick {batch}" in note("per_device_train_batch_size")
        ga = state.config.gradient_accumulation_steps
        assert note("gradient_accumulation_steps").startswith(f"{ga}: {batch + 2} x {ga} =")
        await type_into("lora_alpha", "32")
        await replanned()
        assert "planner would pick 16" in note("lora_alpha")
        await type_into("lora_rank", "16")
        assert "planner would pick 16" not in note("lora_alpha")
        await replanned()
        assert note("lora_alpha") == "set by you", note("lora_alpha")
        await app.screen.focus_field("lora_alpha").wait()
        await pilot.pause()
        help_text = app.screen.query_one(FieldHelp).shown_text
        assert "Planner: set by you" in help_text and "would pick 16" not in help_text, help_text
        for row in app.screen.query(FieldRow):  # every note is the state's, for the config as it is now
            assert note(row.key) == (state.note(row.key) if row.key not in state.problems else note(row.key))


# -- item 8: the meaning of null -----------------------------------------------------------------------------------

def test_unset_values_read_as_what_they_mean():
    from ft_tui.planner.messages import Msg

    assert value_words("en", "quantization_bit", "null") == "none (16-bit)"
    assert value_words("zh", "quantization_bit", "null") == "不量化（16 位）"
    assert value_words("en", "template", "null") == "auto"
    detected = Msg("tpl_name", name="llama3", model="meta-llama/Llama-3.1-8B")
    assert value_words("en", "template", "null", template_reason=detected) == "auto (llama3, from the model name)"
    assert value_words("en", "max_samples", "null") == "all rows"
    assert value_words("en", "quantization_bit", "4") == "4"


async def test_the_form_and_its_notes_never_say_null(catalog_config, settle):
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        quant = screen.query_one("#field-quantization_bit", Select)
        assert app.setup_state.display("quantization_bit") == "null"
        assert "none (16-bit)" in str(quant.query_one("SelectCurrent #label").render())
        await screen.focus_field("quantization_bit").wait()
        await pilot.press("enter", "down", "enter")  # 4-bit, which the planner would not pick here
        await settle(pilot)
        await pilot.pause(0.5)  # the re-plan after the edit
        await settle(pilot)
        assert app.setup_state.config.quantization_bit == 4
        note = str(screen.query_one("#row-quantization_bit").query_one(".field-note").render())
        assert "planner would pick none (16-bit)" in note, note
        for row in screen.query(FieldRow):
            for part in (row.query_one(".field-note"), row.query_one(".field-name")):
                assert "null" not in str(part.render()), (row.key, str(part.render()))


def test_every_key_that_may_be_unset_has_its_meaning_in_both_languages():
    """One table (the catalog's ``null_<key>`` codes, read by ``value_words``): a nullable key without its meaning
    would read as the generic "not set"."""
    from ft_tui.planner.config import FIELDS
    from ft_tui.planner.messages import catalog

    nullable = [k for k in KEYS if FIELDS[k].metadata["nullable"]]
    assert "quantization_bit" in nullable and "template" in nullable
    for key in nullable:
        assert f"null_{key}" in catalog(), key
        for lang in ("en", "zh"):
            words = value_words(lang, key, "null")
            assert words and "null" not in words and words != value_words(lang, "no_such_key", "null"), (key, words)


def _select_words(screen, key: str) -> str:
    return str(screen.query_one(f"#field-{key}", Select).query_one("SelectCurrent #label").render())


async def test_the_shown_choice_follows_the_language(catalog_config, settle):
    """The words a Select shows for its current value are redrawn with its options: after F2 they are Chinese
    (they stayed English before). A catalog model has no tokenizer here, so the template is not known yet: "auto"
    (test_setup_demo checks the detected one)."""
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen, state = app.screen, app.setup_state
        assert state.config.template is None and state.template_reason is None
        assert _select_words(screen, "template") == "auto"
        assert _select_words(screen, "quantization_bit") == "none (16-bit)"
        assert _select_words(screen, "rope_scaling") == "none"
        await pilot.press("f2")
        await settle(pilot)
        assert app.lang == "zh"
        assert _select_words(screen, "quantization_bit") == "不量化（16 位）"
        assert _select_words(screen, "rope_scaling") == "不缩放"
        assert _select_words(screen, "template") == "自动"
        await pilot.press("f2")
        await settle(pilot)
        assert _select_words(screen, "quantization_bit") == "none (16-bit)"


async def test_choosing_auto_stores_none_and_saves_as_todays_save_does(tmp_path, settle, lf_example, changed_lines,
                                                                     save_as):
    """The round trip stays exact: the template Select's "auto (…)" is the value None; saved, the file says
    ``template: null`` in place of the name (the key kept where it was), and loads back as None."""
    from ft_tui.planner.config import load_config

    text = lf_example.read_text(encoding="utf-8")
    app = make_app(lf_example, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen, state = app.screen, app.setup_state
        assert state.config.template == "qwen3_nothink"
        await screen.focus_field("template").wait()
        await pilot.press("enter")  # open the list: "auto (…)" is its first entry
        await pilot.pause()
        await pilot.press("home", "enter")
        await settle(pilot)
        assert state.config.template is None and state.is_user_set("template")
        assert _select_words(screen, "template").startswith("auto")
        copy = tmp_path / "auto_template.yaml"
        await save_as(pilot, copy)
        assert changed_lines(text, copy.read_text("utf-8")) == ["-template: qwen3_nothink", "+template: null"]
        assert load_config(copy).template is None


# -- item 9: the palette finds fields by their Chinese names -------------------------------------------------------

async def _palette_enter(pilot, settle, query: str) -> None:
    """Ctrl+P, type ``query`` as keystrokes, Enter on the first hit."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*query)
    await pilot.pause(0.5)
    await pilot.press("enter")
    await settle(pilot)


async def _hits(app, query: str) -> list[str]:
    provider = ScreenCommands(app.screen)
    return [str(hit.text) async for hit in provider.search(query)]


async def test_the_palette_finds_fields_by_their_chinese_names(catalog_config, settle):
    app = make_app(catalog_config, gpu="rtx4090", lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for query, key in (("学习率", "learning_rate"), ("截断", "cutoff_len"), ("截止长度", "cutoff_len"),
                           ("批处理大小", "per_device_train_batch_size"), ("lora_rank", "lora_rank"),
                           ("Learning rate", "learning_rate")):
            hits = await _hits(app, query)
            assert any(f"({key})" in h for h in hits), (query, hits)
        # through the palette itself: a Chinese query, enter, the field has the focus
        await _palette_enter(pilot, settle, "学习率")
        assert app.focused.id == "field-learning_rate"
        # and nothing found is said in Chinese too
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"zzqqxx")
        await pilot.pause(1.0)
        from textual.command import CommandList

        options = app.screen.query_one(CommandList)
        texts = [str(options.get_option_at_index(i).prompt.renderable) for i in range(options.option_count)]
        assert any("没有匹配的命令" in t for t in texts), texts


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_whole_name_ranks_its_field_first_in_either_language(catalog_config, settle, lang):
    """Each name is matched on its own: 学习率 is learning_rate's whole Chinese name and only part of
    lr_scheduler_type's (学习率调度器), so learning_rate comes first (before: a tie, won by the schema order), in
    English mode too; partial Chinese (截断 of 截断长度, 截长 in order) and the key find their field. Names are no
    longer joined into one string, so a query cannot match across two of them."""
    from textual.command import Hit

    app = make_app(catalog_config, gpu="rtx4090", lang=lang)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        provider = ScreenCommands(app.screen)

        async def ranked(query: str) -> list[tuple[float, str]]:
            hits = [hit async for hit in provider.search(query)]
            assert all(isinstance(h, Hit) for h in hits)
            return sorted(((h.score, str(h.text)) for h in hits), key=lambda x: -x[0])

        for query, key, runner_up in (("学习率", "learning_rate", "lr_scheduler_type"),
                                      ("Learning rate", "learning_rate", None),
                                      ("批处理大小", "per_device_train_batch_size", "per_device_eval_batch_size"),
                                      ("截断", "cutoff_len", None), ("截长", "cutoff_len", None),
                                      ("cutoff_len", "cutoff_len", None), ("学习率 ", "learning_rate", None)):
            hits = await ranked(query)
            assert hits and f"({key})" in hits[0][1], (query, hits[:3])
            if runner_up is not None:
                second = next(score for score, text in hits if f"({runner_up})" in text)
                assert hits[0][0] > second, (query, hits[:3])


async def test_the_palette_in_english_finds_a_field_by_its_chinese_name(catalog_config, settle):
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _palette_enter(pilot, settle, "截断")
        assert app.focused.id == "field-cutoff_len"


# -- item 5: re-plan all keys --------------------------------------------------------------------------------------

async def test_shift_f5_re_plans_the_keys_a_loaded_file_set(tmp_path, settle):
    cfg = tmp_path / "too_big.yaml"
    cfg.write_text(f"model_name_or_path: {MODEL}\ndataset: demo_alpaca_en\nper_device_train_batch_size: 8\n"
                   "quantization_bit: 4\ndisable_gradient_checkpointing: true\ncutoff_len: 4096\n", encoding="utf-8")
    app = make_app(cfg, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        state = app.setup_state
        assert state.plan_error and "batch 8 (yours)" in state.plan_error
        from ft_tui.tui.widgets.plan_panel import PlanPanel

        assert "shift+F5 re-plans every planned field" in app.screen.query_one(PlanPanel).shown_text
        await pilot.press("f5")  # around the user's keys: still nothing fits
        await settle(pilot)
        assert state.plan_error and state.is_user_set("per_device_train_batch_size")
        await pilot.press("shift+f5")
        await settle(pilot)
        assert state.plan_error is None and state.fits is True
        assert not state.is_user_set("per_device_train_batch_size") and not state.is_user_set("cutoff_len")
        assert state.is_user_set("dataset")  # the keys the planner does not plan stay the user's
        editor = app.screen.query_one("#field-per_device_train_batch_size")
        assert editor.value == str(state.config.per_device_train_batch_size)


# -- item 7: the help panel from the keyboard ----------------------------------------------------------------------

async def test_the_help_shows_the_planners_reason_first_and_scrolls_from_the_keyboard(catalog_config, settle):
    from ft_tui.tui.widgets.help_panel import FieldHelp

    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.screen.focus_field("per_device_train_batch_size").wait()
        await settle(pilot)
        help_panel = app.screen.query_one(FieldHelp)
        assert help_panel.shown_text.splitlines()[1].startswith("Planner: ")
        assert help_panel.max_scroll_y > 0 and help_panel.scroll_y == 0
        for key, moved in (("shift+pagedown", True), ("ctrl+up", False), ("ctrl+down", True),
                           ("shift+pageup", False)):
            await pilot.press(key)
            await pilot.pause()
            assert (help_panel.scroll_y > 0) is moved, key
            assert app.focused.id == "field-per_device_train_batch_size"  # the field keeps the focus


# -- item 17: Chinese line breaks, the footer at 80 columns ------------------------------------------------------

def test_chinese_wraps_between_characters_not_at_the_spaces_around_latin_words():
    from ft_tui.tui.widgets.wrap import CLOSING, wrap_text
    from rich.text import Text

    text = Text("用 bitsandbytes 以 4 bit 或 8 bit 加载冻结的基础权重，LoRA 适配器仍为 fp32（4-bit + LoRA 即 "
                "QLoRA）。仅适用于 lora。不手动设置时，计划器依次尝试不量化、8 bit、4 bit，选能放下且损失最小的一档。")
    lines = [line.plain for line in wrap_text(text, 40)]
    assert all(cell_len(line) <= 40 for line in lines)
    assert all(cell_len(line) >= 32 for line in lines[:-1]), lines  # no short ragged lines
    assert not any(line[0] in CLOSING for line in lines), lines
    assert "".join(lines).replace(" ", "") == text.plain.replace(" ", "")  # nothing lost
    english = [line.plain for line in wrap_text(Text("The base model to fine-tune: a hub id or a folder."), 20)]
    assert english == ["The base model to", "fine-tune: a hub id", "or a folder."]  # words stay whole


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_the_footer_keeps_f2_and_f4_at_80_columns(catalog_config, settle, lang):
    from textual.widgets import Footer

    app = make_app(catalog_config, gpu="rtx4090", lang=lang)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        keys = {str(k.key): k.region for k in app.screen.query_one(Footer).query("FooterKey")}
        palette = keys.pop("ctrl+p")
        for key in ("f2", "f4", "ctrl+t", "f5", "ctrl+s", "f1", "f3", "ctrl+q"):
            assert key in keys and keys[key].right <= palette.x, (key, keys)
