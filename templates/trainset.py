"""Building the training set, per training stage: which rows a stage reads, how it encodes them, then the split
into train and eval, packing, and the statistics.

One entry of :data:`BUILDERS` per stage (``cfg.stage``): the conversion of the rows (``readers.to_conversations``
for sft, ``readers.to_texts`` for pt), the build (encode, split off ``val_size``, pack), the preview rows and
which datasets it reads (sft and pt read plain rows and refuse ``ranking: true`` / ``kto_tag`` datasets). Every
caller goes through :func:`load_conversations`, :func:`build_training_set`, :func:`prepare_datasets`,
:func:`compute_stats` or :func:`preview_rows`, which dispatch on the stage. A new stage is one more entry here
(see docs/ARCHITECTURE.md, "Where things go").

* sft: each conversation is encoded with the template (prompt tokens masked with -100 unless ``train_on_prompt``),
  truncated to ``cutoff_len``; samples with no trainable token left are dropped and counted. With
  ``packing: true`` samples are packed greedily into sequences of at most ``cutoff_len`` tokens. Attention is NOT
  isolated between samples packed together (each sample can attend to the ones before it in its pack), as with
  LLaMA-Factory's ``packing`` without ``neat_packing``.
* pt: texts are tokenized (bos + text + eos, bos when the tokenizer has one), joined and cut into ``cutoff_len``
  blocks (remainder dropped); pt always packs, whatever ``packing`` says (as LLaMA-Factory).
* ``val_size``: < 1 a fraction, >= 1 a count of sequences (rows for sft, blocks for pt), drawn with ``cfg.seed``;
  sft rows are split before packing so no sample is in both splits.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ft_tui.planner.errors import DataError
from ft_tui.planner.messages import Msg

from .datasets import DatasetSpec, resolve_dataset
from .encode import IGNORE_INDEX, tokenize_texts
from .readers import Convert, LoadedData, empty_message, load_samples, to_conversations, to_texts
from .stats import DataStats, SampleCount, read_cached, stats_from, stats_key, write_cached

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ft_tui.planner.config import TrainConfig

DROP_NO_LABEL_EMPTY = Msg("drop_no_label_empty")
DROP_NO_LABEL = Msg("drop_no_label")
_NO_LIMIT = 1 << 30  # "cutoff" used to measure untruncated lengths


@dataclass
class EncodedSet:
    """What the statistics and the datasets are built from (one entry per kept sample / block)."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    full_lengths: list[int]  # untruncated templated length of every encodable sample (sft) or text (pt)
    dropped: Counter
    warnings: list[str]
    packed: bool
    kept: int  # samples (sft) or texts (pt) that made it into the data


@dataclass
class TrainingSet:
    """The token sequences of the train and eval splits (after packing)."""

    train_ids: list[list[int]]
    train_labels: list[list[int]]
    eval_ids: list[list[int]]
    eval_labels: list[list[int]]


@dataclass
class PreparedData:
    """Tokenized training data: ``train``/``eval`` are ``datasets.Dataset`` with input_ids, labels, length."""

    train: Any
    eval: Any | None
    stats: DataStats


#: One preview row: segments ``(text, trained)`` that concatenate to the sample as the model sees it.
Segments = list[tuple[str, bool]]


@dataclass(frozen=True)
class StageBuilder:
    """How one training stage turns dataset rows into its training set."""

    convert: Convert  # rows -> samples (readers.py)
    build: Callable[[TrainConfig, Any, Any, LoadedData], tuple[TrainingSet, EncodedSet]]
    preview: Callable[[TrainConfig, Any, Any, list[Any]], list[Segments]]
    reads: str = "plain"  # the datasets it trains on: "plain" rows ("ranking" pairs and "kto" tags are refused)
    steps_from_rows: bool = True  # one sample is one sequence, so the row count gives the steps (not pt's blocks)


# ----------------------------------------------------------------------------------------------------------------
# Encoding, per stage
# ----------------------------------------------------------------------------------------------------------------

def _ids_labels(enc: Any) -> tuple[list[int], list[int]]:
    ids, labels = (enc["input_ids"], enc["labels"]) if isinstance(enc, dict) else (enc.input_ids, enc.labels)
    return (ids if isinstance(ids, list) else list(ids)), (labels if isinstance(labels, list) else list(labels))


def _encode_sft(cfg: TrainConfig, tokenizer: Any, template: Any, convs: list) -> EncodedSet:
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
    return EncodedSet(ids, labels, lengths, dropped, [], packed=False, kept=len(ids))


