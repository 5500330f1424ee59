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
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .units import GIB

# ---------------------------------------------------------------------------------------------- GPU-only terms
# Everything below in this block depends on the GPU, so ``bench/activation_truth.py`` cannot measure it on a CPU
# (every other term is checked there against real shapes); each value carries its source. The fa2 kernel's saved
# tensors (``_attention_bytes``, fa2 branch) are the other GPU-only piece. Allocator block rounding (512 B blocks,
# 2 MiB small / 20 MiB large segments) is inside FRAGMENTATION; flash-attention's and cuBLAS's workspaces inside
# CUDA_CONTEXT_BYTES (cuBLAS reserves 4-8 MiB per handle and stream [S: CUDA docs, CUBLAS_WORKSPACE_CONFIG]).
# §2.9 [V: PyTorch PR #86509 measured 287 MB lazy / 667 MB eager module loading]; plus cuBLAS workspaces [U].
CUDA_CONTEXT_BYTES = int(0.5 * GIB)
# §2.9 [U]: NCCL communicators and their buffers, per process, when more than one GPU is used.
NCCL_BYTES = int(0.25 * GIB)
# §2.9 [I]: caching-allocator slack (reserved minus allocated) is 5-15 % of the allocated peak, measured with the
# allocator setting below; without expandable segments, batches of varying length grow the reserved pool well past
# the allocated peak (fragmented blocks that cannot be reused for a larger request).
FRAGMENTATION = 0.08
#: The CUDA caching-allocator setting the margin above assumes, and that the runner sets for the trainer unless the
#: user set one (``runner.launch.allocator_env``; PyTorch reads PYTORCH_ALLOC_CONF or PYTORCH_CUDA_ALLOC_CONF).
ASSUMED_ALLOC_CONF = "expandable_segments:True"


def dropout_saved_bytes(setup, input_bytes: int) -> int:
    """Bytes per element a dropout keeps for backward: CUDA's fused ``native_dropout`` keeps a bool mask (1 B);
    the CPU path (``at::dropout`` without the fused kernel) keeps the scaled noise in the input's dtype [V:
    aten/src/ATen/native/Dropout.cpp ``is_fused_kernel_acceptable``]. ``setup.device`` picks (the planner plans
    for cuda; the CPU bench asks for cpu)."""
    return 1 if setup.device == "cuda" else input_bytes
# ------------------------------------------------------------------------------------------ end of GPU-only terms

# §2.2 [V: bitsandbytes functional.quantize_4bit]: 4-bit codes + fp32 absmax per 64-element block, or with double
# quantization uint8 absmax per 64 plus one fp32 constant per 256 absmax values.
NF4_BYTES = 0.5 + 4 / 64
NF4_DQ_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)

# §2.4 [V: bitsandbytes optim/optimizer.py]: 8-bit AdamW keeps two uint8 states + two fp32 absmax per 256-element
# block; tensors with fewer than min_8bit_size=4096 elements keep fp32 states. Paged state buffers are allocated
# in CUDA managed memory for tensors of at least 1e5 elements.
ADAM8_BYTES = 2 + 8 / 256
MIN_8BIT_SIZE = 4096
MIN_PAGED_SIZE = 100_000

# §2.8: bytes per vocabulary entry per token for logits + loss, by loss implementation.
LOSS_BYTES_PER_VOCAB = {
    "hf": 12.0,            # HF ForCausalLMLoss: 16-bit logits kept + fp32 upcast + fp32 log-softmax [V code, S CCE]
    "hf_no_upcast": 8.0,   # logits not upcast before cross_entropy (torchtune D3->D4 measured 8.3) [V]
    "chunked": 3.0,        # torchtune CEWithChunkedOutputLoss: 16-bit logits + one fp32 chunk (1/8) x2 [I]
    "fused": 0.0,          # fused linear + CE (Liger, CCE, Unsloth): logits never materialized [S: CCE paper]
}

OPTIMIZERS_8BIT = ("adamw_bnb_8bit", "adamw_8bit", "paged_adamw_8bit")
OPTIMIZERS_PAGED = ("paged_adamw_8bit", "paged_adamw_32bit")


