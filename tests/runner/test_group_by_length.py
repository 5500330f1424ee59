"""``group_by_length``: the runner's Trainer batches rows of similar length, so it pads fewer tokens.

Built in-process from the demo kit (no training): the Trainer's train dataloader is read once with and without the
option, and the padded tokens are counted from the batches it yields.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ft_tui.planner.config import config_from_dict
from ft_tui.runner.rundir import COMPLETE_MARKER


def _loader_padding(demo_kit: Any, tmp_path: Path, **overrides: Any) -> tuple[Any, int, int]:
    """(the Trainer's train sampler, padded tokens, real tokens) over one pass of its train dataloader."""
    from ft_tui.runner.events import EventWriter
    from ft_tui.runner.modeling import build_model
    from ft_tui.runner.rundir import RunDir
    from ft_tui.runner.signals import StopRequest
    from ft_tui.runner.worker import Context, build_trainer, prepare_data
    from transformers import AutoTokenizer, TrainerCallback

    values = dict(model_name_or_path=str(demo_kit.model_dir), dataset="demo_sharegpt",
                  dataset_dir=str(demo_kit.dataset_dir), template="chatml", cutoff_len=256, max_steps=2,
                  per_device_train_batch_size=4, gradient_accumulation_steps=1, finetuning_type="lora",
                  lora_rank=4, seed=0, logging_steps=1, save_steps=10)
    values.update(overrides)
    cfg = config_from_dict(values)
    tokenizer = AutoTokenizer.from_pretrained(str(demo_kit.model_dir))
    data, _template, _reason = prepare_data(cfg, tokenizer, "llama")
    model, _info = build_model(cfg)
    run = RunDir.create(tmp_path / ("grouped" if cfg.group_by_length else "random"))
    ctx = Context(run=run, events=EventWriter(run.events_path), stop=StopRequest())
    try:
        trainer = build_trainer(cfg, ctx, model, tokenizer, data, TrainerCallback())
        loader = trainer.get_train_dataloader()
        padded = real = 0
        for batch in loader:
            mask = batch["attention_mask"]
            padded += int(mask.numel() - mask.sum())
            real += int(mask.sum())
        return trainer._get_train_sampler(), padded, real
    finally:
        ctx.events.close()


def test_group_by_length_pads_fewer_tokens_over_the_same_rows(demo_kit: Any, tmp_path: Path) -> None:
    from transformers.trainer_pt_utils import LengthGroupedSampler

    sampler, padded_grouped, real_grouped = _loader_padding(demo_kit, tmp_path, group_by_length=True)
    plain, padded_random, real_random = _loader_padding(demo_kit, tmp_path)
    assert isinstance(sampler, LengthGroupedSampler) and not isinstance(plain, LengthGroupedSampler)
    assert real_grouped == real_random > 0  # the same rows, every one seen once
    assert padded_grouped < 0.5 * padded_random, (padded_grouped, padded_random)


def test_group_by_length_with_packing_keeps_the_random_sampler(demo_kit: Any, tmp_path: Path) -> None:
    """Packed rows all have cutoff_len tokens: grouping them would do nothing, so the runner does not ask for it."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    cfg = config_from_dict(dict(model_name_or_path=str(demo_kit.model_dir), dataset="demo_sharegpt",
                                dataset_dir=str(demo_kit.dataset_dir), group_by_length=True, packing=True))
    assert any("group_by_length" in w for w in cfg.warnings)
    sampler, padded, _real = _loader_padding(demo_kit, tmp_path, group_by_length=True, packing=True)
    assert not isinstance(sampler, LengthGroupedSampler)


def test_a_grouped_run_resumes_exactly(new_run, rt) -> None:
    """The length-grouped order is the same after a resume: the resumed steps repeat the uninterrupted losses."""
    run = new_run(max_steps=6, save_steps=2, group_by_length=True, max_samples=None)
    assert rt.run_worker(run) == 0
    first = {e["step"]: e["loss"] for e in run.events() if e["type"] == "log"}
    shutil.rmtree(run.path / "adapter")  # as if the process died while writing checkpoint-6
    (run.path / "checkpoint-6" / COMPLETE_MARKER).unlink()
    run.write_state(status="running", exit_code=None)
    n_before = len(run.events())
    assert rt.run_worker(run, "--resume") == 0
    logs = [e for e in run.events()[n_before:] if e["type"] == "log"]
    assert [e["step"] for e in logs] == [5, 6]
    for e in logs:
        assert abs(e["loss"] - first[e["step"]]) < 1e-4
