"""Dataset statistics for the planner, ``ft-tui train --dry-run`` and the TUI's dataset panel.

Length percentiles are computed from the FULL templated length of every sample (before truncation, including
samples that truncation then leaves with nothing to train and drops), so the planner can recommend a ``cutoff_len`` and show what share of the data a given cutoff would cut. Token totals
(``total_tokens``, ``trainable_tokens``) are what one epoch of the train split actually feeds the model, after
truncation and packing; the planner turns them into steps and time.

Statistics are cached on disk under ``${XDG_CACHE_HOME:-~/.cache}/ft-tui/data-stats/``, keyed by the content of
the data files, the tokenizer, the template and every config key that changes the result.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ft_tui.planner.config import TrainConfig

    from .datasets import LoadedData

#: Bump when the statistics are computed differently, so older cache entries are not reused.
STATS_VERSION = 1


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
    """Build :class:`DataStats` from the encoded data (see ``datasets.encode_and_measure``)."""
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
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ft-tui" / "data-stats"


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
    from .datasets import resolve_dataset

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


def _cache_read(key: str) -> DataStats | None:
    path = cache_dir() / f"{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        stats = DataStats.from_dict(data)
    except TypeError:  # written by an older layout
        return None
    stats.cached = True
    return stats


def _cache_write(key: str, stats: DataStats) -> None:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(stats.to_dict()), encoding="utf-8")
        tmp.replace(folder / f"{key}.json")
    except OSError:
        pass  # a read-only cache only costs the next run a recomputation


def compute_stats(cfg: TrainConfig, tokenizer: Any, template: Any, *, use_cache: bool = True) -> DataStats:
    """Statistics of ``cfg``'s data as ``prepare_datasets`` would build it; cached on disk by content."""
    from .datasets import encode_and_measure

    key = stats_key(cfg, tokenizer, template) if use_cache else None
    if key:
        hit = _cache_read(key)
        if hit is not None:
            return hit
    _, stats = encode_and_measure(cfg, tokenizer, template)
    if key:
        _cache_write(key, stats)
    return stats


# ----------------------------------------------------------------------------------------------------------------
# Data notes, in English and Chinese
# ----------------------------------------------------------------------------------------------------------------

