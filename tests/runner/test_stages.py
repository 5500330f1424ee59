"""The per-stage seams: every stage the config accepts has a training-set builder (templates.trainset) and a runner
stage (runner.stages), and the runner stage builds the arguments and Trainer the worker trains with."""

from __future__ import annotations

import dataclasses
import types

import pytest
from ft_tui.planner.config import TrainConfig, config_from_dict


def config_stages() -> set[str]:
    field = next(f for f in dataclasses.fields(TrainConfig) if f.name == "stage")
    return set(field.metadata["choices"])


def test_every_config_stage_has_a_builder_and_a_runner_stage():
    from ft_tui.runner.stages import STAGES
    from ft_tui.templates.trainset import BUILDERS

    assert set(BUILDERS) == config_stages() == set(STAGES)


def test_an_unknown_stage_is_a_programming_error_naming_the_known_ones():
    from ft_tui.runner.stages import stage
    from ft_tui.templates.trainset import builder

    for lookup in (stage, builder):
        with pytest.raises(ValueError, match="'dpo'.*sft, pt"):
            lookup("dpo")


@pytest.mark.parametrize("stage", ["sft", "pt"])
def test_causal_lm_stages_train_a_plain_trainer_with_the_padding_collator(stage, tmp_path):
    from ft_tui.runner import stages
    from ft_tui.runner.collate import PadCollator
    from transformers import Trainer, TrainerCallback, TrainingArguments

    cfg = config_from_dict({"model_name_or_path": "m", "dataset": "d", "stage": stage, "group_by_length": True,
                            "packing": False, "max_steps": 3})
    args = stages.training_arguments(cfg, output_dir=tmp_path, world_size=1, has_eval=False)
    assert type(args) is TrainingArguments and args.eval_strategy == "no" and args.max_steps == 3
    assert args.output_dir == str(tmp_path) and args.remove_unused_columns is False
    assert args.train_sampling_strategy == "group_by_length"

    import torch

    model = torch.nn.Linear(2, 2)
    data = types.SimpleNamespace(train=[{"input_ids": [1], "labels": [1]}], eval=None)
    tokenizer = types.SimpleNamespace(pad_token_id=0)
    callback = TrainerCallback()
    trainer = stages.build_trainer(cfg, model, tokenizer, data, args, [callback])
    assert type(trainer) is Trainer and isinstance(trainer.data_collator, PadCollator)
    assert trainer.eval_dataset is None and callback in trainer.callback_handler.callbacks
