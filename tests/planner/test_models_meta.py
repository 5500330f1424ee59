"""Config-based parameter counts against real (tiny) transformers models, and local-directory inspection.

Every family that ``count_params`` counts by formula is built here for real from a tiny config that went through
``save_pretrained`` (so the parser reads transformers' own config.json format), and the counts must equal
``sum(p.numel())`` of the model exactly, component by component where the component is unambiguous.
"""

from __future__ import annotations

import json
import struct

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from ft_tui.planner import models, params  # noqa: E402
from ft_tui.planner.errors import ModelError  # noqa: E402

SMALL = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
             vocab_size=300, max_position_embeddings=128)

CASES = {
    "llama": ("LlamaConfig", dict(tie_word_embeddings=False)),
    "llama-tied-bias": ("LlamaConfig", dict(tie_word_embeddings=True, attention_bias=True, mlp_bias=True)),
    "llama-headdim": ("LlamaConfig", dict(head_dim=32)),
    "mistral": ("MistralConfig", dict()),
    "qwen2": ("Qwen2Config", dict(tie_word_embeddings=True)),
    "qwen3": ("Qwen3Config", dict(head_dim=24, tie_word_embeddings=False)),
    "gemma": ("GemmaConfig", dict(head_dim=16)),
    "gemma2": ("Gemma2Config", dict(head_dim=16)),
    "gemma3_text": ("Gemma3TextConfig", dict(head_dim=16)),
    "phi3": ("Phi3Config", dict(pad_token_id=0)),
    "mixtral": ("MixtralConfig", dict(num_local_experts=4, num_experts_per_tok=2)),
    "qwen2_moe": ("Qwen2MoeConfig", dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                         shared_expert_intermediate_size=48, decoder_sparse_step=1,
                                         mlp_only_layers=[1])),
    "qwen2_moe-step2": ("Qwen2MoeConfig", dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                               shared_expert_intermediate_size=48, decoder_sparse_step=2,
                                               qkv_bias=False)),
    "qwen3_moe": ("Qwen3MoeConfig", dict(num_experts=6, num_experts_per_tok=2, moe_intermediate_size=40,
                                         head_dim=24)),
    # GLM-4: q/k/v biases and a fused gate_up_proj; GLM-4-0414 adds two RMSNorms per layer
    "glm": ("GlmConfig", dict(head_dim=16, pad_token_id=0)),
    "glm4": ("Glm4Config", dict(head_dim=16, attention_bias=False, pad_token_id=0)),
    # Llama 4: routed experts (intermediate_size) + an ungated shared expert, a router nn.Linear, dense layers of
    # intermediate_size_mlp between the MoE ones (Maverick-style step 2; an explicit moe_layers list)
    "llama4_text": ("Llama4TextConfig", dict(head_dim=16, pad_token_id=0, num_local_experts=4,
                                             num_experts_per_tok=1, intermediate_size_mlp=80,
                                             interleave_moe_layer_step=2)),
    "llama4_text-moe_layers": ("Llama4TextConfig", dict(head_dim=16, pad_token_id=0, num_local_experts=3,
                                                        num_experts_per_tok=1, intermediate_size_mlp=80,
                                                        moe_layers=[0, 2])),
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))


def _build(case: str, tmp_path):
    cls_name, extra = CASES[case]
    config = getattr(transformers, cls_name)(**{**SMALL, **extra})
    folder = tmp_path / case
    config.save_pretrained(folder)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    return folder, model


