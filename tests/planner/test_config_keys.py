"""LLaMA-Factory and transformers keys: accepted with a warning that says why; real typos stay errors.

Also ``group_by_length``, the schema key transformers 5 spells ``train_sampling_strategy="group_by_length"``.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap

import pytest
import yaml
from ft_tui.planner.config import (
    KEYS,
    ConfigProblems,
    config_from_dict,
    is_key_warning,
    load_config,
)
from ft_tui.planner.lf_keys import LLAMAFACTORY_IGNORED, LLAMAFACTORY_KEYS, hf_training_args, no_effect_reason

# The shape of LLaMA-Factory's examples/train_qlora/llama3_lora_sft_otfq.yaml with its eval block switched on, plus
# transformers TrainingArguments a user adds to such a file.
LLAMAFACTORY_QLORA_EVAL = textwrap.dedent("""\
    ### model
    model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct
    model_revision: main
    low_cpu_mem_usage: true
    trust_remote_code: true

    ### method
    stage: sft
    do_train: true
    finetuning_type: lora
    lora_rank: 8
    lora_target: all
    quantization_bit: 4
    quantization_method: bnb
    double_quantization: true

    ### dataset
    dataset: demo_alpaca_en
    template: llama3
    cutoff_len: 2048
    max_samples: 1000
    overwrite_cache: true
    preprocessing_num_workers: 16
    dataloader_num_workers: 4

    ### output
    output_dir: saves/llama3-8b/lora/sft
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
    tf32: true
    adam_beta2: 0.95
    torch_compile: false
    ddp_timeout: 180000000
    ddp_find_unused_parameters: false
    dataloader_pin_memory: true
    logging_first_step: true
    group_by_length: true
    resume_from_checkpoint: null

    ### eval
    val_size: 0.1
    per_device_eval_batch_size: 1
    eval_strategy: steps
    eval_steps: 500
    load_best_model_at_end: true
    metric_for_best_model: eval_loss
    push_to_hub: false
    hub_model_id: me/llama3-8b-lora
    predict_with_generate: false
    max_new_tokens: 512
""")


def test_every_transformers_training_argument_is_listed_or_a_schema_key():
    """A transformers upgrade that adds a TrainingArguments field fails here until the data file is regenerated."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    names = {f.name for f in dataclasses.fields(transformers.Seq2SeqTrainingArguments)}
    current, _ = hf_training_args()
    missing = sorted(names - current - set(KEYS))
    assert not missing, (f"transformers {transformers.__version__} has TrainingArguments fields that "
                         f"planner/data/hf_training_args.yaml lacks (regenerate it, see its header): {missing}")


def test_data_file_lists_are_sorted_unique_and_disjoint():
    from importlib.resources import files

    data = yaml.safe_load((files("ft_tui.planner") / "data" / "hf_training_args.yaml").read_text(encoding="utf-8"))
    for name in ("fields", "older_fields"):
        names = data[name]
        assert names == sorted(set(names)), f"{name} must be sorted without duplicates"
        assert all(n.isidentifier() for n in names), name
    assert not set(data["fields"]) & set(data["older_fields"])
    # keys LLaMA-Factory users write that transformers defines: spot checks that the file is the real list
    current, older = hf_training_args()
    assert {"tf32", "adam_beta1", "push_to_hub", "predict_with_generate", "deepspeed"} <= current
    assert {"save_safetensors", "group_by_length", "logging_dir"} <= older


def test_realistic_llamafactory_file_loads_with_warnings_only(tmp_path):
    path = tmp_path / "llama3_lora_sft.yaml"
    path.write_text(LLAMAFACTORY_QLORA_EVAL, encoding="utf-8")
    cfg = load_config(path)
    assert cfg.quantization_bit == 4 and cfg.finetuning_type == "lora" and cfg.template == "llama3"
    assert cfg.val_size == pytest.approx(0.1) and cfg.eval_steps == 500 and cfg.per_device_eval_batch_size == 1
    assert cfg.group_by_length is True
    foreign = [k for k in yaml.safe_load(LLAMAFACTORY_QLORA_EVAL) if k not in KEYS]
    # one warning per key ft-tui does not implement, in file order, each naming its key and saying why
    assert len(cfg.warnings) == len(foreign)
    for key, warning in zip(foreign, cfg.warnings, strict=True):
        assert warning.startswith(f"'{key}' has no effect in ft-tui: "), warning
    assert not set(foreign) & cfg.explicit


@pytest.mark.parametrize("key,fragment", [
    ("push_to_hub", "ft-tui export RUN"),
    ("hub_model_id", "ft-tui export RUN"),
    ("load_best_model_at_end", "eval_loss"),
    ("metric_for_best_model", "eval_loss"),
    ("torch_compile", "torch.compile"),
    ("torch_compile_mode", "torch.compile"),
    ("deepspeed", "multi-GPU strategy"),
    ("fsdp", "multi-GPU"),
    ("save_safetensors", "safetensors"),
    ("adafactor", "optim: adafactor"),
    ("vllm_maxlen", "inference"),
    ("image_max_pixels", "image, video and audio"),
    ("pref_beta", "rm, ppo, dpo, kto"),
    ("reward_model", "rm, ppo, dpo, kto"),
    ("export_dir", "ft-tui export RUN"),
    ("temperature", "generation"),
    ("use_galore", "optim"),
    ("new_special_tokens", "vocabulary"),
    ("label_smoothing_factor", "transformers TrainingArguments option"),
    ("adam_beta1", "transformers TrainingArguments option"),
    ("per_gpu_train_batch_size", "older transformers"),
    ("use_llama_pro", "LLaMA-Factory option"),
    ("shift_attn", "LLaMA-Factory option"),
])
def test_warning_says_why(key, fragment):
    cfg = config_from_dict({key: True})
    assert len(cfg.warnings) == 1
    assert cfg.warnings[0].startswith(f"'{key}' has no effect in ft-tui: ") and fragment in cfg.warnings[0]


