"""Run directories, their status, and the run index.

A run lives in one directory::

    config.yaml    the resolved config that was launched (secrets redacted)
    plan.json      the planner's estimate at launch
    state.json     pid, status, exit code, timestamps; replaced atomically, updated under .state.lock
    events.jsonl   one JSON object per line, appended and flushed per line
    train.log      the trainer's stdout and stderr
    launch.txt     the exact command line that started the trainer
    oom/rank-N.json   in a multi-process run, the out-of-memory record of rank N for the supervisor (see
                   ``supervise.py``); cleared before every attempt
    checkpoint-N/  Trainer checkpoints; complete once they hold COMPLETE_MARKER
    adapter/ or model/   the final result

The events (their schema, writer, reader and the fold of them into a run's state) are ``events.py``. A run whose
process is gone without an ``end`` event is reported as ``interrupted``: the
process is the trainer (``state.json`` ``pid``) or, in a multi-process run, the supervisor that relaunches it after
an out-of-memory back-off (``supervisor_pid``), which is alive between attempts while no trainer is.

Torch-free: the CLI and the TUI import this module.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import state_dir
from ft_tui.runner.events import RunState, fold, read_events
from ft_tui.runner.status import COMPLETED, INTERRUPTED, LIVE_STATUSES, RUNNING, UNKNOWN

COMPLETE_MARKER = ".ft-tui-complete"
#: A Trainer checkpoint's folder name, ``checkpoint-N``.
CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")

CONFIG_FILE = "config.yaml"
PLAN_FILE = "plan.json"
STATE_FILE = "state.json"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "train.log"
LAUNCH_FILE = "launch.txt"
STATE_LOCK_FILE = ".state.lock"
WORKER_LOCK_FILE = ".worker.lock"  # held (flock) by whoever launches a worker, then by the worker until it exits
OOM_DIR = "oom"

# ----------------------------------------------------------------------------------------------------------------
# Small file helpers
# ----------------------------------------------------------------------------------------------------------------

def atomic_write_text(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` so that readers see either the old or the new file, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, NotADirectoryError):
        return default


# ----------------------------------------------------------------------------------------------------------------
# Process liveness
# ----------------------------------------------------------------------------------------------------------------

def process_start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (Linux), to tell a reused pid from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int | None, start_ticks: int | None = None) -> bool:
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rfind(")") + 2:].split()[0] == "Z":
            return False
    except OSError:
        pass
    if start_ticks is not None:
        now = process_start_ticks(pid)
        if now is not None and now != start_ticks:
            return False
    return True


# ----------------------------------------------------------------------------------------------------------------
# Run directory
# ----------------------------------------------------------------------------------------------------------------

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def make_run_id(model: str, method: str, when: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when or time.time()))
    short = Path(str(model).rstrip("/")).name or "model"
    short = _SLUG.sub("-", short).strip("-")[:40] or "model"
    return f"{stamp}-{short}-{method}"


@dataclass
class RunDir:
    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path).resolve()

    @property
    def id(self) -> str:
        return self.path.name

    config_path = property(lambda self: self.path / CONFIG_FILE)
    plan_path = property(lambda self: self.path / PLAN_FILE)
    state_path = property(lambda self: self.path / STATE_FILE)
    events_path = property(lambda self: self.path / EVENTS_FILE)
    log_path = property(lambda self: self.path / LOG_FILE)
    launch_path = property(lambda self: self.path / LAUNCH_FILE)

    @classmethod
    def create(cls, path: Path | str) -> RunDir:
        p = Path(path)
        if p.exists() and any(p.iterdir()):
            raise InputError(Msg("run_dir_not_empty", path=str(p)), hint=Msg("hint_run_dir_not_empty"))
        p.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(p, 0o700)
        return cls(p)

    # state ---------------------------------------------------------------------------------------------------
    def read_state(self) -> dict[str, Any]:
        """state.json as a dict; ``{}`` when it is missing or damaged (:meth:`state_problem` says which)."""
        state = read_json(self.state_path, default={})
        return state if isinstance(state, dict) else {}

    def state_problem(self) -> Msg | None:
        """What is wrong with state.json (missing, not JSON, not a JSON object, no status), naming the file; or
        None when it is sound."""
        path = str(self.state_path)
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return Msg("state_missing", path=path)
        except OSError as exc:
            return Msg("state_unreadable", path=path, error=exc.strerror or str(exc))
        try:
            state = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return Msg("state_not_json", path=path)
        if not isinstance(state, dict):
            return Msg("state_not_object", path=path, kind=type(state).__name__)
        if not isinstance(state.get("status"), str):
            return Msg("state_no_status", path=path)
        return None

    def event_worker(self, run: RunState | None = None) -> tuple[int, int | None] | None:
        """``(pid, start ticks)`` of the worker of the latest attempt, from its ``start`` event, when that worker is
        alive on this machine and has written no ``end`` since; else None. Finds a live worker even when
        state.json is damaged or gone. ``run``: the events folded so far (read from the file when None)."""
        view = fold(self.events()) if run is None else run
        ev = view.start if view.end is None else None
        if ev is None:
            return None
        pid, start = ev.get("pid"), ev.get("pid_start")
        if not isinstance(pid, int) or (ev.get("host") and ev.get("host") != socket.gethostname()):
            return None
        start = start if isinstance(start, int) else None
        return (pid, start) if pid_alive(pid, start) else None

    def write_state(self, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into state.json (read, update and replace under the state lock); the new state."""
        return self.update_state(lambda state: changes)

    def update_state(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any]:
        """Merge ``change(current_state)`` into state.json as one step; returns the new state.

        The launcher and the trainer both update state.json, and a trainer that is stopped at once writes its
        end within a fraction of a second of being spawned, while the launcher is still recording the pid: the
        read-modify-write runs under an exclusive ``flock`` on :data:`STATE_LOCK_FILE`, so neither update is
        lost. ``change`` may return None for "no change" (the ``updated`` time is still refreshed).
        """
        with self._state_lock():
            state = self.read_state()
            state.update(change(dict(state)) or {})
            state["updated"] = time.time()
            atomic_write_json(self.state_path, state)
            return state

    def claim_worker(self, wait: float = 0.0) -> int | None:
        """Take the run's worker lock (an exclusive ``flock`` on :data:`WORKER_LOCK_FILE`, not blocking); the open
        descriptor, or None when a worker of this run (or a launch of one) holds it. The launcher passes the
        descriptor to the worker, which keeps it until it exits: one run has at most one worker, ever."""
        fd = os.open(self.path / WORKER_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait  # ``wait``: seconds to retry while a worker that has ended still exits
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.1)

    @contextmanager
    def _state_lock(self) -> Iterator[None]:
        fd = os.open(self.path / STATE_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.events_path)[0]

    # out-of-memory records (multi-process runs) ------------------------------------------------------------
    @property
    def oom_path(self) -> Path:
        return self.path / OOM_DIR

    def write_oom_record(self, rank: int, **fields: Any) -> Path:
        """Record that ``rank`` ran out of memory (``oom/rank-N.json``, written atomically by that rank alone).

        The ranks of a multi-process run never share a writer: each writes its own file, and the supervisor reads
        them once the launcher has exited.
        """
        self.oom_path.mkdir(mode=0o700, exist_ok=True)
        path = self.oom_path / f"rank-{int(rank)}.json"
        atomic_write_json(path, {"rank": int(rank), "time": time.time(), **fields})
        return path

    def oom_records(self) -> list[dict[str, Any]]:
        """The out-of-memory records of the current attempt, by rank (unreadable files are skipped)."""
        records = []
        for path in self.oom_path.glob("rank-*.json"):
            data = read_json(path)
            if isinstance(data, dict) and isinstance(data.get("rank"), int):
                records.append(data)
        return sorted(records, key=lambda r: r["rank"])

    def clear_oom_records(self) -> None:
        for path in self.oom_path.glob("rank-*.json"):
            path.unlink(missing_ok=True)

    # checkpoints ---------------------------------------------------------------------------------------------
    def checkpoints(self, *, complete_only: bool = True) -> list[tuple[int, Path]]:
        out = []
        for p in self.path.glob("checkpoint-*"):
            m = CHECKPOINT_NAME.fullmatch(p.name)
            if m and p.is_dir() and (not complete_only or is_complete_checkpoint(p)):
                out.append((int(m.group(1)), p))
        return sorted(out)

    def latest_checkpoint(self) -> Path | None:
        cps = self.checkpoints()
        return cps[-1][1] if cps else None

    # status --------------------------------------------------------------------------------------------------
    def status(self, run: RunState | None = None) -> str:
        """The status a user should see: the stored one, the current attempt's ``end``, or ``interrupted`` when
        the process is gone. ``run``: the events folded so far (read from the file when None)."""
        state = self.read_state()
        status = state.get("status", UNKNOWN)
        if not isinstance(status, str):
            status = UNKNOWN
        view = fold(self.events()) if run is None else run
        if status == UNKNOWN and self.event_worker(view) is not None:
            return RUNNING  # state.json is damaged or gone, but the worker its events name trains on
        if status not in LIVE_STATUSES:
            return status
        # An end event written before the latest launch belongs to the previous attempt of a resumed run.
        end = view.current_end(state.get("launched"))
        if end is not None:
            return str(end.get("status") or COMPLETED)
        host = state.get("host")
        if host and host != socket.gethostname():
            return status  # cannot check a process on another machine
        if run_process_alive(state):
            return status
        return INTERRUPTED


