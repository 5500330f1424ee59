"""No work lost to a fault around a checkpoint (issue #19, items 1-3 and the full disk).

- The rotation (``save_total_limit``) is ft-tui's: the new checkpoint is marked before an old one is touched, an
  old one is unmarked before it is deleted (the SIGKILL cases at the exact moment are in test_fault_matrix.py).
- A damaged newest checkpoint (6 kinds of damage, made on a real Trainer checkpoint) is named with what is wrong,
  skipped and set aside; the resume continues from the one before it.
- A full disk while a checkpoint is saved fails the run with a message that names the partial checkpoint (removed)
  and the one kept, and a resume continues from the kept one.
- Two ``ft-tui stop`` 0.05 s apart save a checkpoint like one; only ``ft-tui stop --now`` skips it, and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ft_tui.planner.messages import Msg, event_message, render
from ft_tui.runner import checkpoints, control
from ft_tui.runner.checkpoints import checkpoint_problem, mark_complete, resume_point, rotate
from ft_tui.runner.events import fold
from ft_tui.runner.rundir import COMPLETE_MARKER, RunDir
from ft_tui.runner.stages import training_arguments

FT_TUI = str(Path(sys.executable).with_name("ft-tui"))


def _fake_checkpoint(run: RunDir, step: int, *, mark: bool = True) -> Path:
    path = run.path / f"checkpoint-{step}"
    path.mkdir()
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (path / "weights.txt").write_text("w" * step)
    if mark:
        mark_complete(path, step)
    return path


def _statuses(run: RunDir) -> list[str]:
    return [e.get("message", "") for e in run.events() if e["type"] == "status"]


# ---------------------------------------------------------------------------------------------------- rotation

def test_the_trainer_is_not_left_to_rotate(tmp_path: Path, demo_kit, rt) -> None:
    from ft_tui.planner.config import config_from_dict

    cfg = config_from_dict(rt.base_config(demo_kit, save_total_limit=1))
    args = training_arguments(cfg, output_dir=tmp_path, world_size=1, has_eval=False)
    assert args.save_total_limit is None  # its rotation deletes the old checkpoint before ours is marked


def test_rotation_keeps_the_newest_and_unmarks_before_deleting(tmp_path: Path, monkeypatch) -> None:
    run = RunDir.create(tmp_path / "run")
    for step in (2, 4):
        _fake_checkpoint(run, step)
    leftover = _fake_checkpoint(run, 3, mark=False)  # a save cut short earlier
    _fake_checkpoint(run, 6)
    seen: list[tuple[str, bool]] = []
    real_rmtree = shutil.rmtree

    def rmtree(path, *a, **k):
        seen.append((Path(path).name, (Path(path) / COMPLETE_MARKER).exists()))
        real_rmtree(path, *a, **k)

    monkeypatch.setattr(checkpoints.shutil, "rmtree", rmtree)
    removed = rotate(run, 1)
    assert [p.name for p in removed] == ["checkpoint-2", "checkpoint-3", "checkpoint-4"] and not leftover.exists()
    assert seen and all(not marked for _, marked in seen)  # never deleted while it still counts as complete
    assert [s for s, _ in run.checkpoints(complete_only=False)] == [6]
    assert rotate(run, None) == [] and rotate(run, 3) == []


# ---------------------------------------------------------------------------------------------------- damage

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, demo_kit, rt) -> RunDir:
    """A finished real run of the tiny model (in this process) with complete checkpoints at steps 2, 4 and 6."""
    run = rt.make_run(tmp_path_factory.mktemp("trained"), demo_kit, max_steps=6, save_steps=2)
    assert rt.run_worker(run) == 0
    assert [s for s, _ in run.checkpoints()] == [2, 4, 6]
    return run


def _copy(run: RunDir, dest: Path) -> RunDir:
    shutil.copytree(run.path, dest, symlinks=True)
    return RunDir(dest)


def _damage(path: Path, kind: str) -> str:
    """Damage the checkpoint at ``path`` one way; the file the problem must name."""
    if kind == "truncated optimizer":
        f = path / "optimizer.pt"
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
        return "optimizer.pt"
    if kind == "truncated model":
        f = path / "adapter_model.safetensors"
        f.write_bytes(f.read_bytes()[:-100])
        return "adapter_model.safetensors"
    if kind == "missing trainer state":
        (path / "trainer_state.json").unlink()
        return "trainer_state.json"
    if kind == "garbage RNG state":
        f = path / "rng_state.pth"
        f.write_bytes(os.urandom(f.stat().st_size))
        return "rng_state.pth"
    if kind == "scheduler edited":
        f = path / "scheduler.pt"
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0xFF
        f.write_bytes(bytes(data))
        return "scheduler.pt"
    if kind == "unreadable mark":
        (path / COMPLETE_MARKER).write_text("{not json")
        return ""
    raise AssertionError(kind)


DAMAGE = ["truncated optimizer", "truncated model", "missing trainer state", "garbage RNG state",
          "scheduler edited", "unreadable mark"]


def test_a_sound_checkpoint_has_no_problem_and_its_mark_lists_every_file(trained: RunDir) -> None:
    newest = trained.path / "checkpoint-6"
    assert checkpoint_problem(newest) is None
    files = json.loads((newest / COMPLETE_MARKER).read_text())["files"]
    assert {"optimizer.pt", "trainer_state.json", "rng_state.pth", "adapter_model.safetensors"} <= set(files)
    assert all(isinstance(e["size"], int) for e in files.values())


@pytest.mark.parametrize("kind", DAMAGE)
def test_each_kind_of_damage_is_named_and_the_resume_point_falls_back(trained: RunDir, tmp_path: Path,
                                                                      kind: str) -> None:
    run = _copy(trained, tmp_path / "run")
    name = _damage(run.path / "checkpoint-6", kind)
    problem = checkpoint_problem(run.path / "checkpoint-6")
    assert isinstance(problem, Msg) and name in str(problem), (kind, str(problem))
    assert render(problem, "zh") != str(problem) and name in render(problem, "zh")
    point = resume_point(run)
    assert point.path == run.path / "checkpoint-4" and point.step == 4
    assert [(p.name, str(why)) for p, why in point.skipped] == [("checkpoint-6", str(problem))]


def test_a_checkpoint_marked_before_manifests_is_checked_by_its_files(trained: RunDir, tmp_path: Path) -> None:
    run = _copy(trained, tmp_path / "run")
    old = run.path / "checkpoint-6"
    (old / COMPLETE_MARKER).write_text(json.dumps({"step": 6, "time": 0}))  # an ft-tui 0.x mark
    assert checkpoint_problem(old) is None
    opt = old / "optimizer.pt"
    opt.write_bytes(opt.read_bytes()[:-64])
    assert "optimizer.pt" in str(checkpoint_problem(old))


# ---------------------------------------------------------------------------------------------------- real worker

def _run_to_exit(proc: subprocess.Popen, run: RunDir, timeout: float = 180) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            print(run.log_path.read_text()[-3000:])


def _resume_to_end(run: RunDir, rt) -> control.Resumed:
    resumed, code = rt.resume_and_wait(run)
    assert code == 0, run.log_path.read_text()[-3000:]
    return resumed


@pytest.mark.slow_runner
def test_resume_skips_a_damaged_newest_checkpoint_and_sets_it_aside(isolated: Path, new_run, rt) -> None:
    run = new_run(max_steps=6, save_steps=2)
    fault_log = isolated / "fault.log"
    proc = rt.spawn_worker(run, env=rt.fault_env("kill:write=*/adapter/adapter_config.json", fault_log))
    assert _run_to_exit(proc, run) == -9 and "adapter_config.json" in fault_log.read_text()  # the final save
    assert run.status() == "interrupted" and [s for s, _ in run.checkpoints()] == [2, 4, 6]
    _damage(run.path / "checkpoint-6", "truncated optimizer")

    resumed = _resume_to_end(run, rt)
    assert resumed.checkpoint == run.path / "checkpoint-4"
    assert any("checkpoint-6 is damaged" in str(w) and "optimizer.pt" in str(w) for w in resumed.warnings)
    view = fold(run.events())
    assert view.end["status"] == "completed" and view.end["step"] == 6 and view.resumed_from == 4
    skipped = [m for m in _statuses(run) if "checkpoint-6 is damaged" in m]
    assert skipped and "optimizer.pt" in skipped[0] and "checkpoint-6.damaged" in skipped[0]
    assert (run.path / "checkpoint-6.damaged" / "optimizer.pt").exists()
    assert checkpoint_problem(run.path / "checkpoint-6") is None  # saved afresh by the resumed run
    assert [s for s, _ in view.train_loss] == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow_runner
def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint(isolated: Path, new_run, rt) -> None:
    run = new_run(max_steps=6, save_steps=2)
    fault_log = isolated / "fault.log"
    env = rt.fault_env("enospc:write=*/checkpoint-4/trainer_state.json", fault_log)
    assert _run_to_exit(rt.spawn_worker(run, env=env), run) == 1
    end = run.events()[-1]
    assert end["type"] == "end" and end["status"] == "failed"
    message = end["message"]
    assert "No space left on device" in message and "checkpoint-4" in message and "partial folder was removed" \
        in message and "checkpoint-2 is kept" in message and "free space" in message, message
    assert not (run.path / "checkpoint-4").exists()  # the partial folder is what fills the disk
    assert [s for s, _ in run.checkpoints()] == [2] and checkpoint_problem(run.path / "checkpoint-2") is None
    zh = render(event_message(end), "zh")
    assert "磁盘已满" in zh and "checkpoint-2" in zh, zh

    resumed = _resume_to_end(run, rt)
    assert resumed.checkpoint == run.path / "checkpoint-2"
    view = fold(run.events())
    assert view.end["status"] == "completed" and view.end["step"] == 6 and view.resumed_from == 2


def _ft(*args: str) -> subprocess.Popen:
    return subprocess.Popen([FT_TUI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)


@pytest.mark.slow_runner
def test_two_stops_save_like_one_and_only_stop_now_skips_the_save(isolated: Path, new_run, rt) -> None:
    run = new_run(max_steps=400, save_steps=1000)
    fault_log = isolated / "fault.log"
    # a slow disk: the stop's checkpoint takes 4 s more, so the second stop surely lands while the first is honoured
    proc = rt.spawn_worker(run, env=rt.fault_env("sleep=4:write=*/checkpoint-*/trainer_state.json", fault_log))
    try:
        assert rt.wait_for(lambda: any(e["type"] == "log" and e["step"] >= 3 for e in run.events()), 120, 0.05)
        first = _ft("stop", str(run.path))
        assert rt.wait_for(fault_log.exists, 60, 0.02)  # the stop's save has begun
        second = _ft("stop", str(run.path))
        outs = [p.communicate(timeout=120)[0] for p in (first, second)]
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    assert any("already under way" in o for o in outs), outs
    end = fold(run.events()).end
    assert end["status"] == "stopped" and end["step"] >= 3
    assert end["checkpoint"] and Path(end["checkpoint"]).name == f"checkpoint-{end['step']}"
    assert checkpoint_problem(Path(end["checkpoint"])) is None
    assert [s for s, _ in run.checkpoints(complete_only=False)] == [end["step"]]  # nothing half-written
    saved = end["step"]

    resumed = control.resume(run)
    assert rt.wait_for(lambda: sum(e["type"] == "log" and e["step"] > saved + 2 for e in run.events()) > 0, 120,
                       0.05)
    now = _ft("stop", "--now", str(run.path))
    out = now.communicate(timeout=120)[0]
    from ft_tui.runner import launch

    assert launch.wait_child(resumed.pid, 120) == 0 and now.returncode == 0, out
    assert "SIGUSR1" in out and f"checkpoint-{saved} are lost" in out, out
    end = fold(run.events()).end
    assert end["status"] == "stopped" and "ft-tui stop --now" in end["message"]
    assert "no checkpoint was saved" in end["message"]
    assert end["step"] > saved + 2 and f"stopped at step {end['step']}" in out, out  # the step the user last saw
    assert [s for s, _ in run.checkpoints(complete_only=False)] == [saved]  # no new one, none half-written
    assert run.status() == "stopped"
