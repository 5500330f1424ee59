"""Peak device memory of ONE training process, term by term.

Every term is one small function that returns bytes and cites where its formula comes from. "§" references point at
the team's research note ``shared/research/memory-model.md``; letters in brackets say how sure the source is
([V] read in the primary source, [S] secondary, [I] our inference from code or arithmetic).

The model (§0):

    peak = C_ctx + (1 + f_frag) * (W + S_opt + max(phase_fwd_bwd, phase_step))
    phase_fwd_bwd = A + Lg + X_dequant (+ G when gradients survive between micro-batches) (+ DDP buckets)
    phase_step    = G + X_opt (+ DDP buckets)

What our runner does, and therefore what is modelled by default (keep :class:`TrainSetup` and the runner aligned):

* LoRA / QLoRA: the base model is loaded in the compute dtype (bf16/fp16; fp32 when neither is set); adapters are
  fp32 (PEFT's ``autocast_adapter_dtype=True``); for 8/4-bit every parameter bitsandbytes does not quantize
  (embeddings, lm_head, norms, fused MoE experts) stays in the compute dtype: the runner does not call
  ``prepare_model_for_kbit_training``, whose fp32 upcast of those (§2.2) ``kbit_prepare=True`` still models for
  stacks that do (the published HF + peft measurements in ``data/calibration.yaml``).
* full: weights are loaded in fp32 and trained under AMP autocast (``precision_mode="amp"``): fp32 weights are
  the master copy, gradients and AdamW states are fp32, autocast keeps bf16 copies of the weights during the
  forward pass (HF's "18 bytes per parameter", §1.11). ``precision_mode="pure"`` models a model loaded in bf16/fp16
  and trained as is (LLaMA-Factory's pure_bf16, torchtune, PEFT's benchmark).
* freeze: the trained layers are fp32 (AMP as above), every other weight stays in the compute dtype
  (``runner/modeling.py``, as LLaMA-Factory does).

Stage ``pt`` (continued pre-training, every token labelled) costs the same as ``sft``: logits are computed for every
position either way; packing only fixes the sequence length at cutoff_len (see :func:`peak_seq_len`).

Pure functions only: no torch, no file I/O, so the TUI can call :func:`estimate_memory` on every keystroke.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .activations import (  # noqa: F401
    NO_SDPA_MODEL_TYPES,
    SOFTCAP_DEFAULTS,
    _attention_bytes,
    _experts_adapted,
    _fused_qkv,
    _group,
    _layer_plan,
    _lora_router_dims,
    _mlp_bytes,
    _moe_bytes,
    _norm_bytes,
    _norm_layout,
    _recast_bytes,
    _softcaps,
    _stream_bytes,
    activation_bytes,
    activation_bytes_per_token_layer,
    activation_parts,
    attention_kernel,
    lora_extra_bytes_per_token_layer,
)

# The setup, the estimate and the shapes (train_setup.py) and the saved activations (activations.py) are parts of
# this model: their names are re-exported here, where callers look for every term.
from .train_setup import (  # noqa: F401
    ADAM8_BYTES,
    ASSUMED_ALLOC_CONF,
    CUDA_CONTEXT_BYTES,
    FRAGMENTATION,
    LOSS_BYTES_PER_VOCAB,
    MIN_8BIT_SIZE,
    MIN_PAGED_SIZE,
    NCCL_BYTES,
    NF4_BYTES,
    NF4_DQ_BYTES,
    OPTIMIZERS_8BIT,
    OPTIMIZERS_PAGED,
    MemoryEstimate,
    TrainSetup,
    _freeze_params,
    _gated_mlp,
    _kv_dim,
    _layer_modules,
    _layer_params,
    _mlp_width,
    _q_dim,
    _select_targets,
    dropout_saved_bytes,
    lora_params,
    precision_label,
    trainable_layers,
    trainable_params,
    trainable_tensor_sizes,
)

# ----------------------------------------------------------------------------------------------------------------
# Terms (bytes)
# ----------------------------------------------------------------------------------------------------------------

def weight_bytes(spec, counts, setup: TrainSetup) -> int:
    """W: every resident weight, bytes (§2.2).

    * fp32 4 B, bf16/fp16 2 B per parameter. Full FT under AMP: fp32 weights (the master copy); freeze: the trained
      layers fp32, the rest 16-bit.
    * NF4: 0.5625 B/param, 0.5159 B with double quant, for the decoder Linears only [V bnb].
    * LLM.int8: 1 B/param + one fp32 row scale per output row [S/I].
    * k-bit preparation upcasts every non-quantized parameter (embed, lm_head, norms) to fp32 [V peft].
    * LoRA adapters are fp32 by default in PEFT (``autocast_adapter_dtype=True``) [V].
    """
    c = setup.compute_bytes
    if setup.quant_bits and setup.method == "lora":
        quantized = _quantized_linear_bytes(spec, counts, setup)
        rest = (counts.total - counts.linear) * (4 if setup.kbit_prepare else c)
        base = quantized + rest
    elif setup.method == "lora":
        base = counts.total * setup.base_bytes
    elif setup.method == "freeze" and setup.weights_fp32:
        trained = trainable_params(spec, counts, setup)  # runner: trained layers fp32, the rest 16-bit
        base = trained * 4 + (counts.total - trained) * c
    else:
        base = counts.total * (4 if setup.weights_fp32 else c)
    adapters = lora_params(spec, counts, setup) * (4 if setup.adapter_fp32 else c) if setup.method == "lora" else 0
    return int(base / setup.shards + adapters / setup.shards)


def _quantized_linear_bytes(spec, counts, setup: TrainSetup) -> float:
    if setup.quant_bits == 4:
        return counts.linear * (NF4_DQ_BYTES if setup.double_quant else NF4_BYTES)
    rows = sum(d_out for _, d_out in _layer_modules(counts).values()) * spec.num_hidden_layers
    return counts.linear * 1.0 + 4 * rows


def autocast_copy_bytes(spec, counts, setup: TrainSetup) -> int:
    """Weight-derived copies alive during the step (§1.11; measured here as the peak of live weight-derived bytes).

    * Trainable fp32 weights under autocast: autocast caches one 16-bit copy of every weight a matmul reads
      (Linears, the lm_head: the tied embedding too when it is the head) until the forward ends, and matmuls keep
      them for backward: 2 B/param. The embedding lookup and the norms' products are not autocast: no copy.
    * fp32 LoRA adapters under autocast: the same, 2 B per adapter parameter.
    * Gemma's norms scale by ``1 + weight.float()``: an fp32 copy of each norm weight.
    * peft's adapters on fused MoE experts (:func:`models.lora_targets_experts`) materialize each sparse layer's
      merged expert weights (W + B A, compute dtype), kept for the grouped matmul's backward: every sparse layer
      without checkpointing, one at a time with it.
    * A frozen fp32 LoRA base (``base_fp32``): each Linear keeps its cast 16-bit weight for the input gradient, for
      every layer without GC, for the one recomputed layer with GC; under FSDP mixed precision the gathered params
      are already 16-bit, so no copies [I].
    """
    # Gemma's RMSNorm scales by (1 + weight.float()): an fp32 copy of every norm weight, kept for backward
    gemma = getattr(spec, "model_type", "").startswith("gemma")
    norm_copies = 4 * (counts.norms - spec.hidden_size) if gemma else 0  # the final norm's is not kept
    if setup.method == "lora":
        out = norm_copies
        if setup.adapter_fp32 and setup.half and setup.autocast:
            out += 2 * lora_params(spec, counts, setup)
        out += _merged_expert_bytes(spec, counts, setup)
        if setup.base_fp32 and setup.half and setup.autocast and not setup.quant_bits and setup.shards == 1:
            layers = 1 if setup.grad_ckpt else spec.num_hidden_layers
            out += 2 * layers * (counts.linear // max(spec.num_hidden_layers, 1))
        return int(out / setup.shards) if setup.shards > 1 else int(out)
    if not (setup.half and setup.weights_fp32):
        return norm_copies
    if setup.method == "full":
        cast = counts.total - counts.norms - (counts.embed if counts.lm_head else 0)
        return int((2 * cast + norm_copies) / setup.shards)
    return 2 * trainable_params(spec, counts, setup) + norm_copies


def _merged_expert_bytes(spec, counts, setup: TrainSetup, *, one_layer: bool = False) -> int:
    """peft's merged expert weights alive at once: every sparse layer's without checkpointing, one layer's with it
    (or when ``one_layer``)."""
    from .params import lora_expert_targets

    if setup.method != "lora":
        return 0
    _, gate_up, down = lora_expert_targets(spec, list(setup.lora_targets))
    if not (gate_up or down):
        return 0
    h, f, e = spec.hidden_size, spec.moe_intermediate_size or spec.intermediate_size, spec.num_experts
    per_layer = setup.compute_bytes * e * ((2 * f * h if gate_up else 0) + (f * h if down else 0))
    sparse = counts.experts // max(e * 3 * h * f, 1)
    return per_layer * (min(sparse, 1) if (setup.grad_ckpt or one_layer) else sparse)


def gradient_bytes(spec, counts, setup: TrainSetup) -> int:
    """G: one gradient per trainable parameter in the parameter's dtype (§2.3): fp32 adapters / AMP master 4 B,
    pure 16-bit 2 B. Sharded N ways under FSDP."""
    if setup.method == "lora":
        per = 4 if setup.adapter_fp32 else setup.compute_bytes
    else:
        per = 4 if setup.weights_fp32 else setup.compute_bytes
    return int(trainable_params(spec, counts, setup) * per / setup.shards)


def _param_bytes(setup: TrainSetup) -> int:
    if setup.method == "lora":
        return 4 if setup.adapter_fp32 else setup.compute_bytes
    return 4 if setup.weights_fp32 else setup.compute_bytes


def optimizer_bytes(spec, counts, setup: TrainSetup, *, device_only: bool = False) -> int:
    """S_opt: optimizer state of the trainable parameters, bytes (§2.4).

    * AdamW (torch, fused or not): exp_avg + exp_avg_sq in the parameter dtype: 8 B (fp32) or 4 B (16-bit) [I].
    * bnb 8-bit AdamW: 2.031 B/param; tensors < 4096 elements keep fp32 states (8 B) [V bnb].
    * paged_*: state of tensors >= 1e5 elements lives in CUDA managed memory [V bnb]: invisible to the torch
      allocator, but resident and counted by nvidia-smi while the GPU has room. We count it for the ``nvml``
      metric (planning is conservative: paging to CPU is a slow escape hatch, not free memory) and drop it for the
      allocator metrics (``device_only=True`` also drops it).
    * Adafactor (HF, beta1=None): factored second moment, 4*(rows + cols) B per matrix, 4 B per vector element [V
      HF docs, I].
    * SGD (HF passes no momentum): no state.
    """
    name = setup.optimizer
    pb = _param_bytes(setup)
    paged_hidden = name in OPTIMIZERS_PAGED and (device_only or setup.metric != "nvml")
    total = 0.0
    for numel, count in trainable_tensor_sizes(spec, counts, setup):
        if paged_hidden and numel >= MIN_PAGED_SIZE:
            continue
        if name in OPTIMIZERS_8BIT:
            per = ADAM8_BYTES if numel >= MIN_8BIT_SIZE else 8
        elif name == "adafactor":
            per = 4 * 2 / math.sqrt(numel) if numel >= MIN_8BIT_SIZE else 4
        elif name == "sgd":
            per = 0
        elif name == "paged_adamw_32bit":
            per = 8
        else:
            per = 2 * pb
        total += per * numel * count
    return int(total / setup.shards)


def optimizer_temp_bytes(spec, counts, setup: TrainSetup) -> int:
    """X_opt: temporaries during ``optimizer.step()`` (§2.4 foreach): torch AdamW's foreach path allocates about one
    state-sized buffer over the parameter group (sqrt of exp_avg_sq) [S: PR #132336, I]; the fused kernel and bnb's
    in-place kernels do not. Plus the fp32 grad-norm buffers of clipping (negligible)."""
    if setup.optimizer in ("adamw_torch", "adafactor"):
        return int(trainable_params(spec, counts, setup) * _param_bytes(setup) / setup.shards)
    return 0


def logits_bytes(spec, setup: TrainSetup) -> int:
    """Lg: the logits' and the loss's peak, T * (V * k_V + head) bytes (§2.8, measured here).

    k_V = 12 for HF's loss: at log-softmax's backward its fp32 output, the incoming gradient and the outgoing one
    are alive together (the 16-bit logits and their fp32 upcast of the forward are freed by then); 8 without the
    upcast, ~3 chunked, 0 fused. A final-logit soft-cap (Gemma 2) keeps its tanh output, + c per vocab entry. The
    final norm adds its fp32 upcast (4h) and, in 16-bit runs, the 16-bit hidden state the head reads (c * h)."""
    k_v = LOSS_BYTES_PER_VOCAB[setup.loss_impl]
    if k_v and _softcaps(spec)[1]:
        k_v += setup.compute_bytes
    head = (4 + (setup.compute_bytes if setup.half else 0)) * spec.hidden_size if k_v else 0
    return int(setup.tokens * (spec.vocab_size * k_v + head))


def logits_forward_bytes(spec, setup: TrainSetup) -> int:
    """The loss's forward peak: HF's loss holds the 16-bit logits, their fp32 upcast and the fp32 log-softmax
    (10 B per vocabulary entry with 16-bit logits), 2 B less than its backward [measured here]."""
    lg = logits_bytes(spec, setup)
    if setup.loss_impl != "hf" or not setup.half:
        return lg
    return int(lg - setup.tokens * spec.vocab_size * 2)


def head_grad_bytes(spec, counts, setup: TrainSetup) -> int:
    """When the lm_head trains (full fine-tuning), its weight gradient appears right after the loss's backward,
    while every saved activation is still alive: the gradient in the parameter's dtype (autocast's 16-bit weight
    copy is released as its gradient is cast into ``.grad``) and the 16-bit logits gradient that produced it."""
    if setup.method != "full" or setup.grad_accum > 1:
        return 0
    head = (counts.lm_head or counts.embed) / setup.shards
    return int(head * _param_bytes(setup) + setup.tokens * spec.vocab_size * setup.compute_bytes)


def _head_casts(spec, counts, setup: TrainSetup) -> int:
    """autocast's 16-bit copy of a trained lm_head (kept by its matmul, outside any checkpoint)."""
    if setup.method == "full" and setup.half and setup.weights_fp32:
        return int(2 * (counts.lm_head or counts.embed) / setup.shards)
    return 0


