"""Record ``run_gpu_fields.jsonl``: a real run of the trainer on the tiny demo model, with GPU memory fields.

``python tests/runner/data/record_gpu_run.py`` builds the tiny demo kit in a temporary folder, trains it for 8
steps on the CPU through the real trainer process code (``ft_tui.runner.worker.main`` in this process: status,
start, log, eval, checkpoint and end events exactly as ``ft-tui train`` writes them), and writes the events file
next to this script with the run directory replaced by ``RUN_DIR`` and the model folder by ``MODELS``.

A CPU run has no GPU, so the trainer's callback writes no GPU fields. To record them as the callback writes them on
a GPU, its own :func:`ft_tui.runner.callbacks.gpu_memory` runs with ``torch.cuda.is_available`` true and the
allocator's peak counters (``torch.cuda.max_memory_reserved`` / ``max_memory_allocated``) standing in for a GPU's:
peaks that only grow, step by step, to 2.625 GiB reserved and 2.0 GiB allocated (the shape of a small LoRA run).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

OUT = Path(__file__).with_name("run_gpu_fields.jsonl")
GIB = 1024 ** 3
#: (reserved, allocated) peaks in GiB after each optimizer step; the last value holds from there on.
PEAKS = [(2.25, 1.5), (2.5, 1.875), (2.625, 2.0)]


def fake_gpu_memory(real, step_of):
    """``real`` (callbacks.gpu_memory) with torch.cuda's peak counters answering as a GPU's would at that step."""
    import torch

    def gpu_memory():
        reserved, allocated = PEAKS[min(step_of(), len(PEAKS)) - 1]
        with mock.patch.object(torch.cuda, "is_available", lambda: True), \
                mock.patch.object(torch.cuda, "max_memory_reserved", lambda *a, **k: int(reserved * GIB)), \
                mock.patch.object(torch.cuda, "max_memory_allocated", lambda *a, **k: int(allocated * GIB)):
            return real()

    return gpu_memory


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    from ft_tui.planner.config import config_from_dict, dump_config
    from ft_tui.runner import callbacks, worker
    from ft_tui.runner.demo_kit import build_demo_kit
    from ft_tui.runner.rundir import RunDir

    with tempfile.TemporaryDirectory(prefix="ft-tui-record-") as tmp:
        kit = build_demo_kit("tiny", cache_dir=Path(tmp) / "kit")
        cfg = config_from_dict(dict(
            model_name_or_path=str(kit.model_dir), dataset="demo_alpaca_en", dataset_dir=str(kit.dataset_dir),
            template="chatml", cutoff_len=128, max_samples=64, max_steps=8, per_device_train_batch_size=2,
            learning_rate=5e-3, lr_scheduler_type="constant", logging_steps=1, save_steps=4, val_size=8,
            eval_steps=4, finetuning_type="lora", lora_rank=4, seed=0))
        run = RunDir.create(Path(tmp) / "run")
        run.config_path.write_text(dump_config(cfg), encoding="utf-8")
        run.write_state(status="starting", created=time.time(), model=cfg.model_name_or_path, method="lora")
        steps = {"n": 0}
        real_on_log = callbacks.ProgressCallback.on_log

        def on_log(self, args, state, control, logs=None, **kwargs):
            steps["n"] = state.global_step
            return real_on_log(self, args, state, control, logs=logs, **kwargs)

        gpu = fake_gpu_memory(callbacks.gpu_memory, lambda: steps["n"])
        with mock.patch.object(callbacks, "gpu_memory", gpu), \
                mock.patch.object(callbacks.ProgressCallback, "on_log", on_log):
            code = worker.main([str(run.path)], install_signals=False)
        if code != 0:
            print(run.log_path.read_text(errors="replace") if run.log_path.exists() else "", file=sys.stderr)
            print(f"the trainer exited {code}", file=sys.stderr)
            return 1
        text = run.events_path.read_text(encoding="utf-8")
        text = text.replace(str(run.path), "RUN_DIR").replace(str(kit.model_dir.parent), "MODELS")
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text.splitlines())} events)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
