"""The setup screen's headless core (no Textual): edits, validation, plan, estimate, timing."""

from __future__ import annotations

import statistics
import time

import pytest
from ft_tui.planner.config import config_from_dict, load_config
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.messages import render
from ft_tui.planner.models import inspect_model
from ft_tui.planner.params import count_params
from ft_tui.tui.state import (
    SECTIONS,
    SetupState,
    format_value,
    inspect_model_facts,
    load_data_facts,
    section_keys,
)

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def planned_state(gpu: str = "rtx4090", **values) -> SetupState:
    cfg = config_from_dict({"model_name_or_path": MODEL, "dataset": "demo_alpaca_en", **values})
    state = SetupState.from_config(cfg, resolve_hardware(gpu))
    spec = inspect_model(MODEL)
    state.set_spec(spec, count_params(spec), name=MODEL)
    state.replan()
    return state


def test_sections_cover_every_key_once():
    from ft_tui.planner.config import KEYS

    shown = [k for title in SECTIONS for k in section_keys(title)]
    assert sorted(shown) == sorted(KEYS)
    assert list(SECTIONS) == ["Model & Method", "Dataset", "Training", "LoRA"]
    assert "output_dir" in section_keys("Training") and "lora_target" in section_keys("LoRA")


def test_loaded_keys_are_the_users_and_the_plan_fills_the_rest():
    state = planned_state(lora_rank=32)
    assert state.user_keys == {"model_name_or_path", "dataset", "lora_rank"}
    assert state.config.lora_rank == 32 and state.reason("lora_rank") == "set by you"
    # a 7B model in 16-bit fits a 24 GiB card only with batch 1 and checkpointing, per the planner
    assert state.values["per_device_train_batch_size"] == state.plan.config.per_device_train_batch_size
    assert state.reason("quantization_bit") and state.reason("per_device_train_batch_size")
    assert state.fits is True and state.start_blockers() == []


def test_an_edit_re_estimates_and_marks_the_key():
    state = planned_state()
    before = state.estimate.peak_bytes
    assert state.edit("cutoff_len", "4096") == []
    assert state.is_user_set("cutoff_len") and state.config.cutoff_len == 4096
    assert state.estimate.peak_bytes > before
    trainable = state.estimate.trainable_params
    state.edit("lora_rank", "64")
    assert state.estimate.trainable_params > trainable


def test_invalid_text_is_a_problem_and_the_estimate_keeps_the_last_valid_config():
    state = planned_state()
    valid = state.config
    problems = state.edit("learning_rate", "fast")
    assert [p.key for p in problems] == ["learning_rate"]
    assert state.display("learning_rate") == "fast"
    assert state.config is valid
    assert any("learning_rate" in b and "must be a number" in b for b in state.start_blockers())
    state.edit("learning_rate", "2e-4")
    assert state.problems == {} and state.config.learning_rate == pytest.approx(2e-4)


def test_cross_key_rules_are_the_clis():
    state = planned_state()
    state.edit("bf16", "true")
    state.edit("fp16", "true")
    assert "fp16" in state.problems and "cannot both be true" in state.problems["fp16"].message


def test_recommendation_shows_what_the_planner_would_pick_for_a_user_set_key():
    state = planned_state()
    planner_rank = state.config.lora_rank
    state.edit("lora_rank", str(planner_rank * 4))
    state.replan()
    assert state.plan is not None and state.reason("lora_rank") == "set by you"
    assert state.config.lora_rank == planner_rank * 4
    assert state.recommendation("lora_rank") == str(planner_rank)
    assert state.recommendation("dataset") is None  # not a planned key
    state.reset("lora_rank")
    assert not state.is_user_set("lora_rank") and state.config.lora_rank == planner_rank


def test_replan_keeps_user_keys_and_nothing_fits_is_reported():
    state = planned_state(gpu="t4")
    state.edit("finetuning_type", "full")
    state.edit("quantization_bit", "null")
    state.replan()
    assert state.plan is None and state.plan_error and "nothing fits" in state.plan_error
    assert state.config.finetuning_type == "full"
    assert state.fits is False  # the estimate still shows the config as it stands


