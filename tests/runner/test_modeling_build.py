"""modeling.build_model / load_tokenizer on the tiny demo model: methods, targets, dtypes, attention, RoPE, errors."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from ft_tui.planner.config import config_from_dict
from ft_tui.planner.errors import ConfigError, ModelError
from ft_tui.runner import modeling


def _cfg(kit, **kw):
    return config_from_dict({"model_name_or_path": str(kit.model_dir), **kw})


def test_lora_all_targets_every_linear_but_lm_head(demo_kit):
    model, info = modeling.build_model(_cfg(demo_kit, lora_rank=4, lora_alpha=8))
    assert info["method"] == "lora" and info["lora_rank"] == 4 and info["lora_alpha"] == 8
    assert set(info["lora_targets"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                         "down_proj"}
    assert info["gradient_checkpointing"] is True and info["attn_implementation"] == "sdpa"
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert all(p.dtype.is_floating_point and str(p.dtype) == "torch.float32"
               for n, p in model.named_parameters() if p.requires_grad)
    # 2 layers x (7 linears) x r * (in + out); counted the same way as peft reports it
    assert info["trainable_params"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert info["total_params"] > info["trainable_params"]


def test_lora_named_targets_and_unknown_name(demo_kit):
    _, info = modeling.build_model(_cfg(demo_kit, lora_target="q_proj,v_proj"))
    assert info["lora_targets"] == ["q_proj", "v_proj"]
    with pytest.raises(ConfigError) as err:
        modeling.build_model(_cfg(demo_kit, lora_target="q_proj,query_key_value"))
    msg = err.value.render()
    assert "query_key_value" in msg and "lora_target" in msg and "gate_proj" in msg  # lists the real names


@pytest.mark.parametrize("n, expected", [(1, [1]), (-1, [0]), (2, [0, 1])])
def test_freeze_trains_the_chosen_layers_in_fp32(demo_kit, n, expected):
    model, info = modeling.build_model(_cfg(demo_kit, finetuning_type="freeze", freeze_trainable_layers=n,
                                            bf16=True))
    assert info["trainable_layers"] == expected
    layers = modeling.decoder_layers(model)
    for i, layer in enumerate(layers):
        for p in layer.parameters():
            assert p.requires_grad == (i in expected)
            assert str(p.dtype) == ("torch.float32" if i in expected else "torch.bfloat16")
    assert not model.get_input_embeddings().weight.requires_grad


def test_freeze_more_layers_than_the_model_has(demo_kit):
    with pytest.raises(ConfigError, match="only 2 layers"):
        modeling.build_model(_cfg(demo_kit, finetuning_type="freeze", freeze_trainable_layers=5))


def test_full_keeps_fp32_master_weights_under_bf16(demo_kit):
    model, info = modeling.build_model(_cfg(demo_kit, finetuning_type="full", bf16=True,
                                            disable_gradient_checkpointing=True))
    assert info["compute_dtype"] == "bfloat16" and info["load_dtype"] == "float32"
    assert info["gradient_checkpointing"] is False
    assert all(p.requires_grad and str(p.dtype) == "torch.float32" for p in model.parameters())
    assert info["trainable_params"] == info["total_params"]


def test_lora_base_in_compute_dtype(demo_kit):
    model, info = modeling.build_model(_cfg(demo_kit, bf16=True))
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert frozen and all(str(p.dtype) == "torch.bfloat16" for p in frozen)
    assert all(str(p.dtype) == "torch.float32" for p in model.parameters() if p.requires_grad)


def test_attention_choices(demo_kit):
    _, info = modeling.build_model(_cfg(demo_kit, flash_attn="disabled"), for_training=False)
    assert info["attn_implementation"] == "eager"
    if importlib.util.find_spec("flash_attn") is None:
        with pytest.raises(ConfigError, match="flash-attn"):
            modeling.build_model(_cfg(demo_kit, flash_attn="fa2"))


def test_auto_attention_is_the_architectures_default_and_gemma2_cannot_use_sdpa(tmp_path):
    """flash_attn: auto lets transformers choose: sdpa where the architecture has it, eager for Gemma 2 (its
    soft-capped scores), which the planner models (planner.memory.attention_kernel); asking Gemma 2 for sdpa is
    a clear error on flash_attn."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma2Config

    config = Gemma2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                          num_key_value_heads=1, head_dim=16, vocab_size=64)
    AutoModelForCausalLM.from_config(config, attn_implementation="eager").to(torch.float32).save_pretrained(tmp_path)
    _, info = modeling.build_model(config_from_dict({"model_name_or_path": str(tmp_path)}), for_training=False)
    assert info["attn_implementation"] == "eager"
    with pytest.raises(ConfigError, match="sdpa") as err:
        modeling.build_model(config_from_dict({"model_name_or_path": str(tmp_path), "flash_attn": "sdpa"}))
    assert err.value.key == "flash_attn"


