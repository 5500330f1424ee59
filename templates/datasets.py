"""Dataset loading in LLaMA-Factory's format, conversion to conversations, tokenization, splitting and packing.

Where a dataset comes from
    ``cfg.dataset`` is a comma-separated list. Each item is looked up, in this order, in
    ``<dataset_dir>/dataset_info.json`` (``dataset_dir`` resolved against the config file's folder, never the
    working directory), in the bundled demo registry (``templates/demo_data/dataset_info.json``, so the demo
    names work from any directory), and finally as a path to a data file or a folder of same-type files
    (relative paths again against the config file's folder). ``dataset_dir: ONLINE`` (as in LLaMA-Factory) reads
every name as a Hugging Face Hub dataset id.

The registry (``dataset_info.json``) follows LLaMA-Factory's ``data/README.md``: ``file_name`` (a file or folder
under ``dataset_dir``), ``hf_hub_url`` (+ ``subset``, ``split``, ``folder``), ``formatting`` (``alpaca``,
``sharegpt`` or ``openai``), ``columns`` and ``tags``. Differences, all deliberate:

* ``ranking: true`` (DPO/RM pairs) and ``kto_tag`` are refused: only SFT and pre-training are supported.
* ``ms_hub_url``, ``om_hub_url``, ``script_url`` and ``cloud_file_name`` are refused when they are the only
  source; keys LLaMA-Factory does not know, and ``num_samples``, are ignored with a warning (LLaMA-Factory
  ignores unknown keys silently, which hides typos such as ``file_nmae``).
* An entry with both ``file_name`` and ``hf_hub_url`` uses the local file when it exists (LLaMA-Factory always
  takes the hub), so a machine without network access can still train on a registry written for one with it.
* ShareGPT tool turns: ``function_call`` turns become assistant turns and ``observation`` turns become user
  turns (their text is kept verbatim); the ``tools`` column is ignored with a warning. Media columns
  (``images``, ``videos``, ``audios``) are ignored with a warning: the models trained here are text-only.

Conversions (the normalized form is ``list[{"role": "system"|"user"|"assistant", "content": str}]``)
    alpaca: user = ``instruction`` + ``"\\n"`` + ``input`` (just ``instruction`` when ``input`` is empty); the
    ``history`` column's ``[query, answer]`` pairs become earlier turns, which are trained like the last one;
    ``system`` becomes a system message. sharegpt/openai: turns must alternate user, assistant, user, ... and end
    on an assistant turn; a conversation that does not is dropped and counted with its reason. Stage ``pt``
    reads one text column (``columns: {prompt: text}``; a column named ``text`` is used when none is mapped).

Tokenization, splitting and packing: see :func:`prepare_datasets`.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ft_tui.planner.errors import DataError
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import hf_offline

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ft_tui.planner.config import TrainConfig

    from .stats import DataStats

DEMO_DIR = Path(__file__).resolve().parent / "demo_data"
REGISTRY_NAME = "dataset_info.json"

# File extension -> reader kind. LLaMA-Factory's FILEEXT2TYPE: arrow, csv, json, jsonl, parquet, txt.
FILE_TYPES = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text",
              ".arrow": "arrow"}
FORMATTINGS = ("alpaca", "sharegpt", "openai")

# Keys LLaMA-Factory reads in a dataset_info.json entry (data/parser.py).
_SOURCE_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name")
_ENTRY_KEYS = set(_SOURCE_KEYS) | {"formatting", "ranking", "subset", "split", "folder", "num_samples",
                                   "columns", "tags"}
_COLUMN_KEYS = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos",
                "audios", "chosen", "rejected", "kto_tag"}
_TAG_KEYS = {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag",
             "system_tag"}
_MEDIA_COLUMNS = ("images", "videos", "audios")

DEFAULT_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "history": None,
                   "system": None, "messages": "conversations", "tools": None}
# LLaMA-Factory's DatasetAttr defaults (sharegpt) and its README's openai-style example.
DEFAULT_TAGS = {
    "sharegpt": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"},
    "openai": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "observation_tag": "tool", "function_tag": "function_call", "system_tag": "system"},
}

IGNORE_INDEX = -100

# Why a row was dropped (the keys of ``LoadedData.dropped`` and of the statistics' ``dropped_reasons``): coded
# notes, so the TUI shows them in the user's language; their text is the English reason.
DROP_EMPTY_RESPONSE = Msg("drop_empty_response")
DROP_EMPTY_TEXT = Msg("drop_empty_text")
DROP_HISTORY = Msg("drop_history")
DROP_MESSAGES = Msg("drop_messages")
DROP_MESSAGE_OBJECT = Msg("drop_message_object")
DROP_ALTERNATE = Msg("drop_alternate")
DROP_LAST_TURN = Msg("drop_last_turn")
DROP_NO_LABEL_EMPTY = Msg("drop_no_label_empty")
DROP_NO_LABEL = Msg("drop_no_label")
_NO_LIMIT = 1 << 30  # "cutoff" used to measure untruncated lengths


# ----------------------------------------------------------------------------------------------------------------
# Data classes
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class DatasetSpec:
    """One resolved dataset: where its rows come from and how to read them."""

    name: str
    files: list[Path] = field(default_factory=list)
    hub_url: str | None = None
    subset: str | None = None
    split: str = "train"
    folder: str | None = None
    formatting: str | None = None  # None: guess from the columns (a dataset given as a path)
    columns: dict[str, str | None] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    origin: str = ""  # the registry file, or "path"
    text_column_explicit: bool = False  # stage pt: columns.prompt was set (else a "text" column wins)

    @property
    def registry(self) -> str | None:
        """The dataset_info.json this dataset came from (None for a path given directly)."""
        return self.origin if self.origin and self.origin != "path" else None

    @property
    def where(self) -> str:
        if self.hub_url:
            return Msg("where_hub", url=self.hub_url)
        if len(self.files) == 1:
            return str(self.files[0])
        return Msg("where_files", n=len(self.files), folder=str(self.files[0].parent))


@dataclass
class LoadedData:
    """Rows of every dataset in ``cfg.dataset`` converted to conversations (sft) or texts (pt)."""

    kind: str  # "sft" | "pt"
    samples: list[Any]  # list of conversations (sft) or of str (pt)
    rows: dict[str, int]  # dataset name -> rows read (after max_samples)
    kept: dict[str, int]  # dataset name -> samples kept
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    warnings: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    hub: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class PreparedData:
    """Tokenized training data: ``train``/``eval`` are ``datasets.Dataset`` with input_ids, labels, length."""

    train: Any
    eval: Any | None
    stats: DataStats


# ----------------------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------------------

def dataset_dir(cfg: TrainConfig) -> Path:
    """The config's ``dataset_dir``, resolved against the config file's folder (never the working directory)."""
    return cfg.resolve_path(cfg.dataset_dir)


def _key_line(text: str, key: str) -> int | None:
    """Line (1-based) of the first ``"key":`` in a JSON text, for error messages."""
    needle = json.dumps(key)
    pos = text.find(needle)
    while pos >= 0:
        rest = text[pos + len(needle):].lstrip()
        if rest.startswith(":"):
            return text.count("\n", 0, pos) + 1
        pos = text.find(needle, pos + 1)
    return None


def read_registry(directory: Path) -> tuple[dict[str, Any], str] | None:
    """Read ``<directory>/dataset_info.json``; None when there is none. Returns (entries, raw text)."""
    path = directory / REGISTRY_NAME
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(Msg("err_registry_unreadable", error=str(exc)), file=str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(Msg("err_registry_json", msg=exc.msg, col=exc.colno), file=str(path), line=exc.lineno,
                        hint=Msg("hint_registry_json")) from None
    if not isinstance(data, dict):
        raise DataError(Msg("err_registry_object"), file=str(path))
    return data, text


def list_datasets(cfg: TrainConfig) -> list[str]:
    """Names the config can use: its registry's entries, then the bundled demo datasets."""
    names: list[str] = []
    for directory in (dataset_dir(cfg), DEMO_DIR):
        try:
            reg = read_registry(directory)
        except DataError:
            continue
        if reg:
            names.extend(n for n in reg[0] if n not in names)
    return names


