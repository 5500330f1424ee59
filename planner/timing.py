"""Training time: FLOPs per token, achieved throughput, steps and ETA.

The count follows Kaplan et al. 2020 ("Scaling Laws", arXiv:2001.08361, §2.1) as nanoGPT's ``estimate_mfu`` does:
a matmul with N weights costs 2N FLOPs per token forward and 4N backward (2N for the input gradient, 2N for the
weight gradient). Fine-tuning methods change which backward parts run:

* full:    6N                                    (forward 2N + input grads 2N + weight grads 2N)
* LoRA:    2N + 2N + 6 N_lora                    (frozen base: no weight grads, but input grads flow through it)
* freeze:  2N + 4 N_k + 2 N_head-side            (input and weight grads only above the first trained layer)
* + 2N_g   gradient checkpointing recomputes the forward of the checkpointed layers
* + attention scores: 4 * L * q_dim * s_ctx per token forward (QK^T and PV), s_ctx = s/2 under a causal mask,
  times 3 for forward + backward (+1 when recomputed). Embedding lookups cost nothing.

Throughput = peak dense 16-bit TFLOP/s x MFU. MFU (model FLOPs utilization) assumptions [I], stated so they can be
calibrated with ``bench/gpu_calibrate.py``:

* 0.35 for 16-bit training with HF Trainer on one GPU: below the 46 % PaLM reached with a tuned stack at scale
  (Chowdhery et al. 2022, arXiv:2204.02311, Table 3), since HF eager kernels, small batches and padding cost.
* 4-bit: 0.35 / 1.5 = 0.23: Raschka measured QLoRA 1.5x slower than LoRA on the same run (10,060 s vs 6,685 s;
  research note §3 B).
* 8-bit (LLM.int8 with outlier decomposition): 0.12 [U: bitsandbytes reports int8 training 2-4x slower].
* fp32 (no bf16/fp16): a quarter of the 16-bit rate (TF32 tensor cores run at half the 16-bit peak, and no
  mixed-precision kernels) [U].
* several GPUs: x0.9 per-GPU efficiency for DDP, x0.8 for FSDP (communication not fully overlapped) [U].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MFU_16BIT = 0.35
MFU_4BIT = MFU_16BIT / 1.5
MFU_8BIT = 0.12
FP32_FACTOR = 0.25
SCALING = {"single": 1.0, "ddp": 0.9, "fsdp": 0.8}
#: group_by_length: the share of the unsorted padding that is left after grouping, times per-device batch /
#: megabatch rows (see :func:`grouped_padded_len`). Fitted on the Trainer's own loader (tests/runner/
#: test_group_by_length.py's helper) over generated conversations: 32 / 256 / 2,000 rows, batch 4-8, accumulation
#: 1-4 left 1.02-2.2x the unsorted padding per row; 1.3 matches all nine within 0.03 of the padded length [M].
GROUPED_RESIDUAL = 1.3


@dataclass
class TimeEstimate:
    """Throughput and duration of a run. ``steps``/``eta_s`` are None when the run length is unknown."""

    flops_per_token: float
    tokens_per_s: float
    mfu: float
    tokens_per_step: float
    step_s: float
    steps: int | None
    total_tokens: float | None
    eta_s: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "flops_per_token": round(self.flops_per_token),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "mfu": round(self.mfu, 3),
            "step_s": round(self.step_s, 3),
            "steps": self.steps,
            "total_tokens": None if self.total_tokens is None else round(self.total_tokens),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "note": self.note,
        }


def matmul_params(spec, counts) -> int:
    """N: parameters that take part in a matmul per token: the decoder Linears (MoE: only the routed experts'
    share) plus the lm_head projection (tied or not). Embedding lookups are not matmuls."""
    linear = counts.linear
    if spec.num_experts and counts.experts:
        linear = linear - counts.experts + counts.experts * spec.num_experts_per_tok / spec.num_experts
    return int(linear + spec.vocab_size * spec.hidden_size)


def attention_flops_per_token(spec, seq_len: int) -> float:
    """Forward FLOPs of the attention scores and weighted sum per token: 2 matmuls x 2 FLOPs x L x q_dim x s_ctx,
    with s_ctx = s/2 (causal mask: on average a token attends to half the sequence)."""
    return 4.0 * spec.num_hidden_layers * spec.num_attention_heads * spec.head_dim * seq_len / 2


def training_flops_per_token(spec, counts, setup, trainable: int) -> float:
    """Training FLOPs per token for ``setup`` (a memory.TrainSetup); ``trainable`` = P_t (LoRA: adapter params)."""
    n = matmul_params(spec, counts)
    attn = attention_flops_per_token(spec, setup.seq_len)
    L = spec.num_hidden_layers
    if setup.method == "full":
        flops, recompute = 6 * n + 3 * attn, 2 * n + attn
    elif setup.method == "lora":
        flops, recompute = 4 * n + 6 * trainable + 3 * attn, 2 * n + attn
    else:
        k = min(abs(setup.freeze_layers), L)
        layer_n = counts.linear / max(L, 1)
        head = spec.vocab_size * spec.hidden_size
        # input gradients flow from the head down to the lowest trained layer
        above = (k if setup.freeze_layers > 0 else L) * layer_n + head
        flops = 2 * n + 2 * above + 2 * k * layer_n + attn * (1 + 2 * k / L)
        recompute = 2 * k * layer_n + attn * k / L
    return flops + (recompute if setup.grad_ckpt else 0.0)


def mfu_for(setup) -> float:
    """The assumed utilization for this setup (see the module docstring for sources)."""
    if setup.quant_bits == 4:
        base = MFU_4BIT
    elif setup.quant_bits == 8:
        base = MFU_8BIT
    else:
        base = MFU_16BIT
    return base * (1.0 if setup.half else FP32_FACTOR)


def _run_tokens(cfg, data) -> tuple[int | None, float, str]:
    """(training sequences per epoch, mean tokens per sequence, note) from data stats (duck-typed ``DataStats``:
    ``train_sequences``/``total_tokens`` when present, else ``rows``/``mean_len``/``p99``); unknown rows and
    cutoff_len tokens per sample without stats (the worst case)."""
    if data is None or not getattr(data, "rows", None):
        return None, float(cfg.cutoff_len), "no dataset statistics: assumed every sample is cutoff_len tokens"
    seqs = getattr(data, "train_sequences", None)
    if seqs:
        rows = int(seqs)
    else:
        rows = int(data.rows) if not cfg.max_samples else min(int(data.rows), cfg.max_samples)
        rows -= int(cfg.val_size) if cfg.val_size >= 1 else int(rows * cfg.val_size)
    total = getattr(data, "total_tokens", None)
    if not total and not getattr(data, "mean_len", None):
        return max(rows, 0), float(cfg.cutoff_len), "steps from the sample count; every sample assumed cutoff_len tokens"
    mean = float(total) / rows if (total and rows) else float(getattr(data, "mean_len", 0) or cfg.cutoff_len)
    mean = min(mean, cfg.cutoff_len)
    if not cfg.effective_packing and cfg.per_device_train_batch_size > 1:
        # Padding to the longest sample of each batch: approximate the padded length by mean(mean, p99) [I].
        p99 = float(getattr(data, "p99", 0) or mean)
        padded = min((mean + p99) / 2, cfg.cutoff_len)
        if cfg.group_by_length:
            return (max(rows, 0), grouped_padded_len(mean, padded, rows, cfg),
                    "from dataset statistics (rows grouped by length)")
        return max(rows, 0), padded, "from dataset statistics (padding approximated)"
    return max(rows, 0), mean, "from dataset statistics"


def grouped_padded_len(mean: float, padded: float, rows: int, cfg) -> float:
    """Mean padded row length under transformers' length-grouped sampler.

    The sampler shuffles, cuts the data into megabatches of ``min(rows // (4 B), 50) * B`` rows (at least ``B``;
    ``B`` = per-device batch x accumulation), sorts each by length and batches it in order, so a batch's rows
    are neighbours among ``megabatch / batch`` sorted groups: the unsorted padding ``padded - mean`` shrinks by about
    that ratio (times ``GROUPED_RESIDUAL``, fitted). Small datasets have small megabatches and keep most of it.
    """
    b = cfg.per_device_train_batch_size
    big = b * cfg.gradient_accumulation_steps
    megabatch = max(1, min(rows // (4 * big), 50)) * big
    return mean + (padded - mean) * min(1.0, GROUPED_RESIDUAL * b / megabatch)


def estimate_time(cfg, spec, counts, setup, hw, trainable: int, data=None) -> TimeEstimate | None:
    """Time estimate for a config, or None when no GPU (no peak TFLOP/s) is known."""
    peak = getattr(hw, "peak_tflops", None) if hw is not None else None
    if not peak or getattr(hw, "source", "none") == "none":
        return None
    mfu = mfu_for(setup) * SCALING.get(setup.strategy, 1.0)
    n_gpus = max(1, setup.n_gpus)
    tokens_per_s = peak * 1e12 * mfu * n_gpus / training_flops_per_token(spec, counts, setup, trainable)
    rows, mean_len, note = _run_tokens(cfg, data)
    samples_per_step = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * n_gpus
    tokens_per_step = samples_per_step * mean_len
    step_s = tokens_per_step / tokens_per_s
    if cfg.max_steps and cfg.max_steps > 0:
        steps = cfg.max_steps
    elif rows is not None:
        steps = math.ceil(rows * cfg.num_train_epochs / samples_per_step) if rows else 0
    else:
        steps = None
        note += "; the number of steps is unknown without a dataset (or max_steps)"
    total = None if steps is None else steps * tokens_per_step
    eta = None if steps is None else steps * step_s
    fpt = training_flops_per_token(spec, counts, setup, trainable)
    return TimeEstimate(flops_per_token=fpt, tokens_per_s=tokens_per_s, mfu=mfu, tokens_per_step=tokens_per_step,
                        step_s=step_s, steps=steps, total_tokens=total, eta_s=eta, note=note)
