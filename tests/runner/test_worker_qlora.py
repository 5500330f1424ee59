"""4-bit and 8-bit QLoRA train on the tiny model with the bitsandbytes CPU backend, and the adapter loads back."""

from __future__ import annotations

import math

import pytest


@pytest.mark.parametrize("bits", [4, 8])
def test_qlora_trains_and_the_adapter_loads_back(new_run, rt, demo_kit, bits):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run = new_run(f"q{bits}", quantization_bit=bits, max_steps=8, save_steps=8, learning_rate=3e-2,
                  per_device_train_batch_size=4)
    assert rt.run_worker(run) == 0
    events = run.events()
    start = next(e for e in events if e["type"] == "start")
    assert start["model"]["quantization"] == ("4bit-nf4-double" if bits == 4 else "8bit")
    losses = [e["loss"] for e in events if e["type"] == "log"]
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert events[-1]["status"] == "completed"

    base = AutoModelForCausalLM.from_pretrained(str(demo_kit.model_dir), dtype=torch.float32).eval()
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        before = base(input_ids=ids).logits
        tuned = PeftModel.from_pretrained(base, str(run.path / "adapter")).eval()
        after = tuned(input_ids=ids).logits
    assert not torch.allclose(before, after, atol=1e-4)