@dataclass(frozen=True)
class TrainSetup:
    """Everything the memory model needs about how one process trains, independent of the config schema.

    ``seq_len`` is the padded length of the longest micro-batch (or the packed block length): the peak is set by the
    longest batch, not the mean (§0). ``metric`` picks what is predicted: ``nvml`` (what nvidia-smi shows: context +
    reserved + resident managed memory), ``reserved`` (``torch.cuda.max_memory_reserved``) or ``allocated``
    (``torch.cuda.max_memory_allocated``).
    """

    method: str = "lora"                 # lora | full | freeze
    quant_bits: int | None = None        # None | 8 | 4 (LoRA only)
    double_quant: bool = True
    kbit_prepare: bool = False           # peft.prepare_model_for_kbit_training: non-quantized params in fp32
    batch: int = 1
    seq_len: int = 2048
    grad_accum: int = 1
    grad_ckpt: bool = True
    optimizer: str = "adamw_torch"
    half: bool = True                    # bf16 or fp16 compute; False = fp32 everything
    precision_mode: str = "amp"          # full/freeze: amp (fp32 weights + autocast) | pure (16-bit weights)
    attn: str = "sdpa"                   # sdpa | fa2 | eager
    lora_rank: int = 8
    lora_targets: tuple[str, ...] = ("all",)
    lora_dropout: float = 0.0
    adapter_fp32: bool = True            # PEFT autocast_adapter_dtype=True
    autocast: bool = True                # HF Trainer bf16/fp16=True runs the forward under torch.autocast
    base_fp32: bool = False              # LoRA: base loaded in fp32 and run under autocast (PEFT's sft example)
    freeze_layers: int = 2
    n_gpus: int = 1
    strategy: str = "single"             # single | ddp | fsdp
    loss_impl: str = "hf"
    include_context: bool = True
    device: str = "cuda"                 # cuda | cpu: the device-dependent terms (the CPU bench asks for cpu)
    metric: str = "nvml"                 # nvml | reserved | allocated
    fragmentation: float = FRAGMENTATION

    @property
    def compute_bytes(self) -> int:
        """Bytes of one element in the compute dtype (bf16/fp16 = 2, fp32 = 4)."""
        return 2 if self.half else 4

    @property
    def tokens(self) -> int:
        """Tokens in one micro-batch, T = b * s."""
        return self.batch * self.seq_len

    @property
    def weights_fp32(self) -> bool:
        """True when the trained weights themselves are fp32 (AMP master weights or no half precision)."""
        if not self.half:
            return True
        return self.method != "lora" and self.precision_mode == "amp"

    @property
    def base_bytes(self) -> int:
        """Bytes per element of the (frozen) LoRA base weights when not quantized."""
        return 4 if (self.base_fp32 or not self.half) else 2

    @property
    def shards(self) -> int:
        """How many ways weights, gradients and optimizer states are split (FSDP FULL_SHARD / ZeRO-3)."""
        return self.n_gpus if self.strategy == "fsdp" and self.n_gpus > 1 else 1


@dataclass
class MemoryEstimate:
    """The predicted peak of one training process, with its parts. All sizes in bytes."""

    peak_bytes: int
    breakdown: dict[str, int]
    total_params: int
    trainable_params: int
    setup: TrainSetup  # what was estimated
    budget_bytes: int | None = None
    fits: bool | None = None
    phase: str = "forward/backward"
    terms: dict[str, int] = field(default_factory=dict)
    low_bytes: int | None = None        # the uncertainty band (:func:`uncertainty_band`)
    high_bytes: int | None = None
    band: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GIB

    @property
    def fits_band(self) -> bool | None:
        """Whether the whole band (its high end) fits the budget (None without a budget)."""
        if self.budget_bytes is None:
            return None
        return (self.high_bytes if self.high_bytes is not None else self.peak_bytes) <= self.budget_bytes

    def to_dict(self) -> dict[str, Any]:
        """DESIGN.md's ``estimate --json`` fields (sizes in GiB)."""
        out: dict[str, Any] = {
            "peak_gib": round(self.peak_bytes / GIB, 3),
            "breakdown_gib": {k: round(v / GIB, 3) for k, v in self.breakdown.items()},
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "peak_phase": self.phase,
        }
        if self.low_bytes is not None and self.high_bytes is not None:
            out["peak_low_gib"] = round(self.low_bytes / GIB, 3)
            out["peak_high_gib"] = round(self.high_bytes / GIB, 3)
            out["band"] = {k: {**v, "gib": round(v["bytes"] / GIB, 3)} for k, v in self.band.items()}
            for v in out["band"].values():
                v.pop("bytes", None)
        if self.budget_bytes is not None:
            out["budget_gib"] = round(self.budget_bytes / GIB, 3)
            out["fits"] = bool(self.fits)
            out["fits_band"] = bool(self.fits_band)
        s = asdict(self.setup)
        out["assumptions"] = {k: s[k] for k in ("seq_len", "batch", "grad_accum", "grad_ckpt", "attn",
                                                "loss_impl", "metric", "strategy", "n_gpus")}
        out["assumptions"]["precision"] = precision_label(self.setup)
        out["assumptions"]["allocator"] = ASSUMED_ALLOC_CONF
        return out