def stop_asked_since(state: dict[str, Any], since: Any) -> bool:
    """Whether ``ft-tui stop`` recorded a stop (state.json ``stop_requested``) at or after ``since`` (an attempt's
    launch time; None: at any time)."""
    asked = state.get("stop_requested")
    if not isinstance(asked, (int, float)):
        return False
    return not isinstance(since, (int, float)) or asked >= since


# The processes a live run has on this machine: the trainer (rank 0), the process ft-tui started (the trainer itself
# or, for several processes, the supervisor; it is the only one before the trainer writes its pid) and the
# supervisor of a multi-process run.
RUN_PROCESSES = (("pid", "pid_start"), ("launcher_pid", "launcher_start"), ("supervisor_pid", "supervisor_start"))


def run_process_alive(state: Mapping[str, Any]) -> bool:
    """Whether any process of the run (:data:`RUN_PROCESSES`) is alive.

    The supervisor outlives every attempt of its run: between an out-of-memory exit and the relaunch no trainer
    runs, yet the run is live.
    """
    return any(pid_alive(state.get(pid_key), state.get(start_key)) for pid_key, start_key in RUN_PROCESSES)


def is_complete_checkpoint(path: Path) -> bool:
    """A checkpoint counts only once the trainer's callback has marked it complete on disk."""
    return (Path(path) / COMPLETE_MARKER).exists()


