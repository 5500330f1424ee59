"""Bad input that used to escape its checks (issue #19 items 7-13), through the real CLI as a user runs it: each
exits 2 with a message naming the file / key / line, before anything is launched (no run directory left behind).

The trainer is tests/runner/fake_worker.py (no torch), injected through $FT_TUI_WORKER, so a check that is missed
shows up as a launched run rather than as a slow real one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from ft_tui.runner import launch
from ft_tui.runner.rundir import indexed_runs
from ft_tui.tui.cli import main

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")
TINY_LLAMA = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 1024,
    "max_position_embeddings": 2048, "tie_word_embeddings": False, "torch_dtype": "float32",
}


class Project:
    """A config folder (``folder``) with a model folder (config.json only) and train.yaml."""

    def __init__(self, folder: Path):
        self.folder = folder
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "config.json").write_text(json.dumps(TINY_LLAMA))
        self.config = folder / "train.yaml"

    def write(self, **keys) -> Path:
        data = {"model_name_or_path": "model", "dataset": "demo_alpaca_en", "max_steps": 4, "save_steps": 2,
                "logging_steps": 1, "output_dir": str(self.folder / "out")}
        data.update(keys)
        self.config.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}))
        return self.config

    def text(self, text: str) -> Path:
        self.config.write_text(text)
        return self.config


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(launch.WORKER_OVERRIDE_ENV, str(FAKE_WORKER))
    monkeypatch.setenv("FAKE_STEP_S", "0.01")
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path / "project")


def refused(project: Project, capsys, *argv: str) -> str:
    """Run ``ft-tui *argv``; it must exit 2 without a traceback and launch nothing. Returns stderr."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert indexed_runs() == []
    assert not (project.folder / "out").exists()
    assert not (Path.cwd() / "runs").exists()
    return err


# -- item 8: YAML ------------------------------------------------------------------------------------------------

BOMB = "\n".join(["model_name_or_path: model", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
                 + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]) + "\n"


@pytest.mark.parametrize("command", [["train"], ["train", "--dry-run"], ["plan"], ["estimate"]])
def test_yaml_alias_bomb_is_refused_quickly_with_its_line(project, capsys, command) -> None:
    cfg = project.text(BOMB)
    start = time.monotonic()
    err = refused(project, capsys, command[0], str(cfg), *command[1:])
    assert time.monotonic() - start < 10
    assert f"{cfg}:" in err and "alias" in err


@pytest.mark.parametrize("command", [["train"], ["plan"]])
def test_yaml_duplicate_key_names_both_lines(project, capsys, command) -> None:
    cfg = project.text("model_name_or_path: model\ndataset: demo_alpaca_en\nlearning_rate: 1.0e-4\n"
                       "learning_rate: 2.0e-4\n")
    err = refused(project, capsys, command[0], str(cfg))
    assert f"{cfg}:4" in err and "learning_rate" in err and "line 3" in err


def test_yaml_merge_keys_and_plain_aliases_still_load(project, capsys) -> None:
    from ft_tui.planner.yaml_files import load_yaml_text

    data, _ = load_yaml_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\nlist: [*b, *b]\n", "f.yaml")
    assert data["other"] == {"x": 3, "y": 2} and data["list"] == [{"x": 1, "y": 2}] * 2


# -- item 10: report_to ------------------------------------------------------------------------------------------