def _layer_casts(spec, counts, setup: TrainSetup) -> int:
    """autocast's 16-bit copies of one trained decoder layer's weights (the recomputed layer, with GC)."""
    if setup.method in ("full", "freeze") and setup.half and setup.weights_fp32:
        return int(2 * _layer_params(spec, counts) / setup.shards)
    return 0


def tied_embedding_grad_bytes(spec, counts, setup: TrainSetup) -> int:
    """Full fine-tuning of a model with tied embeddings: at the end of backward the embedding's dense gradient
    (V x h, fp32) and its sum with the lm_head's gradient exist beside all the gradients [measured here: Gemma 2]."""
    if setup.method != "full" or counts.lm_head or not counts.embed:
        return 0
    return int(2 * counts.embed * _param_bytes(setup) / setup.shards)


def dequant_bytes(spec, counts, setup: TrainSetup) -> int:
    """bitsandbytes dequantizes one weight at a time to the compute dtype, in forward and backward:
    c * max(d_in * d_out) bytes (§2.2 transient [I from bnb code; measured here as the weight-derived peak of the
    4-bit and 8-bit CPU runs])."""
    if setup.quant_bits and setup.method == "lora":
        largest = max((a * b for a, b in _layer_modules(counts).values()), default=0)
        return setup.compute_bytes * largest
    return 0