def _decoder_linears(model):
    layers = model.model.layers
    return [(name, m) for name, m in layers.named_modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_formula_matches_real_model(case, tmp_path):
    folder, model = _build(case, tmp_path)
    spec = models.inspect_model(str(folder))
    assert spec.source == "local" and spec.param_method == "formula"
    counts = params.count_params(spec)

    assert counts.total == sum(p.numel() for p in model.parameters())
    linears = _decoder_linears(model)
    assert counts.linear == sum(m.weight.numel() for _, m in linears)
    assert counts.embed == model.get_input_embeddings().weight.numel()
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert spec.tie_word_embeddings == tied
    assert counts.lm_head == (0 if tied else model.get_output_embeddings().weight.numel())
    norms = sum(p.numel() for m in model.modules() if "norm" in type(m).__name__.lower()
                for p in m.parameters(recurse=False))
    assert counts.norms == norms
    # LoRA "all" = every decoder nn.Linear: r * (d_in + d_out) each (what PEFT's all-linear creates), plus, on the
    # fused-expert MoE models peft converts, adapters on the experts and the router: checked against peft itself
    linear_lora = sum(4 * (m.in_features + m.out_features) for _, m in linears)
    if params.lora_targets_experts(spec, "all"):
        peft = pytest.importorskip("peft")
        lora = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules="all-linear"))
        assert params.lora_trainable_params(spec, "all", 4) == sum(
            p.numel() for p in lora.parameters() if p.requires_grad) > linear_lora
        model = lora.unload()
    else:
        assert params.lora_trainable_params(spec, "all", 4) == linear_lora
    # the representative layer's modules exist in the real model with these shapes
    rep = params.linear_modules(spec)
    sparse = [layer for layer in model.model.layers
              if hasattr(getattr(layer, "mlp", None) or layer.feed_forward, "experts")]
    layer = (sparse or list(model.model.layers))[0]
    real = {name.split(".")[-1]: (m.in_features, m.out_features) for name, m in layer.named_modules()
            if isinstance(m, torch.nn.Linear)}
    assert set(real) == set(rep)
    for name, dims in rep.items():
        assert real[name] == dims
    assert params.layer_params(spec, -1) == sum(p.numel() for p in model.model.layers[-1].parameters())


def test_meta_device_path_for_other_architectures(tmp_path):
    config = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=300, n_positions=64)
    config.save_pretrained(tmp_path / "gpt2")
    spec = models.inspect_model(str(tmp_path / "gpt2"))
    assert spec.param_method == "meta-device"
    assert spec.hidden_size == 64 and spec.num_hidden_layers == 2 and spec.max_position_embeddings == 64
    counts = params.count_params(spec)
    model = transformers.AutoModelForCausalLM.from_config(config)
    assert counts.total == sum(p.numel() for p in model.parameters())
    conv = [m for m in model.transformer.h.modules() if type(m).__name__ == "Conv1D"]
    assert counts.linear == sum(m.weight.numel() for m in conv)
    assert counts.per_layer_linear["c_attn"] == (64, 192)
    assert params.lora_trainable_params(spec, "c_attn", 2) == 2 * 2 * (64 + 192)
    assert params.lora_trainable_params(spec, "all", 2) == sum(2 * (a + b) for a, b in (
        (64, 192), (64, 64), (64, 256), (256, 64))) * 2      # c_attn, c_proj (attn), c_fc, c_proj (mlp); 2 layers
    assert params.layer_params(spec, 0) == sum(p.numel() for p in model.transformer.h[0].parameters())


def test_meta_device_agrees_with_formula(tmp_path):
    folder, _ = _build("qwen3_moe", tmp_path)
    spec = models.inspect_model(str(folder))
    formula = params.count_params(spec)
    meta = params.count_params_meta(spec)
    assert (meta.total, meta.linear, meta.embed, meta.lm_head, meta.norms, meta.experts, meta.router) == (
        formula.total, formula.linear, formula.embed, formula.lm_head, formula.norms, formula.experts, formula.router)