def test_report_to_without_its_package_is_refused_before_launch(project, capsys, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    cfg = project.write(report_to="wandb")
    err = refused(project, capsys, "train", str(cfg))
    assert "report_to" in err and "wandb" in err and str(cfg) in err


# -- item 12: dataset_info.json entries stay inside their folder -------------------------------------------------

ROWS = [{"instruction": "say hi", "input": "", "output": "hi"}] * 4


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_registry_entry_outside_its_folder_is_refused(project, capsys, how) -> None:
    secret = project.folder.parent / "outside_secret.json"
    secret.write_text(json.dumps(ROWS))
    data = project.folder / "data"
    data.mkdir()
    file_name = {"dotdot": "../../outside_secret.json", "absolute": str(secret), "symlink": "link.json"}[how]
    if how == "symlink":
        (data / "link.json").symlink_to(secret)
    (data / "dataset_info.json").write_text(json.dumps({"mydata": {"file_name": file_name}}))
    cfg = project.write(dataset="mydata", dataset_dir="data")
    err = refused(project, capsys, "train", str(cfg))
    assert str(data / "dataset_info.json") in err and file_name in err and "outside" in err


def test_registry_entry_inside_its_folder_and_a_path_in_the_config_still_work(project, capsys) -> None:
    from ft_tui.planner.config import load_config
    from ft_tui.templates.datasets import resolve_dataset

    data = project.folder / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "rows.json").write_text(json.dumps(ROWS))
    (data / "dataset_info.json").write_text(json.dumps({"mydata": {"file_name": "sub/../sub/rows.json"}}))
    outside = project.folder.parent / "mine.json"
    outside.write_text(json.dumps(ROWS))
    cfg = load_config(project.write(dataset=f"mydata,{outside}", dataset_dir="data"))
    assert resolve_dataset("mydata", cfg).files == [data / "sub" / ".." / "sub" / "rows.json"]
    assert resolve_dataset(str(outside), cfg).files == [outside]


# -- item 7: the model's config.json and weights -----------------------------------------------------------------

def _truncated_weights(model: Path) -> None:
    import struct

    header = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}).encode()
    (model / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 10)


MODEL_DAMAGE = {
    "layers_1e9": lambda m: m.write_text(json.dumps({**TINY_LLAMA, "num_hidden_layers": 10 ** 9})),
    "layers_1e9_float": lambda m: m.write_text(json.dumps({**TINY_LLAMA, "num_hidden_layers": 1e9})),
    "model_type_foo": lambda m: m.write_text(json.dumps({**TINY_LLAMA, "model_type": "foo"})),
    "invalid_json": lambda m: m.write_text("{oops"),
    "json_list": lambda m: m.write_text("[1, 2]"),
    "hidden_size_0": lambda m: m.write_text(json.dumps({**TINY_LLAMA, "hidden_size": 0})),
    "vocab_size_-5": lambda m: m.write_text(json.dumps({**TINY_LLAMA, "vocab_size": -5})),
    "vocab_size_0": lambda m: m.write_text(json.dumps({**TINY_LLAMA, "vocab_size": 0})),
    "heads_0": lambda m: m.write_text(json.dumps({**TINY_LLAMA, "num_attention_heads": 0})),
    "truncated_safetensors": lambda m: _truncated_weights(m.parent),
}


SAME_CHECK = ("layers_1e9_float", "vocab_size_0", "heads_0")  # one command is enough for these
COMMANDS = [["train"], ["train", "--dry-run"], ["plan"], ["estimate"]]


@pytest.mark.parametrize(("damage", "command"), [(d, c) for d in sorted(MODEL_DAMAGE) for c in COMMANDS
                                                 if d not in SAME_CHECK or c == ["train"]])
def test_damaged_model_is_refused_before_launch(project, capsys, damage, command) -> None:
    MODEL_DAMAGE[damage](project.folder / "model" / "config.json")
    cfg = project.write()
    start = time.monotonic()
    err = refused(project, capsys, command[0], str(cfg), *command[1:])
    assert time.monotonic() - start < 60
    named = "model.safetensors" if damage == "truncated_safetensors" else "config.json"
    assert str(project.folder / "model" / named) in err


# -- item 9: where the run is written ----------------------------------------------------------------------------

def test_output_dir_that_is_a_file_is_refused(project, capsys) -> None:
    (project.folder / "out").write_text("not a folder")
    cfg = project.write(output_dir=str(project.folder / "out" / "run"))
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "output_dir" in err and "is a file" in err and str(cfg) in err
    assert indexed_runs() == [] and (project.folder / "out").is_file()


def test_output_dir_with_a_newline_is_refused(project, capsys) -> None:
    cfg = project.write(output_dir=str(project.folder / "out") + "\nelsewhere")
    err = refused(project, capsys, "train", str(cfg))
    assert "output_dir" in err and "control character" in err
    assert list(project.folder.iterdir()) == [project.folder / "model", cfg]


def test_disk_without_room_for_a_checkpoint_is_refused(project, capsys, monkeypatch) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9 - 1000, 1000))
    cfg = project.write()
    err = refused(project, capsys, "train", str(cfg), "--gpu", "24GiB")
    assert "output_dir" in err and "GiB free" in err and "checkpoint" in err


