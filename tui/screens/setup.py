"""The setup screen: the config as an editable form in four sections, the live plan panel and the help panel.

A thin view over :class:`ft_tui.tui.state.SetupState`: rows emit :class:`FieldEdited`, the screen forwards it to
the state (validation + synchronous re-estimate) and redraws what changed. Model inspection and dataset statistics
run in workers (thin shells around ``state.inspect_model_facts`` / ``state.load_data_facts``) that post their
results as messages; one ``Worker.StateChanged`` handler shows their failures inline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg, render
from ft_tui.planner.units import gib_number
from ft_tui.tui import keymap as K
from ft_tui.tui.i18n import field_label, label
from ft_tui.tui.messages import DataInspected, FieldEdited, FieldFocused, ModelInspected, SectionMounted
from ft_tui.tui.state import (
    SECTIONS,
    SetupState,
    inspect_model_facts,
    load_data_facts,
    section_keys,
)
from ft_tui.tui.widgets.form import (
    CommaSuggester,
    DataPreview,
    FieldRow,
    SectionForm,
    model_suggester,
)
from ft_tui.tui.widgets.help_panel import FieldHelp
from ft_tui.tui.widgets.plan_panel import PlanPanel, PlanSummary
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Input, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

#: Terminal width from which the plan panel sits beside the form (below it, a summary line and F3).
WIDE = 110
#: Footer keys left out on a narrow terminal, so that every other one fits in 80 columns (they still work, and the
#: palette and the keys panel list them).
NARROW_HIDDEN = {K.LOAD, K.RESET_FIELD}
#: Keys whose change needs the model inspected again / the dataset statistics recomputed.
MODEL_KEYS = ("model_name_or_path", "trust_remote_code")
DATA_KEYS = ("dataset", "dataset_dir", "template", "cutoff_len", "stage", "max_samples", "val_size", "packing",
             "train_on_prompt", *MODEL_KEYS)
#: Seconds to wait after the last keystroke before inspecting (typing a model name fires once, not per key).
DEBOUNCE_S = 0.4


def tab_id(title: str) -> str:
    return "tab-" + "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-").replace("--", "-")


class SetupScreen(Screen):
    """Edit the config, watch the estimate, start the run."""

    AUTO_FOCUS = "#field-model_name_or_path"  # a newcomer's first keystrokes name the model

    BINDINGS = [
        Binding(K.keys_for(K.START), "start", "Start", id=K.START),
        Binding(K.keys_for(K.REPLAN), "replan", "Re-plan", id=K.REPLAN),
        Binding(K.keys_for(K.REPLAN_ALL), "replan_all", "Re-plan all", id=K.REPLAN_ALL, show=False),
        Binding(K.keys_for(K.SAVE), "save", "Save", id=K.SAVE),
        Binding(K.keys_for(K.LOAD), "load", "Load", id=K.LOAD),
        Binding(K.keys_for(K.RESET_FIELD), "reset_field", "Reset", id=K.RESET_FIELD),
        Binding(K.keys_for(K.HELP_TOGGLE), "toggle_help", "Help", id=K.HELP_TOGGLE),
        Binding(K.keys_for(K.HELP_SCROLL_DOWN), "scroll_help(3)", "Help down", id=K.HELP_SCROLL_DOWN, show=False),
        Binding(K.keys_for(K.HELP_SCROLL_UP), "scroll_help(-3)", "Help up", id=K.HELP_SCROLL_UP, show=False),
        Binding(K.keys_for(K.PLAN_TOGGLE), "toggle_plan", "Plan", id=K.PLAN_TOGGLE),
        Binding(K.keys_for(K.NEXT_SECTION), "section(1)", "Next section", id=K.NEXT_SECTION, show=False),
        Binding(K.keys_for(K.PREV_SECTION), "section(-1)", "Previous section", id=K.PREV_SECTION, show=False),
    ]

    def __init__(self, state: SetupState, *, save_path: Path | None = None):
        super().__init__()
        self.state = state
        self.save_path = save_path or (Path(state.source) if state.source else None)
        self.focused_key = "model_name_or_path"
        self._shown: dict[str, tuple] = {}
        self._bindings_state: tuple | None = None
        self._data_shown: tuple | None = None
        self._help_shown: tuple | None = None
        self.active_run: Path | None = None  # the run started from this screen while it is live
        self._last_edit = 0.0  # time.monotonic() of the user's last edit
        self._replan_timer: Any = None  # a worker's re-plan waiting for the user to stop typing

    # -- layout ------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="setup-body"):
            with Vertical(id="setup-main"):
                with TabbedContent(id="sections"):
                    for i, title in enumerate(SECTIONS):
                        with TabPane(label(self.app.lang, f"sec_{title}"), id=tab_id(title)):
                            # Only the first section is built before the first paint and estimate; the
                            # others right after (populate_sections).
                            yield self._section(title, deferred=i > 0)
                yield FieldHelp(id="help")
            with VerticalScroll(id="plan-column", can_focus=False):
                yield PlanPanel(id="plan")
        yield PlanSummary(id="summary")
        yield Footer(compact=True)

    def _section(self, title: str, deferred: bool = False) -> SectionForm:
        from ft_tui.planner.model_catalog import catalog_names
        from ft_tui.templates.datasets import list_datasets
        from ft_tui.templates.registry import list_templates

        suggesters: dict[str, Any] = {}
        options: dict[str, Sequence[str]] = {}
        extra: list[Any] = []
        if title == "Model & Method":
            suggesters["model_name_or_path"] = model_suggester(catalog_names())
            options["template"] = ["null", *list_templates()]
        elif title == "Dataset":
            suggesters["dataset"] = CommaSuggester(list_datasets(self.state.config))
            extra.append(DataPreview(id="data-preview"))
        # values are read when the rows compose (lazy sections compose after the plan has changed them)
        return SectionForm(section_keys(title), values=self.state.display, suggesters=suggesters,
                           options=options, extra=extra, deferred=deferred, id=f"form-{tab_id(title)}")

    def on_mount(self) -> None:
        from ft_tui.templates.registry import template_problems

        lang = self.app.lang
        self._apply_width(self.app.size.width)
        K.localize_bindings(self, lang)
        self.refresh_view()
        self.watch(self.app, "lang", self._language_changed, init=False)
        if self.state.load_warnings:
            self.notify("\n".join(render(w, lang) for w in self.state.load_warnings),
                        title=label(lang, "config_notes"), markup=False)
        broken = template_problems()  # left out of the template list; a run that asks for one gets the error
        if broken:
            self.notify("\n".join(exc.render(lang) for exc in broken), markup=False, severity="warning",
                        title=label(lang, "templates_broken"), timeout=15)
        if self.state.config.model_name_or_path:
            self.inspect_model(delay=0.0)
        else:
            self.call_after_refresh(self.populate_sections)

    async def populate_sections(self) -> None:
        """Build the deferred sections (after the first estimate is on screen)."""
        for form in self.query(SectionForm):
            await form.populate()

    @on(TabbedContent.TabActivated)
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        await self.populate_sections()

    def on_resize(self, event: Resize) -> None:
        self._apply_width(event.size.width)

    def _apply_width(self, width: int) -> None:
        narrow = width < WIDE
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            K.show_bindings(self, NARROW_HIDDEN, not narrow)

    # -- redraw ------------------------------------------------------------------------------------------------
    def rows(self) -> list[FieldRow]:
        return list(self.query(FieldRow))

    def refresh_view(self) -> None:
        """Redraw every row whose content changed, the plan panel, the summary and the help."""
        s = self.state
        lang = self.app.lang
        for row in self.rows():
            key = row.key
            problem = s.problems.get(key)
            note = s.note(key, lang)
            problem_text: str | None
            if key == "model_name_or_path" and s.model_error:
                problem_text = render(s.model_error, lang)
            elif key == "dataset" and s.data_error:
                problem_text = render(s.data_error, lang)
            elif problem is None and (rule := s.rule_problem(key)) is not None:  # as plan/estimate/train say
                problem_text = render(rule.message, lang)
            else:
                problem_text = render(problem.message, lang) if problem else None
            # A field whose text came from its editor is never written back: the editor holds that text or a
            # newer one whose FieldEdited is still queued (writing would undo keystrokes typed since).
            value = None if key in s.typed else s.display(key)
            shown = (value, s.is_user_set(key), note, problem_text)
            if key == "template":
                row.set_detail(s.template_reason)  # "auto (chatml, from the tokenizer)"
            if self._shown.get(key) != shown:
                self._shown[key] = shown
                row.show(value=value, user_set=shown[1], note=shown[2], problem=shown[3])
        self.query_one(PlanPanel).show(s, self.app.lang)
        self.query_one(PlanSummary).show(s, self.app.lang)
        self._show_data()
        self.refresh_help()
        self._refresh_bindings_if_changed()

    def _refresh_bindings_if_changed(self) -> None:
        s = self.state
        shown = (not s.start_blockers(), s.fits, self.focused_key in s.user_keys)
        if shown != self._bindings_state:  # the footer re-renders on refresh_bindings: only on a change
            self._bindings_state = shown
            self.refresh_bindings()

    def _show_data(self) -> None:
        from ft_tui.templates.stats import format_stats

        previews = self.query(DataPreview)
        if not previews:
            return  # the Dataset section is not mounted yet
        s, lang = self.state, self.app.lang
        key = (id(s.data), id(s.preview), s.data_note, lang)
        if key == self._data_shown:
            return
        self._data_shown = key
        if s.data is None:
            stats_text = ""
        elif hasattr(s.data, "p50"):
            stats_text = format_stats(s.data, lang)
        else:  # only the sample count is known (no tokenizer on disk)
            stats_text = render(Msg("samples_only", rows=s.data.rows), lang)
        previews.first().show(stats_text, s.preview, render(s.data_note, lang), lang=lang)

    def _language_changed(self, lang: str) -> None:
        """Section titles, footer keys, placeholders, the plan panel, data notes and the help follow the language
        (F2)."""
        tabs = self.query_one("#sections", TabbedContent)
        for title in SECTIONS:
            tabs.get_tab(tab_id(title)).label = label(lang, f"sec_{title}")
        K.localize_bindings(self, lang)
        for row in self.rows():
            row.relabel(lang)
        self.refresh_view()
        self.refresh_help()

    def refresh_help(self) -> None:
        key = self.focused_key
        shown = (key, self.app.lang, self.state.note(key, self.app.lang))
        if shown != self._help_shown:
            self._help_shown = shown
            self.query_one(FieldHelp).show(*shown)

    # -- edits ---------------------------------------------------------------------------------------------------
    @on(FieldEdited)
    def _field_edited(self, event: FieldEdited) -> None:
        key = event.key
        if self.state.display(key) == str(event.value):
            return  # not an edit: the editor reports the value the state gave it (mount, redraw)
        self._last_edit = time.monotonic()
        self.state.edit(key, event.value)
        self.refresh_view()
        if self.state.problems:
            return
        if key in MODEL_KEYS:
            self.inspect_model(delay=DEBOUNCE_S)  # its answer re-plans
            return
        if key in DATA_KEYS:
            self.inspect_data(delay=DEBOUNCE_S)
        # the planner's fields, notes and recommendations follow the user's value once they stop typing
        self.replan_when_typing_stops()

    @on(SectionMounted)
    def _section_mounted(self, event: SectionMounted) -> None:
        self.refresh_view()

    @on(FieldFocused)
    def _field_focused(self, event: FieldFocused) -> None:
        self.focused_key = event.key
        self.refresh_help()
        self._refresh_bindings_if_changed()

    # -- workers -------------------------------------------------------------------------------------------------
    @work(thread=True, group="model", exclusive=True, exit_on_error=False)
    def inspect_model(self, delay: float = 0.0) -> None:
        """Inspect the configured model (config.json or catalog) off the UI thread."""
        cfg = self.state.config
        if delay:
            time.sleep(delay)
        if get_current_worker().is_cancelled or not cfg.model_name_or_path:
            return
        facts = inspect_model_facts(cfg)
        if not get_current_worker().is_cancelled:
            self.post_message(ModelInspected(facts))

    @work(thread=True, group="data", exclusive=True, exit_on_error=False)
    def inspect_data(self, delay: float = 0.0) -> None:
        """Dataset statistics and preview rows through the model's tokenizer, off the UI thread."""
        cfg, spec = self.state.config, self.state.spec
        if delay:
            time.sleep(delay)
        if get_current_worker().is_cancelled:
            return
        facts = load_data_facts(cfg, spec)
        if not get_current_worker().is_cancelled:
            self.post_message(DataInspected(facts))

    @on(ModelInspected)
    def _model_inspected(self, event: ModelInspected) -> None:
        facts = event.facts
        if facts.name != (self.state.config.model_name_or_path or ""):
            return  # an answer for a name the user has typed past
        self.state.set_spec(facts.spec, facts.counts, name=facts.name)
        self._new_facts()
        self.call_after_refresh(self.populate_sections)
        self.inspect_data()

    @on(DataInspected)
    def _data_inspected(self, event: DataInspected) -> None:
        f = event.facts
        self.state.set_data(f.stats, f.preview, f.note, template_reason=f.template_reason)
        for editor in self.query("#field-dataset").results(Input):  # dataset_dir may have changed the names
            if isinstance(editor.suggester, CommaSuggester) and f.dataset_names:
                editor.suggester.names = list(f.dataset_names)
        self._new_facts()

    def replan_when_typing_stops(self) -> bool:
        """Re-plan around the user's keys (after an edit, or for a worker's new facts), but never around a value
        half typed: while the user is typing (an edit less than DEBOUNCE_S ago) the re-plan waits until they
        pause, then plans around what they typed. True when it re-planned now."""
        if self._replan_timer is not None:
            self._replan_timer.stop()
            self._replan_timer = None
        wait = self._last_edit + DEBOUNCE_S - time.monotonic()
        if wait > 0:
            self._replan_timer = self.set_timer(wait, self.replan_when_typing_stops)
            return False
        self.state.replan()
        self.refresh_view()
        return True

    def _new_facts(self) -> None:
        """A worker's facts arrived: re-plan (or, while the user types, re-estimate now and re-plan later)."""
        if not self.replan_when_typing_stops():
            self.state.run_estimate()
            self.refresh_view()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = Msg("error", error=error) if error is not None else "failed"
        if event.worker.group == "model":
            self.state.set_spec(None, None, name=self.state.config.model_name_or_path, error=text)
            self.call_after_refresh(self.populate_sections)
            self.inspect_data()
        elif event.worker.group == "data":
            self.state.set_data(None, None, None, error=text)
            self.state.run_estimate()
        self.refresh_view()

    # -- actions -------------------------------------------------------------------------------------------------
    def on_screen_resume(self) -> None:
        self._check_active_run()
        self.refresh_bindings()

    def _check_active_run(self) -> bool:
        """True while the run started from here is still live (a second run on the same GPUs would not fit)."""
        if self.active_run is None:
            return False
        from ft_tui.runner.rundir import RunDir
        from ft_tui.runner.status import LIVE_STATUSES

        if RunDir(self.active_run).status() in LIVE_STATUSES:
            return True
        self.active_run = None
        return False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return True if not self.state.start_blockers() and self.active_run is None else None
        if action == "toggle_plan":
            return self.has_class("-narrow")
        if action == "reset_field":  # shown only on a field the user set
            return self.focused_key in self.state.user_keys
        return True

    def action_start(self) -> None:
        lang = self.app.lang
        if self._check_active_run():
            self.notify(label(lang, "run_active", id=self.active_run.name), title=label(lang, "run_active_title"),
                        severity="warning", markup=False)
            return
        blockers = self.state.start_blockers(lang)
        if blockers:
            self.notify("\n".join(blockers), title=label(lang, "cannot_start"), severity="error", markup=False)
            return
        if self.state.fits is False:
            from ft_tui.tui.screens.dialogs import ConfirmDialog

            est = self.state.estimate
            assert est is not None  # fits is False only when an estimate was made
            body = label(lang, "not_fit_body", peak=f"{est.peak_gib:.1f}",
                         budget=gib_number(est.budget_bytes or 0))
            self.app.push_screen(ConfirmDialog(label(lang, "not_fit_title"), body, yes=label(lang, "start_anyway"),
                                               no=label(lang, "back"), danger=True),
                                 self._confirmed_start)
            return
        self.launch()

    def _confirmed_start(self, yes: bool | None) -> None:
        if yes:
            self.launch()

    def launch(self) -> None:
        """Write the config and start the detached runner through the app's runner, then show the run."""
        try:
            run_dir = self.app.runner.launch(self.state.config, self.state.plan_dict(), self.state.hardware)
        except InputError as exc:
            self.notify(exc.render(self.app.lang), title=label(self.app.lang, "cannot_start"), severity="error",
                        markup=False)
            return
        except OSError as exc:
            self.notify(label(self.app.lang, "trainer_failed", error=exc), title=label(self.app.lang, "cannot_start"),
                        severity="error", markup=False)
            return
        self.active_run = Path(run_dir)
        self.refresh_bindings()
        self.app.open_run(Path(run_dir))

    def action_replan(self, every_key: bool = False) -> None:
        """F5: re-plan the fields the user did not set, around the ones they did; shift+F5 (``every_key``): give
        every planned field back to the planner first, the user's values of them too (a loaded file marks all
        its keys as the user's, so F5 alone would change nothing)."""
        lang = self.app.lang
        if self.state.problems:
            self.notify(label(lang, "replan_fix_first"), severity="error", markup=False)
            return
        if self.state.spec is None:
            self.notify(label(lang, "replan_no_model"), severity="warning", markup=False)
            return
        released = self.state.replan_all() if every_key else []
        if not every_key:
            self.state.replan()
        self.refresh_view()
        fixed = len(self.state.user_keys)
        if self.state.plan_error:
            self.notify(render(self.state.plan_error, lang), title=label(lang, "nothing_fits_title"), severity="error",
                        markup=False)
        elif every_key:
            self.notify(label(lang, "replanned_all", n=len(released),
                              keys=", ".join(field_label(lang, k) for k in released) or "-"), markup=False)
        else:
            self.notify(label(lang, "replanned_one") if fixed == 1 else label(lang, "replanned", n=fixed),
                        markup=False)

    def action_replan_all(self) -> None:
        self.action_replan(every_key=True)

    def action_reset_field(self) -> None:
        key = self.focused_key
        if key not in self.state.user_keys:
            return
        self.state.reset(key)
        self.state.replan()
        self.refresh_view()

    def action_scroll_help(self, lines: int) -> None:
        self.query_one(FieldHelp).scroll_lines(lines)

    def action_toggle_help(self) -> None:
        help_panel = self.query_one(FieldHelp)
        help_panel.display = not help_panel.display

    def action_toggle_plan(self) -> None:
        self.toggle_class("-show-plan")

    def action_save(self) -> None:
        from ft_tui.tui.screens.dialogs import PathDialog

        lang = self.app.lang
        if self.state.problems:
            self.notify(label(lang, "save_fix_first"), severity="error", markup=False)
            return
        default = str(self.save_path) if self.save_path else "ft-tui.yaml"
        self.app.push_screen(PathDialog(label(lang, "save_title"), value=default, ok=label(lang, "save_ok")),
                             self._save_to)

    def _save_to(self, path: Path | None) -> None:
        """Save to ``path``; a file already there (the loaded one too) is overwritten only after a yes."""
        if path is None:
            return
        if path.exists():
            from ft_tui.tui.screens.dialogs import ConfirmDialog

            lang = self.app.lang
            self.app.push_screen(ConfirmDialog(label(lang, "overwrite_title"), label(lang, "overwrite_body", path=path),
                                               yes=label(lang, "overwrite_yes"), no=label(lang, "back"), danger=True),
                                 lambda yes: self._write(path) if yes else None)
            return
        self._write(path)

    def _write(self, path: Path) -> None:
        try:
            written = save_config_to(self.state, path)
        except (OSError, InputError) as exc:
            text = exc.render(self.app.lang) if isinstance(exc, InputError) else str(exc)
            self.notify(label(self.app.lang, "save_failed", path=path, error=text), severity="error", markup=False)
            return
        self.save_path = written
        self.notify(label(self.app.lang, "saved", path=written), markup=False)

    def action_load(self) -> None:
        from ft_tui.tui.screens.dialogs import PathDialog

        default = str(self.save_path.parent) + "/" if self.save_path else ""
        lang = self.app.lang
        self.app.push_screen(PathDialog(label(lang, "load_title"), value=default, must_exist=True,
                                        ok=label(lang, "load_ok")), self._load_from)

    def _load_from(self, path: Path | None) -> None:
        if path is None:
            return
        self.load_config_file(path)

    def load_config_file(self, path: Path) -> bool:
        """Load ``path`` into the form; errors are shown, not raised. Returns True when it loaded."""
        from ft_tui.planner.config import load_config

        try:
            cfg = load_config(path)
        except InputError as exc:
            self.notify(exc.render(self.app.lang), title=label(self.app.lang, "cannot_load"), severity="error",
                        markup=False)
            return False
        same_model = cfg.model_name_or_path == self.state.spec_for and self.state.spec is not None
        spec, counts = self.state.spec, self.state.counts
        self.state.load(cfg)
        self.save_path = Path(path)
        self._shown.clear()
        if same_model:
            self.state.set_spec(spec, counts, name=cfg.model_name_or_path)
            self.state.replan()
        self.refresh_view()
        if not same_model:
            self.inspect_model()
        else:
            self.inspect_data()
        if cfg.warnings:
            self.notify("\n".join(render(w, self.app.lang) for w in cfg.warnings), title=label(self.app.lang, "loaded_notes", name=path.name),
                        markup=False)
        else:
            self.notify(label(self.app.lang, "loaded", path=path), markup=False)
        return True

    # -- navigation ------------------------------------------------------------------------------------------
    @work(group="focus", exclusive=True, exit_on_error=False)
    async def focus_field(self, key: str) -> None:
        """Show the section holding ``key`` and focus its editor."""
        await self.populate_sections()
        for title in SECTIONS:
            if key in section_keys(title):
                self.query_one(TabbedContent).active = tab_id(title)
                break
        row = self.query_one(f"#row-{key}", FieldRow)
        row.editor.focus()
        self.call_after_refresh(row.scroll_visible)

    def show_section(self, title: str) -> None:
        self.query_one(TabbedContent).active = tab_id(title)

    async def action_section(self, step: int) -> None:
        """Show the next (step 1) or previous (-1) section and focus its first field."""
        titles = list(SECTIONS)
        current = self.query_one(TabbedContent).active
        index = next((i for i, t in enumerate(titles) if tab_id(t) == current), 0)
        title = titles[(index + step) % len(titles)]
        await self.populate_sections()
        self.show_section(title)
        self.query_one(f"#row-{section_keys(title)[0]}", FieldRow).editor.focus()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(name, help, callback[, discoverable[, also searched]]) for the command palette, in the app's language. The ~50 field
        jumps are not listed before the user types (they would drown the main actions)."""
        from ft_tui.planner.config import KEYS

        lang = self.app.lang
        out: list[tuple[Any, ...]] = [
            (label(lang, f"cmd_{name}"), label(lang, f"cmd_{name}_help"), action)
            for name, action in (("start", self.action_start), ("replan", self.action_replan),
                                 ("replan_all", self.action_replan_all),
                                 ("save", self.action_save), ("load", self.action_load),
                                 ("help", self.action_toggle_help), ("reset", self.action_reset_field))
        ]
        for title in SECTIONS:
            out.append((label(lang, "cmd_section", title=label(lang, f"sec_{title}")), label(lang, "cmd_section_help"),
                        lambda t=title: self.show_section(t)))
        from ft_tui.tui.help import help_for

        for key in KEYS:
            # found by its name in either language, its help title and its config key (学习率, 截断, lr), each
            # matched on its own (a query equal to one of them ranks first)
            also = tuple(dict.fromkeys((field_label("en", key), field_label("zh", key), help_for(key, "en").title,
                                        help_for(key, "zh").title, key)))
            out.append((label(lang, "cmd_field", name=f"{field_label(lang, key)} ({key})"),
                        label(lang, "cmd_field_help"), lambda k=key: self.focus_field(k), False, also))
        return out


def save_config_to(state: SetupState, path: Path) -> Path:
    """Write the config to ``path``. A config loaded from a file is saved into that file's text (its keys, comments
    and order kept, only changed values and keys the user set written: ``planner.config_roundtrip``); a new one
    as every key in schema order. ft-tui-only keys are written only when the user set them. Relative paths in it
    (a local model folder, ``dataset_dir``) are made absolute when the file lands in another folder than its
    source, so the saved file means the same thing wherever it is."""
    from ft_tui.planner.config_roundtrip import save_config_file
    from ft_tui.runner.launch import resolved_config

    cfg = state.config
    target = Path(path).expanduser().resolve()
    if target.parent != cfg.base_dir.resolve():
        cfg = resolved_config(cfg)
    return save_config_file(cfg, target, user_keys=state.user_keys, original=state.source)