def fsdp_gather_bytes(spec, counts, setup: TrainSetup) -> int:
    """FSDP's gathered params of two layers in flight (current + prefetched), in the compute dtype (the packed
    storage for FSDP-QLoRA) (§2.11)."""
    if setup.shards <= 1:
        return 0
    per_param: float = setup.compute_bytes
    if setup.quant_bits and setup.method == "lora":
        per_param = NF4_DQ_BYTES if setup.quant_bits == 4 else 1
    return int(2 * _layer_params(spec, counts) * per_param)


def dequant_temp_bytes(spec, counts, setup: TrainSetup) -> int:
    """X_dequant: :func:`dequant_bytes` + :func:`fsdp_gather_bytes`."""
    return dequant_bytes(spec, counts, setup) + fsdp_gather_bytes(spec, counts, setup)


#: Gradients alive inside one decoder layer's backward beyond what it saved, per token per element of the MLP's
#: intermediate width (the MLP's gradients dominate): measured here with the real shapes at a vocabulary small
#: enough for a layer's backward to be the peak (TinyLlama, Llama-3-8B, Qwen2.5-7B: 7.9-9.8 B with 16-bit autocast,
#: 6.9 B in fp32; + 4 B with LoRA dropout); the logits' peak is larger for every real vocabulary, so this only
#: matters for small vocabularies, MoE adapters and bitsandbytes.
LAYER_BACKWARD_BYTES = {"half": 10.0, "fp32": 7.0, "dropout": 4.0}