def _spec_from_entry(name: str, entry: Any, directory: Path, registry: Path, text: str,
                     warnings: list[str]) -> DatasetSpec:
    line = _key_line(text, name)

    def fail(message: Msg, hint: Msg | None = None) -> DataError:
        return DataError(Msg("err_in_dataset", name=name, message=message), file=str(registry), line=line,
                         hint=hint)

    if not isinstance(entry, dict):
        raise fail(Msg("err_entry_object"))
    if entry.get("ranking"):
        raise fail(Msg("err_ranking"))
    if (entry.get("columns") or {}).get("kto_tag"):
        raise fail(Msg("err_kto"))
    for key in sorted(set(entry) - _ENTRY_KEYS):
        warnings.append(Msg("warn_entry_key", registry=str(registry), name=name, key=key))
    if "num_samples" in entry:
        warnings.append(Msg("warn_num_samples", name=name))

    formatting = entry.get("formatting", "alpaca")
    if formatting not in FORMATTINGS:
        raise fail(Msg("err_formatting", formatting=formatting, choices=", ".join(FORMATTINGS)))
    columns = entry.get("columns") or {}
    tags = entry.get("tags") or {}
    if not isinstance(columns, dict) or not isinstance(tags, dict):
        raise fail(Msg("err_columns_tags"))
    for key in sorted(set(columns) - _COLUMN_KEYS):
        warnings.append(Msg("warn_column_key", name=name, key=key))
    for key in sorted(set(tags) - _TAG_KEYS):
        warnings.append(Msg("warn_tag_key", name=name, key=key))

    spec = DatasetSpec(name=name, formatting=formatting, origin=str(registry),
                       columns={**DEFAULT_COLUMNS, **columns},
                       tags={**DEFAULT_TAGS["openai" if formatting == "openai" else "sharegpt"], **tags},
                       subset=entry.get("subset"), split=entry.get("split") or "train", folder=entry.get("folder"))
    if formatting == "openai" and "messages" not in columns:
        spec.columns["messages"] = "messages"
    spec.text_column_explicit = "prompt" in columns

    file_name = entry.get("file_name")
    local = directory / file_name if isinstance(file_name, str) and file_name else None
    if local is not None and (local.exists() or not entry.get("hf_hub_url")):
        if not local.exists():
            raise fail(Msg("err_file_name_missing", file_name=file_name, path=str(local)), hint=Msg("hint_dataset_dir"))
        spec.files = _data_files(local)
        return spec
    if entry.get("hf_hub_url"):
        spec.hub_url = str(entry["hf_hub_url"])
        return spec
    others = [k for k in _SOURCE_KEYS if entry.get(k)]
    if others:
        raise fail(Msg("err_source_unsupported", source=others[0]))
    raise fail(Msg("err_no_source"))


