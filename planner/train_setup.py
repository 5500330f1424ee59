"""What a memory estimate is computed for and what it returns: :class:`TrainSetup` (one training process's setup,
from the config and the hardware), :class:`MemoryEstimate`, the byte sizes of quantized weights and optimizer states,
the GPU-only terms with their sources, and the model-shape arithmetic the terms share (trainable parameters, LoRA
targets). The terms themselves are in ``memory.py`` (and the saved activations in ``activations.py``); "§"
references and source letters as there. Pure functions only: no torch, no file I/O.
"""

from __future__ import annotations

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


def precision_label(setup: TrainSetup) -> str:
    """How weights and compute are typed, in words (shown with the estimate)."""
    c = "16-bit" if setup.half else "fp32"
    if setup.method == "lora":
        base = {4: "4-bit", 8: "8-bit"}.get(setup.quant_bits or 0, "fp32" if setup.base_bytes == 4 else c)
        return f"{base} base, {'fp32' if setup.adapter_fp32 else c} adapters"
    if not setup.half:
        return "fp32"
    return "AMP: fp32 weights, 16-bit compute" if setup.precision_mode == "amp" else "pure 16-bit"
