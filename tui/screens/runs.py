"""The runs screen: every run in the user's run index with its status, progress and last loss.

Open one to watch it (the run screen), resume an interrupted, stopped or failed one (the detached trainer again,
from its last complete checkpoint), export a completed one (a dialog with the CLI's choices; the export runs in its own process and the notice says
where it went), delete one
after a confirmation (``control.remove_runs``, as ``ft-tui runs rm``: a live run is refused). The list is read in a
worker (``summarize`` folds each run's events file) and refreshed every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import render
from ft_tui.planner.paths import is_hub_id
from ft_tui.runner import control
from ft_tui.runner.export_job import start_export
from ft_tui.runner.rundir import RunDir, RunSummary, indexed_runs, summarize
from ft_tui.runner.status import COMPLETED, RESUMABLE, status_word
from ft_tui.tui import keymap as K
from ft_tui.tui.i18n import binding_help, label, worker_name
from rich.cells import cell_len
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ft_tui.tui.screens.export import Starter

#: Binding ids of this screen (for the user's keymap) -> (default keys, what it does).
RUNS_KEYS: dict[str, tuple[str, str]] = {
    "runs.open": ("o", "watch the selected run (enter works too)"),
    "runs.resume": ("r", "resume the selected interrupted, stopped or failed run from its last checkpoint"),
    "runs.export": ("e", "export the selected completed run (adapter or model) and show where it went"),
    "runs.delete": ("d,delete", "delete the selected run (its directory, checkpoints included) after a confirmation; "
                                "a live run is refused"),
    "runs.refresh": ("f5", "read the run list again"),
    "runs.back": ("escape", "go back (or exit when this is the only screen)"),
}

#: Table columns, most telling first (a narrow terminal scrolls to the rest).
COLUMNS = ("id", "status", "progress", "loss", "model", "method", "started")
REFRESH_S = 5.0

Resumer = Callable[[RunDir], "control.Resumed | None"]
ScreenFactory = Callable[[Path], Screen]


def default_screen(run_path: Path) -> Screen:
    from ft_tui.tui.screens.run import RunScreen

    return RunScreen(run_path)


class RunsLoaded(Message):
    """The run list, newest first (replaces an older list still queued)."""

    def __init__(self, runs: Sequence[RunSummary]) -> None:
        super().__init__()
        self.runs = list(runs)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsLoaded)


def progress_cell(run: RunSummary) -> str:
    if run.total_steps:
        return f"{run.step}/{run.total_steps} {100 * run.step / run.total_steps:3.0f}%"
    return str(run.step) if run.step else "-"


def model_cell(model: str | None) -> str:
    if not model:
        return "-"
    return model if is_hub_id(model) else Path(model.rstrip("/")).name


def started_cell(ts: float | None) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _binding(binding_id: str, action: str, description: str, **kw: Any) -> Binding:
    """A binding with a stable id; its default keys come from the app's key table when it lists the id."""
    from ft_tui.tui import keymap

    keys = keymap.DEFAULT_KEYS.get(binding_id, RUNS_KEYS[binding_id])[0]
    return Binding(keys, action, description, id=binding_id, **kw)


