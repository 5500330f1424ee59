"""Fixtures for the demo kit tests: one tiny kit per session, built in a private cache folder."""

from __future__ import annotations

import os
import time

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def built_kit(tmp_path_factory):
    """``(kit, seconds)``: the tiny kit built once into a fresh cache dir, and how long the build took.

    torch and transformers are imported first so the time is the build's, not the imports'.
    """
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from ft_tui.runner.demo_kit import build_demo_kit

    cache = tmp_path_factory.mktemp("demo-cache")
    start = time.perf_counter()
    kit = build_demo_kit("tiny", cache_dir=cache)
    return kit, time.perf_counter() - start


@pytest.fixture(scope="session")
def demo_kit(built_kit):
    return built_kit[0]


@pytest.fixture(scope="session")
def demo_tokenizer(demo_kit):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(demo_kit.tokenizer_dir))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run torch single-threaded in these tests (tiny tensors; the CI box's cores are shared), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
