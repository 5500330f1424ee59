"""Issue #13 item 10: one set of rules. The same config gets the same error (exit 2, the same message naming the
key and its ``--set`` argument) and the same warnings from ``plan``, ``estimate`` and ``train`` (``--dry-run`` and
a real launch): all of them ask ``ft_tui.templates.rules.config_findings``. The TUI's side is
tests/tui/test_setup_state.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ft_tui.planner import gpu_probe
from ft_tui.runner.rundir import indexed_runs
from ft_tui.tui.cli import main

BF16_T4 = "bf16: true, but NVIDIA T4 has no bf16 support; set bf16: false and fp16: true"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # an empty hub cache: the catalog answers
    monkeypatch.chdir(tmp_path)
    report = gpu_probe.HardwareReport(gpus=[], source="none", message="No GPU found.")
    monkeypatch.setattr(gpu_probe, "probe", lambda *a, **k: report)
    return tmp_path


def _catalog_config(folder: Path) -> str:
    (folder / "cfg.yaml").write_text("model_name_or_path: Qwen/Qwen2.5-7B-Instruct\ndataset: demo_alpaca_en\n",
                                     encoding="utf-8")
    return "cfg.yaml"


def _local_config(folder: Path, kit: Any) -> str:
    data = {"model_name_or_path": str(kit.model_dir), "dataset": "demo_alpaca_en",
            "dataset_dir": str(kit.dataset_dir), "max_steps": 4, "cutoff_len": 128, "max_samples": 16}
    (folder / "cfg.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return "cfg.yaml"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def error_of(command: str, err: str) -> str:
    """The error paragraph without the command's name (``ft-tui plan: error: ...``)."""
    lines = [line for line in err.splitlines() if line.startswith(f"ft-tui {command}: error: ")]
    assert len(lines) == 1, err
    return lines[0].removeprefix(f"ft-tui {command}: error: ")


def warnings_of(err: str, config: str) -> set[str]:
    """The warning lines, without ``warning:`` and the config's name (``estimate`` names the config it is about,
    as it takes several)."""
    out = set()
    for line in err.splitlines():
        if line.startswith("warning: "):
            out.add(re.sub(rf"^{re.escape(config)}: ", "", line.removeprefix("warning: ")))
    return out


UNKNOWN = ("--set template=llama4, key 'template': unknown chat template 'llama4'. Known templates: ")


@pytest.mark.parametrize("where", ["catalog", "local"])
def test_unknown_template_is_the_same_error_in_plan_estimate_and_train(isolated, demo_kit, capsys, where):
    cfg = _catalog_config(isolated) if where == "catalog" else _local_config(isolated, demo_kit)
    errors = {}
    for command, extra in (("plan", ()), ("estimate", ()), ("train", ("--dry-run",)), ("train", ("--detach",))):
        code, _, err = run(capsys, command, cfg, "--set", "template=llama4", *extra)
        assert code == 2 and "Traceback" not in err, (command, extra, err)
        errors[(command, *extra)] = error_of(command, err)
    assert len(set(errors.values())) == 1, errors  # one message, word for word
    assert next(iter(errors.values())).startswith(UNKNOWN), errors
    assert indexed_runs() == []


def test_unknown_template_in_the_file_names_its_line_everywhere(isolated, demo_kit, capsys):
    cfg = _local_config(isolated, demo_kit)
    with open(cfg, "a", encoding="utf-8") as f:
        f.write("template: llama4\n")
    line = len(Path(cfg).read_text().splitlines())
    for command, extra in (("plan", ()), ("estimate", ()), ("train", ("--dry-run",))):
        code, _, err = run(capsys, command, cfg, *extra)
        assert code == 2 and error_of(command, err).startswith(
            f"cfg.yaml:{line}, key 'template': unknown chat template 'llama4'"), (command, err)


def test_bf16_on_t4_is_the_same_warning_in_plan_estimate_and_train_dry_run(isolated, demo_kit, capsys):
    cfg = _local_config(isolated, demo_kit)
    seen = {}
    for command, extra in (("plan", ()), ("estimate", ()), ("train", ("--dry-run",))):
        code, _, err = run(capsys, command, cfg, "--set", "bf16=true", "--gpu", "t4", *extra)
        assert code == 0, (command, err)
        seen[command] = warnings_of(err, cfg)
        assert BF16_T4 in seen[command], (command, err)
    # what plan and estimate warn of, train --dry-run warns of too (it adds that this machine has no T4)
    assert seen["plan"] == seen["estimate"] <= seen["train"], seen


@pytest.mark.parametrize("command", ["plan", "estimate"])
def test_bf16_on_t4_warns_for_a_catalog_model(isolated, capsys, command):
    cfg = _catalog_config(isolated)
    code, _, err = run(capsys, command, cfg, "--set", "bf16=true", "--gpu", "t4")
    assert code == 0 and BF16_T4 in warnings_of(err, cfg), err