class RunsScreen(Screen):
    """All runs in the index; keys act on the highlighted one."""

    DEFAULT_CSS = """
    RunsScreen #runs-title { padding: 0 1; text-style: bold; width: 1fr; }
    RunsScreen DataTable { height: 1fr; }
    RunsScreen #runs-empty { padding: 1 2; color: $text-muted; display: none; }
    RunsScreen.-empty #runs-empty { display: block; }
    RunsScreen.-empty DataTable { display: none; }
    RunsScreen #runs-detail { padding: 0 1; color: $text-muted; width: 1fr; height: auto; }
    """

    BINDINGS = [
        _binding("runs.open", "open", "Open"),
        _binding("runs.resume", "resume", "Resume"),
        _binding("runs.export", "export", "Export"),
        _binding("runs.delete", "delete", "Delete"),
        _binding("runs.refresh", "refresh", "Refresh"),
        _binding("runs.back", "back", "Back"),
    ]

    def __init__(self, *, resumer: Resumer | None = None, exporter: Starter | None = None,
                 screen_factory: ScreenFactory | None = None, name: str | None = None, id: str | None = None):
        super().__init__(name=name, id=id)
        self.resumer: Resumer = resumer or control.resume  # the checks and the spawn of `ft-tui resume`
        self.exporter: Starter = exporter or start_export  # the export child (runner/export_job.py)
        self.screen_factory: ScreenFactory = screen_factory or default_screen
        self.runs: dict[str, RunSummary] = {}
        self.busy: set[str] = set()

    @property
    def lang(self) -> str:
        lang = getattr(self.app, "lang", "en")
        return lang if lang in ("en", "zh") else "en"

    def compose(self) -> ComposeResult:
        yield Label("", id="runs-title", markup=False)
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Label("", id="runs-empty", markup=False)
        yield Label("", id="runs-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        if hasattr(self.app, "lang"):
            self.watch(self.app, "lang", lambda _lang: self._relabel(), init=False)
        self._relabel()
        self.action_refresh()
        self.set_interval(REFRESH_S, self.action_refresh)

    def _relabel(self) -> None:
        K.localize_bindings(self, self.lang)
        self.query_one("#runs-title", Label).update(label(self.lang, "runs_title"))
        self.query_one("#runs-empty", Label).update(label(self.lang, "runs_empty"))
        self._fill(list(self.runs.values()))

    # -- loading -----------------------------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="runs-load", exit_on_error=False, name="read run index")
    def _load(self) -> None:
        summaries = [summarize(run) for run in indexed_runs()]
        summaries.reverse()  # newest first
        self.post_message(RunsLoaded(summaries))

    @on(RunsLoaded)
    def _loaded(self, message: RunsLoaded) -> None:
        self._fill(message.runs)

    def table_rows(self, runs: Sequence[RunSummary]) -> list[tuple[str, ...]]:
        """The table's cells, one tuple per run, in :data:`COLUMNS` order."""
        out = []
        for r in runs:
            loss = f"{r.loss:.4f}" if isinstance(r.loss, (int, float)) else "-"
            out.append((r.id, render(status_word(r.status), self.lang), progress_cell(r), loss, model_cell(r.model),
                        r.method or "-", started_cell(r.started)))
        return out

    def _fill(self, runs: list[RunSummary]) -> None:
        """Rebuild the table, each column as wide as its widest cell (set up front: Textual's auto width is
        measured on idle, after a first paint that would cut the cells to the headers' width)."""
        table = self.query_one(DataTable)
        selected = self.selected_path()
        self.runs = {r.path: r for r in runs}
        cells = self.table_rows(runs)
        table.clear(columns=True)
        for i, key in enumerate(COLUMNS):
            title = label(self.lang, f"col_{key}")
            width = max([cell_len(title)] + [cell_len(row[i]) for row in cells])
            table.add_column(title, key=key, width=width)
        for run, row in zip(runs, cells, strict=True):
            table.add_row(*row, key=run.path)
        self.set_class(not runs, "-empty")
        if selected in self.runs:
            table.move_cursor(row=table.get_row_index(selected))
        self._show_detail()
        self.refresh_bindings()

    def selected_path(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - an out-of-range cursor while the table refills
            return None
        return key.value

    def selected(self) -> RunSummary | None:
        path = self.selected_path()
        return self.runs.get(path) if path else None

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_detail()
        self.refresh_bindings()

    def _show_detail(self) -> None:
        run = self.selected()
        self.query_one("#runs-detail", Label).update(run.path if run else "")

    # -- actions -----------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        run = self.selected()
        if action == "open":
            return run is not None
        if action == "resume":
            return run is not None and run.status in RESUMABLE and run.path not in self.busy
        if action == "export":
            return run is not None and run.status == COMPLETED and run.path not in self.busy
        if action == "delete":  # offered for a live run too: pressing it says why it is refused
            return run is not None and run.path not in self.busy
        return True

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        run = self.selected()
        if run is not None:
            self.app.push_screen(self.screen_factory(Path(run.path)))

    def action_resume(self) -> None:
        run = self.selected()
        if run is None or not self.check_action("resume", ()):
            return
        self.busy.add(run.path)
        self.refresh_bindings()
        self._resume(run)

    @work(thread=True, group="runs-act", exit_on_error=False, name="resume run")
    def _resume(self, run: RunSummary) -> None:
        try:
            resumed = self.resumer(RunDir(Path(run.path)))
        except (InputError, OSError) as exc:
            message = exc.render(self.lang) if isinstance(exc, InputError) else str(exc)
            self.app.call_from_thread(self._done, run, label(self.lang, "resume_failed", id=run.id,
                                                             error=message), "error")
            return
        self.app.call_from_thread(self._resumed, run, resumed.warnings if resumed is not None else ())

    def _resumed(self, run: RunSummary, warnings: Sequence[Any] = ()) -> None:
        self._done(run, label(self.lang, "resumed", id=run.id), "information")
        for warning in warnings:  # the runner's: no complete checkpoint, fewer GPUs than at launch
            self.notify(render(warning, self.lang), severity="warning", markup=False, timeout=10)
        self.app.push_screen(self.screen_factory(Path(run.path)))

    def action_export(self) -> None:
        """The export dialog for the selected completed run: its choices, then the export in its own process."""
        run = self.selected()
        if run is None or not self.check_action("export", ()):
            return
        from ft_tui.tui.screens.export import ExportDialog, ExportForm

        try:
            form = ExportForm.read(Path(run.path))
        except (InputError, OSError) as exc:
            message = exc.render(self.lang) if isinstance(exc, InputError) else str(exc)
            self._done(run, label(self.lang, "export_failed", id=run.id, error=message), "error")
            return
        self.busy.add(run.path)
        self.refresh_bindings()
        self.app.push_screen(ExportDialog(form, starter=self.exporter), lambda out: self._exported(run, out))

    def _exported(self, run: RunSummary, out: Path | None) -> None:
        if out is None:
            self.busy.discard(run.path)
            self.refresh_bindings()
            return
        self._done(run, label(self.lang, "exported", id=run.id, path=out), "information")

    def action_delete(self) -> None:
        """Ask, then delete the selected run; a live run is refused at once with the reason (and asked nothing)."""
        run = self.selected()
        if run is None or not self.check_action("delete", ()):
            return
        try:
            control.check_removable([RunDir(Path(run.path))])
        except InputError as exc:
            self._refused(run, exc)
            return
        from ft_tui.tui.screens.dialogs import ConfirmDialog

        dialog = ConfirmDialog(label(self.lang, "delete_title", id=run.id),
                               label(self.lang, "delete_body", path=run.path),
                               yes=label(self.lang, "delete_yes"), danger=True)
        self.app.push_screen(dialog, lambda yes: self._delete_confirmed(run, bool(yes)))

    def _refused(self, run: RunSummary, exc: InputError) -> None:
        text = exc.render(self.lang)  # the run, its status and what to do ("stop it first"), from the runner
        self.notify(text, severity="error", markup=False, timeout=10)
        self.query_one("#runs-detail", Label).update(text)

    def _delete_confirmed(self, run: RunSummary, yes: bool) -> None:
        if not yes:
            return
        self.busy.add(run.path)
        self.refresh_bindings()
        self._delete(run)

    @work(thread=True, group="runs-act", exit_on_error=False, name="delete run")
    def _delete(self, run: RunSummary) -> None:
        try:  # the CLI's function: it checks again (the run may have been resumed meanwhile), then deletes
            control.remove_runs([RunDir(Path(run.path))])
        except InputError as exc:
            self.app.call_from_thread(self._done, run, label(self.lang, "delete_failed", id=run.id,
                                                             error=exc.render(self.lang)), "error")
            return
        self.app.call_from_thread(self._done, run, label(self.lang, "deleted", id=run.id), "information")

    def _done(self, run: RunSummary, text: str, severity: str) -> None:
        self.busy.discard(run.path)
        self.refresh_bindings()
        self.notify(text, severity=severity, markup=False, timeout=10)  # type: ignore[arg-type]
        self.query_one("#runs-detail", Label).update(text)
        self.action_refresh()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            run_paths = list(self.busy)
            self.busy.clear()
            self.refresh_bindings()
            self.notify(label(self.lang, "worker_failed", name=worker_name(self.lang, event.worker.name),
                              error=render(event.worker.error, self.lang)),
                        severity="error", markup=False)
            if run_paths:
                self.action_refresh()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """Entries for the app's command palette."""
        lang = self.lang
        out: list[tuple[str, str, Any]] = [(label(lang, "cmd_refresh"),
                                            binding_help(lang, "runs.refresh", RUNS_KEYS["runs.refresh"][1]),
                                            self.action_refresh)]
        for action in ("open", "resume", "export", "delete"):
            if self.check_action(action, ()):
                binding_id = f"runs.{action}"
                out.append((label(lang, f"cmd_{action}"), binding_help(lang, binding_id, RUNS_KEYS[binding_id][1]),
                            getattr(self, f"action_{action}")))
        return out
