"""Fault injection for the trainer process, at an exact file-system moment (tests only).

A test puts this folder on the worker's ``PYTHONPATH``; Python imports ``sitecustomize`` at start-up, and this one
installs an audit hook (``sys.addaudithook``) that watches the process's own file-system calls and acts when
``FT_TUI_FAULT`` says:

    FT_TUI_FAULT = ACTION:WHERE[:N]     the N-th (default first) moment WHERE happens, do ACTION

- ACTION ``kill``: SIGKILL this process (nothing of it runs after that: no handler, no ``finally``);
  ``enospc``: the call fails with ``OSError(ENOSPC)``, as on a full disk; ``sleep=S``: the call waits S seconds
  first (a slow disk: a window in which a test can act).
- WHERE ``rmtree``: a ``checkpoint-N`` folder is about to be deleted (``shutil.rmtree``, before any file goes);
  ``rmtree-partial``: the second file inside such a folder is about to be deleted (one is gone already);
  ``rmtree-emptied``: every file of it is gone, the empty folder itself is about to be removed;
  ``write=GLOB``: a file whose path matches GLOB (``fnmatch``) is opened for writing, e.g.
  ``write=*/checkpoint-*/trainer_state.json`` (the Trainer's last file of a checkpoint).

Before acting it appends the path and the moment to ``FT_TUI_FAULT_LOG`` (when set), so the test knows it fired.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import signal
import sys
import time

_SPEC = os.environ.get("FT_TUI_FAULT", "")
_LOG = os.environ.get("FT_TUI_FAULT_LOG", "")
_CHECKPOINT = re.compile(r"(^|/)checkpoint-\d+/?$")


def _parse(spec: str) -> tuple[str, str, int] | None:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not (parts[0] in ("kill", "enospc") or parts[0].startswith("sleep=")):
        return None
    nth = int(parts[2]) if len(parts) == 3 else 1
    return parts[0], parts[1], nth


def _path(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)  # type: ignore[return-value]
    return ""


def _writing(mode: object, flags: object) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & (os.O_WRONLY | os.O_RDWR))


class _Fault:
    def __init__(self, action: str, where: str, nth: int) -> None:
        self.action, self.where, self.nth = action, where, nth
        self.seen = 0
        self.busy = False
        self.deleting: str | None = None  # the checkpoint folder shutil.rmtree is deleting
        self.removed = 0

    def hook(self, event: str, args: tuple) -> None:
        if self.busy or event not in ("open", "shutil.rmtree", "os.remove", "os.rmdir"):
            return
        self.busy = True
        try:
            moment = self._moment(event, args)
            if moment is not None:
                self.seen += 1
                if self.seen == self.nth:
                    self._act(moment)
        finally:
            self.busy = False

    def _moment(self, event: str, args: tuple) -> str | None:
        if event == "shutil.rmtree":
            path = _path(args[0]).rstrip("/")
            if _CHECKPOINT.search(path):
                self.deleting, self.removed = path, 0
                return f"rmtree {path}" if self.where == "rmtree" else None
            return None
        if event == "os.rmdir":
            path = _path(args[0]).rstrip("/")
            if self.where == "rmtree-emptied" and self.deleting is not None and \
                    (path == self.deleting or os.path.basename(path) == os.path.basename(self.deleting)):
                return f"rmtree-emptied {self.deleting}"
            return None
        if event == "os.remove":
            if self.where == "rmtree-partial" and self.deleting is not None:
                self.removed += 1
                return f"rmtree-partial {self.deleting} (one file deleted)" if self.removed == 2 else None
            return None
        if self.where.startswith("write="):
            path = _path(args[0])
            if path and _writing(args[1], args[2]) and fnmatch.fnmatch(path, self.where[len("write="):]):
                return f"write {path}"
        return None

    def _act(self, moment: str) -> None:
        if _LOG:
            fd = os.open(_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.write(fd, f"{self.action} {moment}\n".encode())
            os.fsync(fd)
            os.close(fd)
        if self.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.action.startswith("sleep="):
            time.sleep(float(self.action[len("sleep="):]))
            return
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


_parsed = _parse(_SPEC)
if _parsed is not None:
    sys.addaudithook(_Fault(*_parsed).hook)