def _data_files(path: Path) -> list[Path]:
    """The data files of a dataset path: the file itself, or every data file of one type in a folder."""
    if path.is_file():
        if path.suffix.lower() not in FILE_TYPES:
            raise DataError(Msg("err_file_type", suffix=path.suffix), file=str(path),
                            hint=Msg("hint_use_types", types=", ".join(sorted(FILE_TYPES))))
        return [path]
    if (path / "state.json").is_file() and any(path.glob("*.arrow")):
        return [path]  # a datasets.Dataset.save_to_disk folder
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                          p.relative_to(path).parts))
    typed = [p for p in files if p.suffix.lower() in FILE_TYPES]
    if not typed:
        raise DataError(Msg("err_folder_empty"), file=str(path),
                        hint=Msg("hint_put_types", types=", ".join(sorted(FILE_TYPES))))
    kinds = {FILE_TYPES[p.suffix.lower()] for p in typed}
    if len(kinds) > 1:
        listing = ", ".join(f"{p.relative_to(path)} ({FILE_TYPES[p.suffix.lower()]})" for p in typed[:12])
        raise DataError(Msg("err_folder_mixed", kinds=", ".join(sorted(kinds)), listing=listing), file=str(path),
                        hint=Msg("hint_folder_mixed"))
    return typed


def resolve_dataset(name: str, cfg: TrainConfig, warnings: list[str] | None = None) -> DatasetSpec:
    """Find dataset ``name``: the user's registry, then the bundled demos, then a file or folder path."""
    warnings = warnings if warnings is not None else []
    if cfg.dataset_dir == "ONLINE":  # LLaMA-Factory: every name is a Hugging Face Hub dataset id
        return DatasetSpec(name=name, hub_url=name, formatting=None, origin="path")
    user_dir = dataset_dir(cfg)
    for directory in (user_dir, DEMO_DIR):
        reg = read_registry(directory)
        if reg and name in reg[0]:
            return _spec_from_entry(name, reg[0][name], directory, directory / REGISTRY_NAME, reg[1], warnings)
    candidate = cfg.resolve_path(name)
    if candidate.suffix.lower() in FILE_TYPES or candidate.is_dir() or candidate.exists():
        if not candidate.exists():
            raise DataError(Msg("err_dataset_file_missing", name=name, path=str(candidate)), key="dataset",
                            hint=Msg("hint_relative_paths"))
        return DatasetSpec(name=name, files=_data_files(candidate), origin="path")
    known = list_datasets(cfg)
    where = (f"{user_dir / REGISTRY_NAME}" if (user_dir / REGISTRY_NAME).is_file()
             else Msg("where_no_registry", registry=REGISTRY_NAME, folder=str(user_dir)))
    raise DataError(Msg("err_unknown_dataset", name=name, where=where), key="dataset",
                    hint=Msg("hint_known_datasets", names=", ".join(known) or Msg("none")))


# ----------------------------------------------------------------------------------------------------------------
# Reading rows
# ----------------------------------------------------------------------------------------------------------------

