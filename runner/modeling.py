"""Build the tokenizer and the model for a run from its :class:`~ft_tui.planner.config.TrainConfig`.

Precision and placement (the planner's memory model, ``planner/memory.py``, assumes exactly this, and it is also
what LLaMA-Factory does):

- **lora**: the base model is loaded in the compute dtype (bf16 with ``bf16: true``, fp16 with ``fp16: true``,
  else fp32) and frozen; the LoRA adapters are fp32 (peft's default ``autocast_adapter_dtype=True``).
- **qlora** (lora + ``quantization_bit`` 4 or 8): bitsandbytes ``BitsAndBytesConfig`` (nf4/fp4 per
  ``quantization_type``, double quantization per ``double_quantization``, compute dtype as above); every weight
  bitsandbytes does not quantize (embeddings, norms, ``lm_head``, an MoE model's fused experts) stays in the compute
  dtype, as in plain LoRA and as LLaMA-Factory leaves it. ``peft.prepare_model_for_kbit_training`` is not used: it
  upcasts all of them to fp32, which costs ~2 GiB more on a 7-8B model with a 128k-152k vocabulary (and doubles
  the unquantized experts of an MoE model) for no gain with bf16 compute; the adapters are fp32.
- **full**: every weight is trainable and kept in fp32; bf16/fp16 apply as AMP autocast in the Trainer.
- **freeze**: the trainable decoder layers are fp32, everything else stays in the compute dtype and frozen.
  ``freeze_trainable_layers: n`` trains the last ``n`` layers, a negative ``n`` the first ``|n|``.

Gradient checkpointing (non-reentrant) is on unless ``disable_gradient_checkpointing``. The attention kernel comes
from ``flash_attn``: auto -> transformers' default (sdpa where the architecture supports it, else eager: Gemma 2),
disabled -> eager, sdpa -> sdpa, fa2 -> flash_attention_2 (needs the ``flash_attn`` package). RoPE scaling
(``rope_scaling``) stretches the context by ``cutoff_len / max_position_embeddings`` when the cutoff is longer than
the model's context.

torch, transformers and peft are imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

from ft_tui.planner.config import TrainConfig
from ft_tui.planner.errors import ConfigError, InputError, ModelError
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import is_local_model_ref

log = logging.getLogger(__name__)

#: Written next to the final adapter/model (and into exports): which chat template the data was encoded with.
TEMPLATE_FILE = "ft_tui_template.json"

#: ``flash_attn`` -> transformers' ``attn_implementation``; ``auto`` (None) lets transformers choose: sdpa where the
#: architecture supports it, else eager (Gemma 2: sdpa cannot soft-cap the attention scores).
ATTN_IMPLEMENTATIONS = {"auto": None, "disabled": "eager", "sdpa": "sdpa", "fa2": "flash_attention_2"}


# ---------------------------------------------------------------------------------------------------- paths

def model_path(cfg: TrainConfig) -> str:
    """The model reference to load: a local folder (resolved against the config's folder) or a hub id."""
    ref = (cfg.model_name_or_path or "").strip()
    if not ref:
        raise ConfigError(Msg("model_none_given"), key="model_name_or_path", hint=Msg("hint_model_none_given"))
    local = cfg.resolve_path(ref)
    if local.exists():
        if not local.is_dir():
            raise ModelError(Msg("model_path_is_file", path=str(local)), key="model_name_or_path",
                             hint=Msg("hint_model_folder_config"))
        return str(local)
    if is_local_model_ref(ref, cfg.base_dir):  # cannot be a hub id, so a path, and it does not exist
        raise ModelError(Msg("model_folder_missing", path=str(local)), key="model_name_or_path",
                         hint=Msg("hint_model_path_or_id"))
    return ref


def _load_error(path: str, what: Msg, exc: BaseException) -> ModelError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelError(Msg("model_load_failed", what=what, path=path, error=first), key="model_name_or_path",
                      hint=Msg("hint_model_load_failed"))


# ---------------------------------------------------------------------------------------------------- tokenizer

def load_tokenizer(cfg: TrainConfig) -> Any:
    """``AutoTokenizer`` for the run's model; the pad token falls back to eos when the tokenizer has none.

    ``trust_remote_code`` is passed only as the config says (default false).
    """
    from transformers import AutoTokenizer

    path = model_path(cfg)
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError, json.JSONDecodeError, KeyError) as exc:
        raise _load_error(path, Msg("what_tokenizer"), exc) from None
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ModelError(Msg("tokenizer_no_pad_eos", path=path), key="model_name_or_path",
                             hint=Msg("hint_tokenizer_pad"))
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


