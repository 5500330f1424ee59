"""A stand-in for ``python -m ft_tui.runner.worker RUN_DIR [--resume]`` that needs no torch.

It speaks the same protocol as the real trainer (state.json fields, start/log/checkpoint/end/error events,
complete-marked checkpoint-N folders, SIGTERM -> checkpoint then end "stopped", exit 0/1/2), so launcher and CLI
lifecycle tests run in a fraction of a second per step. Behaviour is steered by environment variables:

- ``FAKE_STEP_S``: seconds per optimizer step (default 0.05);
- ``FAKE_FAIL_AT``: raise at this step (exit 1, error + end "failed");
- ``FAKE_BAD_INPUT``: exit 2 at start with this message (as the trainer does for broken data).

Steps, checkpoints and logging follow ``max_steps``, ``save_steps`` and ``logging_steps`` in the run's config.yaml.
Used through ``FT_TUI_WORKER`` (see ``ft_tui.runner.launch.worker_argv``).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import yaml
from ft_tui.runner.checkpoints import mark_complete as mark_checkpoint_complete
from ft_tui.runner.events import CheckpointEvent, EndEvent, ErrorEvent, EventWriter, LogEvent, StartEvent
from ft_tui.runner.rundir import RunDir, process_start_ticks

_stop = {"requested": False}


def _on_term(signum, frame):  # noqa: ARG001 - signal handler signature
    _stop["requested"] = True


def main(argv: list[str]) -> int:
    run = RunDir(Path(argv[0]))
    resume = "--resume" in argv[1:]
    cfg = yaml.safe_load(run.config_path.read_text())
    total = int(cfg.get("max_steps") or 10)
    save_steps = int(cfg.get("save_steps") or 5)
    log_steps = int(cfg.get("logging_steps") or 1)
    step_s = float(os.environ.get("FAKE_STEP_S", "0.05"))
    fail_at = int(os.environ.get("FAKE_FAIL_AT", "0") or 0)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    events = EventWriter(run.events_path)
    state = run.read_state()
    run.write_state(status="running", pid=os.getpid(), pid_start=process_start_ticks(os.getpid()),
                    started=state.get("started") or time.time(), total_steps=total, exit_code=None)
    bad = os.environ.get("FAKE_BAD_INPUT")
    if bad:
        events.emit(ErrorEvent(message=bad))
        events.emit(EndEvent(status="failed", exit_code=2, message=bad))
        run.write_state(status="failed", exit_code=2, ended=time.time(), error=bad)
        return 2
    first = 1
    latest = run.latest_checkpoint() if resume else None
    if latest is not None:
        first = int(latest.name.split("-")[1]) + 1
    events.emit(StartEvent(total_steps=total, hardware="cpu", resumed_from=first - 1 if latest else None))
    t0 = time.time()
    for step in range(first, total + 1):
        time.sleep(step_s)
        if step == fail_at:
            events.emit(ErrorEvent(message=f"fake failure at step {step}"))
            events.emit(EndEvent(status="failed", step=step, exit_code=1, message=f"fake failure at step {step}"))
            run.write_state(status="failed", exit_code=1, ended=time.time(), error="fake failure")
            print(f"Traceback: fake failure at step {step}", file=sys.stderr)
            return 1
        if step % log_steps == 0:
            elapsed = time.time() - t0
            events.emit(LogEvent(step=step, loss=round(3.0 / step, 4), lr=0.001, tokens_per_s=1000.0,
                                 elapsed_s=round(elapsed, 3),
                                 eta_s=round(elapsed / (step - first + 1) * (total - step), 3)))
        if step % save_steps == 0 or _stop["requested"]:
            path = run.path / f"checkpoint-{step}"
            path.mkdir(exist_ok=True)
            (path / "step.txt").write_text(str(step))
            mark_checkpoint_complete(path, step)
            events.emit(CheckpointEvent(step=step, path=str(path)))
        if _stop["requested"]:
            events.emit(EndEvent(status="stopped", step=step, checkpoint=str(run.latest_checkpoint())))
            run.write_state(status="stopped", exit_code=0, ended=time.time(), step=step)
            return 0
    out = run.path / "adapter"
    out.mkdir(exist_ok=True)
    events.emit(EndEvent(status="completed", step=total, total_steps=total, loss=round(3.0 / total, 4),
                         output=str(out)))
    run.write_state(status="completed", exit_code=0, ended=time.time(), step=total, output=str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