# ----------------------------------------------------------------------------------------------------------------
# Model shape helpers (pure arithmetic on ModelSpec / ParamCounts)
# ----------------------------------------------------------------------------------------------------------------

def _q_dim(spec) -> int:
    return spec.num_attention_heads * spec.head_dim


def _kv_dim(spec) -> int:
    return (spec.num_key_value_heads or spec.num_attention_heads) * spec.head_dim


def _mlp_width(spec) -> int:
    """Intermediate width that one token actually passes through (MoE: top-k experts + shared expert) (§2.7 MoE)."""
    if spec.num_experts:
        return spec.num_experts_per_tok * (spec.moe_intermediate_size or spec.intermediate_size) + \
            (spec.shared_expert_intermediate_size or 0)
    return spec.intermediate_size


def _gated_mlp(counts) -> bool:
    """SwiGLU-style MLP (gate, up, down) when a gate projection exists; else a 2-matrix GeLU MLP."""
    names = counts.per_layer_linear or {}
    return not names or any("gate" in n or "w1" in n for n in names)


def _layer_modules(counts) -> dict[str, tuple[int, int]]:
    return dict(counts.per_layer_linear or {})


def _select_targets(counts, targets: Iterable[str]) -> dict[str, tuple[int, int]]:
    """The per-layer Linear modules LoRA wraps: 'all' = every decoder Linear, else names matched by suffix."""
    modules = _layer_modules(counts)
    targets = tuple(targets)
    if "all" in targets or "all-linear" in targets:
        return modules
    return {n: dims for n, dims in modules.items() if any(n == t or n.endswith("." + t) or n.split(".")[-1] == t
                                                           for t in targets)}


def lora_params(spec, counts, setup: TrainSetup) -> int:
    """LoRA trainable parameters: r * (d_in + d_out) per targeted Linear, layer by layer (§2.5 [V: PEFT counts]);
    exact counting (dense and MoE layers, lm_head / embed_tokens targets) lives in ``models``."""
    from .params import lora_trainable_params

    return lora_trainable_params(spec, list(setup.lora_targets), setup.lora_rank)


def trainable_layers(spec, setup: TrainSetup) -> int:
    """Decoder layers that receive gradients: all for full FT, the last/first |k| for freeze, none for LoRA."""
    if setup.method == "full":
        return spec.num_hidden_layers
    if setup.method == "freeze":
        return min(abs(setup.freeze_layers), spec.num_hidden_layers)
    return 0


def _layer_params(spec, counts) -> int:
    """Parameters of one decoder layer (its Linears, plus two norms of h each)."""
    return counts.linear // max(spec.num_hidden_layers, 1) + 2 * spec.hidden_size


def _freeze_params(spec, counts, setup: TrainSetup) -> int:
    """Parameters of the layers freeze tuning trains: the last k (k > 0) or the first |k| (k < 0)."""
    from .params import layer_params

    k = trainable_layers(spec, setup)
    idx = range(-1, -k - 1, -1) if setup.freeze_layers > 0 else range(k)
    return sum(layer_params(spec, i) for i in idx)


def trainable_params(spec, counts, setup: TrainSetup) -> int:
    """P_t: LoRA adapters; every parameter for full FT; the k trained decoder layers for freeze tuning."""
    if setup.method == "lora":
        return lora_params(spec, counts, setup)
    if setup.method == "full":
        return counts.total
    return _freeze_params(spec, counts, setup)


