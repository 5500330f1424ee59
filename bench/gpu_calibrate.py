"""Measure real training memory and speed on one GPU and put the planner's prediction beside each point.

    python bench/gpu_calibrate.py [--json] [--budget-s 540] [--point-timeout-s 180] [--max-points N]
                                  [--only ID,ID] [--work-dir /tmp/ft-tui-calib] [--results-dir DIR]
    python bench/gpu_calibrate.py --dry-run [--json]       # tiny demo model on the CPU, < 60 s (CI runs this)
    python bench/gpu_calibrate.py --list                   # the matrix, in the order it runs

For a matrix of real architectures from the planner's catalog (Qwen2.5 0.5B / 1.5B / 3B / 7B x LoRA, 4-bit and 8-bit
QLoRA, full fine-tuning where it fits x cutoff 512 / 2048 x batch 1 / 4 x gradient checkpointing on / off) each point
runs in a FRESH subprocess (peak statistics and allocator fragmentation never leak between points):

1. The model is built from the catalog's config fields with random weights (no download): once per architecture a
   ``prepare`` subprocess instantiates it directly on the GPU in bf16 and saves it (safetensors) under
   ``--work-dir`` on local disk; every point then loads it through the runner's own
   ``ft_tui.runner.modeling.build_model(cfg, ...)`` (``from_pretrained`` with bitsandbytes quantization, k-bit
   preparation, LoRA / full, gradient checkpointing, exactly as a run does), and trains it with the runner's own
   ``Trainer`` set-up (``ft_tui.runner.worker.build_trainer``) for a few steps on random token ids of exactly
   ``cutoff_len`` tokens, every token trained (the worst case the planner sizes for).
2. Measured: torch's peak allocated and reserved memory during training (the counters are reset after the model is
   built) and during loading, NVML's peak for the process (a thread samples it every 10 ms), step times and tokens/s
   (median over the steps after the first).
3. Predicted, in the parent process (torch-free): ``ft_tui.planner.memory.estimate_memory(cfg, spec, hw)`` with the
   catalog spec (``ft_tui.planner.models.inspect_model``) for each metric (nvml = context + reserved, reserved,
   allocated) with its uncertainty band (and whether the measurement falls inside it), and
   ``ft_tui.planner.timing.estimate_time`` for tokens/s. Every point runs with the allocator setting the runner
   gives its trainer (``PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`` unless set, ``runner.launch``).

Points run in order of information (typical LoRA and QLoRA set-ups first); a global time budget (default 540 s, to
fit one 10-minute device call) stops starting new points when the expected time of the next one does not fit; every
point has its own timeout; results are written after every point to ``bench/results/gpu_calibrate.json`` (the dry
run writes ``gpu_calibrate_dryrun.json``). A point the planner predicts will not fit the GPU is recorded as skipped.

``--dry-run`` runs the same code path (prepare-free: the demo kit's tiny model is already on disk; subprocess per
point, result schema, planner prediction) on the CPU with the demo kit's tiny model.

Where ``ft_tui`` is not installed (the GPU machine), the script maps the repository's folders into a temporary
``ft_tui`` package itself (see ``common.ensure_ft_tui_importable``). The GPU procedure is in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (bench/common.py, next to this script)

GIB = 1024 ** 3
RESULT_NAME = "gpu_calibrate"
DRYRUN_NAME = "gpu_calibrate_dryrun"
DEFAULT_BUDGET_S = 540.0
DEFAULT_POINT_TIMEOUT_S = 180.0
TRAIN_STEPS = 5          # the first step is warm-up (kernel selection, allocator growth): timed steps are 2..5
NVML_INTERVAL_S = 0.01
MAX_ABS_ERR_PCT = 10.0   # the acceptance: median |error| <= 10 % ...
MAX_UNDER_PCT = 10.0     # ... and no under-prediction worse than 10 %
MARGIN_FOR_SKIP = 0.97   # skip a point the planner predicts above 97 % of the GPU's memory

# Catalog models (planner/data/models.yaml) and a prior for how long one point takes (s), before any is measured.
MODELS = {
    "0.5b": "Qwen/Qwen2.5-0.5B",
    "1.5b": "Qwen/Qwen2.5-1.5B",
    "3b": "Qwen/Qwen2.5-3B",
    "7b": "Qwen/Qwen2.5-7B",
}


@dataclass(frozen=True)
class Point:
    """One configuration to measure."""

    size: str               # key of MODELS (or "tiny" in the dry run)
    method: str             # lora | full
    quant: int | None       # None | 4 | 8 (LoRA only)
    cutoff: int
    batch: int
    gc: bool                # gradient checkpointing

    @property
    def id(self) -> str:
        kind = {None: self.method, 4: "qlora4", 8: "qlora8"}[self.quant]
        return f"{self.size}-{kind}-s{self.cutoff}-b{self.batch}-gc{'on' if self.gc else 'off'}"


def _p(size: str, kind: str, cutoff: int, batch: int, gc: bool) -> Point:
    method, quant = {"lora": ("lora", None), "full": ("full", None), "qlora4": ("lora", 4),
                     "qlora8": ("lora", 8)}[kind]
    return Point(size, method, quant, cutoff, batch, gc)


#: The GPU matrix, most informative first: the set-ups users run most (LoRA bf16 and 4-bit QLoRA with checkpointing
#: at 2048), then each axis varied once (size, method, cutoff, batch, checkpointing), then the remaining corners.
GPU_MATRIX: tuple[Point, ...] = (
    _p("1.5b", "lora", 2048, 4, True),
    _p("7b", "qlora4", 2048, 1, True),
    _p("0.5b", "full", 512, 4, True),
    _p("3b", "lora", 512, 4, False),
    _p("7b", "lora", 2048, 1, True),
    _p("1.5b", "qlora8", 512, 4, True),
    _p("3b", "qlora4", 2048, 1, False),
    _p("0.5b", "lora", 2048, 4, False),
    _p("7b", "qlora4", 512, 4, True),
    _p("1.5b", "full", 2048, 1, True),
    _p("3b", "lora", 2048, 4, True),
    _p("0.5b", "qlora4", 2048, 4, True),
    _p("7b", "qlora8", 2048, 1, True),
    _p("1.5b", "lora", 2048, 1, False),
    _p("3b", "full", 512, 1, True),
    _p("0.5b", "lora", 512, 1, True),
    _p("7b", "lora", 512, 4, False),
    _p("1.5b", "qlora4", 512, 1, False),
    _p("3b", "qlora8", 2048, 4, True),
    _p("0.5b", "full", 2048, 4, False),
)

#: The dry run: the demo kit's tiny model on the CPU: LoRA with checkpointing and 4-bit QLoRA through bitsandbytes
#: without (two points keep it under 60 s on a loaded 2-core machine; ``--dry-run --only tiny-full-s32-b1-gcon``
#: runs the full fine-tuning path too).
DRY_MATRIX: tuple[Point, ...] = (
    _p("tiny", "lora", 64, 2, True),
    _p("tiny", "qlora4", 64, 2, False),
    _p("tiny", "full", 32, 1, True),
)
DRY_DEFAULT_POINTS = 2


# ================================================================================================================
# Child side: one point in a fresh process
# ================================================================================================================

class NvmlSampler:
    """Samples this process's GPU memory through NVML every ``interval`` s in a daemon thread.

    Records the peak of the process's own entry in the running-process list (what nvidia-smi shows per process) and
    the peak device-wide used memory minus the value before CUDA was initialised (a fallback for containers whose
    PID namespace hides our pid from the driver). ``mark(phase)`` starts a new phase; peaks are kept per phase.
    """

    def __init__(self, index: int = 0, interval: float = NVML_INTERVAL_S) -> None:
        self.interval = interval
        self.available = False
        self.peaks: dict[str, dict[str, int]] = {}
        self.phase = "load"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self.baseline = int(pynvml.nvmlDeviceGetMemoryInfo(self._handle).used)
            self.available = True
        except Exception:  # noqa: BLE001 - no driver, no library, no device: NVML figures are simply absent
            self.baseline = 0

    def _sample(self) -> None:
        nv, pid = self._nvml, os.getpid()
        used = int(nv.nvmlDeviceGetMemoryInfo(self._handle).used) - self.baseline
        proc = None
        for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetComputeRunningProcesses_v3"):
            fn = getattr(nv, getter, None)
            if fn is None:
                continue
            try:
                for p in fn(self._handle):
                    if p.pid == pid and p.usedGpuMemory is not None:
                        proc = int(p.usedGpuMemory)
                break
            except nv.NVMLError:
                continue
        peaks = self.peaks.setdefault(self.phase, {"device": 0, "process": 0})
        peaks["device"] = max(peaks["device"], used)
        if proc is not None:
            peaks["process"] = max(peaks["process"], proc)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception:  # noqa: BLE001 - a failed sample must not end the measurement
                pass
            self._stop.wait(self.interval)

    def start(self) -> NvmlSampler:
        if self.available:
            self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)
            self._thread.start()
        return self

    def mark(self, phase: str) -> None:
        if self.available:
            try:
                self._sample()  # close the previous phase with a fresh sample
            except Exception:  # noqa: BLE001
                pass
        self.phase = phase

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        if self.available:
            try:
                self._sample()
            except Exception:  # noqa: BLE001
                pass
        out: dict[str, Any] = {"available": self.available, "baseline_gib": _gib(self.baseline)}
        for phase, peaks in self.peaks.items():
            out[f"{phase}_device_gib"] = _gib(peaks["device"])
            out[f"{phase}_process_gib"] = _gib(peaks["process"]) if peaks["process"] else None
        return out


def _gib(n: int | float | None) -> float | None:
    return None if n is None else round(float(n) / GIB, 3)


def point_config(point: Point, model_dir: str, *, cuda: bool) -> dict[str, Any]:
    """The run config (schema keys) of one point: everything not listed is the runner's default."""
    return {
        "model_name_or_path": model_dir, "finetuning_type": point.method, "quantization_bit": point.quant,
        "cutoff_len": point.cutoff, "per_device_train_batch_size": point.batch, "gradient_accumulation_steps": 1,
        "disable_gradient_checkpointing": not point.gc, "bf16": cuda, "max_steps": TRAIN_STEPS,
        "logging_steps": TRAIN_STEPS, "save_steps": 10 * TRAIN_STEPS, "learning_rate": 1e-4, "seed": 0,
    }


