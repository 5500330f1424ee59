"""The recommendation: a config that fits the GPU(s), with a one-line reason per choice.

Search order (quality first, then speed), never touching a key the user set (``cfg.explicit``):

1. precision: bf16 where the GPU has it, else fp16;
2. cutoff_len: the data's p99 rounded up (never above the model's context unless the user asked; then RoPE scaling);
3. quantization (LoRA only): none, then 8-bit, then 4-bit: the least lossy that fits on the GPUs;
4. multi-GPU strategy: DDP when the run fits one GPU, else FSDP (weights, gradients and states sharded);
5. optimizer: AdamW, then the fused kernel, then 8-bit, then paged 8-bit, only when needed to fit;
6. per-device batch: the largest power of two that fits within the margin, capped by the target effective batch;
   gradient checkpointing only when it is needed to fit or to reach a useful batch;
7. gradient accumulation: ceil(target_effective_batch / (batch x GPUs)).

Only when nothing fits at that cutoff_len, and the user did not set cutoff_len, the planner halves it (down to
MIN_AUTO_CUTOFF) and says so: a run that truncates long samples beats no run, and the reason tells the user how to
keep the longer context (more memory, or setting cutoff_len to see what would fit).

Every candidate is checked with :func:`planner.memory.estimate_setup`; the plan never recommends what its own
estimate says does not fit. When nothing fits, :class:`NothingFits` says what would (same estimator).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import NothingFits
from .history import history_note, widened_margin
from .memory import (
    MemoryEstimate,
    TrainSetup,
    budget_for,
    estimate_setup,
    setup_from_config,
)
from .messages import Msg
from .model_spec import model_facts
from .timing import TimeEstimate, estimate_time
from .units import gib_number

if TYPE_CHECKING:
    from .params import ParamCounts

OPTIMIZER_LADDER = ("adamw_torch", "adamw_torch_fused", "adamw_bnb_8bit", "paged_adamw_8bit")
QUANT_LADDER = (None, 8, 4)
MAX_BATCH = 64
# With a batch at least this large (or the whole target effective batch) per step, gradient checkpointing is left
# off: recomputation costs ~1/3 more compute, and a bigger micro-batch buys less than that.
MIN_BATCH_WITHOUT_GC = 4
#: The reason of every value the user set. Every reason is a :class:`~.messages.Msg` (catalog area ``reasons``).
SET_BY_YOU = Msg("set_by_you")


@dataclass
class Plan:
    """A recommended config with its estimate and the reason behind every planned key."""

    config: Any                      # TrainConfig
    estimate: MemoryEstimate
    reasons: dict[str, str]
    user_keys: list[str]
    hardware: Any                    # HardwareTarget
    time: TimeEstimate | None = None
    strategy: str = "single"
    warnings: list[str] = field(default_factory=list)
    model: dict[str, Any] | None = None       # where the model's facts came from (model_spec.model_facts)
    history: dict[str, Any] | None = None     # past runs on this GPU and model family (history.HistoryNote)
    history_text: Any = None                  # its one-line note (a coded text)

    def to_dict(self) -> dict[str, Any]:
        """DESIGN.md's ``plan --json``: config, estimate, reasons, hardware (+ time, strategy, user_keys)."""
        hw = self.hardware.to_dict() if hasattr(self.hardware, "to_dict") else None
        return {
            "config": self.config.to_dict(),
            "estimate": self.estimate.to_dict(),
            "reasons": dict(self.reasons),
            "hardware": hw,
            "time": self.time.to_dict() if self.time else None,
            "strategy": self.strategy,
            "user_keys": list(self.user_keys),
            "warnings": list(self.warnings),
            "model": self.model,
            "history": self.history,
        }


# ----------------------------------------------------------------------------------------------------------------
# Single choices
# ----------------------------------------------------------------------------------------------------------------

