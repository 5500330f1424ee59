"""Readers survive any state.json (issue #19, item 5): `runs`, `attach` and `resume` never traceback and name the
damaged file; `stop` finds a live worker through its events' start pid when state.json is gone."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ft_tui.planner.errors import InputError
from ft_tui.runner import cli as runner_cli
from ft_tui.runner import control
from ft_tui.runner.events import EventWriter, LogEvent, StartEvent
from ft_tui.runner.rundir import RunDir, process_start_ticks, register_run
from ft_tui.tui.cli import main

DAMAGE = {"list": "[1,2]", "garbage": "\x00\xffnot json", "truncated": '{"status": "runn', "number": "7",
          "no_status": '{"model": "m"}', "status_list": '{"status": [1]}'}


@pytest.fixture(autouse=True)
def _homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


def _damaged(tmp_path: Path, name: str, text: str | None) -> RunDir:
    run = RunDir.create(tmp_path / "runs" / name)
    run.config_path.write_text("max_steps: 10\n")
    run.write_state(status="interrupted", id=run.id, created=time.time())
    register_run(run)
    with EventWriter(run.events_path) as ev:
        ev.emit(LogEvent(step=3, loss=1.5))
    if text is None:
        run.state_path.unlink()
    else:
        run.state_path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return run


@pytest.mark.parametrize("kind", [*DAMAGE, "deleted"])
def test_runs_resume_attach_survive_a_damaged_state_file(tmp_path: Path, kind: str, capsys) -> None:
    good = _damaged(tmp_path, "good", '{"status": "completed", "id": "good"}')
    bad = _damaged(tmp_path, "bad", DAMAGE.get(kind))
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "completed" in out  # one bad run does not break the list of all runs
    assert "bad" in out and str(bad.state_path) in out
    assert main(["runs", "--json"]) == 0
    capsys.readouterr()
    with pytest.raises(InputError) as info:
        runner_cli.cmd_resume(argparse.Namespace(run=str(bad.path), detach=True))
    assert str(bad.state_path) in str(info.value)
    assert main(["attach", "--plain", str(bad.path)]) in (0, 1, 2)
    assert good.status() == "completed"


def test_stop_finds_the_worker_through_its_start_event_when_state_json_is_gone(tmp_path: Path) -> None:
    run = _damaged(tmp_path, "live", None)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(run.path)])
    try:
        with EventWriter(run.events_path) as ev:
            ev.emit(StartEvent(total_steps=10, pid=proc.pid, pid_start=process_start_ticks(proc.pid),
                               host=os.uname().nodename))
        assert run.status() == "running"
        assert control.signal_run(run) == proc.pid
        assert proc.wait(timeout=10) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