def test_every_known_foreign_key_is_accepted():
    current, older = hf_training_args()
    for key in sorted((LLAMAFACTORY_KEYS | current | older | set(LLAMAFACTORY_IGNORED)) - set(KEYS)):
        assert no_effect_reason(key) is not None, key
    config_from_dict(dict.fromkeys(sorted((LLAMAFACTORY_KEYS | current | older) - set(KEYS)), 1))


@pytest.mark.parametrize("typo,match", [
    ("lerning_rate", "learning_rate"),
    ("gradient_acumulation_steps", "gradient_accumulation_steps"),
    ("lora_rnak", "lora_rank"),
    ("group_by_lenght", "group_by_length"),
])
def test_typo_is_still_an_error_with_the_close_match(tmp_path, typo, match):
    path = tmp_path / "cfg.yaml"
    path.write_text(f"model_name_or_path: m\n{typo}: 1\n", encoding="utf-8")
    with pytest.raises(ConfigProblems) as exc:
        load_config(path)
    assert [p.key for p in exc.value.problems] == [typo]
    text = exc.value.render()
    assert f"{path}:2" in text and f"'{typo}' is not a known config key; did you mean '{match}'?" in text


@pytest.mark.parametrize("key", ["hub_modle_id", "export_dirr", "vllm", "booster", "image_max_pixel"])
def test_names_that_only_look_like_a_family_are_errors(key):
    """Families match names from the lists only: a prefix lookalike is not excused."""
    assert no_effect_reason(key) is None
    with pytest.raises(ConfigProblems, match="is not a known config key"):
        config_from_dict({key: 1})


@pytest.mark.parametrize("stage", ["rm", "ppo", "dpo", "kto", "DPO"])
def test_llamafactory_only_stages_are_clear_errors(stage):
    with pytest.raises(ConfigProblems) as exc:
        config_from_dict({"stage": stage})
    (problem,) = exc.value.problems
    assert problem.key == "stage"
    assert problem.message == (f"must be one of sft, pt; got '{stage}' (ft-tui does not run LLaMA-Factory's "
                               "reward-model, PPO, DPO and KTO stages)")


def test_oft_is_a_clear_error_and_other_bad_choices_stay_generic():
    with pytest.raises(ConfigProblems, match="does not support LLaMA-Factory's OFT"):
        config_from_dict({"finetuning_type": "oft"})
    with pytest.raises(ConfigProblems) as exc:
        config_from_dict({"stage": "grpo"})
    assert exc.value.problems[0].message == "must be one of sft, pt; got 'grpo'"


def test_loading_a_llamafactory_file_stays_torch_free(tmp_path):
    path = tmp_path / "lf.yaml"
    path.write_text(LLAMAFACTORY_QLORA_EVAL, encoding="utf-8")
    code = ("import sys; from ft_tui.planner.config import load_config; cfg = load_config(sys.argv[1]); "
            "heavy = [m for m in ('torch', 'transformers', 'textual') if m in sys.modules]; "
            "assert not heavy, heavy; assert len(cfg.warnings) > 20")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"})


# ---------------------------------------------------------------------------------------------- group_by_length

def test_group_by_length_is_a_training_bool_defaulting_off():
    from ft_tui.planner.config import FIELDS

    assert FIELDS["group_by_length"].metadata["section"] == "training"
    assert config_from_dict({}).group_by_length is False
    assert config_from_dict({"group_by_length": "yes"}).group_by_length is True
    with pytest.raises(ConfigProblems, match="true or false"):
        config_from_dict({"group_by_length": "sometimes"})


@pytest.mark.parametrize("values,warned", [
    ({"group_by_length": True, "packing": True}, True),
    ({"group_by_length": True, "stage": "pt"}, True),  # pt packs unless packing: false
    ({"group_by_length": True, "stage": "pt", "packing": False}, False),
    ({"group_by_length": True}, False),
    ({"packing": True}, False),
])
def test_group_by_length_with_packing_is_a_warning_not_an_error(values, warned):
    cfg = config_from_dict(values)
    expected = ["'group_by_length' has no effect while packing is on: packed rows all have the same length "
                "(cutoff_len)"]
    assert list(cfg.warnings) == (expected if warned else [])


def test_group_by_length_warning_follows_edits():
    cfg = config_from_dict({"group_by_length": True, "do_train": True})
    assert [is_key_warning(w) for w in cfg.warnings] == [True]
    packed = config_from_dict({**cfg.to_dict(), "packing": True})
    assert [is_key_warning(w) for w in packed.warnings] == [False]
    assert not is_key_warning("a plain text warning")
