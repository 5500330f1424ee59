"""What a model is: :class:`ModelSpec`, the architecture facts the planner needs, and how config.json gives them.

``spec_from_config(cfg)`` turns a parsed config.json (a local one, the hub cache's, the hub's, or a built-in catalog
entry's) into a :class:`ModelSpec`; :mod:`.models` decides where the config comes from, :mod:`.params` counts the
parameters. ``FAMILIES`` lists the architectures whose parameters are counted from these fields; the model errors'
messages are the catalog area ``models`` (``planner/catalogs/models.py``).

No torch and no transformers at import time (checked by a test).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ModelError
from .messages import Msg

# Families whose parameters we count from config fields. Each value says how the family departs from Llama.
#   bias:   which attention projections carry a bias ("config" = q,k,v,o when attention_bias, "qkv" = q,k,v always,
#           "qkv_config" = q,k,v when attention_bias, "none")
#   norms:  RMSNorms per decoder layer (Gemma 2/3 add pre/post feed-forward norms)
#   qk_norm: per-head RMSNorm on queries and keys (head_dim parameters each)
#   fused:  Phi-3 style qkv_proj / gate_up_proj
#   fused_mlp: (optional) a fused gate_up_proj with separate q/k/v projections (GLM)
#   moe:    "" | "mixtral" (every layer sparse) | "qwen" (decoder_sparse_step / mlp_only_layers, optional shared expert)
#           | "llama4" (interleave_moe_layer_step / moe_layers, a shared expert without a gate, the router an
#           nn.Linear; dense layers use intermediate_size_mlp)
#   tie:    default of tie_word_embeddings when config.json omits it (the transformers config class default)
#   expert_bias: (optional) experts carry biases (gate_up 2f + down h per expert) and the router a bias (gpt-oss)
#   sinks:  (optional) one learned attention-sink logit per head and layer (gpt-oss)
FAMILIES: dict[str, dict[str, Any]] = {
    "llama": {"bias": "config", "norms": 2, "qk_norm": False, "fused": False, "moe": "", "tie": False},
    "mistral": {"bias": "none", "norms": 2, "qk_norm": False, "fused": False, "moe": "", "tie": False},
    "qwen2": {"bias": "qkv", "norms": 2, "qk_norm": False, "fused": False, "moe": "", "tie": False},
    "qwen3": {"bias": "config", "norms": 2, "qk_norm": True, "fused": False, "moe": "", "tie": False},
    "gemma": {"bias": "config", "norms": 2, "qk_norm": False, "fused": False, "moe": "", "tie": True},
    "gemma2": {"bias": "config", "norms": 4, "qk_norm": False, "fused": False, "moe": "", "tie": True},
    "gemma3_text": {"bias": "config", "norms": 4, "qk_norm": True, "fused": False, "moe": "", "tie": True},
    "phi3": {"bias": "none", "norms": 2, "qk_norm": False, "fused": True, "moe": "", "tie": False},
    "mixtral": {"bias": "none", "norms": 2, "qk_norm": False, "fused": False, "moe": "mixtral", "tie": False},
    "qwen2_moe": {"bias": "qkv_config", "norms": 2, "qk_norm": False, "fused": False, "moe": "qwen", "tie": False},
    "qwen3_moe": {"bias": "config", "norms": 2, "qk_norm": True, "fused": False, "moe": "qwen", "tie": False},
    # Qwen3-VL's text decoder is Qwen3's (per-head q/k norms; multimodal RoPE changes no parameter)
    "qwen3_vl_text": {"bias": "config", "norms": 2, "qk_norm": True, "fused": False, "moe": "", "tie": False},
    "qwen3_vl_moe_text": {"bias": "config", "norms": 2, "qk_norm": True, "fused": False, "moe": "qwen", "tie": False},
    # GLM-4 (glm-4-9b-chat-hf): q/k/v biases, a fused gate_up_proj; GLM-4-0414 (glm4) adds post-attention and
    # post-MLP RMSNorms (four per layer)
    "glm": {"bias": "qkv_config", "norms": 2, "qk_norm": False, "fused": False, "fused_mlp": True, "moe": "",
            "tie": False},
    "glm4": {"bias": "qkv_config", "norms": 4, "qk_norm": False, "fused": False, "fused_mlp": True, "moe": "",
             "tie": False},
    # Llama 4: routed experts plus a shared expert in the MoE layers (every layer in Scout, every other one in
    # Maverick); the q/k L2 norm has no weights
    "llama4_text": {"bias": "config", "norms": 2, "qk_norm": False, "fused": False, "moe": "llama4", "tie": False},
    # gpt-oss: every layer sparse, experts and router carry biases, one attention sink per head
    "gpt_oss": {"bias": "config", "norms": 2, "qk_norm": False, "fused": False, "moe": "mixtral", "tie": False,
                "expert_bias": True, "sinks": True},
}
# Multimodal wrappers whose text decoder is one of the families above (config.json nests it under text_config).
_TEXT_WRAPPERS = {"gemma3": "gemma3_text", "qwen3_vl": "qwen3_vl_text", "qwen3_vl_moe": "qwen3_vl_moe_text",
                  "llama4": "llama4_text"}

# config.json spellings of the same quantity in older or non-Llama configs.
_ALIASES: dict[str, tuple[str, ...]] = {
    "hidden_size": ("hidden_size", "n_embd", "d_model", "dim"),
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "num_attention_heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "num_key_value_heads": ("num_key_value_heads", "num_kv_heads", "n_kv_heads", "multi_query_group_num"),
    "intermediate_size": ("intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size"),
    "max_position_embeddings": ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"),
    "num_experts": ("num_experts", "num_local_experts", "n_routed_experts"),
}
_REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


_INSTRUCT_RE = re.compile(r"(instruct|chat|(^|[-_])it($|[-_])|[-_](sft|dpo|orpo|rlhf)($|[-_]))", re.IGNORECASE)
_BASE_RE = re.compile(r"[-_](base|pt|pretrain(ed)?)($|[-_])", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------------------------
# Data class
# ------------------------------------------------------------------------------------------------------------------

@dataclass
class ModelSpec:
    """Architecture facts about one causal LM, read from config.json or the built-in catalog.

    ``source`` says where the facts came from: "local" (a directory), "hf-cache", "hub" (config.json fetched),
    "catalog". ``param_method`` says how :func:`.params.count_params` counts: "formula" (from these fields, exact for the
    families in ``FAMILIES``) or "meta-device" (instantiating the architecture on PyTorch's meta device).
    """

    name: str
    model_type: str
    architectures: list[str]
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int
    num_experts: int = 0
    num_experts_per_tok: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    first_k_dense: int = 0                   # DeepSeek-style: the first k layers use a dense MLP
    decoder_sparse_step: int = 1             # Qwen-MoE: layer i is sparse when (i + 1) % step == 0 ...
    mlp_only_layers: list[int] = field(default_factory=list)  # ... and i is not listed here
    attention_bias: bool = False
    mlp_bias: bool = False
    torch_dtype: str | None = None
    rope_scaling: dict | None = None
    rope_theta: float | None = None
    sliding_window: int | None = None
    is_instruct: bool | None = None
    has_chat_template: bool | None = None
    weight_bytes_on_disk: int | None = None  # tensor bytes from safetensors headers (or the index's total_size)
    params_on_disk: int | None = None        # elements stored in the safetensors files (tied copies included)
    quantized_checkpoint: str | None = None  # "bnb-4bit", "bnb-8bit", "gptq-4bit", "awq-4bit", ...
    source: str = "catalog"
    local_path: str | None = None
    catalog_id: str | None = None            # the catalog entry that matched, when source == "catalog"
    published_params: int | None = None      # the model card's total, for catalog entries
    extra_params: int = 0                    # vision tower + projector of multimodal wrappers (catalog only)
    catalog_note: str | None = None          # for a catalog alias or variant: "same shapes as <id>; ..."
    catalog_source: str | None = None        # where the catalog entry's facts were checked
    trust_remote_code: bool = False
    param_method: str = "formula"
    raw_config: dict | None = field(default=None, repr=False, compare=False)


def model_facts(spec: ModelSpec) -> dict[str, Any]:
    """Where the planner's facts about the model came from, for ``plan --json`` and plan.json."""
    facts: dict[str, Any] = {"name": spec.name, "model_type": spec.model_type, "source": spec.source}
    if spec.catalog_id:
        facts.update(catalog_id=spec.catalog_id, catalog_note=spec.catalog_note, catalog_source=spec.catalog_source)
    if spec.local_path:
        facts["local_path"] = spec.local_path
    return facts


# ------------------------------------------------------------------------------------------------------------------
# Name heuristics
# ------------------------------------------------------------------------------------------------------------------

def instruct_from_name(name: str) -> bool | None:
    """Whether a model name says chat/instruct (True), base/pretrained (False), or nothing (None)."""
    last = name.rstrip("/").split("/")[-1]
    if _INSTRUCT_RE.search(last):
        return True
    if _BASE_RE.search(last):
        return False
    return None


# ------------------------------------------------------------------------------------------------------------------
# config.json -> ModelSpec
# ------------------------------------------------------------------------------------------------------------------

def _first(cfg: dict, key: str) -> Any:
    for alias in _ALIASES.get(key, (key,)):
        value = cfg.get(alias)
        if value is not None:
            return value
    return None


#: Upper bounds on a config.json's sizes, far above any real model (the largest have ~200 layers, hidden sizes
#: of ~25k, vocabularies of ~260k): a value beyond them is a typo or a damaged file, and the planner, which
#: counts per layer, would hang on it.
SIZE_LIMITS = {"num_hidden_layers": 10_000, "hidden_size": 1 << 20, "num_attention_heads": 1 << 16,
               "num_key_value_heads": 1 << 16, "head_dim": 1 << 16, "intermediate_size": 1 << 24,
               "moe_intermediate_size": 1 << 24, "shared_expert_intermediate_size": 1 << 24,
               "vocab_size": 1 << 26, "num_experts": 1 << 16, "num_experts_per_tok": 1 << 16,
               "first_k_dense_replace": 10_000, "decoder_sparse_step": 10_000,
               "intermediate_size_mlp": 1 << 24, "interleave_moe_layer_step": 10_000}


def _as_int(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelError(Msg("not_non_negative", key=key, value=value), file=where,
                         hint=Msg("hint_fix_config"))
    limit = SIZE_LIMITS.get(key)
    if limit is not None and value > limit:
        raise ModelError(Msg("size_too_large", key=key, value=value, limit=limit), file=where,
                         hint=Msg("hint_fix_config"))
    return value


def _text_part(cfg: dict) -> dict:
    """The decoder's config: ``text_config`` merged over the wrapper's top-level keys for multimodal wrappers."""
    text = cfg.get("text_config")
    if not isinstance(text, dict):
        return cfg
    merged = {k: v for k, v in cfg.items() if k not in ("text_config", "vision_config", "audio_config")}
    merged.update(text)
    wrapper_type = cfg.get("model_type")
    merged["model_type"] = text.get("model_type") or _TEXT_WRAPPERS.get(str(wrapper_type), wrapper_type)
    if "tie_word_embeddings" in cfg and "tie_word_embeddings" not in text:
        merged["tie_word_embeddings"] = cfg["tie_word_embeddings"]
    return merged


def _rope_scaling(cfg: dict) -> dict | None:
    scaling = cfg.get("rope_scaling")
    if isinstance(scaling, dict):
        return scaling
    params = cfg.get("rope_parameters")  # transformers 5 spelling: rope_theta and any scaling in one dict
    if isinstance(params, dict) and params.get("rope_type", "default") != "default":
        return {k: v for k, v in params.items() if k != "rope_theta"}
    return None


def _rope_theta(cfg: dict) -> float | None:
    theta = cfg.get("rope_theta")
    if theta is None and isinstance(cfg.get("rope_parameters"), dict):
        theta = cfg["rope_parameters"].get("rope_theta")
    return float(theta) if isinstance(theta, (int, float)) and not isinstance(theta, bool) else None


def _quantization_from_config(cfg: dict) -> str | None:
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        return None
    method = str(q.get("quant_method", "")).lower()
    if method == "bitsandbytes":
        if q.get("load_in_4bit") or q.get("_load_in_4bit"):
            return "bnb-4bit"
        if q.get("load_in_8bit") or q.get("_load_in_8bit"):
            return "bnb-8bit"
        return "bnb"
    bits = q.get("bits") or q.get("w_bit")
    if method and bits:
        return f"{method}-{bits}bit"
    return method or "quantized"


def _opt_int(cfg: dict, key: str, where: str, default: int = 0) -> int:
    value = _first(cfg, key)
    return default if value is None else _as_int(value, key, where)


def _check_custom_code(text: dict, model_type: str, cfg: dict, where: str, trust_remote_code: bool) -> None:
    """Refuse configs that only remote code can interpret, unless the user trusts that code."""
    if model_type in FAMILIES or not cfg.get("auto_map") or trust_remote_code:
        return
    missing = [k for k in (*_REQUIRED, "intermediate_size") if _first(text, k) is None]
    if missing or not _transformers_knows(model_type):
        raise ModelError(Msg("custom_code", model_type=model_type or "?"), file=where,
                         hint=Msg("hint_trust_code"))


def _attention_dims(text: dict, where: str) -> tuple[int, int, int, int, int]:
    """(hidden_size, layers, heads, kv_heads, head_dim) with the usual defaults: n_kv = n_q, d = h / n_q."""
    missing = [k for k in _REQUIRED if _first(text, k) is None]
    if missing:
        raise ModelError(Msg("lacks_fields", missing=", ".join(missing)), file=where,
                         hint=Msg("hint_causal_lm_dir"))
    h = _opt_int(text, "hidden_size", where)
    layers = _opt_int(text, "num_hidden_layers", where)
    heads = _opt_int(text, "num_attention_heads", where)
    if heads == 0 or h == 0 or layers == 0 or _opt_int(text, "vocab_size", where) == 0:
        raise ModelError(Msg("dims_positive"), file=where)
    kv = _opt_int(text, "num_key_value_heads", where, default=heads)
    if text.get("head_dim") is None and h % heads:
        raise ModelError(Msg("head_dim_missing", h=h, heads=heads), file=where)
    head_dim = _opt_int(text, "head_dim", where, default=h // heads)
    return h, layers, heads, kv, head_dim


def _attention_bias(text: dict, model_type: str) -> bool:
    if model_type == "qwen2":
        return True                                   # Qwen2Attention: q/k/v always carry a bias
    if model_type == "qwen2_moe":
        return bool(text.get("qkv_bias", True))
    if model_type in ("glm", "glm4"):
        return bool(text.get("attention_bias", True))   # GlmConfig / Glm4Config default
    return bool(text.get("attention_bias", False))


def _llama4_moe(text: dict, layers: int, expert: int, where: str) -> tuple[int, int, list[int]]:
    """Llama 4's MoE layout in the planner's terms (transformers' ``Llama4TextConfig``): ``intermediate_size`` is
    the width of every routed expert and of the shared expert, ``intermediate_size_mlp`` that of the dense layers;
    the sparse layers are ``moe_layers``, else every ``interleave_moe_layer_step``-th one. Returns (dense width,
    decoder_sparse_step, mlp_only_layers); ``expert`` is the routed and shared experts' width."""
    dense = _opt_int(text, "intermediate_size_mlp", where, default=16384)   # the config class default
    moe_layers = text.get("moe_layers")
    if moe_layers is None:
        return dense, _opt_int(text, "interleave_moe_layer_step", where, default=1) or 1, []
    if not isinstance(moe_layers, list) or \
            not all(isinstance(i, int) and not isinstance(i, bool) for i in moe_layers):
        raise ModelError(Msg("moe_layers", value=moe_layers), file=where)
    sparse = set(moe_layers)
    return dense, 1, [i for i in range(layers) if i not in sparse]


def spec_from_config(cfg: dict, *, name: str, source: str, where: str, local_path: str | None = None,
                     trust_remote_code: bool = False) -> ModelSpec:
    """Build a :class:`ModelSpec` from a parsed config.json (``where`` names the file for error messages)."""
    if not isinstance(cfg, dict):
        raise ModelError(Msg("config_not_object"), file=where)
    text = _text_part(cfg)
    model_type = str(text.get("model_type") or "")
    family = FAMILIES.get(model_type)
    _check_custom_code(text, model_type, cfg, where, trust_remote_code)
    if family is None and not cfg.get("auto_map") and not _transformers_knows(model_type):
        raise ModelError(Msg("model_type_unknown", model_type=model_type or "?"), file=where,
                         hint=Msg("hint_unknown_model_type"))
    h, layers, heads, kv, head_dim = _attention_dims(text, where)
    inter = _opt_int(text, "intermediate_size", where, default=4 * h)
    experts = _opt_int(text, "num_experts", where)
    moe_inter = _opt_int(text, "moe_intermediate_size", where, default=inter if experts else 0)
    shared = _opt_int(text, "shared_expert_intermediate_size", where)
    step = _opt_int(text, "decoder_sparse_step", where, default=1) or 1
    mlp_only = text.get("mlp_only_layers") or []
    if not isinstance(mlp_only, list) or not all(isinstance(i, int) for i in mlp_only):
        raise ModelError(Msg("mlp_only_layers", value=mlp_only), file=where)
    if family is not None and family["moe"] == "llama4":
        moe_inter = shared = inter
        inter, step, mlp_only = _llama4_moe(text, layers, inter, where)
    dtype = text.get("torch_dtype") or text.get("dtype") or cfg.get("torch_dtype") or cfg.get("dtype")
    sliding = text.get("sliding_window")
    return ModelSpec(
        name=name, model_type=model_type, architectures=list(cfg.get("architectures") or []),
        hidden_size=h, num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
        head_dim=head_dim, intermediate_size=inter, vocab_size=_opt_int(text, "vocab_size", where),
        tie_word_embeddings=bool(text.get("tie_word_embeddings", family["tie"] if family else True)),
        max_position_embeddings=_opt_int(text, "max_position_embeddings", where),
        num_experts=experts, num_experts_per_tok=_opt_int(text, "num_experts_per_tok", where),
        moe_intermediate_size=moe_inter, shared_expert_intermediate_size=shared,
        first_k_dense=_opt_int(text, "first_k_dense_replace", where), decoder_sparse_step=step,
        mlp_only_layers=list(mlp_only),
        attention_bias=_attention_bias(text, model_type), mlp_bias=bool(text.get("mlp_bias", False)),
        torch_dtype=str(dtype) if dtype else None, rope_scaling=_rope_scaling(text), rope_theta=_rope_theta(text),
        sliding_window=sliding if isinstance(sliding, int) and not isinstance(sliding, bool) else None,
        is_instruct=_instruct_guess(name, cfg),
        quantized_checkpoint=_quantization_from_config(cfg), source=source, local_path=local_path,
        trust_remote_code=trust_remote_code, param_method="formula" if family else "meta-device", raw_config=cfg,
    )


def _instruct_guess(name: str, cfg: dict) -> bool | None:
    guess = instruct_from_name(name)
    return guess if guess is not None else instruct_from_name(str(cfg.get("_name_or_path") or ""))


def _transformers_knows(model_type: str) -> bool:
    """Whether the installed transformers has a built-in config class for ``model_type`` (imports transformers)."""
    if not model_type:
        return False
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return model_type in CONFIG_MAPPING_NAMES