def trainable_tensor_sizes(spec, counts, setup: TrainSetup) -> list[tuple[int, int]]:
    """(numel, how many) of every trainable tensor; bnb's optimizers pick state layouts per tensor size (§2.4)."""
    L, h, r = spec.num_hidden_layers, spec.hidden_size, setup.lora_rank
    if setup.method == "lora":
        out = []
        for d_in, d_out in _select_targets(counts, setup.lora_targets).values():
            out += [(r * d_in, L), (r * d_out, L)]
        rest = lora_params(spec, counts, setup) - sum(n * c for n, c in out)
        return out + ([(rest, 1)] if rest > 0 else [])  # lm_head / embed_tokens adapters, layer differences
    k = trainable_layers(spec, setup)
    out = [(d_in * d_out, k) for d_in, d_out in _layer_modules(counts).values()] + [(h, 2 * k)]
    if setup.method == "full":
        out += [(counts.embed, 1), (counts.lm_head, 1 if counts.lm_head else 0), (h, 1)]
    known = sum(n * c for n, c in out)
    rest = trainable_params(spec, counts, setup) - known
    if rest > 0:  # biases, routers, experts not listed per module: one lump (its state size is what matters)
        out.append((rest, 1))
    return out


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


def _stream_bytes(setup: TrainSetup) -> int:
    """Bytes per element of the residual stream: fp32 when the weights are fp32 (AMP, an fp32 LoRA base) or when
    k-bit preparation made the embeddings and norms fp32 (§2.2); else the compute dtype."""
    kbit = bool(setup.quant_bits) and setup.method == "lora" and setup.kbit_prepare
    # FSDP mixed precision gathers 16-bit params, so even an fp32-stored base computes (and streams) in 16 bits
    base32 = setup.method == "lora" and not setup.quant_bits and setup.base_fp32 and setup.shards == 1
    full_fp32 = setup.weights_fp32 and setup.method == "full"  # freeze: the frozen 16-bit embeddings set it
    return 4 if (full_fp32 or not setup.half or kbit or base32) else setup.compute_bytes


#: Architectures transformers 5 cannot run with sdpa (Gemma 2 soft-caps the attention scores): ``flash_attn: auto``
#: loads them with eager attention (``runner.modeling.ATTN_IMPLEMENTATIONS``), so the s^2 scores are kept.
NO_SDPA_MODEL_TYPES = frozenset({"gemma2"})
#: Gemma 2's defaults for score soft-capping (config.json may omit them): attention scores / logits.
SOFTCAP_DEFAULTS = {"gemma2": (50.0, 30.0)}


def attention_kernel(spec, setup: TrainSetup) -> str:
    """The attention kernel the run uses: the configured one, except that architectures without sdpa run eager."""
    if setup.attn == "sdpa" and getattr(spec, "model_type", "") in NO_SDPA_MODEL_TYPES:
        return "eager"
    return setup.attn


def _softcaps(spec) -> tuple[float | None, float | None]:
    """(attention-score soft-cap, final-logit soft-cap) of the architecture, None when it has none."""
    attn_cap, logit_cap = SOFTCAP_DEFAULTS.get(getattr(spec, "model_type", ""), (None, None))
    raw = getattr(spec, "raw_config", None) or {}
    return raw.get("attn_logit_softcapping", attn_cap), raw.get("final_logit_softcapping", logit_cap)


def _norm_layout(spec) -> tuple[int, bool]:
    from .params import norm_layout

    return norm_layout(spec)


def _fused_qkv(counts) -> bool:
    return any(n.split(".")[-1] in ("qkv_proj", "W_pack", "c_attn") for n in _layer_modules(counts))