def choose_precision(cfg, hw, reasons: dict[str, str]) -> dict[str, Any]:
    """bf16 where the GPU supports it (compute capability >= 8.0), else fp16; keys the user set stay."""
    user = cfg.explicit
    if "bf16" in user or "fp16" in user:
        for key in ("bf16", "fp16"):
            if key in user:
                reasons[key] = SET_BY_YOU
        if cfg.bf16 and hw.bf16 is False:
            reasons["bf16"] = Msg("bf16_user_unsupported", gpu=hw.name)
        if "fp16" not in user and not cfg.bf16:
            reasons["fp16"] = Msg("fp16_user_bf16_off")
            return {"fp16": True}
        if "bf16" not in user and not cfg.fp16 and hw.bf16 is not False:
            reasons["bf16"] = Msg("bf16_user_fp16_off")
            return {"bf16": True}
        return {}
    if hw.bf16 is False:
        reasons["bf16"] = Msg("bf16_off_unsupported", gpu=hw.name)
        reasons["fp16"] = Msg("fp16_on_no_bf16")
        return {"bf16": False, "fp16": True}
    reasons["bf16"] = Msg("bf16_on" if hw.bf16 else "bf16_on_assumed")
    reasons["fp16"] = Msg("fp16_off_bf16_used")
    return {"bf16": True, "fp16": False}


def hardware_warnings(cfg, hw) -> list[Msg]:
    """What is wrong with the config's own values on ``hw``: the one list ``plan``, ``estimate``, ``train`` and the
    TUI warn with (bf16 on a card without bf16)."""
    out: list[Msg] = []
    if hw is not None and getattr(hw, "source", "none") != "none" and cfg.bf16 and hw.bf16 is False:
        out.append(Msg("bf16_unsupported_warning", gpu=hw.name))
    return out


def _round_len(n: int) -> int:
    step = 64 if n <= 1024 else 128
    return max(step, int(math.ceil(n / step) * step))


def choose_cutoff(cfg, spec, data, reasons: dict[str, str]) -> dict[str, Any]:
    """cutoff_len from the data's p99 (rounded up to 64/128), capped at the model's context; RoPE scaling when the
    user asks for more than the model's context."""
    max_pos = spec.max_position_embeddings
    if "cutoff_len" in cfg.explicit:
        reasons["cutoff_len"] = SET_BY_YOU
        if max_pos and cfg.cutoff_len > max_pos:
            factor = cfg.cutoff_len / max_pos
            if "rope_scaling" in cfg.explicit:
                reasons["rope_scaling"] = SET_BY_YOU
            else:
                reasons["rope_scaling"] = Msg("rope_linear", cutoff=cfg.cutoff_len, factor=f"{factor:.1f}",
                                                 max_pos=max_pos)
                return {"rope_scaling": "linear"}
        return {}
    p99 = getattr(data, "p99", None) if data is not None else None
    if p99:
        value = _round_len(int(p99))
        why = Msg("cutoff_p99", value=value, p99=int(p99))
    else:
        value = cfg.cutoff_len
        why = Msg("cutoff_default", value=value)
    if max_pos and value > max_pos:
        value, why = max_pos, Msg("cutoff_context", value=max_pos)
    reasons["cutoff_len"] = why
    return {"cutoff_len": value}


def choose_lora(cfg, spec, counts, data, reasons: dict[str, str]) -> dict[str, Any]:
    """LoRA rank 8 for small models or small data, 16 otherwise; alpha = 2 x rank (rank barely changes memory, §2.5)."""
    if cfg.finetuning_type != "lora":
        return {}
    out: dict[str, Any] = {}
    rank = cfg.lora_rank
    if "lora_rank" in cfg.explicit:
        reasons["lora_rank"] = SET_BY_YOU
    else:
        rows = getattr(data, "rows", None) if data is not None else None
        small = counts.total < 3e9 or (rows is not None and rows < 5000)
        rank = 8 if small else 16
        size = f"{counts.total / 1e9:.1f}B" if counts.total >= 1e9 else f"{counts.total / 1e6:.0f}M"
        reasons["lora_rank"] = (Msg("lora_rank_data", rank=rank, rows=rows) if (small and counts.total >= 3e9)
                                else Msg("lora_rank_model", rank=rank, size=size))
        out["lora_rank"] = rank
    if "lora_alpha" in cfg.explicit:
        reasons["lora_alpha"] = SET_BY_YOU
    else:
        out["lora_alpha"] = 2 * rank
        reasons["lora_alpha"] = Msg("lora_alpha", alpha=2 * rank)
    return out


# ----------------------------------------------------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Choice:
    setup: TrainSetup
    estimate: MemoryEstimate
    gc_reason: str


