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

# §2.9 [V: PyTorch PR #86509 measured 287 MB lazy / 667 MB eager module loading]; plus cuBLAS workspaces [U].
CUDA_CONTEXT_BYTES = int(0.5 * GIB)
# §2.9 [U]: NCCL communicators and their buffers, per process, when more than one GPU is used.
NCCL_BYTES = int(0.25 * GIB)
# §2.9 [I]: caching-allocator slack (reserved minus allocated) is 5-15 % of the allocated peak.
FRAGMENTATION = 0.08

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

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GIB

    def to_dict(self) -> dict[str, Any]:
        """DESIGN.md's ``estimate --json`` fields (sizes in GiB)."""
        out: dict[str, Any] = {
            "peak_gib": round(self.peak_bytes / GIB, 3),
            "breakdown_gib": {k: round(v / GIB, 3) for k, v in self.breakdown.items()},
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "peak_phase": self.phase,
        }
        if self.budget_bytes is not None:
            out["budget_gib"] = round(self.budget_bytes / GIB, 3)
            out["fits"] = bool(self.fits)
        s = asdict(self.setup)
        out["assumptions"] = {k: s[k] for k in ("seq_len", "batch", "grad_accum", "grad_ckpt", "attn",
                                                "loss_impl", "metric", "strategy", "n_gpus")}
        out["assumptions"]["precision"] = precision_label(self.setup)
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
    """16-bit copies of fp32 weights made by torch.autocast (§1.11: HF counts 6 B/param for weights in mixed
    precision = fp32 + half copy). Trainable fp32 weights: autocast caches one copy each for the forward, 2 B/param.
    A frozen fp32 LoRA base (``base_fp32``): each Linear keeps its cast 16-bit weight for the input gradient, for
    every layer without GC, for the one recomputed layer with GC; under FSDP mixed precision the gathered params
    are already 16-bit, so no copies [I]."""
    if setup.method == "lora":
        if not (setup.base_fp32 and setup.half and setup.autocast and not setup.quant_bits) or setup.shards > 1:
            return 0
        layers = 1 if setup.grad_ckpt else spec.num_hidden_layers
        return 2 * layers * (counts.linear // max(spec.num_hidden_layers, 1))
    if not (setup.half and setup.weights_fp32):
        return 0
    if setup.method == "full":
        return int(2 * counts.total / setup.shards)
    return 2 * trainable_params(spec, counts, setup)


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


def activation_bytes_per_token_layer(spec, counts, setup: TrainSetup, trainable: bool) -> float:
    """a_layer: bytes autograd saves per token in one decoder layer of a Llama-style block (§2.7 [I], refined by
    which tensors each op saves).

    What is saved depends on whether the layer's weights train: a frozen Linear keeps no copy of its input (the
    input is only needed for the weight gradient), a trained one does.

    * RMSNorm (x2): the fp32 upcast of its input, 4h; trained: + the normalized tensor (for the weight grad) and
      the normalized output its Linears keep (re-cast once per consumer under AMP autocast: q, k, v and gate, up).
    * attention: q and k after RoPE, v, the SDPA output (+ fp32 log-sum-exp); trained: + o_proj's contiguous input.
      eager attention adds fp32 softmax + 16-bit probabilities, n_q * s * (4 + c) (Korthikanti et al. 2022,
      arXiv:2205.05198: SDPA/flash never materialize the s^2 scores).
    * MLP: gate output (SiLU input), SiLU output, up output; trained: + down_proj's input. A GeLU MLP keeps 2 of 3.
      k-bit Linears cast their output back to the (fp32, after k-bit preparation) input dtype [I bnb code].
    * LoRA extras, MoE router logits: see :func:`lora_extra_bytes_per_token_layer`; 4E per token.
    """
    h, c, sb = spec.hidden_size, setup.compute_bytes, _stream_bytes(setup)
    kbit = bool(setup.quant_bits) and setup.method == "lora" and setup.kbit_prepare
    lin = 4 if kbit else c
    recast = 5 if setup.weights_fp32 and setup.half else 2
    norms = 2 * 4 * h + ((2 * sb * h + recast * c * h) if trainable else 0)
    attn = c * (2 * _q_dim(spec) + 2 * _kv_dim(spec)) + 4 * spec.num_attention_heads
    attn += c * _q_dim(spec) if trainable else 0
    f = _mlp_width(spec)
    kept = 3 if _gated_mlp(counts) else 2
    mlp = lin * kept * f + (c * f if trainable else 0)
    if spec.num_experts:
        mlp += 4 * spec.num_experts
    if setup.attn == "eager":
        attn += spec.num_attention_heads * setup.seq_len * (4 + c)
    extra = lora_extra_bytes_per_token_layer(spec, counts, setup)
    return norms + attn + mlp + extra


def lora_extra_bytes_per_token_layer(spec, counts, setup: TrainSetup) -> float:
    """LoRA extras per token per layer (§2.6 [I from PEFT code]): each targeted Linear casts its input to the adapter
    dtype and, under autocast, back to 16-bit for lora_A: one saved copy of d_in elements in the compute dtype per
    module (q, k and v each make their own); without autocast the fp32 copy itself is kept (4 B per element);
    ``lora_dropout > 0`` adds a 1-byte mask per input element."""
    if setup.method != "lora":
        return 0.0
    cast = (setup.compute_bytes if setup.autocast and setup.half else 4) if setup.adapter_fp32 else 0
    per_elem = cast + (1 if setup.lora_dropout > 0 else 0)
    return per_elem * sum(d_in for d_in, _ in _select_targets(counts, setup.lora_targets).values())


def activation_bytes(spec, counts, setup: TrainSetup) -> int:
    """A: saved activations of one micro-batch of T = b*s tokens, bytes (§2.7).

    no GC: T * sum over layers of a_layer; HF per-layer GC keeps each layer's input (one stream tensor, h elements)
    and recomputes one layer at a time: T * (L_g * h * stream_bytes + a_layer). L_g = layers autograd keeps
    activations for: all for LoRA/full; for freeze tuning of the last k layers only those k (the frozen layers below
    take inputs that need no grad, so they keep nothing); training the first k layers (negative k) keeps the
    frozen layers above too, as frozen layers, since gradients flow back through them.
    """
    L = spec.num_hidden_layers
    trained_a = activation_bytes_per_token_layer(spec, counts, setup, trainable=True)
    frozen_a = activation_bytes_per_token_layer(spec, counts, setup, trainable=False)
    if setup.method == "full":
        layers = [(L, trained_a)]
    elif setup.method == "lora":
        layers = [(L, frozen_a)]
    else:
        k = trainable_layers(spec, setup)
        layers = [(k, trained_a)] + ([(L - k, frozen_a)] if setup.freeze_layers < 0 else [])
    if setup.grad_ckpt:
        kept = sum(n for n, _ in layers)
        per_token = kept * spec.hidden_size * _stream_bytes(setup) + max(a for n, a in layers if n)
    else:
        per_token = sum(n * a for n, a in layers)
    return int(setup.tokens * per_token)


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
    """Lg: logits and the loss's buffers, T * V * k_V bytes (§2.8). k_V = 12 for HF's loss (16-bit logits kept
    for the output, fp32 upcast, fp32 log-softmax), 8 without the upcast, ~3 chunked, 0 fused."""
    return int(setup.tokens * spec.vocab_size * LOSS_BYTES_PER_VOCAB[setup.loss_impl])


def dequant_temp_bytes(spec, counts, setup: TrainSetup) -> int:
    """X_dequant: bnb dequantizes one weight at a time to the compute dtype in forward and backward:
    c * max(d_in * d_out) bytes (§2.2 transient [I from bnb code]). FSDP adds the gathered 16-bit params of two
    layers in flight (current + prefetched) (§2.11)."""
    out = 0
    if setup.quant_bits and setup.method == "lora":
        largest = max((a * b for a, b in _layer_modules(counts).values()), default=0)
        out += setup.compute_bytes * largest
    if setup.shards > 1:
        per_param: float = setup.compute_bytes  # FSDP mixed precision gathers in the compute dtype
        if setup.quant_bits and setup.method == "lora":
            per_param = NF4_DQ_BYTES if setup.quant_bits == 4 else 1
        out += int(2 * _layer_params(spec, counts) * per_param)
    return out


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
# Assembly
# ----------------------------------------------------------------------------------------------------------------

def estimate_setup(spec, counts, setup: TrainSetup, budget_bytes: int | None = None) -> MemoryEstimate:
    """Peak memory for ``setup`` on model ``spec`` (with its ``counts`` from ``params.count_params``)."""
    w = weight_bytes(spec, counts, setup) + autocast_copy_bytes(spec, counts, setup)
    s = optimizer_bytes(spec, counts, setup)
    g = gradient_bytes(spec, counts, setup)
    a = activation_bytes(spec, counts, setup)
    lg = logits_bytes(spec, setup)
    x_fb = dequant_temp_bytes(spec, counts, setup)
    x_opt = optimizer_temp_bytes(spec, counts, setup)
    bucket = ddp_bucket_bytes(spec, counts, setup)
    # Gradients survive between micro-batches when accumulating; with one micro-batch per step Trainer sets them to
    # None (zero_grad(set_to_none=True)) and they grow while activations are freed (§2.1).
    g_fb = g if setup.grad_accum > 1 else 0
    fwd_bwd = a + lg + x_fb + g_fb + bucket
    step = g + x_opt + bucket
    phase = "forward/backward" if fwd_bwd >= step else "optimizer step"
    allocated = w + s + max(fwd_bwd, step)
    frag = fragmentation_bytes(allocated, setup)
    ctx = context_bytes(setup)
    if phase == "forward/backward":
        breakdown = {"weights": w, "optimizer": s, "gradients": g_fb, "activations": a, "logits": lg}
        transient = x_fb + bucket
    else:
        breakdown = {"weights": w, "optimizer": s, "gradients": g, "activations": 0, "logits": 0}
        transient = x_opt + bucket
    breakdown.update(cuda_context=ctx, overhead=frag + transient)
    peak = sum(breakdown.values())
    terms = {"weights": w, "optimizer": s, "gradients": g, "activations": a, "logits": lg,
             "dequant_transient": x_fb, "optimizer_transient": x_opt, "ddp_buckets": bucket,
             "fragmentation": frag, "cuda_context": ctx}
    fits = None if budget_bytes is None else peak <= budget_bytes
    return MemoryEstimate(peak_bytes=int(peak), breakdown=breakdown, total_params=counts.total,
                          trainable_params=trainable_params(spec, counts, setup), budget_bytes=budget_bytes,
                          fits=fits, phase=phase, terms=terms, setup=setup)


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
