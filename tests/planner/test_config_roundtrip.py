"""Saving a loaded LLaMA-Factory YAML keeps it LLaMA-Factory's file (issue #13, item 3): its keys (also those
ft-tui ignores), comments, order and spellings stay; changed values and keys the user set are written; ft-tui's
own keys only when the user set them."""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml
from ft_tui.planner.config import load_config
from ft_tui.planner.config_roundtrip import ft_tui_only_keys, new_file_text, round_trip_text, save_config_file

LF_EXAMPLE = Path(__file__).parent / "data" / "lf_qwen3_lora_sft.yaml"


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_changing_one_key_changes_one_line():
    original = LF_EXAMPLE.read_text(encoding="utf-8")
    cfg = load_config(LF_EXAMPLE).replace(lora_rank=16, mark_explicit=True)
    saved = round_trip_text(cfg, original, cfg.explicit)
    assert changed_lines(original, saved) == ["-lora_rank: 8", "+lora_rank: 16"]


def test_unchanged_config_saves_the_file_as_it_was():
    original = LF_EXAMPLE.read_text(encoding="utf-8")
    cfg = load_config(LF_EXAMPLE)
    assert round_trip_text(cfg, original, cfg.explicit) == original  # comments, null, 1.0e-4, do_train, ...


def test_a_key_the_user_set_is_added_and_the_planners_choices_are_not():
    original = LF_EXAMPLE.read_text(encoding="utf-8")
    cfg = load_config(LF_EXAMPLE).replace(quantization_bit=4, optim="paged_adamw_8bit", lora_alpha=32)
    # the planner chose optim and lora_alpha (not the user's), the user chose 4-bit
    saved = round_trip_text(cfg, original, set(cfg.explicit) | {"quantization_bit"})
    assert changed_lines(original, saved) == ["+quantization_bit: 4"]
    assert yaml.safe_load(saved)["quantization_bit"] == 4


def test_ft_tui_only_keys_are_written_only_when_the_user_set_them(tmp_path):
    assert {"memory_margin", "target_effective_batch", "use_run_history"} <= ft_tui_only_keys()
    assert not ft_tui_only_keys() & {"lora_rank", "per_device_train_batch_size", "bf16", "learning_rate"}
    cfg = load_config(None, {"model_name_or_path": "Qwen/Qwen2.5-0.5B", "dataset": "demo_alpaca_en"})
    fresh = yaml.safe_load(new_file_text(cfg, cfg.explicit))
    assert not ft_tui_only_keys() & set(fresh) and fresh["lora_rank"] == cfg.lora_rank  # every other key
    mine = cfg.replace(memory_margin=0.2, mark_explicit=True)
    assert yaml.safe_load(new_file_text(mine, mine.explicit))["memory_margin"] == 0.2
    original = LF_EXAMPLE.read_text(encoding="utf-8")
    lf = load_config(LF_EXAMPLE)
    assert "memory_margin" not in round_trip_text(lf, original, lf.explicit)
    lf2 = lf.replace(memory_margin=0.2, mark_explicit=True)
    assert changed_lines(original, round_trip_text(lf2, original, lf2.explicit)) == ["+memory_margin: 0.2"]


def test_save_falls_back_to_a_new_file_when_the_original_is_gone(tmp_path):
    cfg = load_config(None, {"model_name_or_path": "Qwen/Qwen2.5-0.5B"})
    out = save_config_file(cfg, tmp_path / "a" / "b.yaml", user_keys=cfg.explicit, original=tmp_path / "gone.yaml")
    assert yaml.safe_load(out.read_text())["model_name_or_path"] == "Qwen/Qwen2.5-0.5B"