#: Every data note by code: the statistics summary's lines, the notes made when statistics cannot be had, and the
#: notes of ``templates.datasets`` / ``templates.registry`` (dropped-row reasons, warnings) so they can be shown
#: in Chinese too. Key names, values and paths stay as they are in both languages.
NOTES: dict[str, dict[str, str]] = {
    # format_stats lines
    "kept_samples": {"en": "{rows} samples kept of {read} rows read", "zh": "读取 {read} 行，保留 {rows} 条样本"},
    "kept_texts": {"en": "{rows} texts kept of {read} rows read", "zh": "读取 {read} 行，保留 {rows} 段文本"},
    "per_dataset": {"en": " ({items})", "zh": "（{items}）"},
    "lengths": {"en": "full length in tokens: p50 {p50}  p90 {p90}  p99 {p99}  max {max}  mean {mean}",
                "zh": "完整长度（token）：p50 {p50}  p90 {p90}  p99 {p99}  最长 {max}  平均 {mean}"},
    "truncated": {"en": "cutoff_len {cutoff}: {share} of samples are truncated",
                  "zh": "cutoff_len {cutoff}：{share} 的样本超长，会被截断"},
    "epoch": {"en": "per epoch: {seqs} sequences (longest {longest}), {tokens} tokens, {trained} trained",
              "zh": "每轮：{seqs} 条序列（最长 {longest}），共 {tokens} 个 token，其中 {trained} 个参与训练"},
    "epoch_packed": {"en": "per epoch: {seqs} packed sequences (longest {longest}), {tokens} tokens, {trained} trained",
                     "zh": "每轮：{seqs} 条打包序列（最长 {longest}），共 {tokens} 个 token，其中 {trained} 个参与训练"},
    "epoch_eval": {"en": "; eval: {seqs} sequences", "zh": "；验证集：{seqs} 条序列"},
    "epoch_eval_packed": {"en": "; eval: {seqs} packed sequences", "zh": "；验证集：{seqs} 条打包序列"},
    "dropped": {"en": "dropped {n}: {detail}", "zh": "丢弃 {n} 条：{detail}"},
    "dropped_item": {"en": "{n} {reason}", "zh": "{n} 条（{reason}）"},
    "list_sep": {"en": "; ", "zh": "；"},
    "warning": {"en": "warning: {text}", "zh": "注意：{text}"},
    "samples_only": {"en": "{rows} samples", "zh": "{rows} 条样本"},
    # when there are no statistics
    "no_dataset": {"en": "no dataset named", "zh": "还没有指定数据集"},
    "no_tokenizer": {
        "en": "token lengths need the model's tokenizer on disk; every sample is assumed to be cutoff_len "
              "({cutoff}) tokens",
        "zh": "统计 token 长度需要本地有模型的分词器；现按每条样本都是 cutoff_len（{cutoff}）个 token 估算"},
    "no_tokenizer_counted": {
        "en": "token lengths need the model's tokenizer on disk; every sample is assumed to be cutoff_len "
              "({cutoff}) tokens; steps are counted from its {rows} samples",
        "zh": "统计 token 长度需要本地有模型的分词器；现按每条样本都是 cutoff_len（{cutoff}）个 token 估算；"
              "步数按其 {rows} 条样本计算"},
    # why rows were dropped (templates.datasets)
    "drop_empty_response": {"en": "empty response", "zh": "回复为空"},
    "drop_empty_text": {"en": "empty text", "zh": "文本为空"},
    "drop_history": {"en": "history is not a list of [query, answer] pairs",
                     "zh": "history 不是 [query, answer] 对的列表"},
    "drop_messages": {"en": "messages is empty or not a list", "zh": "messages 为空或不是列表"},
    "drop_message_object": {"en": "a message is not an object", "zh": "有一条消息不是对象"},
    "drop_alternate": {"en": "turns do not alternate user/assistant", "zh": "对话轮次没有按 user/assistant 交替"},
    "drop_last_turn": {"en": "conversation does not end with an assistant turn",
                       "zh": "对话不是以 assistant 轮结束"},
    "drop_no_label_empty": {"en": "no trainable token (empty response)", "zh": "没有可训练的 token（回复为空）"},
    "drop_no_label": {"en": "no trainable token", "zh": "没有可训练的 token"},
    "drop_too_long": {"en": "longer than cutoff_len={cutoff} with nothing left to train; raise cutoff_len",
                      "zh": "超过 cutoff_len={cutoff}，截断后没有可训练的部分；请调大 cutoff_len"},
    # warnings of templates.datasets
    "warn_entry_key": {"en": "{registry}: dataset '{name}': key '{key}' is not a dataset_info.json key and is ignored",
                       "zh": "{registry}：数据集 '{name}'：'{key}' 不是 dataset_info.json 的键，已忽略"},
    "warn_num_samples": {"en": "dataset '{name}': 'num_samples' is ignored; use max_samples in the config",
                         "zh": "数据集 '{name}'：'num_samples' 会被忽略；请在配置里用 max_samples"},
    "warn_column_key": {"en": "dataset '{name}': column key '{key}' is unknown and ignored",
                        "zh": "数据集 '{name}'：未知的列键 '{key}'，已忽略"},
    "warn_tag_key": {"en": "dataset '{name}': tag key '{key}' is unknown and ignored",
                     "zh": "数据集 '{name}'：未知的标签键 '{key}'，已忽略"},
    "warn_media": {"en": "dataset '{name}': media columns ({columns}) are ignored; ft-tui trains text-only models",
                   "zh": "数据集 '{name}'：多模态列（{columns}）会被忽略；ft-tui 只训练纯文本模型"},
    "warn_tools_column": {"en": "dataset '{name}': the '{column}' column (tool definitions) is ignored",
                          "zh": "数据集 '{name}'：'{column}' 列（工具定义）会被忽略"},
    "warn_tool_turns": {
        "en": "dataset '{name}': {n} conversation(s) have tool turns; function_call turns are trained as assistant "
              "text and observation turns are read as user turns",
        "zh": "数据集 '{name}'：{n} 段对话含工具调用；function_call 轮按 assistant 文本训练，observation 轮按 user "
              "轮读取"},
    "warn_no_eos": {"en": "the tokenizer has no eos token; texts are concatenated without a separator",
                    "zh": "分词器没有 eos token；各段文本直接拼接，中间没有分隔符"},
    "warn_one_block": {
        "en": "all text is {n} tokens, less than one cutoff_len={cutoff} block; training on one shorter block",
        "zh": "全部文本只有 {n} 个 token，不足一个 cutoff_len={cutoff} 的块；只用一个较短的块训练"},
    "warn_last_block": {"en": "the last {n} tokens (less than one block) are dropped",
                        "zh": "最后 {n} 个 token（不足一个块）被丢弃"},
    # warnings of templates.registry
    "warn_base_model": {
        "en": "{who} looks like a base model (its tokenizer has no chat template and its name has no "
              "Instruct/Chat/-it marker), but chat template '{template}' is selected. The model has never seen "
              "'{stop}' as a stop token, so it may never stop generating unless it trains long enough. Consider "
              "template: default or empty for a base model, or an instruct model.",
        "zh": "{who}看起来是基座模型（分词器没有对话模板，名称里也没有 Instruct/Chat/-it 字样），却选了对话模板 "
              "'{template}'。模型从没见过 '{stop}' 这个结束符，除非训练得足够久，否则可能停不下来。基座模型建议用 "
              "template: default 或留空，或者换用指令模型。"},
    "warn_missing_tokens": {
        "en": "template '{template}' uses {tokens}, which the tokenizer does not have as single tokens; pick the "
              "template that matches the model (or leave template unset to detect it).",
        "zh": "模板 '{template}' 用到的 {tokens} 在分词器里不是单个 token；请选与模型匹配的模板（或不设 template，"
              "让它自动识别）。"},
}