def _read_json(path: Path, limit: int | None) -> list[dict]:
    """A JSON array of objects, or JSON Lines (in .jsonl, or in .json as datasets' loader accepts).

    Read with the stdlib so a syntax error is reported with its file, line and column.
    """
    with path.open(encoding="utf-8") as fh:
        if path.suffix.lower() == ".jsonl":
            return _read_jsonl(fh, path, limit)
        text = fh.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several top-level values: JSON Lines in a .json file
            return _read_jsonl(text.splitlines(), path, limit)
        raise DataError(Msg("err_json", msg=exc.msg, col=exc.colno), file=str(path), line=exc.lineno,
                        hint=Msg("hint_json_lines")) from None
    return _rows_from_object(data, path, limit)


def _rows_from_object(data: Any, path: Path, limit: int | None) -> list[dict]:
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(data) == 1 and lists:  # {"data": [...]} as datasets' json loader reads with field=
            data = lists[0]
        else:
            data = [data]
    if not isinstance(data, list):
        raise DataError(Msg("err_json_array"), file=str(path))
    rows = data[:limit] if limit else data
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(Msg("err_row_type", i=i + 1, kind=type(row).__name__), file=str(path),
                            hint=Msg("hint_row_object"))
    return rows


def _read_jsonl(fh: Iterable[str], path: Path, limit: int | None) -> list[dict]:
    rows: list[dict] = []
    loads = json.loads
    for lineno, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            row = loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(Msg("err_jsonl_line", line=lineno, msg=exc.msg, col=exc.colno), file=str(path),
                            line=lineno, hint=Msg("hint_jsonl_line")) from None
        if not isinstance(row, dict):
            raise DataError(Msg("err_jsonl_type", line=lineno, kind=type(row).__name__), file=str(path),
                            line=lineno)
        rows.append(row)
        if limit and len(rows) >= limit:
            break
    return rows


def _read_csv(path: Path, limit: int | None) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = []
        for row in reader:
            if None in row:  # more cells than header names
                raise DataError(Msg("err_csv_cells", line=reader.line_num), file=str(path), line=reader.line_num)
            rows.append(row)
            if limit and len(rows) >= limit:
                break
    return rows


def _read_text(path: Path, limit: int | None) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            text = line.rstrip("\n")
            if text.strip():
                rows.append({"text": text})
                if limit and len(rows) >= limit:
                    break
    return rows


def _read_parquet(path: Path, limit: int | None) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(Msg("err_parquet", error=str(exc)), file=str(path)) from None
    return (table.slice(0, limit) if limit else table).to_pylist()


def _read_arrow(path: Path, limit: int | None) -> list[dict]:
    import pyarrow as pa

    if path.is_dir():  # save_to_disk folder
        import datasets

        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            ds = ds["train"] if "train" in ds else next(iter(ds.values()))
        return ds.select(range(min(limit, len(ds)))).to_list() if limit else ds.to_list()
    try:
        with pa.memory_map(str(path)) as source:
            try:
                table = pa.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid:
                source.seek(0)
                table = pa.ipc.open_file(source).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(Msg("err_arrow", error=str(exc)), file=str(path)) from None
    return (table.slice(0, limit) if limit else table).to_pylist()


_READERS: dict[str, Callable[[Path, int | None], list[dict]]] = {
    "json": _read_json, "csv": _read_csv, "text": _read_text, "parquet": _read_parquet, "arrow": _read_arrow,
}


def _read_hub(spec: DatasetSpec, limit: int | None) -> list[dict]:
    if hf_offline(datasets=True):
        raise DataError(Msg("err_hub_offline", name=spec.name, url=spec.hub_url), file=spec.registry,
                        hint=Msg("hint_download_data"))
    import datasets

    try:
        ds = datasets.load_dataset(spec.hub_url, name=spec.subset, data_dir=spec.folder, split=spec.split)
    except Exception as exc:  # noqa: BLE001 - network, auth and missing-repo errors all mean "cannot load"
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(Msg("err_hub_load", name=spec.name, url=spec.hub_url,
                             error=f"{type(exc).__name__}: {first_line}"),
                        file=spec.registry, hint=Msg("hint_hub_load")) from None
    if limit:
        ds = ds.select(range(min(limit, len(ds))))
    return ds.to_list()


def read_rows(spec: DatasetSpec, limit: int | None = None) -> list[dict]:
    """The raw rows of a dataset (first ``limit`` rows when given), as dicts."""
    if spec.hub_url:
        return _read_hub(spec, limit)
    rows: list[dict] = []
    for path in spec.files:
        kind = "arrow" if path.is_dir() else FILE_TYPES[path.suffix.lower()]
        try:
            rows.extend(_READERS[kind](path, limit - len(rows) if limit else None))
        except UnicodeDecodeError as exc:
            raise DataError(Msg("err_not_utf8", reason=exc.reason, byte=exc.start), file=str(path),
                            hint=Msg("hint_utf8")) from None
        except OSError as exc:
            raise DataError(Msg("err_file_unreadable", error=str(exc.strerror or exc)), file=str(path)) from None
        if limit and len(rows) >= limit:
            break
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Converting rows to conversations or texts
# ----------------------------------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN from pandas-written files
        return ""
    return value if isinstance(value, str) else str(value)


