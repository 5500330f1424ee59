"""What bitsandbytes quantizes in a Mixtral-style MoE model, checked against the planner's counts.

The planner's 4-bit memory for MoE models rests on one fact of the pinned stack (transformers 5, bitsandbytes):
only the decoder's ``nn.Linear`` layers are quantized, and the fused 3-D expert tensors stay in the load dtype (and
are upcast to fp32 by the k-bit preparation). That is why Mixtral-8x7B QLoRA needs far more than its 4-bit size.
This builds a tiny Mixtral through the runner's own ``build_model`` and compares what was quantized with
``count_params``; should a release start quantizing experts, this test says the planner must follow.
"""

from __future__ import annotations

from pathlib import Path

from ft_tui.planner.config import config_from_dict
from ft_tui.planner.models import inspect_model
from ft_tui.planner.params import count_params
from ft_tui.runner import modeling


def _tiny_mixtral(folder: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, MixtralConfig

    config = MixtralConfig(vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                           max_position_embeddings=256)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(str(folder))
    return folder


def test_4bit_quantizes_exactly_the_linears_the_planner_counts_and_not_the_experts(tmp_path: Path) -> None:
    import bitsandbytes as bnb
    import torch

    folder = _tiny_mixtral(tmp_path / "mixtral")
    counts = count_params(inspect_model(str(folder), allow_network=False))
    assert counts.experts > 0
    cfg = config_from_dict({"model_name_or_path": str(folder), "quantization_bit": 4, "lora_rank": 4})
    model, info = modeling.build_model(cfg)
    assert info["quantization"].startswith("4bit")

    quantized = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    assert quantized == counts.linear  # every decoder Linear, nothing else

    experts = {n: p for n, p in model.named_parameters() if ".experts." in n and "lora_" not in n}
    assert experts and all(p.dim() == 3 and p.dtype == torch.float32 for p in experts.values())
    assert sum(p.numel() for p in experts.values()) == counts.experts


def test_4bit_leaves_every_unquantized_weight_in_the_compute_dtype_as_the_planner_counts(tmp_path: Path) -> None:
    """No fp32 upcast of embeddings, norms, lm_head or experts (the runner skips peft's k-bit preparation): the
    resident bytes of everything bitsandbytes did not quantize are what ``weight_bytes`` charges for them."""
    import bitsandbytes as bnb
    import torch
    from ft_tui.planner import memory
    from ft_tui.planner.hardware import resolve_hardware

    folder = _tiny_mixtral(tmp_path / "mixtral")
    spec = inspect_model(str(folder), allow_network=False)
    counts = count_params(spec)
    cfg = config_from_dict({"model_name_or_path": str(folder), "quantization_bit": 4, "lora_rank": 4,
                            "bf16": True})
    model, _info = modeling.build_model(cfg)
    quantized = {id(m.weight) for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)}
    rest = [p for n, p in model.named_parameters() if id(p) not in quantized and "lora_" not in n]
    assert rest and all(p.dtype == torch.bfloat16 for p in rest)
    adapters = [p for n, p in model.named_parameters() if "lora_" in n]
    assert adapters and all(p.dtype == torch.float32 and p.requires_grad for p in adapters)
    assert not any(p.requires_grad for p in rest)

    setup = memory.setup_from_config(cfg, resolve_hardware("24GiB"), None)
    planned_rest = memory.weight_bytes(spec, counts, setup) - int(memory._quantized_linear_bytes(spec, counts, setup))
    planned_rest -= memory.lora_params(spec, counts, setup) * 4
    assert planned_rest == sum(p.numel() * p.element_size() for p in rest)