def _attention_bytes(spec, counts, setup: TrainSetup, trainable: bool) -> float:
    """Saved attention tensors per token (measured on CPU: ``bench/activation_truth.py``).

    The runner's batches are padded (to the longest row), so attention always gets a mask. With a mask
    transformers' sdpa path repeats k and v to all query heads (``repeat_kv``; grouped-query sdpa needs no mask),
    and the boolean mask becomes one additive mask per layer in the compute dtype, kept by sdpa.

    * sdpa: q after RoPE, k and v (repeated to n_q heads when grouped; else k after RoPE and the v projection's
      output, the whole fused qkv output for Phi-3-style models), the output and its fp32 log-sum-exp, the mask.
    * eager: q, k, v as above, the fp32 softmax and its 16-bit copy (n_q * s each, Korthikanti et al. 2022); a
      soft-capped score (Gemma 2) adds the tanh output.
    * fa2 (GPU only, not measurable here): q, k, v un-repeated, output and log-sum-exp, no mask (FlashAttention-2
      takes grouped heads and unpads instead of masking) [I from flash-attn's interface].
    * per-head q/k RMSNorm (Qwen3, Gemma 3): their fp32 upcasts and 1/rms.
    * trained layer, eager: + o_proj's contiguous input (sdpa/fa2: a view of the output already kept).
    """
    c, q, kv, nq = setup.compute_bytes, _q_dim(spec), _kv_dim(spec), spec.num_attention_heads
    nkv = spec.num_key_value_heads or nq
    kernel = attention_kernel(spec, setup)
    # a trained o_proj keeps its input: a new contiguous copy after eager attention; the fused kernels' output is
    # already laid out (b, s, heads, d), so the copy is a view of the output they keep anyway
    out = c * q if trainable and kernel == "eager" else 0
    if _norm_layout(spec)[1]:
        out += 4 * (q + kv) + 4 * (nq + nkv)
    if kernel == "fa2":
        return out + c * (2 * q + 2 * kv) + 4 * nq
    grouped = nkv < nq
    k = q if grouped else kv
    v = q if grouped else (q + 2 * kv if _fused_qkv(counts) else kv)
    out += c * (q + k + v)
    s = setup.seq_len
    if kernel == "eager":
        probs = 4 + (c if c != 4 else 0)
        attn_cap, _ = _softcaps(spec)
        return out + nq * s * (probs + (c if attn_cap else 0))
    return out + c * q + 4 * nq + c * s


def _norm_bytes(spec, setup: TrainSetup, trainable: bool, input_grad: bool) -> float:
    """RMSNorms on the residual stream (2 per layer; 4 in Gemma 2/3): each keeps the fp32 upcast of its input and
    1/rms when its input needs a gradient (a layer's first norm does not when nothing below it trains); a trained
    norm also keeps its normalized output for the weight gradient."""
    h, sb = spec.hidden_size, _stream_bytes(setup)
    n = _norm_layout(spec)[0]
    out = (4 * h + 4) * (n - (0 if input_grad else 1))
    if trainable:
        out += n * sb * h
    return out


def _recast_bytes(counts, setup: TrainSetup, trainable: bool) -> float:
    """Bytes per hidden element: a trained layer's Linears keep their normalized inputs for the weight gradient;
    under AMP autocast each Linear casts the fp32 normalized input to 16 bits itself (q, k and v each keep a copy;
    gate and up too), else the two 16-bit normalized tensors are kept once each."""
    if not trainable:
        return 0.0
    c = setup.compute_bytes
    names = [n.split(".")[-1] for n in _layer_modules(counts)]
    if setup.weights_fp32 and setup.half:
        consumers = sum(1 for n in names if _group(n) in ("attn_in", "mlp_in"))
        return c * consumers
    return c * 2


def _group(name: str) -> str:
    """Which input a decoder Linear reads: the layer input (attention), the attention output, the MLP input, the
    MLP's inner activation."""
    n = name.split(".")[-1]
    if n in ("q_proj", "k_proj", "v_proj", "qkv_proj", "W_pack", "query_key_value", "c_attn"):
        return "attn_in"
    if n in ("o_proj", "dense", "out_proj", "c_proj"):
        return "attn_out"
    if n in ("gate_proj", "up_proj", "gate_up_proj", "w1", "w3", "fc1", "c_fc"):
        return "mlp_in"
    if n in ("down_proj", "w2", "fc2"):
        return "mlp_out"
    return n


def _mlp_bytes(spec, counts, setup: TrainSetup, trainable: bool) -> float:
    """Saved MLP tensors per token: the gate and up outputs and the activation's output (a GeLU MLP keeps 2 of 3);
    trained: + down_proj's input. k-bit Linears cast their output back to the (fp32 after k-bit preparation) input
    dtype [I bnb code]. MoE: see :func:`_moe_bytes`."""
    c = setup.compute_bytes
    if spec.num_experts:
        return _moe_bytes(spec, setup, experts_train=trainable or _experts_adapted(spec, setup))
    kbit = bool(setup.quant_bits) and setup.method == "lora" and setup.kbit_prepare
    lin = 4 if kbit else c
    f = _mlp_width(spec)
    kept = 3 if _gated_mlp(counts) else 2
    return lin * kept * f + (c * f if trainable else 0)


def _experts_adapted(spec, setup: TrainSetup) -> bool:
    from .params import lora_targets_experts

    return setup.method == "lora" and lora_targets_experts(spec, list(setup.lora_targets))