def _guess_formatting(spec: DatasetSpec, columns: set[str], rows: Sequence[dict], stage: str) -> None:
    """Fill in formatting, columns and tags for a dataset given as a path, from the column names."""
    def first_message() -> dict:
        for row in rows[:50]:
            msgs = row.get(spec.columns["messages"])
            if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict):
                return msgs[0]
        return {}

    spec.columns = dict(DEFAULT_COLUMNS)
    if "system" in columns:
        spec.columns["system"] = "system"
    if "history" in columns:
        spec.columns["history"] = "history"
    if stage != "pt" and ("conversations" in columns or "messages" in columns):
        spec.columns["messages"] = "conversations" if "conversations" in columns else "messages"
        msg = first_message()
        spec.formatting = "openai" if "role" in msg and "content" in msg else "sharegpt"
        spec.tags = dict(DEFAULT_TAGS[spec.formatting])
        return
    if "text" in columns and (stage == "pt" or not {"instruction", "output"} <= columns):
        spec.formatting = "alpaca"
        spec.columns["prompt"] = "text"
        spec.text_column_explicit = True
        return
    spec.formatting = "alpaca"
    spec.tags = dict(DEFAULT_TAGS["sharegpt"])


def _require(spec: DatasetSpec, columns: set[str], needed: Iterable[tuple[str, str]], stage: str) -> None:
    missing = [f"'{col}' ({role})" for role, col in needed if col not in columns]
    if missing:
        have = ", ".join(sorted(columns)) or Msg("where_no_columns")
        how = Msg("how_map_columns" if spec.origin != "path" else "how_rename_columns")
        raise DataError(Msg("err_missing_columns", name=spec.name, formatting=spec.formatting, stage=stage,
                             missing=", ".join(missing), where=spec.where, have=have), file=spec.registry,
                        hint=Msg("hint_fix", how=how))


def _convert_alpaca(row: dict, cols: dict) -> tuple[list[dict] | None, str | None]:
    prompt = _text(row.get(cols["prompt"]))
    query = _text(row.get(cols["query"])) if cols.get("query") else ""
    response = _text(row.get(cols["response"]))
    if query:
        prompt = f"{prompt}\n{query}" if prompt else query
    if not response.strip():
        return None, DROP_EMPTY_RESPONSE
    conv: list[dict] = []
    system = _text(row.get(cols["system"])) if cols.get("system") else ""
    if system:
        conv.append({"role": "system", "content": system})
    history = row.get(cols["history"]) if cols.get("history") else None
    if history:
        if not isinstance(history, list) or not all(isinstance(t, (list, tuple)) and len(t) == 2 for t in history):
            return None, DROP_HISTORY
        for q, a in history:
            conv.append({"role": "user", "content": _text(q)})
            conv.append({"role": "assistant", "content": _text(a)})
    conv.append({"role": "user", "content": prompt})
    conv.append({"role": "assistant", "content": response})
    return conv, None


def _convert_sharegpt(row: dict, cols: dict, tags: dict, counts: Counter) -> tuple[list[dict] | None, str | None]:
    messages = row.get(cols["messages"])
    if not isinstance(messages, list) or not messages:
        return None, DROP_MESSAGES
    role_tag, content_tag = tags["role_tag"], tags["content_tag"]
    user_roles = {tags["user_tag"]: "user", tags["observation_tag"]: "user"}
    assistant_roles = {tags["assistant_tag"]: "assistant", tags["function_tag"]: "assistant"}
    tool_roles = {tags["observation_tag"], tags["function_tag"]}
    conv: list[dict] = []
    system = _text(row.get(cols["system"])) if cols.get("system") else ""
    if isinstance(messages[0], dict) and messages[0].get(role_tag) == tags["system_tag"]:
        system = _text(messages[0].get(content_tag))
        messages = messages[1:]
    if system:
        conv.append({"role": "system", "content": system})
    used_tools = False
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            return None, DROP_MESSAGE_OBJECT
        role = msg.get(role_tag)
        expected = user_roles if i % 2 == 0 else assistant_roles
        if role not in expected:
            return None, DROP_ALTERNATE
        used_tools |= role in tool_roles
        conv.append({"role": expected[role], "content": _text(msg.get(content_tag))})
    if not messages or len(messages) % 2:
        return None, DROP_LAST_TURN
    if not any(m["content"].strip() for m in conv if m["role"] == "assistant"):
        return None, DROP_EMPTY_RESPONSE
    if used_tools:
        counts["tool turns mapped (function_call -> assistant, observation -> user)"] += 1
    return conv, None