# ----------------------------------------------------------------------------------------------------------------
# Summaries and the index
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class RunSummary:
    """One run as ``ft-tui runs`` (``--json``: :meth:`to_dict`) and the runs screen list it."""

    id: str
    path: str
    status: str
    model: str | None = None
    method: str | None = None
    step: int = 0
    total_steps: int | None = None
    loss: float | None = None
    started: float | None = None
    ended: float | None = None
    eta_s: float | None = None
    tokens_per_s: float | None = None
    gpu_mem_reserved_gib: float | None = None
    gpu_mem_allocated_gib: float | None = None
    planned: dict[str, Any] | None = None         # the end event's memory record (runner/history.py): the plan's
    measured: list[dict[str, Any]] | None = None  # peak, and each rank's GPU measurement (None on a CPU run)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        d.update(self.extra)
        return d


def summarize(run: RunDir) -> RunSummary:
    """The run's state from its events (the one fold) and state.json."""
    state = run.read_state()
    view = fold(run.events())
    status = run.status(view)
    end = view.end or {}
    return RunSummary(
        id=run.id, path=str(run.path), status=status, model=state.get("model"), method=state.get("method"),
        step=view.step, total_steps=view.total_steps or state.get("total_steps"), loss=view.loss,
        started=state.get("started") or state.get("created"), ended=state.get("ended"),
        eta_s=view.eta_s if status in LIVE_STATUSES else None, tokens_per_s=view.tokens_per_s,
        gpu_mem_reserved_gib=view.gpu_mem_reserved_gib, gpu_mem_allocated_gib=view.gpu_mem_allocated_gib,
        planned=end.get("planned") if isinstance(end.get("planned"), dict) else None,
        measured=end.get("measured") if isinstance(end.get("measured"), list) else None,
    )


def index_path() -> Path:
    return state_dir() / "runs.jsonl"


def register_run(run: RunDir) -> None:
    """Add a run to the user's index (append-only; readers de-duplicate and drop runs that are gone)."""
    idx = index_path()
    idx.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps({"id": run.id, "path": str(run.path), "added": time.time()})
    fd = os.open(idx, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def unregister_runs(paths: Iterator[Path] | list[Path]) -> None:
    """Drop the runs at ``paths`` from the user's index (the file is rewritten whole, atomically)."""
    gone = {str(Path(p)) for p in paths}
    idx = index_path()
    try:
        lines = idx.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    kept = []
    for raw in lines:
        try:
            if str(Path(json.loads(raw)["path"])) in gone:
                continue
        except (json.JSONDecodeError, KeyError, TypeError):
            pass
        kept.append(raw)
    tmp = idx.with_name(idx.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in kept))
    os.replace(tmp, idx)


def indexed_runs() -> list[RunDir]:
    """Runs in the index whose directory still holds a state.json or events, oldest first, each once."""
    seen: dict[str, float] = {}
    try:
        lines = index_path().read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for raw in lines:
        try:
            entry = json.loads(raw)
            path = str(entry["path"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        if path not in seen:
            seen[path] = float(entry.get("added", 0))
    runs = [RunDir(Path(p)) for p, _ in sorted(seen.items(), key=lambda kv: kv[1])]
    # a run whose state.json is gone but whose events remain is still listed (with what is wrong)
    return [r for r in runs if r.state_path.exists() or r.events_path.exists()]


def find_run(ref: str) -> RunDir:
    """A run by directory path, id, or unique id prefix."""
    p = Path(ref).expanduser()
    if (p / STATE_FILE).exists() or RunDir(p).events_path.exists():  # state.json may be gone: events remain
        return RunDir(p)
    runs = indexed_runs()
    exact = [r for r in runs if r.id == ref]
    if exact:
        return exact[-1]
    prefix = [r for r in runs if r.id.startswith(ref)]
    if len(prefix) == 1:
        return prefix[0]
    if len(prefix) > 1:
        raise InputError(Msg("run_ref_ambiguous", ref=ref, ids=Msg.join([r.id for r in prefix[:5]], "list")),
                         hint=Msg("hint_run_ref_ambiguous"))
    raise InputError(Msg("run_ref_unknown", ref=ref), hint=Msg("hint_runs_list"))
