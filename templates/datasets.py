"""The dataset registry: where each name in ``cfg.dataset`` comes from, as LLaMA-Factory's ``dataset_info.json``.

Where a dataset comes from
    ``cfg.dataset`` is a comma-separated list. Each item is looked up, in this order, in
    ``<dataset_dir>/dataset_info.json`` (``dataset_dir`` resolved against the config file's folder, never the
    working directory), in the bundled demo registry (``templates/demo_data/dataset_info.json``, so the demo
    names work from any directory), and finally as a path to a data file or a folder of same-type files
    (relative paths again against the config file's folder). ``dataset_dir: ONLINE`` (as in LLaMA-Factory) reads
every name as a Hugging Face Hub dataset id.

The registry (``dataset_info.json``) follows LLaMA-Factory's ``data/README.md``: ``file_name`` (a file or folder
under ``dataset_dir``), ``hf_hub_url`` (+ ``subset``, ``split``, ``folder``), ``formatting`` (``alpaca``,
``sharegpt`` or ``openai``), ``ranking``, ``columns`` and ``tags``. Differences, all deliberate:

* ``ranking: true`` (DPO/RM pairs) and ``kto_tag`` are recorded on the :class:`DatasetSpec`; the training stage
  decides whether it reads them (``trainset.check_dataset``: sft and pt refuse them).
* ``ms_hub_url``, ``om_hub_url``, ``script_url`` and ``cloud_file_name`` are refused when they are the only
  source; keys LLaMA-Factory does not know, and ``num_samples``, are ignored with a warning (LLaMA-Factory
  ignores unknown keys silently, which hides typos such as ``file_nmae``).
* An entry with both ``file_name`` and ``hf_hub_url`` uses the local file when it exists (LLaMA-Factory always
  takes the hub), so a machine without network access can still train on a registry written for one with it.

Reading the rows and converting them is ``readers.py``; building the training set is ``trainset.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ft_tui.planner.errors import DataError
from ft_tui.planner.messages import Msg

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ft_tui.planner.config import TrainConfig

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

DEFAULT_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "history": None,
                   "system": None, "messages": "conversations", "tools": None}
# LLaMA-Factory's DatasetAttr defaults (sharegpt) and its README's openai-style example.
DEFAULT_TAGS = {
    "sharegpt": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"},
    "openai": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "observation_tag": "tool", "function_tag": "function_call", "system_tag": "system"},
}


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
    ranking: bool = False  # ``ranking: true``: pairwise preference rows (chosen / rejected)
    kto_tag: str | None = None  # the column of KTO's desirable/undesirable tag, when mapped
    line: int | None = None  # line of the entry in its registry, for error messages

    @property
    def registry(self) -> str | None:
        """The dataset_info.json this dataset came from (None for a path given directly)."""
        return self.origin if self.origin and self.origin != "path" else None

    @property
    def data_kind(self) -> str:
        """What its rows are: "ranking" (preference pairs), "kto" (tagged rows) or "plain" (the rest)."""
        return "ranking" if self.ranking else "kto" if self.kto_tag else "plain"

    @property
    def where(self) -> str:
        if self.hub_url:
            return Msg("where_hub", url=self.hub_url)
        if len(self.files) == 1:
            return str(self.files[0])
        return Msg("where_files", n=len(self.files), folder=str(self.files[0].parent))


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
                       subset=entry.get("subset"), split=entry.get("split") or "train", folder=entry.get("folder"),
                       ranking=bool(entry.get("ranking")), kto_tag=columns.get("kto_tag") or None, line=line)
    if formatting == "openai" and "messages" not in columns:
        spec.columns["messages"] = "messages"
    spec.text_column_explicit = "prompt" in columns

    file_name = entry.get("file_name")
    file_name = file_name if isinstance(file_name, str) else ""
    local = directory / file_name if file_name else None
    if local is not None and (local.exists() or not entry.get("hf_hub_url")):
        if not local.exists():
            raise fail(Msg("err_file_name_missing", file_name=file_name, path=str(local)), hint=Msg("hint_dataset_dir"))
        _inside_registry([local], directory, file_name, fail)
        spec.files = _inside_registry(_data_files(local), directory, file_name, fail)
        return spec
    if entry.get("hf_hub_url"):
        spec.hub_url = str(entry["hf_hub_url"])
        return spec
    others = [k for k in _SOURCE_KEYS if entry.get(k)]
    if others:
        raise fail(Msg("err_source_unsupported", source=others[0]))
    raise fail(Msg("err_no_source"))


def _inside_registry(files: list[Path], directory: Path, file_name: str, fail: Any) -> list[Path]:
    """A registry entry reads only files inside its own folder, symlinks followed: ``file_name:
    ../secret.json``, an absolute path, or a link that leads out is refused (a path outside is for the user's own
    config, ``dataset: /path/file.json``, to name)."""
    root = directory.resolve()
    for path in files:
        target = path.resolve()
        if not target.is_relative_to(root):
            raise fail(Msg("err_file_name_outside", file_name=file_name, path=str(path), target=str(target),
                           folder=str(root)),
                       hint=Msg("hint_file_name_outside"))
    return files


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
