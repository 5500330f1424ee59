"""The planner's reasons: plain English strings that can also be said in Chinese."""

from __future__ import annotations

import copy
import json
import re

import pytest
from ft_tui.planner.config import config_from_dict
from ft_tui.planner.hardware import resolve_hardware
from ft_tui.planner.messages import Msg, render
from ft_tui.planner.recommend import SET_BY_YOU, make_plan

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_a_reason_is_its_english_text_and_renders_in_chinese():
    r = Msg("cutoff_p99", value=512, p99=480)
    assert r == "512: covers 99% of samples (p99 = 480 tokens), rounded up" and isinstance(r, str)
    assert render(r, "zh") == "512：覆盖 99% 的样本（p99 = 480 token），向上取整"
    assert render(r, "en") == r and render("plain text", "zh") == "plain text"
    assert json.loads(json.dumps({"k": r})) == {"k": str(r)}
    assert render(copy.deepcopy(r), "zh") == render(r, "zh")


@pytest.mark.parametrize(("model", "gpu", "gpus", "extra"), [
    ("meta-llama/Meta-Llama-3-8B-Instruct", "t4", None, {}),
    ("Qwen/Qwen2.5-7B", "a100-80gb", 4, {}),
    ("Qwen/Qwen2.5-0.5B", "h100-80gb", None, {"finetuning_type": "full"}),
    ("meta-llama/Llama-3.1-70B", "a100-80gb", 8, {"bf16": True}),
    ("meta-llama/Meta-Llama-3-8B-Instruct", "h200", None, {"cutoff_len": 16384}),
    ("meta-llama/Meta-Llama-3-8B-Instruct", "24GiB", None, {}),
])
def test_every_reason_of_real_plans_renders_in_chinese(model, gpu, gpus, extra):
    cfg = config_from_dict({"model_name_or_path": model, **extra})
    plan = make_plan(cfg, resolve_hardware(gpu, gpus))
    assert plan.reasons
    for key, reason in plan.reasons.items():
        zh = render(reason, "zh")
        assert isinstance(reason, Msg), key
        assert CJK.search(zh) or reason == SET_BY_YOU and zh == "由你设定", (key, zh)
        assert "{" not in zh and "{" not in reason, (key, zh)