def layer_backward_transient_bytes(spec, counts, setup: TrainSetup) -> int:
    """What one layer's backward holds beyond its saved tensors: the MLP's gradients
    (:data:`LAYER_BACKWARD_BYTES`), bitsandbytes' dequantized weight, and with peft's expert adapters the
    gradient of one merged expert weight (:func:`_merged_expert_grad_bytes`)."""
    per = LAYER_BACKWARD_BYTES["half" if setup.half else "fp32"]
    if setup.method == "lora" and setup.lora_dropout > 0:
        per += LAYER_BACKWARD_BYTES["dropout"]
    grads = setup.tokens * per * _mlp_width(spec)
    return int(grads + dequant_bytes(spec, counts, setup) + _merged_expert_grad_bytes(spec, setup))


def _merged_expert_grad_bytes(spec, setup: TrainSetup) -> int:
    """The first expert gradient backward computes with peft's expert adapters: down_proj's merged weight's
    (E x h x f_e, compute dtype), while both merged weights are still kept [measured here: Mixtral]."""
    from .params import lora_expert_targets

    if setup.method != "lora":
        return 0
    _, gate_up, down = lora_expert_targets(spec, list(setup.lora_targets))
    f = spec.moe_intermediate_size or spec.intermediate_size
    piece = (1 if down else 2 if gate_up else 0) * spec.hidden_size * f
    return setup.compute_bytes * spec.num_experts * piece


