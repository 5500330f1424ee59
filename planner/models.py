"""Model inspection: architecture facts from config.json, the built-in catalog, exact parameter counts.

``inspect_model(name_or_path)`` turns a model id or path into a :class:`ModelSpec` without downloading weights:

1. a local directory with ``config.json`` (plus the JSON headers of its ``*.safetensors`` files, which give the
   exact bytes of the weights and reveal pre-quantized bitsandbytes checkpoints);
2. the Hugging Face hub cache, offline (``models--org--name/snapshots/*/config.json``);
3. the built-in catalog ``data/models.yaml`` (about 50 popular open models, their config.json fields);
4. the hub, ``config.json`` only, when the network is allowed.

``count_params(spec)`` counts parameters exactly from the config fields for the Llama family and relatives
(Llama, Mistral, Qwen2/2.5/3, Gemma 1/2/3, Phi-3/4, Mixtral, Qwen2-MoE, Qwen3-MoE); other architectures are
instantiated on PyTorch's meta device (no memory, no weights) and their parameters summed. The formula is the one in
the research notes (memory-model.md section 4.2), written out per module so the same table answers the LoRA count
(section 2.5: a LoRA adapter on ``Linear(d_in -> d_out)`` has ``r * (d_in + d_out)`` parameters).

Module layout facts follow transformers 5 (the version this project pins): MoE experts are fused 3-D
``nn.Parameter`` tensors (``experts.gate_up_proj``, ``experts.down_proj``) and the router is a plain parameter, so
neither is an ``nn.Linear``: bitsandbytes does not quantize them and PEFT's "all-linear" does not target them.

No torch and no transformers at import time, nor for anything that only reads config fields (checked by a test).
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import Coded, ConfigError, ModelError

CATALOG_PATH = Path(__file__).with_name("data") / "models.yaml"

#: Every message of a :class:`ModelError` (and the LoRA-target ConfigErrors) raised here, in English and Chinese:
#: the CLI prints the English text, the TUI shows the error in the user's language. Key names, paths, ids and
#: values stay as they are in both languages. A test checks both languages and their placeholders.
MESSAGES: dict[str, dict[str, str]] = {
    "not_non_negative": {"en": "'{key}' must be a non-negative integer, got {value!r}.",
                         "zh": "'{key}' 必须是非负整数，当前为 {value!r}。"},
    "hint_fix_config": {"en": "Fix the config.json or pass another model.", "zh": "请修正 config.json，或换一个模型。"},
    "custom_code": {
        "en": "model_type '{model_type}' is custom code (config.json has auto_map) that this planner cannot count "
              "from its fields.",
        "zh": "model_type '{model_type}' 是自定义代码（config.json 里有 auto_map），计划器无法根据它的字段计算模型"
              "大小。"},
    "hint_trust_code": {"en": "Set `trust_remote_code: true` in the config if you trust this repository's code.",
                        "zh": "如果信任这个仓库的代码，请在配置中设置 `trust_remote_code: true`。"},
    "lacks_fields": {"en": "config.json lacks {missing}; cannot tell the model's size.",
                     "zh": "config.json 缺少 {missing}，无法判断模型大小。"},
    "hint_causal_lm_dir": {"en": "Pass the directory of a Hugging Face causal LM (--model /path/to/model).",
                           "zh": "请指定一个 Hugging Face 因果语言模型的目录（--model /path/to/model）。"},
    "dims_positive": {"en": "hidden_size, num_hidden_layers and num_attention_heads must be positive.",
                      "zh": "hidden_size、num_hidden_layers 和 num_attention_heads 都必须大于 0。"},
    "head_dim_missing": {
        "en": "hidden_size {h} is not divisible by num_attention_heads {heads} and head_dim is missing.",
        "zh": "hidden_size {h} 不能被 num_attention_heads {heads} 整除，而且缺少 head_dim。"},
    "config_not_object": {"en": "config.json must hold a JSON object.", "zh": "config.json 必须是一个 JSON 对象。"},
    "mlp_only_layers": {"en": "'mlp_only_layers' must be a list of layer indices, got {value!r}.",
                        "zh": "'mlp_only_layers' 必须是层号的列表，当前为 {value!r}。"},
    "cannot_read": {"en": "cannot read it: {error}.", "zh": "无法读取：{error}。"},
    "not_json": {"en": "not valid JSON ({error}).", "zh": "不是有效的 JSON（{error}）。"},
    "hint_redownload": {"en": "Re-download or fix the file.", "zh": "请重新下载或修正这个文件。"},
    "st_too_short": {"en": "too short to be a safetensors file.", "zh": "文件太短，不可能是 safetensors 文件。"},
    "st_header_length": {"en": "header length {length} is implausible; the file is corrupt.",
                         "zh": "文件头长度 {length} 不合理；文件已损坏。"},
    "st_header_json": {"en": "the safetensors header is not valid JSON ({error}).",
                       "zh": "safetensors 文件头不是有效的 JSON（{error}）。"},
    "st_header_object": {"en": "the safetensors header is not a JSON object.",
                         "zh": "safetensors 文件头不是 JSON 对象。"},
    "no_weight_map": {"en": "has no 'weight_map' object.", "zh": "没有 'weight_map' 对象。"},
    "st_tensor_entry": {"en": "tensor '{name}' has a malformed header entry ({error}).",
                        "zh": "张量 '{name}' 的文件头条目格式错误（{error}）。"},
    "hint_corrupt": {"en": "The file is corrupt; download it again.", "zh": "文件已损坏，请重新下载。"},
    "no_config_json": {"en": "no config.json in {folder}.", "zh": "{folder} 里没有 config.json。"},
    "hint_model_dir": {"en": "Point --model at a Hugging Face model directory (the one holding config.json).",
                       "zh": "请让 --model 指向 Hugging Face 模型目录（含 config.json 的那个）。"},
    "gated": {"en": "'{repo}' is gated on the Hugging Face hub and this machine has no access.",
              "zh": "'{repo}' 在 Hugging Face Hub 上是受限（gated）模型，这台机器没有访问权限。"},
    "hint_gated": {
        "en": "Accept its licence on the hub and `huggingface-cli login`, or pass a local copy with --model "
              "/path/to/model.",
        "zh": "请先在 Hub 上接受它的许可协议并运行 `huggingface-cli login`，或用 --model /path/to/model 指定本地副本。"},
    "catalog_unreadable": {"en": "the built-in model catalog is unreadable ({error}).",
                           "zh": "内置模型目录无法读取（{error}）。"},
    "no_model": {"en": "no model given.", "zh": "没有指定模型。"},
    "hint_no_model": {
        "en": "Set model_name_or_path to a hub id (e.g. Qwen/Qwen2.5-0.5B-Instruct) or a local directory (--model "
              "/path/to/model).",
        "zh": "请把 model_name_or_path 设为 Hub 上的模型名（如 Qwen/Qwen2.5-0.5B-Instruct）或本地目录（--model "
              "/path/to/model）。"},
    "path_missing": {"en": "model path '{path}' does not exist.", "zh": "模型路径 '{path}' 不存在。"},
    "hint_path_missing": {"en": "Check the path; relative paths are taken from the config file's folder.",
                          "zh": "请检查路径；相对路径是相对配置文件所在的文件夹。"},
    "unknown_model": {
        "en": "unknown model '{name}': it is not in the built-in catalog, not in the local Hugging Face cache "
              "({cache}){hub}.",
        "zh": "未知的模型 '{name}'：内置模型目录里没有，本地 Hugging Face 缓存（{cache}）里也没有{hub}。"},
    "hub_offline": {"en": " and the hub is offline (HF_HUB_OFFLINE, or network not allowed)",
                    "zh": "，而且无法访问 Hub（设置了 HF_HUB_OFFLINE，或不允许联网）"},
    "hub_id_form": {"en": " (hub ids have the form org/name)", "zh": "（Hub 上的模型名形如 org/name）"},
    "hub_unreachable": {"en": " and the hub could not be reached ({error})", "zh": "，而且连不上 Hub（{error}）"},
    "hub_not_found": {"en": " nor on the hub", "zh": "，Hub 上也没有"},
    "hint_unknown": {"en": "Or pass a local model directory with --model /path/to/model.",
                     "zh": "也可以用 --model /path/to/model 指定本地模型目录。"},
    "hint_unknown_close": {"en": "Did you mean: {close}? Or pass a local model directory with --model /path/to/model.",
                           "zh": "你是不是想写：{close}？也可以用 --model /path/to/model 指定本地模型目录。"},
    "no_formula": {"en": "model_type '{model_type}' has no closed-form parameter count.",
                   "zh": "model_type '{model_type}' 没有参数量的解析公式。"},
    "layer_range": {"en": "layer index {index} is outside 0..{last}.", "zh": "层号 {index} 不在 0..{last} 范围内。"},
    "lora_target_empty": {"en": "must name at least one module, or 'all'.", "zh": "至少要写一个模块名，或写 'all'。"},
    "lora_rank": {"en": "must be a positive integer, got {value!r}.", "zh": "必须是正整数，当前为 {value!r}。"},
    "lora_target_unknown": {"en": "no module named {names} in {model_type} ({model}).",
                            "zh": "{model_type}（{model}）里没有名为 {names} 的模块。"},
    "hint_lora_targets": {"en": "Use 'all' or some of: {available}.", "zh": "请用 'all'，或从这些模块中选：{available}。"},
    "unknown_model_type": {"en": "transformers does not know model_type '{model_type}' ({error}).",
                           "zh": "transformers 不认识 model_type '{model_type}'（{error}）。"},
    "hint_unknown_model_type": {
        "en": "Upgrade transformers, or set `trust_remote_code: true` for custom code.",
        "zh": "请升级 transformers；如果是自定义代码，请设置 `trust_remote_code: true`。"},
    "cannot_build": {"en": "cannot build {model_type} as a causal LM ({error}).",
                     "zh": "无法把 {model_type} 构建为因果语言模型（{error}）。"},
    "hint_ships_code": {"en": "Set `trust_remote_code: true` if the model ships its own code.",
                        "zh": "如果模型自带代码，请设置 `trust_remote_code: true`。"},
}


class ModelText(Coded):
    """A model error's message or hint: English as ``str``, code and values for the TUI's other languages."""

    CATALOG = MESSAGES

# Families whose parameters we count from config fields. Each value says how the family departs from Llama.
#   bias:   which attention projections carry a bias ("config" = q,k,v,o when attention_bias, "qkv" = q,k,v always,
#           "qkv_config" = q,k,v when attention_bias, "none")
#   norms:  RMSNorms per decoder layer (Gemma 2/3 add pre/post feed-forward norms)
#   qk_norm: per-head RMSNorm on queries and keys (head_dim parameters each)
#   fused:  Phi-3 style qkv_proj / gate_up_proj
#   moe:    "" | "mixtral" (every layer sparse) | "qwen" (decoder_sparse_step / mlp_only_layers, optional shared expert)
#   tie:    default of tie_word_embeddings when config.json omits it (the transformers config class default)
_FAMILIES: dict[str, dict[str, Any]] = {
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
}
# Multimodal wrappers whose text decoder is one of the families above (config.json nests it under text_config).
_TEXT_WRAPPERS = {"gemma3": "gemma3_text"}

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
_BNB_SUFFIX_RE = re.compile(r"(-unsloth)?-bnb-(4|8)bit$", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------------------------
# Data classes
# ------------------------------------------------------------------------------------------------------------------

@dataclass
class ModelSpec:
    """Architecture facts about one causal LM, read from config.json or the built-in catalog.

    ``source`` says where the facts came from: "local" (a directory), "hf-cache", "hub" (config.json fetched),
    "catalog". ``param_method`` says how :func:`count_params` counts: "formula" (from these fields, exact for the
    families in ``_FAMILIES``) or "meta-device" (instantiating the architecture on PyTorch's meta device).
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
    trust_remote_code: bool = False
    param_method: str = "formula"
    raw_config: dict | None = field(default=None, repr=False, compare=False)

    @property
    def is_moe(self) -> bool:
        """True when some decoder layers route tokens to experts."""
        return self.num_experts > 0


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


def _as_int(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelError(ModelText("not_non_negative", key=key, value=value), file=where,
                         hint=ModelText("hint_fix_config"))
    return value


def _text_part(cfg: dict) -> dict:
    """The decoder's config: ``text_config`` merged over the wrapper's top-level keys for multimodal wrappers."""
    text = cfg.get("text_config")
    if not isinstance(text, dict):
        return cfg
    merged = {k: v for k, v in cfg.items() if k not in ("text_config", "vision_config", "audio_config")}
    merged.update(text)
    wrapper_type = cfg.get("model_type")
    merged["model_type"] = text.get("model_type") or _TEXT_WRAPPERS.get(wrapper_type, wrapper_type)
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
    if model_type in _FAMILIES or not cfg.get("auto_map") or trust_remote_code:
        return
    missing = [k for k in (*_REQUIRED, "intermediate_size") if _first(text, k) is None]
    if missing or not _transformers_knows(model_type):
        raise ModelError(ModelText("custom_code", model_type=model_type or "?"), file=where,
                         hint=ModelText("hint_trust_code"))


def _attention_dims(text: dict, where: str) -> tuple[int, int, int, int, int]:
    """(hidden_size, layers, heads, kv_heads, head_dim) with the usual defaults: n_kv = n_q, d = h / n_q."""
    missing = [k for k in _REQUIRED if _first(text, k) is None]
    if missing:
        raise ModelError(ModelText("lacks_fields", missing=", ".join(missing)), file=where,
                         hint=ModelText("hint_causal_lm_dir"))
    h = _opt_int(text, "hidden_size", where)
    layers = _opt_int(text, "num_hidden_layers", where)
    heads = _opt_int(text, "num_attention_heads", where)
    if heads == 0 or h == 0 or layers == 0:
        raise ModelError(ModelText("dims_positive"), file=where)
    kv = _opt_int(text, "num_key_value_heads", where, default=heads)
    if text.get("head_dim") is None and h % heads:
        raise ModelError(ModelText("head_dim_missing", h=h, heads=heads), file=where)
    head_dim = _opt_int(text, "head_dim", where, default=h // heads)
    return h, layers, heads, kv, head_dim


def _attention_bias(text: dict, model_type: str) -> bool:
    if model_type == "qwen2":
        return True                                   # Qwen2Attention: q/k/v always carry a bias
    if model_type == "qwen2_moe":
        return bool(text.get("qkv_bias", True))
    return bool(text.get("attention_bias", False))


def spec_from_config(cfg: dict, *, name: str, source: str, where: str, local_path: str | None = None,
                     trust_remote_code: bool = False) -> ModelSpec:
    """Build a :class:`ModelSpec` from a parsed config.json (``where`` names the file for error messages)."""
    if not isinstance(cfg, dict):
        raise ModelError(ModelText("config_not_object"), file=where)
    text = _text_part(cfg)
    model_type = str(text.get("model_type") or "")
    family = _FAMILIES.get(model_type)
    _check_custom_code(text, model_type, cfg, where, trust_remote_code)
    h, layers, heads, kv, head_dim = _attention_dims(text, where)
    inter = _opt_int(text, "intermediate_size", where, default=4 * h)
    experts = _opt_int(text, "num_experts", where)
    mlp_only = text.get("mlp_only_layers") or []
    if not isinstance(mlp_only, list) or not all(isinstance(i, int) for i in mlp_only):
        raise ModelError(ModelText("mlp_only_layers", value=mlp_only), file=where)
    dtype = text.get("torch_dtype") or text.get("dtype") or cfg.get("torch_dtype") or cfg.get("dtype")
    sliding = text.get("sliding_window")
    return ModelSpec(
        name=name, model_type=model_type, architectures=list(cfg.get("architectures") or []),
        hidden_size=h, num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
        head_dim=head_dim, intermediate_size=inter, vocab_size=_opt_int(text, "vocab_size", where),
        tie_word_embeddings=bool(text.get("tie_word_embeddings", family["tie"] if family else True)),
        max_position_embeddings=_opt_int(text, "max_position_embeddings", where),
        num_experts=experts, num_experts_per_tok=_opt_int(text, "num_experts_per_tok", where),
        moe_intermediate_size=_opt_int(text, "moe_intermediate_size", where, default=inter if experts else 0),
        shared_expert_intermediate_size=_opt_int(text, "shared_expert_intermediate_size", where),
        first_k_dense=_opt_int(text, "first_k_dense_replace", where),
        decoder_sparse_step=_opt_int(text, "decoder_sparse_step", where, default=1) or 1,
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
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except ImportError:
        return False
    return model_type in CONFIG_MAPPING_NAMES


# ------------------------------------------------------------------------------------------------------------------
# Local directories: config.json, tokenizer files, safetensors headers
# ------------------------------------------------------------------------------------------------------------------

def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(ModelText("cannot_read", error=str(exc.strerror or exc)), file=str(path)) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise ModelError(ModelText("not_json", error=str(exc)), file=str(path), line=line,
                         hint=ModelText("hint_redownload")) from exc


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of one .safetensors file (8-byte little-endian length, then that many bytes of JSON).

    Only the header is read, never the tensor data. Format: huggingface.co/docs/safetensors "Metadata Parsing".
    """
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise ModelError(ModelText("st_too_short"), file=str(path))
            (length,) = struct.unpack("<Q", prefix)
            if length > 100_000_000:
                raise ModelError(ModelText("st_header_length", length=length), file=str(path))
            raw = fh.read(length)
    except OSError as exc:
        raise ModelError(ModelText("cannot_read", error=str(exc.strerror or exc)), file=str(path)) from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(ModelText("st_header_json", error=str(exc)), file=str(path)) from exc
    if not isinstance(header, dict):
        raise ModelError(ModelText("st_header_object"), file=str(path))
    return header


def _quant_from_tensor_names(names: list[str], int8_names: set[str]) -> str | None:
    """Detect a pre-quantized bitsandbytes checkpoint from its tensor names (bnb saves its quant state beside)."""
    if any(n.endswith((".absmax", ".quant_map")) or ".quant_state.bitsandbytes__" in n for n in names):
        return "bnb-4bit"
    if any(n.endswith(".SCB") for n in names) and int8_names:
        return "bnb-8bit"
    return None


def _safetensors_facts(folder: Path) -> tuple[int | None, int | None, str | None]:
    """(tensor bytes, stored elements, bnb quantization) from the safetensors headers under ``folder``.

    Sharded checkpoints are read through ``model.safetensors.index.json``; when some shards are absent (a partial
    download) the index's ``metadata.total_size`` gives the bytes and its ``weight_map`` the tensor names.
    """
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        index = _read_json(index_path)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict):
            raise ModelError(ModelText("no_weight_map"), file=str(index_path))
        shards = sorted({folder / str(s) for s in weight_map.values()})
        if not all(s.is_file() for s in shards):
            total = (index.get("metadata") or {}).get("total_size")
            quant = _quant_from_tensor_names(list(weight_map), set())
            return (int(total) if isinstance(total, (int, float)) else None), None, quant
    else:
        shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        return None, None, None
    nbytes = elements = 0
    names: list[str] = []
    int8: set[str] = set()
    for shard in shards:
        for tname, info in read_safetensors_header(shard).items():
            if tname == "__metadata__":
                continue
            try:
                begin, end = info["data_offsets"]
                nbytes += int(end) - int(begin)
                count = 1
                for dim in info["shape"]:
                    count *= int(dim)
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelError(ModelText("st_tensor_entry", name=tname, error=repr(exc)), file=str(shard),
                                 hint=ModelText("hint_corrupt")) from exc
            elements += count
            names.append(tname)
            if info.get("dtype") == "I8":
                int8.add(tname)
    return nbytes, elements, _quant_from_tensor_names(names, int8)


def _has_chat_template(folder: Path) -> bool | None:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    tok = folder / "tokenizer_config.json"
    if not tok.is_file():
        return None
    try:
        data = json.loads(tok.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return bool(isinstance(data, dict) and data.get("chat_template"))


def _spec_from_folder(folder: Path, *, name: str, source: str, trust_remote_code: bool) -> ModelSpec:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelError(ModelText("no_config_json", folder=folder), file=str(folder),
                         hint=ModelText("hint_model_dir"))
    cfg = _read_json(config_path)
    spec = spec_from_config(cfg, name=name, source=source, where=str(config_path), local_path=str(folder),
                            trust_remote_code=trust_remote_code)
    nbytes, elements, quant = _safetensors_facts(folder)
    spec.weight_bytes_on_disk, spec.params_on_disk = nbytes, elements
    if quant and (spec.quantized_checkpoint is None or spec.quantized_checkpoint.startswith("bnb")):
        spec.quantized_checkpoint = quant
    spec.has_chat_template = _has_chat_template(folder)
    if spec.is_instruct is None:
        spec.is_instruct = instruct_from_name(folder.name)
    return spec


# ------------------------------------------------------------------------------------------------------------------
# Hugging Face hub cache (offline) and the hub (config.json only)
# ------------------------------------------------------------------------------------------------------------------

def hf_hub_cache_dir() -> Path:
    """The hub cache folder: HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME or ~/.cache, /huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _cached_snapshot(repo_id: str) -> Path | None:
    """The snapshot folder of ``repo_id`` in the hub cache that holds a config.json (refs/main first)."""
    cache = hf_hub_cache_dir()
    if not cache.is_dir() or repo_id.count("/") > 1:
        return None
    folder_name = "models--" + repo_id.replace("/", "--")
    repo_dir = cache / folder_name
    if not repo_dir.is_dir():  # repo ids are case-insensitive on the hub, not on disk
        wanted = folder_name.lower()
        repo_dir = next((p for p in cache.iterdir() if p.name.lower() == wanted), None)
        if repo_dir is None:
            return None
    snapshots = repo_dir / "snapshots"
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        snap = snapshots / ref.read_text(encoding="utf-8").strip()
        if (snap / "config.json").is_file():
            return snap
    candidates = [p for p in snapshots.glob("*") if (p / "config.json").is_file()] if snapshots.is_dir() else []
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def _network_allowed(allow_network: bool | None) -> bool:
    offline = any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
                  for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    if offline:
        return False
    return True if allow_network is None else bool(allow_network)


class _HubUnreachable(Exception):
    """The hub could not be asked (network error); carries the reason for the final message."""


def _fetch_hub_config(repo_id: str, trust_remote_code: bool) -> ModelSpec | None:
    """config.json from the hub (into the normal hub cache), never weights. None when the repo does not exist."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError
    except ImportError:
        return None
    try:
        path = Path(hf_hub_download(repo_id=repo_id, filename="config.json", etag_timeout=5))
    except GatedRepoError as exc:
        raise ModelError(ModelText("gated", repo=repo_id), hint=ModelText("hint_gated")) from exc
    except (RepositoryNotFoundError, EntryNotFoundError):
        return None
    except Exception as exc:  # no network, timeouts, proxies: the caller reports the id as unresolved
        raise _HubUnreachable(f"{type(exc).__name__}: {exc}") from exc
    cfg = _read_json(path)
    spec = spec_from_config(cfg, name=repo_id, source="hub", where=f"{repo_id}/config.json",
                            local_path=str(path.parent), trust_remote_code=trust_remote_code)
    return spec


# ------------------------------------------------------------------------------------------------------------------
# The built-in catalog
# ------------------------------------------------------------------------------------------------------------------

def _norm(name: str) -> str:
    return name.strip().strip("/").lower()


@lru_cache(maxsize=1)
def _catalog() -> tuple[list[dict], dict[str, tuple[dict, str]]]:
    """(entries with resolved configs, index: lower-cased id/alias/bare name -> (entry, the spelled name))."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(CATALOG_PATH.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(ModelText("catalog_unreadable", error=str(exc)), file=str(CATALOG_PATH)) from exc
    entries: list[dict] = []
    by_id: dict[str, dict] = {}
    for raw in data["models"]:
        entry = dict(raw)
        config = dict(by_id[entry["like"]]["config"]) if entry.get("like") else {}
        config.update(entry.get("config") or {})
        entry["config"] = config
        by_id[entry["id"]] = entry
        entries.append(entry)
    index: dict[str, tuple[dict, str]] = {}
    for entry in entries:  # full ids first so they win over bare names of other entries
        for spelled in (entry["id"], *entry.get("aliases", [])):
            index.setdefault(_norm(spelled), (entry, spelled))
    for entry in entries:
        for spelled in (entry["id"], *entry.get("aliases", [])):
            index.setdefault(_norm(spelled).split("/")[-1], (entry, spelled))
    return entries, index


def catalog_names() -> list[str]:
    """Hub ids of every catalog model, in catalog order (for TUI suggestions)."""
    return [e["id"] for e in _catalog()[0]]


def catalog_entry(name: str) -> dict | None:
    """The catalog entry matching ``name`` (case-insensitive, with or without org, aliases), or None."""
    hit = _catalog_lookup(name)
    return hit[0] if hit else None


def _catalog_lookup(name: str) -> tuple[dict, str] | None:
    _, index = _catalog()
    key = _norm(name)
    return index.get(key) or index.get(key.split("/")[-1])


def close_catalog_matches(name: str, n: int = 5) -> list[str]:
    """Catalog ids whose id or alias resembles ``name``."""
    _, index = _catalog()
    bare = _norm(name).split("/")[-1]
    keys = difflib.get_close_matches(bare, [k for k in index if "/" not in k], n=n * 3, cutoff=0.6)
    keys += [k for k in index if "/" not in k and bare and bare in k]
    out: list[str] = []
    for key in keys:
        cid = index[key][0]["id"]
        if cid not in out:
            out.append(cid)
    return out[:n]


def _spec_from_catalog(name: str) -> ModelSpec | None:
    quant = None
    lookup_name = name
    m = _BNB_SUFFIX_RE.search(name.strip())
    if m:  # e.g. unsloth/Llama-3.2-1B-Instruct-bnb-4bit: same architecture, pre-quantized weights
        quant = f"bnb-{m.group(2)}bit"
        lookup_name = name.strip()[: m.start()]
    hit = _catalog_lookup(lookup_name)
    if hit is None:
        return None
    entry, _ = hit
    spec = spec_from_config(copy.deepcopy(entry["config"]), name=name, source="catalog",
                            where=f"{CATALOG_PATH} ({entry['id']})")
    by_name = instruct_from_name(lookup_name)
    spec.is_instruct = by_name if by_name is not None else entry.get("is_instruct")
    spec.catalog_id = entry["id"]
    spec.published_params = entry.get("published_params")
    spec.extra_params = int(entry.get("extra_params") or 0)
    spec.quantized_checkpoint = quant
    return spec


# ------------------------------------------------------------------------------------------------------------------
# inspect_model
# ------------------------------------------------------------------------------------------------------------------

def _looks_like_path(name: str) -> bool:
    return (name.startswith(("/", "./", "../", "~", ".\\")) or name in (".", "..")
            or name.count("/") > 1 or "\\" in name)


def _try_hub(name: str, trust_remote_code: bool, allow_network: bool | None) -> tuple[ModelSpec | None, str]:
    """The hub's config.json for ``name`` when allowed, else None and why (for the "unknown model" message)."""
    if not _network_allowed(allow_network):
        return None, ModelText("hub_offline")
    if name.count("/") > 1:
        return None, ModelText("hub_id_form")
    try:
        spec = _fetch_hub_config(name, trust_remote_code)
    except _HubUnreachable as exc:
        return None, ModelText("hub_unreachable", error=str(exc))
    return spec, ModelText("hub_not_found")


def inspect_model(name_or_path: str, *, trust_remote_code: bool = False, allow_network: bool | None = None,
                  base_dir: Path | None = None) -> ModelSpec:
    """Resolve a model id or path to a :class:`ModelSpec`, reading only configs and file headers.

    Order: a local directory (relative to ``base_dir`` when given), the HF hub cache (offline), the built-in
    catalog, then the hub's config.json when the network is allowed (``allow_network`` None = allowed unless
    HF_HUB_OFFLINE is set). Raises :class:`ModelError` when nothing matches or a config is unreadable.
    """
    name = str(name_or_path or "").strip()
    if not name:
        raise ModelError(ModelText("no_model"), key="model_name_or_path", hint=ModelText("hint_no_model"))
    candidate = Path(name).expanduser()
    if base_dir is not None and not candidate.is_absolute():
        candidate = Path(base_dir) / candidate
    if candidate.is_file() and candidate.name == "config.json":
        candidate = candidate.parent
    if candidate.is_dir():
        return _spec_from_folder(candidate, name=name, source="local", trust_remote_code=trust_remote_code)
    if _looks_like_path(name):
        raise ModelError(ModelText("path_missing", path=candidate), key="model_name_or_path",
                         hint=ModelText("hint_path_missing"))
    snapshot = _cached_snapshot(name)
    if snapshot is not None:
        return _spec_from_folder(snapshot, name=name, source="hf-cache", trust_remote_code=trust_remote_code)
    spec = _spec_from_catalog(name)
    if spec is not None:
        return spec
    spec, hub_note = _try_hub(name, trust_remote_code, allow_network)
    if spec is not None:
        return spec
    close = close_catalog_matches(name)
    raise ModelError(ModelText("unknown_model", name=name, cache=hf_hub_cache_dir(), hub=hub_note),
                     key="model_name_or_path",
                     hint=ModelText("hint_unknown_close", close=", ".join(close)) if close
                     else ModelText("hint_unknown"))


# ------------------------------------------------------------------------------------------------------------------
# Exact counts from config fields (memory-model.md section 4.2)
# ------------------------------------------------------------------------------------------------------------------

def _family(spec: ModelSpec) -> dict[str, Any] | None:
    return _FAMILIES.get(spec.model_type) if spec.param_method == "formula" else None


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


def _layer(spec: ModelSpec, i: int) -> _Layer:
    fam = _family(spec)
    if fam is None:
        raise ModelError(ModelText("no_formula", model_type=spec.model_type))
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
        router = spec.num_experts * h                 # router weight (E, h), no bias
        f_s = spec.shared_expert_intermediate_size
        if f_s:
            lin["gate_proj"] = (h, f_s, False, "mlp")     # mlp.shared_expert.*
            lin["up_proj"] = (h, f_s, False, "mlp")
            lin["down_proj"] = (f_s, h, False, "mlp")
            lin["shared_expert_gate"] = (h, 1, False, "mlp")
    elif fam["fused"]:
        lin["gate_up_proj"] = (h, 2 * spec.intermediate_size, spec.mlp_bias, "mlp")
        lin["down_proj"] = (spec.intermediate_size, h, spec.mlp_bias, "mlp")
    else:
        f = spec.intermediate_size
        lin["gate_proj"] = (h, f, spec.mlp_bias, "mlp")
        lin["up_proj"] = (h, f, spec.mlp_bias, "mlp")
        lin["down_proj"] = (f, h, spec.mlp_bias, "mlp")
    norms = fam["norms"] * h + (2 * d if fam["qk_norm"] else 0)
    return _Layer(lin, norms, experts, router)


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
            else:
                mlp += size
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
        raise ModelError(ModelText("layer_range", index=index, last=n - 1))
    if _family(spec) is None:
        return _meta_model(spec).layer_totals[i]
    layer = _layer(spec, i)
    lin = sum(a * b + (b if bias else 0) for a, b, bias, _ in layer.linears.values())
    return lin + layer.norms + layer.experts + layer.router


def _parse_targets(targets: list[str] | str) -> list[str]:
    if isinstance(targets, str):
        targets = targets.split(",")
    out = [t.strip() for t in targets if t and t.strip()]
    if not out:
        raise ConfigError(ModelText("lora_target_empty"), key="lora_target")
    return out


def _matches(module: str, target: str) -> bool:
    """PEFT's rule for a target name: the module's name equals it or ends with '.' + it."""
    return module == target or module.endswith("." + target)


def lora_trainable_params(spec: ModelSpec, targets: list[str] | str, rank: int) -> int:
    """LoRA adapter parameters: sum over targeted Linear(d_in -> d_out) of ``rank * (d_in + d_out)``.

    ``targets`` is a list or comma-separated string of module names (q_proj, v_proj, ...) or "all" (every nn.Linear
    in the decoder layers, not lm_head: PEFT's "all-linear"). ``lm_head`` and ``embed_tokens`` may be named
    explicitly. A name that matches no module raises ConfigError listing the available ones.
    Checks (memory-model.md 2.5): Llama-2-7B r=8 q,v = 4,194,304; Llama-3-8B r=16 all = 41,943,040.
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
        raise ConfigError(ModelText("lora_rank", value=rank), key="lora_rank")
    names = _parse_targets(targets)
    want_all = any(t.lower() in ("all", "all-linear") for t in names)
    names = [t for t in names if t.lower() not in ("all", "all-linear")]
    layers = _layers_linears(spec)
    modules = {m for layer in layers for m in layer}
    extra = {"lm_head": (spec.hidden_size, spec.vocab_size), "embed_tokens": (spec.vocab_size, spec.hidden_size)}
    unknown = [t for t in names if t not in extra and not any(_matches(m, t) for m in modules)]
    if unknown:
        available = sorted({m.split(".")[-1] for m in modules})
        raise ConfigError(ModelText("lora_target_unknown", names=", ".join(unknown), model_type=spec.model_type,
                                    model=spec.name),
                          key="lora_target", hint=ModelText("hint_lora_targets", available=", ".join(available)))
    total = 0
    for layer in layers:
        for module, (d_in, d_out) in layer.items():
            if want_all or any(_matches(module, t) for t in names):
                total += rank * (d_in + d_out)
    for module, (d_in, d_out) in extra.items():
        if module in names:
            total += rank * (d_in + d_out)
    return total


def _layers_linears(spec: ModelSpec) -> list[dict[str, tuple[int, int]]]:
    """nn.Linear modules of every decoder layer: name (relative to the layer) -> (d_in, d_out)."""
    if _family(spec) is None:
        return _meta_model(spec).layer_linears
    return [{n: (a, b) for n, (a, b, _, _) in _layer(spec, i).linears.items()}
            for i in range(spec.num_hidden_layers)]


# ------------------------------------------------------------------------------------------------------------------
# Meta-device counting (other architectures): torch + transformers imported here only
# ------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _MetaModel:
    """What a meta-device instantiation tells: counts, and per decoder layer its linears and parameter total."""

    counts: ParamCounts
    layer_linears: list[dict[str, tuple[int, int]]]
    layer_totals: list[int]


_META_CACHE: dict[str, _MetaModel] = {}


def _hf_config(spec: ModelSpec):
    from transformers import AutoConfig

    if spec.local_path and (Path(spec.local_path) / "config.json").is_file():
        return AutoConfig.from_pretrained(spec.local_path, trust_remote_code=spec.trust_remote_code)
    raw = dict(spec.raw_config or {})
    model_type = raw.pop("model_type", spec.model_type)
    try:
        return AutoConfig.for_model(model_type, **raw)
    except (ValueError, KeyError) as exc:
        raise ModelError(ModelText("unknown_model_type", model_type=model_type, error=str(exc)),
                         hint=ModelText("hint_unknown_model_type")) from exc


def count_params_meta(spec: ModelSpec) -> ParamCounts:
    """Counts by instantiating ``AutoModelForCausalLM.from_config`` on the meta device (no memory, no weights).

    Tied parameters are counted once (``model.parameters()`` deduplicates). Linear layers include transformers'
    Conv1D (GPT-2 style), which bitsandbytes also quantizes. Results are cached per config.
    """
    return _meta_model(spec).counts


def _meta_model(spec: ModelSpec) -> _MetaModel:
    key = json.dumps([spec.local_path, spec.raw_config, spec.trust_remote_code], sort_keys=True, default=str)
    if key not in _META_CACHE:
        import torch
        from transformers import AutoModelForCausalLM

        config = _hf_config(spec)
        try:
            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(config, trust_remote_code=spec.trust_remote_code)
        except ValueError as exc:
            raise ModelError(ModelText("cannot_build", model_type=spec.model_type, error=str(exc)),
                             hint=ModelText("hint_ships_code")) from exc
        _META_CACHE[key] = _classify_meta_model(model, spec.num_hidden_layers)
    return _META_CACHE[key]


def _find_layers(model, n_layers: int):
    import torch.nn as nn

    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers and n_layers > 0:
            return name, module
    return None, None


def _bucket(pname: str, module, is_output: bool, in_layers: bool) -> str:
    """Which ParamCounts component a parameter of ``module`` belongs to (names as transformers spells them)."""
    import torch.nn as nn

    lname = pname.lower()
    kind = type(module).__name__.lower()
    if is_output and not isinstance(module, nn.Embedding):
        return "lm_head"
    if isinstance(module, nn.Embedding):
        return "embed"
    if "norm" in kind:
        return "norms"
    if ".experts." in lname or "experts" in kind:
        return "experts"
    if "router" in lname or "router" in kind or (in_layers and lname.endswith("gate.weight")
                                                  and not _is_linear(module)):
        return "router"
    if in_layers and _is_linear(module):
        return "attention" if ("attn" in lname or "attention" in lname) else "mlp"
    return "other"


def _classify_meta_model(model, n_layers: int) -> _MetaModel:
    buckets = dict.fromkeys(("embed", "lm_head", "attention", "mlp", "experts", "router", "norms", "other"), 0)
    out_emb = model.get_output_embeddings()
    out_ids = {id(p) for p in out_emb.parameters()} if out_emb is not None else set()
    layers_name, layers = _find_layers(model, n_layers)
    owner = {f"{m}.{p}" if m else p: mod for m, mod in model.named_modules()
             for p, _ in mod.named_parameters(recurse=False)}
    linear = 0
    for pname, param in model.named_parameters():
        module = owner[pname]
        in_layers = layers_name is not None and pname.startswith(layers_name + ".")
        group = _bucket(pname, module, id(param) in out_ids, in_layers)
        buckets[group] += param.numel()
        if group in ("attention", "mlp") and pname.endswith("weight"):
            linear += param.numel()
    layer_linears: list[dict[str, tuple[int, int]]] = []
    layer_totals: list[int] = []
    for layer in (layers or []):
        layer_linears.append({name: _linear_dims(m) for name, m in layer.named_modules() if _is_linear(m)})
        layer_totals.append(sum(p.numel() for p in layer.parameters()))
    per_layer: dict[str, tuple[int, int]] = {}
    if layer_linears:
        rep = layer_linears[len(layer_linears) // 2]
        leaves = [n.split(".")[-1] for n in rep]
        per_layer = {(n.split(".")[-1] if leaves.count(n.split(".")[-1]) == 1 else n): d for n, d in rep.items()}
    counts = ParamCounts(**buckets, total=sum(buckets.values()), linear=linear, per_layer_linear=per_layer)
    return _MetaModel(counts, layer_linears, layer_totals)


def _is_linear(module) -> bool:
    import torch.nn as nn

    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def _linear_dims(module) -> tuple[int, int]:
    if type(module).__name__ == "Conv1D":   # weight is (d_in, d_out)
        d_in, d_out = module.weight.shape
        return int(d_in), int(d_out)
    return int(module.in_features), int(module.out_features)
