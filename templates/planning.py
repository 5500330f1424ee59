"""The dataset statistics the planner plans with: one function for `ft-tui plan`, `estimate`, `train` and the TUI.

The planner sizes ``cutoff_len`` from the data (its p99 token length), and the batch and the LoRA rank follow, so
every caller that plans must read the data the same way or one config resolves to different values (``plan``
choosing cutoff 256 from the data while ``train`` wrote the 2048 default). :func:`planning_data` is that one way:
statistics when they are cheap to get, a note saying why when they are not.

transformers (the tokenizer) is imported inside the function only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg


@dataclass
class PlanningData:
    """What :func:`planning_data` found.

    ``stats``: a :class:`~ft_tui.templates.stats.DataStats` (tokenized), a
    :class:`~ft_tui.templates.stats.SampleCount` (rows only: no local tokenizer) or None; ``note`` says what is
    missing and why. With a tokenizer: the ``template`` chosen, the ``template_reason`` and the
    ``template_warnings`` (a chat template on a base model, missing special tokens). ``error`` is the exception
    that kept the tokenizer or the data from being read (the note says it in words); the planner goes on without
    statistics, and a caller that must not (the TUI's Start, ``train --dry-run``) raises it.
    """

    stats: Any = None
    note: Any = None
    template: Any = None
    template_reason: Any = None
    template_warnings: list = field(default_factory=list)
    tokenizer: Any = None
    error: Exception | None = None


#: Files one of which a model folder needs for its tokenizer to be read (fast, sentencepiece and BPE/WordPiece).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "spiece.model", "vocab.json",
                   "vocab.txt", "sentencepiece.bpe.model")


def has_tokenizer_files(folder: Any) -> bool:
    """True when ``folder`` holds any of the files a tokenizer is read from."""
    from pathlib import Path

    return any((Path(folder) / name).is_file() for name in TOKENIZER_FILES)


def planning_data(cfg: Any, spec: Any, *, tokenizer: Any = None) -> PlanningData:
    """Dataset statistics for planning ``cfg`` on the model ``spec`` (a ``planner.models.ModelSpec``, or None).

    - no dataset set: nothing (no note);
    - the model's tokenizer is on disk (``spec.local_path``), or ``tokenizer`` is given: the chat template is
      resolved as the trainer resolves it and the data is templated and tokenized (``compute_stats``, cached by
      content);
    - otherwise the samples are only counted (``count_samples``: the time estimate knows its steps), and the note
      says token lengths are unknown.

    A dataset that does not exist or has a broken row is bad input: :class:`InputError` is raised. A tokenizer
    that cannot be read gives no statistics, a note and ``error``.
    """
    from ft_tui.templates.trainset import count_samples

    if not cfg.dataset:
        return PlanningData()
    local = getattr(spec, "local_path", None) if spec is not None else None
    if tokenizer is None and not local:
        counted, note = count_samples(cfg)
        return PlanningData(stats=counted, note=note)
    if tokenizer is None and not has_tokenizer_files(local):
        # a folder with only config.json (enough to plan the memory): the data cannot be measured, as for a
        # catalog id; reading a tokenizer from it would template every row into nothing
        counted, note = count_samples(cfg)
        return PlanningData(stats=counted, note=Msg("folder_without_tokenizer", path=str(local), note=note))
    from ft_tui.templates.registry import resolve_template, template_warnings
    from ft_tui.templates.trainset import compute_stats

    model = cfg.model_name_or_path or ""
    try:
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(local)
        template, reason = resolve_template(cfg.template, tokenizer, model, getattr(spec, "model_type", None) or "")
        stats = compute_stats(cfg, tokenizer, template)
    except InputError:
        raise
    except (OSError, ValueError, ImportError) as exc:
        return PlanningData(note=Msg("stats_not_cheap", error=str(exc)), error=exc)
    return PlanningData(stats=stats, template=template, template_reason=reason, tokenizer=tokenizer,
                        template_warnings=list(template_warnings(template, tokenizer, model)))