# ---------------------------------------------------------------------------------------------------- model

def compute_dtype(cfg: TrainConfig) -> Any:
    """The dtype the model computes in: bf16 or fp16 as configured, else fp32."""
    import torch

    if cfg.bf16:
        return torch.bfloat16
    if cfg.fp16:
        return torch.float16
    return torch.float32


def load_dtype(cfg: TrainConfig, *, for_training: bool = True) -> Any:
    """The dtype the weights are loaded in: fp32 for full fine-tuning (the AMP master weights), else the compute
    dtype (freeze tuning upcasts its trained layers afterwards)."""
    import torch

    return torch.float32 if (cfg.finetuning_type == "full" and for_training) else compute_dtype(cfg)


def attn_implementation(cfg: TrainConfig) -> str | None:
    """The ``attn_implementation`` to load with (None: transformers' default for the architecture)."""
    impl = ATTN_IMPLEMENTATIONS[cfg.flash_attn]
    if impl == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise ConfigError(Msg("fa2_missing"), key="flash_attn", hint=Msg("hint_fa2_missing"))
    return impl


def fsdp_enabled() -> bool:
    """Whether this process runs under FSDP (``accelerate launch`` with an FSDP config sets ACCELERATE_USE_FSDP)."""
    import os

    return os.environ.get("ACCELERATE_USE_FSDP", "").strip().lower() in ("1", "true", "yes")


def quantization_config(cfg: TrainConfig) -> Any:
    """A ``BitsAndBytesConfig`` for ``quantization_bit`` 4 or 8, else None.

    Under FSDP (FSDP-QLoRA) the 4-bit weights are packed into the compute dtype (``bnb_4bit_quant_storage``) so
    FSDP can flatten and shard them with the model's other weights, as the bitsandbytes and peft FSDP-QLoRA guides
    prescribe; 8-bit weights cannot be sharded that way."""
    if cfg.quantization_bit is None:
        return None
    from transformers import BitsAndBytesConfig

    if cfg.quantization_bit == 8:
        if fsdp_enabled():
            raise ConfigError(Msg("fsdp_8bit"), key="quantization_bit", hint=Msg("hint_fsdp_8bit"))
        return BitsAndBytesConfig(load_in_8bit=True)
    extra = {"bnb_4bit_quant_storage": compute_dtype(cfg)} if fsdp_enabled() else {}
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=cfg.quantization_type,
        bnb_4bit_use_double_quant=cfg.double_quantization, bnb_4bit_compute_dtype=compute_dtype(cfg), **extra,
    )


def apply_rope_scaling(cfg: TrainConfig, config: Any) -> str | None:
    """Set RoPE scaling on a model config when asked and needed; returns a note for the start event.

    factor = cutoff_len / max_position_embeddings (rounded up to 2 decimals), as LLaMA-Factory does.
    """
    if cfg.rope_scaling is None:
        return None
    current = getattr(config, "max_position_embeddings", None)
    if not current:
        log.warning("rope_scaling is set but the model config has no max_position_embeddings; ignoring it")
        return "ignored: the model config has no max_position_embeddings"
    if cfg.cutoff_len <= current:
        log.warning("rope_scaling: %s is not needed: cutoff_len %d fits the model's context of %d tokens",
                    cfg.rope_scaling, cfg.cutoff_len, current)
        return f"not needed: cutoff_len {cfg.cutoff_len} <= {current}"
    factor = math.ceil(cfg.cutoff_len / current * 100) / 100
    params = dict(getattr(config, "rope_parameters", None) or {})
    params.update(rope_type=cfg.rope_scaling, factor=factor)
    if cfg.rope_scaling in ("yarn", "dynamic"):
        params["original_max_position_embeddings"] = current
    config.rope_parameters = params
    if cfg.rope_scaling == "yarn":
        config.max_position_embeddings = cfg.cutoff_len
    return f"{cfg.rope_scaling} x{factor}"


