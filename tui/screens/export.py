"""The export dialog of the runs screen: the CLI's choices (adapter or merged model, dtype, which checkpoint, output
folder), then the export in a process of its own with its steps and elapsed time shown as they come, and the
result's path (or what went wrong, with the form kept as it was to fix and try again).

The export is ``runner/export_job.py`` (the same ``control.export`` as ``ft-tui export``) started as a child; this
process only reads its JSON lines (``runner/childproc.py``) in a worker thread, so torch never enters the TUI and
the screen stays responsive during a long merge. ``ExportForm`` is the headless part (what the run offers, the
default folder, the choice from the form's values), tested without Textual.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_tui.planner.config import load_config
from ft_tui.planner.messages import from_json, render
from ft_tui.runner.childproc import DIED, ERROR, NOTE, RESULT, Child, message_of
from ft_tui.runner.export import DTYPES, default_out
from ft_tui.runner.export_job import ExportChoice, start_export
from ft_tui.runner.rundir import RunDir
from ft_tui.tui import keymap as K
from ft_tui.tui.i18n import label
from ft_tui.tui.screens.dialogs import DIALOG_CSS
from ft_tui.tui.widgets.wrap import WrappedStatic
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

Starter = Callable[[Path, ExportChoice], Child]
AUTO = "auto"
FINAL = -1  # the checkpoint Select's value for the final result (Select values must not be None)


@dataclass(frozen=True)
class ExportForm:
    """What a run offers to export, read from its directory (config.yaml and its complete checkpoints)."""

    run_path: Path
    run_id: str
    finetuning_type: str
    checkpoints: tuple[int, ...]

    @classmethod
    def read(cls, run_path: Path) -> ExportForm:
        run = RunDir(Path(run_path))
        cfg = load_config(run.config_path)
        return cls(run.path, run.id, cfg.finetuning_type, tuple(step for step, _ in run.checkpoints()))

    @property
    def can_merge(self) -> bool:
        return self.finetuning_type == "lora"

    def default_output(self, *, merge: bool, checkpoint: int | None) -> Path:
        return default_out(self.run_path, merge=merge and self.can_merge, checkpoint=checkpoint)

    def choice(self, *, merge: bool, dtype: str, checkpoint: int, output: str) -> ExportChoice:
        """The export the form's values ask for (``dtype`` "auto" and ``checkpoint`` :data:`FINAL` as the CLI's
        defaults; an empty output is the default folder)."""
        return ExportChoice(merge=merge and self.can_merge,
                            dtype=dtype if merge and self.can_merge and dtype in DTYPES else None,
                            checkpoint=None if checkpoint == FINAL else checkpoint,
                            output=output.strip() or None)


class ExportDialog(ModalScreen["Path | None"]):
    """Export one completed run; dismisses with the folder written, or None when closed without one."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ExportDialog") + """
    ExportDialog > Vertical { width: 84; }
    ExportDialog .export-row { height: auto; }
    ExportDialog #export-kind-row { margin-top: 1; }
    ExportDialog .export-row > Label { width: 16; }
    ExportDialog .export-row > Select, ExportDialog .export-row > Input { width: 1fr; }
    ExportDialog #export-progress { height: auto; max-height: 8; margin-top: 1; color: $text-muted; }
    ExportDialog #export-status { height: auto; max-height: 10; }
    ExportDialog.-running .export-row { display: none; }
    """
    BINDINGS = [Binding(K.keys_for(K.DIALOG_CANCEL), "cancel", "Cancel", id=K.DIALOG_CANCEL)]

    def __init__(self, form: ExportForm, *, starter: Starter | None = None):
        super().__init__()
        self.form = form
        self.starter: Starter = starter or start_export
        self.child: Child | None = None
        self.result: Path | None = None
        self.notes: list[Any] = []
        self.started_at: float | None = None
        self.cancelled = False

    @property
    def lang(self) -> str:
        lang = getattr(self.app, "lang", "en")
        return lang if lang in ("en", "zh") else "en"

    def compose(self) -> ComposeResult:
        lang, form = self.lang, self.form
        kinds = [(label(lang, "export_kind_adapter"), "adapter"), (label(lang, "export_kind_merged"), "merged")]
        if not form.can_merge:
            kinds = [(label(lang, "export_kind_model", finetuning_type=form.finetuning_type), "adapter")]
        checkpoints = [(label(lang, "export_final"), FINAL)] + [
            (label(lang, "export_checkpoint", step=step), step) for step in reversed(form.checkpoints)]
        with Vertical():
            yield Label(label(lang, "export_title", id=form.run_id), classes="dialog-title", markup=False)
            with Horizontal(classes="export-row", id="export-kind-row"):
                yield Label(label(lang, "export_what"), markup=False)
                yield Select(kinds, value="adapter", allow_blank=False, id="export-kind", compact=True)
            with Horizontal(classes="export-row"):
                yield Label(label(lang, "export_dtype"), markup=False)
                yield Select([(label(lang, "export_dtype_auto"), AUTO)] + [(d, d) for d in DTYPES], value=AUTO,
                             allow_blank=False, id="export-dtype", disabled=True, compact=True)
            with Horizontal(classes="export-row"):
                yield Label(label(lang, "export_from"), markup=False)
                yield Select(checkpoints, value=FINAL, allow_blank=False, id="export-checkpoint",
                             compact=True)
            with Horizontal(classes="export-row"):
                yield Label(label(lang, "export_output"), markup=False)
                yield Input("", id="export-output", compact=True)
            yield WrappedStatic("", id="export-progress", markup=False)
            yield WrappedStatic("", id="export-status", markup=False)
            with Horizontal():
                yield Button(label(lang, "key_dialog.cancel"), id="cancel")
                yield Button(label(lang, "export_start"), id="start", variant="primary")

    def on_mount(self) -> None:
        K.localize_bindings(self, self.lang)
        self._sync()
        self.query_one("#start", Button).focus()

    # -- the form --------------------------------------------------------------------------------------------------
    def _values(self) -> dict[str, Any]:
        return {"merge": self.query_one("#export-kind", Select).value == "merged",
                "dtype": str(self.query_one("#export-dtype", Select).value),
                "checkpoint": int(self.query_one("#export-checkpoint", Select).value),  # type: ignore[arg-type]
                "output": self.query_one("#export-output", Input).value}

    @on(Select.Changed)
    def _sync(self) -> None:
        """dtype only for a merge; the output's placeholder is where the export goes unless told."""
        values = self._values()
        self.query_one("#export-dtype", Select).disabled = not values["merge"]
        checkpoint = None if values["checkpoint"] == FINAL else values["checkpoint"]
        default = self.form.default_output(merge=values["merge"], checkpoint=checkpoint)
        self.query_one("#export-output", Input).placeholder = str(default)

    # -- the export ------------------------------------------------------------------------------------------------
    @on(Input.Submitted, "#export-output")
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        if self.child is not None and self.child.running:
            return
        if self.result is not None:  # the button reads "Close" once the export is done
            self.dismiss(self.result)
            return
        choice = self.form.choice(**self._values())
        self.notes = []
        self.started_at = time.monotonic()
        self.add_class("-running")
        self.query_one("#start", Button).disabled = True
        self.query_one("#export-progress", WrappedStatic).update("")
        self._status(label(self.lang, "export_running", seconds=0))
        self.set_interval(1.0, self._tick, name="export-clock")
        self._export(choice)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False, name="export run")
    def _export(self, choice: ExportChoice) -> None:
        try:
            child = self.starter(self.form.run_path, choice)
        except OSError as exc:
            self.app.call_from_thread(self._finished, {"type": DIED, "exit": None, "log": str(exc), "log_path": ""})
            return
        self.child = child
        for record in child.records():
            if record["type"] == NOTE:
                self.app.call_from_thread(self._note, message_of(record))
            elif record["type"] in (RESULT, ERROR, DIED):
                self.app.call_from_thread(self._finished, record)

    def _tick(self) -> None:
        if self.started_at is not None and self.result is None and self.child is not None and self.child.running:
            self._status(label(self.lang, "export_running", seconds=int(time.monotonic() - self.started_at)))

    def _note(self, message: Any) -> None:
        self.notes.append(message)
        self.query_one("#export-progress", WrappedStatic).update(
            "\n".join(f"• {render(note, self.lang)}" for note in self.notes[-6:]))

    def _finished(self, record: dict[str, Any]) -> None:
        self.started_at = None
        self.remove_class("-running")
        start = self.query_one("#start", Button)
        start.disabled = False
        kind = record["type"]
        if kind == RESULT:
            self.result = Path(record["path"])
            serve = [render(from_json(line), self.lang) for line in record.get("serve") or []]
            self._status("\n".join([label(self.lang, "export_done", path=self.result), *serve]))
            start.label = label(self.lang, "export_close")
            self.query_one("#cancel", Button).display = False
            start.focus()
            return
        if kind == ERROR:  # bad input (an output folder that is not ours...): the form is as it was, to fix
            self._status(label(self.lang, "export_error", error=render(message_of(record), self.lang)))
        elif self.cancelled:
            self._status(label(self.lang, "export_cancelled"))
        else:
            self._status(label(self.lang, "export_died", exit=record.get("exit"), log=record.get("log_path", ""),
                               tail=record.get("log", "")))

    def _status(self, text: str) -> None:
        self.query_one("#export-status", WrappedStatic).update(text)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close; while an export runs, stop it first (its folder is left marked incomplete, so a new export can
        write it again)."""
        if self.child is not None and self.child.running:
            self.cancelled = True
            assert self.child.process is not None
            self.child.process.terminate()  # the worker sees the child end and reports it
            return
        self.dismiss(self.result)

    def on_unmount(self) -> None:
        if self.child is not None and self.child.running and self.child.process is not None:
            self.child.process.terminate()

