"""The setup form: one :class:`FieldRow` per config key, grouped in sections, plus the dataset preview.

Rows only show and emit: a row posts :class:`~ft_tui.tui.messages.FieldEdited` when its editor changes and
:class:`~ft_tui.tui.messages.FieldFocused` when it gets the focus; the setup screen owns the state and calls
:meth:`FieldRow.show` to redraw. Programmatic updates never emit (``prevent``), so only the user marks a field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ft_tui.planner.config import FIELDS
from ft_tui.tui.i18n import field_label, label, value_words
from ft_tui.tui.messages import FieldEdited, FieldFocused, SectionMounted
from ft_tui.tui.state import format_value
from ft_tui.tui.widgets.wrap import WrappedStatic
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.events import DescendantFocus
from textual.suggester import Suggester, SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

USER_MARK = "●"
PLAN_MARK = "◦"


class CommaSuggester(Suggester):
    """Completes the last item of a comma-separated list (``dataset: a,b``) from known names."""

    def __init__(self, names: Iterable[str]):
        super().__init__(use_cache=False, case_sensitive=True)
        self.names = list(names)

    async def get_suggestion(self, value: str) -> str | None:
        head, _, last = value.rpartition(",")
        stripped = last.lstrip()
        if not stripped:
            return None
        for name in self.names:
            if name.lower().startswith(stripped.lower()) and name != stripped:
                lead = last[: len(last) - len(stripped)]
                return (head + "," if head or value.startswith(",") else "") + lead + name
        return None


class FieldInput(Input):
    """The form's text editor: an :class:`Input` that applies its own editing keys in the order they arrive.

    Textual inserts a printable key as soon as the Input receives it, but runs a bound key (backspace, end, delete,
    ctrl+u...) only once the unhandled key event has bubbled through every ancestor's queue back to the App. In a
    burst (a fast typist, tmux, a busy screen re-estimating) the characters typed after a backspace then land
    before it, and the backspace eats them: "End BSpace BSpace BSpace 222" on "8" ends as "8". Here the Input's
    own bindings run on arrival, like printable keys; every other key (the screen's and the app's bindings) still
    bubbles, so it stays behind the edits typed before it.
    """

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, ()):
                if not binding.priority and await self.app.run_action(binding.action, self):
                    event.stop()
                    event.prevent_default()
                    return
        await super()._on_key(event)


def editor_options(key: str) -> list[str] | None:
    """The fixed options of a key as the form spells them, or None when the key takes free text."""
    meta = FIELDS[key].metadata
    if meta["kind"] == "choice":
        return [format_value(c) for c in meta["choices"]]
    if meta["kind"] == "bool":
        return (["null"] if meta["nullable"] else []) + ["true", "false"]
    return None


def _shown(value: str) -> str:
    """A free-text field that is not set shows empty (with a "not set" placeholder), not the YAML word null."""
    return "" if value == "null" else value


class FieldRow(Widget):
    """One config key: marker (● set by you / ◦ recommended) and name, editor, and a note line (the planner's
    reason or the validation problem)."""

    DEFAULT_CSS = """
    FieldRow { height: auto; layout: grid; grid-size: 2; grid-columns: 33 1fr; grid-rows: 1 auto; }
    FieldRow .field-name { width: 1fr; }
    FieldRow .field-editor { width: 1fr; }
    FieldRow .field-note { column-span: 2; height: auto; padding-left: 2; color: $text-muted; }
    FieldRow.-invalid .field-note { color: $text-error; text-style: bold; }
    FieldRow.-user .field-name { text-style: bold; }
    FieldRow:focus-within { background: $boost; }
    FieldRow:focus-within .field-name { color: $text-accent; text-style: bold; }
    """

    def __init__(self, key: str, *, value: str = "", options: Sequence[str] | None = None,
                 suggester: Suggester | None = None):
        super().__init__(id=f"row-{key}", classes="field-row")
        self.key = key
        self.initial = value
        self.options = list(options) if options is not None else editor_options(key)
        if self.options is not None and value not in self.options:
            self.options.append(value)
        self.suggester = suggester
        self.user_set = False
        self.detail: Any = None  # what gives an unset value its meaning (the template's detection reason)

    @property
    def lang(self) -> str:
        return getattr(self.app, "lang", "en")

    def _name_text(self) -> str:
        return f"{USER_MARK if self.user_set else PLAN_MARK} {field_label(self.lang, self.key)}"

    def _choices(self) -> list[tuple[str, str]]:
        """The Select's (words, value) pairs: a YAML null reads as what it means ("none (16-bit)", "auto")."""
        return [(value_words(self.lang, self.key, o, template_reason=self.detail), o) for o in self.options or ()]

    def compose(self) -> ComposeResult:
        yield Label(self._name_text(), classes="field-name", markup=False)
        yield self._editor()
        yield WrappedStatic("", classes="field-note", markup=False)

    def _editor(self) -> Input | Select:
        eid = f"field-{self.key}"
        if self.options is not None:
            return Select(self._choices(), value=self.initial, allow_blank=False, compact=True, id=eid,
                          classes="field-editor")
        kind = FIELDS[self.key].metadata["kind"]
        kw: dict[str, Any] = {}
        if kind == "int":
            kw["type"] = "text"  # "integer" would refuse '-' and 'null' mid-typing; config_from_dict validates
        return FieldInput(_shown(self.initial), compact=True, id=eid, classes="field-editor", suggester=self.suggester,
                     select_on_focus=False, placeholder=self._placeholder(getattr(self.app, "lang", "en")), **kw)

    def _placeholder(self, lang: str) -> str:
        """What an empty field means ("all rows", "same as training"), for a key that may be left unset."""
        return value_words(lang, self.key, "null") if FIELDS[self.key].metadata["nullable"] else ""

    def relabel(self, lang: str) -> None:
        """Words of the row in ``lang``: its name, the choices' words, the empty field's meaning (notes are redrawn
        by :meth:`show`)."""
        editor = self.editor
        self.query_one(".field-name", Label).update(self._name_text())
        if isinstance(editor, Input):
            editor.placeholder = self._placeholder(lang)
        elif self.options is not None:
            self.set_options(self.options)

    def set_detail(self, detail: Any) -> None:
        """Change what gives the unset value its meaning (the template's detection) and reword the choices."""
        if detail != self.detail:
            self.detail = detail
            if self.options is not None:
                self.set_options(self.options)

    @property
    def editor(self) -> Input | Select:
        return self.query_one(".field-editor")  # type: ignore[return-value]

    def set_options(self, options: Sequence[str]) -> None:
        """Replace a Select's options (e.g. the template list), keeping the shown value."""
        editor = self.editor
        if isinstance(editor, Select):
            self.options = list(options)
            value = editor.value
            with self.prevent(Select.Changed):
                editor.set_options(self._choices())  # Textual selects the first option: put the value back
                if value in self.options:
                    editor.value = value
                # The shown words follow the new options even when the value stayed the same (Textual redraws
                # them only when the value changes): the language switch, the template found after the load.
                select: Any = Select  # the reactive descriptor (its class is generic in the value type)
                editor.mutate_reactive(select.value)

    def show(self, *, value: str | None, user_set: bool, note: str, problem: str | None = None) -> None:
        """Redraw from the state without emitting FieldEdited; ``value`` None leaves the editor's text alone (it
        came from the editor)."""
        editor = self.editor
        with self.prevent(Input.Changed, Select.Changed):
            if value is None:
                pass
            elif isinstance(editor, Select):
                if value not in (self.options or ()):
                    self.set_options([*(self.options or ()), value])
                if editor.value != value:
                    editor.value = value
            elif editor.value != _shown(value):
                editor.value = _shown(value)
                editor.cursor_position = len(editor.value)
        self.user_set = user_set
        self.query_one(".field-name", Label).update(self._name_text())
        self.set_class(user_set, "-user")
        self.set_class(problem is not None, "-invalid")
        text = f"✗ {problem}" if problem else note
        self.query_one(".field-note", Static).update(text)
        self.query_one(".field-note", Static).display = bool(text)

    # Only a change made while the row has the focus is the user's: editors also report their value when they
    # mount (a lazily mounted section) and when show() redraws them.
    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.has_focus_within:
            self.post_message(FieldEdited(self.key, event.value))

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is not Select.NULL and self.has_focus_within:
            self.post_message(FieldEdited(self.key, event.value))

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        self.post_message(FieldFocused(self.key))


