"""The supervisor of a multi-process run: ``python -m ft_tui.runner.supervise RUN_DIR -- LAUNCH_LINE...``.

A multi-process run (torchrun DDP, accelerate FSDP) cannot back off from an out-of-memory error inside its
processes: the other ranks wait in a collective that will never complete. So ``launch.spawn_worker`` starts this
small, torch-free process (detached, in its own session) instead of the launcher itself, and it:

1. runs the exact launch line (the one in launch.txt, that a user or a scheduler would run) and waits for it;
2. when the attempt ended with out-of-memory records (``RUN/oom/rank-N.json``, written by the rank that ran out;
   see ``worker.py``): applies :func:`~ft_tui.runner.backoff.backoff_config` (halve the per-device batch and double
   accumulation; at batch 1 gradient checkpointing; then give up with advice), rewrites config.yaml, writes the
   ``backoff`` event, clears the records and relaunches the line with ``--resume`` (from the last complete
   checkpoint, or from scratch when there is none);
3. otherwise exits with the launcher's status, leaving the ranks' ``end`` event as it is; when the launcher left
   no ``end`` event for the attempt, it writes ``end`` ``failed`` with the last lines of train.log.

Bookkeeping: ``state.json`` ``supervisor_pid`` names this process for as long as the run lives, and ``pid`` points
at a live process at all times: rank 0 while it runs, this process between attempts (rank 0 hands it back before
it exits after an OOM; the wait loop repairs it should rank 0 die without doing so). Readers
(:meth:`RunDir.status`, the follower) count a live supervisor as a live run, so ``ft-tui runs`` never shows
``interrupted`` while it waits.

Stop: ``ft-tui stop`` signals ``state.json`` ``pid``: rank 0 while it runs (its stop flag reaches every rank at
the next step; the run saves a checkpoint and ends ``stopped``), else this process. A SIGTERM or SIGINT here is
forwarded to rank 0 as soon as the attempt's rank 0 has written its pid (not to torchrun: torchrun would SIGTERM
every rank and SIGKILL them 30 s later, possibly in the middle of the checkpoint); a repeat is forwarded too, and
rank 0 only counts it. ``ft-tui stop --now`` (SIGUSR1) reaches rank 0 as SIGUSR1, or the launcher as SIGTERM
when rank 0 has not started. ``ft-tui stop`` also records ``stop_requested`` in state.json, so a stop that reached a rank
already leaving after an OOM is not lost: a stop between attempts never relaunches, and the run ends ``stopped``
(the backed-off config is kept for ``ft-tui resume``).

Several nodes: the supervisor acts only on its own node's launcher and the relaunch needs every node to back off
in step, which nothing coordinates; it therefore backs off only single-node launches (``ft-tui train`` and
``ft-tui resume`` start only those) and fails a multi-node one with the values to set by hand.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ft_tui.planner.config import load_config
from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg, from_json
from ft_tui.runner.backoff import OutOfMemoryGiveUp, backoff_config, oom_summary, save_backoff_config
from ft_tui.runner.checkpoints import checkpoint_step
from ft_tui.runner.events import BackoffEvent, EndEvent, ErrorEvent, EventWriter, fold
from ft_tui.runner.launch import SUPERVISOR_MODULE, format_command
from ft_tui.runner.rundir import (
    RunDir,
    pid_alive,
    process_start_ticks,
    stop_asked_since,
)
from ft_tui.runner.signals import STOP_NOW_SIGNAL, StopSignals
from ft_tui.runner.status import LIVE_STATUSES

#: The supervisor's pid, in the launcher's environment (and so in every rank's): "a supervisor relaunches me".
SUPERVISOR_ENV = "FT_TUI_SUPERVISOR_PID"
POLL_S = 0.2
LOG_TAIL_LINES = 20
EXIT_FAILED = 1


def relaunch_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--resume`` (the worker's flag, last on the line) added when it is not there yet."""
    argv = list(argv)
    return argv if "--resume" in argv else [*argv, "--resume"]


def node_count(argv: Sequence[str]) -> str:
    """The node count a torchrun (``--nnodes``) or accelerate (``--num_machines``) line asks for, as written
    (``"1"`` when it names none; a scheduler's ``$NNODES`` stays a string)."""
    for flag in ("--nnodes", "--num_machines"):
        for i, arg in enumerate(argv):
            if arg == flag and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return "1"


