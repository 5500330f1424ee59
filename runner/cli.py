"""`ft-tui train | runs | attach | stop | resume | export | demo`: launching and managing runs from a shell.

Argument handling and printing only: the checks, the plan, the launch, resume, stop and export are the control
library's (``runner/control.py``, which the TUI uses too); this module turns its results and warnings into lines.

Each ``cmd_*`` takes the argparse namespace built in ``ft_tui.tui.cli`` and returns an exit status: 0 ok (a run that
completed or was stopped), 1 a run that failed or was interrupted, 2 bad input (raised as
:class:`~ft_tui.planner.errors.InputError`, which the dispatcher prints without a traceback).

Torch-free at import time; ``--dry-run`` and ``demo`` import the model code inside their functions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import is_hub_id
from ft_tui.planner.units import format_clock
from ft_tui.runner import control
from ft_tui.runner.events import fold
from ft_tui.runner.follow import FollowResult, ProgressPrinter, RunFollower, log_tail
from ft_tui.runner.rundir import RunDir, find_run, indexed_runs, summarize
from ft_tui.runner.status import (
    COMPLETED,
    INTERRUPTED,
    LIVE_STATUSES,
    OK_STATUSES,
    PREPARED,
    RESUMABLE,
    STOPPED,
)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _warn(warnings: Iterable[Any]) -> None:
    for warning in warnings:
        _err(f"warning: {warning}")


# ----------------------------------------------------------------------------------------------------------------
# Planning
# ----------------------------------------------------------------------------------------------------------------

def _report_plan(planned: control.Planned) -> None:
    """``planner: key = value  (why)`` for every key the planner set, and its notes."""
    _warn(planned.warnings)
    for change in planned.changes:
        _err(f"planner: {change.key} = {change.value}" + (f"  ({change.reason})" if change.reason else ""))


def plan_summary(plan: Mapping[str, Any]) -> list[str]:
    """Human lines for a plan dict: memory, fit and time."""
    lines = []
    if plan.get("note"):
        lines.append(str(plan["note"]))
    hw_reason = (plan.get("reasons") or {}).get("hardware")
    if hw_reason:
        lines.append(str(hw_reason))
    est = plan.get("estimate") or {}
    if isinstance(est, Mapping) and isinstance(est.get("peak_gib"), (int, float)):
        mem = f"peak memory {est['peak_gib']:.2f} GiB per device"
        if isinstance(est.get("budget_gib"), (int, float)):
            mem += f" of {est['budget_gib']:.1f} GiB" + ("" if est.get("fits", True) else "  (DOES NOT FIT)")
        lines.append(mem)
    if plan.get("strategy"):
        lines.append(f"strategy: {plan['strategy']}")
    timing = plan.get("time") or {}
    if isinstance(timing, Mapping) and timing:
        parts = []
        if isinstance(timing.get("eta_s"), (int, float)):
            parts.append(f"about {format_clock(timing['eta_s'])} for {timing.get('steps', '?')} steps")
        if isinstance(timing.get("tokens_per_s"), (int, float)):
            parts.append(f"{timing['tokens_per_s']:,.0f} tokens/s")
        if parts:
            lines.append("time: " + ", ".join(parts))
        if timing.get("note"):
            lines.append(f"time note: {timing['note']}")
    return lines


# ----------------------------------------------------------------------------------------------------------------
# Following, with Ctrl+C -> detach or stop
# ----------------------------------------------------------------------------------------------------------------

def _ask_detach_or_stop() -> str:
    """'d' or 's'. Without a terminal on stdin the answer is detach."""
    if not sys.stdin or not sys.stdin.isatty():
        return "d"
    try:
        sys.stderr.write("\nDetach (d, default) or stop the run (s)? ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
    except (KeyboardInterrupt, EOFError):
        return "d"
    return "s" if answer.startswith("s") else "d"


def _detach_hint(run: RunDir) -> None:
    _err(f"detached; the run goes on.  follow: ft-tui attach {run.id}   stop: ft-tui stop {run.id}   "
         f"log: {run.log_path}")


def follow_with_prompt(run: RunDir, *, offset: int = 0, printer: ProgressPrinter | None = None) -> int:
    """Follow ``run`` in this terminal; Ctrl+C asks whether to detach or stop. Returns the CLI exit code."""
    follower = RunFollower(run, printer or ProgressPrinter(), offset=offset)
    stopping = False
    while True:
        try:
            result = follower.follow()
            break
        except KeyboardInterrupt:
            follower.printer.finish()
            if stopping or _ask_detach_or_stop() == "d":
                _detach_hint(run)
                return 0
            stopping = True
            if control.signal_run(run) is None:
                _err("the trainer is not running any more")
            else:
                _err("stopping: the trainer saves a checkpoint, then exits (Ctrl+C again to detach)")
    return report_end(run, result)


def report_end(run: RunDir, result: FollowResult) -> int:
    """Say how the run ended (and why, for a failure) and turn it into the exit code."""
    if result.status in OK_STATUSES:
        if result.status == STOPPED:
            cp = run.latest_checkpoint()
            _err(f"stopped{f' (checkpoint {cp.name})' if cp else ''}; continue with: ft-tui resume {run.id}")
        return 0
    if result.error:
        _err(f"ft-tui: run {run.id} {result.status}: {result.error}")
    elif result.end is not None:
        why = result.end.get("message")
        _err(f"ft-tui: run {run.id} {result.status}" + (f": {why}" if why else ""))
    else:
        code = f" (exit code {result.exit_code})" if result.exit_code is not None else ""
        _err(f"ft-tui: run {run.id} {result.status}{code}: the trainer stopped without an end event")
    tail = log_tail(run.log_path, 15)
    if tail and result.exit_code != 2:
        _err(f"--- last lines of {run.log_path} ---\n" + "\n".join(tail))
    if result.status == INTERRUPTED or run.latest_checkpoint() is not None:
        _err(f"resume with: ft-tui resume {run.id}")
    return result.cli_exit


# ----------------------------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------------------------

def _prepare(args: argparse.Namespace, *, model_here: bool = True) -> Any:
    checked = control.load_checked(args.config, args.overrides, model_here=model_here)
    _warn(checked.warnings)
    return checked.config


def cmd_train(args: argparse.Namespace) -> int:
    """Validate, plan, launch and (unless --detach) follow a training run."""
    print_only = getattr(args, "print_launch", False)
    if getattr(args, "prepare", False) and not print_only:
        raise InputError(Msg("prepare_needs_print_launch"), hint=Msg("hint_prepare_needs_print_launch"))
    # A launch line to print may be for another box: its model need not be in this machine's cache.
    cfg = _prepare(args, model_here=not print_only or getattr(args, "dry_run", False))
    if getattr(args, "dry_run", False):
        return dry_run(cfg, args)
    # A launch line to print may be for another box; a run started here plans for this machine.
    planned = control.plan(cfg, getattr(args, "gpu", "auto"), getattr(args, "gpus", None), launch=not print_only)
    _report_plan(planned)
    nproc = control.choose_nproc(getattr(args, "gpus", None), planned.hardware, for_print=print_only)
    if print_only:
        if getattr(args, "prepare", False):
            return print_launch(control.prepare_launch(planned.config, planned.plan, planned.hardware, nproc=nproc))
        return print_launch(control.launch_line(planned.config, planned.plan, planned.hardware, nproc=nproc),
                            train=_train_line(args))
    run = control.launch(planned.config, planned.plan, planned.hardware, nproc=nproc).run
    if getattr(args, "detach", False):
        print(run.id, flush=True)
        _err(f"run directory: {run.path}")
        _detach_hint(run)
        return 0
    _err(f"run {run.id}  ({run.path})")
    return follow_with_prompt(run)


def _train_line(args: argparse.Namespace) -> str:
    """The ``ft-tui train`` command that starts what ``--print-launch`` printed, on the machine it is for."""
    import shlex

    words = ["ft-tui", "train", args.config]
    for override in args.overrides or []:
        words += ["--set", override]
    return " ".join(shlex.quote(w) for w in words)


def print_launch(launched: control.Launched, *, train: str | None = None) -> int:
    """Print the exact launch line (stdout); explain on stderr how to use it. ``train``: nothing was written (the
    ``ft-tui train`` line that creates the run directory and runs it); else the run directory was prepared."""
    print(launched.command)
    if train is None:
        _err(str(Msg("launch_prepared", path=str(launched.run.path))))
    else:
        _err(str(Msg("launch_nothing_written", train=train, path=str(launched.run.path))))
    _err(str(Msg("launch_cluster")))
    _err(f"#   {launched.multinode_command}")
    return 0


def dry_run(cfg: Any, args: argparse.Namespace) -> int:
    """Load the tokenizer, template and data; print data statistics and the plan. Trains nothing."""
    from ft_tui.templates.stats import format_stats

    result = control.dry_run(cfg, getattr(args, "gpu", "auto"), getattr(args, "gpus", None))
    reason = result.template_reason
    print(f"template: {result.template}" + (f"  ({reason})" if reason else ""))
    _warn(result.warnings)
    print(format_stats(result.stats))
    _report_plan(result.planned)
    print("plan:")
    for line in plan_summary(result.planned.plan):
        print(f"  {line}")
    print("dry run: nothing was trained")
    return 0


# ----------------------------------------------------------------------------------------------------------------
# runs
# ----------------------------------------------------------------------------------------------------------------

def _short_model(model: str | None) -> str:
    if not model:
        return "-"
    return model if is_hub_id(model) else Path(model.rstrip("/")).name


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def cmd_runs_rm(args: argparse.Namespace) -> int:
    """`ft-tui runs rm RUN... [--yes]`: delete runs (refusing a live one); on a terminal, ask first."""
    runs: list[RunDir] = []
    for ref in args.runs:
        run = find_run(ref)
        if all(r.path != run.path for r in runs):
            runs.append(run)
    control.check_removable(runs)
    if not getattr(args, "yes", False) and sys.stdin.isatty():
        for run in runs:
            print(f"  {run.id}  {run.status()}  {run.path}")
        try:
            answer = input(f"delete {len(runs)} run(s) and everything in their directories? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing was removed")
            return 1
    for run in control.remove_runs(runs):
        print(f"removed run {run.id}  ({run.path})")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """List the runs in the index (any directory), oldest first; --json prints a JSON array. `runs rm` deletes."""
    if getattr(args, "runs_command", None) == "rm":
        return cmd_runs_rm(args)
    summaries = [summarize(r) for r in indexed_runs()]
    if getattr(args, "json", False):
        from .history import memory_comparison

        rows = [{**s.to_dict(), "memory": memory_comparison(s.planned, s.measured)} for s in summaries]
        print(json.dumps(rows, indent=1, default=str))
        return 0
    if not summaries:
        print("no runs yet: start one with `ft-tui train CONFIG` or `ft-tui demo`")
        return 0
    rows = [("ID", "STATUS", "MODEL", "METHOD", "STEP", "LOSS", "STARTED")]
    for s in summaries:
        step = f"{s.step}/{s.total_steps}" if s.total_steps else str(s.step)
        loss = f"{s.loss:.4f}" if isinstance(s.loss, (int, float)) else "-"
        rows.append((s.id, s.status, _short_model(s.model), s.method or "-", step, loss, _when(s.started)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for s in summaries:
        if s.status == "unknown" and (problem := RunDir(Path(s.path)).state_problem()):
            print(f"{s.id}: {problem}")
    return 0


# ----------------------------------------------------------------------------------------------------------------
# attach
# ----------------------------------------------------------------------------------------------------------------

def cmd_attach(args: argparse.Namespace) -> int:
    """Show a run's whole history in this terminal, then follow it live until it ends.

    (`ft-tui attach RUN` opens the TUI's run screen instead; ``ft_tui.tui.cli`` routes there unless --plain.)
    """
    run = find_run(args.run)
    status = run.status()
    printer = ProgressPrinter()
    follower = RunFollower(run, printer)
    if status not in LIVE_STATUSES:
        follower.read()
        printer.finish()
        _err(f"run {run.id}: {status}" + control.status_hint(run, status))
        return 0 if status in (*OK_STATUSES, PREPARED) else 1
    return follow_with_prompt(run, printer=printer)


# ----------------------------------------------------------------------------------------------------------------
# stop
# ----------------------------------------------------------------------------------------------------------------

def cmd_stop(args: argparse.Namespace) -> int:
    """Ask a run to stop (SIGTERM: it checkpoints, then ends 'stopped'; --now: SIGUSR1, it ends at once without a
    checkpoint) and wait for its end event."""
    run = find_run(args.run)
    now = bool(getattr(args, "now", False))
    sent = control.send_stop(run, now=now)
    if sent.pid is None:
        what = f": its process is gone ({sent.status})" if sent.live else f" is not running ({sent.status})"
        print(f"run {run.id}{what}" + control.status_hint(run, sent.status))
        return 0
    if now:
        last = run.latest_checkpoint()
        what = "stop at once without saving: the steps since " + \
            (f"{last.name} are lost" if last else "the start are lost (no complete checkpoint yet)")
    elif sent.before_training:
        what = "stop (it has not reached its first step: it stops after its current phase, without a checkpoint)"
    else:
        what = "save and stop"
    if sent.again and not now:
        print(f"a stop of run {run.id} is already under way; this one changes nothing (the checkpoint is still "
              f"saved; `ft-tui stop --now {run.id}` skips it)", flush=True)
    sig = "SIGUSR1" if now else "SIGTERM"
    print(f"sent {sig} to {sent.pid}; waiting up to {args.wait:g} s for run {run.id} to {what}", flush=True)
    done = control.wait_stopped(sent, float(args.wait))
    if done.still_running:
        print(f"run {run.id} is still running after {args.wait:g} s; check `ft-tui attach {run.id}`")
        return 1
    step = f" at step {done.step}" if done.step is not None else ""
    cp = done.checkpoint
    print(f"run {run.id} {done.status}{step}" + (f"; checkpoint: {cp}" if cp else "; no complete checkpoint"))
    if done.status in RESUMABLE:
        print(f"continue with: ft-tui resume {run.id}")
    return 0


# ----------------------------------------------------------------------------------------------------------------
# resume
# ----------------------------------------------------------------------------------------------------------------

def cmd_resume(args: argparse.Namespace) -> int:
    """Continue a stopped, interrupted or failed run from its last complete checkpoint, in the same directory."""
    run = find_run(args.run)
    if run.status() == COMPLETED:
        print(f"run {run.id} is complete; to train longer, start a new run with a higher num_train_epochs "
              f"or max_steps (its config is {run.config_path})")
        return 0
    offset = run.events_path.stat().st_size if run.events_path.exists() else 0
    resumed = control.resume(run)
    _err(f"resuming run {run.id}" + (f" from {resumed.checkpoint.name}" if resumed.checkpoint else ""))
    _warn(resumed.warnings)
    if getattr(args, "detach", False):
        print(run.id, flush=True)
        _detach_hint(run)
        return 0
    return follow_with_prompt(run, offset=offset)


# ----------------------------------------------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------------------------------------------

def cmd_export(args: argparse.Namespace) -> int:
    """Export a finished run's adapter (or, with --merge, the merged model) and print where it went."""
    run = find_run(args.run)
    exported = control.export(run, merge=bool(args.merge), out=args.output, dtype=getattr(args, "dtype", None),
                              checkpoint=getattr(args, "checkpoint", None), report=_err)
    _warn(exported.warnings)
    for line in exported.serve:
        _err(line)
    print(str(exported.path))
    return 0


# ----------------------------------------------------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------------------------------------------------

def loss_summary(events: list[dict[str, Any]], k: int = 3) -> tuple[float, float] | None:
    """Mean of the first and of the last ``k`` logged losses (fewer when the run logged few)."""
    losses = [loss for _, loss in fold(events).train_loss]
    if len(losses) < 2:
        return None
    k = max(1, min(k, len(losses) // 2))
    return sum(losses[:k]) / k, sum(losses[-k:]) / k


def run_headless_demo(args: argparse.Namespace) -> int:
    """Build the demo kit, write its config, train it in this terminal and summarise the result."""
    from ft_tui.runner.demo_kit import build_demo_kit, write_demo_config

    _err("building the demo model and tokenizer (cached after the first time)...")
    kit = build_demo_kit()
    config = write_demo_config(kit, Path.cwd() / "runs")
    _err(f"demo config: {config}")
    train_args = argparse.Namespace(config=str(config), overrides=[], detach=False, dry_run=False,
                                    print_launch=False, gpu="auto", gpus=None)
    before = {r.path for r in indexed_runs()}
    code = cmd_train(train_args)
    runs = [r for r in indexed_runs() if r.path not in before]
    if runs:
        _demo_report(runs[-1])
    print()
    cmd_runs(argparse.Namespace(json=False))
    return code


def _demo_report(run: RunDir) -> None:
    events = run.events()
    summary = loss_summary(events)
    end = fold(events).end or {}
    if summary:
        first, last = summary
        print(f"loss: first logs {first:.3f} -> last logs {last:.3f} "
              f"({'down' if last < first else 'NOT down'} {abs(first - last) / first * 100:.0f}%)")
    adapter = end.get("output")
    if adapter is None and (run.path / "adapter").exists():
        adapter = run.path / "adapter"
    if adapter:
        print(f"adapter: {adapter}")
    print(f"run directory: {run.path}")


def cmd_demo(args: argparse.Namespace) -> int:
    """`ft-tui demo --headless`: a full training run of the demo kit in this terminal.

    (Without --headless, ``ft_tui.tui.cli`` opens the TUI on the demo kit instead.)
    """
    return run_headless_demo(args)
