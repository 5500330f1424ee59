"""Start the trainer as a detached process, and build the launch line for one or several GPUs.

The trainer (``python -m ft_tui.runner.worker RUN_DIR [--resume]``) runs in its own session with stdin from
/dev/null and stdout/stderr appended to ``train.log`` (never a pipe: nobody may have to drain it), so it survives
the terminal, the TUI and the SSH session that started it. Progress goes through ``events.jsonl``.

With several GPUs the same entry point runs under ``torchrun`` (DDP), or ``accelerate launch`` with an FSDP config
when the planner chose FSDP. :func:`launch_command` builds that argv; :func:`multinode_command` the form a cluster
scheduler (SLURM, SkyPilot, Kubernetes) runs on every node, reading the topology from ``$NNODES``, ``$NODE_RANK``,
``$MASTER_ADDR`` and ``$MASTER_PORT``.

A multi-process launch line is not started directly: :func:`spawn_worker` starts the ft-tui supervisor
(``python -m ft_tui.runner.supervise RUN_DIR -- LAUNCH_LINE``), which runs that exact line and relaunches it with
``--resume`` after an out-of-memory back-off (see ``supervise.py``). launch.txt and ``--print-launch`` still show
the real torchrun / accelerate line, the one a user or a scheduler runs (without a supervisor, and so without the
automatic back-off).

A single-process trainer, like the supervisor, is started with SIGTERM and SIGINT blocked (the signal mask is
inherited across fork and exec); it unblocks them as the first thing it does, right after installing its stop
handler. A stop sent at any moment after the spawn, even while the interpreter is still starting, is therefore held
pending by the kernel and delivered to that handler instead of killing the process, and the run ends ``stopped``,
never ``interrupted``. Launchers (torchrun, accelerate) are started with the signals unblocked: they must react to
them themselves.

Torch-free at import time: the CLI and the TUI import this module.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from ft_tui.planner.config import TrainConfig, dump_config
from ft_tui.planner.errors import InputError
from ft_tui.planner.memory import ASSUMED_ALLOC_CONF
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import is_local_model_ref
from ft_tui.runner.rundir import (
    RunDir,
    atomic_write_json,
    atomic_write_text,
    make_run_id,
    process_start_ticks,
    register_run,
)
from ft_tui.runner.signals import stop_signals_blocked

WORKER_MODULE = "ft_tui.runner.worker"
#: The supervisor of multi-process runs (``supervise.py``), started in place of the launch line it runs.
SUPERVISOR_MODULE = "ft_tui.runner.supervise"
#: Test hook: a Python script that stands in for the worker (``python SCRIPT RUN_DIR [--resume]``).
WORKER_OVERRIDE_ENV = "FT_TUI_WORKER"
ACCELERATE_CONFIG_FILE = "accelerate_fsdp.yaml"

#: Environment for the trainer: no progress bars (they would fill train.log with carriage returns), unbuffered
#: output so train.log is current when a user tails it.
CHILD_ENV = {
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "PYTHONUNBUFFERED": "1",
}

# Popen objects of the workers this process started, kept so they are reaped (no zombies) and their exit codes
# can be read; a detached run simply outlives them.
_CHILDREN: dict[int, subprocess.Popen] = {}


# ----------------------------------------------------------------------------------------------------------------
# Preparing the run directory
# ----------------------------------------------------------------------------------------------------------------

def run_path_for(cfg: TrainConfig, run_id: str) -> Path:
    """Where a new run lives: ``output_dir`` (relative to the config file's folder) or ``./runs/<id>``."""
    if cfg.output_dir:
        return cfg.resolve_path(cfg.output_dir).resolve()
    return (Path.cwd() / "runs" / run_id).resolve()


def resolved_config(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with a local model path and ``dataset_dir`` made absolute, so the run does not depend on a cwd."""
    changes: dict[str, Any] = {}
    model = cfg.model_name_or_path
    if model and is_local_model_ref(model, cfg.base_dir):
        changes["model_name_or_path"] = str(cfg.resolve_path(model).resolve())
    if cfg.dataset_dir:
        changes["dataset_dir"] = str(cfg.resolve_path(cfg.dataset_dir).resolve())
    if not changes:
        return cfg
    return cfg.replace(**changes)


def new_run_path(cfg: TrainConfig) -> Path:
    """The directory a run of ``cfg`` started now gets: ``output_dir``, else ``./runs/<id>`` (numbered when a run
    of the same second has it already). Nothing is created."""
    run_id = make_run_id(cfg.model_name_or_path or "model", cfg.finetuning_type)
    path = run_path_for(cfg, run_id)
    if not cfg.output_dir:
        # Two runs started in the same second get the same id: number the later ones.
        n = 2
        while path.exists():
            path = path.with_name(f"{run_id}-{n}")
            n += 1
    return path


def plan_record(plan_dict: Mapping[str, Any] | None, hw: Any = None) -> dict[str, Any]:
    """What plan.json holds: the plan, with the hardware target for provenance when the plan does not hold it."""
    plan = dict(plan_dict or {})
    if hw is not None and "hardware" not in plan:
        plan["hardware"] = _as_dict(hw)
    return plan


def prepare_run(cfg: TrainConfig, plan_dict: Mapping[str, Any] | None, *, hw: Any = None) -> RunDir:
    """Create the run directory with config.yaml, plan.json and state.json, and register it in the run index.

    ``cfg`` should already carry the planner's choices; ``hw`` (a HardwareTarget or a dict) is recorded in
    plan.json for provenance when the plan does not hold it already.
    """
    run = RunDir.create(new_run_path(cfg))
    final_cfg = resolved_config(cfg)
    atomic_write_text(run.config_path, dump_config(final_cfg))
    atomic_write_json(run.plan_path, plan_record(plan_dict, hw))
    run.write_state(status="starting", id=run.id, model=final_cfg.model_name_or_path,
                    method=final_cfg.finetuning_type, host=socket.gethostname(), created=time.time(),
                    config_source=str(Path(cfg.source).resolve()) if cfg.source else None)
    register_run(run)
    return run


def _as_dict(obj: Any) -> Any:
    if obj is None or isinstance(obj, (dict, list, str, int, float, bool)):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    import dataclasses

    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    return str(obj)


# ----------------------------------------------------------------------------------------------------------------
# Launch lines
# ----------------------------------------------------------------------------------------------------------------

def _bin(name: str) -> str:
    """A console script of this Python environment (the venv's torchrun), else the bare name from PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def worker_argv(run: RunDir, *, resume: bool = False) -> list[str]:
    """The single-process command: ``python -m ft_tui.runner.worker RUN_DIR [--resume]``.

    ``$FT_TUI_WORKER`` (a script path) replaces the module; the tests use it to run a stand-in worker.
    """
    override = os.environ.get(WORKER_OVERRIDE_ENV)
    head = [sys.executable, override] if override else [sys.executable, "-m", WORKER_MODULE]
    return head + [str(run.path)] + (["--resume"] if resume else [])


def plan_strategy(plan: Mapping[str, Any] | None) -> str:
    """The multi-GPU strategy the plan chose (``ddp``, ``fsdp``, ``deepspeed``...), ``ddp`` when it names none."""
    plan = plan or {}
    for holder in (plan, plan.get("estimate") or {}, plan.get("hardware") or {}, plan.get("config") or {}):
        if isinstance(holder, Mapping):
            value = holder.get("strategy") or holder.get("multi_gpu_strategy")
            if isinstance(value, str) and value:
                return value.lower()
    return "ddp"


def _mixed_precision(run: RunDir) -> str:
    text = run.config_path.read_text(encoding="utf-8") if run.config_path.exists() else ""
    if re.search(r"^bf16:\s*true\s*$", text, re.M):
        return "bf16"
    if re.search(r"^fp16:\s*true\s*$", text, re.M):
        return "fp16"
    return "no"


def write_accelerate_config(run: RunDir, nproc: int, nnodes: int | str = 1) -> Path:
    """Write an accelerate FSDP config (FSDP1, full shard, transformer-layer wrapping) into the run directory.

    ``fsdp_use_orig_params: false`` and ``fsdp_cpu_ram_efficient_loading: true`` follow the peft guide for
    FSDP + (Q)LoRA; the runner sets ``bnb_4bit_quant_storage`` to the compute dtype for the 4-bit case.
    """
    machines = nnodes if isinstance(nnodes, int) else 1
    lines = [
        "# written by ft-tui for `accelerate launch`; edit freely, ft-tui reads it only at launch",
        "compute_environment: LOCAL_MACHINE",
        "distributed_type: FSDP",
        f"mixed_precision: {_mixed_precision(run)}",
        f"num_machines: {machines}",
        f"num_processes: {nproc * machines}",
        "machine_rank: 0",
        "rdzv_backend: static",
        "same_network: true",
        "use_cpu: false",
        "fsdp_config:",
        "  fsdp_version: 1",
        "  fsdp_reshard_after_forward: FULL_SHARD",
        "  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP",
        "  fsdp_backward_prefetch: BACKWARD_PRE",
        "  fsdp_forward_prefetch: false",
        "  fsdp_offload_params: false",
        "  fsdp_state_dict_type: SHARDED_STATE_DICT",
        "  fsdp_cpu_ram_efficient_loading: true",
        "  fsdp_sync_module_states: true",
        "  fsdp_use_orig_params: false",
        "",
    ]
    path = run.path / ACCELERATE_CONFIG_FILE
    atomic_write_text(path, "\n".join(lines))
    return path


def accelerate_available() -> bool:
    return importlib.util.find_spec("accelerate") is not None


def launch_command(run: RunDir, nproc: int, nnodes: int | str = 1, *, resume: bool = False,
                   strategy: str | None = None, write: bool = True) -> list[str]:
    """The argv that starts the trainer on ``nproc`` processes per node (and ``nnodes`` nodes).

    - one process on one node: ``python -m ft_tui.runner.worker RUN_DIR``;
    - several GPUs, DDP: ``torchrun --standalone --nproc_per_node N -m ft_tui.runner.worker RUN_DIR``;
    - FSDP (and accelerate installed): ``accelerate launch --config_file RUN_DIR/accelerate_fsdp.yaml ...``;
    - several nodes: the rendezvous comes from ``$NNODES``/``$NODE_RANK``/``$MASTER_ADDR``/``$MASTER_PORT``
      (pass ``nnodes="$NNODES"`` for the scheduler template, see :func:`multinode_command`).

    ``write=False`` (``--print-launch``, which leaves nothing behind): the accelerate config is named, not written.
    """
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    multinode = nnodes != 1
    tail = ["-m", WORKER_MODULE, str(run.path)] + (["--resume"] if resume else [])
    if nproc == 1 and not multinode:
        return worker_argv(run, resume=resume)
    strategy = strategy or plan_strategy(_read_plan(run))
    if strategy == "fsdp" and accelerate_available():
        cfg_path = write_accelerate_config(run, nproc, nnodes) if write else run.path / ACCELERATE_CONFIG_FILE
        argv = [_bin("accelerate"), "launch", "--config_file", str(cfg_path)]
        if multinode:
            total = str(nproc * nnodes) if isinstance(nnodes, int) else f"$(({_var(nnodes)}*{nproc}))"
            argv += ["--num_machines", str(nnodes), "--num_processes", total, "--machine_rank", "$NODE_RANK",
                     "--main_process_ip", "$MASTER_ADDR", "--main_process_port", "$MASTER_PORT"]
        else:
            argv += ["--num_processes", str(nproc)]
        return argv + tail
    torchrun = _bin("torchrun")
    argv = [torchrun] if torchrun != "torchrun" or shutil.which("torchrun") else \
        [sys.executable, "-m", "torch.distributed.run"]
    if multinode:
        argv += ["--nnodes", str(nnodes), "--node_rank", "$NODE_RANK", "--nproc_per_node", str(nproc),
                 "--rdzv_endpoint", "$MASTER_ADDR:$MASTER_PORT"]
    else:
        argv += ["--standalone", "--nproc_per_node", str(nproc)]
    return argv + tail


def multinode_command(run: RunDir, nproc: int, *, strategy: str | None = None, write: bool = True) -> list[str]:
    """The per-node command for a cluster scheduler; it reads the topology from the environment at run time."""
    return launch_command(run, nproc, "$NNODES", strategy=strategy, write=write)


def _var(token: str) -> str:
    return token[1:] if token.startswith("$") else token


def _read_plan(run: RunDir) -> dict[str, Any]:
    from ft_tui.runner.rundir import read_json

    return read_json(run.plan_path, default={}) or {}


_ENV_TOKEN = re.compile(r"^(\$[A-Z_][A-Z0-9_]*|\$\(\([A-Z0-9_*+ ]+\)\))(:\$[A-Z_][A-Z0-9_]*)?$")


def format_command(argv: Sequence[str]) -> str:
    """A shell line for ``argv``; ``$VAR`` tokens stay unquoted so a scheduler's shell expands them."""
    return " ".join(a if _ENV_TOKEN.match(a) else shlex.quote(a) for a in argv)


# ----------------------------------------------------------------------------------------------------------------
# Spawning
# ----------------------------------------------------------------------------------------------------------------

#: PyTorch's allocator settings, by the name it reads first and the older CUDA-only name.
ALLOC_CONF_VARS = ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF")


def allocator_env(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Set ``PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`` in ``env`` unless the user set an allocator setting.

    With the default allocator, batches of varying length (every unpacked run) leave the reserved pool growing well
    past the allocated peak; expandable segments map more memory into the same segment instead. The planner's
    reserved-memory margin assumes this setting (``planner.memory.ASSUMED_ALLOC_CONF``). Returns ``env``."""
    if not any(env.get(name, "").strip() for name in ALLOC_CONF_VARS):
        env["PYTORCH_CUDA_ALLOC_CONF"] = ASSUMED_ALLOC_CONF
    return env


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The trainer's environment: ours plus :data:`CHILD_ENV`, PCI bus order so NVML and CUDA agree, and the
    allocator setting the planner assumes (:func:`allocator_env`)."""
    env = dict(os.environ if base is None else base)
    env.update(CHILD_ENV)
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    allocator_env(env)
    return env


def supervisor_argv(run: RunDir, launch_argv: Sequence[str]) -> list[str]:
    """The command that runs ``launch_argv`` under a supervisor for ``run``."""
    return [sys.executable, "-m", SUPERVISOR_MODULE, str(run.path), "--", *launch_argv]


def spawn_worker(run: RunDir, *, resume: bool = False, nproc: int = 1, argv: Sequence[str] | None = None,
                 supervise: bool | None = None, worker_lock: int | None = None) -> int:
    """Start the trainer detached from this process and terminal; return the pid of the process started.

    The child gets its own session (a Ctrl+C or a closed SSH session does not reach it), stdin from /dev/null and
    stdout+stderr appended to train.log. ``argv`` replaces the command (tests); by default it is
    :func:`launch_command`. A multi-process command runs under the supervisor (``supervise``: default, when
    :func:`is_multiprocess_command`), whose pid is returned. The exact command line goes to launch.txt; state.json
    gets ``launched`` (before the spawn, so every event of this attempt is newer), ``launcher_pid`` (and ``pid``
    until the trainer writes its own). The worker module and the supervisor start with the stop signals blocked
    (see the module docstring).

    The run's worker lock (``worker_lock``: a descriptor from ``run.claim_worker()``, else taken here) passes to
    the child, which holds it until it exits; a run whose lock is held raises InputError (already running).
    """
    lock = worker_lock if worker_lock is not None else run.claim_worker()
    if lock is None:
        raise InputError(Msg("run_already_running", id=run.id), hint=Msg("hint_run_attach_or_stop", id=run.id))
    try:
        return _spawn_holding(run, lock, resume=resume, nproc=nproc, argv=argv, supervise=supervise)
    finally:
        os.close(lock)  # the child holds it from here


def _spawn_holding(run: RunDir, lock: int, *, resume: bool, nproc: int, argv: Sequence[str] | None,
                   supervise: bool | None) -> int:
    cmd = list(argv) if argv is not None else launch_command(run, nproc, resume=resume)
    supervised = is_multiprocess_command(cmd) if supervise is None else supervise
    spawned = supervisor_argv(run, cmd) if supervised else cmd
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    note = " (by the ft-tui supervisor, which relaunches it after an out-of-memory back-off)" if supervised else ""
    with open(run.launch_path, "a", encoding="utf-8") as fh:
        fh.write(f"# {stamp}{' resume' if resume else ''}{note}\n{format_command(cmd)}\n")
    run.write_state(launched=time.time(), nproc=nproc)
    log_fd = os.open(run.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        with stop_signals_blocked(blocks_stop_signals(spawned)), open(os.devnull, "rb") as devnull:
            proc = subprocess.Popen(spawned, stdin=devnull, stdout=log_fd, stderr=subprocess.STDOUT,
                                    cwd=str(run.path), env=child_env(), start_new_session=True,
                                    close_fds=True, pass_fds=(lock,))
    except OSError as exc:
        run.write_state(status="failed", ended=time.time(), error=f"could not start the trainer: {exc}")
        raise
    finally:
        os.close(log_fd)
    _CHILDREN[proc.pid] = proc
    start = process_start_ticks(proc.pid)

    def record(state: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {"launcher_pid": proc.pid, "launcher_start": start}
        if state.get("status", "starting") == "starting":  # the trainer has not written its own pid yet
            changes.update(pid=proc.pid, pid_start=start)
        return changes

    run.update_state(record)
    return proc.pid


def starts_worker_directly(cmd: Sequence[str]) -> bool:
    """Whether ``cmd`` runs the worker module itself (``python -m ft_tui.runner.worker ...``), not a launcher or
    a stand-in script: only the worker knows to unblock the stop signals it inherits."""
    return len(cmd) >= 3 and list(cmd[1:3]) == ["-m", WORKER_MODULE]


def blocks_stop_signals(cmd: Sequence[str]) -> bool:
    """Whether ``cmd`` may start with SIGTERM/SIGINT blocked: the worker and the supervisor unblock them."""
    return starts_worker_directly(cmd) or (len(cmd) >= 3 and list(cmd[1:3]) == ["-m", SUPERVISOR_MODULE])


def is_multiprocess_command(cmd: Sequence[str]) -> bool:
    """Whether ``cmd`` is a torchrun or accelerate launch line (as :func:`launch_command` builds them)."""
    if not cmd:
        return False
    name = Path(cmd[0]).name
    return name == "torchrun" or (name == "accelerate" and cmd[1:2] == ["launch"]) or \
        list(cmd[1:3]) == ["-m", "torch.distributed.run"]


def child_exit_code(pid: int | None) -> int | None:
    """The exit code of a worker this process started, once it has exited (None while running or unknown)."""
    proc = _CHILDREN.get(pid or -1)
    if proc is None:
        return None
    return proc.poll()


def wait_child(pid: int | None, timeout: float) -> int | None:
    """Wait up to ``timeout`` s for a worker this process started; its exit code, or None."""
    proc = _CHILDREN.get(pid or -1)
    if proc is None:
        return None
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
