"""OOM back-off: the rules (unit) and an injected OOM mid-run (FT_TUI_INJECT_OOM_AT_STEP) on the tiny model."""

from __future__ import annotations

import pytest
import yaml
from ft_tui.planner.config import config_from_dict
from ft_tui.runner.backoff import LAUNCHED_CONFIG, OutOfMemoryGiveUp, backoff_config


def _cfg(**kw):
    return config_from_dict({"model_name_or_path": "m", **kw})


def test_halves_the_batch_and_keeps_the_effective_batch():
    new, change = backoff_config(_cfg(per_device_train_batch_size=8, gradient_accumulation_steps=2))
    assert (new.per_device_train_batch_size, new.gradient_accumulation_steps) == (4, 4)
    assert change == {"old": {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 2},
                      "new": {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 4}}
    odd, _ = backoff_config(_cfg(per_device_train_batch_size=3, gradient_accumulation_steps=4))
    assert odd.per_device_train_batch_size == 1 and odd.gradient_accumulation_steps == 12


def test_batch_one_turns_gradient_checkpointing_on_then_gives_up_with_advice():
    cfg = _cfg(per_device_train_batch_size=1, disable_gradient_checkpointing=True, cutoff_len=4096)
    new, change = backoff_config(cfg)
    assert new.gradient_checkpointing and change["new"] == {"disable_gradient_checkpointing": False}
    with pytest.raises(OutOfMemoryGiveUp) as err:
        backoff_config(new)
    msg = str(err.value)
    assert "quantization_bit: 4" in msg and "cutoff_len: 2048" in msg


def test_injected_oom_backs_off_and_the_run_completes(new_run, rt):
    run = new_run(max_steps=6, save_steps=2, per_device_train_batch_size=2, gradient_accumulation_steps=1)
    assert rt.run_worker(run, env={"FT_TUI_INJECT_OOM_AT_STEP": "5"}) == 0
    events = run.events()
    backoffs = [e for e in events if e["type"] == "backoff"]
    assert len(backoffs) == 1
    b = backoffs[0]
    assert b["old"] == {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 1}
    assert b["new"] == {"per_device_train_batch_size": 1, "gradient_accumulation_steps": 2}
    assert b["step"] == 4 and b["restart_from"] == 4 and "out of memory" in b["reason"].lower()
    # the run restarted from checkpoint-4 and finished at max_steps
    after = events[events.index(b):]
    assert [e["step"] for e in after if e["type"] == "log"] == [5, 6]
    assert [e["type"] for e in events].count("start") == 1
    assert events[-1]["type"] == "end" and events[-1]["status"] == "completed" and events[-1]["step"] == 6
    # config.yaml holds the new values, the launched one is kept; the injection is recorded (not re-injected)
    now = yaml.safe_load(run.config_path.read_text())
    assert now["per_device_train_batch_size"] == 1 and now["gradient_accumulation_steps"] == 2
    launched = yaml.safe_load((run.path / LAUNCHED_CONFIG).read_text())
    assert launched["per_device_train_batch_size"] == 2
    assert run.read_state()["oom_injected"] == 5 and run.read_state()["status"] == "completed"


def test_multiprocess_oom_message_names_the_ranks_and_the_values_to_set(tmp_path):
    from ft_tui.runner.backoff import multiprocess_oom_advice, oom_summary
    from ft_tui.runner.rundir import RunDir

    run = RunDir(tmp_path)
    run.write_oom_record(1, step=7, message="CUDA out of memory. Tried to allocate 2.00 GiB")
    run.write_oom_record(0, step=7, message="CUDA out of memory. Tried to allocate 1.00 GiB")
    records = run.oom_records()
    assert [r["rank"] for r in records] == [0, 1]
    assert oom_summary(records).startswith("out of memory on ranks 0, 1 after step 7 (CUDA out of memory.")
    msg = multiprocess_oom_advice(_cfg(per_device_train_batch_size=4, gradient_accumulation_steps=2), records, run)
    assert "per_device_train_batch_size: 2, gradient_accumulation_steps: 4" in msg and "--resume" in msg
    last = multiprocess_oom_advice(_cfg(per_device_train_batch_size=1, disable_gradient_checkpointing=False),
                                   records, run)
    assert "even at per_device_train_batch_size 1" in last
    run.clear_oom_records()
    assert run.oom_records() == []


def test_oom_while_loading_the_model_fails_at_once_with_what_to_change(new_run, rt, monkeypatch):
    """The weights themselves do not fit: no batch back-off (it cannot help), a failed run that says what to do."""
    import torch
    from ft_tui.runner import modeling

    def no_room(cfg, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(modeling, "build_model", no_room)
    run = new_run(max_steps=6, per_device_train_batch_size=2)
    assert rt.run_worker(run) == 1
    events = run.events()
    assert "backoff" not in [e["type"] for e in events] and not run.oom_records()
    end = events[-1]
    assert end["type"] == "end" and end["status"] == "failed"
    message = next(e["message"] for e in events if e["type"] == "error")
    assert "Tried to allocate 20.00 GiB" in message and "while loading the model" in message
    assert "quantization_bit: 4" in message and "ft-tui gpus" in message
    assert yaml.safe_load(run.config_path.read_text())["per_device_train_batch_size"] == 2  # config untouched