def make_step_timer(cuda: bool) -> Any:
    """A ``TrainerCallback`` that times every optimizer step (``.times``, seconds; CUDA synchronised).

    It also cancels checkpoint saves (the Trainer saves at the last step): a point measures training, and writing
    a 7B checkpoint would cost more than the steps."""
    from transformers import TrainerCallback

    def sync() -> None:
        if cuda:
            import torch

            torch.cuda.synchronize()

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._t = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            sync()
            self._t = time.perf_counter()
            return control

        def on_step_end(self, args, state, control, **kwargs):
            sync()
            self.times.append(time.perf_counter() - self._t)
            control.should_save = False  # runs after the Trainer's DefaultFlowCallback, which asked for a save
            return control

    return StepTimer()


def _random_rows(n_rows: int, seq_len: int, vocab: int, seed: int) -> list[dict[str, list[int]]]:
    """Rows of random token ids, every token trained. A plain list (the Trainer takes any sized indexable
    dataset): the GPU machine's image has no ``datasets`` package, and this path does not need one."""
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, max(11, vocab), (n_rows, seq_len), generator=g).tolist()
    return [{"input_ids": row, "labels": row} for row in ids]


def run_point(point: Point, model_dir: str) -> dict[str, Any]:
    """Build, train a few steps and measure one point in THIS process (the child). Returns the measurements."""
    import types

    sampler = NvmlSampler().start()
    import torch
    from ft_tui.planner.config import config_from_dict
    from ft_tui.runner.events import EventWriter
    from ft_tui.runner.modeling import build_model
    from ft_tui.runner.rundir import RunDir
    from ft_tui.runner.worker import Context, StopRequest, build_trainer, device_map_for

    cuda = torch.cuda.is_available()
    cfg = config_from_dict(point_config(point, model_dir, cuda=cuda))
    out: dict[str, Any] = {"status": "error", "cuda": cuda}
    t0 = time.perf_counter()
    try:
        model, info = build_model(cfg, device_map=device_map_for(cfg))
        if cuda and cfg.quantization_bit is None:
            model.to("cuda")  # the Trainer would move it at construction; do it here so loading is measured
            torch.cuda.synchronize()
        out["load_s"] = round(time.perf_counter() - t0, 2)
        out["model_info"] = {k: v for k, v in info.items() if k != "lora_targets"}
        if cuda:
            out["load_peak_allocated_gib"] = _gib(torch.cuda.max_memory_allocated())
            out["load_peak_reserved_gib"] = _gib(torch.cuda.max_memory_reserved())
            torch.cuda.reset_peak_memory_stats()
        sampler.mark("train")
        vocab = int(getattr(model.config, "vocab_size", 1000))
        data = types.SimpleNamespace(train=_random_rows(point.batch * TRAIN_STEPS, point.cutoff, vocab, 0),
                                     eval=None)
        tokenizer = types.SimpleNamespace(pad_token_id=0, model_input_names=["input_ids", "attention_mask"])
        with tempfile.TemporaryDirectory(prefix="ft-tui-calib-run-") as tmp:
            run = RunDir(Path(tmp))
            ctx = Context(run=run, events=EventWriter(run.events_path), stop=StopRequest())
            timer = make_step_timer(cuda)
            trainer = build_trainer(cfg, ctx, model, tokenizer, data, timer)
            try:
                trainer.train()
                out["status"] = "ok"
            except torch.cuda.OutOfMemoryError as exc:
                out["status"] = "oom"
                out["error"] = str(exc).splitlines()[0][:300]
            finally:
                ctx.events.close()
        timed = timer.times[1:] or timer.times
        if timed:
            step = statistics.median(timed)
            out["step_s"] = round(step, 4)
            out["step_times_s"] = [round(t, 4) for t in timer.times]
            out["tokens_per_s"] = round(point.batch * point.cutoff / step, 1)
        if cuda:
            out["peak_allocated_gib"] = _gib(torch.cuda.max_memory_allocated())
            out["peak_reserved_gib"] = _gib(torch.cuda.max_memory_reserved())
            out["device_total_gib"] = _gib(torch.cuda.get_device_properties(0).total_memory)
    except torch.cuda.OutOfMemoryError as exc:
        out["status"] = "oom"
        out["error"] = str(exc).splitlines()[0][:300]
    except Exception as exc:  # noqa: BLE001 - recorded with the point, the matrix goes on
        import traceback

        out["error"] = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        out["traceback_tail"] = "".join(traceback.format_exc().splitlines(keepends=True)[-6:])
    finally:
        out["nvml"] = sampler.stop()
    nv = out["nvml"]
    out["nvml_peak_gib"] = nv.get("train_process_gib") or (nv.get("train_device_gib") if nv["available"] else None)
    out["total_s"] = round(time.perf_counter() - t0, 2)
    return out


