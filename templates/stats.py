"""Dataset statistics for the planner, ``ft-tui train --dry-run`` and the TUI's dataset panel.

Length percentiles are computed from the FULL templated length of every sample (before truncation, including
samples that truncation then leaves with nothing to train and drops), so the planner can recommend a ``cutoff_len`` and show what share of the data a given cutoff would cut. Token totals
(``total_tokens``, ``trainable_tokens``) are what one epoch of the train split actually feeds the model, after
truncation and packing; the planner turns them into steps and time.

Statistics are cached on disk under ``${XDG_CACHE_HOME:-~/.cache}/ft-tui/data-stats/``, keyed by the content of
the data files, the tokenizer, the template and every config key that changes the result. Computing them (from
the training set each stage builds) is ``trainset.compute_stats``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ft_tui.planner import paths
from ft_tui.planner.messages import Msg, from_json, render, to_json

from .datasets import resolve_dataset

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ft_tui.planner.config import TrainConfig

    from .readers import LoadedData

#: Bump when the statistics are computed differently (or stored differently), so older cache entries are not reused.
STATS_VERSION = 2


@dataclass
class DataStats:
    """What the data looks like once templated and tokenized. Lengths are in tokens."""

    kind: str  # "sft" | "pt"
    rows: int  # samples kept (sft conversations, pt texts)
    rows_read: int  # rows read from the files (after max_samples)
    dropped: int
    dropped_reasons: dict[str, int]
    p50: int
    p90: int
    p99: int
    max_len: int
    mean_len: float
    cutoff_len: int
    truncated_share: float  # share of samples whose full length exceeds cutoff_len (0 for pt)
    train_sequences: int  # training sequences per epoch (rows, packs or blocks)
    eval_sequences: int
    total_tokens: int  # input tokens per epoch of the train split (after truncation / packing)
    trainable_tokens: int  # tokens with a label per epoch of the train split
    packed: bool
    max_seq_len: int = 0  # longest training sequence the model sees (after truncation / packing): for memory
    per_dataset: dict[str, int] = field(default_factory=dict)  # dataset name -> samples kept
    warnings: list[str] = field(default_factory=list)
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``data`` object of ``--json`` outputs)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataStats:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile (q in 0..100) of an ascending sequence: the smallest value with >= q% at or below."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return int(sorted_values[min(rank, len(sorted_values)) - 1])


def stats_from(cfg: TrainConfig, loaded: LoadedData, enc: Any, split: Any) -> DataStats:
    """Build :class:`DataStats` from the encoded data (see ``trainset.build_training_set``)."""
    lengths = sorted(enc.full_lengths)
    cutoff = cfg.cutoff_len
    truncated = 0 if loaded.kind == "pt" else sum(1 for n in lengths if n > cutoff)
    reasons: dict[str, int] = dict(loaded.dropped)
    for reason, n in enc.dropped.items():
        reasons[reason] = reasons.get(reason, 0) + n
    ignore = -100
    trainable = sum(len(lab) - lab.count(ignore) for lab in split.train_labels)
    return DataStats(
        kind=loaded.kind, rows=enc.kept, rows_read=loaded.total_rows, dropped=sum(reasons.values()),
        dropped_reasons=reasons, p50=percentile(lengths, 50), p90=percentile(lengths, 90),
        p99=percentile(lengths, 99), max_len=lengths[-1] if lengths else 0,
        mean_len=round(sum(lengths) / len(lengths), 2) if lengths else 0.0, cutoff_len=cutoff,
        truncated_share=round(truncated / len(lengths), 4) if lengths else 0.0,
        train_sequences=len(split.train_ids), eval_sequences=len(split.eval_ids),
        total_tokens=sum(len(x) for x in split.train_ids), trainable_tokens=trainable, packed=enc.packed,
        max_seq_len=max((len(x) for x in (*split.train_ids, *split.eval_ids)), default=0),
        per_dataset=dict(loaded.kept), warnings=list(loaded.warnings) + list(enc.warnings),
    )


# ----------------------------------------------------------------------------------------------------------------
# Cache
# ----------------------------------------------------------------------------------------------------------------

def cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/ft-tui/data-stats``."""
    return paths.cache_dir() / "data-stats"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    targets = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in targets:
        h.update(str(p.name).encode())
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def tokenizer_identity(tokenizer: Any) -> str:
    """A string that changes when the tokenizer would encode differently (name, size, specials, files)."""
    parts = [type(tokenizer).__name__, str(getattr(tokenizer, "name_or_path", "")), str(len(tokenizer)),
             str(getattr(tokenizer, "bos_token", None)), str(getattr(tokenizer, "eos_token", None)),
             str(getattr(tokenizer, "add_bos_token", None))]
    folder = Path(str(getattr(tokenizer, "name_or_path", "") or ""))
    files = [folder / name for name in ("tokenizer.json", "tokenizer_config.json") if (folder / name).is_file()]
    for f in files:
        st = f.stat()
        parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    if not files:  # not loaded from a folder: fingerprint the vocabulary itself
        vocab = sorted(tokenizer.get_vocab().items())
        parts.append(hashlib.sha256(repr(vocab).encode()).hexdigest())
    return "|".join(parts)


