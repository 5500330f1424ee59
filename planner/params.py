"""Parameter counts of a :class:`.ModelSpec`: by component (:class:`ParamCounts`), per decoder layer, and LoRA's
trainable parameters.

``count_params(spec)`` counts parameters exactly from the config fields for the Llama family and relatives
(Llama, Mistral, Qwen2/2.5/3, Qwen3-VL's decoders, Gemma 1/2/3, Phi-3/4, GLM-4, Mixtral, Qwen2-MoE, Qwen3-MoE,
Llama 4, gpt-oss: ``model_spec.FAMILIES``); other
architectures are instantiated on PyTorch's meta device (:mod:`.params_meta`, no memory, no weights) and their
parameters summed. The formula is the one in the research notes (memory-model.md section 4.2), written out per
module so the same table answers the LoRA count (section 2.5: a LoRA adapter on ``Linear(d_in -> d_out)`` has
``r * (d_in + d_out)`` parameters).

Module layout facts follow transformers 5 (the version this project pins): MoE experts are fused 3-D
``nn.Parameter`` tensors (``experts.gate_up_proj``, ``experts.down_proj``) and the router is a plain parameter, so
neither is an ``nn.Linear``: bitsandbytes does not quantize them. PEFT (0.21+) still puts adapters on them for the
MoE architectures it converts from transformers 4 (Mixtral, Qwen3-MoE, DeepSeek, ...): see ``PEFT_EXPERT_TARGETS``.

No torch and no transformers at import time, nor for anything that only reads config fields (checked by a test).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, ModelError
from .messages import Msg
from .model_spec import FAMILIES, ModelSpec
from .params_meta import meta_model


@dataclass
class ParamCounts:
    """Parameter counts by component; ``total`` counts a tied lm_head once.

    ``linear`` is the number of weight elements of the ``nn.Linear`` layers inside the decoder blocks: what
    bitsandbytes quantizes (their biases, the embeddings, lm_head, norms, and transformers 5's fused MoE experts stay
    in the load dtype). ``per_layer_linear`` maps each such module of one representative decoder layer (the first
    sparse layer of an MoE model, else layer 0) to ``(d_in, d_out)``.
    """

    embed: int
    lm_head: int
    attention: int
    mlp: int
    experts: int
    router: int
    norms: int
    other: int
    total: int
    linear: int
    per_layer_linear: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def non_linear(self) -> int:
        """Parameters outside decoder nn.Linear weights (kept in 16/32-bit under 4-bit quantization)."""
        return self.total - self.linear


# ------------------------------------------------------------------------------------------------------------------
# Exact counts from config fields (memory-model.md section 4.2)
# ------------------------------------------------------------------------------------------------------------------

def _family(spec: ModelSpec) -> dict[str, Any] | None:
    return FAMILIES.get(spec.model_type) if spec.param_method == "formula" else None


def _is_sparse_layer(spec: ModelSpec, i: int) -> bool:
    """Whether decoder layer ``i`` has routed experts (transformers' Qwen-MoE / DeepSeek rules)."""
    if spec.num_experts <= 0 or i < spec.first_k_dense or i in spec.mlp_only_layers:
        return False
    return (i + 1) % max(spec.decoder_sparse_step, 1) == 0


@dataclass(frozen=True)
class _Layer:
    """One decoder layer: its nn.Linear modules (name -> (d_in, d_out, has_bias, group)) and other parameters."""

    linears: dict[str, tuple[int, int, bool, str]]
    norms: int
    experts: int
    router: int
    attention_extra: int = 0   # attention parameters outside its linears (gpt-oss's per-head sinks)


def _layer(spec: ModelSpec, i: int) -> _Layer:
    fam = _family(spec)
    if fam is None:
        raise ModelError(Msg("no_formula", model_type=spec.model_type))
    h, d = spec.hidden_size, spec.head_dim
    q_out, kv_out = spec.num_attention_heads * d, spec.num_key_value_heads * d
    bias_mode = fam["bias"]
    qkv_bias = bias_mode == "qkv" or (bias_mode in ("config", "qkv_config") and spec.attention_bias)
    o_bias = bias_mode == "config" and spec.attention_bias
    lin: dict[str, tuple[int, int, bool, str]] = {}
    if fam["fused"]:
        lin["qkv_proj"] = (h, q_out + 2 * kv_out, qkv_bias, "attention")
    else:
        lin["q_proj"] = (h, q_out, qkv_bias, "attention")
        lin["k_proj"] = (h, kv_out, qkv_bias, "attention")
        lin["v_proj"] = (h, kv_out, qkv_bias, "attention")
    lin["o_proj"] = (q_out, h, o_bias, "attention")
    experts = router = 0
    if _is_sparse_layer(spec, i) and fam["moe"]:
        f_e = spec.moe_intermediate_size
        experts = spec.num_experts * 3 * h * f_e      # fused gate_up_proj (E, 2f, h) + down_proj (E, h, f)
        if fam["moe"] == "llama4":                    # Llama4Router subclasses nn.Linear(h -> E), no bias
            lin["router"] = (h, spec.num_experts, False, "router")
        else:
            router = spec.num_experts * h             # router weight (E, h), no bias
        if fam.get("expert_bias"):                    # gpt-oss: gate_up_proj_bias (E, 2f), down_proj_bias (E, h)
            experts += spec.num_experts * (2 * f_e + h)
            router += spec.num_experts                # and a router bias (E)
        f_s = spec.shared_expert_intermediate_size
        if f_s:
            lin["gate_proj"] = (h, f_s, False, "mlp")     # the shared expert's (mlp.shared_expert.*)
            lin["up_proj"] = (h, f_s, False, "mlp")
            lin["down_proj"] = (f_s, h, False, "mlp")
            if fam["moe"] == "qwen":                      # Qwen2-MoE gates its shared expert, Llama 4 does not
                lin["shared_expert_gate"] = (h, 1, False, "mlp")
    elif fam["fused"] or fam.get("fused_mlp"):
        lin["gate_up_proj"] = (h, 2 * spec.intermediate_size, spec.mlp_bias, "mlp")
        lin["down_proj"] = (spec.intermediate_size, h, spec.mlp_bias, "mlp")
    else:
        f = spec.intermediate_size
        lin["gate_proj"] = (h, f, spec.mlp_bias, "mlp")
        lin["up_proj"] = (h, f, spec.mlp_bias, "mlp")
        lin["down_proj"] = (f, h, spec.mlp_bias, "mlp")
    norms = fam["norms"] * h + (2 * d if fam["qk_norm"] else 0)
    sinks = spec.num_attention_heads if fam.get("sinks") else 0
    return _Layer(lin, norms, experts, router, sinks)


def _representative_layer(spec: ModelSpec) -> int:
    for i in range(spec.num_hidden_layers):
        if _is_sparse_layer(spec, i):
            return i
    return 0


def count_params(spec: ModelSpec) -> ParamCounts:
    """Exact parameter counts by component (tied lm_head counted once in ``total``).

    Closed form per layer (h hidden, d head_dim, n_q / n_kv heads, f intermediate):
    attention = h*n_q*d + 2*h*n_kv*d + n_q*d*h (+ biases), mlp = 3*h*f (SwiGLU), norms = 2h (4h for Gemma 2/3,
    + 2d for per-head q/k norms); MoE layers hold E*3*h*f_e expert and E*h router parameters instead of the MLP.
    Architectures outside the known families are instantiated on the meta device instead.
    """
    if _family(spec) is None:
        return count_params_meta(spec)
    h, vocab = spec.hidden_size, spec.vocab_size
    attention = mlp = experts = router = norms = linear = 0
    for i in range(spec.num_hidden_layers):
        layer = _layer(spec, i)
        for d_in, d_out, bias, group in layer.linears.values():
            size = d_in * d_out + (d_out if bias else 0)
            linear += d_in * d_out
            if group == "attention":
                attention += size
            elif group == "router":
                router += size
            else:
                mlp += size
        attention += layer.attention_extra
        norms += layer.norms
        experts += layer.experts
        router += layer.router
    norms += h                                   # final norm
    embed = vocab * h
    lm_head = 0 if spec.tie_word_embeddings else vocab * h
    other = spec.extra_params
    total = embed + lm_head + attention + mlp + experts + router + norms + other
    return ParamCounts(embed=embed, lm_head=lm_head, attention=attention, mlp=mlp, experts=experts, router=router,
                       norms=norms, other=other, total=total, linear=linear,
                       per_layer_linear=linear_modules(spec))


def linear_modules(spec: ModelSpec) -> dict[str, tuple[int, int]]:
    """nn.Linear modules of one representative decoder layer: name -> (d_in, d_out).

    Names are the leaf names PEFT matches (q_proj ... down_proj; qkv_proj / gate_up_proj for Phi-3; the shared
    expert's projections and shared_expert_gate for Qwen2-MoE). MoE experts are not listed: in transformers 5 they
    are fused parameters, not nn.Linear (see the module docstring).
    """
    if _family(spec) is None:
        return dict(count_params_meta(spec).per_layer_linear)
    layer = _layer(spec, _representative_layer(spec))
    return {name: (d_in, d_out) for name, (d_in, d_out, _, _) in layer.linears.items()}


def layer_linear_params(spec: ModelSpec) -> int:
    """nn.Linear weight elements of one representative decoder layer (see :func:`linear_modules`)."""
    return sum(d_in * d_out for d_in, d_out in linear_modules(spec).values())


def layer_params(spec: ModelSpec, index: int = -1) -> int:
    """All parameters of decoder layer ``index`` (linears with biases, norms, experts, router): what freeze tuning
    trains per unfrozen layer. Negative indices count from the last layer."""
    n = spec.num_hidden_layers
    i = index + n if index < 0 else index
    if not 0 <= i < n:
        raise ModelError(Msg("layer_range", index=index, last=n - 1))
    if _family(spec) is None:
        return meta_model(spec).layer_totals[i]
    layer = _layer(spec, i)
    lin = sum(a * b + (b if bias else 0) for a, b, bias, _ in layer.linears.values())
    return lin + layer.norms + layer.experts + layer.router + layer.attention_extra


def _parse_targets(targets: list[str] | str) -> list[str]:
    if isinstance(targets, str):
        targets = targets.split(",")
    out = [t.strip() for t in targets if t and t.strip()]
    if not out:
        raise ConfigError(Msg("lora_targets_empty"), key="lora_target")
    return out


def _matches(module: str, target: str) -> bool:
    """PEFT's rule for a target name: the module's name equals it or ends with '.' + it."""
    return module == target or module.endswith("." + target)


def norm_layout(spec: ModelSpec) -> tuple[int, bool]:
    """(RMSNorms on the residual stream per decoder layer, whether q and k are RMS-normalized per head)."""
    fam = FAMILIES.get(spec.model_type) or {}
    return int(fam.get("norms", 2)), bool(fam.get("qk_norm", False))


#: Fused-expert MoE architectures on which peft (0.21+, ``utils/transformers_weight_conversion.py``) turns LoRA
#: targets into adapters on the experts: "all" (or the experts' transformers-4 Linear names) becomes
#: ``target_parameters`` on ``gate_up_proj`` (rank doubled: gate and up were two Linears) and ``down_proj``, plus the
#: router (``gate``). Keys: model types peft maps to its "qwen2_moe" / "mixtral" patterns; values: the old names
#: (router, gate, up, down).
PEFT_EXPERT_TARGETS: dict[str, tuple[str, str, str, str]] = {
    **{t: ("gate", "gate_proj", "up_proj", "down_proj") for t in (
        "qwen3_moe", "qwen3_next", "qwen3_omni_moe", "deepseek_v2", "deepseek_v3", "glm4_moe", "dots1",
        "ernie4_5_moe", "olmoe", "hunyuan_v1_moe", "flex_olmo", "exaone_moe", "cohere2_moe")},
    **{t: ("gate", "w1", "w3", "w2") for t in ("mixtral", "minimax")},
}


def lora_expert_targets(spec: ModelSpec, targets: list[str] | str) -> tuple[bool, bool, bool]:
    """(router, fused gate_up, down) adapters peft adds on a fused-expert MoE model for these LoRA targets."""
    old = PEFT_EXPERT_TARGETS.get(spec.model_type)
    if not spec.num_experts or old is None:
        return False, False, False
    names = [t.lower() for t in _parse_targets(targets)] if targets else []
    every = any(t in ("all", "all-linear") for t in names)
    router, gate, up, down = old
    return every or router in names, every or (gate in names and up in names), every or down in names


def lora_targets_experts(spec: ModelSpec, targets: list[str] | str) -> bool:
    """Whether peft puts adapters on this model's fused experts for these targets (see ``PEFT_EXPERT_TARGETS``)."""
    return any(lora_expert_targets(spec, targets)[1:])


def _expert_lora_params(spec: ModelSpec, targets: list[str] | str, rank: int) -> int:
    """Per-expert LoRA on the fused experts of every sparse layer (A: (r*E, d_in), B: (d_out, r*E)) and the
    router's adapter, as peft builds them."""
    router, gate_up, down = lora_expert_targets(spec, targets)
    h, e = spec.hidden_size, spec.num_experts
    f = spec.moe_intermediate_size or spec.intermediate_size
    per = (rank * (h + e) if router else 0) + (e * 2 * rank * (h + 2 * f) if gate_up else 0) + \
        (e * rank * (f + h) if down else 0)
    return per * sum(1 for i in range(spec.num_hidden_layers) if _is_sparse_layer(spec, i))


def lora_trainable_params(spec: ModelSpec, targets: list[str] | str, rank: int) -> int:
    """LoRA adapter parameters: sum over targeted Linear(d_in -> d_out) of ``rank * (d_in + d_out)``.

    ``targets`` is a list or comma-separated string of module names (q_proj, v_proj, ...) or "all" (every nn.Linear
    in the decoder layers, not lm_head: PEFT's "all-linear"). ``lm_head`` and ``embed_tokens`` may be named
    explicitly. A name that matches no module raises ConfigError listing the available ones.
    Checks (memory-model.md 2.5): Llama-2-7B r=8 q,v = 4,194,304; Llama-3-8B r=16 all = 41,943,040.
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
        raise ConfigError(Msg("lora_rank", value=rank), key="lora_rank")
    names = _parse_targets(targets)
    want_all = any(t.lower() in ("all", "all-linear") for t in names)
    names = [t for t in names if t.lower() not in ("all", "all-linear")]
    layers = _layers_linears(spec)
    modules = {m for layer in layers for m in layer}
    extra = {"lm_head": (spec.hidden_size, spec.vocab_size), "embed_tokens": (spec.vocab_size, spec.hidden_size)}
    experts = PEFT_EXPERT_TARGETS.get(spec.model_type, ()) if spec.num_experts else ()
    unknown = [t for t in names if t not in extra and t not in experts and not any(_matches(m, t) for m in modules)]
    if unknown:
        available = sorted({m.split(".")[-1] for m in modules})
        raise ConfigError(Msg("lora_target_unknown", names=", ".join(unknown), model_type=spec.model_type,
                                    model=spec.name),
                          key="lora_target", hint=Msg("hint_lora_targets", available=", ".join(available)))
    total = 0
    for layer in layers:
        for module, (d_in, d_out) in layer.items():
            if want_all or any(_matches(module, t) for t in names):
                total += rank * (d_in + d_out)
    for module, (d_in, d_out) in extra.items():
        if module in names:
            total += rank * (d_in + d_out)
    return total + _expert_lora_params(spec, targets, rank)


def _layers_linears(spec: ModelSpec) -> list[dict[str, tuple[int, int]]]:
    """nn.Linear modules of every decoder layer: name (relative to the layer) -> (d_in, d_out)."""
    if _family(spec) is None:
        return meta_model(spec).layer_linears
    return [{n: (a, b) for n, (a, b, _, _) in _layer(spec, i).linears.items()}
            for i in range(spec.num_hidden_layers)]


def count_params_meta(spec: ModelSpec) -> ParamCounts:
    """Counts by instantiating ``AutoModelForCausalLM.from_config`` on the meta device (no memory, no weights).

    Tied parameters are counted once (``model.parameters()`` deduplicates). Linear layers include transformers'
    Conv1D (GPT-2 style), which bitsandbytes also quantizes. The instantiation is cached per config.
    """
    meta = meta_model(spec)
    return ParamCounts(**meta.buckets, total=sum(meta.buckets.values()), linear=meta.linear,
                       per_layer_linear=dict(meta.per_layer_linear))