def prepare_checkpoint(model_id: str, out_dir: Path) -> dict[str, Any]:
    """Save a random-weight bf16 checkpoint of catalog model ``model_id`` to ``out_dir`` (in THIS process).

    The config is built from the catalog entry's config.json fields (``ModelSpec.raw_config``) with
    ``AutoConfig.for_model``; the model is instantiated directly on the GPU (CPU without one) in bf16, so the random
    initialisation runs on the device, then saved with ``save_pretrained`` (safetensors).
    """
    import torch
    from ft_tui.planner.models import inspect_model
    from transformers import AutoConfig, AutoModelForCausalLM

    t0 = time.perf_counter()
    spec = inspect_model(model_id, allow_network=False)
    fields = dict(spec.raw_config or {})
    model_type = fields.pop("model_type", spec.model_type)
    fields.pop("torch_dtype", None)
    config = AutoConfig.for_model(model_type, **fields)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    with device:
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    created = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True, max_shard_size="4GB")
    params = sum(p.numel() for p in model.parameters())
    (out_dir / "calib-ready.json").write_text(json.dumps({"model": model_id, "params": params}), encoding="utf-8")
    return {"model": model_id, "params": params, "create_s": round(created, 2),
            "save_s": round(time.perf_counter() - t0 - created, 2)}