def _convert(spec: DatasetSpec, rows: list[dict], stage: str, loaded: LoadedData) -> list[Any]:
    if not rows:
        return []
    columns: set[str] = set()
    for row in rows[:1000]:
        columns.update(row)
    if spec.formatting is None:
        _guess_formatting(spec, columns, rows, stage)
    cols = spec.columns
    media = [c for c in _MEDIA_COLUMNS if cols.get(c) and cols[c] in columns]
    if media:
        loaded.warnings.append(Msg("warn_media", name=spec.name, columns=", ".join(media)))
    if cols.get("tools") and any(row.get(cols["tools"]) for row in rows):
        loaded.warnings.append(Msg("warn_tools_column", name=spec.name, column=cols["tools"]))

    if stage == "pt":
        text_col = cols["prompt"] if spec.text_column_explicit or "text" not in columns else "text"
        _require(spec, columns, [("text", text_col)], stage)
        out = []
        for row in rows:
            text = _text(row.get(text_col))
            if text.strip():
                out.append(text)
            else:
                loaded.dropped[DROP_EMPTY_TEXT] += 1
        return out

    if spec.formatting == "alpaca" and "text" in columns and cols["response"] not in columns:
        raise DataError(Msg("err_text_only_sft", name=spec.name), file=spec.registry, key="stage",
                        hint=Msg("hint_text_only_sft"))
    tool_counts: Counter = Counter()
    convert: Callable[[dict], tuple[list[dict] | None, str | None]]
    if spec.formatting == "alpaca":
        _require(spec, columns, [("prompt", cols["prompt"]), ("response", cols["response"])], "sft")
        convert = functools.partial(_convert_alpaca, cols=cols)
    else:
        _require(spec, columns, [("messages", cols["messages"])], "sft")
        convert = functools.partial(_convert_sharegpt, cols=cols, tags=spec.tags, counts=tool_counts)

    out = []
    for row in rows:
        conv, reason = convert(row)
        if conv is None:
            loaded.dropped[reason] += 1
        else:
            out.append(conv)
    if tool_counts:
        loaded.warnings.append(Msg("warn_tool_turns", name=spec.name, n=sum(tool_counts.values())))
    return out


def load_conversations(cfg: TrainConfig, *, limit: int | None = None) -> LoadedData:
    """Read every dataset in ``cfg.dataset`` and convert its rows (``max_samples`` rows per dataset at most).

    ``limit`` caps the rows per dataset further (previews). Raises :class:`DataError` for bad input.
    """
    names = cfg.datasets
    if not names:
        raise DataError(Msg("err_no_dataset"), key="dataset", hint=Msg("hint_no_dataset"))
    per = min(x for x in (cfg.max_samples, limit) if x) if (cfg.max_samples or limit) else None
    loaded = LoadedData(kind=cfg.stage, samples=[], rows={}, kept={})
    for name in names:
        spec = resolve_dataset(name, cfg, loaded.warnings)
        rows = read_rows(spec, per)
        loaded.rows[name] = len(rows)
        samples = _convert(spec, rows, cfg.stage, loaded)
        loaded.kept[name] = len(samples)
        loaded.samples.extend(samples)
        loaded.files.extend(spec.files)
        if spec.hub_url:
            loaded.hub.append(f"{spec.hub_url}:{spec.subset}:{spec.split}:{spec.folder}")
    if not loaded.samples:
        raise DataError(_empty_message(loaded, cfg), key="dataset")
    return loaded


def _empty_message(loaded: LoadedData, cfg: TrainConfig, extra: Counter | None = None) -> Msg:
    total = loaded.total_rows
    if total == 0:
        return Msg("err_no_rows", names=", ".join(cfg.datasets))
    reasons = Counter(loaded.dropped)
    reasons.update(extra or {})
    detail = Msg.join((Msg("dropped_item", n=n, reason=r) for r, n in reasons.most_common()), "semicolon")
    return Msg("err_all_dropped", total=total, detail=detail)


