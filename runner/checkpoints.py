"""Checkpoints a run can always resume from: the completion mark and its manifest, the check before a resume, and
the rotation (``save_total_limit``), which ft-tui does itself.

The rule: from the moment a run has saved its first complete checkpoint, at every instant the run directory holds
at least one complete checkpoint that a resume can load, whatever kills the process and wherever.

- :func:`mark_complete` runs after the Trainer has written the whole ``checkpoint-N/``: it flushes every file to
  disk, then writes :data:`~ft_tui.runner.rundir.COMPLETE_MARKER` (atomically, last) with a manifest: each file's
  size, and the SHA-256 of the files up to :data:`HASH_LIMIT` bytes (trainer state, RNG states, scheduler, small
  adapters).
- :func:`rotate` runs only after that mark: it removes the complete checkpoints beyond the newest ``keep`` and the
  unmarked leftovers older than the newest complete one. Each is unmarked first (the mark removed and the folder
  flushed), then deleted, so a half-deleted folder is never taken for a complete one. (The Trainer's own rotation
  deletes the old checkpoint *before* its ``on_save`` callback can mark the new one; the runner therefore hands it
  ``save_total_limit=None``.)
- :func:`checkpoint_problem` says what makes a marked checkpoint unusable: a file of the manifest missing, of
  another size or other contents, a safetensors file shorter than its header says, a torch file that is not a
  whole zip archive, a JSON file that does not parse.
- :func:`resume_point` picks the newest checkpoint without a problem and names the ones it skipped; the worker
  sets those aside (:func:`set_aside`: ``checkpoint-N.damaged``, kept for inspection) and removes the unmarked
  leftovers of an interrupted save (:func:`remove_partial`) before the Trainer writes there again.

Torch-free: the CLI (``ft-tui resume`` says where it will continue from) imports this module.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import struct
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_tui.planner.messages import Msg
from ft_tui.runner.rundir import (
    CHECKPOINT_NAME,
    COMPLETE_MARKER,
    RunDir,
    atomic_write_json,
    is_complete_checkpoint,
    read_json,
)

#: Files up to this size get a SHA-256 in the manifest (a few ms each); larger ones (weights, optimizer state of a
#: big model) are checked by size and structure, which is what a truncated or cut-short write breaks.
HASH_LIMIT = 64 * 1024 * 1024
DAMAGED_SUFFIX = ".damaged"
#: torch.save's zip archives (the Trainer's optimizer.pt, scheduler.pt, rng_state*.pth, training_args.bin).
TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and p.name != COMPLETE_MARKER)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def manifest(path: Path, *, flush: bool = False) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size": bytes, "sha256": hex (small files only)}}`` of the files in ``path``; ``flush``:
    each file is also flushed to disk (fsync) on the way."""
    out: dict[str, dict[str, Any]] = {}
    for f in _files(path):
        if flush:
            _fsync(f)
        size = f.stat().st_size
        entry: dict[str, Any] = {"size": size}
        if size <= HASH_LIMIT:
            entry["sha256"] = _sha256(f)
        out[f.relative_to(path).as_posix()] = entry
    return out


def mark_complete(path: Path, step: int) -> None:
    """Mark ``path`` (a checkpoint the Trainer has finished writing) complete: its files flushed to disk first,
    then the mark with their manifest, written atomically."""
    path = Path(path)
    files = manifest(path, flush=True)
    atomic_write_json(path / COMPLETE_MARKER, {"step": step, "time": time.time(), "files": files})
    _fsync(path)


def unmark(path: Path) -> None:
    """Remove the mark (the folder flushed), so that whatever happens next the folder no longer counts."""
    marker = Path(path) / COMPLETE_MARKER
    if marker.exists():
        marker.unlink()
        _fsync(Path(path))


def delete(path: Path) -> None:
    """Unmark, then remove a checkpoint folder."""
    unmark(path)
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------- checks

def _safetensors_problem(path: Path, size: int) -> Msg | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return Msg("ckpt_file_short", file=path.name, size=size)
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                return Msg("ckpt_file_short", file=path.name, size=size)
            header = json.loads(fh.read(n))
    except (OSError, ValueError, UnicodeDecodeError):
        return Msg("ckpt_file_unreadable", file=path.name)
    if not isinstance(header, dict):
        return Msg("ckpt_file_unreadable", file=path.name)
    ends = [v["data_offsets"][1] for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict) and isinstance(v.get("data_offsets"), list)
            and len(v["data_offsets"]) == 2]
    expected = 8 + n + max(ends, default=0)
    if size < expected:
        return Msg("ckpt_file_truncated", file=path.name, size=size, expected=expected)
    return None


def _torch_file_problem(path: Path, size: int) -> Msg | None:
    try:
        with zipfile.ZipFile(path) as archive:
            # every member's CRC for the small files (RNG states, scheduler); the central directory, at the end
            # of the file, already fails on a file cut short
            bad = archive.testzip() if size <= HASH_LIMIT else None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return Msg("ckpt_file_not_torch", file=path.name)
    return Msg("ckpt_file_unreadable", file=f"{path.name}/{bad}") if bad else None


def _format_problem(path: Path) -> Msg | None:
    size = path.stat().st_size
    if path.suffix == ".safetensors":
        return _safetensors_problem(path, size)
    if path.suffix in TORCH_SUFFIXES:
        return _torch_file_problem(path, size)
    if path.suffix == ".json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return Msg("ckpt_file_unreadable", file=path.name)
    return None