def _child_main(args: argparse.Namespace) -> int:
    """``--child``: run one point or prepare one checkpoint; the JSON result goes to ``--result-file``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import warnings

    warnings.filterwarnings("ignore")
    if args.prepare:
        result = prepare_checkpoint(args.prepare, Path(args.model_dir))
    else:
        result = run_point(Point(**json.loads(args.child)), args.model_dir)
    Path(args.result_file).write_text(json.dumps(result), encoding="utf-8")
    return 0


# ================================================================================================================
# Parent side: matrix, budget, predictions, results
# ================================================================================================================

def _slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "--", model_id)


def _spawn(extra: list[str], timeout: float, model_dir: str) -> tuple[dict[str, Any] | None, str, float]:
    """Run this script as a child with ``extra`` arguments; returns (result or None, failure note, seconds)."""
    with tempfile.NamedTemporaryFile(prefix="ft-tui-calib-", suffix=".json", delete=False) as f:
        result_file = f.name
    argv = [sys.executable, str(Path(__file__).resolve()), "--model-dir", model_dir, "--result-file", result_file,
            *extra]
    t0 = time.perf_counter()
    note = ""
    try:
        from ft_tui.runner.launch import allocator_env

        # the allocator setting the runner gives its trainer (and the planner's margin assumes)
        env = allocator_env({**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"})
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                              env=env)
        if proc.returncode != 0:
            note = f"exit code {proc.returncode}: " + " | ".join(proc.stdout.strip().splitlines()[-4:])[-600:]
    except subprocess.TimeoutExpired:
        note = f"timed out after {timeout:.0f} s"
    elapsed = time.perf_counter() - t0
    try:
        text = Path(result_file).read_text(encoding="utf-8")
        result = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        result = None
    finally:
        Path(result_file).unlink(missing_ok=True)
    return result, note, elapsed


def predict(point: Point, spec: Any, hw: Any, cuda: bool) -> dict[str, Any]:
    """The planner's predictions for one point: peak memory per metric (GiB) and tokens/s (when a GPU is known)."""
    from ft_tui.planner.config import config_from_dict
    from ft_tui.planner.memory import estimate_memory, setup_from_config
    from ft_tui.planner.params import count_params
    from ft_tui.planner.timing import estimate_time

    cfg = config_from_dict(point_config(point, spec.name, cuda=cuda))
    counts = count_params(spec)
    out: dict[str, Any] = {}
    for metric, ctx in (("nvml", True), ("reserved", False), ("allocated", False)):
        est = estimate_memory(cfg, spec, hw, counts=counts, metric=metric, include_context=ctx)
        out[f"{metric}_gib"] = _gib(est.peak_bytes)
        out[f"{metric}_band_gib"] = [_gib(est.low_bytes), _gib(est.high_bytes)]  # the estimate's uncertainty band
        if metric == "nvml":
            out["breakdown_gib"] = {k: _gib(v) for k, v in est.breakdown.items()}
            out["phase"] = est.phase
            out["trainable_params"] = est.trainable_params
            out["total_params"] = est.total_params
    setup = setup_from_config(cfg, hw, None)
    timing = estimate_time(cfg, spec, counts, setup, hw, out["trainable_params"]) if hw is not None else None
    out["tokens_per_s"] = round(timing.tokens_per_s, 1) if timing is not None else None
    return out


