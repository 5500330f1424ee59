"""planner/paths.py: ft-tui's folders (XDG), the Hugging Face cache and offline flag, and the one rule for "is this
model reference a local path?"."""

from __future__ import annotations

from pathlib import Path

import pytest
from ft_tui.planner import paths

HF_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE", "HF_HOME")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for var in (*HF_VARS, "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_xdg_folders_default_under_home_and_follow_the_variables(monkeypatch, tmp_path):
    home = tmp_path / "home"
    assert paths.config_dir() == home / ".config" / "ft-tui"
    assert paths.cache_dir() == home / ".cache" / "ft-tui"
    assert paths.state_dir() == home / ".local" / "state" / "ft-tui"
    assert paths.hf_hub_cache_dir() == home / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "k"))
    monkeypatch.setenv("XDG_STATE_HOME", "")            # empty means unset (XDG base directory spec)
    assert paths.config_dir() == tmp_path / "c" / "ft-tui"
    assert paths.cache_dir() == tmp_path / "k" / "ft-tui"
    assert paths.state_dir() == home / ".local" / "state" / "ft-tui"
    assert paths.hf_hub_cache_dir() == tmp_path / "k" / "huggingface" / "hub"


def test_every_package_uses_these_folders(monkeypatch, tmp_path):
    from ft_tui.runner import demo_kit, rundir
    from ft_tui.templates import registry, stats
    from ft_tui.tui import keymap

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "k"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    assert registry.user_template_dir() == tmp_path / "c" / "ft-tui" / "templates"
    assert keymap.keymap_path() == tmp_path / "c" / "ft-tui" / "keymap.yaml"
    assert stats.cache_dir() == tmp_path / "k" / "ft-tui" / "data-stats"
    assert demo_kit.default_cache_dir() == tmp_path / "k" / "ft-tui" / "demo-kit"
    assert rundir.index_path() == tmp_path / "s" / "ft-tui" / "runs.jsonl"


def test_hub_cache_order_is_huggingface_hubs(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert paths.hf_hub_cache_dir() == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert paths.hf_hub_cache_dir() == tmp_path / "cache"


@pytest.mark.parametrize("env,hub,data", [
    ({}, False, False),
    ({"HF_HUB_OFFLINE": "1"}, True, True),
    ({"HF_HUB_OFFLINE": "yes"}, True, True),
    ({"HF_HUB_OFFLINE": "On"}, True, True),
    ({"HF_HUB_OFFLINE": "0"}, False, False),
    ({"HF_HUB_OFFLINE": ""}, False, False),
    ({"TRANSFORMERS_OFFLINE": "1"}, True, True),
    ({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}, False, False),   # the first one set decides
    ({"HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": "1"}, True, True),      # empty counts as unset
    ({"HF_DATASETS_OFFLINE": "1"}, False, True),
    ({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "0"}, True, False),      # datasets' own flag wins there
])
def test_offline_flag_reads_like_the_libraries(monkeypatch, env, hub, data):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert paths.hf_offline() is hub
    assert paths.hf_offline(datasets=True) is data


def test_offline_flag_agrees_with_huggingface_hub_and_datasets(monkeypatch):
    """The same answers the installed libraries give, read in fresh interpreters (they read the flags at import)."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, huggingface_hub.constants as c, datasets.config as d; "
            "print(json.dumps([c.HF_HUB_OFFLINE, d.HF_HUB_OFFLINE]))")
    cases = [{"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}, {"TRANSFORMERS_OFFLINE": "true"},
             {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "0"}]
    for env in cases:
        clean = {k: v for k, v in os.environ.items() if k not in HF_VARS}
        out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        ours = [paths.hf_offline(), paths.hf_offline(datasets=True)]
        assert json.loads(out.stdout) == ours, env
        for key in env:
            monkeypatch.delenv(key)


@pytest.mark.parametrize("ref,hub_id", [
    ("Qwen/Qwen2.5-0.5B-Instruct", True),
    ("Qwen2.5-0.5B-Instruct", True),          # a bare name: the catalog's, or a legacy hub id
    ("unsloth/Llama-3.2-1B-Instruct-bnb-4bit", True),
    ("./model", False), ("../model", False), (".hidden/x", False), (".", False), ("/abs/model", False),
    ("~/models/x", False), ("a/b/c", False), ("C:\\models\\x", False), ("org/name-", False),
    ("my model", False), ("org--x/name", False), ("org/na..me", False), ("org/name.git", False), ("", False),
])
def test_hub_ids_follow_huggingface_hubs_rule(ref, hub_id):
    assert paths.is_hub_id(ref) is hub_id
    assert paths.is_local_model_ref(ref) is (not hub_id)


def test_an_existing_path_wins_over_a_hub_id_relative_to_the_config_folder(tmp_path):
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert paths.is_local_model_ref("org/name", tmp_path)
    assert not paths.is_local_model_ref("org/other", tmp_path)
    assert paths.is_local_model_ref(str(tmp_path / "org" / "name"))


def test_every_catalog_name_is_a_hub_id():
    from ft_tui.planner.model_catalog import _catalog

    entries, _ = _catalog()
    spelled = [s for e in entries for s in (e["id"], *e.get("aliases", []))]
    assert spelled and all(paths.is_hub_id(s) for s in spelled)


def test_an_existing_file_is_a_path_not_an_unknown_model(tmp_path):
    from ft_tui.planner.errors import ModelError
    from ft_tui.planner.models import inspect_model

    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file, not a model folder"):
        inspect_model("weights.bin", base_dir=tmp_path)


def test_an_existing_path_is_looked_for_in_the_config_folder_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Qwen").mkdir()
    (tmp_path / "Qwen" / "Qwen2.5-0.5B").mkdir()      # in the cwd, not in the config's folder
    assert not paths.is_local_model_ref("Qwen/Qwen2.5-0.5B", Path(tmp_path / "elsewhere"))