class DataPreview(Static):
    """Formatted dataset rows: the masked prompt dim and struck through, the trained reply bold and underlined
    (distinct without colour too), followed by the token-length statistics."""

    DEFAULT_CSS = """
    DataPreview { height: auto; padding: 1 0 0 2; }
    """

    shown_text = ""  # what is shown, as plain text

    def show(self, stats_text: str, rows: list[list[tuple[str, bool]]], note: str | None = None,
             max_chars: int = 400, *, lang: str = "en") -> None:
        """Show the notes and statistics (already in ``lang``) and the preview rows under a heading in ``lang``."""
        out = Text()
        if note:
            out.append(note + "\n", style="italic")
        if stats_text:
            out.append(stats_text + "\n")
        if rows:
            out.append(label(lang, "preview_open"), style="bold")
            out.append(label(lang, "preview_prompt"), style="dim strike")
            out.append(label(lang, "preview_sep"))
            out.append(label(lang, "preview_trained"), style="bold underline")
            out.append(label(lang, "preview_close") + "\n", style="bold")
        for i, segments in enumerate(rows, 1):
            out.append(f"{i}. ")
            used = 0
            for text, trained in segments:
                piece = text[: max(0, max_chars - used)]
                used += len(piece)
                out.append(piece, style="bold underline" if trained else "dim strike")
            out.append(" …\n" if used >= max_chars else "\n")
        self.shown_text = out.plain
        self.update(out)


