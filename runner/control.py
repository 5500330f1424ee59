"""The runner's control library: check, plan, launch, resume, stop and export runs.

``ft-tui train | stop | resume | export`` (``runner/cli.py``: argument handling and printing only) and the TUI
(``tui/app.py``, the run and runs screens) call the same functions, so a check, a plan or a warning is the same
wherever it is made. Each returns a small result with a ``warnings`` list and never prints; bad input raises
:class:`~ft_tui.planner.errors.InputError` (exit status 2 in the CLI, a notice in the TUI). The warnings ft-tui
writes here are messages (:class:`~ft_tui.planner.messages.Msg`, catalog area ``runner``: English as text, Chinese
through ``render(msg, "zh")``).

Torch-free at import time; ``dry_run`` and ``export`` import the model code inside their functions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_tui.planner.config import KEYS, TrainConfig
from ft_tui.planner.errors import ConfigError, InputError
from ft_tui.planner.messages import Msg
from ft_tui.runner import launch as _launch
from ft_tui.runner.checkpoints import resume_point
from ft_tui.runner.checks import (  # noqa: F401
    Checked,
    check,
    check_datasets,
    check_integrations,
    check_model,
    check_output_dir,
    check_rows,
    load_checked,
)
from ft_tui.runner.events import RunModel, fold, read_events
from ft_tui.runner.rundir import RunDir, pid_alive, stop_asked_since
from ft_tui.runner.signals import HANDLED_SIGNALS, STOP_NOW_SIGNAL
from ft_tui.runner.status import COMPLETED, LIVE_STATUSES, PREPARED, RESUMABLE, STARTING, UNKNOWN, status_word

# ----------------------------------------------------------------------------------------------------------------
# Plan
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class PlanChange:
    """A key the planner set (the user left it unset): its value and the planner's reason (coded, or None)."""

    key: str
    value: Any
    reason: Any = None


@dataclass
class Planned:
    """The config to launch, the plan as a dict (plan.json), the hardware target (None: unknown) and the keys the
    planner changed. ``data``: the dataset statistics the plan was made with (None: none were cheap to get)."""

    config: TrainConfig
    plan: dict[str, Any]
    hardware: Any = None
    changes: list[PlanChange] = field(default_factory=list)
    data: Any = None
    warnings: list = field(default_factory=list)


def _planned_value(planned: Any, key: str) -> Any:
    return planned.get(key) if isinstance(planned, Mapping) else getattr(planned, key)


def apply_plan(cfg: TrainConfig, planned: Any) -> tuple[TrainConfig, list[str]]:
    """``cfg`` with the planner's values for every key the user did not set; and the keys that changed."""
    if planned is None:
        return cfg, []
    changes = {}
    for key in KEYS:
        if key in cfg.explicit:
            continue
        if isinstance(planned, Mapping) and key not in planned:
            continue
        value = _planned_value(planned, key)
        if value != getattr(cfg, key):
            changes[key] = value
    return (cfg.replace(**changes) if changes else cfg), sorted(changes)


def gpu_not_here(gpu: str, gpus: int | None = None) -> tuple[Any, Msg] | None:
    """``--gpu PROFILE`` names a card this machine does not have: (this machine's hardware, what to say), else None.

    Planning for another box is for ``plan``, ``estimate``, ``--print-launch`` and the TUI; ``train`` runs here."""
    from ft_tui.planner.hardware import find_profile, resolve_hardware

    profile = find_profile((gpu or "auto").strip()) if (gpu or "auto").strip().lower() != "auto" else None
    if profile is None:
        return None
    try:
        here = resolve_hardware("auto", gpus)
    except InputError:  # more GPUs asked for than are here: the launch refuses that on its own
        here = resolve_hardware("auto", None)
    if getattr(here, "source", None) != "none" and here.profile == profile.name:
        return None
    found = Msg("here_cpu") if getattr(here, "source", None) == "none" else Msg("here_gpus", count=here.count,
                                                                                   name=here.name)
    return here, Msg("gpu_not_here", gpu=gpu, name=profile.label, found=found)


