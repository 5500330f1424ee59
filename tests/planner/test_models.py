"""Model inspection without torch: the built-in catalog, exact parameter counts, LoRA counts, id resolution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ft_tui.planner import model_catalog, model_spec, models, params, paths
from ft_tui.planner.errors import ConfigError, ModelError

# Published totals that the formula must reproduce exactly (model cards / Hub safetensors index, tied lm_head once).
PINNED = {
    "meta-llama/Llama-2-7b-hf": 6_738_415_616,
    "meta-llama/Meta-Llama-3-8B": 8_030_261_248,
    "meta-llama/Llama-3.2-3B": 3_212_749_824,
    "Qwen/Qwen2.5-7B": 7_615_616_512,
    "Qwen/Qwen2.5-0.5B": 494_032_768,
    "mistralai/Mistral-7B-v0.1": 7_241_732_096,
    "meta-llama/Llama-3.1-70B": 70_553_706_496,
    "mistralai/Mixtral-8x7B-v0.1": 46_702_792_704,
    "Qwen/Qwen3-30B-A3B": 30_532_122_624,
    "Qwen/Qwen3-8B": 8_190_735_360,        # q_norm/k_norm: 2 * head_dim per layer
    "google/gemma-2-9b": 9_241_705_984,    # four RMSNorms per layer, tied embeddings
    "microsoft/Phi-3-mini-4k-instruct": 3_821_079_552,
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": 1_777_088_000,  # untied, unlike Qwen2.5-1.5B
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))


def _write_config(folder: Path, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
           "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100,
           "max_position_embeddings": 256}
    cfg.update(fields)
    (folder / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if v is not None}))
    return folder


# ---------------------------------------------------------------------------------------------- exact counts

@pytest.mark.parametrize("model_id,expected", sorted(PINNED.items()))
def test_pinned_totals(model_id, expected):
    assert params.count_params(models.inspect_model(model_id)).total == expected


def test_llama2_7b_components():
    c = params.count_params(models.inspect_model("meta-llama/Llama-2-7b-hf"))
    assert (c.embed, c.lm_head) == (32000 * 4096, 32000 * 4096)
    assert c.attention == 32 * 4 * 4096 * 4096 and c.mlp == 32 * 3 * 4096 * 11008
    assert c.norms == 65 * 4096 and c.experts == c.router == c.other == 0
    assert c.linear == c.attention + c.mlp          # no biases: every attention/MLP parameter is a Linear weight
    assert c.non_linear == c.total - c.linear == 262_410_240


def test_moe_components_mixtral():
    spec = models.inspect_model("mixtral-8x7b")
    c = params.count_params(spec)
    assert spec.num_experts == 8 and spec.num_experts_per_tok == 2 and spec.moe_intermediate_size == 14336
    assert c.experts == 32 * 8 * 3 * 4096 * 14336 and c.router == 32 * 8 * 4096
    assert c.linear == c.attention                  # transformers 5: experts are fused parameters, not nn.Linear
    assert set(params.linear_modules(spec)) == {"q_proj", "k_proj", "v_proj", "o_proj"}


def test_qwen2_biases_on_qkv_only():
    c = params.count_params(models.inspect_model("Qwen/Qwen2.5-0.5B"))
    h, kv = 896, 2 * 64
    assert c.attention - 24 * (2 * h * h + 2 * h * kv) == 24 * (h + 2 * kv)


@pytest.mark.parametrize("model_id,targets,rank,expected", [
    ("meta-llama/Llama-2-7b-hf", "q_proj,v_proj", 8, 4_194_304),
    ("meta-llama/Llama-3.2-3B", ["q_proj", "v_proj"], 32, 9_175_040),
    ("meta-llama/Meta-Llama-3-8B", "all", 16, 41_943_040),
    ("meta-llama/Llama-2-7b-hf", "all", 64, 159_907_840),       # QLoRA paper's setting
    ("meta-llama/Llama-3.1-70B", "all", 32, 414_187_520),
])
def test_lora_counts(model_id, targets, rank, expected):
    assert params.lora_trainable_params(models.inspect_model(model_id), targets, rank) == expected


def test_lora_on_fused_phi3_counts_fused_modules():
    spec = models.inspect_model("phi-3-mini")
    assert set(params.linear_modules(spec)) == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}
    h, f = 3072, 8192
    assert params.lora_trainable_params(spec, "all", 8) == 32 * 8 * ((h + 3 * h) + 2 * h + (h + 2 * f) + (f + h))
    with pytest.raises(ConfigError, match="q_proj.*qkv_proj"):
        params.lora_trainable_params(spec, "q_proj,v_proj", 8)


def test_lora_lm_head_and_bad_rank():
    spec = models.inspect_model("Qwen/Qwen2.5-0.5B")
    base = params.lora_trainable_params(spec, "q_proj", 4)
    assert params.lora_trainable_params(spec, "q_proj,lm_head", 4) == base + 4 * (896 + 151936)
    with pytest.raises(ConfigError, match="lora_rank"):
        params.lora_trainable_params(spec, "all", 0)
    with pytest.raises(ConfigError, match="lora_target"):
        params.lora_trainable_params(spec, " , ", 4)


def test_layer_params_for_freeze_tuning():
    spec = models.inspect_model("meta-llama/Llama-2-7b-hf")
    assert params.layer_linear_params(spec) == 4 * 4096 * 4096 + 3 * 4096 * 11008
    assert params.layer_params(spec) == params.layer_linear_params(spec) + 2 * 4096
    with pytest.raises(ModelError, match="outside"):
        params.layer_params(spec, 32)


def test_qwen_moe_sparse_step_and_dense_layers(tmp_path):
    folder = _write_config(tmp_path / "moe", model_type="qwen2_moe", num_experts=4, num_experts_per_tok=2,
                           moe_intermediate_size=32, shared_expert_intermediate_size=48, decoder_sparse_step=2,
                           mlp_only_layers=[3], num_hidden_layers=4)
    spec = models.inspect_model(str(folder))
    c = params.count_params(spec)
    # only layer 1 is sparse ((i + 1) % 2 == 0 and i not in mlp_only_layers); 0, 2, 3 are dense
    assert c.experts == 4 * 3 * 64 * 32 and c.router == 4 * 64
    assert params.linear_modules(spec)["shared_expert_gate"] == (64, 1)


def test_llama4_moe_layers_list_overrides_the_step_and_is_checked(tmp_path):
    base = dict(model_type="llama4_text", num_hidden_layers=4, num_local_experts=2, num_experts_per_tok=1,
                intermediate_size=32, intermediate_size_mlp=48, interleave_moe_layer_step=4)
    spec = models.inspect_model(str(_write_config(tmp_path / "step", **base)))
    assert [params.layer_params(spec, i) > params.layer_params(spec, 0) for i in range(4)] == [
        False, False, False, True]                    # step 4: only layer 3 is sparse
    spec = models.inspect_model(str(_write_config(tmp_path / "list", **base, moe_layers=[0, 1])))
    c = params.count_params(spec)
    assert c.experts == 2 * 2 * 3 * 64 * 32 and c.router == 2 * 2 * 64
    assert c.mlp == 2 * 3 * 64 * 32 + 2 * 3 * 64 * 48     # shared experts of layers 0, 1; dense MLPs of 2, 3
    with pytest.raises(ModelError, match="'moe_layers' must be a list of layer indices"):
        models.inspect_model(str(_write_config(tmp_path / "bad", **base, moe_layers="all")))


# ---------------------------------------------------------------------------------------------- the catalog

def test_catalog_size_and_fields():
    names = model_catalog.catalog_names()
    assert len(names) >= 40 and len(set(names)) == len(names)
    for name in names:
        spec = models.inspect_model(name)
        assert spec.source == "catalog" and spec.param_method == "formula", name
        assert spec.hidden_size % 64 == 0 and spec.num_attention_heads % spec.num_key_value_heads == 0, name
        assert spec.max_position_embeddings >= 4096 and spec.torch_dtype, name
        assert isinstance(spec.is_instruct, bool) and spec.published_params, name


def test_every_catalog_count_matches_its_published_total():
    off = []
    for name in model_catalog.catalog_names():
        entry = model_catalog.catalog_entry(name)
        total = params.count_params(models.inspect_model(name)).total
        published = entry["published_params"]
        # rounded card figures ("8.2B") allow half a unit of the last digit; exact ones 0.5 %
        tolerance = 0.05e9 if entry.get("published_rounded") else 0.005 * published
        if abs(total - published) > tolerance:
            off.append((name, total, published))
    assert not off


def test_exact_catalog_entries_are_exact():
    # entries with an exact published number are reproduced to the parameter (no fudge factor anywhere)
    for name in model_catalog.catalog_names():
        entry = model_catalog.catalog_entry(name)
        if not entry.get("published_rounded"):
            assert params.count_params(models.inspect_model(name)).total == entry["published_params"], name


def test_gemma3_vision_tower_is_the_same_in_every_size():
    towers = set()
    for name in ("google/gemma-3-4b-pt", "google/gemma-3-12b-pt", "google/gemma-3-27b-pt"):
        spec = models.inspect_model(name)
        towers.add(spec.extra_params - 1152 * spec.hidden_size - 1152)   # minus the projector
        assert params.count_params(spec).other == spec.extra_params
    assert towers == {416_866_032}


@pytest.mark.parametrize("query,catalog_id,instruct", [
    ("meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf", False),
    ("META-LLAMA/LLAMA-2-7B-HF", "meta-llama/Llama-2-7b-hf", False),
    ("Llama-2-7b-chat-hf", "meta-llama/Llama-2-7b-hf", True),
    ("qwen2.5-7b-instruct", "Qwen/Qwen2.5-7B", True),
    ("Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B", False),
    ("Qwen/Qwen3-8B", "Qwen/Qwen3-8B", True),
    ("Qwen/Qwen3-8B-Base", "Qwen/Qwen3-8B", False),
    ("google/gemma-2-2b-it", "google/gemma-2-2b", True),
    ("someone/Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3-8B", True),
    ("mistral-7b", "mistralai/Mistral-7B-v0.1", False),
])
def test_catalog_lookup(query, catalog_id, instruct):
    spec = models.inspect_model(query)
    assert spec.catalog_id == catalog_id and spec.name == query and spec.is_instruct is instruct


def test_prequantized_suffix_resolves_to_the_base_architecture():
    spec = models.inspect_model("unsloth/Llama-3.2-1B-Instruct-bnb-4bit")
    assert spec.catalog_id == "meta-llama/Llama-3.2-1B" and spec.quantized_checkpoint == "bnb-4bit"
    assert spec.is_instruct is True


# ---------------------------------------------------------------------------------------------- resolution

def test_unknown_id_offline_lists_close_matches():
    with pytest.raises(ModelError) as err:
        models.inspect_model("Qwen/Qwen2.5-8B-Instrct")
    text = str(err.value)
    assert "not in the built-in catalog" in text and "local Hugging Face cache" in text
    assert "--model /path/to/model" in text and "Qwen/Qwen2.5-7B" in text


def test_offline_never_touches_the_hub(monkeypatch):
    monkeypatch.setattr(models, "_fetch_hub_config", lambda *a, **k: pytest.fail("hub contacted while offline"))
    with pytest.raises(ModelError):
        models.inspect_model("nobody/nothing-like-this", allow_network=True)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(ModelError, match="offline"):
        models.inspect_model("nobody/nothing-like-this", allow_network=False)


def test_online_fetches_config_json_only(monkeypatch, tmp_path):
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    asked = []

    def fake_download(repo_id, filename, **kwargs):
        asked.append((repo_id, filename))
        return str(_write_config(tmp_path / "fetched", num_key_value_heads=2) / "config.json")

    monkeypatch.setattr(hub, "hf_hub_download", fake_download)
    spec = models.inspect_model("someorg/tiny-chat", allow_network=True)
    assert asked == [("someorg/tiny-chat", "config.json")]
    assert spec.source == "hub" and spec.num_key_value_heads == 2 and spec.is_instruct is True


def test_hf_cache_is_read_offline(tmp_path, monkeypatch):
    cache = tmp_path / "hub-cache"
    repo = cache / "models--acme--Tiny-Llama-Instruct"
    _write_config(repo / "snapshots" / "abc123", num_key_value_heads=2, tie_word_embeddings=True)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123" / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{x}}"}))
    spec = models.inspect_model("acme/tiny-llama-instruct")     # case-insensitive like the hub
    assert spec.source == "hf-cache" and spec.local_path.endswith("abc123")
    assert spec.has_chat_template is True and spec.is_instruct is True and spec.tie_word_embeddings is True
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert paths.hf_hub_cache_dir() == tmp_path / "home" / "hub"


def test_local_dir_relative_to_base_dir_and_defaults(tmp_path):
    _write_config(tmp_path / "cfgdir" / "model", head_dim=None, num_key_value_heads=None)
    spec = models.inspect_model("model", base_dir=tmp_path / "cfgdir")
    assert spec.source == "local" and spec.head_dim == 16 and spec.num_key_value_heads == 4
    assert spec.tie_word_embeddings is False     # LlamaConfig's default when config.json omits it
    assert spec.weight_bytes_on_disk is None and spec.has_chat_template is None


def test_nested_text_config(tmp_path):
    folder = tmp_path / "mm"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
        "text_config": {"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 128,
                        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1,
                        "head_dim": 32, "vocab_size": 100},
        "vision_config": {"hidden_size": 1152}}))
    spec = models.inspect_model(str(folder))
    assert (spec.model_type, spec.hidden_size, spec.head_dim, spec.tie_word_embeddings) == (
        "gemma3_text", 64, 32, True)
    assert spec.architectures == ["Gemma3ForConditionalGeneration"]


def test_bnb_quantization_config(tmp_path):
    folder = _write_config(tmp_path / "q", quantization_config={
        "quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"})
    assert models.inspect_model(str(folder)).quantized_checkpoint == "bnb-4bit"
    folder = _write_config(tmp_path / "g", quantization_config={"quant_method": "gptq", "bits": 4})
    assert models.inspect_model(str(folder)).quantized_checkpoint == "gptq-4bit"


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        models.inspect_model(str(tmp_path / "missing" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        models.inspect_model(str(tmp_path / "empty"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "llama",\n  "hidden_size": }')
    with pytest.raises(ModelError, match=r"broken/config.json:2"):
        models.inspect_model(str(broken))
    with pytest.raises(ModelError, match="lacks hidden_size"):
        models.inspect_model(str(_write_config(tmp_path / "nohidden", hidden_size=None)))
    with pytest.raises(ModelError, match="non-negative integer"):
        models.inspect_model(str(_write_config(tmp_path / "str", vocab_size="many")))
    with pytest.raises(ModelError, match="no model given"):
        models.inspect_model("  ")


def test_custom_code_needs_trust_remote_code(tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "my_secret_arch", "auto_map": {"AutoModelForCausalLM": "modeling.MyModel"},
        "d_model": 64, "n_layers": 2, "vocab_size": 100}))
    with pytest.raises(ModelError, match="trust_remote_code: true"):
        models.inspect_model(str(folder))


def test_instruct_from_name():
    assert model_spec.instruct_from_name("google/gemma-2-2b-it") is True
    assert model_spec.instruct_from_name("Qwen/Qwen3-8B-Base") is False
    assert model_spec.instruct_from_name("google/gemma-3-1b-pt") is False
    assert model_spec.instruct_from_name("./runs/my-model") is None
    assert model_spec.instruct_from_name("mistralai/Mistral-7B-Instruct-v0.3") is True


# ---------------------------------------------------------------------------------------------- speed, imports

def test_catalog_inspection_is_fast():
    models.inspect_model("Qwen/Qwen2.5-7B")             # catalog parsed once per process
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        params.count_params(models.inspect_model("meta-llama/Llama-3.1-405B"))
        best = min(best, time.perf_counter() - start)
    assert best < 0.01


def test_catalog_inspection_imports_no_torch():
    code = (
        "import sys, time\n"
        "import yaml\n"
        "t = time.perf_counter()\n"
        "import ft_tui.planner.models as m, ft_tui.planner.params as p\n"
        "c = p.count_params(m.inspect_model('Qwen/Qwen2.5-7B-Instruct'))\n"
        "elapsed = time.perf_counter() - t\n"
        "heavy = sorted(k for k in ('torch', 'transformers', 'huggingface_hub', 'peft') if k in sys.modules)\n"
        "print(heavy, c.total, elapsed)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    heavy, total, elapsed = out.stdout.rsplit(" ", 2)
    assert heavy == "[]" and int(total) == 7_615_616_512
    assert float(elapsed) < 0.5          # cold: module import + catalog parse (~20 ms here; generous for CI load)


def test_unreachable_hub_is_reported_with_the_rest(monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    def no_network(**kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(hub, "hf_hub_download", no_network)
    with pytest.raises(ModelError, match="not in the built-in catalog.*could not be reached.*Network is unreachable"):
        models.inspect_model("someorg/unknown-model", allow_network=True)