def ddp_bucket_bytes(spec, counts, setup: TrainSetup) -> int:
    """DDP gradient buckets: a second copy of the gradients unless ``gradient_as_bucket_view`` (accelerate's default
    is off) (§2.9 [U: DDP docstring])."""
    if setup.strategy == "ddp" and setup.n_gpus > 1:
        return gradient_bytes(spec, counts, setup)
    return 0


def context_bytes(setup: TrainSetup) -> int:
    """C_ctx: CUDA context + library workspaces, outside the torch allocator (§2.9): 0.5 GiB; + NCCL when the
    process talks to other GPUs. Only nvidia-smi sees it (metric ``nvml``)."""
    if not setup.include_context or setup.metric != "nvml":
        return 0
    return CUDA_CONTEXT_BYTES + (NCCL_BYTES if setup.n_gpus > 1 and setup.strategy != "single" else 0)


def fragmentation_bytes(allocated: int, setup: TrainSetup) -> int:
    """Caching-allocator slack: reserved - allocated ~ f_frag * allocated (§2.9 [I]); zero for the allocated metric."""
    return 0 if setup.metric == "allocated" else int(allocated * setup.fragmentation)


# ----------------------------------------------------------------------------------------------------------------
# Uncertainty band
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TermSource:
    """How well one term is known: ``source`` is ``measured-here`` (checked against our own measurement),
    ``published`` (a figure or the code of a library) or ``assumed``; ``rel`` its relative uncertainty."""

    source: str
    rel: float
    basis: str