def _batches(cap: int) -> list[int]:
    out, b = [], 1
    while b <= cap:
        out.append(b)
        b *= 2
    return out


class _Searcher:
    """Runs the estimator over candidates; holds the model, the budget and the user's fixed keys."""

    def __init__(self, cfg, spec, counts, budget: int | None, *, band: bool = True):
        self.cfg, self.spec, self.counts, self.budget = cfg, spec, counts, budget
        self.user = cfg.explicit
        self.band = band

    def estimate(self, setup: TrainSetup) -> MemoryEstimate:
        return estimate_setup(self.spec, self.counts, setup, self.budget)

    def fits(self, est: MemoryEstimate) -> bool:
        """The fit check: the whole uncertainty band under the budget (:func:`band_fits`), or with ``band=False``
        the estimate itself (the fallback that :func:`band_reason` explains)."""
        return band_fits(est) if self.band else bool(est.fits)

    def with_batch(self, setup: TrainSetup, batch: int) -> TrainSetup:
        """``setup`` at micro-batch ``batch``, with the accumulation the plan would pair with it."""
        accum = setup.grad_accum if "gradient_accumulation_steps" in self.user else \
            max(1, math.ceil(self.cfg.target_effective_batch / (batch * setup.n_gpus)))
        return dataclasses.replace(setup, batch=batch, grad_accum=accum)

    def largest_batch(self, setup: TrainSetup, cap: int) -> MemoryEstimate | None:
        """The estimate of the largest micro-batch that fits (its ``setup.batch``), or None when none does."""
        if "per_device_train_batch_size" in self.user:
            est = self.estimate(self.with_batch(setup, setup.batch))
            return est if self.fits(est) else None
        best = None
        for b in _batches(cap):
            est = self.estimate(self.with_batch(setup, b))
            if not self.fits(est):
                break
            best = est
        return best

    def best_for(self, setup: TrainSetup, cap: int) -> _Choice | None:
        """Largest batch, with gradient checkpointing only when needed."""
        if "disable_gradient_checkpointing" in self.user:
            est = self.largest_batch(setup, cap)
            return _Choice(est.setup, est, SET_BY_YOU) if est else None
        est_off = self.largest_batch(dataclasses.replace(setup, grad_ckpt=False), cap)
        b_off = est_off.setup.batch if est_off else 0
        if est_off and b_off >= min(MIN_BATCH_WITHOUT_GC, cap):
            return _Choice(est_off.setup, est_off, Msg("gc_off_fits", batch=b_off))
        est_on = self.largest_batch(dataclasses.replace(setup, grad_ckpt=True), cap)
        if est_on and est_on.setup.batch > b_off:
            why = Msg("gc_on_bigger_batch", off=b_off, on=est_on.setup.batch) if b_off else Msg("gc_on_needed")
            return _Choice(est_on.setup, est_on, why)
        if est_off:
            return _Choice(est_off.setup, est_off, Msg("gc_off_no_gain", batch=b_off))
        return None


MIN_AUTO_CUTOFF = 256


def _fit_shorter_cutoff(cfg1, spec, counts, hw, data, n: int, budget: int | None, reasons: dict[str, str]):
    """Halve cutoff_len until a setup fits (never below MIN_AUTO_CUTOFF). Returns (cfg, choice) or None."""
    length = cfg1.cutoff_len // 2
    while length >= MIN_AUTO_CUTOFF:
        trial = cfg1.replace(cutoff_len=length)
        choice = _search(_Searcher(trial, spec, counts, budget), setup_from_config(trial, hw, data, n_gpus=n), n)
        if choice is not None:
            reasons["cutoff_len"] = Msg("cutoff_shortened", value=length, orig=cfg1.cutoff_len)
            return trial, choice
        length //= 2
    return None


def _strategies(n: int) -> list[str]:
    return ["single"] if n <= 1 else ["ddp", "fsdp"]


