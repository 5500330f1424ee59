"""The fault matrix: the real trainer is killed (SIGKILL) at each phase of a run, then resumed once.

Phases: start-up, imports, the model load, mid-step, in the middle of a checkpoint's save, the instant the
rotation (``save_total_limit: 1``) starts deleting the old checkpoint, part-way through that delete, and during the
final save (and the instant the old checkpoint's files are all gone). The file-system moments are hit exactly by the audit hook in ``faults/sitecustomize.py``; the phases
by watching the run's events. After the resume every case must hold:

- the run ``completed`` at ``max_steps``;
- it resumed from the newest checkpoint that was complete when it was killed: the steps lost are at most the
  steps since that checkpoint;
- the loss history has each step once, and only the lost steps were trained twice.

Slow (two trainer starts per case): not in the default run; ``.ci/run`` runs it as its own step,
``pytest -m fault_matrix``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from ft_tui.runner.events import fold
from ft_tui.runner.rundir import RunDir
from safetensors.torch import load_file

pytestmark = [pytest.mark.fault_matrix, pytest.mark.slow_runner]

MAX_STEPS, SAVE_STEPS = 12, 4


def _phase(name: str) -> Callable[[RunDir], bool]:
    return lambda run: any(e["type"] == "status" and e.get("phase") == name for e in run.events())


def _logged(step: int) -> Callable[[RunDir], bool]:
    return lambda run: any(e["type"] == "log" and e.get("step", 0) >= step for e in run.events())


#: case -> (the fault hook's FT_TUI_FAULT, or None; when the test kills it itself, or None)
CASES: dict[str, tuple[str | None, Callable[[RunDir], bool] | None]] = {
    "start-up": (None, lambda run: True),
    "imports": (None, _phase("imports")),
    "model load": (None, _phase("model")),
    "mid-step": (None, _logged(6)),
    "during a save": ("kill:write=*/checkpoint-8/trainer_state.json", None),
    "rotation starts": ("kill:rmtree", None),
    "rotation half done": ("kill:rmtree-partial", None),
    "rotation deleted": ("kill:rmtree-emptied", None),
    "final save": ("kill:write=*/adapter/adapter_config.json", None),
}


def _kill_at(run: RunDir, rt, fault: str | None, when: Callable[[RunDir], bool] | None, log: Path) -> None:
    env = rt.fault_env(fault, log) if fault else rt.worker_env()
    proc = rt.spawn_worker(run, env=env)
    try:
        if when is not None:
            assert rt.wait_for(lambda: when(run), 180, poll=0.02), run.log_path.read_text()[-3000:]
            os.kill(proc.pid, signal.SIGKILL)
        code = proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert code == -signal.SIGKILL, (code, run.log_path.read_text()[-3000:])
    if fault:
        assert log.exists(), "the fault hook did not fire"


@pytest.mark.parametrize("case", list(CASES))
def test_killed_at_each_phase_resumes_without_losing_work(case: str, isolated: Path, new_run, rt) -> None:
    fault, when = CASES[case]
    run = new_run(max_steps=MAX_STEPS, save_steps=SAVE_STEPS, save_total_limit=1, logging_steps=1)
    _kill_at(run, rt, fault, when, isolated / "fault.log")
    before = run.events()
    complete = [e["step"] for e in before if e["type"] == "checkpoint"]
    last_complete = max(complete, default=0)
    logged = [e["step"] for e in before if e["type"] == "log"]
    assert run.status() == "interrupted"

    _, code = rt.resume_and_wait(run, 240)
    assert code == 0, run.log_path.read_text()[-3000:]
    events = run.events()
    view = fold(events)
    assert view.end and view.end["status"] == "completed" and view.end["step"] == MAX_STEPS
    assert run.status() == "completed"
    resumed_from = view.resumed_from or 0
    assert resumed_from >= last_complete, f"resumed from {resumed_from}, the newest complete was {last_complete}"
    assert resumed_from <= max(logged, default=0)
    again = [e["step"] for e in events[len(before):] if e["type"] == "log"]
    assert again == list(range(resumed_from + 1, MAX_STEPS + 1))  # the resumed attempt: each step once, in order
    assert [s for s, _ in view.train_loss] == list(range(1, MAX_STEPS + 1))  # the history: each step once
    twice = sorted(set(logged) & set(again))
    assert all(last_complete < s <= max(logged) for s in twice)  # only the lost steps were trained again
    assert [s for s, _ in run.checkpoints(complete_only=False)] == [MAX_STEPS]  # limit 1: no leftovers
    final, last = (load_file(p / "adapter_model.safetensors")
                   for p in (run.path / "adapter", run.path / f"checkpoint-{MAX_STEPS}"))
    assert final.keys() == last.keys() and all(torch.equal(final[k], last[k]) for k in final)  # the trained result