def _encode_pt(cfg: TrainConfig, tokenizer: Any, texts: list[str]) -> EncodedSet:
    """Tokenize texts (bos + text + eos), concatenate, cut into cutoff_len blocks; the remainder is dropped.

    bos starts each text when the tokenizer has one. When all the text is shorter than one block, the single
    short block is kept (with a warning) rather than leaving nothing to train.
    """
    cutoff = cfg.cutoff_len
    eos = getattr(tokenizer, "eos_token_id", None)
    bos = getattr(tokenizer, "bos_token_id", None)
    warnings: list[str] = []
    if eos is None:
        warnings.append(Msg("warn_no_eos"))
    token_ids = tokenize_texts(tokenizer, texts)
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
    return EncodedSet(blocks, [list(b) for b in blocks], lengths, dropped, warnings, packed=True, kept=len(lengths))


# ----------------------------------------------------------------------------------------------------------------
# Splitting and packing (shared by the stages)
# ----------------------------------------------------------------------------------------------------------------

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


def _split(cfg: TrainConfig, loaded: LoadedData, enc: EncodedSet, *, pack: bool) -> TrainingSet:
    """Split off ``val_size`` (before packing, so no sample is in both splits), then pack when ``pack``."""
    if not enc.input_ids:
        raise DataError(empty_message(loaded, cfg, enc.dropped), key="dataset")
    train_idx, eval_idx = _split_indices(len(enc.input_ids), cfg.val_size, cfg.seed)
    if pack:
        tr = _pack(enc.input_ids, enc.labels, train_idx, cfg.cutoff_len)
        ev = _pack(enc.input_ids, enc.labels, eval_idx, cfg.cutoff_len) if eval_idx else ([], [])
        enc.packed = True
    else:
        tr = ([enc.input_ids[i] for i in train_idx], [enc.labels[i] for i in train_idx])
        ev = ([enc.input_ids[i] for i in eval_idx], [enc.labels[i] for i in eval_idx])
    return TrainingSet(tr[0], tr[1], ev[0], ev[1])


# ----------------------------------------------------------------------------------------------------------------
# The stages
# ----------------------------------------------------------------------------------------------------------------

def build_sft(cfg: TrainConfig, tokenizer: Any, template: Any, loaded: LoadedData
              ) -> tuple[TrainingSet, EncodedSet]:
    """sft: conversations encoded with the template, packed when ``packing`` is on."""
    enc = _encode_sft(cfg, tokenizer, template, loaded.samples)
    return _split(cfg, loaded, enc, pack=cfg.effective_packing), enc


def build_pt(cfg: TrainConfig, tokenizer: Any, template: Any, loaded: LoadedData
             ) -> tuple[TrainingSet, EncodedSet]:
    """pt: texts joined into ``cutoff_len`` blocks (already packed; the template is not used)."""
    enc = _encode_pt(cfg, tokenizer, loaded.samples)
    return _split(cfg, loaded, enc, pack=False), enc


def _segments(tokenizer: Any, ids: list[int], trained: list[bool]) -> Segments:
    segs: Segments = []
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or trained[i] != trained[start]:
            segs.append((tokenizer.decode(ids[start:i], skip_special_tokens=False), trained[start]))
            start = i
    return segs


def _preview_sft(cfg: TrainConfig, tokenizer: Any, template: Any, samples: list[Any]) -> list[Segments]:
    from .encode import encode_batch

    out = []
    for enc in encode_batch(template, tokenizer, samples, cfg.cutoff_len, cfg.train_on_prompt):
        if enc is None:
            continue
        ids = list(enc.input_ids)
        out.append(_segments(tokenizer, ids, [lab != IGNORE_INDEX for lab in enc.labels]))
    return out


def _preview_pt(cfg: TrainConfig, tokenizer: Any, template: Any, samples: list[Any]) -> list[Segments]:
    out = []
    for text in samples:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][: cfg.cutoff_len]
        out.append([(tokenizer.decode(ids, skip_special_tokens=False), True)])
    return out


#: Training stage (``cfg.stage``) -> how it builds its training set.
BUILDERS: dict[str, StageBuilder] = {
    "sft": StageBuilder(convert=to_conversations, build=build_sft, preview=_preview_sft),
    "pt": StageBuilder(convert=to_texts, build=build_pt, preview=_preview_pt, steps_from_rows=False),
}

