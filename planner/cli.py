"""`ft-tui plan` and `ft-tui estimate`.

``plan`` recommends a config (``planner.recommend.make_plan``); ``estimate`` predicts memory and time for configs as
they are. Both print a readable report, or with ``--json`` exactly one JSON object per config on stdout (warnings
go to stderr). Neither imports torch for a catalog model without a dataset.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .config import load_config, parse_overrides, save_config
from .errors import ConfigError, InputError, NothingFits
from .memory import MemoryEstimate, estimate_memory, precision_label
from .messages import Msg
from .timing import TimeEstimate, estimate_time
from .units import format_duration, gib

BAR_WIDTH = 30
BREAKDOWN_LABELS = {
    "weights": "weights", "optimizer": "optimizer", "gradients": "gradients", "activations": "activations",
    "logits": "logits+loss", "cuda_context": "CUDA context", "overhead": "overhead",
}


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ----------------------------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------------------------

def _build_config(path: str | None, args) -> Any:
    overrides = parse_overrides(getattr(args, "overrides", None) or [])
    if getattr(args, "model", None):
        overrides["model_name_or_path"] = args.model
    if getattr(args, "dataset", None):
        overrides["dataset"] = args.dataset
    cfg = load_config(path, overrides)
    if not cfg.model_name_or_path:
        raise ConfigError(Msg("plan_no_model"), key="model_name_or_path", file=path, hint=Msg("hint_plan_no_model"))
    for w in cfg.warnings:
        _warn(w)
    return cfg


def _inspect(cfg):
    from .models import inspect_model

    return inspect_model(cfg.model_name_or_path, trust_remote_code=cfg.trust_remote_code, base_dir=cfg.base_dir)


def _hardware(args):
    from .hardware import resolve_hardware

    return resolve_hardware(getattr(args, "gpu", "auto") or "auto", getattr(args, "gpus", None))


def _strategy_for(cfg, spec, hw, data, counts) -> str:
    """How a multi-GPU run would be launched: DDP when it fits one GPU, else FSDP."""
    n = max(1, int(getattr(hw, "count", 1) or 1))
    if n == 1:
        return "single"
    est = estimate_memory(cfg, spec, hw, data, counts=counts, n_gpus=n, strategy="ddp")
    return "ddp" if est.fits is not False else "fsdp"


# ----------------------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------------------

def render_breakdown(est: MemoryEstimate) -> list[str]:
    """One text bar per memory term, scaled to the budget (or to the peak when no GPU is known)."""
    scale = est.budget_bytes or est.peak_bytes or 1
    lines = []
    for key, value in est.breakdown.items():
        filled = min(BAR_WIDTH, int(round(value / scale * BAR_WIDTH)))
        bar = "█" * filled + "░" * (BAR_WIDTH - filled)
        lines.append(f"  {BREAKDOWN_LABELS.get(key, key):<13} {bar} {gib(value, width=5)}")
    lines.append(f"  {'peak':<13} {'':<{BAR_WIDTH}} {gib(est.peak_bytes, width=5)}  ({est.phase})")
    if est.budget_bytes is not None:
        verdict = "fits" if est.fits else "DOES NOT FIT"
        lines.append(f"  {'budget':<13} {'':<{BAR_WIDTH}} {gib(est.budget_bytes, width=5)}  -> {verdict}")
    return lines


def render_time(t: TimeEstimate | None) -> str:
    if t is None:
        return "Time: unknown (no GPU throughput known; name the card with --gpu)"
    steps = f"{t.steps:,} steps" if t.steps is not None else "steps unknown"
    return (f"Time: ~{t.tokens_per_s:,.0f} tokens/s (assumed MFU {t.mfu:.2f}), {t.step_s:.1f} s/step, {steps}, "
            f"ETA {format_duration(t.eta_s)}  [{t.note}]")


def _value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


def _hw_text(hw) -> str:
    if hw is None or getattr(hw, "source", "none") == "none":
        return "this machine (no GPU found)"
    return f"{hw.count} x {hw.name}"


def render_plan(plan) -> str:
    cfg, hw = plan.config, plan.hardware
    lines = [f"Plan for {cfg.model_name_or_path} ({cfg.finetuning_type}, stage {cfg.stage}) on {_hw_text(hw)}", ""]
    lines.append(f"  {'key':<32} {'value':<12} reason")
    for key, reason in plan.reasons.items():
        value = getattr(cfg, key, None) if key in cfg.to_dict() else (plan.strategy if key == "strategy" else "")
        mark = " *" if key in cfg.explicit else ""
        lines.append(f"  {key + mark:<32} {_value(value):<12} {reason}")
    setup = plan.estimate.setup
    lines += ["  (* = set by you, kept as given)", "",
              f"Memory of one training process ({precision_label(setup)}, longest batch {setup.batch} x "
              f"{setup.seq_len} tokens):"]
    lines += render_breakdown(plan.estimate)
    lines += ["", render_time(plan.time)]
    model = plan.model or {}
    if model.get("catalog_id"):
        note = f"; {model['catalog_note']}" if model.get("catalog_note") else ""
        lines.append(f"Model facts: built-in catalog entry {model['catalog_id']}{note}")
    if plan.history_text:
        lines.append(str(plan.history_text)[:1].upper() + str(plan.history_text)[1:])
    return "\n".join(lines)


def render_estimate(path: str, cfg, est: MemoryEstimate, t: TimeEstimate | None, hw) -> str:
    lines = [f"{path}: {cfg.model_name_or_path} ({cfg.finetuning_type}) on {_hw_text(hw)}, "
             f"{precision_label(est.setup)}",
             f"  params {est.total_params / 1e9:.2f}B total, {est.trainable_params / 1e6:.1f}M trainable"]
    lines += render_breakdown(est)
    lines.append("  " + render_time(t))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------------------------

def _findings(rules, cfg, hw) -> list:
    """``rules(cfg, hw)`` (``ft_tui.templates.rules.config_findings``): raise its first error, return its
    warnings."""
    found = rules(cfg, hw)
    found.raise_first()
    return list(found.warnings)


def cmd_plan(args, *, planning_data, rules, history=None) -> int:
    """`ft-tui plan [CONFIG] [--model M] [--dataset D] [--gpu G] [--gpus N] [--set k=v] [--json] [-o OUT.yaml]`.

    ``planning_data``: ``ft_tui.templates.planning.planning_data`` (the data statistics; the planner sits below
    templates/ and does not import it). ``rules``: ``ft_tui.templates.rules.config_findings``, the errors and
    warnings every command gives a config on its hardware. ``history``: this machine's finished runs
    (``ft_tui.runner.history.past_runs``). ``ft-tui plan`` (runner/history.py) passes them in."""
    from .recommend import make_plan

    cfg = _build_config(getattr(args, "config", None), args)
    hw = _hardware(args)
    for w in _findings(rules, cfg, hw):
        _warn(w)
    spec = _inspect(cfg)
    found = planning_data(cfg, spec)
    data, note = found.stats, found.note
    if note:
        _warn(note)
    try:
        plan = make_plan(cfg, hw, spec, data, history=history)
    except NothingFits as exc:
        if args.json:  # still one JSON object on stdout: fits false, the setup, the minimum found, the suggestions
            out = {**exc.details, "fits": False, "message": str(exc)}
            if note:
                out["notes"] = [note]
            print(json.dumps(out))
        raise
    if getattr(args, "output", None):
        try:
            save_config(plan.config, args.output)
        except OSError as exc:
            raise InputError(Msg("plan_write_failed", error=str(exc)), file=args.output) from None
        print(f"wrote {args.output}", file=sys.stderr)
    if args.json:
        out = plan.to_dict()
        if note:
            out["notes"] = [note]
        print(json.dumps(out))
    else:
        print(render_plan(plan))
    return 0


def cmd_estimate(args, *, planning_data, rules) -> int:
    """`ft-tui estimate CONFIG... [--gpu G] [--gpus N] [--set k=v] [--json]`: the configs' own values, no re-plan.

    ``planning_data``, ``rules``: as for :func:`cmd_plan` (``ft-tui estimate`` is runner/history.py's ``cmd_estimate``)."""
    from .params import count_params
    from .recommend import check_lora_targets

    hw = _hardware(args)
    for path in args.configs:
        cfg = _build_config(path, args)
        for w in _findings(rules, cfg, hw):
            _warn(f"{path}: {w}")
        spec = _inspect(cfg)
        counts = count_params(spec)
        check_lora_targets(cfg, spec)
        found = planning_data(cfg, spec)
        data, note = found.stats, found.note
        if note:
            _warn(f"{path}: {note}")
        strategy = _strategy_for(cfg, spec, hw, data, counts)
        n = max(1, int(getattr(hw, "count", 1) or 1))
        est = estimate_memory(cfg, spec, hw, data, counts=counts, n_gpus=n, strategy=strategy)
        t = estimate_time(cfg, spec, counts, est.setup, hw, est.trainable_params, data)
        if args.json:
            out = {"config": path, **est.to_dict(), "time": t.to_dict() if t else None, "strategy": strategy,
                   "hardware": hw.to_dict() if hasattr(hw, "to_dict") else None}
            print(json.dumps(out))
        else:
            print(render_estimate(path, cfg, est, t, hw))
    return 0