def test_no_gpu_means_no_budget():
    cfg = config_from_dict({"model_name_or_path": MODEL, "dataset": "d"})
    state = SetupState.from_config(cfg, resolve_hardware("auto", report=_no_gpu_report()))
    spec = inspect_model(MODEL)
    state.set_spec(spec, count_params(spec), name=MODEL)
    state.replan()
    assert state.fits is None and state.time is None and state.estimate.peak_bytes > 0


def _no_gpu_report():
    from ft_tui.planner.gpu_probe import HardwareReport

    return HardwareReport(gpus=[], source="none", message="No GPU found.")


def test_start_needs_a_model_and_a_dataset():
    state = SetupState.from_config(load_config(None), resolve_hardware("rtx4090"))
    blockers = " ".join(state.start_blockers())
    assert "model_name_or_path" in blockers and "dataset" in blockers


def test_plan_dict_describes_the_launched_config():
    state = planned_state()
    state.edit("lora_rank", "4")
    d = state.plan_dict()
    assert d["config"]["lora_rank"] == 4 and d["estimate"]["peak_gib"] > 0 and "lora_rank" in d["user_keys"]
    assert d["hardware"]["profile"] == "rtx4090"


def test_edit_and_re_estimate_take_well_under_50_ms():
    state = planned_state()
    timings = []
    for i in range(40):
        t0 = time.perf_counter()
        state.edit("cutoff_len", str(512 + 64 * i))
        timings.append(time.perf_counter() - t0)
    assert statistics.median(timings) < 0.050


def test_format_value_uses_yaml_spelling():
    assert [format_value(v) for v in (None, True, False, 5e-5, 8)] == ["null", "true", "false", "5e-05", "8"]