def plan(cfg: TrainConfig, gpu: str = "auto", gpus: int | None = None, data: Any = None, *,
         launch: bool = False) -> Planned:
    """Resolve the hardware and, when a GPU is known, apply the planner's choices for the keys the user left unset.

    ``launch``: the plan is for a run started here, so a ``--gpu PROFILE`` this machine does not have gives way to
    this machine's hardware, with a warning that says what the run really trains on.

    The planner reads the data as ``ft-tui plan`` and the TUI do (:func:`ft_tui.templates.planning.planning_data`)
    unless ``data`` (statistics already read, e.g. by ``--dry-run``) is given, so one config resolves to the same
    values everywhere. Without a GPU the config runs as written and the plan is only informational: a model the
    planner cannot read is left to the trainer to report.
    """
    from ft_tui.planner.hardware import resolve_hardware
    from ft_tui.planner.models import inspect_model
    from ft_tui.planner.recommend import make_plan

    hw = resolve_hardware(gpu, gpus)
    warnings: list[Any] = []
    elsewhere = gpu_not_here(gpu, gpus) if launch else None
    if elsewhere is not None:
        hw = elsewhere[0]
        warnings.append(elsewhere[1])
    no_gpu = getattr(hw, "source", None) == "none"
    from ft_tui.templates.rules import config_findings

    findings = config_findings(cfg, hw)  # the errors and warnings plan, estimate and the TUI give, on this hardware
    findings.raise_first()
    warnings += findings.warnings
    try:
        spec = inspect_model(cfg.model_name_or_path, trust_remote_code=cfg.trust_remote_code, base_dir=cfg.base_dir)
        if data is None and not no_gpu:  # without a GPU the plan keeps the config: statistics change nothing
            from ft_tui.templates.planning import planning_data

            found = planning_data(cfg, spec)
            data = found.stats
            if found.note:
                warnings.append(found.note)
        from ft_tui.runner.history import past_runs

        result = make_plan(cfg, hw, spec, data=data, history=past_runs())
    except InputError as exc:
        if not no_gpu:
            raise
        return Planned(cfg, {"hardware": _launch._as_dict(hw), "note": f"no GPU and no estimate ({exc.message})"},
                       hw, data=data, warnings=warnings)
    new_cfg, changed = apply_plan(cfg, result.config)
    plan_dict = result.to_dict()
    reasons = plan_dict.get("reasons") or getattr(result, "reasons", {}) or {}
    changes = [PlanChange(key, getattr(new_cfg, key), reasons.get(key)) for key in changed]
    return Planned(new_cfg, plan_dict, hw, changes, data=data, warnings=warnings)


@dataclass
class DryRun:
    """What ``train --dry-run`` shows: the template (and why), the data statistics, the plan."""

    template: str
    template_reason: Any
    stats: Any
    planned: Planned
    warnings: list = field(default_factory=list)


def dry_run(cfg: TrainConfig, gpu: str = "auto", gpus: int | None = None) -> DryRun:
    """Load the tokenizer, the template and the data as the trainer will, then plan with those statistics.

    A tokenizer or data that cannot be read raises (the dry run is there to find that out)."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    from ft_tui.runner.modeling import load_tokenizer
    from ft_tui.templates.planning import planning_data

    tokenizer = load_tokenizer(cfg)
    found = planning_data(cfg, _model_spec(cfg), tokenizer=tokenizer)
    if found.error is not None:
        raise found.error
    planned = plan(cfg, gpu, gpus, data=found.stats)
    name = getattr(found.template, "name", str(found.template))
    warnings = list(found.template_warnings)
    elsewhere = gpu_not_here(gpu, gpus)
    if elsewhere is not None:  # the plan is for the named card; its speed is no promise for this machine
        warnings.append(Msg("gpu_not_here_dry", gpu=gpu, name=elsewhere[1].values["name"],
                            found=elsewhere[1].values["found"]))
        planned.plan.pop("time", None)
    return DryRun(template=name, template_reason=found.template_reason, stats=found.stats, planned=planned,
                  warnings=warnings)


def _model_spec(cfg: TrainConfig) -> Any:
    """The planner's view of the model (its type picks the template), or None when it cannot read it."""
    from ft_tui.planner.models import inspect_model

    try:
        return inspect_model(cfg.model_name_or_path or "", trust_remote_code=cfg.trust_remote_code,
                             base_dir=cfg.base_dir)
    except InputError:
        return None


# ----------------------------------------------------------------------------------------------------------------
# Launch
# ----------------------------------------------------------------------------------------------------------------

