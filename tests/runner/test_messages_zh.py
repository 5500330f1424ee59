"""In Chinese mode the runner's errors and event messages are Chinese: no English word is left once names and
values are taken out. Every message of the runner's catalog with stand-in values, and a sample of real errors
raised by the control library, the run directory, export, the demo kit and the OOM back-off, the way the TUI
gets them (through an event's code and values)."""

from __future__ import annotations

import json
import re
import string
import time
from pathlib import Path

import pytest
from ft_tui.planner.catalogs.runner import CATALOG
from ft_tui.planner.config import config_from_dict
from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg, event_message, render
from ft_tui.runner import control
from ft_tui.runner.backoff import OutOfMemoryGiveUp, backoff_config, load_oom_advice, oom_summary
from ft_tui.runner.events import EndEvent, EventWriter, read_events
from ft_tui.runner.rundir import RunDir, find_run

#: English words that never appear in a Chinese message once names, values, paths and code spans are out.
ENGLISH = re.compile(r"\b(the|a|an|is|are|not|no|in|on|of|and|or|to|with|has|have|must|cannot|can|does|run|runs|"
                     r"model|folder|file|found|set|use|give|check|try|while|after|before|memory|out|stopped|"
                     r"checkpoint|step|resume|export|still|complete|status|error|failed|loading|starting)\b")


def prose(text: str) -> str:
    """Chinese text without what stays as it is: code spans, quoted names, key names, paths, config snippets."""
    text = re.sub(r"ft-tui [\w-]+|`[^`]*`|'[^']*'|\"[^\"]*\"|(?:/[\w.\-<>]+)+|\w+_\w+(?:_\w+)*|\w+: \w+|--[\w-]+|\w+\.\w+", " ", text)
    return text


def stand_in(template: str) -> dict[str, str]:
    """Values for every placeholder: upper-case names that no English word check can match."""
    return {name: f"V{i}" for i, (_, name, _, _) in enumerate(string.Formatter().parse(template)) if name}


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_runner_message_is_chinese_in_chinese(code):
    message = Msg(code, **stand_in(CATALOG[code]["en"]))
    zh = render(message, "zh")
    assert zh != str(message), code
    assert not ENGLISH.search(prose(zh)), (code, zh)


def _zh_via_event(tmp_path: Path, message) -> str:
    """``message`` written into an event by the runner and read back as the TUI reads it, in Chinese."""
    path = tmp_path / "events.jsonl"
    path.unlink(missing_ok=True)
    with EventWriter(path) as writer:
        writer.emit(EndEvent(status="failed", exit_code=2, message=message))
    (event,), _ = read_events(path)
    assert event["message"] == str(message)  # the English text, as before
    return render(event_message(json.loads(json.dumps(event))), "zh")


def _raised(call) -> InputError:
    with pytest.raises(InputError) as info:
        call()
    return info.value


def test_a_sample_of_real_runner_errors_is_chinese_where_the_tui_shows_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    run = RunDir.create(tmp_path / "runs" / "done")
    run.write_state(status="completed", created=time.time(), id=run.id)
    cfg = config_from_dict({"model_name_or_path": "x", "per_device_train_batch_size": 1,
                            "disable_gradient_checkpointing": False, "finetuning_type": "full"})
    errors = [
        _raised(lambda: control.resume(run)),
        _raised(lambda: find_run("no-such-run-anywhere")),
        _raised(lambda: control.check_model(config_from_dict({"model_name_or_path": str(tmp_path / "nope")}))),
        _raised(lambda: control.check_datasets(config_from_dict({"model_name_or_path": "x"}))),
        _raised(lambda: RunDir.create(tmp_path / "runs" / "done")),
    ]
    with pytest.raises(OutOfMemoryGiveUp) as give_up:
        backoff_config(cfg)
    messages = [e.as_msg() for e in errors] + [
        give_up.value.as_msg(), load_oom_advice(cfg),
        oom_summary([{"rank": 0, "step": 7, "message": "CUDA out of memory. Tried to allocate 2.00 GiB"},
                     {"rank": 1, "step": 7}]),
        Msg("stopped_early", signal="SIGTERM", when=Msg("when_before_first_step"),
            phase=Msg("status_model")),
    ]
    for message in messages:
        english = str(message)
        zh = _zh_via_event(tmp_path, message)
        assert zh != english, english
        left = prose(zh.replace(str(tmp_path), " ").replace("CUDA out of memory. Tried to allocate 2.00 GiB", " "))
        assert not ENGLISH.search(left), (english, zh)