def linear_module_names(model: Any) -> list[str]:
    """The short names of the model's ``nn.Linear`` layers (bitsandbytes layers included), sorted."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules()
             if isinstance(mod, torch.nn.Linear) and name}
    return sorted(names)


def _lora_targets(cfg: TrainConfig, model: Any) -> str | list[str]:
    if [t.lower() for t in cfg.lora_targets] == ["all"]:
        return "all-linear"
    known = linear_module_names(model)
    unknown = [t for t in cfg.lora_targets if t not in known]
    if unknown:
        raise ConfigError(Msg("lora_no_linear", names=Msg.join(unknown, "list")), key="lora_target",
                          hint=Msg("hint_lora_linear", known=Msg.join(known, "list")))
    return list(cfg.lora_targets)


def decoder_layers(model: Any) -> Any:
    """The ``nn.ModuleList`` of decoder blocks (the one whose length is ``num_hidden_layers``)."""
    import torch

    n = getattr(model.config, "num_hidden_layers", None)
    best = None
    for _, mod in model.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and len(mod) > 0:
            if len(mod) == n:
                return mod
            if best is None or len(mod) > len(best):
                best = mod
    if best is None:
        raise ModelError(Msg("freeze_no_layers"), key="finetuning_type", hint=Msg("hint_freeze_no_layers"))
    return best


def _apply_freeze(cfg: TrainConfig, model: Any) -> list[int]:
    import torch

    layers = decoder_layers(model)
    n = cfg.freeze_trainable_layers
    if abs(n) > len(layers):
        raise ConfigError(Msg("freeze_too_many", n=n, layers=len(layers)), key="freeze_trainable_layers",
                          hint=Msg("hint_freeze_range", layers=len(layers)))
    chosen = list(range(len(layers) - n, len(layers))) if n > 0 else list(range(-n))
    for p in model.parameters():
        p.requires_grad_(False)
    for i in chosen:
        for p in layers[i].parameters():
            p.data = p.data.to(torch.float32)
            p.requires_grad_(True)
    return chosen


def count_params(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts; a packed 4-bit weight counts its unpacked elements."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        qs = getattr(p, "quant_state", None)
        if qs is not None and getattr(qs, "shape", None) is not None:
            n = math.prod(qs.shape)
        elif type(p).__name__ == "Params4bit":
            n *= 2
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def seed_everything(cfg: TrainConfig) -> None:
    """Seed python, numpy and torch from ``cfg.seed`` (as the Trainer does); ``full_determinism: true`` also turns
    on torch's deterministic algorithms (transformers' ``enable_full_determinism``). The same seed, the same run."""
    from transformers.trainer_utils import enable_full_determinism, set_seed

    if cfg.full_determinism:
        enable_full_determinism(cfg.seed)
    else:
        set_seed(cfg.seed)


def build_model(cfg: TrainConfig, *, for_training: bool = True, device_map: Any = None) -> tuple[Any, dict]:
    """Load the model as the config says and prepare it for training. Returns ``(model, info)``.

    ``info`` records what was done (method, dtypes, quantization, attention kernel, RoPE scaling, gradient
    checkpointing, trainable/total parameters, LoRA targets) and goes into the run's start event.
    ``for_training=False`` loads the plain base model (no adapters, no checkpointing) in eval mode.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    seed_everything(cfg)  # before anything random is drawn: the adapter's init, a model's missing weights
    path = model_path(cfg)
    dtype = compute_dtype(cfg)
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError, json.JSONDecodeError, KeyError) as exc:
        raise _load_error(path, Msg("what_model_config"), exc) from None
    rope_note = apply_rope_scaling(cfg, config)
    attn = attn_implementation(cfg)
    quant = quantization_config(cfg)
    weights_dtype = load_dtype(cfg, for_training=for_training)
    kwargs: dict[str, Any] = dict(config=config, dtype=weights_dtype, attn_implementation=attn,
                                  trust_remote_code=cfg.trust_remote_code)
    if quant is not None:
        kwargs["quantization_config"] = quant
        if device_map is None and not fsdp_enabled():  # under FSDP the launcher's sharding places the weights
            device_map = default_device_map()
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except ImportError as exc:
        raise InputError(Msg("attn_load_failed", path=path, attn=attn or "the default", error=str(exc)),
                         key="flash_attn", hint=Msg("hint_attn_load_failed")) from None
    except (OSError, ValueError, json.JSONDecodeError, KeyError) as exc:
        if attn == "sdpa" and "scaled_dot_product_attention" in str(exc):
            raise ConfigError(Msg("attn_sdpa_unsupported", arch=type(config).__name__.replace("Config", "")),
                              key="flash_attn", hint=Msg("hint_attn_sdpa_unsupported")) from None
        raise _load_error(path, Msg("what_model"), exc) from None

    info: dict[str, Any] = {
        "method": cfg.finetuning_type, "compute_dtype": _dtype_name(dtype), "load_dtype": _dtype_name(weights_dtype),
        "quantization": None, "attn_implementation": getattr(model.config, "_attn_implementation", None) or attn,
        "rope_scaling": rope_note,
        "gradient_checkpointing": False,
    }
    if quant is not None:
        info["quantization"] = (f"4bit-{cfg.quantization_type}" + ("-double" if cfg.double_quantization else "")
                                if cfg.quantization_bit == 4 else "8bit")
    if not for_training:
        model.eval()
        info["trainable_params"], info["total_params"] = count_params(model)
        return model, info

    model.config.use_cache = False
    with warnings.catch_warnings():  # transformers 5 renamed gradient_checkpointing* (peft uses the old names)
        warnings.filterwarnings("ignore", message=r".*deprecated and will be removed in v6.*", category=FutureWarning)
        model = _prepare_for_training(cfg, model, quant is not None, info)
    model.train()
    info["trainable_params"], info["total_params"] = count_params(model)
    return model, info


