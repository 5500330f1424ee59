"""Saving a config so that it stays the user's file: round-trip YAML for a file that was loaded, and no ft-tui-only
keys the user did not set.

A LLaMA-Factory YAML that ft-tui loaded and saves again must stay a file LLaMA-Factory can run: every key it had
stays (also those ft-tui ignores, such as ``do_train``, ``eval_strategy``, ``ddp_timeout``, ``plot_loss``), in its
order, with its comments and its spelling of unchanged values (``1.0e-4`` stays ``1.0e-4``); only the values that
changed are written, and a key the file did not have is added only when the user set it. ft-tui's own keys
(``memory_margin``, ``target_effective_batch``, ``use_run_history``; LLaMA-Factory refuses keys it does not know)
are written only when the user set them. ruamel.yaml's round-trip mode keeps the comments and the order.

No torch; ruamel.yaml is imported when a file is saved.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

from .config import ALIASES, KEYS, TrainConfig, dump_config, redact


@functools.cache
def ft_tui_only_keys() -> frozenset[str]:
    """Schema keys that are ft-tui's own: neither LLaMA-Factory's arguments nor transformers' training arguments
    (current or older releases), so LLaMA-Factory would refuse them."""
    from .lf_keys import LLAMAFACTORY_KEYS, hf_training_args

    current, older = hf_training_args()
    return frozenset(k for k in KEYS if k not in LLAMAFACTORY_KEYS and k not in current and k not in older)


def _same(old: Any, new: Any) -> bool:
    """Whether a value as the file spells it means the config's value (``3`` and ``3.0``, ``1.0e-4`` and 1e-4)."""
    if isinstance(old, bool) or isinstance(new, bool):
        return old is new or (isinstance(old, bool) and isinstance(new, bool) and old == new)
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return math.isclose(float(old), float(new), rel_tol=1e-12, abs_tol=0.0)
    if isinstance(old, str) and isinstance(new, str):
        return old.strip() == new.strip()
    return old == new


def new_file_text(cfg: TrainConfig, user_keys: Iterable[str]) -> str:
    """A config that comes from no file: every key in schema order (the planner's choices included), secrets
    removed, ft-tui-only keys only when the user set them."""
    user = set(user_keys)
    text = dump_config(cfg)
    if not ft_tui_only_keys() - user:
        return text
    import yaml

    data = redact(cfg.to_dict())
    for key in ft_tui_only_keys() - user:
        data.pop(key, None)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def round_trip_text(cfg: TrainConfig, original: str, user_keys: Iterable[str]) -> str:
    """``original`` (the text of the YAML file the config was loaded from) with the config's changed values written
    into it: its keys, order, comments and unchanged spellings kept; a schema key it lacks added (at the end) only
    when it is in ``user_keys``. Raises ValueError when ``original`` is not a YAML mapping."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines
    # ruamel writes None as an empty value; a file that said `null` keeps saying it (LLaMA-Factory's spelling)
    yaml.representer.add_representer(
        type(None), lambda rep, _data: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    doc = yaml.load(original)
    if doc is None:
        from ruamel.yaml.comments import CommentedMap

        doc = CommentedMap()
    if not isinstance(doc, MutableMapping):
        raise ValueError("the file is not a YAML mapping")
    values = redact(cfg.to_dict())
    in_file = {ALIASES.get(str(k), str(k)): k for k in doc}  # schema key -> the file's spelling of it
    user = set(user_keys)
    for key in KEYS:
        new = values[key]
        if key in in_file:
            if not _same(doc[in_file[key]], new):
                doc[in_file[key]] = new
        elif key in user:
            doc[key] = new
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def save_config_file(cfg: TrainConfig, path: str | Path, *, user_keys: Iterable[str],
                     original: str | Path | None = None) -> Path:
    """Write ``cfg`` to ``path``: round-trip into the ``original`` file's text when there is one (see
    :func:`round_trip_text`), else a new file (:func:`new_file_text`). Returns the path written."""
    text = None
    if original is not None:
        from ruamel.yaml.error import YAMLError

        try:
            text = round_trip_text(cfg, Path(original).expanduser().read_text(encoding="utf-8"), user_keys)
        except (OSError, UnicodeDecodeError, ValueError, YAMLError):
            text = None  # the original is gone or no longer a YAML mapping: write the config as a new file
    if text is None:
        text = new_file_text(cfg, user_keys)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p
