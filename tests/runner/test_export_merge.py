"""export_run: adapter export, LoRA merge (logits equal base+adapter), and a run that has not completed."""

from __future__ import annotations

import json

import pytest
from ft_tui.planner.errors import InputError
from ft_tui.runner.export import export_run


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, demo_kit, rt):
    """One LoRA run trained once for every export test here."""
    run = rt.make_run(tmp_path_factory.mktemp("export"), demo_kit, max_steps=4, save_steps=2, learning_rate=5e-2)
    assert rt.run_worker(run) == 0
    return run


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=ids).logits


def test_export_copies_the_adapter_tokenizer_and_template(trained_run, tmp_path):
    out = export_run(trained_run.path, out=tmp_path / "exp")
    assert out == (tmp_path / "exp").resolve()
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer_config.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "ft_tui_template.json").read_text())["template"] == "chatml"
    # exporting again into the same (earlier export) folder is fine; a foreign non-empty folder is not
    export_run(trained_run.path, out=out)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        export_run(trained_run.path, out=foreign)


def test_merged_model_matches_base_plus_adapter(trained_run, tmp_path, demo_kit):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    notes: list[str] = []
    out = export_run(trained_run.path, merge=True, out=tmp_path / "merged", report=notes.append)
    assert (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file()
    assert not (out / "adapter_config.json").exists()
    meta = json.loads((out / "ft_tui_template.json").read_text())
    assert meta["merged"] is True and meta["dtype"] == "float32"
    assert any("float32" in n for n in notes)  # says that the CPU merge is fp32

    ids = torch.tensor([[5, 17, 42, 99, 7, 300, 12]])
    merged = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32).eval()
    base = AutoModelForCausalLM.from_pretrained(str(demo_kit.model_dir), dtype=torch.float32).eval()
    base_logits = _logits(base, ids)
    with_adapter = PeftModel.from_pretrained(base, str(trained_run.path / "adapter")).eval()
    expected = _logits(with_adapter, ids)
    got = _logits(merged, ids)
    assert torch.allclose(got, expected, atol=1e-4)
    assert not torch.allclose(base_logits, expected, atol=1e-4)  # the adapter does change the model


def test_a_run_without_a_final_adapter_says_resume(trained_run, tmp_path):
    import shutil

    copy = tmp_path / "unfinished"
    shutil.copytree(trained_run.path, copy)
    shutil.rmtree(copy / "adapter")
    with pytest.raises(InputError) as err:
        export_run(copy)
    assert "has not completed" in err.value.render() and "ft-tui resume" in err.value.render()


def test_full_finetune_saves_model_and_exports_it(new_run, rt, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    run = new_run("full", finetuning_type="full", max_steps=2, save_steps=2, learning_rate=1e-3)
    assert rt.run_worker(run) == 0
    assert (run.path / "model" / "model.safetensors").is_file()
    notes: list[str] = []
    out = export_run(run.path, merge=True, out=tmp_path / "full-export", report=notes.append)
    assert any("no adapter to merge" in n for n in notes)
    model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32)
    assert model.config.model_type == "llama" and (out / "ft_tui_template.json").is_file()


def test_default_folders_keep_the_adapter_and_the_merged_model_apart(trained_run):
    adapter_out = export_run(trained_run.path)
    merged_out = export_run(trained_run.path, merge=True, dtype="float32")
    assert adapter_out == trained_run.path / "export" and merged_out == trained_run.path / "merged"
    assert (adapter_out / "adapter_config.json").is_file() and (merged_out / "model.safetensors").is_file()