def _moe_bytes(spec, setup: TrainSetup, experts_train: bool = True) -> float:
    """transformers 5's grouped experts (``integrations/moe.py``, ``grouped_mm``) per token, k experts each:
    the gate/up output (2 f_e), the activation (f_e), the expert outputs (h) kept by the routing-weight product,
    and when the expert weights get gradients (trained, or peft's expert adapters) also the inputs of both
    grouped matmuls (the selected hidden states, h, and the product, f_e); the router: fp32 softmax over E
    experts, top-k ids and weights, the sort's permutation; a shared expert like a dense MLP [measured here]."""
    c, h, k = setup.compute_bytes, spec.hidden_size, spec.num_experts_per_tok
    fe = spec.moe_intermediate_size or spec.intermediate_size
    per_expert = (2 * h + 4 * fe) if experts_train else (h + 3 * fe)
    out = c * k * per_expert + c * k + 4 * spec.num_experts + 36 * k + 4
    if spec.shared_expert_intermediate_size:
        out += 3 * c * spec.shared_expert_intermediate_size
    return out


def activation_bytes_per_token_layer(spec, counts, setup: TrainSetup, trainable: bool,
                                     input_grad: bool = True) -> float:
    """a_layer: bytes autograd saves per token in one decoder layer (§2.7 [I], each term checked against the
    saved-tensor measurement of ``bench/activation_truth.py`` on real shapes).

    What is saved depends on whether the layer's weights train (a frozen Linear keeps no copy of its input: the
    input is only needed for the weight gradient) and whether the layer's input needs a gradient
    (``input_grad``; false for the lowest layer that something trains in when nothing below it trains and
    checkpointing is off). Parts: :func:`_norm_bytes`, :func:`_attention_bytes`, :func:`_mlp_bytes`, the
    re-cast inputs of trained Linears (:func:`_recast_bytes`), LoRA's extras
    (:func:`lora_extra_bytes_per_token_layer`).
    """
    h = spec.hidden_size
    return (_norm_bytes(spec, setup, trainable, input_grad) + _recast_bytes(counts, setup, trainable) * h
            + _attention_bytes(spec, counts, setup, trainable) + _mlp_bytes(spec, counts, setup, trainable)
            + lora_extra_bytes_per_token_layer(spec, counts, setup, input_grad=input_grad))


def lora_extra_bytes_per_token_layer(spec, counts, setup: TrainSetup, input_grad: bool = True) -> float:
    """LoRA's saved tensors per token per layer (§2.6, from peft's ``lora.Linear.forward``; measured here).

    peft casts each targeted module's input to the adapter dtype, applies dropout, then lora_A (which keeps its
    input for the weight gradient) and lora_B (which keeps lora_A's r outputs):

    * fp32 adapters under autocast (the runner's default): the cast input is fp32 and autocast casts it back to 16
      bits for lora_A: one 16-bit copy per module (q, k and v each make their own);
    * adapters in the input's dtype (fp32 training, or 16-bit adapters): no cast; lora_A keeps the input itself,
      one copy shared by the modules that read it (q, k, v read the same normalized input), unless dropout gives
      each module its own dropped copy;
    * fp32 adapters on a 16-bit base without autocast: the fp32 cast itself, per module;
    * ``lora_dropout > 0``: the dropout's mask (:func:`dropout_saved_bytes`), only where the module's input needs a
      gradient (not in the lowest layer's attention when nothing below trains);
    * MoE routers targeted by "all" (peft's expert conversion): like a Linear reading the MLP input.
    """
    if setup.method != "lora":
        return 0.0
    c, r = setup.compute_bytes, setup.lora_rank
    e = 4 if setup.adapter_fp32 else c                    # adapter element bytes
    x_bytes = 4 if (setup.adapter_fp32 or not setup.half) else c  # the dtype dropout sees (after peft's cast)
    cast = setup.adapter_fp32 and setup.half              # peft casts the input to fp32 ...
    autocast_back = cast and setup.autocast               # ... and autocast casts it back for lora_A
    drop = setup.lora_dropout > 0
    modules = dict(_select_targets(counts, setup.lora_targets))
    router = _lora_router_dims(spec, setup)
    if router:
        modules["mlp.gate"] = router
    total, shared = 0.0, set()
    for name, (d_in, _) in modules.items():
        group = _group(name) if name != "mlp.gate" else "mlp_in"
        if autocast_back:
            per = c
        elif cast or drop:
            per = e
        else:
            per = 0
            # the input itself, shared by the modules reading it; o_proj's after sdpa/fa2 is a view of the
            # attention output they already keep
            if group not in shared and not (group == "attn_out" and attention_kernel(spec, setup) != "eager"):
                shared.add(group)
                total += e * d_in
        if drop and (input_grad or group != "attn_in"):
            per += dropout_saved_bytes(setup, x_bytes)
        total += per * d_in + (c if autocast_back else e) * r
    return total


