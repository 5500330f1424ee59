"""The demo kit: build, cache reuse and repair, offline loading, training signal, determinism."""

from __future__ import annotations

import json
import math
import threading
import time

import pytest
from ft_tui.planner.errors import InputError
from ft_tui.runner import demo_kit as dk


def test_tiny_kit_builds_quickly_and_completely(built_kit):
    kit, seconds = built_kit
    assert kit.built
    assert seconds < 10, f"tiny kit took {seconds:.1f} s to build"
    assert kit.tokenizer_dir == kit.model_dir
    assert kit.model_dir.name == f"tiny-seed0-v{dk.KIT_VERSION}"
    names = {p.name for p in kit.model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "demo-kit.json"} <= names
    assert not [p for p in kit.model_dir.parent.iterdir() if p.name.startswith((".build-", ".trash-"))]


def test_dataset_dir_is_the_bundled_folder(demo_kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # resolution must not depend on the working directory
    assert dk.demo_dataset_dir() == demo_kit.dataset_dir
    assert (demo_kit.dataset_dir / "dataset_info.json").is_file()


def test_complete_kit_is_reused(demo_kit):
    start = time.perf_counter()
    again = dk.build_demo_kit("tiny", cache_dir=demo_kit.model_dir.parent)
    assert not again.built
    assert again.model_dir == demo_kit.model_dir
    assert time.perf_counter() - start < 2


def test_loads_offline_and_trains(demo_kit, monkeypatch):
    import torch

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    model, tok = dk.load_demo_kit(demo_kit)
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    n_params = sum(p.numel() for p in model.parameters())
    assert 100_000 < n_params < 1_000_000
    assert model.config.tie_word_embeddings is False
    assert model.config.vocab_size == len(tok)

    batch = tok(["The capital of France is Paris.", "中国的首都是北京。"], padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model.train()
    out = model(**batch, labels=labels)
    assert math.isfinite(out.loss.item())
    assert abs(out.loss.item() - math.log(len(tok))) < 1.0  # random init: about ln(vocab)
    out.loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    assert model.lm_head.weight.grad.abs().sum() > 0
    assert model.model.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0


def test_few_steps_lower_the_loss(demo_kit):
    import torch

    model, tok = dk.load_demo_kit(demo_kit)
    torch.manual_seed(0)
    ids = tok(["What is 12 plus 30? The answer is 42."] * 4, return_tensors="pt")["input_ids"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(15):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def _tensors(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_same_seed_gives_identical_files(demo_kit, tmp_path):
    import torch

    other = dk.build_demo_kit("tiny", cache_dir=tmp_path)
    assert other.built
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json", "chat_template.jinja"):
        assert (other.model_dir / name).read_bytes() == (demo_kit.model_dir / name).read_bytes(), name
    a, b = _tensors(demo_kit.model_dir), _tensors(other.model_dir)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_other_seed_gives_other_weights(demo_kit, tmp_path):
    import torch

    other = dk.build_demo_kit("tiny", cache_dir=tmp_path, seed=1)
    assert other.model_dir.name == f"tiny-seed1-v{dk.KIT_VERSION}"
    a, b = _tensors(demo_kit.model_dir), _tensors(other.model_dir)
    assert not torch.equal(a["model.embed_tokens.weight"], b["model.embed_tokens.weight"])


def test_half_built_folder_is_rebuilt(tmp_path):
    final = tmp_path / f"tiny-seed0-v{dk.KIT_VERSION}"
    final.mkdir()
    (final / "config.json").write_text("{}")  # a crash left this, and no marker
    kit = dk.build_demo_kit("tiny", cache_dir=tmp_path)
    assert kit.built and kit.model_dir == final
    assert (final / "demo-kit.json").is_file() and (final / "model.safetensors").is_file()
    assert json.loads((final / "config.json").read_text())["model_type"] == "llama"


def test_kit_with_missing_file_or_stale_corpus_is_rebuilt(tmp_path):
    kit = dk.build_demo_kit("tiny", cache_dir=tmp_path)
    (kit.model_dir / "model.safetensors").unlink()
    assert dk.build_demo_kit("tiny", cache_dir=tmp_path).built
    marker = kit.model_dir / "demo-kit.json"
    data = json.loads(marker.read_text())
    marker.write_text(json.dumps({**data, "corpus_digest": "0" * 16}))
    assert dk.build_demo_kit("tiny", cache_dir=tmp_path).built
    assert not dk.build_demo_kit("tiny", cache_dir=tmp_path).built
    assert dk.build_demo_kit("tiny", cache_dir=tmp_path, force=True).built


def test_concurrent_builds_end_with_one_complete_kit(tmp_path):
    results, errors = [], []

    def build():
        try:
            results.append(dk.build_demo_kit("tiny", cache_dir=tmp_path, seed=3))
        except Exception as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({r.model_dir for r in results}) == 1
    assert [p.name for p in tmp_path.iterdir()] == [f"tiny-seed3-v{dk.KIT_VERSION}"]
    assert not dk.build_demo_kit("tiny", cache_dir=tmp_path, seed=3).built


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert dk.default_cache_dir() == tmp_path / "ft-tui" / "demo-kit"


def test_model_sizes_have_the_promised_parameter_counts(demo_tokenizer):
    import torch
    from transformers import LlamaForCausalLM

    counts = {}
    for size in dk.MODEL_SIZES:
        with torch.device("meta"):
            model = LlamaForCausalLM(dk.demo_model_config(size, demo_tokenizer))
        counts[size] = sum(p.numel() for p in model.parameters())
    assert 100_000 < counts["tiny"] < 1_000_000
    assert 1_000_000 < counts["small"] < 10_000_000
    assert 30_000_000 < counts["medium"] < 60_000_000


def test_bad_arguments_raise_input_errors(tmp_path):
    with pytest.raises(InputError, match="unknown demo model size 'huge'"):
        dk.build_demo_kit("huge", cache_dir=tmp_path)
    with pytest.raises(InputError, match="vocab_size"):
        dk.build_tokenizer(tmp_path / "tok", vocab_size=100)
    with pytest.raises(InputError, match="special token"):
        dk.build_tokenizer(tmp_path / "tok", extra_special_tokens=[""])


def test_two_processes_building_at_once(tmp_path):
    """Two processes race on an empty cache: both get the same complete kit, no temp folders are left."""
    import os
    import subprocess
    import sys

    code = ("import sys; from ft_tui.runner.demo_kit import build_demo_kit; "
            "print(build_demo_kit('tiny', cache_dir=sys.argv[1], seed=4).model_dir)")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs[0] == outputs[1] == str(tmp_path / f"tiny-seed4-v{dk.KIT_VERSION}")
    assert [p.name for p in tmp_path.iterdir()] == [f"tiny-seed4-v{dk.KIT_VERSION}"]
    assert not dk.build_demo_kit("tiny", cache_dir=tmp_path, seed=4).built
