"""Model errors and the "nothing fits" message carry message codes: English text exactly as before (CLI, JSON),
Chinese through ``render("zh")`` for the TUI, every code in both languages with the same placeholders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ft_tui.planner.config import load_config
from ft_tui.planner.errors import InputError, ModelError, NothingFits
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.messages import Msg, render
from ft_tui.planner.models import inspect_model
from ft_tui.planner.paths import hf_hub_cache_dir
from ft_tui.planner.recommend import make_plan

#: English words that never appear in a Chinese message once key names, paths and values are taken out.
ENGLISH = re.compile(r"\b(the|is|not|in|and|or|must|cannot|does|with|has|no|nothing|would|fit|pass|check)\b")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def zh_prose(text: str, *literals: str) -> str:
    """``text`` without the literals (paths, ids, key names) that stay as they are in Chinese."""
    for lit in sorted(literals, key=len, reverse=True):
        text = text.replace(lit, " ")
    return re.sub(r"--model /path/to/model|`[^`]*`|'[^']*'|\w+_\w+(?:_\w+)*", " ", text)


def test_unknown_model_english_is_unchanged_and_chinese_is_complete():
    name = "zzqq/qqzz-xx"
    with pytest.raises(ModelError) as err:
        inspect_model(name, allow_network=False)
    old = (f"key 'model_name_or_path': unknown model '{name}': it is not in the built-in catalog, not in the local "
           f"Hugging Face cache ({hf_hub_cache_dir()}) and the hub is offline (HF_HUB_OFFLINE, or network not "
           f"allowed). Or pass a local model directory with --model /path/to/model.")
    assert err.value.render() == old == str(err.value)
    assert err.value.code == "unknown_model"
    zh = err.value.render("zh")
    assert zh.startswith("配置项 'model_name_or_path'：未知的模型 'zzqq/qqzz-xx'：内置模型目录里没有")
    assert "无法访问 Hub" in zh and zh.endswith("也可以用 --model /path/to/model 指定本地模型目录。")
    assert not ENGLISH.search(zh_prose(zh, str(hf_hub_cache_dir()))), zh


def test_close_names_are_suggested_in_both_languages():
    with pytest.raises(ModelError) as err:
        inspect_model("Qwen2.5-7B-Instrukt", allow_network=False)
    assert "Did you mean: " in err.value.render() and "你是不是想写：" in err.value.render("zh")


def test_folder_without_config_json(tmp_path: Path):
    with pytest.raises(ModelError) as err:
        inspect_model(str(tmp_path))
    assert err.value.render() == (f"{tmp_path}: no config.json in {tmp_path}. Point --model at a Hugging Face "
                                  "model directory (the one holding config.json).")
    zh = err.value.render("zh")
    assert zh == f"{tmp_path}：{tmp_path} 里没有 config.json。请让 --model 指向 Hugging Face 模型目录（含 config.json 的那个）。"


def test_custom_code_needs_trust_remote_code(tmp_path: Path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "acme", "auto_map": {"AutoModel": "x.Y"}}))
    with pytest.raises(ModelError) as err:
        inspect_model(str(tmp_path))
    english = err.value.render()
    assert "is custom code (config.json has auto_map)" in english and "`trust_remote_code: true`" in english
    zh = err.value.render("zh")
    assert "自定义代码" in zh and "`trust_remote_code: true`" in zh
    assert not ENGLISH.search(zh_prose(zh, str(tmp_path))), zh


def test_missing_model_path_and_no_model():
    with pytest.raises(ModelError) as err:
        inspect_model("./no/such/folder")
    assert err.value.render("zh").startswith("配置项 'model_name_or_path'：模型路径 '")
    with pytest.raises(ModelError) as err:
        inspect_model("")
    assert err.value.render() == ("key 'model_name_or_path': no model given. Set model_name_or_path to a hub id "
                                  "(e.g. Qwen/Qwen2.5-0.5B-Instruct) or a local directory (--model /path/to/model).")
    assert err.value.render("zh").startswith("配置项 'model_name_or_path'：没有指定模型。请把 model_name_or_path")


def test_gated_message_in_both_languages():
    err = ModelError(Msg("gated", repo="meta-llama/X"), hint=Msg("hint_gated"))
    assert err.render() == ("'meta-llama/X' is gated on the Hugging Face hub and this machine has no access. Accept "
                            "its licence on the hub and `huggingface-cli login`, or pass a local copy with --model "
                            "/path/to/model.")
    assert "受限（gated）" in err.render("zh") and "`huggingface-cli login`" in err.render("zh")


def test_nothing_fits_english_is_unchanged_and_chinese_is_complete():
    cfg = load_config(None, {"model_name_or_path": "meta-llama/Llama-3.1-70B"})
    spec = inspect_model("meta-llama/Llama-3.1-70B", allow_network=False)
    with pytest.raises(NothingFits) as info:
        make_plan(cfg, resolve_hardware("rtx4090", None), spec)
    text = str(info.value)
    assert text.startswith("nothing fits: meta-llama/Llama-3.1-70B (lora) needs at least ")
    assert (" GiB per GPU with batch 1, 4-bit quantization, gradient checkpointing, optimizer paged_adamw_8bit, "
            "cutoff_len 2048, the leanest settings your keys allow; ") in text
    hints = text.split("What would fit: ")[1]
    assert hints.endswith(".") and "with FSDP" in hints and "a smaller model" in hints
    message = info.value.args[0]
    assert isinstance(message, Msg) and message.code == "nothing_fits"
    zh = info.value.render("zh")
    assert zh.startswith("怎样都放不下：meta-llama/Llama-3.1-70B（lora）") and "配合 FSDP" in zh and "更小的模型" in zh
    assert not ENGLISH.search(zh_prose(zh, "meta-llama/Llama-3.1-70B", "NVIDIA GeForce RTX 4090")), zh
    assert info.value.render() == text == info.value.render("en")


def test_an_uncoded_error_stays_english_whole_and_a_coded_one_names_its_key_in_chinese():
    plain = InputError("something odd", key="lora_rank", hint="Fix it.")
    assert plain.render("zh") == plain.render() == "key 'lora_rank': something odd. Fix it."
    assert plain.code is None and plain.params == {}
    coded = InputError(Msg("lora_rank", value=0), key="lora_rank")
    assert coded.render() == "key 'lora_rank': must be a positive integer, got 0."
    assert coded.render("zh") == "配置项 'lora_rank'：必须是正整数，当前为 0。"
    assert coded.code == "lora_rank" and coded.params == {"value": 0}


def test_coded_texts_survive_copies_pickles_and_joins():
    import copy
    import pickle

    hint = Msg("fit_cutoff", length=512, quant=Msg("with_quant", bits=4))
    joined = Msg.join([hint, Msg("fit_qlora")], "semicolon")
    assert str(joined) == "a shorter cutoff_len: 512 and 4-bit quantization; 4-bit quantization (quantization_bit: 4, QLoRA)"
    assert render(joined, "zh") == "更短的 cutoff_len：512，并使用 4 位量化；4 位量化（quantization_bit: 4，即 QLoRA）"
    for clone in (copy.deepcopy(joined), pickle.loads(pickle.dumps(joined))):
        assert clone == joined and render(clone, "zh") == render(joined, "zh")
    assert isinstance(pickle.loads(pickle.dumps(hint)), Msg)
    assert render("plain", "zh") == "plain" and render(None, "zh") == ""