def _search(s: _Searcher, base: TrainSetup, n: int) -> _Choice | None:
    cfg = s.cfg
    quants = [cfg.quantization_bit] if ("quantization_bit" in s.user or cfg.finetuning_type != "lora") \
        else list(QUANT_LADDER)
    optims = [cfg.optim] if "optim" in s.user else list(OPTIMIZER_LADDER)
    cap = max(1, min(MAX_BATCH, cfg.target_effective_batch // n))
    # quality first: the least quantization on any strategy, then DDP before FSDP, then the leanest optimizer
    for quant in quants:
        for strategy in _strategies(n):
            for optim in optims:
                setup = dataclasses.replace(base, quant_bits=quant, optimizer=optim, n_gpus=n, strategy=strategy)
                choice = s.best_for(setup, cap)
                if choice is not None:
                    return choice
    return None


def _lean(base: TrainSetup, cfg, **changes: Any) -> TrainSetup:
    """The most memory-frugal variant of ``base`` the user's keys allow (for 'what would fit' hints)."""
    lean: dict[str, Any] = dict(batch=base.batch if "per_device_train_batch_size" in cfg.explicit else 1,
                grad_ckpt=base.grad_ckpt if "disable_gradient_checkpointing" in cfg.explicit else True,
                optimizer=base.optimizer if "optim" in cfg.explicit else "paged_adamw_8bit")
    lean.update(changes)
    return dataclasses.replace(base, **lean)


def _setup_text(lean: TrainSetup, cfg) -> tuple[Msg, dict[str, Any]]:
    """The setup 'nothing fits' computed, as said to the user (what the user set marked 'yours') and as data."""
    user = cfg.explicit
    items = [
        (Msg("setup_batch", batch=lean.batch), "per_device_train_batch_size"),
        (Msg("setup_quant", bits=lean.quant_bits) if lean.quant_bits else Msg("setup_no_quant"), "quantization_bit"),
        (Msg("setup_ckpt") if lean.grad_ckpt else Msg("setup_no_ckpt"), "disable_gradient_checkpointing"),
        (Msg("setup_optim", optim=lean.optimizer), "optim"),
        (Msg("setup_cutoff", length=lean.seq_len), "cutoff_len"),
    ]
    text = Msg.join([Msg("setup_yours", item=m) if key in user else m for m, key in items], "list")
    data = {"per_device_train_batch_size": lean.batch, "quantization_bit": lean.quant_bits,
            "gradient_checkpointing": lean.grad_ckpt, "optim": lean.optimizer, "cutoff_len": lean.seq_len,
            "finetuning_type": lean.method, "user_keys": sorted(k for _, k in items if k in user)}
    return text, data


def _unquantized_experts_note(counts: ParamCounts, base: TrainSetup, quant: int | None) -> Msg | None:
    """Why a quantized MoE model still needs so much: its experts (a large share of it) stay unquantized."""
    if not quant or counts.experts < 0.2 * counts.total:
        return None
    dtype = "fp32" if base.kbit_prepare or not base.half else "16-bit"
    return Msg("moe_experts_unquantized", bits=quant, experts=f"{counts.experts / 1e9:.1f}", dtype=dtype)


def _leanest_quant(base: TrainSetup, cfg) -> int | None:
    return base.quant_bits if "quantization_bit" in cfg.explicit else (4 if cfg.finetuning_type == "lora" else None)


def _released(s: _Searcher, base: TrainSetup, quant: int | None) -> list[Msg]:
    """What would fit by giving back the user's batch or their disabled checkpointing (one, else both)."""
    cfg = s.cfg
    user_batch = base.batch if "per_device_train_batch_size" in cfg.explicit and base.batch > 1 else None
    user_no_gc = "disable_gradient_checkpointing" in cfg.explicit and not base.grad_ckpt
    out: list[Msg] = []
    if user_batch and s.estimate(_lean(base, cfg, quant_bits=quant, batch=1)).fits:
        out.append(Msg("fit_batch1", batch=user_batch))
    if user_no_gc and s.estimate(_lean(base, cfg, quant_bits=quant, grad_ckpt=True)).fits:
        out.append(Msg("fit_gc_on"))
    if not out and user_batch and user_no_gc and \
            s.estimate(_lean(base, cfg, quant_bits=quant, batch=1, grad_ckpt=True)).fits:
        out.append(Msg("fit_batch1_gc_on", batch=user_batch))
    return out


def _alternatives(s: _Searcher, base: TrainSetup, hw) -> list[str]:
    """What would fit, each checked with the same estimator."""
    cfg = s.cfg
    out: list[str] = []
    quant = _leanest_quant(base, cfg)
    # A hint names quantization only when it is a change: never "and 4-bit" to a user who set 4-bit.
    with_quant = Msg("with_quant", bits=quant) if quant and not (
        "quantization_bit" in cfg.explicit and quant == base.quant_bits) else ""
    out += _released(s, base, quant)  # the user's own choices that stand in the way
    for n in (2, 4, 8, 16, 32, 64):
        if n <= hw.count:
            continue
        if s.fits(s.estimate(_lean(base, cfg, quant_bits=quant, n_gpus=n, strategy="fsdp"))):
            out.append(Msg("fit_fsdp", n=n, gpu=hw.name, quant=with_quant))
            break
    if base.quant_bits != 4:
        if cfg.finetuning_type == "lora":
            if s.fits(s.estimate(_lean(base, cfg, quant_bits=4))):
                out.append(Msg("fit_qlora"))
        elif s.fits(s.estimate(_lean(base, cfg, method="lora", quant_bits=4))):
            out.append(Msg("fit_lora4"))
    length = base.seq_len // 2
    while length >= 128:
        if s.fits(s.estimate(_lean(base, cfg, quant_bits=quant, seq_len=length))):
            out.append(Msg("fit_cutoff", length=length, quant=with_quant))
            break
        length //= 2
    out.append(_smaller_model_hint(s, _lean(base, cfg, quant_bits=quant)))
    return out


def _smaller_model_hint(s: _Searcher, lean: TrainSetup) -> str:
    """Scale the per-parameter part of the estimate to find the largest model that would fit."""
    if s.budget is None:  # no memory budget known: nothing to scale against
        return Msg("fit_smaller_none")
    est = s.estimate(lean)
    per_param = (est.terms["weights"] + est.terms["optimizer"] + est.terms["gradients"]) / max(est.total_params, 1)
    fixed = est.peak_bytes - (est.terms["weights"] + est.terms["optimizer"] + est.terms["gradients"]) * \
        (1 + lean.fragmentation)
    room = (s.budget - fixed) / (1 + lean.fragmentation)
    if room <= 0 or per_param <= 0:
        return Msg("fit_smaller_none")
    return Msg("fit_smaller", size=f"{room / per_param / 1e9:.1f}")


# ----------------------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------------------

def check_lora_targets(cfg, spec) -> None:
    """Raise ConfigError (naming lora_target and the available modules) when a target matches no module."""
    if cfg.finetuning_type == "lora":
        from .params import lora_trainable_params

        lora_trainable_params(spec, cfg.lora_targets, cfg.lora_rank)


def _mark_user(cfg, reasons: dict[str, str]) -> None:
    from .config import PLANNED_KEYS

    for key in PLANNED_KEYS:
        if key in cfg.explicit and key not in reasons:
            reasons[key] = SET_BY_YOU


def _cpu_plan(cfg, spec, counts, hw, data) -> Plan:
    changes = {k: False for k in ("bf16", "fp16") if k not in cfg.explicit}
    cfg2 = cfg.replace(**changes) if changes else cfg
    reasons: dict[str, str] = {"hardware": Msg("hardware_none")}
    if changes:
        reasons["bf16"] = reasons["fp16"] = Msg("precision_cpu")
    _mark_user(cfg, reasons)
    setup = setup_from_config(cfg2, None, data, n_gpus=1, strategy="single", include_context=False)
    est = estimate_setup(spec, counts, setup, None)
    return Plan(config=cfg2, estimate=est, reasons=reasons, user_keys=sorted(cfg.explicit), hardware=hw,
                time=None, strategy="single", model=model_facts(spec))


def make_plan(cfg, hw, spec=None, data=None, *, counts=None, history=None) -> Plan:
    """Recommend a config for ``cfg`` on hardware ``hw`` (a HardwareTarget) and model ``spec``.

    Keys in ``cfg.explicit`` are kept and marked "set by you". Raises :class:`NothingFits` when no candidate fits.
    ``history`` is this machine's finished runs (:class:`~.history.PastRun`, read by the runner): when those of the
    same GPU and model family measured more than planned, the memory margin widens by that much
    (``use_run_history: false`` keeps it as configured; the note says so either way).
    """
    from .params import count_params

    if spec is None:
        from .models import inspect_model

        spec = inspect_model(cfg.model_name_or_path, trust_remote_code=cfg.trust_remote_code,
                             base_dir=cfg.base_dir)
    counts = counts or count_params(spec)
    check_lora_targets(cfg, spec)
    if hw is None or getattr(hw, "source", "none") == "none":
        return _cpu_plan(cfg, spec, counts, hw, data)

    reasons: dict[str, str] = {}
    changes: dict[str, Any] = {}
    changes.update(choose_precision(cfg, hw, reasons))
    changes.update(choose_cutoff(cfg, spec, data, reasons))
    changes.update(choose_lora(cfg, spec, counts, data, reasons))
    cfg1 = cfg.replace(**changes) if changes else cfg

    n = max(1, int(hw.count or 1))
    note = history_note(history or (), hw.name, spec.model_type)
    margin = widened_margin(cfg.memory_margin, note) if cfg.use_run_history else cfg.memory_margin
    budget = budget_for(hw, margin)
    searcher = _Searcher(cfg1, spec, counts, budget)
    base = setup_from_config(cfg1, hw, data, n_gpus=n)
    choice = _search(searcher, base, n)
    edge = False
    if choice is None:  # nothing keeps the whole band under the budget: the best that fits by the estimate itself
        choice = _search(_Searcher(cfg1, spec, counts, budget, band=False), base, n)
        edge = choice is not None
    if choice is None and "cutoff_len" not in cfg.explicit:
        shorter = _fit_shorter_cutoff(cfg1, spec, counts, hw, data, n, budget, reasons)
        if shorter is not None:
            cfg1, choice = shorter
    if choice is None:
        hints = _alternatives(searcher, base, hw)
        quant = _leanest_quant(base, cfg1)
        lean_setup = _lean(base, cfg1, quant_bits=quant)
        lean = searcher.estimate(lean_setup)
        setup_text, setup_data = _setup_text(lean_setup, cfg1)
        message = Msg(
            "nothing_fits", model=spec.name, method=cfg1.finetuning_type, need=gib_number(lean.peak_bytes),
            setup=setup_text, budget=gib_number(budget), count=hw.count, gpu=hw.name, margin=f"{margin:.0%}",
            hints=Msg.join(hints, "semicolon"))
        why = _unquantized_experts_note(counts, base, quant)
        details = {"fits": False, "model": spec.name, "minimum_gib": float(gib_number(lean.peak_bytes)),
                   "budget_gib": float(gib_number(budget)), "hardware": {"count": hw.count, "name": hw.name},
                   "memory_margin": margin, "setup": setup_data, "suggestions": [str(h) for h in hints]}
        raise NothingFits(Msg.join([message, why], "space") if why else message, details=details)
    final = _apply_choice(cfg1, choice, n, reasons, margin)
    _mark_user(cfg, reasons)
    from .memory import estimate_memory

    est = estimate_memory(final, spec, hw, data, counts=counts, n_gpus=n, strategy=choice.setup.strategy)
    if not est.fits:  # pragma: no cover - the search and the final estimate use the same function
        raise AssertionError("planner chose a setup its own estimate rejects")
    reasons["memory"] = band_reason(searcher, est, choice.setup, edge)
    time = estimate_time(final, spec, counts, choice.setup, hw, est.trainable_params, data)
    return Plan(config=final, estimate=est, reasons=reasons, user_keys=sorted(cfg.explicit), hardware=hw,
                time=time, strategy=choice.setup.strategy, warnings=list(cfg.warnings), model=model_facts(spec),
                history=note.to_dict(cfg.memory_margin, enabled=cfg.use_run_history) if note else None,
                history_text=note.text(cfg.memory_margin, enabled=cfg.use_run_history) if note else None)


# ----------------------------------------------------------------------------------------------------------------
# The uncertainty band (planner.memory.uncertainty_band): the fit check and its reason
# ----------------------------------------------------------------------------------------------------------------

def band_fits(est: MemoryEstimate) -> bool:
    """Whether the whole uncertainty band of ``est`` (its high end) is under its budget."""
    return bool(est.fits_band)


def _leaner(setup: TrainSetup) -> list[tuple[str, TrainSetup]]:
    """Leaner variants of ``setup``, least intrusive first, each with its config text. Keys you set are included:
    the search already tried every leaner value of the keys it may choose, so the safe setting, when there is one,
    changes a key you set (or shortens cutoff_len, which the search shortens only when nothing fits)."""
    out = []
    if setup.batch > 1:
        b = setup.batch // 2
        out.append((f"per_device_train_batch_size: {b}", dataclasses.replace(setup, batch=b)))
    if not setup.grad_ckpt:
        out.append(("disable_gradient_checkpointing: false", dataclasses.replace(setup, grad_ckpt=True)))
    if setup.method == "lora" and setup.quant_bits != 4:
        q = 8 if setup.quant_bits is None else 4
        out.append((f"quantization_bit: {q}", dataclasses.replace(setup, quant_bits=q)))
    if setup.optimizer in OPTIMIZER_LADDER[:-1]:
        nxt = OPTIMIZER_LADDER[OPTIMIZER_LADDER.index(setup.optimizer) + 1]
        out.append((f"optim: {nxt}", dataclasses.replace(setup, optimizer=nxt)))
    if setup.seq_len // 2 >= MIN_AUTO_CUTOFF:
        out.append((f"cutoff_len: {setup.seq_len // 2}", dataclasses.replace(setup, seq_len=setup.seq_len // 2)))
    return out


def band_reason(s: _Searcher, est: MemoryEstimate, setup: TrainSetup, edge: bool) -> Msg:
    """Why the chosen setting is safe for the whole band, or, when only the estimate itself fits (``edge``), that
    it is within the band of the limit and which leaner setting would keep the whole band under the budget."""
    gib = {k: gib_number(v) for k, v in (("low", est.low_bytes or est.peak_bytes),
                                         ("high", est.high_bytes or est.peak_bytes),
                                         ("peak", est.peak_bytes), ("budget", s.budget or 0))}
    if not edge:
        return Msg("memory_band_safe", low=gib["low"], high=gib["high"], budget=gib["budget"])
    for text, lean in _leaner(setup):
        if band_fits(s.estimate(lean)):
            return Msg("memory_band_edge", peak=gib["peak"], high=gib["high"], budget=gib["budget"], lean=text)
    return Msg("memory_band_edge_no_lean", peak=gib["peak"], high=gib["high"], budget=gib["budget"])


def _apply_choice(cfg, choice: _Choice, n: int, reasons: dict[str, str], margin: float):
    s, user = choice.setup, cfg.explicit
    changes: dict[str, Any] = {}
    if "quantization_bit" not in user and cfg.finetuning_type == "lora":
        changes["quantization_bit"] = s.quant_bits
        reasons["quantization_bit"] = Msg({None: "quant_none", 8: "quant_8", 4: "quant_4"}[s.quant_bits])
    elif "quantization_bit" not in user:
        reasons["quantization_bit"] = Msg("quant_not_lora", method=cfg.finetuning_type)
    if "optim" not in user:
        changes["optim"] = s.optimizer
        reasons["optim"] = Msg(f"optim_{s.optimizer}")
    if "per_device_train_batch_size" not in user:
        changes["per_device_train_batch_size"] = s.batch
        capped = s.batch * 2 * n > cfg.target_effective_batch
        reasons["per_device_train_batch_size"] = Msg(
            "batch_fit_capped" if capped else "batch_fit", batch=s.batch, margin=f"{margin:.0%}",
            target=cfg.target_effective_batch)
    if "disable_gradient_checkpointing" not in user:
        changes["disable_gradient_checkpointing"] = not s.grad_ckpt
        reasons["disable_gradient_checkpointing"] = choice.gc_reason
    if "gradient_accumulation_steps" not in user:
        ga = max(1, math.ceil(cfg.target_effective_batch / (s.batch * n)))
        changes["gradient_accumulation_steps"] = ga
        reasons["gradient_accumulation_steps"] = Msg(
            "grad_accum_gpus" if n > 1 else "grad_accum", ga=ga, batch=s.batch, n=n, total=s.batch * ga * n,
            target=cfg.target_effective_batch)
    reasons["strategy"] = Msg(f"strategy_{s.strategy}", n=n)
    return cfg.replace(**changes) if changes else cfg
