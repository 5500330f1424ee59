"""Loading datasets: LLaMA-Factory registries, file types, folders, concatenation and every error message."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from ft_tui.planner.config import load_config
from ft_tui.planner.errors import DataError
from ft_tui.templates.datasets import resolve_dataset
from ft_tui.templates.readers import read_rows
from ft_tui.templates.trainset import load_conversations, pack_sequences

LF_DIR = Path(__file__).parent / "data" / "lf"


def make_cfg(folder: Path, **keys):
    """Write ``folder/config.yaml`` with ``keys`` and load it (relative paths resolve against ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(keys), encoding="utf-8")
    return load_config(path)


def lf_cfg(tmp_path: Path, **keys):
    return make_cfg(tmp_path, dataset_dir=str(LF_DIR), **keys)


ALPACA_ROWS = [{"instruction": f"Say {i}.", "input": "" if i % 2 else "loudly", "output": f"{i}!"} for i in range(7)]


# ---------------------------------------------------------------------------------------------- LLaMA-Factory data

def test_lf_alpaca_loads_unchanged_with_the_same_row_count(tmp_path):
    raw = json.loads((LF_DIR / "alpaca_demo.json").read_text())
    data = load_conversations(lf_cfg(tmp_path, dataset="alpaca_demo"))
    assert data.kind == "sft"
    assert data.rows == {"alpaca_demo": len(raw)} and len(data.samples) == len(raw)
    first = data.samples[0]
    assert first == [{"role": "user", "content": raw[0]["instruction"] + "\n" + raw[0]["input"]},
                     {"role": "assistant", "content": raw[0]["output"]}]
    # an empty input gives the instruction alone (no trailing newline)
    assert data.samples[1][0]["content"] == raw[1]["instruction"]


def test_lf_alpaca_history_and_system_become_earlier_turns(tmp_path):
    data = load_conversations(lf_cfg(tmp_path, dataset="alpaca_full"))
    conv = data.samples[0]
    assert [m["role"] for m in conv] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert conv[0]["content"] == "You are a translator."
    assert conv[2]["content"] == "Hola." and conv[-1]["content"] == "Bonjour."
    assert [m["role"] for m in data.samples[1]] == ["user", "assistant"]  # empty system, empty history
    assert data.samples[2][1]["content"] == "Summarize:\nCats sleep a lot. They also purr."


def test_lf_sharegpt_validates_alternation_and_maps_tool_turns(tmp_path):
    data = load_conversations(lf_cfg(tmp_path, dataset="sharegpt_demo"))
    assert data.rows == {"sharegpt_demo": 4} and data.kept == {"sharegpt_demo": 2}
    assert data.dropped == {"turns do not alternate user/assistant": 1,
                            "conversation does not end with an assistant turn": 1}
    chat, tools = data.samples
    assert chat[0] == {"role": "system", "content": "You are helpful."}
    assert [m["role"] for m in tools] == ["user", "assistant", "user", "assistant"]
    assert tools[1]["content"].startswith('{"name": "weather"')
    assert any("tool turns" in w for w in data.warnings)
    assert any("'tools' column" in w for w in data.warnings)


def test_lf_openai_style_tags_and_system_message(tmp_path):
    data = load_conversations(lf_cfg(tmp_path, dataset="openai_demo"))
    assert len(data.samples) == 5
    assert data.samples[3] == [{"role": "system", "content": "You answer with numbers."},
                               {"role": "user", "content": "What is 3 + 3?"},
                               {"role": "assistant", "content": "6"}]


def test_lf_pretrain_text_column(tmp_path):
    data = load_conversations(lf_cfg(tmp_path, dataset="c4_demo", stage="pt"))
    assert data.kind == "pt" and len(data.samples) == 6
    assert data.samples[0].startswith("Paragraph 0.")


def test_ranking_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(DataError) as err:
        load_conversations(lf_cfg(tmp_path, dataset="dpo_demo"))
    msg = err.value.render()
    assert "preference data (DPO/RM) is not supported yet" in msg
    assert "dataset_info.json:" in msg  # file and line of the entry


def test_the_stage_refuses_ranking_data_before_any_row_is_read(tmp_path):
    """The registry records what an entry holds; the training stage decides (sft and pt read no pairs), also in
    the check run before a launch, which reads no rows (a hub entry would otherwise reach the trainer)."""
    from ft_tui.templates.trainset import check_dataset

    cfg = lf_cfg(tmp_path, dataset="dpo_demo")
    spec = resolve_dataset("dpo_demo", cfg)
    assert spec.ranking and spec.data_kind == "ranking" and spec.line is not None
    for stage in ("sft", "pt"):
        with pytest.raises(DataError) as err:
            check_dataset("dpo_demo", cfg.replace(stage=stage))
        assert "preference data (DPO/RM) is not supported yet" in err.value.render()
        assert f"dataset_info.json:{spec.line}" in err.value.render()
    assert check_dataset("alpaca_demo", cfg).data_kind == "plain"


