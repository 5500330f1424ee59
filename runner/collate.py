"""Batch collation for causal-LM fine-tuning: right padding, label masking and the attention mask.

The datasets from ``ft_tui.templates.trainset.prepare_datasets`` are unpadded (``input_ids``, ``labels`` and
possibly ``length``). The collator pads each batch to its longest row (optionally rounded up to a multiple, which
tensor cores like): ``input_ids`` with the pad id, ``labels`` with -100 (ignored by the loss) and an
``attention_mask`` of 1 on real tokens. Extra columns are dropped. The Trainer counts non-padding tokens from the
attention mask (``include_num_input_tokens_seen="non_padding"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100


@dataclass
class PadCollator:
    """Pad a list of ``{"input_ids", "labels"}`` rows into a batch of tensors."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        if not rows:
            raise ValueError("cannot collate an empty batch")
        longest = max(len(r["input_ids"]) for r in rows)
        if self.pad_to_multiple_of:
            m = self.pad_to_multiple_of
            longest = (longest + m - 1) // m * m
        n = len(rows)
        input_ids = torch.full((n, longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((n, longest), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((n, longest), dtype=torch.long)
        for i, row in enumerate(rows):
            ids = list(row["input_ids"])
            lab = list(row.get("labels", ids))
            if len(lab) != len(ids):
                raise ValueError(f"row {i}: {len(ids)} input_ids but {len(lab)} labels")
            k = len(ids)
            input_ids[i, :k] = torch.as_tensor(ids, dtype=torch.long)
            labels[i, :k] = torch.as_tensor(lab, dtype=torch.long)
            attention[i, :k] = 1
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}