def _prepare_for_training(cfg: TrainConfig, model: Any, quantized: bool, info: dict[str, Any]) -> Any:
    """k-bit preparation, gradient checkpointing and the method (LoRA adapters, freeze, full)."""
    gc = cfg.gradient_checkpointing
    if quantized:  # k-bit preparation without peft's fp32 upcast of the unquantized weights (module docstring)
        for p in model.parameters():
            p.requires_grad_(False)
    if gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    info["gradient_checkpointing"] = gc

    if cfg.finetuning_type == "lora":
        from peft import LoraConfig, get_peft_model

        targets = _lora_targets(cfg, model)
        if gc:
            model.enable_input_require_grads()
        lora = LoraConfig(task_type="CAUSAL_LM", r=cfg.lora_rank, lora_alpha=cfg.effective_lora_alpha,
                          lora_dropout=cfg.lora_dropout, target_modules=targets, bias="none")
        model = get_peft_model(model, lora)
        resolved = getattr(model.peft_config["default"], "target_modules", None) or []
        info["lora_targets"] = sorted({str(t).rsplit(".", 1)[-1] for t in resolved})
        info["lora_rank"], info["lora_alpha"] = cfg.lora_rank, cfg.effective_lora_alpha
    elif cfg.finetuning_type == "freeze":
        info["trainable_layers"] = _apply_freeze(cfg, model)
        if gc:
            model.enable_input_require_grads()
    else:
        for p in model.parameters():
            p.requires_grad_(True)
    return model


def default_device_map() -> Any:
    """Where a quantized model goes: this process's GPU (its LOCAL_RANK under torchrun), else the CPU."""
    import os

    import torch

    if torch.cuda.is_available():
        return {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return {"": "cpu"}


def final_output_dir(run_dir: Path, method: str) -> Path:
    """Where the finished result goes: ``adapter/`` for LoRA, ``model/`` for full and freeze."""
    return Path(run_dir) / ("adapter" if method == "lora" else "model")
