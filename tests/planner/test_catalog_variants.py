"""The catalog knows what users type: LLaMA-Factory's example models, instruct/chat variants, and a "did you mean"
that ranks by name within the model's family first."""

from __future__ import annotations

import json

import pytest
from ft_tui.planner import models
from ft_tui.planner.errors import ModelError
from ft_tui.planner.model_catalog import (
    _catalog,
    catalog_entry,
    catalog_names,
    close_catalog_matches,
    name_family,
    rank_close_names,
)
from ft_tui.planner.params import count_params, linear_modules, lora_trainable_params
from ft_tui.tui.cli import main


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    # planning offline is the point, and an unknown id must not wait on the network before it is refused
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))


#: ``model_name_or_path`` of every file in LLaMA-Factory's examples/train_lora/*.yaml (hiyouga/LLaMA-Factory at
#: ff6d4d12eeb035d6ce06805a5733dd7b29f2ac30, 2026-08-18): qwen3_lora_{sft,sft_ds3,sft_ray,dpo,kto,pretrain,
#: reward}.yaml and qwen3_preprocess.yaml name Qwen3-4B-Instruct-2507, qwen3vl_lora_{sft,dpo}.yaml Qwen3-VL-4B.
LLAMAFACTORY_TRAIN_LORA = ["Qwen/Qwen3-4B-Instruct-2507", "Qwen/Qwen3-VL-4B-Instruct"]
#: mossvl_lora_sft.yaml's model is custom code (trust_remote_code) whose config.json could not be checked against
#: a published copy: it is not in the catalog, and planning it offline says so cleanly.
NOT_IN_CATALOG = ["OpenMOSS-Team/MOSS-VL-Instruct-0708"]

#: Other ids LLaMA-Factory's examples name (train_full, train_qlora, inference, merge_lora, extras, v1; ascend and
#: ktransformers name Qwen3-VL-30B-A3B-Instruct). Not in the catalog yet: the Qwen3.5 models (hybrid Gated
#: DeltaNet), Qwen2-VL / Qwen2.5-VL-7B, DeepSeek-V2-Lite / V3 and the AWQ/GPTQ/AQLM re-uploads.
LLAMAFACTORY_OTHER = ["meta-llama/Meta-Llama-3-8B-Instruct", "Qwen/Qwen2-1.5B-Instruct", "Qwen/Qwen3-8B",
                      "meta-llama/Llama-3.2-1B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen3-0.6B",
                      "Qwen/Qwen3-4B", "Qwen/Qwen3-30B-A3B-Instruct-2507", "Qwen/Qwen3-235B-A22B-Instruct-2507",
                      "Qwen/Qwen3-VL-30B-A3B-Instruct"]

#: The families users fine-tune that the catalog covers since issue 17's last item (GLM-4, Llama 4, Ministral,
#: Gemma 3 270M, Qwen3-VL 2B/8B/30B-A3B): each plans offline from its catalog entry.
NEWER_FAMILIES = ["THUDM/glm-4-9b-chat-hf", "zai-org/GLM-4-9B-0414", "meta-llama/Llama-4-Scout-17B-16E-Instruct",
                  "meta-llama/Llama-4-Maverick-17B-128E-Instruct", "mistralai/Ministral-8B-Instruct-2410",
                  "google/gemma-3-270m-it", "Qwen/Qwen3-VL-2B-Instruct", "Qwen/Qwen3-VL-8B-Instruct"]


@pytest.mark.parametrize("model", LLAMAFACTORY_TRAIN_LORA + LLAMAFACTORY_OTHER + NEWER_FAMILIES)
def test_llamafactory_example_models_plan_offline(model, capsys):
    code = main(["plan", "--model", model, "--gpu", "rtx4090", "--json"])
    assert code in (0, 3)  # 3: a 235B needs more GPUs
    plan = json.loads(capsys.readouterr().out)
    if code == 0:
        assert plan["model"]["source"] == "catalog" and plan["model"]["catalog_id"]
    else:  # nothing fits: the JSON object names the model and the minimum the planner found
        assert plan["fits"] is False and plan["model"] == model and plan["minimum_gib"] > 24


def test_the_issue_command_plans_and_names_its_catalog_entry(capsys):
    assert main(["plan", "--model", "Qwen/Qwen3-4B-Instruct-2507", "--gpu", "rtx4090"]) == 0
    out = capsys.readouterr().out
    assert "Model facts: built-in catalog entry Qwen/Qwen3-4B-Instruct-2507; same shapes as Qwen/Qwen3-4B" in out


@pytest.mark.parametrize("model", NOT_IN_CATALOG)
def test_unchecked_models_are_refused_cleanly(model, capsys):
    assert main(["plan", "--model", model, "--gpu", "rtx4090"]) == 2
    assert "not in the built-in catalog" in capsys.readouterr().err


def test_every_entry_says_where_its_facts_come_from():
    for name in catalog_names():
        assert (catalog_entry(name).get("source") or "").strip(), name