#: How ``{who}`` of the base-model warning reads when the model has no name.
_THIS_MODEL = {"this model": "这个模型"}


class Note(str):
    """A data note: its English text as a ``str`` (CLI output and JSON stay English), plus the code and values to
    say it in another language with :func:`render_note`."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, **params: Any) -> Note:
        obj = super().__new__(cls, NOTES[code]["en"].format(**params))
        obj.code, obj.params = code, params
        return obj

    def render(self, lang: str | None) -> str:
        """The note in ``lang`` (English when the catalog has no such language)."""
        template = NOTES[self.code].get(lang or "en") or NOTES[self.code]["en"]
        return template.format(**self.params)

    def __reduce__(self):  # copies and pickles keep the code (str subclasses with extra state need this)
        return (_rebuild_note, (self.code, self.params))


def _rebuild_note(code: str, params: dict[str, Any]) -> Note:
    return Note(code, **params)


def _pattern(template: str) -> re.Pattern[str]:
    """A regex matching the English ``template``'s text, one named group per ``{placeholder}`` (a repeated
    placeholder must repeat the same text)."""
    out, seen, pos = [], set(), 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[pos:m.start()]))
        name = m.group(1)
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
        seen.add(name)
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out), re.DOTALL)


#: Codes whose English text can arrive as plain text (joined notes, the JSON cache, other modules' warnings) and is
#: matched back; the summary's line fragments are never matched against free text.
_MATCHED_PREFIXES = ("no_", "drop_", "warn_")
_WARNING_PREFIX = "warning: "


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    """The matched codes' patterns, the most specific (longest) first: "no trainable token (empty response)"
    before "no trainable token"."""
    codes = [c for c in NOTES if c.startswith(_MATCHED_PREFIXES)]
    return [(c, _pattern(NOTES[c]["en"])) for c in sorted(codes, key=lambda c: -len(NOTES[c]["en"]))]


def match_note(text: str) -> Note | None:
    """The :class:`Note` whose English text is ``text`` (a note that lost its code by being joined, cached as JSON
    or made by ``templates.datasets`` / ``templates.registry``), or None."""
    if isinstance(text, Note):
        return text
    for code, pattern in _patterns():
        m = pattern.fullmatch(text)
        if m:
            return Note(code, **m.groupdict())
    return None


def render_note(text: str | None, lang: str | None) -> str:
    """``text`` (one note or several, one a line) in ``lang``: a :class:`Note` renders from its code, a plain line
    whose English matches the catalog is translated (a ``warning: ...`` line with what it warns about), any other
    line is shown as it is."""
    if not text:
        return ""
    if isinstance(text, Note):
        return text.render(lang)
    if (lang or "en") == "en":
        return str(text)
    return "\n".join(_render_line(line, lang) for line in str(text).split("\n"))


def _render_line(line: str, lang: str | None) -> str:
    if line.startswith(_WARNING_PREFIX):
        return Note("warning", text=_render_line(line[len(_WARNING_PREFIX):], lang)).render(lang)
    note = match_note(line)
    if note is None:
        return line
    if note.code == "warn_base_model" and lang == "zh":
        who = note.params["who"]
        note = Note("warn_base_model", **dict(note.params, who=_THIS_MODEL.get(who, who)))
    return note.render(lang)


# ----------------------------------------------------------------------------------------------------------------
# Presentation
# ----------------------------------------------------------------------------------------------------------------

def format_stats(stats: DataStats, lang: str = "en") -> str:
    """A short multi-line summary for ``ft-tui train --dry-run`` (English) and the TUI (``lang``: en or zh).

    Dataset warnings and drop reasons (English text made by ``templates.datasets``) are translated where the note
    catalog knows them."""
    def t(code: str, **params: Any) -> str:
        return Note(code, **params).render(lang)

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
        detail = t("list_sep").join(t("dropped_item", n=f"{n:,}", reason=render_note(r, lang))
                           for r, n in sorted(stats.dropped_reasons.items(), key=lambda x: -x[1]))
        lines.append(t("dropped", n=f"{stats.dropped:,}", detail=detail))
    lines.extend(t("warning", text=render_note(w, lang)) for w in stats.warnings)
    return "\n".join(lines)


def preview_rows(cfg: TrainConfig, tokenizer: Any, template: Any, n: int = 3) -> list[list[tuple[str, bool]]]:
    """The first ``n`` samples as the model sees them: per sample, segments ``(text, trained)``.

    ``trained`` is True for tokens that carry a label (the response, or every token in pre-training). The
    segments of one sample concatenate to its templated (and truncated) text.
    """
    from .datasets import load_conversations

    loaded = load_conversations(cfg, limit=n)
    out: list[list[tuple[str, bool]]] = []
    if loaded.kind == "pt":
        for text in loaded.samples[:n]:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"][: cfg.cutoff_len]
            out.append([(tokenizer.decode(ids, skip_special_tokens=False), True)])
        return out
    from .encode import encode_batch

    for enc in encode_batch(template, tokenizer, loaded.samples[:n], cfg.cutoff_len, cfg.train_on_prompt):
        if enc is None:
            continue
        ids = list(enc.input_ids)
        labels = list(enc.labels)
        out.append(_segments(tokenizer, ids, [lab != -100 for lab in labels]))
    return out


def _segments(tokenizer: Any, ids: list[int], trained: list[bool]) -> list[tuple[str, bool]]:
    segs: list[tuple[str, bool]] = []
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or trained[i] != trained[start]:
            segs.append((tokenizer.decode(ids[start:i], skip_special_tokens=False), trained[start]))
            start = i
    return segs


@dataclass(frozen=True)
class SampleCount:
    """What is known about a dataset without a tokenizer: how many samples it has (token lengths unknown)."""

    rows: int


def count_samples(cfg) -> tuple[Any, str]:
    """Count the samples (no tokenizer needed) so the time estimate knows the number of steps. The note (a
    :class:`Note`, English as text) says what the estimate assumes."""
    if cfg.stage != "sft":  # pre-training text is packed into blocks: rows say nothing about steps
        return None, Note("no_tokenizer", cutoff=cfg.cutoff_len)
    from .datasets import load_conversations

    loaded = load_conversations(cfg)
    rows = len(loaded.samples)
    return SampleCount(rows=rows), Note("no_tokenizer_counted", cutoff=cfg.cutoff_len, rows=rows)
