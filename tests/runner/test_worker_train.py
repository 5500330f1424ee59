"""The trainer process in-process on the tiny model: events, state, checkpoints, final adapter, errors, resume."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat

from ft_tui.runner.rundir import COMPLETE_MARKER, is_complete_checkpoint


def _types(events):
    return [e["type"] for e in events]


def test_lora_run_completes_with_the_full_event_protocol(new_run, rt):
    run = new_run(max_steps=6, save_steps=2, learning_rate=2e-2, val_size=8, eval_steps=3)
    assert rt.run_worker(run) == 0

    events = run.events()
    types = _types(events)
    assert types.count("start") == 1 and types.count("end") == 1 and types[-1] == "end"
    start = next(e for e in events if e["type"] == "start")
    assert start["total_steps"] == 6 and start["hardware"] == "cpu" and start["world_size"] == 1
    assert start["config_digest"] == hashlib.sha256(run.config_path.read_bytes()).hexdigest()
    assert start["model"]["method"] == "lora" and start["model"]["trainable_params"] > 0
    assert start["data"]["rows"] > 0 and start["template"] == "chatml" and "resumed_from" not in start

    logs = [e for e in events if e["type"] == "log"]
    assert [e["step"] for e in logs] == [1, 2, 3, 4, 5, 6]
    for e in logs:
        for key in ("epoch", "loss", "lr", "grad_norm", "tokens_seen", "tokens_per_s", "elapsed_s", "eta_s"):
            assert key in e, key
    assert all(b["tokens_seen"] > a["tokens_seen"] for a, b in zip(logs, logs[1:], strict=False))
    assert logs[-1]["eta_s"] == 0
    losses = [e["loss"] for e in logs]
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2  # the loss went down

    evals = [e for e in events if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [3, 6] and all(e["eval_loss"] > 0 for e in evals)

    cps = [e for e in events if e["type"] == "checkpoint"]
    assert [e["step"] for e in cps] == [2, 4, 6]
    for e in cps:
        assert is_complete_checkpoint(e["path"])
        assert json.loads((run.path / f"checkpoint-{e['step']}" / COMPLETE_MARKER).read_text())["step"] == e["step"]

    end = events[-1]
    assert end["status"] == "completed" and end["step"] == 6 and end["output"] == str(run.path / "adapter")
    assert "train_loss" in end["metrics"]
    state = run.read_state()
    assert state["status"] == "completed" and state["exit_code"] == 0 and state["total_steps"] == 6
    assert state["pid"] > 0 and state["pid_start"] is not None
    adapter = run.path / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "tokenizer_config.json").is_file()
    assert json.loads((adapter / "ft_tui_template.json").read_text())["template"] == "chatml"
    # files are the user's only (umask 0o077 in the worker)
    mode = stat.S_IMODE((run.path / "checkpoint-2" / "adapter_model.safetensors").stat().st_mode)
    assert mode & 0o077 == 0


def test_bad_dataset_is_an_input_error_exit_2(new_run, rt):
    run = new_run(dataset="no_such_dataset")
    assert rt.run_worker(run) == 2
    events = run.events()
    assert _types(events)[-2:] == ["error", "end"]
    assert "no_such_dataset" in events[-2]["message"] and "traceback_tail" not in events[-2]
    assert events[-1]["status"] == "failed" and events[-1]["exit_code"] == 2
    assert run.read_state()["status"] == "failed" and run.read_state()["exit_code"] == 2


def test_missing_model_is_an_input_error_naming_the_path(new_run, rt, tmp_path):
    run = new_run(model_name_or_path=str(tmp_path / "missing-model"))
    assert rt.run_worker(run) == 2
    err = [e for e in run.events() if e["type"] == "error"][-1]
    assert str(tmp_path / "missing-model") in err["message"]


def test_unexpected_failure_exit_1_with_traceback(new_run, rt, monkeypatch):
    from ft_tui.runner import worker

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(worker, "build_trainer", boom)
    run = new_run()
    assert rt.run_worker(run) == 1
    err = [e for e in run.events() if e["type"] == "error"][-1]
    assert err["message"] == "RuntimeError: disk on fire" and "build_trainer" in err["traceback_tail"]
    assert run.read_state()["status"] == "failed" and run.read_state()["exit_code"] == 1


def test_resume_continues_after_the_last_complete_checkpoint(new_run, rt):
    run = new_run(max_steps=6, save_steps=2)
    assert rt.run_worker(run) == 0
    first_losses = {e["step"]: e["loss"] for e in run.events() if e["type"] == "log"}
    # Make it look like the process died while writing checkpoint-6: no final adapter, checkpoint-6 unmarked.
    shutil.rmtree(run.path / "adapter")
    (run.path / "checkpoint-6" / COMPLETE_MARKER).unlink()
    run.write_state(status="running", exit_code=None)
    assert run.latest_checkpoint() == run.path / "checkpoint-4"

    n_before = len(run.events())
    assert rt.run_worker(run, "--resume") == 0
    new = run.events()[n_before:]
    start = next(e for e in new if e["type"] == "start")
    assert start["resumed_from"] == 4 and start["total_steps"] == 6
    logs = [e for e in new if e["type"] == "log"]
    assert [e["step"] for e in logs] == [5, 6]
    # exact resume: same data order, optimizer and RNG -> the same losses as the uninterrupted run
    for e in logs:
        assert abs(e["loss"] - first_losses[e["step"]]) < 1e-4
    # ETA/throughput count only this process's steps: elapsed starts near zero, not at the original start
    assert logs[0]["elapsed_s"] < 30 and logs[-1]["eta_s"] == 0
    assert new[-1]["type"] == "end" and new[-1]["status"] == "completed" and new[-1]["step"] == 6
    assert (run.path / "adapter" / "adapter_model.safetensors").is_file()
    assert run.read_state()["status"] == "completed"


def test_resume_of_a_completed_run_is_refused_and_changes_nothing(new_run, rt, capsys):
    run = new_run(max_steps=2, save_steps=2)
    assert rt.run_worker(run) == 0
    events, state = run.events(), run.read_state()
    assert rt.run_worker(run, "--resume") == 2
    assert "already completed" in capsys.readouterr().err
    assert run.events() == events and run.read_state() == state


def test_collator_pads_right_masks_labels_and_drops_extra_columns():
    from ft_tui.runner.collate import IGNORE_INDEX, PadCollator

    batch = PadCollator(pad_token_id=0, pad_to_multiple_of=4)([
        {"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "length": 3},
        {"input_ids": [8], "labels": [8], "length": 1},
    ])
    assert set(batch) == {"input_ids", "labels", "attention_mask"}
    assert batch["input_ids"].tolist() == [[5, 6, 7, 0], [8, 0, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 6, 7, IGNORE_INDEX], [8] + [IGNORE_INDEX] * 3]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]


def test_fp16_without_a_gpu_is_a_config_error(new_run, rt):
    import torch

    if torch.cuda.is_available():
        return
    run = new_run(fp16=True)
    assert rt.run_worker(run) == 2
    assert "fp16" in [e for e in run.events() if e["type"] == "error"][-1]["message"]