def is_single_node(argv: Sequence[str]) -> bool:
    return node_count(argv) in ("1", "1:1")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` non-empty lines of train.log."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 32 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _say(text: str) -> None:
    """A line in train.log (our stdout), marked as the supervisor's."""
    print(f"[ft-tui supervisor] {text}", flush=True)


class Supervisor:
    """Runs the launch line of ``run`` until it ends without an OOM record (see the module docstring)."""

    def __init__(self, run: RunDir, argv: Sequence[str], stop: StopSignals | None = None, *,
                 poll: float = POLL_S) -> None:
        if not argv:
            raise ValueError("no launch line to supervise")
        self.run = run
        self.argv = list(argv)
        self.stop = stop or StopSignals()
        self.poll = poll
        self.pid = os.getpid()
        self.start_ticks = process_start_ticks(self.pid)
        self.attempt = 1
        self.attempt_launched = 0.0
        self.forwarded = 0

    # -- the loop ------------------------------------------------------------------------------------------------
    def supervise(self) -> int:
        """Run attempts until one ends without an OOM record; the exit status for this process."""
        self._announce()
        argv = self.argv
        while True:
            self.run.clear_oom_records()
            code = self._run_attempt(argv)
            records = self.run.oom_records()
            if not records:
                return self._finish(code)
            outcome = self._back_off(records)
            if outcome is not None:
                return outcome
            self.attempt += 1
            argv = relaunch_argv(self.argv)
            self._prepare_relaunch(argv)

    def _announce(self) -> None:
        me, ticks = self.pid, self.start_ticks

        def change(state: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {"supervisor_pid": me, "supervisor_start": ticks, "attempt": self.attempt}
            if state.get("status", "starting") == "starting":  # no trainer of this launch has written its pid
                out.update(pid=me, pid_start=ticks)
            return out

        state = self.run.update_state(change)
        self.attempt_launched = float(state.get("launched") or time.time())

    def _run_attempt(self, argv: list[str]) -> int:
        """Start the launcher (stdout/stderr: ours, i.e. train.log) and wait for it; its exit status."""
        env = dict(os.environ)
        env[SUPERVISOR_ENV] = str(self.pid)
        _say(f"attempt {self.attempt}: {' '.join(argv)}")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, cwd=str(self.run.path), env=env, close_fds=True)
        except OSError as exc:
            _say(f"could not start the launcher: {exc}")
            return 127
        self.run.write_state(attempt_launcher_pid=proc.pid, attempt=self.attempt)
        code = self._wait(proc)
        _say(f"attempt {self.attempt}: the launcher exited with status {code}")
        return code

    def _wait(self, proc: subprocess.Popen) -> int:
        """Wait for the launcher; meanwhile forward stop signals and keep ``state.json`` ``pid`` alive."""
        self.forwarded = 0
        while True:
            code = proc.poll()
            if code is not None:
                return code
            if self.stop.count > self.forwarded:
                self._forward_stop(proc)
            self._keep_pid_alive()
            time.sleep(self.poll)

    def _forward_stop(self, proc: subprocess.Popen) -> None:
        """Pass a stop on to rank 0: SIGTERM, or SIGUSR1 for ``ft-tui stop --now``. A stop-now before rank 0 has
        started ends the launcher (SIGTERM: torchrun ends its ranks); a plain stop then waits for rank 0, which
        stops at its first agreed check. A repeated plain stop reaches rank 0 again, where it is only counted."""
        rank0 = self._rank0_pid()
        now = self.stop.now > 0
        if rank0 is not None:
            target, why, sig = rank0, "rank 0", STOP_NOW_SIGNAL if now else signal.SIGTERM
        elif now:
            target, why, sig = proc.pid, "the launcher (rank 0 has not started)", signal.SIGTERM
        else:
            return
        try:
            os.kill(target, sig)
        except ProcessLookupError:
            return
        self.forwarded = self.stop.count
        _say(f"stop: {signal.Signals(sig).name} forwarded to {why}, pid {target}")

    def _rank0_pid(self) -> int | None:
        """Rank 0 of the running attempt, once it has written its pid to state.json."""
        state = self.run.read_state()
        pid = state.get("pid")
        if isinstance(pid, int) and pid != self.pid and pid_alive(pid, state.get("pid_start")):
            return pid
        return None

    def _keep_pid_alive(self) -> None:
        """When rank 0 died without handing ``pid`` back (killed), point it at this process."""
        if not self._pid_is_dead(self.run.read_state()):
            return
        me, ticks = self.pid, self.start_ticks
        self.run.update_state(lambda st: {"pid": me, "pid_start": ticks} if self._pid_is_dead(st) else None)

    def _pid_is_dead(self, state: dict[str, Any]) -> bool:
        return state.get("status") in LIVE_STATUSES and state.get("pid") != self.pid and \
            not pid_alive(state.get("pid"), state.get("pid_start"))

    # -- after an attempt ----------------------------------------------------------------------------------------
    def stop_requested(self) -> bool:
        """A stop reached this process, or ``ft-tui stop`` recorded one during this attempt."""
        return self.stop.count > 0 or stop_asked_since(self.run.read_state(), self.attempt_launched)

    def _back_off(self, records: list[dict[str, Any]]) -> int | None:
        """Back off after an OOM; None to relaunch, else the exit status (gave up, multi-node, or stopped)."""
        step = max(int(r.get("step") or 0) for r in records)
        what = oom_summary(records)
        _say(what)
        self.run.clear_oom_records()
        injected = [int(r.get("step") or 0) + 1 for r in records if r.get("injected")]
        if injected:
            self.run.write_state(oom_injected=min(injected))  # the test hook fires once per run
        loading = [r for r in records if r.get("phase") == "load"]
        if loading:  # the model itself did not fit: a smaller batch cannot help
            advice = from_json(loading[0].get("advice")) or Msg("oom_loading_default")
            return self._fail(Msg("oom_what_detail", what=what, detail=advice))
        if not is_single_node(self.argv):
            return self._fail(Msg("oom_multinode", what=what, config=str(self.run.config_path)))
        try:
            cfg = load_config(self.run.config_path)
            new_cfg, change = backoff_config(cfg)
        except OutOfMemoryGiveUp as exc:
            return self._fail(Msg("oom_what_detail", what=what, detail=exc.as_msg()))
        except InputError as exc:
            return self._fail(Msg("oom_cannot_back_off", what=what, error=exc.as_msg()))
        save_backoff_config(self.run, new_cfg)
        restart = self.run.latest_checkpoint()
        restart_from = checkpoint_step(restart) or 0
        with EventWriter(self.run.events_path) as events:
            events.emit(BackoffEvent(step=step, reason=str(records[0].get("message") or "out of memory"),
                                     old=change["old"], new=change["new"], restart_from=restart_from,
                                     ranks=[r["rank"] for r in records], attempt=self.attempt + 1))
        state = self.run.read_state()
        self.run.write_state(backoffs=int(state.get("backoffs") or 0) + 1)
        _say(f"backed off to {change['new']}; relaunching from "
             f"{restart.name if restart else 'the start (no complete checkpoint)'}")
        if self.stop_requested():
            return self._end_stopped(Msg("sup_stopped_after_backoff"))
        return None

    def _prepare_relaunch(self, argv: list[str]) -> None:
        """Mark the run starting again under this process and log the line (launch.txt) before the spawn."""
        now = time.time()
        self.attempt_launched = now
        self.run.write_state(status="starting", pid=self.pid, pid_start=self.start_ticks, launched=now,
                             attempt=self.attempt, exit_code=None)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.run.launch_path, "a", encoding="utf-8") as fh:
            fh.write(f"# {stamp} resume (out-of-memory back-off, attempt {self.attempt}; by the ft-tui "
                     f"supervisor)\n{format_command(argv)}\n")

    def _current_end(self) -> dict[str, Any] | None:
        """The ``end`` event of the current attempt, if its ranks wrote one."""
        end = fold(self.run.events()).current_end(self.attempt_launched)
        return dict(end) if end is not None else None

    def _finish(self, code: int) -> int:
        """The attempt ended without an OOM: keep the ranks' end event, or write the one they could not."""
        if self._current_end() is not None:
            return code
        if self.stop_requested():
            return self._end_stopped(Msg("sup_stopped_before_end"))
        tail = log_tail(self.run.log_path)
        last = next((line for line in reversed(tail) if not line.startswith("[ft-tui supervisor]")), "")
        message = Msg("sup_launcher_exited", code=code, last=Msg("sup_last_log_line", line=last) if last else "")
        return self._fail(message, log_tail=tail, code=code or EXIT_FAILED)

    def _fail(self, message: Msg, *, log_tail: list[str] | None = None, code: int = EXIT_FAILED) -> int:
        _say(f"failed: {message}")
        with EventWriter(self.run.events_path) as events:
            events.emit(ErrorEvent(message=message))
            events.emit(EndEvent(status="failed", exit_code=code, message=message, log_tail=log_tail))
        self.run.write_state(status="failed", exit_code=code, ended=time.time(), error=message)
        return code

    def _end_stopped(self, message: Msg) -> int:
        ckpt = self.run.latest_checkpoint()
        step = checkpoint_step(ckpt) or 0
        with EventWriter(self.run.events_path) as events:
            events.emit(EndEvent(status="stopped", step=step, checkpoint=str(ckpt) if ckpt else None,
                                 reason=self.stop.name or "ft-tui stop", message=message))
        self.run.write_state(status="stopped", exit_code=0, ended=time.time(), step=step)
        _say(message)
        return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"python -m {SUPERVISOR_MODULE}",
                                description="Run a multi-process launch line and relaunch it after an "
                                            "out-of-memory back-off (started by `ft-tui train`).")
    p.add_argument("run_dir", help="the run directory holding config.yaml and state.json")
    p.add_argument("launch", nargs=argparse.REMAINDER, help="-- then the launch line (torchrun / accelerate)")
    args = p.parse_args(argv)
    if args.launch[:1] == ["--"]:
        args.launch = args.launch[1:]
    if not args.launch:
        p.error("give the launch line after --")
    return args


def main(argv: list[str] | None = None) -> int:
    stop = StopSignals().install()  # first: the stop signals are blocked until the handler is in place
    args = parse_args(argv)
    run = RunDir(Path(args.run_dir))
    if not run.state_path.exists():
        print(f"{run.path}: not a run directory (no state.json)", file=sys.stderr)
        return 2
    sup = Supervisor(run, args.launch, stop)
    try:
        return sup.supervise()
    except Exception as exc:  # noqa: BLE001 - the run must end with a status whatever happened here
        traceback.print_exc()
        return sup._fail(Msg("supervisor_failed", type=type(exc).__name__, text=str(exc)))


if __name__ == "__main__":
    sys.exit(main())
