"""One config resolves to the same values everywhere: `ft-tui plan`, `ft-tui estimate`, `ft-tui train` (--dry-run
and --print-launch) and the TUI's setup state all plan with the same dataset statistics
(``templates.planning.planning_data``).

Before, with ``cutoff_len`` unset on the demo data, ``plan`` sized it from the data's p99 while ``train`` wrote the
2048 default ("no dataset statistics"). The configs here are the demo kit's tiny model on demo_alpaca_en with the
planned keys unset (or some set), for named GPU profiles so the planner chooses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ft_tui.planner.config import PLANNED_KEYS, load_config
from ft_tui.runner.rundir import indexed_runs
from ft_tui.tui.cli import main

CASES = [  # (config keys besides model and dataset, --gpu, --gpus)
    pytest.param({}, "rtx4090", None, id="demo-unset-rtx4090"),
    pytest.param({"cutoff_len": 128, "lora_rank": 4}, "rtx4090", None, id="demo-some-set-rtx4090"),
    pytest.param({}, "t4", None, id="demo-unset-t4"),
    pytest.param({"per_device_train_batch_size": 2}, "a100-80gb", 2, id="demo-batch-set-2xa100"),
]
PLANNER_LINE = re.compile(r"^planner: (\w+) = (.*?)(?:  \(.*\))?$")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_config(folder: Path, kit: Any, keys: dict[str, Any]) -> Path:
    data = {"model_name_or_path": str(kit.model_dir), "dataset": "demo_alpaca_en",
            "dataset_dir": str(kit.dataset_dir), "max_steps": 10, **keys}
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def hw_args(gpu: str, gpus: int | None) -> list[str]:
    return ["--gpu", gpu] + (["--gpus", str(gpus)] if gpus else [])


def text(value: Any) -> str:
    return "None" if value is None else str(value)


def run_cli(capsys: pytest.CaptureFixture, argv: list[str]) -> tuple[str, str]:
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr()
    return out.out, out.err


def setup_state(path: Path, gpu: str, gpus: int | None) -> Any:
    """The setup screen's state after its two workers (model, then data) reported, as the screen runs them."""
    from ft_tui.tui.app import make_app
    from ft_tui.tui.state import inspect_model_facts, load_data_facts

    state = make_app(path, gpu, gpus).setup_state
    facts = inspect_model_facts(state.config)
    state.set_spec(facts.spec, facts.counts, name=facts.name)
    state.replan()
    data = load_data_facts(state.config, facts.spec)
    state.set_data(data.stats, data.preview, data.note, template_reason=data.template_reason)
    state.replan()
    return state


@pytest.mark.parametrize(("keys", "gpu", "gpus"), CASES)
def test_plan_estimate_train_and_the_tui_resolve_the_same_values(demo_kit, isolated, capsys, keys, gpu, gpus):
    path = write_config(isolated, demo_kit, keys)
    hw = hw_args(gpu, gpus)

    out, _ = run_cli(capsys, ["plan", str(path), *hw, "--json", "-o", str(isolated / "planned.yaml")])
    plan = json.loads(out)
    planned = {k: plan["config"][k] for k in PLANNED_KEYS}
    for key, value in keys.items():
        assert planned[key] == value  # the user's keys are kept
    if "cutoff_len" not in keys:  # sized from the data, not the 2048 default
        assert "p99" in plan["reasons"]["cutoff_len"] and planned["cutoff_len"] < 2048

    # train --print-launch --prepare: the config the run directory gets
    run_cli(capsys, ["train", str(path), *hw, "--print-launch", "--prepare"])
    (run,) = indexed_runs()
    launched = load_config(run.config_path)
    assert {k: getattr(launched, k) for k in PLANNED_KEYS} == planned
    plan_json = json.loads(run.plan_path.read_text())
    assert plan_json["estimate"]["peak_gib"] == plan["estimate"]["peak_gib"]

    # train --dry-run: the keys the planner set, on stderr; every other key keeps the config's value
    out, err = run_cli(capsys, ["train", str(path), *hw, "--dry-run"])
    assert "dry run: nothing was trained" in out and "no dataset statistics" not in err
    dry = {k: text(getattr(load_config(path), k)) for k in PLANNED_KEYS}
    dry.update(m.groups() for m in map(PLANNER_LINE.match, err.splitlines()) if m and m.group(1) in dry)
    assert dry == {k: text(v) for k, v in planned.items()}
    assert f"peak memory {plan['estimate']['peak_gib']:.2f} GiB" in out

    # estimate: the planned config as it is, with the same statistics, gives the plan's own estimate
    out, _ = run_cli(capsys, ["estimate", str(isolated / "planned.yaml"), *hw, "--json"])
    estimate = json.loads(out)
    assert estimate["assumptions"] == plan["estimate"]["assumptions"]
    assert estimate["peak_gib"] == plan["estimate"]["peak_gib"]

    # the TUI's setup state
    state = setup_state(path, gpu, gpus)
    assert state.data_error is None and state.plan_error is None
    assert {k: getattr(state.config, k) for k in PLANNED_KEYS} == planned
    assert state.estimate.to_dict()["peak_gib"] == plan["estimate"]["peak_gib"]