def compare(measured: dict[str, Any], predicted: dict[str, Any]) -> dict[str, float | None]:
    """Signed % errors (predicted - measured) / measured per metric; None where either side is missing."""
    pairs = {"nvml": ("nvml_peak_gib", "nvml_gib"), "reserved": ("peak_reserved_gib", "reserved_gib"),
             "allocated": ("peak_allocated_gib", "allocated_gib"), "tokens_per_s": ("tokens_per_s", "tokens_per_s")}
    out: dict[str, float | None] = {}
    for name, (m_key, p_key) in pairs.items():
        m, p = measured.get(m_key), predicted.get(p_key)
        out[name] = round(100.0 * (p - m) / m, 1) if m and p is not None else None
    return out


def in_band(measured: dict[str, Any], predicted: dict[str, Any]) -> dict[str, bool | None]:
    """Per memory metric: whether the measured peak lies inside the planner's uncertainty band."""
    out: dict[str, bool | None] = {}
    for name, m_key in (("nvml", "nvml_peak_gib"), ("reserved", "peak_reserved_gib"),
                        ("allocated", "peak_allocated_gib")):
        m, band = measured.get(m_key), predicted.get(f"{name}_band_gib")
        out[name] = None if not m or not band or None in band else band[0] <= m <= band[1]
    return out