#: Why a stage refuses a dataset of another kind (``DatasetSpec.data_kind``).
_REFUSED = {"ranking": "err_ranking", "kto": "err_kto"}


def builder(stage: str) -> StageBuilder:
    """The builder of ``stage`` (the config already refused any stage not in :data:`BUILDERS`)."""
    try:
        return BUILDERS[stage]
    except KeyError:
        raise ValueError(f"no training-set builder for stage {stage!r} (known: {', '.join(BUILDERS)})") from None


def check_for_stage(spec: DatasetSpec, stage: str) -> None:
    """Refuse a dataset the stage does not train on (preference pairs or KTO tags for sft and pt), with the
    registry file and the entry's line."""
    kind = spec.data_kind
    if kind != builder(stage).reads:
        raise DataError(Msg("err_in_dataset", name=spec.name, message=Msg(_REFUSED[kind])), file=spec.registry,
                        line=spec.line)


def check_dataset(name: str, cfg: TrainConfig, warnings: list[str] | None = None) -> DatasetSpec:
    """Resolve dataset ``name`` as the trainer will and check that ``cfg.stage`` can train on it."""
    spec = resolve_dataset(name, cfg, warnings)
    check_for_stage(spec, cfg.stage)
    return spec


# ----------------------------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------------------------

def load_conversations(cfg: TrainConfig, *, limit: int | None = None) -> LoadedData:
    """Read every dataset in ``cfg.dataset`` and convert its rows as ``cfg.stage`` reads them (conversations for
    sft, texts for pt), ``max_samples`` rows per dataset at most; ``limit`` caps them further (previews)."""
    return load_samples(cfg, builder(cfg.stage).convert, check=lambda spec: check_for_stage(spec, cfg.stage),
                        limit=limit)


def build_training_set(cfg: TrainConfig, tokenizer: Any, template: Any,
                       loaded: LoadedData | None = None) -> tuple[TrainingSet, DataStats]:
    """Load (unless given), then build ``cfg.stage``'s training set; return its token sequences and statistics."""
    loaded = loaded if loaded is not None else load_conversations(cfg)
    split, enc = builder(cfg.stage).build(cfg, tokenizer, template, loaded)
    return split, stats_from(cfg, loaded, enc, split)


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


def prepare_datasets(cfg: TrainConfig, tokenizer: Any, template: Any) -> PreparedData:
    """Tokenized train (and eval) datasets for ``cfg`` (see the module docstring for what each stage builds).

    Columns: ``input_ids``, ``labels``, ``length``; unpadded (the runner's collator pads).
    """
    split, stats = build_training_set(cfg, tokenizer, template)
    train = _to_dataset(split.train_ids, split.train_labels)
    evalset = _to_dataset(split.eval_ids, split.eval_labels) if split.eval_ids else None
    return PreparedData(train=train, eval=evalset, stats=stats)


def compute_stats(cfg: TrainConfig, tokenizer: Any, template: Any, *, use_cache: bool = True) -> DataStats:
    """Statistics of ``cfg``'s data as ``prepare_datasets`` would build it; cached on disk by content."""
    key = stats_key(cfg, tokenizer, template) if use_cache else None
    if key:
        hit = read_cached(key)
        if hit is not None:
            return hit
    _, stats = build_training_set(cfg, tokenizer, template)
    if key:
        write_cached(key, stats)
    return stats


def preview_rows(cfg: TrainConfig, tokenizer: Any, template: Any, n: int = 3) -> list[Segments]:
    """The first ``n`` samples as the model sees them: per sample, segments ``(text, trained)``.

    ``trained`` is True for tokens that carry a label (the response, or every token in pre-training). The
    segments of one sample concatenate to its templated (and truncated) text.
    """
    loaded = load_conversations(cfg, limit=n)
    return builder(cfg.stage).preview(cfg, tokenizer, template, loaded.samples[:n])


def count_samples(cfg: TrainConfig) -> tuple[SampleCount | None, Msg]:
    """Count the samples (no tokenizer needed) so the time estimate knows the number of steps. The note (a
    :class:`Msg`, English as text) says what the estimate assumes."""
    if not builder(cfg.stage).steps_from_rows:  # pre-training text is packed into blocks: rows say nothing
        return None, Msg("no_tokenizer", cutoff=cfg.cutoff_len)
    loaded = load_conversations(cfg)
    rows = len(loaded.samples)
    return SampleCount(rows=rows), Msg("no_tokenizer_counted", cutoff=cfg.cutoff_len, rows=rows)