class SectionForm(VerticalScroll, can_focus=False):
    """The rows of one section, in schema order.

    A ``deferred`` section starts empty and builds its rows on :meth:`populate`: the first paint (and the first
    estimate) need only the visible section, and building all ~50 rows first would delay them.
    """

    DEFAULT_CSS = """
    SectionForm { height: 1fr; padding: 0 1; }
    """

    def __init__(self, keys: Sequence[str], *, values: Callable[[str], str] | None = None,
                 suggesters: dict[str, Suggester] | None = None, options: dict[str, Sequence[str]] | None = None,
                 extra: Sequence[Any] = (), deferred: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.populated = not deferred
        self.keys = list(keys)
        self.values = values or (lambda key: "")
        self.suggesters = suggesters or {}
        self.options = options or {}
        self.extra = list(extra)

    def _rows(self) -> list[Widget]:
        rows: list[Widget] = [FieldRow(key, value=self.values(key), options=self.options.get(key),
                                       suggester=self.suggesters.get(key)) for key in self.keys]
        return rows + self.extra

    def compose(self) -> ComposeResult:
        if self.populated:
            yield from self._rows()

    def on_mount(self) -> None:
        if self.populated:
            self.post_message(SectionMounted())

    async def populate(self) -> None:
        """Build the rows of a deferred section (values are read now, so they are current)."""
        if self.populated:
            return
        self.populated = True
        await self.mount_all(self._rows())
        self.post_message(SectionMounted())


def model_suggester(names: Iterable[str]) -> Suggester:
    """Suggestions for model_name_or_path from the built-in catalog."""
    return SuggestFromList(list(names), case_sensitive=False)
