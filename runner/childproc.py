"""JSON lines between ft-tui and a torch process it starts and waits for (an export from the TUI; chat and
evaluation next): the one protocol module for such children.

The child (``python -m ft_tui.runner.NAME``) writes one JSON object per line on its stdout, each with ``v``
(:data:`PROTOCOL_VERSION`) and ``type``:

* ``note``: a step or a choice as it is made (``message``, ``code``, ``values``: a catalog message, as the run
  events carry theirs, so the reader shows it in its own language);
* ``result``: what the child made (the fields are the child's: an export gives ``path`` and ``serve``);
* ``error``: why it gave up (a message as in ``note``; ``exit`` 2 for bad input, 1 for a failure).

Anything else the libraries print goes to stderr (the child points its fd 1 there and keeps a private copy for the
protocol), which the parent writes to a log file it names. The parent side, :class:`Child`, is torch-free: the TUI
starts the child, reads its records in a worker thread, and learns of a child that died without a word from its
exit status and the last lines of that log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg, event_fields, event_message

PROTOCOL_VERSION = 1
NOTE, RESULT, ERROR = "note", "result", "error"
#: The ``type`` of the record :meth:`Child.records` makes up for a child that ended without a result or an error.
DIED = "died"
_LOG_TAIL_LINES = 12


# ----------------------------------------------------------------------------------------------------------------
# The child's side
# ----------------------------------------------------------------------------------------------------------------

class Channel:
    """The child's end: :meth:`open` takes fd 1 for the protocol and sends everything else printed there to
    stderr, so a library's stray ``print`` can never break a record."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    @classmethod
    def open(cls) -> Channel:
        sys.stdout.flush()
        private = os.dup(1)
        os.dup2(2, 1)
        return cls(os.fdopen(private, "w", encoding="utf-8", buffering=1))

    def send(self, kind: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"v": PROTOCOL_VERSION, "type": kind, **fields}, ensure_ascii=False) + "\n")
        self.stream.flush()

    def note(self, message: Any) -> None:
        self.send(NOTE, **event_fields(message))

    def result(self, **fields: Any) -> None:
        self.send(RESULT, **fields)

    def error(self, error: BaseException | str, *, exit: int) -> None:
        message = error.as_msg() if isinstance(error, InputError) else error
        self.send(ERROR, exit=exit, **event_fields(message if isinstance(message, Msg) else str(message)))


# ----------------------------------------------------------------------------------------------------------------
# The parent's side (torch-free)
# ----------------------------------------------------------------------------------------------------------------

def message_of(record: dict[str, Any]) -> Any:
    """The message of a ``note`` or ``error`` record: a :class:`Msg` when it carries a code the catalog knows."""
    return event_message(record)


@dataclass
class Child:
    """A child process speaking this protocol; :meth:`records` yields its records until it ends."""

    module: str
    args: Sequence[str]
    log_path: Path
    process: subprocess.Popen[str] | None = None
    ended_with: dict[str, Any] | None = field(default=None)

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w", encoding="utf-8") as log:
            self.process = subprocess.Popen([sys.executable, "-m", self.module, *self.args], stdout=subprocess.PIPE,
                                            stderr=log, stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self

    def records(self) -> Iterator[dict[str, Any]]:
        """Each record as the child writes it; after its last, a ``died`` record when it ended with neither a
        result nor an error (killed, crashed before it could say why): its exit status and its log's last lines."""
        assert self.process is not None and self.process.stdout is not None, "start() the child first"
        final = False
        for line in self.process.stdout:
            record = _parse(line)
            if record is None:
                continue
            final = final or record.get("type") in (RESULT, ERROR)
            yield record
        code = self.process.wait()
        if not final:
            died = {"v": PROTOCOL_VERSION, "type": DIED, "exit": code, "log": self.log_tail(),
                    "log_path": str(self.log_path)}
            self.ended_with = died
            yield died

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the child to end (SIGTERM), then kill it if it has not ended within ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _parse(line: str) -> dict[str, Any] | None:
    """A record, or None for a line that is not one of ours (blank, or another protocol version)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("v") != PROTOCOL_VERSION or not isinstance(record.get("type"), str):
        return None
    return record
