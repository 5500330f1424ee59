"""Config validation messages: plain English strings (unchanged text) that can also be said in Chinese."""

from __future__ import annotations

import copy
import json
import pickle
import re
from pathlib import Path

import pytest
from ft_tui.planner import config
from ft_tui.planner.catalogs.config import CATALOG
from ft_tui.planner.config import (
    ConfigProblems,
    Problem,
    config_from_dict,
)
from ft_tui.planner.lf_keys import LLAMAFACTORY_IGNORED
from ft_tui.planner.messages import Msg, render

CJK = re.compile(r"[\u4e00-\u9fff]")
PLANNER = Path(config.__file__).resolve().parent


def _problems(data: dict) -> list[Problem]:
    with pytest.raises(ConfigProblems) as exc:
        config_from_dict(data)
    return exc.value.problems


def test_every_code_is_used_and_every_used_code_exists():
    source = "".join((PLANNER / name).read_text(encoding="utf-8")
                     for name in ("config.py", "lf_keys.py", "yaml_files.py"))
    unused = sorted(code for code in CATALOG if f'"{code}"' not in source)
    assert not unused, f"catalog codes config.py, lf_keys.py and yaml_files.py never use: {unused}"
    quoted = set(re.findall(r'(?:Msg|_Invalid)\(\s*"([a-z_0-9]+)"', source))
    assert quoted and quoted <= set(CATALOG), sorted(quoted - set(CATALOG))


@pytest.mark.parametrize("data,key,english", [
    ({"lora_rank": 0}, "lora_rank", "must be >= 1, got 0"),
    ({"learning_rate": 0}, "learning_rate", "must be > 0, got 0.0"),
    ({"lora_dropout": 2}, "lora_dropout", "must be <= 0.99, got 2.0"),
    ({"quantization_bit": 3}, "quantization_bit", "must be one of null, 4, 8; got 3"),
    ({"bf16": "maybe"}, "bf16", "must be true or false, got 'maybe'"),
    ({"cutoff_len": "long"}, "cutoff_len", "must be a whole number, got 'long'"),
    ({"weight_decay": "x"}, "weight_decay", "must be a number, got 'x'"),
    ({"weight_decay": "inf"}, "weight_decay", "must be a finite number, got 'inf'"),
    ({"template": {"a": 1}}, "template", "must be a single value, got dict"),
    ({"stage": None}, "stage", "must not be empty"),
    ({"lora_rnak": 1}, "lora_rnak", "is not a known config key; did you mean 'lora_rank'?"),
    ({"finetuning_type": "full", "quantization_bit": 4}, "quantization_bit",
     "quantization works only with finetuning_type: lora (got full); remove quantization_bit or use lora"),
    ({"bf16": True, "fp16": True}, "fp16", "bf16 and fp16 cannot both be true; pick one"),
    ({"num_train_epochs": 0}, "num_train_epochs", "set num_train_epochs > 0 or max_steps > 0, or nothing is trained"),
    ({"max_steps": 0}, "max_steps", "must be a positive number of steps, or -1 to use num_train_epochs"),
    ({"stage": "pt", "train_on_prompt": True}, "train_on_prompt",
     "applies to stage sft only; pre-training trains on every token"),
    ({"freeze_trainable_layers": 0}, "freeze_trainable_layers",
     "must not be 0: a positive n trains the last n layers, a negative n the first n"),
    ({"val_size": 1.5}, "val_size", "a value >= 1 is a row count and must be whole, got 1.5"),
    ({"lora_target": "q-proj"}, "lora_target", "'q-proj' is not a module name; use 'all' or names like q_proj,v_proj"),
    ({"lora_target": " , "}, "lora_target", "must name at least one module, or 'all'"),
    ({"warmup_ratio": 0.1, "warmup_steps": 10}, "warmup_steps", "set warmup_ratio or warmup_steps, not both"),
])
def test_english_text_is_unchanged_and_chinese_is_available(data, key, english):
    (problem,) = _problems(data)
    assert problem.key == key
    assert problem.message == english and render(problem.message) == english and render(problem.message, "en") == english
    assert problem.render() == f"key '{key}' {english}"
    assert isinstance(problem.message, Msg)
    zh = render(problem.message, "zh")
    assert CJK.search(zh) and zh != english
    assert problem.render(lang="zh") == f"配置项 '{key}'：{zh}"


def test_real_problems_in_chinese():
    by_key = {p.key: p for p in _problems({"lora_rank": 0, "bf16": "maybe", "lora_rnak": 4, "stage": "dpo"})}
    assert render(by_key["lora_rank"].message, "zh") == "必须 >= 1，当前为 0"
    assert render(by_key["bf16"].message, "zh") == "必须是 true 或 false，当前为 'maybe'"
    assert by_key["lora_rnak"].render("cfg.yaml", lang="zh") == "cfg.yaml: 配置项 'lora_rnak'：不是已知的配置项；你是不是想写 'lora_rank'？"
    assert render(by_key["stage"].message, "zh").startswith("必须是 sft, pt 之一，当前为 'dpo'（ft-tui 不支持 LLaMA-Factory")
    (quant,) = _problems({"finetuning_type": "freeze", "quantization_bit": 8})
    assert render(quant.message, "zh") == "量化只能配合 finetuning_type: lora 使用（当前为 freeze）；请去掉 quantization_bit 或改用 lora"


