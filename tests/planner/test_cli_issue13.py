"""Issue #13 (the CLI part): the CLI never contradicts the user. Each test runs the issue's exact command."""

from __future__ import annotations

import json

import pytest
from ft_tui.planner.config import load_config
from ft_tui.tui.cli import main


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # an empty hub cache: the catalog answers


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def seed(tmp_path, capsys, monkeypatch):
    """The seed config `ft-tui plan --model ... -o seed.yaml` writes, in the current folder."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "plan", "--model", "Qwen/Qwen3-0.6B", "--gpu", "rtx4090", "-o", "seed.yaml")
    assert code == 0, err
    return tmp_path / "seed.yaml"


# -- item 12: finetuning_type: pt -------------------------------------------------------------------------------

def test_finetuning_type_pt_says_continued_pretraining_is_stage_pt(capsys, seed):
    code, out, err = run(capsys, "plan", "seed.yaml", "--set", "finetuning_type=pt")
    assert code == 2 and "Traceback" not in err
    assert "finetuning_type" in err and "stage: pt" in err, err
    # the Chinese text says it too
    with pytest.raises(Exception) as info:
        load_config(seed, ["finetuning_type=pt"])
    assert "stage: pt" in info.value.render("zh") and "继续预训练" in info.value.render("zh")


# -- item 11: --set errors name the --set argument ----------------------------------------------------------------

def test_set_error_names_the_set_argument_not_the_file_line(capsys, seed):
    lines = seed.read_text().splitlines()
    lr_line = next(i for i, line in enumerate(lines, 1) if line.startswith("learning_rate:"))
    code, out, err = run(capsys, "plan", "seed.yaml", "--set", "learning_rate=-1")
    assert code == 2
    assert "--set learning_rate=-1: 'learning_rate' must be > 0" in err, err
    assert f"seed.yaml:{lr_line}" not in err and "seed.yaml:" not in err


def test_a_file_error_still_names_the_file_line(capsys, seed):
    seed.write_text(seed.read_text().replace("learning_rate:", "learning_rate: -1\n#", 1))
    code, _, err = run(capsys, "plan", "seed.yaml")
    assert code == 2 and "seed.yaml:" in err and "--set" not in err, err


def test_set_error_in_chinese_names_the_set_argument(seed):
    with pytest.raises(Exception) as info:
        load_config(seed, ["learning_rate=-1", "lora_rank=0"])
    zh = info.value.render("zh")
    assert "--set learning_rate=-1: " in zh and "--set lora_rank=0: " in zh, zh


# -- item 5: 'nothing fits' states the setup computed, suggests only what the user has not chosen; --json -------

def test_nothing_fits_states_the_users_setup_and_suggests_nothing_they_chose(capsys):
    code, out, err = run(capsys, "plan", "--model", "meta-llama/Llama-3.1-70B", "--gpu", "rtx4090",
                         "--set", "per_device_train_batch_size=8", "--set", "quantization_bit=4",
                         "--set", "disable_gradient_checkpointing=true")
    assert code == 3 and out == ""
    assert "with batch 8 (yours), 4-bit quantization (yours), no gradient checkpointing (yours)" in err, err
    assert "batch 1" not in err and "even with gradient checkpointing" not in err
    hints = err.split("What would fit: ")[1]
    assert "4-bit" not in hints and "quantization_bit" not in hints, hints


def test_nothing_fits_hints_do_not_propose_the_4bit_the_user_set(capsys):
    code, _, err = run(capsys, "plan", "--model", "meta-llama/Llama-3.1-70B", "--gpu", "rtx4090",
                       "--set", "quantization_bit=4")
    hints = err.split("What would fit: ")[1]
    assert code == 3 and "with FSDP" in hints and "4-bit" not in hints, hints


def test_nothing_fits_with_defaults_names_the_lean_setup_and_its_hints(capsys):
    code, _, err = run(capsys, "plan", "--model", "meta-llama/Llama-3.1-70B", "--gpu", "rtx4090")
    assert code == 3 and "with batch 1, 4-bit quantization, gradient checkpointing" in err and "(yours)" not in err


def test_plan_json_on_exit_3_prints_one_object_with_the_minimum_and_the_suggestions(capsys):
    code, out, err = run(capsys, "plan", "--model", "meta-llama/Llama-3.1-70B", "--gpu", "rtx4090", "--json",
                         "--set", "per_device_train_batch_size=8")
    assert code == 3
    data = json.loads(out)
    assert data["fits"] is False and data["model"] == "meta-llama/Llama-3.1-70B"
    assert data["minimum_gib"] > data["budget_gib"] == 21.6
    assert data["setup"]["per_device_train_batch_size"] == 8 and data["setup"]["user_keys"] == [
        "per_device_train_batch_size"]
    assert data["suggestions"] and all(isinstance(s, str) for s in data["suggestions"])
    assert data["message"].startswith("nothing fits: ") and "What would fit" in err


# -- item 16: a model folder with only config.json and LLaMA-Factory's example config ---------------------------

QWEN3_LORA_SFT = """\
### model
model_name_or_path: Qwen/Qwen3-4B-Instruct-2507
trust_remote_code: true