def _lora_router_dims(spec, setup: TrainSetup) -> tuple[int, int] | None:
    """(d_in, d_out) of the MoE router when LoRA targets it (peft's conversion of "all" on fused-expert models)."""
    from .params import lora_targets_experts

    if spec.num_experts and lora_targets_experts(spec, list(setup.lora_targets)):
        return spec.hidden_size, spec.num_experts
    return None


def _layer_plan(spec, setup: TrainSetup) -> list[tuple[int, bool, bool]]:
    """(how many layers, trainable, input needs a gradient) for the decoder layers autograd keeps tensors for.

    LoRA / full: every layer; without checkpointing the lowest layer's input (the frozen embedding's output)
    needs no gradient under LoRA (with checkpointing the runner makes the embeddings' output require grad).
    Freeze tuning of the last k layers: without checkpointing only those k (the frozen layers below take inputs
    that need no grad, so they keep nothing; the lowest trained layer's input needs none either), with it every
    layer (all are checkpointed and, their input requiring grad, recomputed); training the first k layers
    (negative k) keeps the frozen layers above too, as frozen layers, since gradients flow back through them."""
    L = spec.num_hidden_layers
    first_no_grad = not setup.grad_ckpt
    if setup.method == "full":
        return [(L, True, True)]
    if setup.method == "lora":
        if first_no_grad and L:
            return [(1, False, False), (L - 1, False, True)]
        return [(L, False, True)]
    k = trainable_layers(spec, setup)
    out = [(1, True, not first_no_grad), (k - 1, True, True)] if k else []
    if setup.freeze_layers < 0 or setup.grad_ckpt:
        # frozen layers above the trained ones pass gradients down; with checkpointing the runner makes the
        # embeddings' output require grad, so the frozen layers below are checkpointed and recomputed too
        out.append((L - k, False, True))
    return [p for p in out if p[0]]


def activation_parts(spec, counts, setup: TrainSetup) -> tuple[int, int]:
    """(kept, recomputed) saved-activation bytes of one micro-batch of T = b*s tokens (§2.7).

    Without checkpointing everything is kept: T * sum of a_layer. With HF per-layer checkpointing each layer keeps
    its input (one stream tensor, h elements, saved by the checkpoint) and backward recomputes one layer at a time:
    kept = T * L_g * h * stream_bytes, recomputed = T * max a_layer."""
    plan = _layer_plan(spec, setup)
    per = [(n, activation_bytes_per_token_layer(spec, counts, setup, trainable=t, input_grad=g)) for n, t, g in plan]
    if not per:
        return 0, 0
    if setup.grad_ckpt:
        kept = sum(n for n, _ in per) * spec.hidden_size * _stream_bytes(setup)
        return int(setup.tokens * kept), int(setup.tokens * max(a for _, a in per))
    return int(setup.tokens * sum(n * a for n, a in per)), 0


def activation_bytes(spec, counts, setup: TrainSetup) -> int:
    """A: saved activations of one micro-batch (kept + the recomputed layer, :func:`activation_parts`)."""
    kept, recomputed = activation_parts(spec, counts, setup)
    return kept + recomputed


def precision_label(setup: TrainSetup) -> str:
    """How weights and compute are typed, in words (shown with the estimate)."""
    c = "16-bit" if setup.half else "fp32"
    if setup.method == "lora":
        base = {4: "4-bit", 8: "8-bit"}.get(setup.quant_bits or 0, "fp32" if setup.base_bytes == 4 else c)
        return f"{base} base, {'fp32' if setup.adapter_fp32 else c} adapters"
    if not setup.half:
        return "fp32"
    return "AMP: fp32 weights, 16-bit compute" if setup.precision_mode == "amp" else "pure 16-bit"


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