def test_aliases_and_variants_say_what_they_share():
    assert models.inspect_model("Qwen/Qwen3-4B-Base").catalog_note == "same shapes as Qwen/Qwen3-4B"
    assert models.inspect_model("mistralai/Mistral-Small-24B-Instruct-2501").catalog_note == \
        "same shapes as mistralai/Mistral-Small-24B-Base-2501"
    assert models.inspect_model("meta-llama/Llama-3.3-70B-Instruct").catalog_note == \
        "same shapes as meta-llama/Llama-3.1-70B"
    assert models.inspect_model("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B").catalog_note == \
        "Qwen/Qwen2.5-1.5B's config.json with other tie_word_embeddings"
    assert models.inspect_model("Qwen/Qwen3-8B").catalog_note is None  # an entry of its own
    assert models.inspect_model("qwen3-8b").catalog_note is None       # its short name


def test_every_instruct_variant_plans_like_its_base():
    # an instruct/chat alias resolves to the base entry: same counts, instruct flag from the name
    for base, variant in [("Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct"), ("google/gemma-3-4b-pt", "google/gemma-3-4b-it"),
                          ("meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct"),
                          ("mistralai/Mistral-Small-24B-Base-2501", "mistralai/Mistral-Small-24B-Instruct-2501"),
                          ("microsoft/Phi-4-mini-instruct", "microsoft/Phi-4-mini-reasoning")]:
        a, b = models.inspect_model(base), models.inspect_model(variant)
        assert count_params(a).total == count_params(b).total and b.catalog_id == a.catalog_id, variant
        assert b.is_instruct is True


def test_variants_keep_their_own_context_length():
    assert models.inspect_model("Qwen/Qwen3-4B").max_position_embeddings == 40960
    assert models.inspect_model("Qwen/Qwen3-4B-Instruct-2507").max_position_embeddings == 262144
    assert models.inspect_model("mistralai/Mistral-Small-3.1-24B-Instruct-2503").max_position_embeddings == 131072


def test_multimodal_entries_count_their_vision_tower_as_other():
    spec = models.inspect_model("Qwen/Qwen3-VL-4B-Instruct")
    c = count_params(spec)
    assert spec.model_type == "qwen3_vl_text" and spec.param_method == "formula"
    assert c.other == 415_347_712 and c.total - c.other == count_params(models.inspect_model("Qwen/Qwen3-4B")).total


def test_vision_towers_match_transformers_on_the_meta_device():
    # extra_params of every entry that keeps its vision_config is what transformers builds from it
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForImageTextToText

    checked = 0
    for entry in _catalog()[0]:
        config = dict(entry["config"])
        if "vision_config" not in config:
            continue
        model_type = config.pop("model_type")
        with torch.device("meta"):
            model = AutoModelForImageTextToText.from_config(AutoConfig.for_model(model_type, **config))
        assert sum(p.numel() for p in model.parameters()) == entry["published_params"], entry["id"]
        checked += 1
    assert checked >= 1


# ------------------------------------------------------------------------------------------ did you mean

def test_names_split_into_family_and_size():
    assert name_family("qwen3-4b-instruct-2507") == ("qwen3", "4b")
    assert name_family("qwen2.5-0.5b") == ("qwen2.5", "0.5b")
    assert name_family("mixtral-8x7b-v0.1") == ("mixtral", "8x7b")
    assert name_family("meta-llama-3.1-8b-instruct") == ("metallama3.1", "8b")
    assert name_family("phi-4-mini-instruct") == ("phi4", "")


def test_suggestions_rank_the_same_family_and_size_first():
    # the issue's case: before the catalog knew Qwen3-4B-Instruct-2507, "did you mean" offered Qwen3-30B-A3B and
    # Qwen2-7B but not Qwen3-4B
    candidates = [k for k in _catalog()[1] if "/" not in k and "2507" not in k]
    ranked = rank_close_names("Qwen/Qwen3-4B-Instruct-2507", candidates)
    assert ranked[0] in ("qwen3-4b", "qwen3-4b-base")
    assert all(name_family(c)[0] == "qwen3" for c in ranked)


@pytest.mark.parametrize("typed,first", [
    ("THUDM/glm-4-9b-chat", "THUDM/glm-4-9b-chat-hf"),          # the ChatGLM custom-code repo: its -hf twin
    ("zai-org/GLM-4-32B-0414", "THUDM/GLM-4-9B-0414"),
    ("meta-llama/Llama-4-Scout-17B-16E-Original", "meta-llama/Llama-4-Scout-17B-16E"),
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "meta-llama/Llama-4-Maverick-17B-128E"),
    ("google/gemma-3-270m-qat", "google/gemma-3-270m"),
    ("mistralai/Ministral-8B-Base-2410", "mistralai/Ministral-8B-Instruct-2410"),
    ("Qwen/Qwen3-VL-8B-Thinking", "Qwen/Qwen3-VL-8B-Instruct"),
])
def test_suggestions_for_newer_families_start_with_the_closest_name_in_the_family(typed, first):
    close = close_catalog_matches(typed)
    assert close[0] == first
    family = name_family(typed.split("/")[-1].lower())[0]
    # the same family (and size) first: no other family comes before the family's last suggestion
    in_family = [name_family(c.split("/")[-1].lower())[0] == family for c in close]
    assert in_family[0] and in_family == sorted(in_family, reverse=True)