@pytest.mark.parametrize("errno_name", ["EROFS", "ENOSPC", "EACCES"])
def test_write_failure_while_creating_the_run_is_exit_2_and_leaves_nothing(project, capsys, monkeypatch,
                                                                         errno_name) -> None:
    import errno
    import os

    def fail(path, *a, **k):
        raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)), str(path))

    monkeypatch.setattr(launch, "atomic_write_text", fail)
    cfg = project.write()
    err = refused(project, capsys, "train", str(cfg))
    assert "output_dir" in err and os.strerror(getattr(errno, errno_name)) in err


def test_checkpoint_size_counts_adapter_or_model_and_optimizer() -> None:
    from ft_tui.planner.memory import checkpoint_bytes

    assert checkpoint_bytes("lora", 10 ** 9, 10 ** 6) == 12 * 10 ** 6
    assert checkpoint_bytes("full", 10 ** 9, 10 ** 9) == 10 * 10 ** 9


# -- item 11: data that holds nothing, roles the tags do not map -------------------------------------------------

@pytest.mark.parametrize(("name", "text"), [("mydata.jsonl", ""), ("mydata.jsonl", "  \n\n \t\n"),
                                            ("mydata.csv", ""), ("mydata.csv", "\n  \n"), ("mydata.txt", " \n\n")])
def test_empty_data_file_is_named(project, capsys, name, text) -> None:
    data = project.folder / name
    data.write_text(text)
    cfg = project.write(dataset=name, stage="pt" if name.endswith(".txt") else None)
    err = refused(project, capsys, "train", str(cfg))
    assert str(data) in err and "no rows" in err


@pytest.mark.parametrize(("tags", "turns", "expected"), [
    ({}, [{"from": "user", "value": "hi"}, {"from": "assistant", "value": "hello"}],
     ["from 'user'", "user_tag 'human'", "assistant_tag 'gpt'", "tags.user_tag"]),
    ({"user_tag": "user", "assistant_tag": "assistant"}, [{"from": "user", "value": "hi"}, {"from": "bot", "value": "x"}],
     ["from 'bot'", "assistant_tag 'assistant'"]),
    ({}, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
     ["no 'from' key", "content, role", "tags.role_tag"]),
])
def test_sharegpt_roles_the_tags_do_not_map_say_which_were_found(project, capsys, tags, turns, expected) -> None:
    data = project.folder / "data"
    data.mkdir()
    (data / "chats.json").write_text(json.dumps([{"conversations": turns}] * 3))
    entry = {"file_name": "chats.json", "formatting": "sharegpt", **({"tags": tags} if tags else {})}
    (data / "dataset_info.json").write_text(json.dumps({"chats": entry}))
    cfg = project.write(dataset="chats", dataset_dir="data")
    err = refused(project, capsys, "train", str(cfg))
    assert "do not alternate" not in err
    for text in expected:
        assert text in err


# -- item 13: a malformed user template fails only the runs that use it ------------------------------------------

def _broken_user_template(tmp_path: Path) -> Path:
    folder = tmp_path / "config" / "ft-tui" / "templates"
    folder.mkdir(parents=True)
    path = folder / "mine.yaml"
    path.write_text('name: mine\nuser: "hi"\nassistant: "{content}{eos}"\n')  # user lacks {content}
    return path


def test_malformed_user_template_does_not_fail_runs_that_do_not_use_it(project, capsys, tmp_path) -> None:
    from ft_tui.templates.registry import get_template, resolve_template

    _broken_user_template(tmp_path)
    assert get_template("chatml").name == "chatml"
    assert resolve_template(None, model_name="Qwen/Qwen2.5-0.5B-Instruct", model_type="qwen2")[0].name
    cfg = project.write(template="chatml")
    assert main(["train", str(cfg), "--detach"]) == 0
    assert len(indexed_runs()) == 1


def test_malformed_user_template_is_reported_by_name_when_used(project, capsys, tmp_path) -> None:
    path = _broken_user_template(tmp_path)
    cfg = project.write(template="mine")
    err = refused(project, capsys, "train", str(cfg))
    assert str(path) in err and "{content}" in err
