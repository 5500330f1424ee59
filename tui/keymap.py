"""Key binding ids and the user's remapping file.

Every binding in the TUI has a stable id (the constants below); a user remaps keys in
``${XDG_CONFIG_HOME:-~/.config}/ft-tui/keymap.yaml`` with lines such as ``setup.start: f9`` or
``app.quit: ctrl+q,ctrl+x``, applied through Textual's ``App.set_keymap``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import config_dir
from ft_tui.planner.yaml_files import load_yaml_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from textual.dom import DOMNode

QUIT = "app.quit"
START = "setup.start"
REPLAN = "setup.replan"
REPLAN_ALL = "setup.replan_all"
SAVE = "setup.save"
LOAD = "setup.load"
RESET_FIELD = "setup.reset_field"
HELP_LANGUAGE = "help.language"
HELP_TOGGLE = "help.toggle"
HELP_SCROLL_DOWN = "help.scroll_down"
HELP_SCROLL_UP = "help.scroll_up"
PLAN_TOGGLE = "setup.plan_toggle"
RUNS = "app.runs"
NEXT_SECTION = "setup.next_section"
PREV_SECTION = "setup.prev_section"
DIALOG_CANCEL = "dialog.cancel"
DIALOG_YES = "dialog.yes"
DIALOG_NO = "dialog.no"

#: id -> (default keys, what it does); the README and the tests read this table.
DEFAULT_KEYS: dict[str, tuple[str, str]] = {
    QUIT: ("ctrl+q", "quit ft-tui (a started run keeps running)"),
    START: ("ctrl+t,f10", "validate, confirm when the plan does not fit, and start the run"),
    REPLAN: ("f5,ctrl+r", "re-plan every field you did not set, around the ones you did"),
    REPLAN_ALL: ("shift+f5", "re-plan every planned field, also those you set (batch, quantization, LoRA rank...)"),
    SAVE: ("ctrl+s", "save the config as YAML"),
    LOAD: ("ctrl+o", "load a config (ours or a LLaMA-Factory YAML)"),
    RESET_FIELD: ("f8", "give the focused field back to the planner"),
    HELP_LANGUAGE: ("f2", "switch the language of labels, plan panel and help (English / 中文)"),
    HELP_TOGGLE: ("f1", "show or hide the help panel"),
    HELP_SCROLL_DOWN: ("shift+pagedown,ctrl+down", "scroll the help panel down (the field keeps the focus)"),
    HELP_SCROLL_UP: ("shift+pageup,ctrl+up", "scroll the help panel up"),
    PLAN_TOGGLE: ("f3", "show the plan panel (narrow terminals) or hide it"),
    RUNS: ("f4", "list runs"),
    NEXT_SECTION: ("alt+right,ctrl+pagedown", "next section (Model & Method, Dataset, Training, LoRA)"),
    PREV_SECTION: ("alt+left,ctrl+pageup", "previous section"),
    DIALOG_CANCEL: ("escape", "close a dialog without doing anything"),
    DIALOG_YES: ("y", "answer yes in a confirmation dialog"),
    DIALOG_NO: ("n", "answer no in a confirmation dialog"),
}


def known_binding_ids() -> dict[str, tuple[str, str]]:
    """Every binding id with its default keys and description: this table plus the run and runs screens' own
    (imported only here, off the start-up path, when a keymap names an id outside this table)."""
    out = dict(DEFAULT_KEYS)
    for module, table in (("ft_tui.tui.screens.run", "RUN_KEYS"), ("ft_tui.tui.screens.runs", "RUNS_KEYS")):
        try:
            out.update(getattr(importlib.import_module(module), table))
        except (ImportError, AttributeError):
            continue
    return out


def keys_for(binding_id: str) -> str:
    """The default key string of a binding id."""
    return DEFAULT_KEYS[binding_id][0]


def keymap_path() -> Path:
    """``${XDG_CONFIG_HOME:-~/.config}/ft-tui/keymap.yaml``."""
    return config_dir() / "keymap.yaml"


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """Read the user's keymap (binding id -> comma-separated keys); {} when the file does not exist.

    Raises InputError for a file that is not a mapping of known ids to key strings, naming the line to fix.
    """
    p = path or keymap_path()
    if not p.is_file():
        return {}
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(Msg("keymap_unreadable", error=str(exc)), file=str(p), hint=Msg("hint_keymap_lines")) from None
    data, _ = load_yaml_text(text, str(p))  # the one reader of user YAML: a syntax error or a key given twice, with its line
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(Msg("keymap_not_mapping"), file=str(p))
    out: dict[str, str] = {}
    known: dict[str, tuple[str, str]] | None = None
    for key, value in data.items():
        if key not in DEFAULT_KEYS:
            known = known if known is not None else known_binding_ids()
            if key not in known:
                raise InputError(Msg("keymap_unknown_id", key=key), file=str(p),
                                 hint=Msg("hint_keymap_known", ids=Msg.join(sorted(known), "list")))
        if not isinstance(value, str) or not value.strip():
            raise InputError(Msg("keymap_no_keys", key=key), file=str(p))
        out[str(key)] = ",".join(k.strip() for k in value.split(",") if k.strip())
    return out


def localize_bindings(node: DOMNode, lang: str) -> None:
    """Show ``node``'s key bindings in ``lang`` in the footer (and the keys panel), then refresh them.

    Textual 8 has no API to change a Binding's description at runtime (``Binding`` is frozen and ``BINDINGS`` is
    read once per class), but every node holds its own copy of its bindings map, the one Textual itself extends
    when it adds the command palette key. Each binding there is replaced by a copy with the description for its
    id (``tui/i18n.py``, ``key_<id>``); keys, actions and ids stay, so a user keymap still applies.
    """
    from dataclasses import replace

    from ft_tui.tui.i18n import binding_label

    bindings = node._bindings.key_to_bindings  # noqa: SLF001 - per-node map; see the docstring
    for key, items in list(bindings.items()):
        bindings[key] = [replace(b, description=binding_label(lang, b.id or b.action, b.description))
                         if b.description else b for b in items]
    node.refresh_bindings()


def show_bindings(node: DOMNode, binding_ids: set[str], shown: bool) -> None:
    """Show or hide ``node``'s bindings with these ids in the footer (the keys keep working): the setup screen
    hides the least needed ones on a narrow terminal so that F2 and F4 still fit. Same per-node map as
    :func:`localize_bindings`."""
    from dataclasses import replace

    bindings = node._bindings.key_to_bindings  # noqa: SLF001 - per-node map; see localize_bindings
    for key, items in list(bindings.items()):
        bindings[key] = [replace(b, show=shown) if b.id in binding_ids else b for b in items]
    node.refresh_bindings()
