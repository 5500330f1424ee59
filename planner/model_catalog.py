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
        entry["raw_config"] = dict(entry.get("config") or {})  # the entry's own keys, before `like` fills in
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


# A size in a model name: 7b, 0.6b, 135m, 8x7b (an MoE's "-a3b" active size comes after it).
_SIZE_RE = re.compile(r"(?<![a-z0-9.])(?:\d+x)?\d+(?:\.\d+)?[bm](?=$|[-_.])")


def name_family(bare: str) -> tuple[str, str]:
    """(family, size) of a bare model name: ``qwen3-4b-instruct-2507`` -> ("qwen3", "4b"),
    ``meta-llama-3.1-8b`` -> ("metallama3.1", "8b"), ``phi-4-mini-instruct`` -> ("phi4", "")."""
    m = _SIZE_RE.search(bare)
    if m:
        head, size = bare[: m.start()], m.group(0)
    else:
        head, size = "-".join(bare.split("-")[:2]), ""
    return re.sub(r"[^a-z0-9.]", "", head).strip("."), size


def _same_family(a: str, b: str) -> bool:
    return bool(a and b) and (a == b or a.endswith(b) or b.endswith(a))


def rank_close_names(name: str, candidates: list[str], n: int = 5) -> list[str]:
    """The ``n`` candidate names most like ``name``: the same family first (``qwen3`` for Qwen3-4B-Instruct-2507),
    within it the same size first, then by name similarity; other families only when their name is close
    (difflib ratio >= 0.6) or contains ``name``. Candidates are bare lower-case names."""
    bare = _norm(name).split("/")[-1]
    family, size = name_family(bare)
    scored = []
    for cand in candidates:
        fam, sz = name_family(cand)
        ratio = difflib.SequenceMatcher(None, bare, cand).ratio()
        same = _same_family(family, fam)
        if same or ratio >= 0.6 or (bare and bare in cand):
            scored.append(((same, same and bool(size) and size == sz, ratio), cand))
    scored.sort(key=lambda item: item[0], reverse=True)
    return [cand for _, cand in scored[:n]]


def close_catalog_matches(name: str, n: int = 5) -> list[str]:
    """Catalog ids whose id or alias resembles ``name``, the same model family first (see
    :func:`rank_close_names`)."""
    _, index = _catalog()
    keys = rank_close_names(name, [k for k in index if "/" not in k], n=len(index))
    out: list[str] = []
    for key in keys:
        cid = index[key][0]["id"]
        if cid not in out:
            out.append(cid)
    return out[:n]


_SHAPE_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
               "intermediate_size", "vocab_size", "tie_word_embeddings", "moe_intermediate_size", "num_experts",
               "num_experts_per_tok", "num_local_experts", "model_type")


def catalog_note(entry: dict, spelled: str) -> str | None:
    """What the plan says about a catalog hit: an alias has the same shapes as its entry; a variant (``like:``)
    says what it shares and what differs (its ``reason``, else derived from the keys it overrides)."""
    if _norm(spelled) != _norm(entry["id"]) and _norm(spelled) != _norm(entry["id"]).split("/")[-1]:
        return f"same shapes as {entry['id']}"
    if entry.get("reason"):
        return " ".join(str(entry["reason"]).split())
    like = entry.get("like")
    if not like:
        return None
    changed = [k for k in _SHAPE_KEYS if k in (entry.get("raw_config") or {})]
    if changed:
        return f"{like}'s config.json with other {', '.join(changed)}"
    return f"same shapes as {like}"


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
    entry, spelled = hit
    spec = spec_from_config(copy.deepcopy(entry["config"]), name=name, source="catalog",
                            where=f"{CATALOG_PATH} ({entry['id']})")
    by_name = instruct_from_name(lookup_name)
    spec.is_instruct = by_name if by_name is not None else entry.get("is_instruct")
    spec.catalog_id = entry["id"]
    spec.published_params = entry.get("published_params")
    spec.extra_params = int(entry.get("extra_params") or 0)
    spec.quantized_checkpoint = quant
    spec.catalog_note = catalog_note(entry, spelled)
    spec.catalog_source = " ".join(str(entry["source"]).split()) if entry.get("source") else None
    return spec