#: The known uncertainty of each part of the peak. The measured ones come from ``bench/activation_truth.py`` (real
#: shapes, every term within 5 % of the saved-tensor / allocator measurement on a CPU, results in
#: ``bench/results/activation_truth.json``); the GPU-only terms from their sources above.
TERM_SOURCES: dict[str, TermSource] = {
    "weights": TermSource("measured-here", 0.01, "parameter counts and dtypes match the built models' bytes "
                                                 "(0.0 % on every shape) and the published parameter counts"),
    "optimizer": TermSource("published", 0.02, "state layouts of torch's and bitsandbytes' optimizers (code)"),
    "gradients": TermSource("published", 0.02, "one gradient per trainable parameter in its dtype"),
    "activations": TermSource("measured-here", 0.05, "saved tensors of real shapes with the runner's peft set-up, "
                                                     "within 5 % (sdpa and eager; CUDA's kernels save the same "
                                                     "tensors for a masked batch)"),
    "activations_fa2": TermSource("assumed", 0.15, "FlashAttention-2 cannot run on a CPU: its saved tensors are "
                                                   "taken from its interface, not measured"),
    "logits": TermSource("measured-here", 0.03, "the loss's peak measured on every shape's real vocabulary"),
    "transients": TermSource("assumed", 0.5, "optimizer step temporaries, DDP buckets, FSDP gathers"),
    "fragmentation": TermSource("published", 0.9, "reserved - allocated is 5-15 % of the allocated peak (research "
                                                  "§2.9) with expandable segments; 8 % is used"),
    "cuda_context": TermSource("published", 0.35, "287 MB (lazy) to 667 MB (eager module loading), PyTorch PR "
                                                  "#86509, plus cuBLAS workspaces"),
}


def uncertainty_band(breakdown: dict[str, int], terms: dict[str, int], setup: TrainSetup
                     ) -> tuple[int, int, dict[str, dict[str, Any]]]:
    """(low, high, per-part detail) around the peak: each part of the breakdown times its relative uncertainty
    (:data:`TERM_SOURCES`), combined as independent errors (root of the sum of squares)."""
    frag = min(terms.get("fragmentation", 0), breakdown.get("overhead", 0))
    parts = {
        "weights": breakdown.get("weights", 0), "optimizer": breakdown.get("optimizer", 0),
        "gradients": breakdown.get("gradients", 0), "activations": breakdown.get("activations", 0),
        "logits": breakdown.get("logits", 0), "cuda_context": breakdown.get("cuda_context", 0),
        "fragmentation": frag, "transients": breakdown.get("overhead", 0) - frag,
    }
    detail: dict[str, dict[str, Any]] = {}
    squares = 0.0
    for name, value in parts.items():
        if value <= 0:
            continue
        key = "activations_fa2" if name == "activations" and setup.attn == "fa2" else name
        src = TERM_SOURCES[key]
        squares += (src.rel * value) ** 2
        detail[name] = {"source": src.source, "rel": src.rel, "bytes": int(value)}
    delta = math.sqrt(squares)
    peak = sum(breakdown.values())
    return int(max(peak - delta, 0)), int(peak + delta), detail


# ----------------------------------------------------------------------------------------------------------------
# Assembly
# ----------------------------------------------------------------------------------------------------------------