def visible_gpu_count() -> int:
    """GPUs the hardware probe sees (honours CUDA_VISIBLE_DEVICES); 0 without a GPU."""
    from ft_tui.planner.gpu_probe import probe

    report = probe()
    gpus = getattr(report, "gpus", None)
    if gpus is not None:
        return len(gpus)
    return int(getattr(report, "count", 0) or 0)


def choose_nproc(requested: int | None, hardware: Any = None, *, for_print: bool = False) -> int:
    """Processes per node: ``requested`` (``--gpus``); else as many as the plan assumed for a named card
    (``--gpu PROFILE``); else the visible GPUs (at least 1). A real launch cannot ask for more than are visible."""
    if requested is None and getattr(hardware, "source", None) in ("profile", "size"):
        requested = int(hardware.count)  # planned for a named card: launch as many processes as the plan assumed
    visible = visible_gpu_count()
    if requested is None:
        return max(1, visible)
    if requested < 1:
        raise InputError(Msg("gpus_at_least_one", n=requested))
    if not for_print and requested > max(1, visible):
        raise InputError(Msg("gpus_too_many", n=requested, visible=visible), hint=Msg("hint_gpus_print_launch"))
    return requested


@dataclass
class Launched:
    """A run directory and its trainer's ``pid``; for a prepared run (``pid`` None) the line to run it, and for a
    cluster the per-node line. (The line of a launched run is in its launch.txt.)"""

    run: RunDir
    nproc: int
    command: str | None = None
    pid: int | None = None
    multinode_command: str | None = None
    warnings: list = field(default_factory=list)


def _prepare_run(cfg: TrainConfig, plan_dict: Mapping[str, Any] | None, hardware: Any) -> RunDir:
    """The run directory, after :func:`check_output_dir`; a write that still fails (the disk fills, the
    filesystem turns read-only) is bad input naming the folder, and leaves no half-made run behind."""
    check_output_dir(cfg, plan_dict)
    target = _launch.run_path_for(cfg, "run")
    existed = target.exists()
    try:
        return _launch.prepare_run(cfg, plan_dict, hw=hardware)
    except OSError as exc:
        if cfg.output_dir and not existed and target.is_dir():
            import shutil

            shutil.rmtree(target, ignore_errors=True)
        raise ConfigError(Msg("output_dir_write_failed", path=str(exc.filename or target),
                              error=exc.strerror or str(exc)), key="output_dir" if cfg.output_dir else None,
                          file=cfg.source, hint=Msg("output_dir_hint")) from None


def launch(cfg: TrainConfig, plan_dict: Mapping[str, Any] | None, hardware: Any = None, *,
           nproc: int = 1) -> Launched:
    """Create the run directory (config.yaml, plan.json, state.json, run index) and start the detached trainer."""
    run = _prepare_run(cfg, plan_dict, hardware)
    return Launched(run, nproc, pid=_launch.spawn_worker(run, nproc=nproc))


def launch_line(cfg: TrainConfig, plan_dict: Mapping[str, Any] | None, hardware: Any = None, *,
                nproc: int = 1) -> Launched:
    """``--print-launch``: the exact line :func:`launch` would run (and the per-node line of a cluster), for the
    run directory it would create now; nothing is written, started or registered (``run`` does not exist)."""
    run = RunDir(_launch.new_run_path(cfg))
    strategy = _launch.plan_strategy(_launch.plan_record(plan_dict, hardware))
    line = _launch.format_command(_launch.launch_command(run, nproc, strategy=strategy, write=False))
    node = _launch.format_command(_launch.multinode_command(run, nproc, strategy=strategy, write=False))
    return Launched(run, nproc, line, multinode_command=node)


def prepare_launch(cfg: TrainConfig, plan_dict: Mapping[str, Any] | None, hardware: Any = None, *,
                   nproc: int = 1) -> Launched:
    """``--print-launch --prepare``: the run directory, marked prepared, and the exact line to run it (also in
    launch.txt), for a scheduler or another node on a shared filesystem; nothing is started."""
    run = _prepare_run(cfg, plan_dict, hardware)
    line = _launch.format_command(_launch.launch_command(run, nproc))
    run.write_state(status=PREPARED, nproc=nproc)
    with open(run.launch_path, "a", encoding="utf-8") as fh:
        fh.write(f"# prepared (not started)\n{line}\n")
    return Launched(run, nproc, line, multinode_command=_launch.format_command(_launch.multinode_command(run, nproc)))


# ----------------------------------------------------------------------------------------------------------------
# Status, stop
# ----------------------------------------------------------------------------------------------------------------