def test_hub_dataset_offline_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="offline"):
        load_conversations(lf_cfg(tmp_path, dataset="hub_only"))


def test_unknown_entry_keys_are_ignored_with_a_warning(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.json").write_text(json.dumps(ALPACA_ROWS))
    (tmp_path / "d" / "dataset_info.json").write_text(json.dumps({"a": {"file_name": "a.json", "file_nmae": "x"}}))
    data = load_conversations(make_cfg(tmp_path, dataset="a", dataset_dir="d"))
    assert len(data.samples) == 7
    assert any("file_nmae" in w for w in data.warnings)


# ---------------------------------------------------------------------------------------------- files and folders

def _write_all_types(folder: Path) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    paths["json"] = folder / "a.json"
    paths["json"].write_text(json.dumps(ALPACA_ROWS, indent=1))
    paths["jsonl"] = folder / "a.jsonl"
    paths["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in ALPACA_ROWS))
    paths["csv"] = folder / "a.csv"
    with paths["csv"].open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["instruction", "input", "output"])
        w.writeheader()
        w.writerows(ALPACA_ROWS)
    table = pa.Table.from_pylist(ALPACA_ROWS)
    paths["parquet"] = folder / "a.parquet"
    pq.write_table(table, paths["parquet"])
    paths["arrow"] = folder / "a.arrow"
    with pa.OSFile(str(paths["arrow"]), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return paths


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv", "parquet", "arrow"])
def test_every_file_type_gives_the_same_conversations(tmp_path, kind):
    paths = _write_all_types(tmp_path / "files")
    data = load_conversations(make_cfg(tmp_path, dataset=f"files/{paths[kind].name}"))
    expected = load_conversations(make_cfg(tmp_path / "ref", dataset=str(paths["json"])))
    assert data.samples == expected.samples and len(data.samples) == len(ALPACA_ROWS)


def test_txt_file_for_pretraining(tmp_path):
    (tmp_path / "corpus.txt").write_text("first line of text\n\nsecond line\nthird\n")
    data = load_conversations(make_cfg(tmp_path, dataset="corpus.txt", stage="pt"))
    assert data.samples == ["first line of text", "second line", "third"]


def test_formatting_is_guessed_from_columns(tmp_path):
    sharegpt = [{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}]
    openai = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    (tmp_path / "s.json").write_text(json.dumps(sharegpt))
    (tmp_path / "o.jsonl").write_text(json.dumps(openai[0]) + "\n")
    (tmp_path / "t.jsonl").write_text(json.dumps({"text": "plain"}) + "\n")
    want = [[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]]
    assert load_conversations(make_cfg(tmp_path, dataset="s.json")).samples == want
    assert load_conversations(make_cfg(tmp_path, dataset="o.jsonl")).samples == want
    assert load_conversations(make_cfg(tmp_path, dataset="t.jsonl", stage="pt")).samples == ["plain"]


def test_json_lines_inside_a_dot_json_file(tmp_path):
    (tmp_path / "a.json").write_text("".join(json.dumps(r) + "\n" for r in ALPACA_ROWS))
    assert len(load_conversations(make_cfg(tmp_path, dataset="a.json")).samples) == len(ALPACA_ROWS)


def test_folder_of_same_type_files(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    for i in range(3):
        (folder / f"part-{i}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ALPACA_ROWS))
    (folder / "README.md").write_text("ignored")
    data = load_conversations(make_cfg(tmp_path, dataset="shards"))
    assert len(data.samples) == 3 * len(ALPACA_ROWS)


def test_folder_with_mixed_types_lists_them(tmp_path):
    _write_all_types(tmp_path / "mixed")
    with pytest.raises(DataError) as err:
        load_conversations(make_cfg(tmp_path, dataset="mixed"))
    msg = err.value.render()
    assert "one type" in msg and "a.csv (csv)" in msg and "a.parquet (parquet)" in msg


def test_concatenation_and_max_samples_per_dataset(tmp_path):
    cfg = lf_cfg(tmp_path, dataset="alpaca_demo, openai_demo")
    data = load_conversations(cfg)
    assert data.rows == {"alpaca_demo": 10, "openai_demo": 5} and len(data.samples) == 15
    assert data.samples[10][0]["role"] == "system"  # openai rows come after the alpaca rows
    capped = load_conversations(cfg.replace(max_samples=3))
    assert capped.rows == {"alpaca_demo": 3, "openai_demo": 3}
    assert capped.samples[:3] == data.samples[:3] and capped.samples[3:] == data.samples[10:13]


def test_relative_dataset_dir_resolves_against_the_config_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(LF_DIR, project / "mydata")
    cfg = make_cfg(project, dataset="alpaca_demo", dataset_dir="mydata")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert len(load_conversations(cfg).samples) == 10


def test_bundled_demo_datasets_resolve_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = make_cfg(tmp_path / "cfg", dataset="demo_alpaca_en")
    spec = resolve_dataset("demo_alpaca_en", cfg)
    assert spec.files and spec.files[0].is_file()
    assert load_conversations(cfg).samples
    for name, stage in (("demo_alpaca_zh", "sft"), ("demo_sharegpt", "sft"), ("demo_pretrain", "pt")):
        assert load_conversations(make_cfg(tmp_path / name, dataset=name, stage=stage)).samples, name


def test_read_rows_limit_stops_early(tmp_path):
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ALPACA_ROWS) + "{broken\n")
    spec = resolve_dataset("a.jsonl", make_cfg(tmp_path, dataset="a.jsonl"))
    assert len(read_rows(spec, limit=3)) == 3  # the broken last line is never read


# ---------------------------------------------------------------------------------------------- errors

def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    lines = [json.dumps(r) for r in ALPACA_ROWS[:3]] + ['{"instruction": "x", "output": }'] + [json.dumps(ALPACA_ROWS[0])]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load_conversations(make_cfg(tmp_path, dataset="bad.jsonl"))
    assert err.value.line == 4
    assert f"{tmp_path / 'bad.jsonl'}:4" in err.value.render()


def test_malformed_json_array_reports_line_and_column(tmp_path):
    text = json.dumps(ALPACA_ROWS, indent=2).splitlines()
    text[5] = text[5] + " oops"
    (tmp_path / "bad.json").write_text("\n".join(text))
    with pytest.raises(DataError) as err:
        load_conversations(make_cfg(tmp_path, dataset="bad.json"))
    assert err.value.line == 6 and "column" in err.value.render()


def test_missing_columns_name_what_is_missing_and_what_exists(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "q.json").write_text(json.dumps([{"question": "q", "answer": "a"}]))
    (tmp_path / "d" / "dataset_info.json").write_text(json.dumps({"qa": {"file_name": "q.json"}}))
    with pytest.raises(DataError) as err:
        load_conversations(make_cfg(tmp_path, dataset="qa", dataset_dir="d"))
    msg = err.value.render()
    assert "'instruction' (prompt)" in msg and "'output' (response)" in msg
    assert "has: answer, question" in msg and "columns" in msg


def test_text_only_data_with_stage_sft_points_to_pt(tmp_path):
    (tmp_path / "t.jsonl").write_text(json.dumps({"text": "plain"}) + "\n")
    with pytest.raises(DataError, match="stage: pt"):
        load_conversations(make_cfg(tmp_path, dataset="t.jsonl"))


def test_unknown_dataset_lists_the_known_ones(tmp_path):
    with pytest.raises(DataError) as err:
        load_conversations(lf_cfg(tmp_path, dataset="alpaca_dmeo"))
    msg = err.value.render()
    assert "unknown dataset 'alpaca_dmeo'" in msg and "alpaca_demo" in msg and "sharegpt_demo" in msg


def test_missing_dataset_dir_is_named(tmp_path):
    with pytest.raises(DataError) as err:
        load_conversations(make_cfg(tmp_path, dataset="nope", dataset_dir="data"))
    assert str(tmp_path / "data") in err.value.render()


def test_broken_registry_names_the_file_and_line(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "dataset_info.json").write_text('{\n  "a": {"file_name": "a.json"},\n  "b": {\n}\n')
    with pytest.raises(DataError) as err:
        load_conversations(make_cfg(tmp_path, dataset="a", dataset_dir="d"))
    assert err.value.file.endswith("dataset_info.json") and err.value.line == 5


def test_registry_file_name_that_does_not_exist(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "dataset_info.json").write_text(json.dumps({"a": {"file_name": "missing.json"}}))
    with pytest.raises(DataError, match="missing.json' does not exist"):
        load_conversations(make_cfg(tmp_path, dataset="a", dataset_dir="d"))


def test_all_rows_dropped_says_why(tmp_path):
    rows = [{"instruction": "q", "output": ""} for _ in range(4)]
    (tmp_path / "e.json").write_text(json.dumps(rows))
    with pytest.raises(DataError, match="all 4 rows were dropped.*4 empty response"):
        load_conversations(make_cfg(tmp_path, dataset="e.json"))


# ---------------------------------------------------------------------------------------------- packing helper

def test_pack_sequences_fits_every_bin_and_keeps_every_index():
    lengths = [7, 3, 5, 2, 9, 1, 4, 6, 8, 10, 2, 2]
    bins = pack_sequences(lengths, 10)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 10 for b in bins)
    assert len(bins) == -(-sum(lengths) // 10)  # this input packs perfectly: 59 tokens into 6 bins
    with pytest.raises(ValueError):
        pack_sequences([11], 10)


def test_dataset_dir_online_reads_names_as_hub_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = make_cfg(tmp_path, dataset="tatsu-lab/alpaca", dataset_dir="ONLINE")
    assert resolve_dataset("tatsu-lab/alpaca", cfg).hub_url == "tatsu-lab/alpaca"
    with pytest.raises(DataError, match="hub is offline"):
        load_conversations(cfg)