def estimate_setup(spec, counts, setup: TrainSetup, budget_bytes: int | None = None) -> MemoryEstimate:
    """Peak memory for ``setup`` on model ``spec`` (with its ``counts`` from ``params.count_params``)."""
    w_base = weight_bytes(spec, counts, setup)
    copies = autocast_copy_bytes(spec, counts, setup)
    merged = _merged_expert_bytes(spec, counts, setup)
    casts = copies - merged
    w = w_base + copies
    s = optimizer_bytes(spec, counts, setup)
    g = gradient_bytes(spec, counts, setup)
    kept, recomputed = activation_parts(spec, counts, setup)
    a = kept + recomputed
    lg = logits_bytes(spec, setup)
    x_fb = dequant_temp_bytes(spec, counts, setup)
    gather = fsdp_gather_bytes(spec, counts, setup)
    x_opt = optimizer_temp_bytes(spec, counts, setup)
    bucket = ddp_bucket_bytes(spec, counts, setup)
    # Gradients survive between micro-batches when accumulating; with one micro-batch per step Trainer sets them to
    # None (zero_grad(set_to_none=True)) and they grow while activations are freed (§2.1).
    g_fb = g if setup.grad_accum > 1 else 0
    # The moments that compete for the peak of forward + backward (each measured here, bench/activation_truth.py),
    # all with the kept activations alive: (autocast copies alive, activations, logits' part)
    head = max(lg, head_grad_bytes(spec, counts, setup))
    layer = layer_backward_transient_bytes(spec, counts, setup)
    if setup.grad_ckpt:
        # checkpointed layers keep no autocast copies: they live in autocast's cache until the forward ends, then
        # only the lm_head's (kept by its matmul) and, in backward, the recomputed layer's
        head_casts, layer_casts = _head_casts(spec, counts, setup), _layer_casts(spec, counts, setup)
        moments = [(casts, kept, logits_forward_bytes(spec, setup)),   # the loss, end of the forward
                   (head_casts, kept + head - lg, lg),                 # the loss's backward
                   (head_casts + layer_casts, kept + recomputed + merged + layer, 0)]  # a layer's backward
    else:
        moments = [(casts, kept + merged + head - lg, lg),             # the loss's backward
                   (casts, kept + merged + layer, 0)]                  # a layer's backward (logits freed)
    m_casts, m_act, m_lg = max(moments, key=lambda m: m[0] + m[1] + m[2])
    a_peak = m_act + m_lg
    fwd_bwd = m_casts + a_peak + gather + g_fb + bucket
    # autocast's copies and the activations are gone by the end of backward and the optimizer step; a tied
    # embedding's dense gradient and its sum into the head's gradient are not (full fine-tuning)
    backward_end = g + tied_embedding_grad_bytes(spec, counts, setup) + bucket
    step = max(backward_end, g + x_opt + bucket)
    phase = "forward/backward" if fwd_bwd >= step else "optimizer step"
    allocated = w_base + s + max(fwd_bwd, step)
    frag = fragmentation_bytes(allocated, setup)
    ctx = context_bytes(setup)
    if phase == "forward/backward":  # weights, activations and logits as alive at the peak
        breakdown = {"weights": w_base + m_casts, "optimizer": s, "gradients": g_fb, "activations": m_act,
                     "logits": m_lg}
        transient = gather + bucket
    else:
        breakdown = {"weights": w_base, "optimizer": s, "gradients": g, "activations": 0, "logits": 0}
        transient = step - g  # the optimizer's temporaries (or the tied embedding's gradient) and buckets
    breakdown.update(cuda_context=ctx, overhead=frag + transient)
    peak = sum(breakdown.values())
    terms = {"weights": w, "optimizer": s, "gradients": g, "activations": a, "logits": lg,
             "activations_at_peak": a_peak, "layer_backward": layer, "phase_fwd_bwd": fwd_bwd,
             "phase_backward_end": backward_end, "phase_step": step, "dequant_transient": x_fb, "optimizer_transient": x_opt, "ddp_buckets": bucket,
             "fragmentation": frag, "cuda_context": ctx}
    fits = None if budget_bytes is None else peak <= budget_bytes
    low, high, band = uncertainty_band(breakdown, terms, setup)
    return MemoryEstimate(peak_bytes=int(peak), breakdown=breakdown, total_params=counts.total,
                          trainable_params=trainable_params(spec, counts, setup), budget_bytes=budget_bytes,
                          fits=fits, phase=phase, terms=terms, setup=setup, low_bytes=low, high_bytes=high,
                          band=band)