def status_hint(run: RunDir, status: str) -> Msg | str:
    """What can be done next with a run in ``status`` (``; resume from ... with: ft-tui resume ID``), or ""."""
    if status in RESUMABLE:
        cp = run.latest_checkpoint()
        return Msg("run_resume_from", checkpoint=cp.name, id=run.id) if cp else Msg("run_resume_over", id=run.id)
    if status == PREPARED:
        return Msg("run_prepared_hint", path=str(run.launch_path))
    problem = run.state_problem() if status == UNKNOWN else None
    return Msg("run_state_problem", problem=problem) if problem else ""


def check_same_host(run: RunDir) -> None:
    """A run is controlled from the machine it runs on (its pid means nothing elsewhere)."""
    host = run.read_state().get("host")
    if host and host != socket.gethostname():
        raise InputError(Msg("run_other_host", id=run.id, host=host, here=socket.gethostname()),
                         hint=Msg("hint_run_other_host", host=host))


def _owned(pid: int | None, start: int | None, run: RunDir) -> bool:
    """``pid`` is alive and is the process we recorded (same start time; else its command names the run)."""
    if not pid_alive(pid, start):
        return False
    if start is not None:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return str(run.path) in cmdline


def signal_run(run: RunDir, sig: int = signal.SIGTERM) -> int | None:
    """Send ``sig`` to the run's trainer (rank 0, which shares the stop flag with the other ranks at the next step),
    else to its launcher (before the trainer has written its pid; for a multi-process run, the supervisor, which
    passes the stop on to rank 0). Returns the pid signalled, or None.

    A stop signal is also recorded as ``stop_requested`` in state.json: a multi-process run's supervisor reads it
    before relaunching after an out-of-memory back-off, so a stop that reached a rank already leaving is not lost.
    """
    state = run.read_state()
    candidates = [(state.get(pid_key), state.get(start_key))
                  for pid_key, start_key in (("pid", "pid_start"), ("launcher_pid", "launcher_start"))]
    candidates.append(run.event_worker() or (None, None))  # state.json damaged or gone: the start event's pid
    for pid, start in candidates:
        if isinstance(pid, int) and pid > 0 and _owned(pid, start, run):
            if sig in HANDLED_SIGNALS:
                run.write_state(stop_requested=time.time())
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
            return pid
    return None


def training_begun(run: RunDir) -> bool:
    """Whether the current attempt of ``run`` has written its ``start`` event (its training loop has begun)."""
    return fold(run.events()).current_start(run.read_state().get("launched")) is not None


@dataclass
class StopSent:
    """A stop was asked for: ``pid`` signalled (None: the run was not ``live``, or it was and its process is gone;
    ``status`` says what it is now). ``before_training``: the run had not reached its first step (it stops after
    its current phase, without a checkpoint). ``offset``: the events file's size before the signal. ``now``: the
    stop skips the checkpoint (``ft-tui stop --now``). ``again``: a stop of this attempt was already under way
    (this one changes nothing unless it is ``now``)."""

    run: RunDir
    status: str
    live: bool = False
    pid: int | None = None
    before_training: bool = False
    offset: int = 0
    now: bool = False
    again: bool = False
    warnings: list = field(default_factory=list)


@dataclass
class Stopped:
    """How the stop ended: the ``end`` event (None: none came), the final ``status``, the step and the newest
    complete checkpoint. ``still_running``: the wait ran out first."""

    run: RunDir
    status: str
    end: dict[str, Any] | None = None
    checkpoint: str | None = None
    step: int | None = None
    still_running: bool = False
    warnings: list = field(default_factory=list)


def send_stop(run: RunDir, *, now: bool = False) -> StopSent:
    """Ask a live run to stop (SIGTERM: it checkpoints, then ends ``stopped``; ``now``: SIGUSR1, it ends at once
    without a checkpoint); returns at once. A second stop while one is under way is sent too: the run only counts
    it, and ``again`` says so."""
    check_same_host(run)
    status = run.status()
    if status not in LIVE_STATUSES:
        return StopSent(run, status, now=now)
    state = run.read_state()
    again = stop_asked_since(state, state.get("launched"))
    offset = run.events_path.stat().st_size if run.events_path.exists() else 0
    pid = signal_run(run, STOP_NOW_SIGNAL if now else signal.SIGTERM)
    if pid is None:
        return StopSent(run, run.status(), live=True, offset=offset, now=now, again=again)
    return StopSent(run, status, live=True, pid=pid, before_training=not training_begun(run), offset=offset,
                    now=now, again=again)