def summarize(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Median |error| and worst under-prediction per metric over the points that trained (status ok)."""
    out: dict[str, Any] = {}
    ok = [p for p in points if p.get("status") == "ok"]
    for metric in ("nvml", "reserved", "allocated", "tokens_per_s"):
        errs = [p["error_pct"][metric] for p in ok if p.get("error_pct", {}).get(metric) is not None]
        out[metric] = {"points": len(errs),
                       "median_abs_pct": round(statistics.median(abs(e) for e in errs), 1) if errs else None,
                       "worst_under_pct": round(min(min(errs), 0.0), 1) if errs else None,
                       "worst_over_pct": round(max(max(errs), 0.0), 1) if errs else None}
    out["in_band"] = {m: sum(1 for p in ok if (p.get("in_band") or {}).get(m)) for m in ("nvml", "reserved", "allocated")}
    nv = out["nvml"]
    out["acceptance"] = {
        "metric": "nvml", "median_abs_pct_max": MAX_ABS_ERR_PCT, "under_pct_max": MAX_UNDER_PCT,
        "pass": None if not nv["points"] else (nv["median_abs_pct"] <= MAX_ABS_ERR_PCT
                                               and -nv["worst_under_pct"] <= MAX_UNDER_PCT)}
    out["counts"] = {s: sum(1 for p in points if p.get("status") == s)
                     for s in sorted({p.get("status", "?") for p in points})}
    return out


def gpu_record() -> dict[str, Any] | None:
    """GPU name, memory, driver and CUDA driver version through NVML (None without a driver)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVML: not a GPU machine
        return None
    try:
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(h)
        driver = pynvml.nvmlSystemGetDriverVersion()
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        return {"name": name.decode() if isinstance(name, bytes) else name,
                "driver": driver.decode() if isinstance(driver, bytes) else driver,
                "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}",
                "memory_gib": _gib(pynvml.nvmlDeviceGetMemoryInfo(h).total),
                "count": pynvml.nvmlDeviceGetCount()}
    finally:
        pynvml.nvmlShutdown()


class Budget:
    """Wall-clock budget with a running estimate of how long a point of each model takes."""

    def __init__(self, total_s: float) -> None:
        self.total_s = total_s
        self.t0 = time.monotonic()
        self.seen: dict[str, float] = {}

    @property
    def left(self) -> float:
        return self.total_s - (time.monotonic() - self.t0)

    def expected(self, point: Point, params: int | None, prepared: bool) -> float:
        """Seconds the point should take: the longest seen for its model, else a prior from the parameter count
        (process start + imports ~15 s, load and steps ~6 s per billion parameters), plus the checkpoint
        preparation (~8 s per billion) when the model is not on disk yet."""
        billions = (params or 1e9) / 1e9
        base = self.seen.get(point.size, 15.0 + 6.0 * billions)
        return base + (0.0 if prepared else 8.0 * billions + 10.0)

    def record(self, point: Point, seconds: float) -> None:
        self.seen[point.size] = max(seconds, self.seen.get(point.size, 0.0))


def _resolve_models(dry_run: bool) -> dict[str, tuple[str, Any]]:
    """size -> (model reference, ModelSpec). The dry run uses the demo kit's tiny model (built once, cached)."""
    from ft_tui.planner.models import inspect_model

    if dry_run:
        from ft_tui.runner.demo_kit import build_demo_kit

        kit = build_demo_kit("tiny")
        return {"tiny": (str(kit.model_dir), inspect_model(str(kit.model_dir), allow_network=False))}
    return {size: (mid, inspect_model(mid, allow_network=False)) for size, mid in MODELS.items()}


def run_matrix(args: argparse.Namespace) -> dict[str, Any]:
    """Run the matrix within the budget; write results after every point; return the final record."""
    from ft_tui.planner.hardware import resolve_hardware

    dry = args.dry_run
    matrix = list(DRY_MATRIX if dry else GPU_MATRIX)
    if args.only:
        wanted = {s.strip() for s in args.only.split(",") if s.strip()}
        matrix = [p for p in matrix if p.id in wanted]
    if args.max_points:
        matrix = matrix[:args.max_points]
    elif dry and not args.only:
        matrix = matrix[:DRY_DEFAULT_POINTS]
    name = DRYRUN_NAME if dry else RESULT_NAME
    gpu = None if dry else gpu_record()
    if not dry and gpu is None:
        common.log("no NVIDIA GPU visible through NVML: the measurement needs one (use --dry-run on a CPU)")
    hw = None if dry else (resolve_hardware("auto") if gpu else None)
    device_gib = gpu["memory_gib"] if gpu else None
    models = _resolve_models(dry)
    record = common.envelope(name, dists=("ft-tui", "torch", "transformers", "peft", "bitsandbytes", "accelerate",
                                          "datasets", "nvidia-ml-py"))
    record.update(dry_run=dry, gpu=gpu, budget_s=args.budget_s, train_steps=TRAIN_STEPS,
                  models={s: m for s, (m, _) in models.items()}, points=[], summary={})
    record["ft_tui_import"] = getattr(args, "ft_tui_import", "installed")
    budget = Budget(args.budget_s)
    work = Path(args.work_dir)
    checkpoints: dict[str, str] = {}
    if dry:
        checkpoints = {s: ref for s, (ref, _) in models.items()}
    results_dir = Path(args.results_dir) if args.results_dir else None

    for point in matrix:
        ref, spec = models[point.size]
        pred = predict(point, spec, hw, cuda=not dry)
        entry: dict[str, Any] = {"id": point.id, "model": ref if not dry else "demo-kit tiny", **asdict(point),
                                 "predicted": pred}
        if device_gib and pred["nvml_gib"] > MARGIN_FOR_SKIP * device_gib:
            entry.update(status="skipped", reason=f"predicted {pred['nvml_gib']} GiB > {MARGIN_FOR_SKIP:.0%} of "
                                                  f"the GPU's {device_gib} GiB")
            record["points"].append(entry)
            continue
        prepared = point.size in checkpoints
        expected = budget.expected(point, pred["total_params"], prepared)
        if budget.left < expected:
            entry.update(status="not_run", reason=f"budget: {budget.left:.0f} s left, the point needs ~{expected:.0f} s")
            record["points"].append(entry)
            continue
        if not prepared:
            folder = work / _slug(ref)
            if not (folder / "calib-ready.json").is_file():
                common.log(f"preparing a random-weight checkpoint of {ref} in {folder}")
                res, note, secs = _spawn(["--child", "prepare", "--prepare", ref],
                                         min(args.point_timeout_s * 2, max(budget.left, 1)), str(folder))
                record.setdefault("prepared", []).append({**(res or {}), "model": ref, "seconds": round(secs, 1),
                                                          "note": note})
                if res is None:
                    entry.update(status="error", reason=f"checkpoint preparation failed: {note}")
                    record["points"].append(entry)
                    common.write_result(name, record, results_dir)
                    continue
            checkpoints[point.size] = str(folder)
        common.log(f"[{budget.left:5.0f} s left] {point.id}")
        timeout = min(args.point_timeout_s, max(budget.left, 5.0))
        res, note, secs = _spawn(["--child", json.dumps(asdict(point))], timeout, checkpoints[point.size])
        budget.record(point, secs)
        measured = res or {"status": "error"}
        entry.update(status=measured.pop("status", "error"), measured=measured, wall_s=round(secs, 1))
        if note:
            entry["note"] = note
            if entry["status"] == "ok":
                entry["status"] = "error"
        entry["error_pct"] = compare(measured, pred)
        entry["in_band"] = in_band(measured, pred)
        record["points"].append(entry)
        record["summary"] = summarize(record["points"])
        common.write_result(name, record, results_dir)
        common.log(f"    {entry['status']}: " + _point_line(entry))
    record["summary"] = summarize(record["points"])
    record["elapsed_s"] = round(time.monotonic() - budget.t0, 1)
    record["path"] = common.display_path(common.write_result(name, record, results_dir))
    return record


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v}"