def test_problem_render_keeps_the_file_layout(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("model_name_or_path: m\nlora_rank: 0\n", encoding="utf-8")
    from ft_tui.planner.config import load_config

    with pytest.raises(ConfigProblems) as exc:
        load_config(path)
    (problem,) = exc.value.problems
    assert problem.render(str(path)) == f"{path}:2: key 'lora_rank' must be >= 1, got 0"
    assert problem.render(str(path), lang="zh") == f"{path}:2: 配置项 'lora_rank'：必须 >= 1，当前为 0"
    assert exc.value.render() == f"{path}:2: 'lora_rank' must be >= 1, got 0"


def test_config_problems_render_in_chinese_one_line_each():
    with pytest.raises(ConfigProblems) as exc:
        config_from_dict({"lora_rank": 0, "bogus_key": 1}, source="cfg.yaml")
    english = exc.value.render()
    assert english == exc.value.render("en") and "(and 1 more: " in english
    lines = exc.value.render("zh").splitlines()
    assert lines == ["cfg.yaml: 配置项 'lora_rank'：必须 >= 1，当前为 0",
                     "cfg.yaml: 配置项 'bogus_key'：不是已知的配置项；`ft-tui plan --model MODEL -o FILE.yaml` "
                     "会写出一份列出所有配置项的配置"]


def test_warnings_in_both_languages():
    cfg = config_from_dict({"do_train": True, "push_to_hub": True, "finetuning_args": 1, "group_by_length": True,
                            "packing": True})
    english = list(cfg.warnings)
    assert english == [
        "'do_train' has no effect in ft-tui: ft-tui always trains",
        "'push_to_hub' has no effect in ft-tui: ft-tui does not upload; run `ft-tui export RUN` and push the result "
        "yourself",
        "'finetuning_args' has no effect in ft-tui",
        "'group_by_length' has no effect while packing is on: packed rows all have the same length (cutoff_len)",
    ]
    assert [render(w, "en") for w in cfg.warnings] == english
    assert [render(w, "zh") for w in cfg.warnings] == [
        "'do_train' 在 ft-tui 中不起作用：ft-tui 总是会训练",
        "'push_to_hub' 在 ft-tui 中不起作用：ft-tui 不会上传；请运行 `ft-tui export RUN`，再自行推送导出的结果",
        "'finetuning_args' 在 ft-tui 中不起作用",
        "打包开启时 'group_by_length' 不起作用：打包后每行长度都相同（cutoff_len）",
    ]
    # warnings that are not config messages (a template check, say) pass through unchanged
    assert render("plain text", "zh") == "plain text"


def test_every_specific_reason_renders_in_chinese():
    for key, reason in LLAMAFACTORY_IGNORED.items():
        if not reason:
            continue
        assert isinstance(reason, Msg), key
        assert CJK.search(render(reason, "zh")), key


def test_unknown_language_and_none_fall_back_to_english():
    (problem,) = _problems({"lora_rank": 0})
    assert render(problem.message, "fr") == render(problem.message, None) == "must be >= 1, got 0"
    assert problem.render(lang=None) == "key 'lora_rank' must be >= 1, got 0"
    assert render(None, "zh") == "" and render("as is", "zh") == "as is"


def test_messages_survive_copy_pickle_and_json():
    cfg = config_from_dict({"do_train": True})
    (problem,) = _problems({"lora_rank": 0})
    for clone in (copy.deepcopy(cfg.warnings[0]), pickle.loads(pickle.dumps(cfg.warnings[0]))):
        assert isinstance(clone, Msg) and clone == cfg.warnings[0]
        assert render(clone, "zh") == render(cfg.warnings[0], "zh")
    restored = pickle.loads(pickle.dumps(problem))
    assert restored == problem and render(restored.message, "zh") == render(problem.message, "zh")
    assert json.loads(json.dumps({"warnings": list(cfg.warnings)})) == {
        "warnings": ["'do_train' has no effect in ft-tui: ft-tui always trains"]}


def test_config_file_errors_say_the_same_in_english_and_render_in_chinese(tmp_path):
    import pytest
    from ft_tui.planner.config import ConfigError, load_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("lora_rank: [1,\n", encoding="utf-8")
    listed = tmp_path / "list.yaml"
    listed.write_text("- lora_rank\n", encoding="utf-8")
    cases = [(tmp_path / "missing.yaml", "config file not found. Check the path; `ft-tui plan -o FILE.yaml` "
                                         "writes a starting config.", "找不到配置文件"),
             (bad, "is not valid YAML", "不是合法的 YAML"),
             (listed, "must be a YAML mapping of key: value lines", "YAML 映射")]
    for path, english, chinese in cases:
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert english in info.value.render() and str(path) in info.value.render()
        zh = info.value.render("zh")
        assert chinese in zh and str(path) in zh and english not in zh
