"""`ft-tui plan` and `ft-tui estimate` through the real CLI entry point (offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from ft_tui.planner.config import load_config
from ft_tui.tui.cli import main

LLAMA3 = "meta-llama/Meta-Llama-3-8B-Instruct"


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # an empty hub cache: the catalog answers


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_human_output_shows_recommendation_breakdown_time_and_reasons(capsys):
    code, out, err = run(capsys, "plan", "--model", LLAMA3, "--gpu", "rtx4090")
    assert code == 0, err
    for text in ("per_device_train_batch_size", "quantization_bit", "gradient_accumulation_steps", "lora_rank",
                 "weights", "activations", "logits", "budget", "fits", "Time:", "█", "reason"):
        assert text in out, text


def test_plan_json_is_one_object_with_design_keys(capsys):
    code, out, err = run(capsys, "plan", "--model", LLAMA3, "--gpu", "rtx4090", "--json")
    assert code == 0, err
    data = json.loads(out)  # exactly one JSON document on stdout
    assert {"config", "estimate", "reasons", "hardware", "time"} <= set(data)
    est = data["estimate"]
    for key in ("peak_gib", "breakdown_gib", "total_params", "trainable_params", "budget_gib", "fits"):
        assert key in est
    assert set(est["breakdown_gib"]) == {"weights", "optimizer", "gradients", "activations", "logits",
                                         "cuda_context", "overhead"}
    assert est["fits"] is True and data["config"]["model_name_or_path"] == LLAMA3
    assert data["hardware"]["source"] == "profile"


def test_plan_t4_picks_quantization_and_fp16(capsys):
    code, out, _ = run(capsys, "plan", "--model", LLAMA3, "--gpu", "t4", "--json")
    cfg = json.loads(out)["config"]
    assert code == 0 and cfg["quantization_bit"] in (4, 8) and cfg["fp16"] and not cfg["bf16"]


def test_plan_70b_on_24gb_exits_3_and_says_what_would_fit(capsys):
    code, out, err = run(capsys, "plan", "--model", "meta-llama/Llama-3.1-70B", "--gpu", "rtx4090", "--json")
    assert code == 3 and json.loads(out)["fits"] is False  # one JSON object on stdout, the message on stderr
    assert "What would fit" in err and "GPU" in err and "smaller model" in err


def test_plan_70b_on_a100_80gb_picks_4bit(capsys):
    code, out, _ = run(capsys, "plan", "--model", "meta-llama/Llama-3.1-70B", "--gpu", "a100-80gb", "--json")
    assert code == 0 and json.loads(out)["config"]["quantization_bit"] == 4


def test_plan_small_full_finetune_on_h100(capsys):
    code, out, _ = run(capsys, "plan", "--model", "Qwen/Qwen2.5-0.5B", "--gpu", "h100-80gb", "--set",
                       "finetuning_type=full", "--json")
    cfg = json.loads(out)["config"]
    assert code == 0 and cfg["quantization_bit"] is None and cfg["bf16"] is True


def test_plan_writes_recommended_config_and_keeps_user_keys(capsys, tmp_path):
    src = tmp_path / "in.yaml"
    src.write_text(f"model_name_or_path: {LLAMA3}\nlora_rank: 32\n")
    out_path = tmp_path / "out.yaml"
    code, out, err = run(capsys, "plan", str(src), "--gpu", "a100-80gb", "-o", str(out_path))
    assert code == 0, err
    cfg = load_config(out_path)
    assert cfg.lora_rank == 32 and cfg.lora_alpha == 64 and cfg.bf16
    assert "lora_rank *" in out  # marked as the user's


def test_plan_dataset_without_local_tokenizer_counts_rows_and_goes_on(capsys):
    code, out, err = run(capsys, "plan", "--model", LLAMA3, "--dataset", "demo_alpaca_en", "--gpu", "rtx4090",
                         "--json")
    assert code == 0 and "tokenizer" in err and "400 samples" in err
    plan = json.loads(out)
    cfg = plan["config"]
    steps = -(-400 * 3 // (cfg["per_device_train_batch_size"] * cfg["gradient_accumulation_steps"]))
    assert plan["time"]["steps"] == steps


def test_plan_unknown_dataset_exits_2_listing_the_known_ones(capsys):
    code, out, err = run(capsys, "plan", "--model", LLAMA3, "--dataset", "alpaca_en_demo", "--gpu", "rtx4090")
    assert code == 2 and out == "" and "alpaca_en_demo" in err and "demo_alpaca_en" in err


@pytest.mark.parametrize(("argv", "needle"), [
    (["--set", "no_such_key=1"], "no_such_key"),
    (["--set", "lora_rank=0"], "lora_rank"),
    (["--set", "finetuning_type=full", "--set", "quantization_bit=4"], "quantization_bit"),
    (["--set", "lora_target=nonexistent_proj"], "lora_target"),
    (["--gpu", "nosuchgpu9000"], "--gpu"),
])
def test_plan_bad_input_exits_2_naming_the_key(capsys, argv, needle):
    code, out, err = run(capsys, "plan", "--model", LLAMA3, *argv)
    assert code == 2 and out == ""
    assert needle in err and "Traceback" not in err


def test_plan_unknown_model_offline_says_to_give_a_local_path(capsys):
    code, _, err = run(capsys, "plan", "--model", "someone/not-a-real-model-7b", "--gpu", "rtx4090")
    assert code == 2 and "not-a-real-model" in err and "local" in err


def test_plan_unreadable_config_json_exits_2_naming_the_file(capsys, tmp_path):
    bad = tmp_path / "broken-model"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    code, _, err = run(capsys, "plan", "--model", str(bad), "--gpu", "rtx4090")
    assert code == 2 and "config.json" in err


def test_plan_missing_config_file_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "plan", str(tmp_path / "nope.yaml"), "--gpu", "rtx4090")
    assert code == 2 and "nope.yaml" in err


def test_plan_without_model_exits_2(capsys):
    code, _, err = run(capsys, "plan", "--gpu", "rtx4090")
    assert code == 2 and "model_name_or_path" in err


def _write(tmp_path, name, body):
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def test_estimate_json_lines_use_config_values_as_given(capsys, tmp_path):
    a = _write(tmp_path, "a.yaml", f"""\
        model_name_or_path: {LLAMA3}
        quantization_bit: 4
        per_device_train_batch_size: 64
        bf16: true
        """)
    b = _write(tmp_path, "b.yaml", "model_name_or_path: Qwen/Qwen2.5-0.5B\nfinetuning_type: full\nbf16: true\n")
    code, out, err = run(capsys, "estimate", str(a), str(b), "--gpu", "rtx4090", "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [line["config"] for line in lines] == [str(a), str(b)]
    first = lines[0]
    assert first["assumptions"]["batch"] == 64  # no re-planning
    assert first["fits"] is False and first["budget_gib"] == pytest.approx(24564 / 1024 * 0.9, abs=0.01)
    for key in ("peak_gib", "breakdown_gib", "total_params", "trainable_params"):
        assert key in first
    assert lines[1]["trainable_params"] == lines[1]["total_params"]


def test_estimate_human_output(capsys, tmp_path):
    a = _write(tmp_path, "a.yaml", f"model_name_or_path: {LLAMA3}\nbf16: true\n")
    code, out, _ = run(capsys, "estimate", str(a), "--gpu", "a100-80gb")
    assert code == 0 and "peak" in out and "fits" in out and "Time:" in out


def test_estimate_without_torch_under_half_a_second(tmp_path):
    cfg = _write(tmp_path, "c.yaml", "model_name_or_path: meta-llama/Llama-3.1-8B\nquantization_bit: 4\n")
    code = textwrap.dedent(f"""\
        import contextlib, io, json, sys, time
        from ft_tui.tui.cli import main
        main(["estimate", {str(cfg)!r}, "--gpu", "rtx4090", "--json"])  # warm imports once
        times = []
        for _ in range(3):
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                rc = main(["estimate", {str(cfg)!r}, "--gpu", "rtx4090", "--json"])
            times.append(time.perf_counter() - t)
        print(json.dumps({{"rc": rc, "best": min(times), "torch": "torch" in sys.modules,
                          "transformers": "transformers" in sys.modules}}))
        """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0
    assert not result["torch"] and not result["transformers"]
    assert result["best"] < 0.5


def test_plan_with_local_model_and_dataset_sizes_cutoff_from_the_data(capsys, tmp_path):
    """A local model folder (tokenizer on disk) + a dataset: statistics size cutoff_len and give a step count."""
    from ft_tui.runner.demo_kit import build_demo_kit, demo_dataset_dir

    kit = build_demo_kit("tiny", cache_dir=tmp_path / "kit")
    code, out, err = run(capsys, "plan", "--model", str(kit.model_dir), "--dataset", "demo_alpaca_en", "--set",
                         f"dataset_dir={demo_dataset_dir()}", "--gpu", "rtx4090", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert "p99" in data["reasons"]["cutoff_len"]
    assert data["config"]["cutoff_len"] % 64 == 0 and data["config"]["cutoff_len"] < 2048
    assert data["time"]["steps"] > 0 and "statistics" in data["time"]["note"]