def _point_line(e: dict[str, Any]) -> str:
    m, p, err = e.get("measured", {}), e.get("predicted", {}), e.get("error_pct", {})
    return (f"nvml {_fmt(m.get('nvml_peak_gib'))}/{_fmt(p.get('nvml_gib'))} GiB ({_fmt(err.get('nvml'))}%)  "
            f"reserved {_fmt(m.get('peak_reserved_gib'))}/{_fmt(p.get('reserved_gib'))}  "
            f"allocated {_fmt(m.get('peak_allocated_gib'))}/{_fmt(p.get('allocated_gib'))}  "
            f"tok/s {_fmt(m.get('tokens_per_s'))}/{_fmt(p.get('tokens_per_s'))}")


def report_lines(record: dict[str, Any]) -> list[str]:
    """Human-readable table: measured/predicted per point and the summary."""
    gpu = record.get("gpu") or {}
    lines = [f"gpu_calibrate{' (dry run, CPU)' if record['dry_run'] else ''}: {gpu.get('name', 'no GPU')} "
             f"driver {gpu.get('driver', '-')}; {len(record['points'])} points in {record.get('elapsed_s')} s",
             "measured/predicted per point (memory in GiB):"]
    for e in record["points"]:
        extra = e.get("reason") or e.get("note") or e.get("measured", {}).get("error") or ""
        lines.append(f"  {e['id']:<28} {e['status']:<8} {_point_line(e)}  {extra}".rstrip())
    s = record["summary"]
    for metric in ("nvml", "reserved", "allocated", "tokens_per_s"):
        m = s.get(metric, {})
        band = (s.get("in_band") or {}).get(metric)
        lines.append(f"  {metric:<13} n={m.get('points')} median |error| {_fmt(m.get('median_abs_pct'))}%  "
                     f"worst under {_fmt(m.get('worst_under_pct'))}%  worst over {_fmt(m.get('worst_over_pct'))}%"
                     + (f"  inside the band: {band}" if band is not None else ""))
    acc = s.get("acceptance", {})
    lines.append(f"  acceptance (nvml: median <= {MAX_ABS_ERR_PCT}%, under <= {MAX_UNDER_PCT}%): "
                 f"{ {True: 'PASS', False: 'FAIL', None: 'n/a (no GPU points)'}[acc.get('pass')] }")
    lines.append(f"  written to {record.get('path')}")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--dry-run", action="store_true", help="tiny demo model on the CPU (CI)")
    p.add_argument("--list", action="store_true", help="print the matrix in run order and exit")
    p.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S, help="global time budget (s)")
    p.add_argument("--point-timeout-s", type=float, default=DEFAULT_POINT_TIMEOUT_S, help="timeout of one point")
    p.add_argument("--max-points", type=int, default=0, help="run at most N points of the matrix")
    p.add_argument("--only", default="", help="comma-separated point ids to run (see --list)")
    p.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "ft-tui-calib"),
                   help="where the random-weight checkpoints go (local disk)")
    p.add_argument("--results-dir", default="", help="write the result JSON here instead of bench/results")
    # internal: the per-point child process
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    p.add_argument("--prepare", default="", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", default="", help=argparse.SUPPRESS)
    p.add_argument("--result-file", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.budget_s <= 0 or args.point_timeout_s <= 0:
        p.error("--budget-s and --point-timeout-s must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.ft_tui_import = common.ensure_ft_tui_importable()
    if args.child:
        return _child_main(args)
    if args.list:
        for i, pt in enumerate(DRY_MATRIX if args.dry_run else GPU_MATRIX, 1):
            print(f"{i:2d} {pt.id}")
        return 0
    record = run_matrix(args)
    common.emit(record, args.json, report_lines(record))
    ran = [e for e in record["points"] if e["status"] not in ("skipped", "not_run")]
    return 0 if ran and all(e["status"] in ("ok", "oom") for e in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