def test_rope_scaling_factor_and_not_needed(demo_kit, caplog):
    from transformers import AutoConfig

    conf = AutoConfig.from_pretrained(str(demo_kit.model_dir))
    note = modeling.apply_rope_scaling(_cfg(demo_kit, rope_scaling="linear", cutoff_len=5000), conf)
    assert conf.rope_parameters["rope_type"] == "linear"
    assert conf.rope_parameters["factor"] == pytest.approx(2.45)  # ceil(5000 / 2048 * 100) / 100
    assert note == "linear x2.45"
    conf = AutoConfig.from_pretrained(str(demo_kit.model_dir))
    note = modeling.apply_rope_scaling(_cfg(demo_kit, rope_scaling="dynamic", cutoff_len=512), conf)
    assert note.startswith("not needed") and conf.rope_parameters.get("rope_type") == "default"


def test_missing_and_broken_model_paths(demo_kit, tmp_path):
    with pytest.raises(ModelError, match="does not exist") as err:
        modeling.build_model(_cfg(demo_kit, model_name_or_path=str(tmp_path / "nope")))
    assert str(tmp_path / "nope") in err.value.render()
    broken = tmp_path / "broken"
    shutil.copytree(demo_kit.model_dir, broken)
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError) as err:
        modeling.build_model(_cfg(demo_kit, model_name_or_path=str(broken)))
    assert str(broken) in err.value.render()


def test_tokenizer_pad_falls_back_to_eos(demo_kit, tmp_path):
    folder = tmp_path / "tok"
    shutil.copytree(demo_kit.tokenizer_dir, folder)
    conf_path = folder / "tokenizer_config.json"
    conf = json.loads(conf_path.read_text())
    conf.pop("pad_token", None)
    conf_path.write_text(json.dumps(conf))
    tok = modeling.load_tokenizer(_cfg(demo_kit, model_name_or_path=str(folder)))
    assert tok.pad_token == tok.eos_token == "</s>"
    assert tok.padding_side == "right"


def test_trust_remote_code_is_passed_only_as_configured(demo_kit, monkeypatch):
    import transformers

    seen = []
    real = transformers.AutoConfig.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", spy)
    modeling.build_model(_cfg(demo_kit), for_training=False)
    assert seen == [False]


def test_fsdp_qlora_packs_4bit_weights_in_the_compute_dtype_and_leaves_placement_to_fsdp(monkeypatch, demo_kit):
    """accelerate launch with FSDP sets ACCELERATE_USE_FSDP: the 4-bit storage must be a float type FSDP can
    flatten with the other weights, and no device_map may pin the model to one GPU."""
    import torch
    from ft_tui.runner.worker import device_map_for

    cfg = _cfg(demo_kit, quantization_bit=4, bf16=True)
    assert modeling.quantization_config(cfg).bnb_4bit_quant_storage == torch.uint8  # bitsandbytes' default
    assert device_map_for(cfg) is not None
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert modeling.quantization_config(cfg).bnb_4bit_quant_storage == torch.bfloat16
    assert device_map_for(cfg) is None
    with pytest.raises(ConfigError) as err:
        modeling.quantization_config(_cfg(demo_kit, quantization_bit=8))
    assert "FSDP" in err.value.render() and "quantization_bit: 4" in err.value.render()
