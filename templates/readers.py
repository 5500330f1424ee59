"""Reading a dataset's rows (json, jsonl, csv, parquet, txt, arrow files and Hugging Face Hub datasets) and
converting them, per LLaMA-Factory formatting, to conversations (sft) or texts (pt).

Conversions (the normalized form is ``list[{"role": "system"|"user"|"assistant", "content": str}]``)
    alpaca: user = ``instruction`` + ``"\\n"`` + ``input`` (just ``instruction`` when ``input`` is empty); the
    ``history`` column's ``[query, answer]`` pairs become earlier turns, which are trained like the last one;
    ``system`` becomes a system message. sharegpt/openai: turns must alternate user, assistant, user, ... and end
    on an assistant turn; a conversation that does not is dropped and counted with its reason. Stage ``pt``
    reads one text column (``columns: {prompt: text}``; a column named ``text`` is used when none is mapped).

ShareGPT tool turns: ``function_call`` turns become assistant turns and ``observation`` turns become user turns
(their text is kept verbatim); the ``tools`` column is ignored with a warning. Media columns (``images``,
``videos``, ``audios``) are ignored with a warning: the models trained here are text-only.

Which conversion a training stage uses is the stage's choice (``trainset.BUILDERS``).
"""

from __future__ import annotations

import csv
import functools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ft_tui.planner.errors import DataError
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import hf_offline

from .datasets import DEFAULT_COLUMNS, DEFAULT_TAGS, FILE_TYPES, DatasetSpec, resolve_dataset

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ft_tui.planner.config import TrainConfig

_MEDIA_COLUMNS = ("images", "videos", "audios")

# Why a row was dropped (the keys of ``LoadedData.dropped`` and of the statistics' ``dropped_reasons``): coded
# notes, so the TUI shows them in the user's language; their text is the English reason.
DROP_EMPTY_RESPONSE = Msg("drop_empty_response")
DROP_EMPTY_TEXT = Msg("drop_empty_text")
DROP_HISTORY = Msg("drop_history")
DROP_MESSAGES = Msg("drop_messages")
DROP_MESSAGE_OBJECT = Msg("drop_message_object")
DROP_ALTERNATE = Msg("drop_alternate")
DROP_LAST_TURN = Msg("drop_last_turn")


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
        if not fh.read(1 << 16).strip() and not fh.read(1):
            return []  # empty or only blank lines: no rows (csv would take a blank line for the header)
        fh.seek(0)
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


def _require(spec: DatasetSpec, columns: set[str], needed: Iterable[tuple[str, str | None]], stage: str) -> None:
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
            return None, _role_problem(msg, role, tags, user_roles.keys() | assistant_roles.keys())
        used_tools |= role in tool_roles
        conv.append({"role": expected[role], "content": _text(msg.get(content_tag))})
    if not messages or len(messages) % 2:
        return None, DROP_LAST_TURN
    if not any(m["content"].strip() for m in conv if m["role"] == "assistant"):
        return None, DROP_EMPTY_RESPONSE
    if used_tools:
        counts["tool turns mapped (function_call -> assistant, observation -> user)"] += 1
    return conv, None


def _role_problem(msg: dict, role: Any, tags: dict, known: set) -> Msg:
    """Why a turn's role does not fit: the turn lacks the role key, its role is none that ``tags`` map (both say
    what was found and which ``dataset_info.json`` tags to set), or the roles are known but do not alternate."""
    if tags["role_tag"] not in msg:
        return Msg("drop_no_role_tag", role_tag=tags["role_tag"], keys=", ".join(sorted(map(str, msg))) or "-")
    if role not in known:
        return Msg("drop_unknown_role", role=str(role), role_tag=tags["role_tag"], user=tags["user_tag"],
                   assistant=tags["assistant_tag"])
    return DROP_ALTERNATE


#: A conversion: (dataset, its rows, the LoadedData that collects drops and warnings) -> samples.
Convert = Callable[[DatasetSpec, list[dict], "LoadedData"], list[Any]]


def _columns_seen(spec: DatasetSpec, rows: list[dict], stage: str, loaded: LoadedData) -> set[str]:
    """The columns of ``rows`` (first 1000); guesses the formatting of a dataset given as a path and warns about
    the columns no stage reads (media, tools)."""
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
    return columns


def to_texts(spec: DatasetSpec, rows: list[dict], loaded: LoadedData) -> list[str]:
    """Stage pt: one text per row from the text column; empty texts are dropped and counted."""
    if not rows:
        return []
    columns = _columns_seen(spec, rows, "pt", loaded)
    cols = spec.columns
    text_col = cols["prompt"] if spec.text_column_explicit or "text" not in columns else "text"
    _require(spec, columns, [("text", text_col)], "pt")
    out = []
    for row in rows:
        text = _text(row.get(text_col))
        if text.strip():
            out.append(text)
        else:
            loaded.dropped[DROP_EMPTY_TEXT] += 1
    return out


def to_conversations(spec: DatasetSpec, rows: list[dict], loaded: LoadedData) -> list[list[dict]]:
    """Stage sft: one conversation per row (alpaca, sharegpt or openai); a row that is not a valid conversation
    is dropped and counted with its reason."""
    if not rows:
        return []
    columns = _columns_seen(spec, rows, "sft", loaded)
    cols = spec.columns
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


# ----------------------------------------------------------------------------------------------------------------
# Loading every dataset of a config
# ----------------------------------------------------------------------------------------------------------------

def load_samples(cfg: TrainConfig, convert: Convert, *, check: Callable[[DatasetSpec], None] | None = None,
                 limit: int | None = None) -> LoadedData:
    """Read every dataset in ``cfg.dataset`` and ``convert`` its rows (``max_samples`` rows per dataset at most).

    ``check`` sees each resolved dataset before its rows are read (the stage refuses data it cannot train on).
    ``limit`` caps the rows per dataset further (previews). Raises :class:`DataError` for bad input.
    """
    names = cfg.datasets
    if not names:
        raise DataError(Msg("err_no_dataset"), key="dataset", hint=Msg("hint_no_dataset"))
    per = min(x for x in (cfg.max_samples, limit) if x) if (cfg.max_samples or limit) else None
    loaded = LoadedData(kind=cfg.stage, samples=[], rows={}, kept={})
    for name in names:
        spec = resolve_dataset(name, cfg, loaded.warnings)
        if check is not None:
            check(spec)
        rows = read_rows(spec, per)
        loaded.rows[name] = len(rows)
        samples = convert(spec, rows, loaded)
        loaded.kept[name] = len(samples)
        loaded.samples.extend(samples)
        loaded.files.extend(spec.files)
        if spec.hub_url:
            loaded.hub.append(f"{spec.hub_url}:{spec.subset}:{spec.split}:{spec.folder}")
    if not loaded.samples:
        raise DataError(empty_message(loaded, cfg), key="dataset")
    return loaded


def empty_message(loaded: LoadedData, cfg: TrainConfig, extra: Counter | None = None) -> Msg:
    """Why nothing is left to train: no rows at all, or every row dropped (with the reasons and their counts)."""
    total = loaded.total_rows
    if total == 0:
        files = ", ".join(str(f) for f in loaded.files)
        return (Msg("err_no_rows_in", names=", ".join(cfg.datasets), files=files) if files
                else Msg("err_no_rows", names=", ".join(cfg.datasets)))
    reasons = Counter(loaded.dropped)
    reasons.update(extra or {})
    detail = Msg.join((Msg("dropped_item", n=n, reason=r) for r, n in reasons.most_common()), "semicolon")
    return Msg("err_all_dropped", total=total, detail=detail)