def budget_for(hw, margin: float) -> int | None:
    """Per-GPU budget: the probed free memory (else the profile's total) x (1 - memory_margin)."""
    if hw is None or getattr(hw, "source", "none") == "none" or not getattr(hw, "budget_base_bytes", None):
        return None
    return int(hw.budget_base_bytes * (1.0 - margin))


def peak_seq_len(cfg, data=None) -> int:
    """Length of the longest padded micro-batch: cutoff_len when packing or when no data stats are known (worst
    case); else the longest sample, capped at cutoff_len (§2.1: the peak is set by the longest batch)."""
    if cfg.effective_packing or data is None or not getattr(data, "max_len", None):
        return cfg.cutoff_len
    return max(1, min(cfg.cutoff_len, int(data.max_len)))


def setup_from_config(cfg, hw=None, data=None, *, n_gpus: int | None = None, strategy: str | None = None,
                      **options: Any) -> TrainSetup:
    """Translate a validated ``TrainConfig`` into a :class:`TrainSetup`. ``options`` override modelling choices
    (precision_mode, loss_impl, metric, include_context, attn, ...)."""
    n = n_gpus if n_gpus is not None else max(1, int(getattr(hw, "count", 1) or 1))
    strat = strategy or ("single" if n == 1 else "ddp")
    attn = {"auto": "sdpa", "sdpa": "sdpa", "fa2": "fa2", "disabled": "eager"}[cfg.flash_attn]
    values = dict(
        method=cfg.finetuning_type, quant_bits=cfg.quantization_bit, double_quant=cfg.double_quantization,
        batch=cfg.per_device_train_batch_size, seq_len=peak_seq_len(cfg, data),
        grad_accum=cfg.gradient_accumulation_steps, grad_ckpt=cfg.gradient_checkpointing, optimizer=cfg.optim,
        half=bool(cfg.bf16 or cfg.fp16), attn=attn, lora_rank=cfg.lora_rank, lora_targets=tuple(cfg.lora_targets),
        lora_dropout=cfg.lora_dropout, freeze_layers=cfg.freeze_trainable_layers, n_gpus=n, strategy=strat,
    )
    values.update(options)
    return TrainSetup(**values)


def estimate_memory(cfg, spec, hw=None, data=None, *, counts=None, n_gpus: int | None = None,
                    strategy: str | None = None, **options: Any) -> MemoryEstimate:
    """Peak device memory of one training process for config ``cfg`` on model ``spec`` and hardware ``hw``.

    ``hw`` (a ``HardwareTarget``) gives the budget; ``data`` (``DataStats``, duck-typed: ``max_len``) the longest
    sample. ``counts`` may be passed to skip recounting parameters (the TUI re-estimates on every keystroke).
    """
    if counts is None:
        from .params import count_params

        counts = count_params(spec)
    setup = setup_from_config(cfg, hw, data, n_gpus=n_gpus, strategy=strategy, **options)
    return estimate_setup(spec, counts, setup, budget_for(hw, cfg.memory_margin))


def checkpoint_bytes(method: str, total_params: int, trainable_params: int) -> int:
    """Disk size of one checkpoint the trainer saves: the trained weights (a LoRA adapter in fp32; the whole model
    in 16 bits for full and freeze tuning) and the AdamW states of the trainable parameters (two fp32 values
    each). An upper bound for the 8-bit optimizers."""
    weights = trainable_params * 4 if method == "lora" else total_params * 2
    return weights + trainable_params * 8