def test_qwen3_vl_family_ranks_the_same_size_then_the_closest_name():
    close = close_catalog_matches("Qwen/Qwen3-VL-8B-Thinking")
    assert close[:2] == ["Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3-VL-4B-Instruct"]
    assert all(c.startswith("Qwen/Qwen3-VL-") for c in close)


def test_unknown_id_suggests_its_own_family_first():
    with pytest.raises(ModelError) as err:
        models.inspect_model("Qwen/Qwen3-4B-Thinking-2507")
    hint = str(err.value.hint)
    first = hint.split("Did you mean: ")[1].split("?")[0].split(", ")
    assert first[:2] == ["Qwen/Qwen3-4B-Instruct-2507", "Qwen/Qwen3-4B"]
    with pytest.raises(ModelError) as err:
        models.inspect_model("meta-llama/Llama-3.1-8B-Instruct-2099")
    assert str(err.value.hint).split("Did you mean: ")[1].startswith("meta-llama/Llama-3.1-8B,")


def test_gpt_oss_counts_biased_experts_router_and_sinks():
    spec = models.inspect_model("openai/gpt-oss-20b")
    c = count_params(spec)
    h, f, e, layers = 2880, 2880, 32, 24
    assert c.experts == layers * e * (3 * h * f + 2 * f + h)   # gate_up (E,h,2f)+bias, down (E,f,h)+bias
    assert c.router == layers * (e * h + e)                     # router weight and bias, not an nn.Linear
    q, kv = 64 * 64, 8 * 64
    assert c.attention == layers * (h * q + q + 2 * (h * kv + kv) + q * h + h + 64)  # biases on q,k,v,o + sinks
    assert set(c.per_layer_linear) == {"q_proj", "k_proj", "v_proj", "o_proj"}  # what LoRA and 4-bit can touch
    assert c.total == 20_914_757_184


# ------------------------------------------------------------------------------------------ newer families

@pytest.mark.parametrize("vl,text_like", [("Qwen/Qwen3-VL-2B-Instruct", "Qwen/Qwen3-1.7B"),
                                          ("Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3-8B"),
                                          ("Qwen/Qwen3-VL-30B-A3B-Instruct", "Qwen/Qwen3-30B-A3B")])
def test_qwen3_vl_text_decoders_have_the_shapes_their_reason_names(vl, text_like):
    spec, text = models.inspect_model(vl), models.inspect_model(text_like)
    c = count_params(spec)
    assert c.other == spec.extra_params > 0 and c.total - c.other == count_params(text).total
    assert linear_modules(spec) == linear_modules(text) and spec.max_position_embeddings == 262144
    assert text_like in spec.catalog_note


def test_llama4_counts_routed_and_shared_experts_router_and_dense_layers():
    h, e, f, f_dense, layers = 5120, 128, 8192, 16384, 48
    spec = models.inspect_model("meta-llama/Llama-4-Maverick-17B-128E-Instruct")
    c = count_params(spec)
    sparse = layers // 2                                   # interleave_moe_layer_step 2: layers 1, 3, ..., 47
    assert c.experts == sparse * e * 3 * h * f
    assert c.router == sparse * e * h                      # Llama4Router: an nn.Linear(h -> E) without bias
    assert c.mlp == sparse * 3 * h * f + (layers - sparse) * 3 * h * f_dense   # shared expert / dense MLP
    assert c.total == 401_583_781_376 and c.other == 871_932_416
    # the router is an nn.Linear: 4-bit quantizes it and peft's all-linear puts an adapter on it
    assert linear_modules(spec)["router"] == (h, e) and "shared_expert_gate" not in linear_modules(spec)
    scout = models.inspect_model("meta-llama/Llama-4-Scout-17B-16E")
    assert count_params(scout).experts == layers * 16 * 3 * h * f      # every layer sparse
    assert lora_trainable_params(scout, "router", 8) == layers * 8 * (h + 16)


def test_glm4_has_qkv_biases_a_fused_gate_up_and_four_norms_from_0414_on():
    chat, v0414 = models.inspect_model("THUDM/glm-4-9b-chat-hf"), models.inspect_model("zai-org/GLM-4-9B-0414")
    assert set(linear_modules(chat)) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj"}
    assert linear_modules(chat)["gate_up_proj"] == (4096, 2 * 13696)
    h, q, kv = 4096, 32 * 128, 2 * 128
    assert count_params(chat).attention == 40 * (h * q + q + 2 * (h * kv + kv) + q * h)   # o_proj has no bias
    assert count_params(v0414).norms - count_params(chat).norms == 40 * 2 * h
    assert (chat.max_position_embeddings, v0414.max_position_embeddings) == (131072, 32768)
