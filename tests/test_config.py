"""The config schema: LLaMA-Factory keys, validation messages, overrides, explicit keys, redaction."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from ft_tui.planner.config import (
    KEYS,
    ConfigProblems,
    config_from_dict,
    dump_config,
    load_config,
    parse_overrides,
    redact,
)
from ft_tui.planner.errors import ConfigError

LLAMAFACTORY_QLORA = textwrap.dedent("""\
    ### model
    model_name_or_path: Qwen/Qwen3-4B-Instruct-2507
    trust_remote_code: true

    ### method
    stage: sft
    do_train: true
    finetuning_type: lora
    lora_rank: 8
    lora_target: all
    quantization_bit: 4
    quantization_method: bnb

    ### dataset
    dataset: identity,alpaca_en_demo
    template: qwen3_nothink
    cutoff_len: 2048
    max_samples: 1000
    preprocessing_num_workers: 16
    dataloader_num_workers: 4

    ### output
    output_dir: saves/qwen3-4b/lora/sft
    logging_steps: 10
    save_steps: 500
    plot_loss: true
    overwrite_output_dir: true
    save_only_model: false
    report_to: none

    ### train
    per_device_train_batch_size: 1
    gradient_accumulation_steps: 8
    learning_rate: 1.0e-4
    num_train_epochs: 3.0
    lr_scheduler_type: cosine
    warmup_ratio: 0.1
    bf16: true
    ddp_timeout: 180000000
    resume_from_checkpoint: null
""")


def write(tmp_path, text, name="cfg.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_llamafactory_example_loads_with_warnings(tmp_path):
    cfg = load_config(write(tmp_path, LLAMAFACTORY_QLORA))
    assert cfg.model_name_or_path == "Qwen/Qwen3-4B-Instruct-2507"
    assert cfg.quantization_bit == 4 and cfg.finetuning_type == "lora"
    assert cfg.learning_rate == pytest.approx(1e-4)
    assert cfg.datasets == ["identity", "alpaca_en_demo"]
    assert cfg.effective_batch == 8
    assert cfg.trust_remote_code is True
    warned = " ".join(cfg.warnings)
    for key in ("do_train", "plot_loss", "ddp_timeout", "quantization_method", "resume_from_checkpoint"):
        assert key in warned
    assert "per_device_train_batch_size" in cfg.explicit
    assert "optim" not in cfg.explicit


def test_unknown_key_names_key_and_line_and_suggests(tmp_path):
    p = write(tmp_path, "model_name_or_path: x\nlora_rnak: 16\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = exc.value.render()
    assert "lora_rnak" in msg and "lora_rank" in msg and f"{p}:2" in msg


@pytest.mark.parametrize("key,value,fragment", [
    ("lora_rank", 0, ">= 1"),
    ("learning_rate", 0, "> 0"),
    ("quantization_bit", 3, "one of"),
    ("bf16", "maybe", "true or false"),
    ("cutoff_len", "long", "whole number"),
    ("finetuning_type", "qlora", "one of"),
])
def test_bad_values_are_named(key, value, fragment):
    with pytest.raises(ConfigProblems) as exc:
        config_from_dict({"model_name_or_path": "m", key: value})
    assert exc.value.problems[0].key == key
    assert fragment in exc.value.render()


def test_impossible_combinations():
    with pytest.raises(ConfigProblems, match="only with finetuning_type: lora"):
        config_from_dict({"finetuning_type": "full", "quantization_bit": 4})
    with pytest.raises(ConfigProblems, match="cannot both be true"):
        config_from_dict({"bf16": True, "fp16": True})
    with pytest.raises(ConfigProblems, match="nothing is trained"):
        config_from_dict({"num_train_epochs": 0})


def test_all_problems_reported_together():
    with pytest.raises(ConfigProblems) as exc:
        config_from_dict({"lora_rank": -1, "bogus": 1, "optim": "adam"})
    assert {p.key for p in exc.value.problems} == {"lora_rank", "bogus", "optim"}


def test_yaml_syntax_error_names_line(tmp_path):
    p = write(tmp_path, "model_name_or_path: x\nlora_rank: [1, 2\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert str(p) in exc.value.render() and "valid YAML" in exc.value.render()


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/cfg.yaml")


def test_overrides_and_aliases(tmp_path):
    cfg = load_config(write(tmp_path, "model_name_or_path: m\ndev_size: 0.1\n"),
                      ["lora_rank=16", "learning_rate=1e-4", "quantization_bit=null", "bf16=true"])
    assert cfg.lora_rank == 16 and cfg.learning_rate == pytest.approx(1e-4)
    assert cfg.val_size == pytest.approx(0.1) and cfg.bf16 is True
    assert {"lora_rank", "learning_rate", "val_size", "bf16"} <= cfg.explicit
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["lora_rank"])


def test_relative_paths_resolve_against_config_file(tmp_path, monkeypatch):
    sub = tmp_path / "proj"
    sub.mkdir()
    cfg = load_config(write(sub, "model_name_or_path: m\ndataset_dir: data\n"))
    monkeypatch.chdir(tmp_path)
    assert cfg.resolve_path(cfg.dataset_dir) == (sub / "data").resolve()


def test_replace_revalidates_and_marks_explicit():
    cfg = config_from_dict({"model_name_or_path": "m"})
    new = cfg.replace(lora_rank=32, mark_explicit=True)
    assert new.lora_rank == 32 and "lora_rank" in new.explicit
    with pytest.raises(ConfigProblems):
        cfg.replace(lora_rank=0)


def test_dump_roundtrip_and_redaction():
    cfg = config_from_dict({"model_name_or_path": "m", "lora_rank": 4})
    data = yaml.safe_load(dump_config(cfg))
    assert list(data) == list(KEYS)
    assert config_from_dict(data).to_dict() == cfg.to_dict()
    assert redact({"hf_hub_token": "hf_abc", "lora_rank": 4}) == {"hf_hub_token": "<redacted>", "lora_rank": 4}


def test_derived_values():
    cfg = config_from_dict({"lora_rank": 8, "stage": "pt", "lora_target": "q_proj, v_proj"})
    assert cfg.effective_lora_alpha == 16
    assert cfg.effective_packing is True
    assert cfg.lora_targets == ["q_proj", "v_proj"]