# ----------------------------------------------------------------------------------------------------------------
# Tokenization, splitting, packing
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class _Encoded:
    """What the stats and the datasets are built from (one entry per kept sample / block)."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    full_lengths: list[int]  # untruncated templated length of every encodable sample (sft) or text (pt)
    dropped: Counter
    warnings: list[str]
    packed: bool
    kept: int  # samples (sft) or texts (pt) that made it into the data


def _ids_labels(enc: Any) -> tuple[list[int], list[int]]:
    ids, labels = (enc["input_ids"], enc["labels"]) if isinstance(enc, dict) else (enc.input_ids, enc.labels)
    return (ids if isinstance(ids, list) else list(ids)), (labels if isinstance(labels, list) else list(labels))


def _encode_sft(cfg: TrainConfig, tokenizer: Any, template: Any, convs: list) -> _Encoded:
    """Encode once untruncated (for the length statistics); re-encode only the rows longer than cutoff_len.

    Encoding is deterministic, so a row that fits needs no second pass; this keeps stats and data one pass.
    """
    from .encode import encode_batch

    cutoff = cfg.cutoff_len
    full = encode_batch(template, tokenizer, convs, _NO_LIMIT, cfg.train_on_prompt)
    dropped: Counter = Counter()
    long_idx = [i for i, e in enumerate(full) if e is not None and len(_ids_labels(e)[0]) > cutoff]
    cut = dict(zip(long_idx, encode_batch(template, tokenizer, [convs[i] for i in long_idx], cutoff,
                                          cfg.train_on_prompt), strict=True)) if long_idx else {}
    ids, labels, lengths = [], [], []
    for i, enc in enumerate(full):
        if enc is None:
            dropped[DROP_NO_LABEL_EMPTY] += 1
            continue
        lengths.append(len(_ids_labels(enc)[0]))  # measured before truncation drops anything
        if i in cut:
            enc = cut[i]
            if enc is None:
                dropped[Msg("drop_too_long", cutoff=cutoff)] += 1
                continue
        a, b = _ids_labels(enc)
        if b.count(IGNORE_INDEX) == len(b):
            dropped[DROP_NO_LABEL] += 1
            continue
        ids.append(a)
        labels.append(b)
    return _Encoded(ids, labels, lengths, dropped, [], packed=False, kept=len(ids))


def _tokenize_texts(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, no special tokens; one batched call (parallel Rust on a fast tokenizer)."""
    if not texts:
        return []
    fast = getattr(getattr(tokenizer, "backend_tokenizer", None), "encode_batch_fast", None)
    if fast is not None:
        return [e.ids for e in fast(texts, add_special_tokens=False)]
    return list(tokenizer(texts, add_special_tokens=False)["input_ids"])


def _encode_pt(cfg: TrainConfig, tokenizer: Any, texts: list[str]) -> _Encoded:
    """Tokenize texts (bos + text + eos), concatenate, cut into cutoff_len blocks; the remainder is dropped.

    When all the text is shorter than one block, the single short block is kept (with a warning) rather than
    leaving nothing to train.
    """
    cutoff = cfg.cutoff_len
    eos = getattr(tokenizer, "eos_token_id", None)
    bos = getattr(tokenizer, "bos_token_id", None)  # as encode.encode_pretrain_texts: bos starts each text
    warnings = []
    if eos is None:
        warnings.append(Msg("warn_no_eos"))
    token_ids = _tokenize_texts(tokenizer, texts)
    lengths = []
    flat: list[int] = []
    for seq in token_ids:
        piece = ([bos] if bos is not None else []) + list(seq) + ([eos] if eos is not None else [])
        lengths.append(len(piece))
        flat.extend(piece)
    n_blocks = len(flat) // cutoff
    dropped: Counter = Counter()
    if n_blocks == 0:
        warnings.append(Msg("warn_one_block", n=len(flat), cutoff=cutoff))
        blocks = [flat] if flat else []
    else:
        blocks = [flat[i * cutoff:(i + 1) * cutoff] for i in range(n_blocks)]
        if len(flat) % cutoff:
            warnings.append(Msg("warn_last_block", n=len(flat) % cutoff))
    return _Encoded(blocks, [list(b) for b in blocks], lengths, dropped, warnings, packed=True, kept=len(lengths))


