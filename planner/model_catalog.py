"""The built-in model catalog ``data/models.yaml``: config.json fields of popular open models, for planning
without the model on disk or the network (the third place :func:`.models.inspect_model` looks).

No torch and no transformers at import time.
"""

from __future__ import annotations

import copy
import difflib
import re
from functools import lru_cache
from pathlib import Path

from .errors import ModelError
from .messages import Msg
from .model_spec import ModelSpec, instruct_from_name, spec_from_config

CATALOG_PATH = Path(__file__).with_name("data") / "models.yaml"

_BNB_SUFFIX_RE = re.compile(r"(-unsloth)?-bnb-(4|8)bit$", re.IGNORECASE)


def _norm(name: str) -> str:
    return name.strip().strip("/").lower()


@lru_cache(maxsize=1)
def _catalog() -> tuple[list[dict], dict[str, tuple[dict, str]]]:
    """(entries with resolved configs, index: lower-cased id/alias/bare name -> (entry, the spelled name))."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(CATALOG_PATH.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(Msg("catalog_unreadable", error=str(exc)), file=str(CATALOG_PATH)) from exc
    entries: list[dict] = []
    by_id: dict[str, dict] = {}
    for raw in data["models"]:
        entry = dict(raw)
        config = dict(by_id[entry["like"]]["config"]) if entry.get("like") else {}
        config.update(entry.get("config") or {})
        entry["config"] = config
        by_id[entry["id"]] = entry
        entries.append(entry)
    index: dict[str, tuple[dict, str]] = {}
    for entry in entries:  # full ids first so they win over bare names of other entries
        for spelled in (entry["id"], *entry.get("aliases", [])):
            index.setdefault(_norm(spelled), (entry, spelled))
    for entry in entries:
        for spelled in (entry["id"], *entry.get("aliases", [])):
            index.setdefault(_norm(spelled).split("/")[-1], (entry, spelled))
    return entries, index


def catalog_names() -> list[str]:
    """Hub ids of every catalog model, in catalog order (for TUI suggestions)."""
    return [e["id"] for e in _catalog()[0]]


def catalog_entry(name: str) -> dict | None:
    """The catalog entry matching ``name`` (case-insensitive, with or without org, aliases), or None."""
    hit = _catalog_lookup(name)
    return hit[0] if hit else None


def _catalog_lookup(name: str) -> tuple[dict, str] | None:
    _, index = _catalog()
    key = _norm(name)
    return index.get(key) or index.get(key.split("/")[-1])


def close_catalog_matches(name: str, n: int = 5) -> list[str]:
    """Catalog ids whose id or alias resembles ``name``."""
    _, index = _catalog()
    bare = _norm(name).split("/")[-1]
    keys = difflib.get_close_matches(bare, [k for k in index if "/" not in k], n=n * 3, cutoff=0.6)
    keys += [k for k in index if "/" not in k and bare and bare in k]
    out: list[str] = []
    for key in keys:
        cid = index[key][0]["id"]
        if cid not in out:
            out.append(cid)
    return out[:n]


def spec_from_catalog(name: str) -> ModelSpec | None:
    quant = None
    lookup_name = name
    m = _BNB_SUFFIX_RE.search(name.strip())
    if m:  # e.g. unsloth/Llama-3.2-1B-Instruct-bnb-4bit: same architecture, pre-quantized weights
        quant = f"bnb-{m.group(2)}bit"
        lookup_name = name.strip()[: m.start()]
    hit = _catalog_lookup(lookup_name)
    if hit is None:
        return None
    entry, _ = hit
    spec = spec_from_config(copy.deepcopy(entry["config"]), name=name, source="catalog",
                            where=f"{CATALOG_PATH} ({entry['id']})")
    by_name = instruct_from_name(lookup_name)
    spec.is_instruct = by_name if by_name is not None else entry.get("is_instruct")
    spec.catalog_id = entry["id"]
    spec.published_params = entry.get("published_params")
    spec.extra_params = int(entry.get("extra_params") or 0)
    spec.quantized_checkpoint = quant
    return spec