def test_peft_all_linear_matches(tmp_path):
    peft = pytest.importorskip("peft")
    for case in ("llama", "qwen2_moe"):
        folder, model = _build(case, tmp_path)
        spec = models.inspect_model(str(folder))
        lora = peft.get_peft_model(model, peft.LoraConfig(r=8, target_modules="all-linear"))
        trainable = sum(p.numel() for p in lora.parameters() if p.requires_grad)
        assert params.lora_trainable_params(spec, "all", 8) == trainable, case
        lora = peft.get_peft_model(_build(case, tmp_path / "qv")[1],
                                   peft.LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
        trainable = sum(p.numel() for p in lora.parameters() if p.requires_grad)
        assert params.lora_trainable_params(spec, ["q_proj", "v_proj"], 8) == trainable, case


def test_safetensors_headers_give_exact_bytes(tmp_path):
    folder, model = _build("llama", tmp_path)
    model.to(torch.bfloat16).save_pretrained(folder)
    spec = models.inspect_model(str(folder))
    total = params.count_params(spec).total
    assert spec.params_on_disk == total
    assert spec.weight_bytes_on_disk == 2 * total
    assert spec.quantized_checkpoint is None


def test_sharded_checkpoint_via_index(tmp_path):
    folder, model = _build("qwen2", tmp_path)
    model.save_pretrained(folder, max_shard_size="20KB")
    assert (folder / "model.safetensors.index.json").is_file()
    spec = models.inspect_model(str(folder))
    assert spec.params_on_disk == sum(p.numel() for p in model.parameters())  # tied: stored once
    assert spec.weight_bytes_on_disk == 4 * spec.params_on_disk
    # a partial download (one shard missing) falls back on the index's metadata.total_size
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    first_shard = sorted(set(index["weight_map"].values()))[0]
    (folder / first_shard).unlink()
    spec = models.inspect_model(str(folder))
    assert spec.weight_bytes_on_disk == index["metadata"]["total_size"] and spec.params_on_disk is None


def _write_safetensors(path, tensors: dict[str, tuple[str, list[int], int]]):
    header, offset = {}, 0
    for name, (dtype, shape, nbytes) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def test_prequantized_bnb_checkpoint_detected(tmp_path):
    folder, _ = _build("llama", tmp_path)
    _write_safetensors(folder / "model.safetensors", {
        "model.layers.0.self_attn.q_proj.weight": ("U8", [2048, 1], 2048),
        "model.layers.0.self_attn.q_proj.weight.absmax": ("F32", [64], 256),
        "model.layers.0.self_attn.q_proj.weight.quant_map": ("F32", [16], 64),
        "model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__nf4": ("U8", [100], 100),
    })
    spec = models.inspect_model(str(folder))
    assert spec.quantized_checkpoint == "bnb-4bit"
    assert spec.weight_bytes_on_disk == 2048 + 256 + 64 + 100


def test_corrupt_safetensors_names_the_file(tmp_path):
    folder, _ = _build("llama", tmp_path)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 10) + b"{not json}")
    with pytest.raises(ModelError, match="model.safetensors"):
        models.inspect_model(str(folder))


def test_bitsandbytes_quantizes_exactly_the_counted_linears(tmp_path):
    """``linear`` is what bnb 4-bit replaces: attention/MLP nn.Linear weights, not transformers 5's fused experts."""
    pytest.importorskip("bitsandbytes")
    folder, model = _build("mixtral", tmp_path)
    model.save_pretrained(folder)
    quant = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                            bnb_4bit_compute_dtype=torch.bfloat16)
    q_model = transformers.AutoModelForCausalLM.from_pretrained(folder, quantization_config=quant, device_map="cpu")
    quantized = {n.rsplit(".", 1)[0] for n, p in q_model.named_parameters() if type(p).__name__ == "Params4bit"}
    spec = models.inspect_model(str(folder))
    expected = {f"model.layers.{i}.self_attn.{m}" for i in range(spec.num_hidden_layers)
                for m in params.linear_modules(spec)}
    assert quantized == expected
    counts = params.count_params(spec)
    assert 2 * sum(p.numel() for n, p in q_model.named_parameters() if type(p).__name__ == "Params4bit") == \
        counts.linear