def pack_sequences(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Greedy bin packing (best-fit decreasing): indices grouped so each group's total length <= capacity.

    Longest first, each into the fullest bin that still has room (or a new bin). Deterministic. Every length must
    be <= capacity (encoding truncates to cutoff_len first).
    """
    import bisect

    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # sorted (room left, bin index)
    for i in order:
        need = lengths[i]
        if need > capacity:
            raise ValueError(f"sequence {i} has {need} tokens, more than the capacity {capacity}")
        pos = bisect.bisect_left(free, (need, -1))
        if pos < len(free):
            room, b = free.pop(pos)
            bins[b].append(i)
            room -= need
        else:
            b = len(bins)
            bins.append([i])
            room = capacity - need
        if room > 0:
            bisect.insort(free, (room, b))
    return bins


def _split_indices(n: int, val_size: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic train/eval split. ``val_size`` < 1 is a fraction (rounded up), >= 1 a count."""
    if not val_size:
        return list(range(n)), []
    n_eval = int(val_size) if val_size >= 1 else max(1, math.ceil(round(n * val_size, 6)))
    if n_eval >= n:
        raise DataError(Msg("err_val_size", value=f"{val_size:g}", n_eval=n_eval, n=n), key="val_size",
                        hint=Msg("hint_val_size"))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return sorted(order[n_eval:]), sorted(order[:n_eval])


def _pack(ids: list[list[int]], labels: list[list[int]], idx: list[int], capacity: int
          ) -> tuple[list[list[int]], list[list[int]]]:
    groups = pack_sequences([len(ids[i]) for i in idx], capacity)
    out_ids, out_labels = [], []
    for group in groups:
        a: list[int] = []
        b: list[int] = []
        for g in group:
            a.extend(ids[idx[g]])
            b.extend(labels[idx[g]])
        out_ids.append(a)
        out_labels.append(b)
    return out_ids, out_labels


@dataclass
class _Split:
    train_ids: list[list[int]]
    train_labels: list[list[int]]
    eval_ids: list[list[int]]
    eval_labels: list[list[int]]


def _build(cfg: TrainConfig, tokenizer: Any, template: Any, loaded: LoadedData) -> tuple[_Split, _Encoded]:
    if loaded.kind == "pt":
        enc = _encode_pt(cfg, tokenizer, loaded.samples)
    else:
        enc = _encode_sft(cfg, tokenizer, template, loaded.samples)
    if not enc.input_ids:
        raise DataError(_empty_message(loaded, cfg, enc.dropped), key="dataset")
    train_idx, eval_idx = _split_indices(len(enc.input_ids), cfg.val_size, cfg.seed)
    if loaded.kind == "sft" and cfg.effective_packing:
        tr = _pack(enc.input_ids, enc.labels, train_idx, cfg.cutoff_len)
        ev = _pack(enc.input_ids, enc.labels, eval_idx, cfg.cutoff_len) if eval_idx else ([], [])
        enc.packed = True
    else:
        tr = ([enc.input_ids[i] for i in train_idx], [enc.labels[i] for i in train_idx])
        ev = ([enc.input_ids[i] for i in eval_idx], [enc.labels[i] for i in eval_idx])
    return _Split(tr[0], tr[1], ev[0], ev[1]), enc


def _list_array(seqs: list[list[int]], lengths: list[int]) -> Any:
    """An Arrow ``list<int32>`` array from offsets + one flat buffer (about 3x faster than ``pa.array``)."""
    import itertools

    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter(itertools.chain.from_iterable(seqs), dtype=np.int32, count=int(offsets[-1]))
    array = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat))
    return array.cast(pa.list_(pa.int32())) if offsets[-1] < 2**31 else array  # list<> offsets are int32


def _to_dataset(ids: list[list[int]], labels: list[list[int]]) -> Any:
    """A ``datasets.Dataset`` built straight from Arrow arrays (several times faster than ``from_dict``)."""
    import datasets
    import pyarrow as pa
    from datasets.table import InMemoryTable

    lengths = [len(x) for x in ids]
    table = pa.table({"input_ids": _list_array(ids, lengths), "labels": _list_array(labels, lengths),
                      "length": pa.array(lengths, type=pa.int32())})
    return datasets.Dataset(InMemoryTable(table))


def encode_and_measure(cfg: TrainConfig, tokenizer: Any, template: Any,
                       loaded: LoadedData | None = None) -> tuple[_Split, DataStats]:
    """Load (unless given), encode, split and pack; return the token sequences and their statistics."""
    from .stats import stats_from

    loaded = loaded if loaded is not None else load_conversations(cfg)
    split, enc = _build(cfg, tokenizer, template, loaded)
    return split, stats_from(cfg, loaded, enc, split)


def prepare_datasets(cfg: TrainConfig, tokenizer: Any, template: Any) -> PreparedData:
    """Tokenized train (and eval) datasets for ``cfg``.

    * sft: each conversation is encoded with the template (prompt tokens masked with -100 unless
      ``train_on_prompt``), truncated to ``cutoff_len``; samples with no trainable token left are dropped and
      counted. With ``packing: true`` samples are packed greedily into sequences of at most ``cutoff_len`` tokens.
      Attention is NOT isolated between samples packed together (each sample can attend to the ones before it in
      its pack), as with LLaMA-Factory's ``packing`` without ``neat_packing``.
    * pt: texts are tokenized (bos + text + eos, bos when the tokenizer has one, as
      ``encode.encode_pretrain_texts``), joined and cut into ``cutoff_len`` blocks (remainder dropped); pt always
      packs, whatever ``packing`` says (as LLaMA-Factory).
    * ``val_size``: < 1 a fraction, >= 1 a count of sequences (rows for sft, blocks for pt), drawn with
      ``cfg.seed``; sft rows are split before packing so no sample is in both splits.

    Columns: ``input_ids``, ``labels``, ``length``; unpadded (the runner's collator pads).
    """
    split, stats = encode_and_measure(cfg, tokenizer, template)
    train = _to_dataset(split.train_ids, split.train_labels)
    evalset = _to_dataset(split.eval_ids, split.eval_labels) if split.eval_ids else None
    return PreparedData(train=train, eval=evalset, stats=stats)