### method
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all

### dataset
dataset: identity,alpaca_en_demo
template: qwen3_nothink
cutoff_len: 2048
max_samples: 1000
overwrite_cache: true
preprocessing_num_workers: 16
dataloader_num_workers: 4

### output
output_dir: saves/qwen3-4b/lora/sft
logging_steps: 10
save_steps: 500
plot_loss: true
overwrite_output_dir: true
save_only_model: false
report_to: none  # choices: [none, wandb, tensorboard, swanlab, mlflow]

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
"""
QWEN3_4B_CONFIG = {
    "model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "hidden_size": 2560, "num_hidden_layers": 36,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 9728,
    "vocab_size": 151936, "max_position_embeddings": 262144, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
}


@pytest.fixture
def lf_example(tmp_path, monkeypatch):
    """LLaMA-Factory's examples/train_lora/qwen3_lora_sft.yaml beside a data/ folder like its own (identity and
    alpaca_en_demo registered in dataset_info.json) and a model folder holding only config.json."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples" / "train_lora").mkdir(parents=True)
    (tmp_path / "examples" / "train_lora" / "qwen3_lora_sft.yaml").write_text(QWEN3_LORA_SFT)
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text(json.dumps({"identity": {"file_name": "identity.json"},
                                                        "alpaca_en_demo": {"file_name": "alpaca_en_demo.json"}}))
    (data / "identity.json").write_text(json.dumps(
        [{"instruction": "hi", "input": "", "output": "Hello! I am {{name}}, an AI assistant developed by {{author}}."},
         {"instruction": "Who are you?", "input": "", "output": "I am {{name}}, an AI assistant."}] * 45))
    (data / "alpaca_en_demo.json").write_text(json.dumps(
        [{"instruction": f"Give a fact about {i}.", "input": "", "output": f"{i} is a number."} for i in range(200)]))
    model = tmp_path / "DIR"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(QWEN3_4B_CONFIG))
    return tmp_path


def test_estimate_lf_example_with_a_config_json_only_folder_plans_without_data_statistics(capsys, lf_example):
    # the command, run from the folder that holds examples/ and data/ (as in LLaMA-Factory's checkout)
    code, out, err = run(capsys, "estimate", "examples/train_lora/qwen3_lora_sft.yaml",
                         "--set", f"model_name_or_path={lf_example / 'DIR'}", "--gpu", "rtx4090",
                         "--set", f"dataset_dir={lf_example / 'data'}")
    assert code == 0, err
    assert "rows were dropped" not in err
    assert "has no tokenizer (only config.json), so the data cannot be measured: planned without data statistics" \
        in err, err
    assert "steps are counted from its 290 samples" in err
    assert "peak" in out and "fits" in out


def test_plan_json_lf_example_with_a_config_json_only_folder(capsys, lf_example):
    code, out, err = run(capsys, "plan", "examples/train_lora/qwen3_lora_sft.yaml", "--set",
                         f"model_name_or_path={lf_example / 'DIR'}", "--gpu", "rtx4090", "--json",
                         "--set", f"dataset_dir={lf_example / 'data'}")
    assert code == 0, err
    data = json.loads(out)
    assert data["estimate"]["fits"] is True and any("has no tokenizer" in n for n in data.get("notes", []))


# -- item 10: one set of rules: plan, estimate and train give the same errors and warnings ------------------------

@pytest.mark.parametrize("command", ["plan", "estimate"])
def test_unknown_template_fails_in_plan_and_estimate_as_in_train(capsys, seed, command):
    code, _, err = run(capsys, command, "seed.yaml", "--set", "template=llama4")
    assert code == 2 and "unknown chat template 'llama4'" in err and "Traceback" not in err, err


@pytest.mark.parametrize("command", ["plan", "estimate"])
def test_bf16_on_t4_warns_in_plan_and_estimate(capsys, seed, command):
    config = ["--model", "Qwen/Qwen3-0.6B"] if command == "plan" else ["seed.yaml"]
    code, _, err = run(capsys, command, *config, "--gpu", "t4", "--set", "bf16=true")
    assert code == 0 and "bf16: true, but NVIDIA T4 has no bf16 support" in err, err