def test_worker_functions_inspect_a_catalog_model_and_explain_missing_statistics():
    cfg = config_from_dict({"model_name_or_path": MODEL, "dataset": "demo_alpaca_en"})
    facts = inspect_model_facts(cfg)
    assert facts.name == MODEL and facts.counts.total > 7e9
    data = load_data_facts(cfg, facts.spec)
    # no tokenizer on disk: token lengths are unknown, but the samples are read and counted for the time estimate
    assert data.stats.rows == 400 and not hasattr(data.stats, "p50") and "tokenizer" in data.note
    state = SetupState.from_config(cfg, resolve_hardware("rtx4090"))
    state.set_spec(facts.spec, facts.counts, name=MODEL)
    state.set_data(data.stats, [], data.note)
    state.replan()
    assert state.time_result is not None and state.time_result.steps == -(-400 * 3 // state.config.effective_batch)


def test_plan_panel_lists_probed_gpus_and_the_verdict_in_words():
    from ft_tui.planner.gpu_probe import GpuInfo, HardwareReport
    from ft_tui.tui.widgets.plan_panel import hardware_lines, memory_lines, summary_text

    gib = 1024 ** 3
    gpus = [GpuInfo(index=i, name="NVIDIA GeForce RTX 4090", uuid=None, total_bytes=24 * gib,
                    free_bytes=(20 + i) * gib, used_bytes=None, other_process_bytes=None,
                    compute_capability=(8, 9), bf16=True) for i in range(2)]
    report = HardwareReport(gpus=gpus, source="nvml")
    cfg = config_from_dict({"model_name_or_path": MODEL, "dataset": "demo_alpaca_en"})
    state = SetupState.from_config(cfg, resolve_hardware("auto", report=report), gpus=gpus)
    spec = inspect_model(MODEL)
    state.set_spec(spec, count_params(spec), name=MODEL)
    state.replan()
    text = hardware_lines(state).plain
    assert "GPU 0: 20.0 GiB free of 24.0 GiB" in text and "GPU 1: 21.0 GiB free of 24.0 GiB" in text
    assert state.hardware.budget_base_bytes == 20 * gib  # the smallest free memory sets the budget
    assert "fits" in memory_lines(state).plain and "GiB" in summary_text(state).plain
    state.edit("cutoff_len", "32768")
    assert "DOES NOT FIT" in memory_lines(state).plain and "DOES NOT FIT" in summary_text(state).plain


async def test_dataset_suggestions_complete_the_last_comma_separated_name():
    from ft_tui.tui.widgets.form import CommaSuggester

    s = CommaSuggester(["demo_alpaca_en", "demo_alpaca_zh", "demo_sharegpt"])
    assert await s.get_suggestion("demo_sh") == "demo_sharegpt"
    assert await s.get_suggestion("demo_alpaca_en, demo_s") == "demo_alpaca_en, demo_sharegpt"
    assert await s.get_suggestion("demo_alpaca_en,") is None
    assert await s.get_suggestion("nothing") is None


def test_problems_and_blockers_are_in_the_users_language():
    state = planned_state()
    state.edit("learning_rate", "fast")
    zh = " ".join(state.start_blockers("zh"))
    assert "learning_rate" in zh and "must be a number" not in zh and "配置项" in zh
    assert render(state.problems["learning_rate"].message, "zh") != state.problems["learning_rate"].message
    empty = SetupState.from_config(load_config(None), resolve_hardware("rtx4090"))
    assert all("配置项" in b for b in empty.start_blockers("zh"))
    assert empty.start_blockers() == empty.start_blockers("en")


def test_a_value_warning_follows_the_edits_and_the_files_key_warnings_stay():
    from ft_tui.tui.widgets.plan_panel import status_lines

    cfg = config_from_dict({"model_name_or_path": MODEL, "dataset": "demo_alpaca_en", "plot_loss": True})
    state = SetupState.from_config(cfg, resolve_hardware("rtx4090"))
    spec = inspect_model(MODEL)
    state.set_spec(spec, count_params(spec), name=MODEL)
    state.replan()
    assert any("plot_loss" in w for w in state.config.warnings) and state.value_warnings() == []
    state.edit("packing", "true")
    state.edit("group_by_length", "true")
    assert [w for w in state.value_warnings() if "group_by_length" in w]
    assert any("plot_loss" in w for w in state.config.warnings)  # the file's key warning is kept
    assert "group_by_length" in status_lines(state).plain
    assert "group_by_length" in status_lines(state, "zh").plain and "⚠" in status_lines(state, "zh").plain
    state.edit("packing", "false")
    assert state.value_warnings() == [] and "⚠" not in status_lines(state).plain


# -- issue #13 item 10: the setup state applies the rules plan, estimate and train apply -------------------------

def test_unknown_template_blocks_start_with_the_error_plan_and_train_give():
    cfg = load_config(None, ["model_name_or_path=" + MODEL, "dataset=demo_alpaca_en", "template=llama4"])
    state = SetupState.from_config(cfg, resolve_hardware("rtx4090"))
    (blocker,) = state.start_blockers()
    assert blocker.startswith("--set template=llama4, key 'template': unknown chat template 'llama4'."), blocker
    assert "llama4" in render(state.rule_problem("template").message, "zh")
    assert state.start_blockers("zh")[0] != blocker  # said in Chinese too
    state.edit("template", "qwen")  # a known one: nothing blocks Start any more
    assert state.start_blockers() == [] and state.rule_problem("template") is None


def test_bf16_on_t4_warns_in_the_setup_state_as_in_plan_and_estimate():
    state = planned_state("t4", bf16=True)
    texts = [str(w) for w in state.value_warnings()]
    assert "bf16: true, but NVIDIA T4 has no bf16 support; set bf16: false and fp16: true" in texts, texts
    assert state.start_blockers() == []  # a warning, not an error
    state.edit("bf16", False)
    assert not any("bf16 support" in str(w) for w in state.value_warnings())