def wait_stopped(sent: StopSent, timeout: float) -> Stopped:
    """Wait up to ``timeout`` s for the run :func:`send_stop` signalled to write its ``end`` event."""
    run = sent.run
    end, checkpoint = wait_for_end(run, sent.offset, timeout)
    final = run.status()
    if end is None and final in LIVE_STATUSES:
        return Stopped(run, final, still_running=True)
    latest = run.latest_checkpoint()
    cp = checkpoint or (str(latest) if latest else None)
    status = end.get("status") if end else final
    step = end.get("step") if end else None
    return Stopped(run, status, end=end, checkpoint=cp, step=step)


def stop(run: RunDir, timeout: float, *, now: bool = False) -> tuple[StopSent, Stopped | None]:
    """:func:`send_stop`, then :func:`wait_stopped` when a process was signalled."""
    sent = send_stop(run, now=now)
    return sent, (wait_stopped(sent, timeout) if sent.pid is not None else None)


def wait_for_end(run: RunDir, offset: int, timeout: float) -> tuple[dict[str, Any] | None, str | None]:
    """The ``end`` event written after ``offset`` (and the last checkpoint event), waiting up to ``timeout`` s while
    the run's process lives."""
    from ft_tui.runner.follow import process_alive

    deadline = time.monotonic() + timeout
    model = RunModel()
    while True:
        events, offset = read_events(run.events_path, offset)
        model.ingest(events)
        if model.end is None and (not process_alive(run) or time.monotonic() >= deadline):
            events, offset = read_events(run.events_path, offset)  # what it wrote just before it exited
            model.ingest(events)
            break
        if model.end is not None:
            break
        time.sleep(0.2)
    return (dict(model.end) if model.end else None), (model.checkpoints[-1].path if model.checkpoints else None)


# ----------------------------------------------------------------------------------------------------------------
# Resume
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class Resumed:
    """A run started again with ``--resume``: from ``checkpoint`` (None: from the start), on ``nproc`` processes.
    ``warnings``: no complete checkpoint (it starts over), fewer GPUs than it was launched on (the effective batch
    changes)."""

    run: RunDir
    checkpoint: Path | None
    nproc: int
    pid: int
    warnings: list = field(default_factory=list)


#: How long resume waits for the lock of a worker that has ended but not yet exited.
EXITING_WORKER_WAIT_S = 30.0


def resume(run: RunDir) -> Resumed:
    """Check that ``run`` can be resumed, mark it starting and spawn the trainer with --resume (detached).

    Raises InputError (saying what to do instead) for a live, completed or never-started run.
    """
    check_same_host(run)
    # Read before the first try for the lock: a resume that wins the lock records "starting" and its count of
    # resumes only after taking it, so either shows here or differs later when another resume won the race.
    before = run.read_state()
    resumes = before.get("resumes")
    lock = run.claim_worker()  # held from this check to the worker's exit: a second resume finds it taken
    if lock is None and before.get("status") not in LIVE_STATUSES and run.status() not in LIVE_STATUSES:
        # The last worker wrote its own end (stopped, failed) but is still exiting, or a child it forked still
        # holds its descriptor for a moment: wait for it rather than call the run running. A recorded "starting"
        # or "running" under a taken lock is another launch that has not yet recorded its pid (a killed worker's
        # lock went with it): refused at once, as is a resume that finds the count moved on after waiting.
        lock = run.claim_worker(wait=EXITING_WORKER_WAIT_S)
        if lock is not None and run.read_state().get("resumes") != resumes:
            os.close(lock)
            lock = None
    if lock is None:
        status = run.status()
        what = Msg("run_still_live", id=run.id, status=status_word(status)) if status in LIVE_STATUSES else \
            Msg("run_already_running", id=run.id)
        raise InputError(what, hint=Msg("hint_run_attach_or_stop", id=run.id))
    try:
        return _resume_holding(run, lock)
    except BaseException:
        with contextlib.suppress(OSError):  # spawn_worker closed it already if it got that far
            os.close(lock)
        raise