def checkpoint_problem(path: Path) -> Msg | None:
    """What makes the checkpoint at ``path`` unusable for a resume, or None when it is fine.

    A checkpoint marked before the manifest existed is checked by the structure of its files alone."""
    path = Path(path)
    if not is_complete_checkpoint(path):
        return Msg("ckpt_not_marked")
    mark = read_json(path / COMPLETE_MARKER)
    if not isinstance(mark, dict):
        return Msg("ckpt_mark_unreadable")
    recorded = mark.get("files")
    if isinstance(recorded, dict):
        for rel, entry in recorded.items():
            f = path / rel
            if not f.is_file():
                return Msg("ckpt_file_missing", file=rel)
            if not isinstance(entry, dict):
                continue
            size = f.stat().st_size
            if isinstance(entry.get("size"), int) and size != entry["size"]:
                return Msg("ckpt_file_size", file=rel, size=size, expected=entry["size"])
            if isinstance(entry.get("sha256"), str) and _sha256(f) != entry["sha256"]:
                return Msg("ckpt_file_changed", file=rel)
    for f in _files(path):
        problem = _format_problem(f)
        if problem is not None:
            return problem
    return None


# ---------------------------------------------------------------------------------------------------- resume

@dataclass
class ResumePoint:
    """Where a resume continues: ``path`` (None: no usable checkpoint, from step 0) and the newer marked
    checkpoints it skipped, each with its problem."""

    path: Path | None
    skipped: list[tuple[Path, Msg]] = field(default_factory=list)

    @property
    def step(self) -> int | None:
        return checkpoint_step(self.path)


def checkpoint_step(path: Path | None) -> int | None:
    """N of ``checkpoint-N`` (None for None or another name)."""
    m = CHECKPOINT_NAME.fullmatch(Path(path).name) if path is not None else None
    return int(m.group(1)) if m else None


def holds_the_end(path: Path, *, max_steps: int, num_train_epochs: float) -> bool:
    """Whether the checkpoint at ``path`` was saved at the last step of a run with these limits (its
    ``trainer_state.json`` says its step reached its ``max_steps``, and the limits are the ones it trained with)."""
    state = read_json(Path(path) / "trainer_state.json")
    if not isinstance(state, dict):
        return False
    step, limit, epochs = state.get("global_step"), state.get("max_steps"), state.get("num_train_epochs")
    if not (isinstance(step, int) and isinstance(limit, int) and 0 < limit <= step):
        return False
    return max_steps == limit if max_steps > 0 else epochs == num_train_epochs


def resume_point(run: RunDir) -> ResumePoint:
    """The newest complete checkpoint of ``run`` that passes :func:`checkpoint_problem`; the ones skipped."""
    skipped: list[tuple[Path, Msg]] = []
    for _, path in reversed(run.checkpoints()):
        problem = checkpoint_problem(path)
        if problem is None:
            return ResumePoint(path, skipped)
        skipped.append((path, problem))
    return ResumePoint(None, skipped)


def set_aside(path: Path) -> Path:
    """Rename a damaged checkpoint to ``checkpoint-N.damaged`` (``.damaged-2``, ... when taken), unmarked: it no
    longer counts, the Trainer can write ``checkpoint-N`` afresh, and the files stay for a look."""
    path = Path(path)
    unmark(path)
    target = path.with_name(path.name + DAMAGED_SUFFIX)
    k = 2
    while target.exists():
        target = path.with_name(f"{path.name}{DAMAGED_SUFFIX}-{k}")
        k += 1
    path.rename(target)
    return target


def remove_partial(run: RunDir, after: int | None) -> list[Path]:
    """Remove the unmarked checkpoint folders newer than step ``after`` (None: all of them): the leftovers of a
    save that was cut short, which the Trainer would otherwise write into again."""
    removed = []
    for step, path in run.checkpoints(complete_only=False):
        if (after is None or step > after) and not is_complete_checkpoint(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


# ---------------------------------------------------------------------------------------------------- a failed save

#: How a full disk shows in the libraries' errors: an OSError's errno, torch's zip writer, safetensors' Rust error.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "file write failed")


def disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    return any(text in str(exc) for text in DISK_FULL_TEXT)


def failed_save_message(run: RunDir, exc: BaseException, message: Msg) -> Msg:
    """``message`` for a failure of the trainer; when it cut a checkpoint's save short (an unmarked
    ``checkpoint-N`` newer than the newest complete one), that partial folder is removed (on a full disk it is what
    fills it) and the message says so, names the checkpoint kept, and what to do when the disk is full."""
    kept = run.latest_checkpoint()
    partial = remove_partial(run, checkpoint_step(kept))
    if not partial:
        return message
    return Msg("failed_during_save", checkpoint=", ".join(p.name for p in partial), error=message,
               kept=Msg("kept_checkpoint", checkpoint=kept.name) if kept else Msg("kept_no_checkpoint"),
               hint=Msg("hint_disk_full", path=str(run.path)) if disk_full(exc) else "")


# ---------------------------------------------------------------------------------------------------- rotation

def rotate(run: RunDir, keep: int | None) -> list[Path]:
    """Keep the newest ``keep`` complete checkpoints (None or < 1: all); remove older complete ones and unmarked
    leftovers older than the newest complete one. Call only once the newest checkpoint is marked."""
    complete = run.checkpoints()
    if not complete:
        return []
    newest = complete[-1][0]
    doomed = [p for _, p in complete[:-keep]] if keep and keep > 0 else []
    doomed += [p for step, p in run.checkpoints(complete_only=False)
               if step < newest and not is_complete_checkpoint(p)]
    for path in sorted(doomed):
        delete(path)
    return sorted(doomed)


__all__ = ["HASH_LIMIT", "DAMAGED_SUFFIX", "ResumePoint", "checkpoint_problem", "checkpoint_step", "delete", "holds_the_end",
           "disk_full", "failed_save_message", "manifest", "mark_complete", "remove_partial", "resume_point", "rotate", "set_aside", "unmark"]
