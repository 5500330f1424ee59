"""Shared runner fixtures: the tiny demo kit, run directories, and ways to run the trainer process.

Generic on purpose (used by the worker, export, OOM, DDP and launcher tests): nothing here asserts anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ft_tui.planner.config import config_from_dict, dump_config
from ft_tui.runner.rundir import RunDir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ddp: multi-process (torchrun) trainer tests; run in the default suite")
    config.addinivalue_line("markers", "slow_runner: trains the tiny model in a subprocess")
    config.addinivalue_line("markers", "fault_matrix: kills the trainer at each phase (not in the default run; "
                                       "`pytest -m fault_matrix`, a step of its own in .ci/run)")


@pytest.fixture(scope="session")
def demo_kit(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny demo model + tokenizer, built once per test session into a temporary cache."""
    from ft_tui.runner.demo_kit import build_demo_kit

    return build_demo_kit("tiny", cache_dir=tmp_path_factory.mktemp("demo-kit-cache"))


def base_config(kit: Any, **overrides: Any) -> dict[str, Any]:
    """A config that trains the tiny model for a few steps on CPU in seconds."""
    cfg: dict[str, Any] = dict(
        model_name_or_path=str(kit.model_dir), dataset="demo_alpaca_en", dataset_dir=str(kit.dataset_dir),
        template="chatml", cutoff_len=128, max_samples=64, max_steps=6, per_device_train_batch_size=2,
        gradient_accumulation_steps=1, learning_rate=5e-3, lr_scheduler_type="constant", logging_steps=1,
        save_steps=2, finetuning_type="lora", lora_rank=4, seed=0,
    )
    cfg.update(overrides)
    return cfg


def make_run(root: Path, kit: Any, name: str = "run", **overrides: Any) -> RunDir:
    """A run directory as `ft-tui train` leaves it before starting the worker: config.yaml + state.json."""
    cfg = config_from_dict(base_config(kit, **overrides))
    run = RunDir.create(Path(root) / name)
    run.config_path.write_text(dump_config(cfg), encoding="utf-8")
    run.write_state(status="starting", created=time.time(), model=cfg.model_name_or_path,
                    method=cfg.finetuning_type, id=run.id)
    return run


@pytest.fixture
def new_run(tmp_path: Path, demo_kit: Any):
    """Factory: ``new_run(name="run", **config_overrides) -> RunDir``."""

    def factory(name: str = "run", **overrides: Any) -> RunDir:
        return make_run(tmp_path, demo_kit, name, **overrides)

    return factory


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as the user's state directory (the run index) and one CPU thread for the trainers started."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


def run_worker(run: RunDir, *args: str, env: dict[str, str] | None = None) -> int:
    """Run the trainer in this process (no signal handlers); returns its exit code."""
    from ft_tui.runner import worker

    saved_env = dict(os.environ)
    old_umask = os.umask(0o022)
    os.umask(old_umask)
    try:
        os.environ.update(env or {})
        return worker.main([str(run.path), *args], install_signals=False)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.umask(old_umask)


def worker_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TQDM_DISABLE="1", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env.update(extra)
    return env


FAULTS_DIR = Path(__file__).resolve().parent / "faults"


def fault_env(fault: str, log: Path, **extra: str) -> dict[str, str]:
    """:func:`worker_env` with the fault hook of ``faults/sitecustomize.py`` armed: ``fault`` is its
    ``FT_TUI_FAULT`` (e.g. ``kill:rmtree``); it records what it did in ``log``."""
    path = os.pathsep.join(p for p in (str(FAULTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return worker_env(PYTHONPATH=path, FT_TUI_FAULT=fault, FT_TUI_FAULT_LOG=str(log), **extra)


def spawn_worker(run: RunDir, *args: str, env: dict[str, str] | None = None,
                 torchrun_nproc: int | None = None) -> subprocess.Popen:
    """Start the trainer as `ft-tui train` does: own session, stdin /dev/null, output appended to train.log."""
    if torchrun_nproc:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun_nproc}",
               "-m", "ft_tui.runner.worker", str(run.path), *args]
    else:
        cmd = [sys.executable, "-m", "ft_tui.runner.worker", str(run.path), *args]
    log = open(run.log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env or worker_env(), start_new_session=True, cwd=str(ROOT))
    finally:
        log.close()


def resume_and_wait(run: RunDir, timeout: float = 180.0) -> tuple[Any, int | None]:
    """Resume ``run`` as `ft-tui resume --detach` does (``control.resume``) and wait for that trainer: (the
    ``Resumed`` result, its exit code; None when it ran past ``timeout``)."""
    from ft_tui.runner import control, launch

    resumed = control.resume(run)
    return resumed, launch.wait_child(resumed.pid, timeout)


def events_of(run: RunDir, type_: str | None = None) -> list[dict[str, Any]]:
    evs = run.events()
    return [e for e in evs if type_ is None or e["type"] == type_]


def wait_for(predicate, timeout: float = 60.0, poll: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(poll)
    return False


@pytest.fixture(scope="session")
def rt() -> Any:
    """The helpers above as one namespace (test modules cannot import conftest under --import-mode=importlib)."""
    from types import SimpleNamespace

    return SimpleNamespace(run_worker=run_worker, spawn_worker=spawn_worker, worker_env=worker_env,
                           fault_env=fault_env, resume_and_wait=resume_and_wait, events_of=events_of,
                           wait_for=wait_for, make_run=make_run, base_config=base_config)
