"""An export in a process of its own: the TUI's export (torch stays out of the TUI process).

``python -m ft_tui.runner.export_job RUN [--merge] [--dtype D] [--checkpoint N] [--output DIR]`` runs
``control.export`` (the same function as ``ft-tui export``) and reports over :mod:`ft_tui.runner.childproc`:
a ``note`` per step as the export makes it, then a ``result`` (``path``, the ``serve`` lines) or an ``error``.
:func:`start_export` starts it; it and this module's imports are torch-free.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import to_json

from . import control
from .childproc import Channel, Child
from .export import DTYPES
from .rundir import RunDir

MODULE = "ft_tui.runner.export_job"
LOG_NAME = "export.log"


@dataclass(frozen=True)
class ExportChoice:
    """What to export, as the CLI's ``ft-tui export`` flags say it."""

    merge: bool = False
    dtype: str | None = None  # None: the run's own (export.merge_dtype)
    checkpoint: int | None = None  # None: the final result
    output: str | None = None  # None: export.default_out

    def args(self) -> list[str]:
        out = ["--merge"] if self.merge else []
        if self.dtype:
            out += ["--dtype", self.dtype]
        if self.checkpoint is not None:
            out += ["--checkpoint", str(self.checkpoint)]
        if self.output:
            out += ["--output", self.output]
        return out


def start_export(run_path: Path, choice: ExportChoice) -> Child:
    """Start the export child for the run at ``run_path``; its stderr goes to ``RUN/export.log``."""
    return Child(MODULE, [str(run_path), *choice.args()], log_path=Path(run_path) / LOG_NAME).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=MODULE, description="export a finished run, reporting as JSON lines")
    parser.add_argument("run")
    parser.add_argument("--merge", action="store_true")
    parser.add_argument("--dtype", choices=DTYPES, default=None)
    parser.add_argument("--checkpoint", type=int, default=None)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    channel = Channel.open()
    try:
        exported = control.export(RunDir(Path(args.run)), merge=args.merge, out=args.output, dtype=args.dtype,
                                  checkpoint=args.checkpoint, report=channel.note)
    except InputError as exc:
        channel.error(exc, exit=2)
        return 2
    except Exception as exc:  # noqa: BLE001 - reported to the parent with the traceback in the log
        import traceback

        traceback.print_exc()
        channel.error(f"{type(exc).__name__}: {exc}", exit=1)
        return 1
    channel.result(path=str(exported.path), serve=[to_json(line) for line in exported.serve],
                   warnings=[to_json(w) for w in exported.warnings])
    return 0


if __name__ == "__main__":
    sys.exit(main())
