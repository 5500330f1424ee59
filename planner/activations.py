"""A and its parts: the bytes autograd saves for backward per token and layer (attention by kernel, norms, MLP, MoE
routing and experts, LoRA's extra inputs, dropout masks, dtype recasts) and over the model's layers with or without
gradient checkpointing. Each function is checked against the tensors a real layer saves on a CPU
(``bench/activation_truth.py``). "§" references and source letters as in ``memory.py``; pure functions only.
"""

from __future__ import annotations

from .train_setup import (
    TrainSetup,
    _gated_mlp,
    _kv_dim,
    _layer_modules,
    _mlp_width,
    _q_dim,
    _select_targets,
    dropout_saved_bytes,
    trainable_layers,
)


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