def template_identity(template: Any) -> str:
    """The template's name and a digest of its full definition (``repr`` of the Template dataclass)."""
    name = getattr(template, "name", type(template).__name__)
    return f"{name}:{hashlib.sha256(repr(template).encode()).hexdigest()[:16]}"


def stats_key(cfg: TrainConfig, tokenizer: Any, template: Any) -> str:
    """Cache key: data file contents, tokenizer, template and the config keys that change the statistics."""
    sources = []
    for name in cfg.datasets:
        spec = resolve_dataset(name, cfg, [])
        if spec.hub_url:
            sources.append(f"hub:{spec.hub_url}:{spec.subset}:{spec.split}:{spec.folder}")
        else:
            sources.extend(f"{p.name}:{_file_digest(p)}" for p in spec.files)
    key = {
        "v": STATS_VERSION, "sources": sources, "tokenizer": tokenizer_identity(tokenizer),
        "template": template_identity(template) if cfg.stage == "sft" else None, "stage": cfg.stage,
        "cutoff_len": cfg.cutoff_len, "train_on_prompt": cfg.train_on_prompt, "max_samples": cfg.max_samples,
        "val_size": cfg.val_size, "seed": cfg.seed, "packing": cfg.effective_packing, "datasets": cfg.datasets,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def read_cached(key: str) -> DataStats | None:
    """The cached statistics under ``key`` (see :func:`stats_key`), or None."""
    path = cache_dir() / f"{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    notes = data.get("notes")
    try:
        stats = DataStats.from_dict(data)
        stats.dropped_reasons = {from_json(r): n for r, n in notes["dropped_reasons"]}
        stats.warnings = [from_json(w) for w in notes["warnings"]]
    except (TypeError, KeyError, ValueError):  # written by an older layout (or without the notes' codes)
        return None
    stats.cached = True
    return stats


def _notes_json(stats: DataStats) -> dict[str, Any]:
    """The coded notes of ``stats`` (drop reasons, warnings) for the cache, so a cached entry still renders in
    Chinese (the ``to_dict`` fields hold their English text, as ``--json`` prints them)."""
    return {"dropped_reasons": [[to_json(r), n] for r, n in stats.dropped_reasons.items()],
            "warnings": [to_json(w) for w in stats.warnings]}


def write_cached(key: str, stats: DataStats) -> None:
    """Cache ``stats`` under ``key``, atomically; a cache that cannot be written is skipped."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({**stats.to_dict(), "notes": _notes_json(stats)}), encoding="utf-8")
        tmp.replace(folder / f"{key}.json")
    except (OSError, TypeError, ValueError):
        pass  # a read-only cache (or a value JSON cannot hold) only costs the next run a recomputation


# ----------------------------------------------------------------------------------------------------------------
# Presentation
# ----------------------------------------------------------------------------------------------------------------

def format_stats(stats: DataStats, lang: str = "en") -> str:
    """A short multi-line summary for ``ft-tui train --dry-run`` (English) and the TUI (``lang``: en or zh).

    Dataset warnings and drop reasons (coded messages made by the dataset readers) are translated where the note
    catalog knows them."""
    def t(code: str, **params: Any) -> str:
        return render(Msg(code, **params), lang)

    per = (t("per_dataset", items=", ".join(f"{k}: {v:,}" for k, v in stats.per_dataset.items()))
           if len(stats.per_dataset) > 1 else "")
    lines = [t("kept_texts" if stats.kind == "pt" else "kept_samples", rows=f"{stats.rows:,}",
               read=f"{stats.rows_read:,}") + per]
    lines.append(t("lengths", p50=f"{stats.p50:,}", p90=f"{stats.p90:,}", p99=f"{stats.p99:,}",
                   max=f"{stats.max_len:,}", mean=f"{stats.mean_len:,.1f}"))
    if stats.kind == "sft":
        lines.append(t("truncated", cutoff=f"{stats.cutoff_len:,}", share=f"{stats.truncated_share:.1%}"))
    packed = "_packed" if stats.packed else ""
    evals = t("epoch_eval" + packed, seqs=f"{stats.eval_sequences:,}") if stats.eval_sequences else ""
    lines.append(t("epoch" + packed, seqs=f"{stats.train_sequences:,}", longest=f"{stats.max_seq_len:,}",
                   tokens=f"{stats.total_tokens:,}", trained=f"{stats.trainable_tokens:,}") + evals)
    if stats.dropped:
        detail = Msg.join(Msg("dropped_item", n=f"{n:,}", reason=r)
                          for r, n in sorted(stats.dropped_reasons.items(), key=lambda x: -x[1]))
        lines.append(t("dropped", n=f"{stats.dropped:,}", detail=detail))
    lines.extend(t("warning", text=w) for w in stats.warnings)
    return "\n".join(lines)


@dataclass(frozen=True)
class SampleCount:
    """What is known about a dataset without a tokenizer: how many samples it has (token lengths unknown)."""

    rows: int
