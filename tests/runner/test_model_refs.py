"""One answer to "is this model reference a local path?": the planner, the pre-launch check and the trainer's
loader give a path that does not exist the same error, whatever its shape."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ft_tui.planner.config import load_config
from ft_tui.planner.errors import ModelError
from ft_tui.planner.models import inspect_model
from ft_tui.runner.control import check_model
from ft_tui.runner.modeling import model_path


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("ref", [".hidden/x", "./missing", "a/b/c", "~/no-such-model-here", "my model"])
def test_a_missing_path_gets_does_not_exist_everywhere(tmp_path: Path, ref: str) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"model_name_or_path": ref, "dataset": "demo_alpaca_en"}))
    cfg = load_config(path)
    errors = []
    for check in (lambda: inspect_model(ref, base_dir=cfg.base_dir), lambda: check_model(cfg),
                  lambda: model_path(cfg)):
        with pytest.raises(ModelError) as err:
            check()
        errors.append(str(err.value))
    assert all("does not exist" in e for e in errors), errors
    assert all(str(cfg.resolve_path(ref)) in e for e in errors), errors
    assert not any("unknown model" in e for e in errors), errors


def test_a_hub_id_is_looked_up_not_taken_for_a_path(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"model_name_or_path": "nobody/nothing-like-this", "dataset": "demo_alpaca_en"}))
    cfg = load_config(path)
    with pytest.raises(ModelError, match="unknown model"):
        inspect_model(cfg.model_name_or_path, base_dir=cfg.base_dir)
    with pytest.raises(ModelError, match="not in the local Hugging Face cache"):
        check_model(cfg)
    assert model_path(cfg) == "nobody/nothing-like-this"