def _resume_holding(run: RunDir, lock: int) -> Resumed:
    status = run.status()
    if status in LIVE_STATUSES:
        raise InputError(Msg("run_still_live", id=run.id, status=status_word(status)),
                         hint=Msg("hint_run_attach_or_stop", id=run.id))
    if status == COMPLETED:
        raise InputError(Msg("run_complete", id=run.id), hint=Msg("hint_run_complete", config=str(run.config_path)))
    if status not in RESUMABLE:
        raise InputError(Msg("run_not_resumable", id=run.id, status=status_word(status), hint=status_hint(run, status)))
    if not run.config_path.exists():
        raise InputError(Msg("run_no_config", id=run.id), file=str(run.config_path))
    state = run.read_state()
    nproc = int(state.get("nproc") or 1)
    point = resume_point(run)  # the worker makes the same choice: it checks the same files
    cp = point.path
    warnings: list[Any] = [Msg("resume_checkpoint_skipped", checkpoint=p.name, problem=why) for p, why in point.skipped]
    if cp is None:
        warnings.append(Msg("resume_no_checkpoint", id=run.id))
    run.write_state(status=STARTING, resumes=int(state.get("resumes") or 0) + 1, ended=None, exit_code=None,
                    error=None, stop_requested=None)
    visible = max(1, visible_gpu_count())
    if nproc > visible:
        warnings.append(Msg("resume_fewer_gpus", nproc=nproc, visible=visible))
        nproc = visible
    pid = _launch.spawn_worker(run, resume=True, nproc=nproc, worker_lock=lock)  # closes the lock here
    return Resumed(run, cp, nproc, pid, warnings)


# ----------------------------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class Exported:
    """Where the export went, and the notable choices it made (one line each)."""

    path: Path
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    serve: list = field(default_factory=list)  # how to serve it with vLLM / transformers (runner/serve.py)


def export(run: RunDir, *, merge: bool = False, out: str | Path | None = None, dtype: str | None = None,
           checkpoint: int | None = None, report: Callable[[str], None] | None = None) -> Exported:
    """Export a run that has ended: its adapter, or with ``merge`` the merged model. ``report`` also receives each
    note as it is made (a long merge is not silent)."""
    status = run.status()
    if status in LIVE_STATUSES:
        raise InputError(Msg("run_still_live", id=run.id, status=status_word(status)), hint=Msg("hint_run_export_later"))
    from ft_tui.runner.export import export_run

    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        if report is not None:
            report(text)

    path = export_run(run.path, merge=merge, out=out, dtype=dtype, checkpoint=checkpoint, report=note)
    from ft_tui.runner.serve import serve_lines

    return Exported(Path(path), notes, serve=serve_lines(path, run_config=run.config_path))


# ----------------------------------------------------------------------------------------------------------------
# Remove
# ----------------------------------------------------------------------------------------------------------------

def check_removable(runs: list[RunDir]) -> None:
    """Refuse (InputError) when any of ``runs`` is live: nothing is removed then."""
    for run in runs:
        status = run.status()
        if status in LIVE_STATUSES:
            raise InputError(Msg("run_still_live", id=run.id, status=status_word(status)),
                             hint=Msg("hint_run_stop_before_rm", id=run.id))


def remove_runs(runs: list[RunDir]) -> list[RunDir]:
    """Delete the run directories of ``runs`` (checkpoints, logs, everything in them) and their index entries,
    after :func:`check_removable`; a live run is refused and then nothing is removed. Returns the runs removed."""
    import shutil

    from ft_tui.runner.rundir import unregister_runs

    check_removable(runs)
    removed: list[RunDir] = []
    for run in runs:
        if run.path.is_dir():
            try:
                shutil.rmtree(run.path)
            except OSError as exc:
                unregister_runs([r.path for r in removed])
                raise InputError(Msg("run_rm_failed", id=run.id, error=str(exc)), file=str(run.path)) from None
        removed.append(run)
    unregister_runs([r.path for r in removed])
    return removed


__all__ = [
    "Checked", "DryRun", "Exported", "Launched", "PlanChange", "Planned", "Resumed", "StopSent",
    "Stopped", "apply_plan", "check", "check_datasets", "check_model", "check_rows", "check_same_host",
    "check_removable", "choose_nproc", "dry_run", "export", "launch", "load_checked", "plan", "launch_line", "prepare_launch", "remove_runs", "resume", "send_stop",
    "signal_run", "status_hint", "stop", "training_begun", "visible_gpu_count", "wait_for_end", "wait_stopped",
]
