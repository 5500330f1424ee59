"""A torch-free stand-in for a multi-process launch line (``torchrun ... -m ft_tui.runner.worker RUN [--resume]``).

Used as ``python fake_ddp_launcher.py RUN_DIR [--resume]`` under the supervisor. Each run of it is one attempt;
``FAKE_PLAN`` (comma-separated, one entry per attempt; the last one repeats) says what the attempt does:

- ``oom``: after ``FAKE_DELAY_S`` seconds, writes rank ``FAKE_OOM_RANK``'s (default 1) out-of-memory record for
  step ``FAKE_OOM_STEP`` (default 2) as that rank would, and exits 1 without an end event (as torchrun does after
  a rank failed; ``FAKE_OOM_PHASE=load`` makes it an out-of-memory while loading the model, with advice);
- ``crash``: prints a traceback-like line and exits ``FAKE_CRASH_CODE`` (default 3) without an end event;
- ``complete``: as rank 0, writes its pid, a start event and ``end`` ``completed``; exits 0;
- ``stoppable``: after ``FAKE_DELAY_S`` seconds writes its pid as rank 0, then runs until SIGTERM and ends
  ``stopped``; exits 0.

Every attempt appends its argv to ``RUN_DIR/fake-attempts.txt``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from ft_tui.runner.events import EndEvent, EventWriter, StartEvent
from ft_tui.runner.rundir import RunDir, process_start_ticks

_stop = {"requested": False}


def _on_term(signum, frame):  # noqa: ARG001 - signal handler signature
    _stop["requested"] = True


def _attempt(run: RunDir, argv: list[str]) -> int:
    log = run.path / "fake-attempts.txt"
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(" ".join(argv) + "\n")
    return len(log.read_text().splitlines())


def _as_rank0(run: RunDir, events: EventWriter) -> None:
    run.write_state(status="running", pid=os.getpid(), pid_start=process_start_ticks(os.getpid()))
    events.emit(StartEvent(total_steps=4))


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _on_term)
    run = RunDir(Path(argv[0]))
    plan = os.environ.get("FAKE_PLAN", "complete").split(",")
    n = _attempt(run, argv)
    what = plan[min(n, len(plan)) - 1].strip()
    delay = float(os.environ.get("FAKE_DELAY_S", "0"))
    if what == "oom":
        time.sleep(delay)
        rank = int(os.environ.get("FAKE_OOM_RANK", "1"))
        phase = os.environ.get("FAKE_OOM_PHASE", "train")
        run.write_oom_record(rank, step=int(os.environ.get("FAKE_OOM_STEP", "2")),
                             message="CUDA out of memory (fake)", world_size=2, injected=False, phase=phase,
                             advice="try quantization_bit: 4 (fake advice)" if phase == "load" else None)
        print(f"rank {rank}: torch.OutOfMemoryError: CUDA out of memory (fake)", flush=True)
        return 1
    if what == "crash":
        print("Traceback (most recent call last):\nRuntimeError: fake launcher crash", flush=True)
        return int(os.environ.get("FAKE_CRASH_CODE", "3"))
    with EventWriter(run.events_path) as events:
        if what == "complete":
            _as_rank0(run, events)
            events.emit(EndEvent(status="completed", step=4, total_steps=4))
            run.write_state(status="completed", exit_code=0, ended=time.time())
            return 0
        if what == "stoppable":
            time.sleep(delay)
            _as_rank0(run, events)
            while not _stop["requested"]:
                time.sleep(0.02)
            events.emit(EndEvent(status="stopped", step=1, reason="SIGTERM"))
            run.write_state(status="stopped", exit_code=0, ended=time.time())
            return 0
    print(f"unknown FAKE_PLAN entry {what!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
