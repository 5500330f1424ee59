"""Dataset warnings, dropped-row reasons, template reasons and data errors carry message codes (``Msg``): their
English text is what it always was, and they render in Chinese from the code, with no text matching. Statistics
cached on disk keep the codes; an entry without them is not reused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from ft_tui.planner.config import load_config
from ft_tui.planner.errors import ConfigError, DataError
from ft_tui.planner.messages import Msg, render
from ft_tui.templates import registry, stats
from ft_tui.templates.stats import DataStats, format_stats
from ft_tui.templates.trainset import compute_stats, load_conversations

ENGLISH = re.compile(r"\b(the|is|not|in|and|or|must|cannot|does|with|has|no|was|were|are|dataset|rows?)\b")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def make_cfg(folder: Path, **keys):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(keys), encoding="utf-8")
    return load_config(path)


def prose(text: str) -> str:
    """Chinese text without what stays as it is: quoted names, paths, key names, code spans, JSON examples."""
    text = re.sub(r"`[^`]*`|'[^']*'|\"[^\"]*\"|\{[^}]*\}|(?:/[\w.\-<>]+)+|\w+_\w+(?:_\w+)*", " ", text)
    return text


def sharegpt_registry(folder: Path) -> None:
    rows = [
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "  "}]},
        {"conversations": [{"from": "gpt", "value": "first"}, {"from": "human", "value": "x"}]},
        {"conversations": [{"from": "human", "value": "only a question"}]},
        {"conversations": []},
    ]
    (folder / "chats.json").write_text(json.dumps(rows), encoding="utf-8")
    info = {"chats": {"file_name": "chats.json", "formatting": "sharegpt", "num_samples": 3, "typo_key": 1,
                      "columns": {"messages": "conversations", "colour": "x"}, "tags": {"odd_tag": "y"}}}
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")


def test_warnings_and_drop_reasons_are_coded_with_their_old_english(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    sharegpt_registry(data)
    cfg = make_cfg(tmp_path, model_name_or_path="x", dataset="chats", dataset_dir="data")
    loaded = load_conversations(cfg)
    registry_file = data / "dataset_info.json"
    assert [str(w) for w in loaded.warnings] == [
        f"{registry_file}: dataset 'chats': key 'typo_key' is not a dataset_info.json key and is ignored",
        "dataset 'chats': 'num_samples' is ignored; use max_samples in the config",
        "dataset 'chats': column key 'colour' is unknown and ignored",
        "dataset 'chats': tag key 'odd_tag' is unknown and ignored",
    ]
    assert all(isinstance(w, Msg) for w in loaded.warnings)
    assert dict(loaded.dropped) == {"empty response": 1, "turns do not alternate user/assistant": 1,
                                    "conversation does not end with an assistant turn": 1,
                                    "messages is empty or not a list": 1}
    assert {r.code for r in loaded.dropped} == {"drop_empty_response", "drop_alternate", "drop_last_turn",
                                                "drop_messages"}
    zh = [render(w, "zh") for w in loaded.warnings]
    assert zh[1] == "数据集 'chats'：'num_samples' 会被忽略；请在配置里用 max_samples"
    for line in zh:
        assert not ENGLISH.search(prose(line)), line


def test_stats_cache_keeps_the_codes_and_an_entry_without_them_is_not_reused(tmp_path: Path, tokenizer, template):
    data = tmp_path / "data"
    data.mkdir()
    sharegpt_registry(data)
    cfg = make_cfg(tmp_path, model_name_or_path="x", dataset="chats", dataset_dir="data", cutoff_len=64)
    fresh = compute_stats(cfg, tokenizer, template)
    cached = compute_stats(cfg, tokenizer, template)
    assert cached.cached and cached.to_dict() | {"cached": False} == fresh.to_dict() | {"cached": False}
    assert all(isinstance(r, Msg) for r in cached.dropped_reasons)
    assert all(isinstance(w, Msg) for w in cached.warnings)
    assert format_stats(cached, "zh") == format_stats(fresh, "zh") and "回复为空" in format_stats(cached, "zh")
    assert format_stats(cached) == format_stats(fresh)
    # an entry without the notes' codes (text only): computed again, never matched back from its text
    entry = next(stats.cache_dir().glob("*.json"))
    raw = json.loads(entry.read_text(encoding="utf-8"))
    raw.pop("notes")
    entry.write_text(json.dumps(raw), encoding="utf-8")
    old = compute_stats(cfg, tokenizer, template)
    assert not old.cached and {r.code for r in old.dropped_reasons} == {r.code for r in fresh.dropped_reasons}
    assert format_stats(old, "zh") == format_stats(fresh, "zh")


def test_format_stats_english_is_unchanged_for_coded_notes():
    s = DataStats(kind="sft", rows=10, rows_read=12, dropped=2,
                  dropped_reasons={Msg("drop_too_long", cutoff=64): 2}, p50=1, p90=2, p99=3, max_len=4,
                  mean_len=1.5, cutoff_len=64, truncated_share=0.0, train_sequences=10, eval_sequences=0,
                  total_tokens=100, trainable_tokens=50, packed=False, warnings=[Msg("warn_no_eos")])
    lines = format_stats(s).splitlines()
    assert lines[-2] == "dropped 2: 2 longer than cutoff_len=64 with nothing left to train; raise cutoff_len"
    assert lines[-1] == "warning: the tokenizer has no eos token; texts are concatenated without a separator"
    zh = format_stats(s, "zh").splitlines()
    assert zh[-2] == "丢弃 2 条：2 条（超过 cutoff_len=64，截断后没有可训练的部分；请调大 cutoff_len）"
    assert zh[-1] == "注意：分词器没有 eos token；各段文本直接拼接，中间没有分隔符"


@pytest.mark.parametrize("keys, english, chinese", [
    ({"dataset": "nope_data"}, "key 'dataset': unknown dataset 'nope_data' (no dataset_info.json in dataset_dir ",
     "配置项 'dataset'：未知的数据集 'nope_data'（dataset_dir "),
    ({"dataset": "missing.jsonl"}, "key 'dataset': dataset file 'missing.jsonl' does not exist (looked for ",
     "配置项 'dataset'：数据集文件 'missing.jsonl' 不存在（查找的是 "),
])
def test_dataset_errors_render_in_chinese(tmp_path: Path, keys, english, chinese):
    cfg = make_cfg(tmp_path, model_name_or_path="x", **keys)
    with pytest.raises(DataError) as err:
        load_conversations(cfg)
    assert err.value.render().startswith(english) and str(err.value) == err.value.render()
    zh = err.value.render("zh")
    assert zh.startswith(chinese), zh
    assert not ENGLISH.search(prose(zh)), zh


def test_broken_rows_and_missing_columns_render_in_chinese(tmp_path: Path):
    (tmp_path / "bad.jsonl").write_text('{"instruction": "a", "output": "b"}\n{"instruction": \n', encoding="utf-8")
    cfg = make_cfg(tmp_path, model_name_or_path="x", dataset="bad.jsonl")
    with pytest.raises(DataError) as err:
        load_conversations(cfg)
    assert err.value.render().startswith(f"{tmp_path / 'bad.jsonl'}:2: line 2 is not valid JSON: Expecting value")
    assert err.value.render().endswith("Each line must be one complete JSON object.")
    assert err.value.render("zh").startswith(f"{tmp_path / 'bad.jsonl'}:2：第 2 行不是有效的 JSON：")
    assert err.value.render("zh").endswith("每行必须是一个完整的 JSON 对象。")

    (tmp_path / "cols.json").write_text(json.dumps([{"question": "a", "answer": "b"}]), encoding="utf-8")
    cfg = make_cfg(tmp_path, model_name_or_path="x", dataset="cols.json")
    with pytest.raises(DataError) as err:
        load_conversations(cfg)
    assert err.value.render() == (
        f"dataset 'cols.json' (alpaca, stage sft) needs column(s) 'instruction' (prompt), 'output' (response), but "
        f"{tmp_path / 'cols.json'} has: answer, question. Fix: rename the columns, or register the file in "
        "dataset_info.json with a \"columns\" mapping.")
    zh = err.value.render("zh")
    assert zh.startswith("数据集 'cols.json'（alpaca，stage sft）需要列 'instruction' (prompt)")
    assert "解决办法：重命名这些列" in zh


def test_all_rows_dropped_lists_the_reasons_in_either_language(tmp_path: Path):
    (tmp_path / "empty.json").write_text(json.dumps([{"instruction": "a", "output": ""}] * 3), encoding="utf-8")
    cfg = make_cfg(tmp_path, model_name_or_path="x", dataset="empty.json")
    with pytest.raises(DataError) as err:
        load_conversations(cfg)
    assert err.value.render() == ("key 'dataset': all 3 rows were dropped, nothing is left to train "
                                  "(3 empty response)")
    assert err.value.render("zh") == "配置项 'dataset'：全部 3 行都被丢弃，没有可训练的数据（3 条（回复为空））"


def test_template_reasons_warnings_and_errors_are_coded():
    tpl, reason = registry.resolve_template(None, None, "Qwen/Qwen2.5-7B-Instruct", "qwen2")
    assert reason == "chose 'qwen' from model_type 'qwen2' and the model name" and reason.code == "tpl_type_and_name"
    assert render(reason, "zh") == "根据 model_type 'qwen2' 和模型名称选了 'qwen'"
    _, reason = registry.resolve_template("chatml")
    assert reason == "template 'chatml' set in the config" and render(reason, "zh") == "配置里设定了模板 'chatml'"

    class BareTokenizer:  # a base model's tokenizer: no chat template, none of the template's special tokens
        chat_template = None

        def get_vocab(self):
            return {"a": 0}

    warnings = registry.template_warnings(tpl, BareTokenizer(), "acme/base-7b")
    assert [w.code for w in warnings] == ["warn_base_model", "warn_missing_tokens"]
    assert str(warnings[0]).startswith("'acme/base-7b' looks like a base model (its tokenizer has no chat template")
    unnamed = registry.is_base_model_warning(tpl, BareTokenizer(), "")
    assert str(unnamed).startswith("this model looks like a base model") and render(unnamed, "zh").startswith("这个模型")
    for w in (*warnings, unnamed):
        zh = render(Msg("warning", text=w), "zh")
        assert zh.startswith("注意：") and not ENGLISH.search(prose(zh)), zh

    with pytest.raises(ConfigError) as err:
        registry.get_template("no-such-template")
    assert err.value.render().startswith("key 'template': unknown chat template 'no-such-template'. Known templates: ")
    assert err.value.render("zh").startswith("配置项 'template'：未知的对话模板 'no-such-template'。已有的模板：")


def test_joined_notes_render_each_line_and_keep_the_english_text():
    note = Msg("no_tokenizer_counted", cutoff=1024, rows=12)
    joined = Msg.join([Msg("warn_num_samples", name="d"), note], "line")
    assert str(joined) == "dataset 'd': 'num_samples' is ignored; use max_samples in the config\n" + note
    zh = render(joined, "zh").splitlines()
    assert zh[0] == "数据集 'd'：'num_samples' 会被忽略；请在配置里用 max_samples" and "12 条样本" in zh[1]
    assert render(joined, "en") == joined
    assert Msg.join([note], "line") == note and Msg.join([], "line") == ""
