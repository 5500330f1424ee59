"""Typed modal dialogs (``ModalScreen[T]`` that ``dismiss(value)``), shared by the setup and run screens."""

from __future__ import annotations

from pathlib import Path

from ft_tui.tui import keymap as K
from ft_tui.tui.i18n import label
from ft_tui.tui.widgets.wrap import WrappedStatic
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 72; max-width: 95%; height: auto; max-height: 90%;
    border: thick $primary; background: $surface; padding: 1 2;
}}
{name} .dialog-title {{ text-style: bold; width: 1fr; }}
{name} .dialog-body {{ height: auto; max-height: 14; margin: 1 0; overflow-y: auto; }}
{name} .dialog-error {{ color: $text-error; height: auto; }}
{name} Horizontal {{ height: auto; align-horizontal: right; }}
{name} Button {{ margin-left: 2; }}
"""


def _lang(screen: ModalScreen) -> str:
    return getattr(screen.app, "lang", "en")


class ConfirmDialog(ModalScreen[bool]):
    """Asks a yes/no question; dismisses with True (yes) or False (no, escape). ``yes`` / ``no`` default to Yes /
    No in the app's language; the caller words the title and body in it."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmDialog")
    BINDINGS = [Binding(K.keys_for(K.DIALOG_CANCEL), "cancel", "Cancel", id=K.DIALOG_CANCEL),
                Binding(K.keys_for(K.DIALOG_YES), "confirm", "Yes", show=False, id=K.DIALOG_YES),
                Binding(K.keys_for(K.DIALOG_NO), "cancel", "No", show=False, id=K.DIALOG_NO)]

    def __init__(self, title: str, body: str, *, yes: str | None = None, no: str | None = None,
                 danger: bool = False):
        super().__init__()
        self.title_text, self.body, self.yes, self.no, self.danger = title, body, yes, no, danger

    def compose(self) -> ComposeResult:
        lang = _lang(self)
        with Vertical():
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield WrappedStatic(self.body, classes="dialog-body", markup=False)  # Chinese breaks between characters
            with Horizontal():
                yield Button(self.no or label(lang, "key_dialog.no"), id="no")
                yield Button(self.yes or label(lang, "key_dialog.yes"), id="yes",
                             variant="error" if self.danger else "primary")

    def on_mount(self) -> None:
        K.localize_bindings(self, _lang(self))
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(False)


class PathDialog(ModalScreen["Path | None"]):
    """Asks for a file path (save as / load); dismisses with the expanded Path, or None on cancel.

    ``must_exist`` checks the file is there before closing (load); otherwise the parent folder must exist or be
    creatable (save)."""

    DEFAULT_CSS = DIALOG_CSS.format(name="PathDialog")
    BINDINGS = [Binding(K.keys_for(K.DIALOG_CANCEL), "cancel", "Cancel", id=K.DIALOG_CANCEL)]

    def __init__(self, title: str, *, value: str = "", must_exist: bool = False, ok: str | None = None):
        super().__init__()
        self.title_text, self.value, self.must_exist, self.ok = title, value, must_exist, ok

    def compose(self) -> ComposeResult:
        lang = _lang(self)
        with Vertical():
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Input(self.value, id="path", placeholder="path/to/config.yaml")
            yield WrappedStatic("", classes="dialog-error", id="path-error", markup=False)
            with Horizontal():
                yield Button(label(lang, "key_dialog.cancel"), id="cancel")
                yield Button(self.ok or label(lang, "dialog_ok"), id="ok", variant="primary")

    def on_mount(self) -> None:
        K.localize_bindings(self, _lang(self))
        self.query_one("#path", Input).focus()

    def _check(self, text: str) -> str | None:
        lang = _lang(self)
        if not text.strip():
            return label(lang, "path_empty")
        path = Path(text.strip()).expanduser()
        if self.must_exist and not path.is_file():
            return label(lang, "path_no_file", path=path)
        if path.is_dir():
            return label(lang, "path_is_dir", path=path, example=path / "config.yaml")
        return None

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        text = self.query_one("#path", Input).value
        problem = self._check(text)
        if problem:
            self.query_one("#path-error", Static).update(problem)
            return
        self.dismiss(Path(text.strip()).expanduser())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
