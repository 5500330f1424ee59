"""Meta-device counting, for architectures outside ``model_spec.FAMILIES``: the model is instantiated with
``AutoModelForCausalLM.from_config`` on PyTorch's meta device (no memory, no weights) and its parameters are
classified by component and decoder layer. :mod:`.params` turns the result into its counts.

torch and transformers are imported inside the functions only, never at module import time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .messages import Msg
from .model_spec import ModelSpec


@dataclass(frozen=True)
class MetaModel:
    """What a meta-device instantiation tells: parameters by component (``params.ParamCounts``' field names),
    decoder nn.Linear weight elements, one representative layer's linears, and per decoder layer its linears and
    parameter total."""

    buckets: dict[str, int]
    linear: int
    per_layer_linear: dict[str, tuple[int, int]]
    layer_linears: list[dict[str, tuple[int, int]]]
    layer_totals: list[int]


_META_CACHE: dict[str, MetaModel] = {}


def _hf_config(spec: ModelSpec):
    from transformers import AutoConfig

    raw = dict(spec.raw_config or {})
    model_type = raw.pop("model_type", spec.model_type)
    try:
        if spec.local_path and (Path(spec.local_path) / "config.json").is_file():
            return AutoConfig.from_pretrained(spec.local_path, trust_remote_code=spec.trust_remote_code)
        return AutoConfig.for_model(model_type, **raw)
    except (ValueError, KeyError) as exc:
        raise ModelError(Msg("unknown_model_type", model_type=model_type, error=str(exc)),
                         hint=Msg("hint_unknown_model_type")) from exc


def meta_model(spec: ModelSpec) -> MetaModel:
    """The meta-device instantiation of ``spec``'s architecture, cached per config (imports torch, transformers)."""
    key = json.dumps([spec.local_path, spec.raw_config, spec.trust_remote_code], sort_keys=True, default=str)
    if key not in _META_CACHE:
        import torch
        from transformers import AutoModelForCausalLM

        config = _hf_config(spec)
        try:
            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(config, trust_remote_code=spec.trust_remote_code)
        except ValueError as exc:
            raise ModelError(Msg("cannot_build", model_type=spec.model_type, error=str(exc)),
                             hint=Msg("hint_ships_code")) from exc
        _META_CACHE[key] = _classify_meta_model(model, spec.num_hidden_layers)
    return _META_CACHE[key]


def _find_layers(model, n_layers: int):
    import torch.nn as nn

    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers and n_layers > 0:
            return name, module
    return None, None


def _bucket(pname: str, module, is_output: bool, in_layers: bool) -> str:
    """Which ``ParamCounts`` component a parameter of ``module`` belongs to (names as transformers spells them)."""
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


def _classify_meta_model(model, n_layers: int) -> MetaModel:
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
    return MetaModel(buckets, linear, per_layer, layer_linears, layer_totals)


def _is_linear(module) -> bool:
    import torch.nn as nn

    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def _linear_dims(module) -> tuple[int, int]:
    if type(module).__name__ == "Conv1D":   # weight is (d_in, d_out)
        d_in, d_out = module.weight.shape
        return int(d_in), int(d_out)
    return int(module.in_features), int(module.out_features)