def test_serve_lines_name_the_engines_and_the_base_model(trained_run, tmp_path, demo_kit):
    import shlex

    from ft_tui.runner.serve import serve_lines

    adapter = export_run(trained_run.path, out=tmp_path / "serve-adapter")
    vllm, pipeline = (str(m) for m in serve_lines(adapter, run_config=trained_run.config_path))
    argv = shlex.split(vllm.split(": ", 1)[1])
    assert argv[:2] == ["vllm", "serve"] and argv[3:5] == ["--enable-lora", "--lora-modules"]
    assert argv[2] == str(demo_kit.model_dir.resolve()) and argv[5] == f"serve-adapter={adapter}"
    assert "--max-lora-rank" not in argv  # the demo's rank is within vLLM's default of 16
    assert "pipeline('text-generation'" in pipeline and repr(str(adapter)) in pipeline
    # the demo tokenizer's own chat template is the chatml the run trained with: no template warning

    merged = export_run(trained_run.path, merge=True, out=tmp_path / "serve-merged")
    vllm, _ = (str(m) for m in serve_lines(merged))
    assert shlex.split(vllm.split(": ", 1)[1]) == ["vllm", "serve", str(merged)]

    # an adapter of rank 64 needs --max-lora-rank; a run trained with alpaca on a chatml tokenizer gets the warning
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**cfg, "r": 64}))
    info = json.loads((adapter / "ft_tui_template.json").read_text())
    (adapter / "ft_tui_template.json").write_text(json.dumps({**info, "template": "alpaca"}))
    lines = serve_lines(adapter, run_config=trained_run.config_path)
    assert shlex.split(str(lines[0]).split(": ", 1)[1])[-2:] == ["--max-lora-rank", "64"]
    assert len(lines) == 3 and lines[2].code == "serve_template_differs" and "alpaca" in str(lines[2])


def test_the_printed_pipeline_line_runs(trained_run, tmp_path):
    """The transformers line ft-tui prints works as printed on the adapter folder (base loaded under the adapter)."""
    import os
    import subprocess
    import sys

    from ft_tui.runner.serve import serve_lines

    adapter = export_run(trained_run.path, out=tmp_path / "pipe")
    pipeline = str(serve_lines(adapter, run_config=trained_run.config_path)[1]).split(": ", 1)[1]
    done = subprocess.run(pipeline, shell=True, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1",  # `python` = the one with transformers
                               "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()  # the reply of the tiny model: some text


def test_a_checkpoint_exports_to_its_own_folder_and_a_missing_one_lists_those_there(trained_run):
    from ft_tui.runner.rundir import RunDir

    steps = [step for step, _ in RunDir(trained_run.path).checkpoints()]
    assert steps and steps[0] < 4
    out = export_run(trained_run.path, checkpoint=steps[0])
    assert out == trained_run.path / f"export-checkpoint-{steps[0]}"
    assert (out / "adapter_model.safetensors").read_bytes() != (
        trained_run.path / "adapter" / "adapter_model.safetensors").read_bytes()  # step N's weights, not the end's
    with pytest.raises(InputError) as err:
        export_run(trained_run.path, checkpoint=3)
    assert err.value.key == "checkpoint" and str(steps[0]) in err.value.render()
    assert "检查点" in err.value.render("zh")


def test_an_export_cut_short_is_written_again_not_refused(trained_run, tmp_path):
    from ft_tui.runner.export import INCOMPLETE

    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / INCOMPLETE).touch()
    (cut / "model-00001-of-00002.safetensors").write_bytes(b"half")
    out = export_run(trained_run.path, out=cut)
    assert (out / "adapter_config.json").is_file() and not (out / INCOMPLETE).exists()


def test_the_export_child_reports_notes_then_its_result_or_why_not(trained_run, tmp_path):
    from ft_tui.runner.childproc import DIED, ERROR, NOTE, RESULT, message_of
    from ft_tui.runner.export_job import ExportChoice, start_export

    child = start_export(trained_run.path, ExportChoice(output=str(tmp_path / "child")))
    records = list(child.records())
    assert [r["type"] for r in records] == [NOTE, RESULT]
    assert message_of(records[0]).code == "export_copied"
    assert records[1]["path"] == str((tmp_path / "child").resolve()) and records[1]["serve"]
    assert child.process.returncode == 0

    bad = list(start_export(trained_run.path, ExportChoice(checkpoint=3)).records())
    assert [r["type"] for r in bad] == [ERROR] and bad[0]["exit"] == 2
    assert message_of(bad[0]).code == "error_layout"  # what, where and how to fix, as the CLI prints it

    killed = start_export(trained_run.path, ExportChoice(merge=True, output=str(tmp_path / "killed")))
    killed.stop(timeout=10)
    last = list(killed.records())[-1]
    assert last["type"] == DIED and last["exit"] != 0 and last["log_path"].endswith("export.log")
