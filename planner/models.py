"""Model inspection: ``inspect_model(name_or_path)`` turns a model id or path into a :class:`.ModelSpec` without
downloading weights, looking in order at:

1. a local directory with ``config.json`` (plus the JSON headers of its ``*.safetensors`` files, which give the
   exact bytes of the weights and reveal pre-quantized bitsandbytes checkpoints);
2. the Hugging Face hub cache, offline (``models--org--name/snapshots/*/config.json``);
3. the built-in catalog ``data/models.yaml`` (:mod:`.model_catalog`, about 50 popular open models);
4. the hub, ``config.json`` only, when the network is allowed.

How config.json fields become a spec is :mod:`.model_spec`; parameter counts are :mod:`.params`.

No torch and no transformers at import time (checked by a test).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from .errors import ModelError
from .messages import Msg
from .model_catalog import close_catalog_matches, spec_from_catalog
from .model_spec import ModelSpec, instruct_from_name, spec_from_config
from .paths import hf_hub_cache_dir, hf_offline, is_local_model_ref

# ------------------------------------------------------------------------------------------------------------------
# Local directories: config.json, tokenizer files, safetensors headers
# ------------------------------------------------------------------------------------------------------------------

def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(Msg("cannot_read", error=str(exc.strerror or exc)), file=str(path)) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise ModelError(Msg("not_json", error=str(exc)), file=str(path), line=line,
                         hint=Msg("hint_redownload")) from exc


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of one .safetensors file (8-byte little-endian length, then that many bytes of JSON).

    Only the header is read, never the tensor data. Format: huggingface.co/docs/safetensors "Metadata Parsing".
    """
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise ModelError(Msg("st_too_short"), file=str(path))
            (length,) = struct.unpack("<Q", prefix)
            if length > 100_000_000:
                raise ModelError(Msg("st_header_length", length=length), file=str(path))
            raw = fh.read(length)
    except OSError as exc:
        raise ModelError(Msg("cannot_read", error=str(exc.strerror or exc)), file=str(path)) from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(Msg("st_header_json", error=str(exc)), file=str(path)) from exc
    if not isinstance(header, dict):
        raise ModelError(Msg("st_header_object"), file=str(path))
    return header


def _check_shard_size(path: Path, header: dict[str, Any]) -> None:
    """A shard must hold the bytes its header promises (8 + header + the last tensor's end): a download cut short
    otherwise fails in the trainer, after the run started."""
    ends = [info["data_offsets"][1] for name, info in header.items() if name != "__metadata__"
            and isinstance(info, dict) and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2
            and isinstance(info["data_offsets"][1], int)]
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
    expected = 8 + length + max(ends, default=0)
    size = path.stat().st_size
    if size < expected:
        raise ModelError(Msg("st_truncated", expected=expected, size=size), file=str(path), hint=Msg("hint_corrupt"))


def _quant_from_tensor_names(names: list[str], int8_names: set[str]) -> str | None:
    """Detect a pre-quantized bitsandbytes checkpoint from its tensor names (bnb saves its quant state beside)."""
    if any(n.endswith((".absmax", ".quant_map")) or ".quant_state.bitsandbytes__" in n for n in names):
        return "bnb-4bit"
    if any(n.endswith(".SCB") for n in names) and int8_names:
        return "bnb-8bit"
    return None


def _safetensors_facts(folder: Path) -> tuple[int | None, int | None, str | None]:
    """(tensor bytes, stored elements, bnb quantization) from the safetensors headers under ``folder``.

    Sharded checkpoints are read through ``model.safetensors.index.json``; when some shards are absent (a partial
    download) the index's ``metadata.total_size`` gives the bytes and its ``weight_map`` the tensor names.
    """
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        index = _read_json(index_path)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict):
            raise ModelError(Msg("no_weight_map"), file=str(index_path))
        shards = sorted({folder / str(s) for s in weight_map.values()})
        if not all(s.is_file() for s in shards):
            total = (index.get("metadata") or {}).get("total_size")
            quant = _quant_from_tensor_names(list(weight_map), set())
            return (int(total) if isinstance(total, (int, float)) else None), None, quant
    else:
        shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        return None, None, None
    nbytes = elements = 0
    names: list[str] = []
    int8: set[str] = set()
    for shard in shards:
        header = read_safetensors_header(shard)
        _check_shard_size(shard, header)
        for tname, info in header.items():
            if tname == "__metadata__":
                continue
            try:
                begin, end = info["data_offsets"]
                nbytes += int(end) - int(begin)
                count = 1
                for dim in info["shape"]:
                    count *= int(dim)
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelError(Msg("st_tensor_entry", name=tname, error=repr(exc)), file=str(shard),
                                 hint=Msg("hint_corrupt")) from exc
            elements += count
            names.append(tname)
            if info.get("dtype") == "I8":
                int8.add(tname)
    return nbytes, elements, _quant_from_tensor_names(names, int8)


