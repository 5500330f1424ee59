"""Where files live, and what a model reference points at: the one home for both.

* ft-tui's own folders follow the XDG base directory spec: :func:`config_dir` (user templates, keymap),
  :func:`cache_dir` (the demo kit, data statistics), :func:`state_dir` (the run index). An unset or empty
  variable means its default (``~/.config``, ``~/.cache``, ``~/.local/state``).
* The Hugging Face libraries' view: :func:`hf_hub_cache_dir` (where ``hf download`` puts models) and
  :func:`hf_offline` (whether they will refuse the network), read with the libraries' own rules so ft-tui's checks
  agree with what they do.
* :func:`is_local_model_ref`: whether ``model_name_or_path`` names a local folder or a hub id. The planner, the
  runner and the TUI all decide with it, so a reference never gets two different errors.

No torch, no textual, nothing of ours: every package imports this on its start-up path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

APP = "ft-tui"


def _xdg(variable: str, *default: str) -> Path:
    base = os.environ.get(variable) or str(Path.home().joinpath(*default))
    return Path(base).expanduser()


def config_dir() -> Path:
    """``${XDG_CONFIG_HOME:-~/.config}/ft-tui``: the user's templates and keymap."""
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/ft-tui``: what can be rebuilt (the demo kit, data statistics)."""
    return _xdg("XDG_CACHE_HOME", ".cache") / APP


def state_dir() -> Path:
    """``${XDG_STATE_HOME:-~/.local/state}/ft-tui``: the run index."""
    return _xdg("XDG_STATE_HOME", ".local", "state") / APP


# ----------------------------------------------------------------------------------------------------------------
# The Hugging Face libraries' cache and offline flag
# ----------------------------------------------------------------------------------------------------------------

def hf_hub_cache_dir() -> Path:
    """The hub cache folder: HF_HUB_CACHE, else HF_HOME/hub, else ``${XDG_CACHE_HOME:-~/.cache}/huggingface/hub``
    (huggingface_hub's order)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return _xdg("XDG_CACHE_HOME", ".cache") / "huggingface" / "hub"


#: The values huggingface_hub and datasets read as "true" (compared upper-cased, not stripped).
_TRUE = frozenset({"1", "ON", "YES", "TRUE"})


def hf_offline(*, datasets: bool = False) -> bool:
    """Whether the Hugging Face libraries run offline, by their own rules.

    huggingface_hub (and so transformers) reads ``HF_HUB_OFFLINE``, or ``TRANSFORMERS_OFFLINE`` when the first is
    unset or empty; ``datasets=True`` asks about the datasets library, where ``HF_DATASETS_OFFLINE``, when set,
    overrides both. True values: 1, ON, YES, TRUE (any case).
    """
    if datasets and os.environ.get("HF_DATASETS_OFFLINE") is not None:
        return os.environ["HF_DATASETS_OFFLINE"].upper() in _TRUE
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in _TRUE


# ----------------------------------------------------------------------------------------------------------------
# Model references: a local folder or a hub id
# ----------------------------------------------------------------------------------------------------------------

#: huggingface_hub's repo id rule (utils/_validators.py): an optional ``org/`` and a name, of ASCII letters, digits,
#: ``-``, ``_`` and ``.``, each starting and ending with a letter or digit, at most 96 characters each.
_HUB_ID = re.compile(r"(\b[\w\-.]{1,96}\b/)?\b[\w\-.]{1,96}\b", re.ASCII)


def is_hub_id(ref: str) -> bool:
    """Whether ``ref`` can be a Hugging Face hub id (``org/name`` or a bare ``name``), by huggingface_hub's rules."""
    return bool(_HUB_ID.fullmatch(ref)) and "--" not in ref and ".." not in ref and not ref.endswith(".git")


def is_local_model_ref(ref: str, base_dir: str | Path | None = None) -> bool:
    """Whether ``model_name_or_path`` names a local folder (or file) rather than a hub id.

    One rule, the one transformers follows: a path that exists wins (relative paths are taken from ``base_dir``,
    the config file's folder); anything that cannot be a hub id is a path (``/x``, ``./x``, ``.hidden/x``, ``~/x``,
    ``a/b/c``, ``C:\\models\\x``), even when it does not exist, so it gets "does not exist", never "unknown model".
    """
    if not is_hub_id(ref):
        return True
    path = Path(ref).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    return path.exists()