def _has_chat_template(folder: Path) -> bool | None:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    tok = folder / "tokenizer_config.json"
    if not tok.is_file():
        return None
    try:
        data = json.loads(tok.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return bool(isinstance(data, dict) and data.get("chat_template"))


def _spec_from_folder(folder: Path, *, name: str, source: str, trust_remote_code: bool) -> ModelSpec:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelError(Msg("no_config_json", folder=folder), file=str(folder),
                         hint=Msg("hint_model_dir"))
    cfg = _read_json(config_path)
    spec = spec_from_config(cfg, name=name, source=source, where=str(config_path), local_path=str(folder),
                            trust_remote_code=trust_remote_code)
    nbytes, elements, quant = _safetensors_facts(folder)
    spec.weight_bytes_on_disk, spec.params_on_disk = nbytes, elements
    if quant and (spec.quantized_checkpoint is None or spec.quantized_checkpoint.startswith("bnb")):
        spec.quantized_checkpoint = quant
    spec.has_chat_template = _has_chat_template(folder)
    if spec.is_instruct is None:
        spec.is_instruct = instruct_from_name(folder.name)
    return spec


# ------------------------------------------------------------------------------------------------------------------
# Hugging Face hub cache (offline) and the hub (config.json only)
# ------------------------------------------------------------------------------------------------------------------

def _cached_snapshot(repo_id: str) -> Path | None:
    """The snapshot folder of ``repo_id`` in the hub cache that holds a config.json (refs/main first)."""
    cache = hf_hub_cache_dir()
    if not cache.is_dir():
        return None
    folder_name = "models--" + repo_id.replace("/", "--")
    repo_dir = cache / folder_name
    if not repo_dir.is_dir():  # repo ids are case-insensitive on the hub, not on disk
        wanted = folder_name.lower()
        found = next((p for p in cache.iterdir() if p.name.lower() == wanted), None)
        if found is None:
            return None
        repo_dir = found
    snapshots = repo_dir / "snapshots"
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        snap = snapshots / ref.read_text(encoding="utf-8").strip()
        if (snap / "config.json").is_file():
            return snap
    candidates = [p for p in snapshots.glob("*") if (p / "config.json").is_file()] if snapshots.is_dir() else []
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


class _HubUnreachable(Exception):
    """The hub could not be asked (network error); carries the reason for the final message."""


def _fetch_hub_config(repo_id: str, trust_remote_code: bool) -> ModelSpec | None:
    """config.json from the hub (into the normal hub cache), never weights. None when the repo does not exist."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

    try:
        path = Path(hf_hub_download(repo_id=repo_id, filename="config.json", etag_timeout=5))
    except GatedRepoError as exc:
        raise ModelError(Msg("gated", repo=repo_id), hint=Msg("hint_gated")) from exc
    except (RepositoryNotFoundError, EntryNotFoundError):
        return None
    except Exception as exc:  # no network, timeouts, proxies: the caller reports the id as unresolved
        raise _HubUnreachable(f"{type(exc).__name__}: {exc}") from exc
    cfg = _read_json(path)
    spec = spec_from_config(cfg, name=repo_id, source="hub", where=f"{repo_id}/config.json",
                            local_path=str(path.parent), trust_remote_code=trust_remote_code)
    return spec


# ------------------------------------------------------------------------------------------------------------------
# inspect_model
# ------------------------------------------------------------------------------------------------------------------

def _try_hub(name: str, trust_remote_code: bool, allow_network: bool | None) -> tuple[ModelSpec | None, str]:
    """The hub's config.json for ``name`` when allowed, else None and why (for the "unknown model" message)."""
    if hf_offline() or (allow_network is not None and not allow_network):
        return None, Msg("hub_offline")
    try:
        spec = _fetch_hub_config(name, trust_remote_code)
    except _HubUnreachable as exc:
        return None, Msg("hub_unreachable", error=str(exc))
    return spec, Msg("hub_not_found")


def inspect_model(name_or_path: str, *, trust_remote_code: bool = False, allow_network: bool | None = None,
                  base_dir: Path | None = None) -> ModelSpec:
    """Resolve a model id or path to a :class:`ModelSpec`, reading only configs and file headers.

    Order: a local directory (relative to ``base_dir`` when given), the HF hub cache (offline), the built-in
    catalog, then the hub's config.json when the network is allowed (``allow_network`` None = allowed unless
    HF_HUB_OFFLINE is set). A reference that cannot be a hub id is a path (:func:`.paths.is_local_model_ref`).
    Raises :class:`ModelError` when nothing matches or a config is unreadable.
    """
    name = str(name_or_path or "").strip()
    if not name:
        raise ModelError(Msg("no_model"), key="model_name_or_path", hint=Msg("hint_no_model"))
    candidate = Path(name).expanduser()
    if base_dir is not None and not candidate.is_absolute():
        candidate = Path(base_dir) / candidate
    if candidate.is_file() and candidate.name == "config.json":
        candidate = candidate.parent
    if candidate.is_dir():
        return _spec_from_folder(candidate, name=name, source="local", trust_remote_code=trust_remote_code)
    if candidate.exists():
        raise ModelError(Msg("path_not_folder", path=candidate), key="model_name_or_path",
                         hint=Msg("hint_model_dir"))
    if is_local_model_ref(name, base_dir):  # cannot be a hub id: a path, and it does not exist
        raise ModelError(Msg("path_missing", path=candidate), key="model_name_or_path",
                         hint=Msg("hint_path_missing"))
    snapshot = _cached_snapshot(name)
    if snapshot is not None:
        return _spec_from_folder(snapshot, name=name, source="hf-cache", trust_remote_code=trust_remote_code)
    spec = spec_from_catalog(name)
    if spec is not None:
        return spec
    spec, hub_note = _try_hub(name, trust_remote_code, allow_network)
    if spec is not None:
        return spec
    close = close_catalog_matches(name)
    raise ModelError(Msg("unknown_model", name=name, cache=hf_hub_cache_dir(), hub=hub_note),
                     key="model_name_or_path",
                     hint=Msg("hint_unknown_close", close=", ".join(close)) if close
                     else Msg("hint_unknown"))
