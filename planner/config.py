"""The run config: one YAML file describes one run.

Key names follow LLaMA-Factory wherever it has the parameter, so its users' files work unchanged for the subset we
support. This module is the single place where keys, defaults, types, ranges and cross-key rules live; the CLI, the
planner, the runner and the TUI all validate through :func:`config_from_dict`, so they can never disagree.

No torch, no textual: this module is imported on every start-up path.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .lf_keys import no_effect_reason
from .messages import Msg, render
from .yaml_files import read_yaml_mapping

# ----------------------------------------------------------------------------------------------------------------
# Schema
# ----------------------------------------------------------------------------------------------------------------

SECTIONS = ("model", "dataset", "training", "lora", "freeze", "output")

OPTIMIZERS = (
    "adamw_torch", "adamw_torch_fused", "adamw_bnb_8bit", "adamw_8bit", "paged_adamw_8bit",
    "paged_adamw_32bit", "adafactor", "sgd",
)
SCHEDULERS = (
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
    "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay",
)

# Keys the planner may choose when the user did not set them (see planner.recommend).
PLANNED_KEYS = (
    "quantization_bit", "per_device_train_batch_size", "gradient_accumulation_steps",
    "disable_gradient_checkpointing", "bf16", "fp16", "optim", "lora_rank", "lora_alpha", "cutoff_len",
)


def _f(default: Any, section: str, kind: str, *, choices: tuple | None = None, minimum: float | None = None,
       maximum: float | None = None, nullable: bool = False, min_exclusive: bool = False) -> Any:
    return field(default=default, metadata={
        "section": section, "kind": kind, "choices": choices, "min": minimum, "max": maximum,
        "nullable": nullable, "min_exclusive": min_exclusive,
    })


@dataclass
class TrainConfig:
    """One fine-tuning run. Field names are LLaMA-Factory's; ``# ft-tui`` marks our own additions."""

    # Model & method
    model_name_or_path: str | None = _f(None, "model", "str", nullable=True)
    stage: str = _f("sft", "model", "choice", choices=("sft", "pt"))
    finetuning_type: str = _f("lora", "model", "choice", choices=("lora", "full", "freeze"))
    quantization_bit: int | None = _f(None, "model", "choice", choices=(None, 4, 8), nullable=True)
    quantization_type: str = _f("nf4", "model", "choice", choices=("nf4", "fp4"))
    double_quantization: bool = _f(True, "model", "bool")
    template: str | None = _f(None, "model", "str", nullable=True)
    rope_scaling: str | None = _f(None, "model", "choice", choices=(None, "linear", "dynamic", "yarn"),
                                  nullable=True)
    flash_attn: str = _f("auto", "model", "choice", choices=("auto", "disabled", "sdpa", "fa2"))
    trust_remote_code: bool = _f(False, "model", "bool")

    # Dataset
    dataset: str | None = _f(None, "dataset", "str", nullable=True)
    dataset_dir: str = _f("data", "dataset", "str")
    cutoff_len: int = _f(2048, "dataset", "int", minimum=4, maximum=1_048_576)
    val_size: float = _f(0.0, "dataset", "float", minimum=0)
    max_samples: int | None = _f(None, "dataset", "int", minimum=1, nullable=True)
    packing: bool | None = _f(None, "dataset", "bool", nullable=True)
    train_on_prompt: bool = _f(False, "dataset", "bool")

    # Training
    learning_rate: float = _f(5e-5, "training", "float", minimum=0, maximum=1, min_exclusive=True)
    num_train_epochs: float = _f(3.0, "training", "float", minimum=0)
    max_steps: int = _f(-1, "training", "int", minimum=-1)
    per_device_train_batch_size: int = _f(2, "training", "int", minimum=1, maximum=65536)
    gradient_accumulation_steps: int = _f(8, "training", "int", minimum=1, maximum=65536)
    per_device_eval_batch_size: int | None = _f(None, "training", "int", minimum=1, nullable=True)
    group_by_length: bool = _f(False, "training", "bool")
    lr_scheduler_type: str = _f("cosine", "training", "choice", choices=SCHEDULERS)
    warmup_ratio: float = _f(0.0, "training", "float", minimum=0, maximum=1)
    warmup_steps: int = _f(0, "training", "int", minimum=0)
    weight_decay: float = _f(0.0, "training", "float", minimum=0)
    max_grad_norm: float = _f(1.0, "training", "float", minimum=0)
    optim: str = _f("adamw_torch", "training", "choice", choices=OPTIMIZERS)
    bf16: bool = _f(False, "training", "bool")
    fp16: bool = _f(False, "training", "bool")
    disable_gradient_checkpointing: bool = _f(False, "training", "bool")
    seed: int = _f(42, "training", "int", minimum=0)
    full_determinism: bool = _f(False, "training", "bool")  # deterministic torch algorithms (slower)
    target_effective_batch: int = _f(16, "training", "int", minimum=1)  # ft-tui: planner's target
    memory_margin: float = _f(0.10, "training", "float", minimum=0, maximum=0.9)  # ft-tui: planner's headroom
    use_run_history: bool = _f(True, "training", "bool")  # ft-tui: widen the margin as past runs here measured

    # LoRA
    lora_rank: int = _f(8, "lora", "int", minimum=1, maximum=4096)
    lora_alpha: int | None = _f(None, "lora", "int", minimum=1, nullable=True)
    lora_dropout: float = _f(0.0, "lora", "float", minimum=0, maximum=0.99)
    lora_target: str = _f("all", "lora", "str")

    # Freeze
    freeze_trainable_layers: int = _f(2, "freeze", "int")

    # Output
    output_dir: str | None = _f(None, "output", "str", nullable=True)
    logging_steps: int = _f(10, "output", "int", minimum=1)
    save_steps: int = _f(500, "output", "int", minimum=1)
    eval_steps: int | None = _f(None, "output", "int", minimum=1, nullable=True)
    save_total_limit: int | None = _f(None, "output", "int", minimum=1, nullable=True)
    report_to: str = _f("none", "output", "choice", choices=("none", "tensorboard", "wandb"))

    # Not keys: where the config came from and what the user set explicitly.
    explicit: frozenset = field(default_factory=frozenset, metadata={"internal": True})
    source: str | None = field(default=None, metadata={"internal": True})
    warnings: tuple = field(default=(), metadata={"internal": True})
    #: key -> its file line; key -> the ``--set KEY=VALUE`` argument that set it (:meth:`where`).
    lines: dict = field(default_factory=dict, compare=False, repr=False, metadata={"internal": True})
    origins: dict = field(default_factory=dict, compare=False, repr=False, metadata={"internal": True})

    # -- derived values ----------------------------------------------------------------------------------------
    @property
    def effective_lora_alpha(self) -> int:
        return self.lora_alpha if self.lora_alpha is not None else 2 * self.lora_rank

    @property
    def effective_batch(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps

    @property
    def gradient_checkpointing(self) -> bool:
        return not self.disable_gradient_checkpointing

    @property
    def effective_packing(self) -> bool:
        return self.packing if self.packing is not None else self.stage == "pt"

    @property
    def datasets(self) -> list[str]:
        return [d.strip() for d in (self.dataset or "").split(",") if d.strip()]

    @property
    def lora_targets(self) -> list[str]:
        return [t.strip() for t in self.lora_target.split(",") if t.strip()]

    @property
    def base_dir(self) -> Path:
        """Directory that relative paths in this config are resolved against (the config file's folder)."""
        return Path(self.source).resolve().parent if self.source else Path.cwd()

    def where(self, key: str) -> dict[str, Any]:
        """Where ``key``'s value came from, as an :class:`InputError`'s ``file`` and ``line``: its ``--set``
        argument (no line), else the config file and the key's line in it."""
        if key in self.origins:
            return {"file": self.origins[key], "line": None}
        return {"file": self.source, "line": self.lines.get(key)}

    def resolve_path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    # -- conversion --------------------------------------------------------------------------------------------
    def to_dict(self, *, explicit_only: bool = False) -> dict[str, Any]:
        out = {}
        for name in KEYS:
            if explicit_only and name not in self.explicit:
                continue
            out[name] = getattr(self, name)
        return out

    def replace(self, *, mark_explicit: bool = False, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied and re-validated. ``mark_explicit`` records them as the user's."""
        data = self.to_dict()
        data.update(changes)
        explicit = set(self.explicit) | (set(changes) if mark_explicit else set())
        kept = {k: v for k, v in self.lines.items() if k not in changes}
        origins = {k: v for k, v in self.origins.items() if k not in changes}
        cfg = config_from_dict(data, source=self.source, explicit=explicit, lines=kept, origins=origins)
        return cfg


FIELDS: dict[str, dataclasses.Field] = {
    f.name: f for f in dataclasses.fields(TrainConfig) if not f.metadata.get("internal")
}
KEYS: tuple[str, ...] = tuple(FIELDS)

ALIASES = {"dev_size": "val_size"}

SECRET_PATTERN = re.compile(r"(token|api_key|apikey|password|secret)", re.I)


def is_secret_key(key: str) -> bool:
    return bool(SECRET_PATTERN.search(key))


# ----------------------------------------------------------------------------------------------------------------
# Parsing and coercion
# ----------------------------------------------------------------------------------------------------------------

_NULLS = {"", "null", "none", "~"}


class _Invalid(ValueError):
    """A value that does not fit its key; ``message`` is the :class:`Msg` shown for it."""

    def __init__(self, code: str, **params: Any):
        self.message = Msg(code, **params)
        super().__init__(self.message)


#: Stage and method values LLaMA-Factory has and ft-tui does not run: the error says so instead of only listing
#: the choices.
_LLAMAFACTORY_ONLY_VALUES: dict[str, dict[str, str]] = {
    "stage": {v: "stage_not_supported" for v in ("rm", "ppo", "dpo", "kto")},
    # ``pt`` is a training stage, not a method: continued pre-training is ``stage: pt`` with lora/full/freeze.
    "finetuning_type": {"oft": "method_not_supported", "pt": "method_is_stage"},
}


def _coerce(name: str, value: Any) -> Any:
    """Turn a YAML or command-line value into the field's type; raise :class:`_Invalid` with a readable reason."""
    meta = FIELDS[name].metadata
    kind = meta["kind"]
    if isinstance(value, str) and value.strip().lower() in _NULLS and (meta["nullable"] or
                                                                       None in (meta["choices"] or ())):
        return None
    if value is None:
        if meta["nullable"]:
            return None
        raise _Invalid("empty")
    if kind == "bool":
        return _coerce_bool(value)
    if kind == "int":
        return _coerce_int(value)
    if kind == "float":
        return _coerce_float(value)
    if kind == "choice":
        return _coerce_choice(name, meta["choices"], value)
    # str
    if isinstance(value, (list, tuple)) and name in ("dataset", "lora_target"):
        return ",".join(str(v).strip() for v in value)
    if isinstance(value, (dict, list, tuple)):
        raise _Invalid("not_single", kind=type(value).__name__)
    return str(value)


def _coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _Invalid("not_bool", value=value)


def _coerce_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid("not_int", value=value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                as_float = float(value.strip())
            except ValueError:
                pass
            else:
                if as_float.is_integer():
                    return int(as_float)
    raise _Invalid("not_int", value=value)


def _coerce_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Invalid("not_number", value=value)
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value.strip())  # YAML 1.1 reads "1e-4" as a string
        except ValueError:
            raise _Invalid("not_number", value=value) from None
    else:
        raise _Invalid("not_number", value=value)
    if not math.isfinite(out):
        raise _Invalid("not_finite", value=value)
    return out


def _coerce_choice(name: str, choices: tuple, value: Any) -> Any:
    if isinstance(value, str):
        v = value.strip()
        for c in choices:
            if c is not None and str(c).lower() == v.lower():
                return c
    elif not isinstance(value, bool):
        for c in choices:
            if c is not None and c == value:
                return c
    shown = ", ".join("null" if c is None else str(c) for c in choices)
    code = _LLAMAFACTORY_ONLY_VALUES.get(name, {}).get(value.strip().lower() if isinstance(value, str) else "")
    if code:
        raise _Invalid(code, choices=shown, value=value)
    raise _Invalid("not_choice", choices=shown, value=value)


def _check_range(name: str, value: Any) -> None:
    meta = FIELDS[name].metadata
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    lo, hi = meta["min"], meta["max"]
    if lo is not None and (value < lo or (meta["min_exclusive"] and value == lo)):
        raise _Invalid("not_above" if meta["min_exclusive"] else "too_small", limit=lo, value=value)
    if hi is not None and value > hi:
        raise _Invalid("too_large", limit=hi, value=value)


def _semantic_problems(cfg: TrainConfig) -> list[tuple[str, Msg]]:
    """Cross-key rules. Returns (key, message) pairs."""
    out: list[tuple[str, Msg]] = []
    if cfg.quantization_bit is not None and cfg.finetuning_type != "lora":
        out.append(("quantization_bit", Msg("quant_needs_lora", method=cfg.finetuning_type)))
    if cfg.bf16 and cfg.fp16:
        out.append(("fp16", Msg("bf16_and_fp16")))
    if cfg.max_steps <= 0 and cfg.num_train_epochs <= 0:
        out.append(("num_train_epochs", Msg("nothing_trained")))
    if cfg.max_steps == 0:
        out.append(("max_steps", Msg("max_steps_zero")))
    if cfg.stage == "pt" and cfg.train_on_prompt:
        out.append(("train_on_prompt", Msg("prompt_only_sft")))
    if cfg.freeze_trainable_layers == 0:
        out.append(("freeze_trainable_layers", Msg("freeze_zero")))
    if cfg.val_size >= 1 and not float(cfg.val_size).is_integer():
        out.append(("val_size", Msg("val_size_whole", value=cfg.val_size)))
    for t in cfg.lora_targets:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", t):
            out.append(("lora_target", Msg("lora_target_name", target=t)))
            break
    if not cfg.lora_targets:
        out.append(("lora_target", Msg("lora_target_empty")))
    if cfg.model_name_or_path is not None and not cfg.model_name_or_path.strip():
        out.append(("model_name_or_path", Msg("empty")))
    if cfg.warmup_ratio > 0 and cfg.warmup_steps > 0:
        out.append(("warmup_steps", Msg("warmup_both")))
    return out


def _semantic_warnings(cfg: TrainConfig) -> list[Msg]:
    """Valid but pointless combinations: the run works, the setting does nothing."""
    out: list[Msg] = []
    if cfg.group_by_length and cfg.effective_packing:
        out.append(Msg("group_by_length_packed"))
    return out


def _where(file: str | None, line: int | None) -> str:
    return f"{file}:{line}: " if file and line else (f"{file}: " if file else "")


@dataclass
class Problem:
    """One config problem: the key, what is wrong (a :class:`Msg`: English ``str``) and the file line."""

    key: str
    message: str
    line: int | None = None
    #: The command-line argument the value came from (``--set KEY=VALUE``), named instead of the file line.
    origin: str | None = None

    def render(self, file: str | None = None, lang: str | None = "en") -> str:
        """``file:line: key 'KEY' message`` (``--set KEY=VALUE: ...`` for a ``--set`` value), the message and the
        wording around the key in ``lang``."""
        where = f"{self.origin}: " if self.origin else _where(file, self.line)
        return where + render(Msg("problem", key=self.key, message=self.message), lang)


class ConfigProblems(ConfigError):
    """One or more config problems, all reported together."""

    def __init__(self, problems: list[Problem], file: str | None = None):
        self.problems = problems
        self.source = file
        first = problems[0]
        rest = [Msg("problem", key=p.key, message=p.message) for p in problems[1:]]
        more = Msg("problems_more", n=len(rest), items=Msg.join(rest, "semicolon")) if rest else ""
        # A --set value is blamed on its argument, not on the config file's line.
        super().__init__(Msg("problems_first", key=first.key, message=first.message, more=more),
                         file=first.origin or file, line=None if first.origin else first.line)

    def render(self, lang: str | None = None) -> str:
        """All problems. English (the default): one paragraph, the CLI's layout. Another ``lang``: one line per
        problem, each with its file position (or its ``--set`` argument)."""
        if lang in (None, "en"):
            return f"{_where(self.file, self.line)}{self.message}"
        return "\n".join(p.render(self.source, lang=lang) for p in self.problems)


def config_from_dict(data: Mapping[str, Any], *, source: str | None = None,
                     explicit: Iterable[str] | None = None,
                     lines: Mapping[str, int] | None = None,
                     origins: Mapping[str, str] | None = None) -> TrainConfig:
    """Validate ``data`` and build a :class:`TrainConfig`.

    Unknown keys are errors that name the key (with a close match when there is one); LLaMA-Factory and
    transformers keys that have no effect here become warnings. All problems are collected and raised together as
    :class:`ConfigProblems`. ``explicit`` defaults to the keys present in ``data``. ``cfg.warnings`` holds
    :class:`Msg` items (English ``str``; say them in another language with ``messages.render``). ``lines`` maps a
    key to its file line, ``origins`` a key to the command-line argument that set it (``--set KEY=VALUE``): a
    problem names the one it came from.
    """
    lines = lines or {}
    origins = origins or {}

    def located(key: str, message: str) -> Problem:
        return Problem(key, message, None if key in origins else lines.get(key), origins.get(key))

    problems: list[Problem] = []
    warnings: list[Msg] = []
    values: dict[str, Any] = {}
    present: set[str] = set()
    for raw_key, value in data.items():
        key = str(raw_key)
        name = ALIASES.get(key, key)
        if name in FIELDS:
            try:
                v = _coerce(name, value)
                _check_range(name, v)
            except _Invalid as exc:
                problems.append(located(key, exc.message))
                continue
            values[name] = v
            present.add(name)
            continue
        reason = no_effect_reason(key)
        if reason is not None:
            warnings.append(Msg("no_effect_because", key=key, reason=reason) if reason
                            else Msg("no_effect", key=key))
        else:
            problems.append(located(key, _unknown_key_message(key)))

    cfg = TrainConfig(**values)
    if not problems:
        for key, msg in _semantic_problems(cfg):
            problems.append(located(key, msg))
    if problems:
        raise ConfigProblems(problems, file=source)
    cfg.explicit = frozenset(explicit if explicit is not None else present)
    cfg.source = str(source) if source else None
    cfg.warnings = tuple(warnings + _semantic_warnings(cfg))
    cfg.lines = {ALIASES.get(k, k): v for k, v in lines.items()}
    cfg.origins = {ALIASES.get(k, k): v for k, v in origins.items()}
    return cfg


def is_key_warning(warning: Any) -> bool:
    """True for a warning about a key the file carries (a LLaMA-Factory / transformers key with no effect here),
    False for one about values (such as group_by_length with packing), which every validation recomputes."""
    return isinstance(warning, Msg) and warning.code in ("no_effect", "no_effect_because")


def _unknown_key_message(key: str) -> Msg:
    import difflib

    close = difflib.get_close_matches(key, KEYS, n=1)
    return Msg("unknown_key_match", match=close[0]) if close else Msg("unknown_key")


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``--set key=value`` items. Values are read as YAML scalars (``4``, ``true``, ``null``, ``1e-4``)."""
    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(Msg("set_not_key_value", item=item), hint=Msg("hint_set_example"))
        key, _, raw = item.partition("=")
        key = key.strip()
        if not key:
            raise ConfigError(Msg("set_empty_key", item=item))
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        out[key] = value
    return out


def load_config(path: str | Path | None = None, overrides: Iterable[str] | Mapping[str, Any] = (),
                base: Mapping[str, Any] | None = None) -> TrainConfig:
    """Load a config file (optional), apply ``--set`` overrides and validate.

    Keys present in the file or the overrides count as the user's (``explicit``); the planner keeps them.
    """
    data: dict[str, Any] = dict(base or {})
    lines: dict[str, int] = {}
    source = None
    if path is not None:
        file_data, lines = read_yaml_mapping(path)
        data.update(file_data)
        source = str(path)
    if isinstance(overrides, Mapping):
        over = dict(overrides)
        origins = {str(k): f"--set {k}={v}" for k, v in over.items()}
    else:
        items = list(overrides or ())
        over = parse_overrides(items)
        origins = {item.partition("=")[0].strip(): f"--set {item}" for item in items}
    data.update(over)
    explicit = {ALIASES.get(k, k) for k in list((base or {}).keys()) + list(data.keys())}
    explicit &= set(KEYS)
    return config_from_dict(data, source=source, explicit=explicit, lines=lines, origins=origins)


def redact(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with secret-looking keys (tokens, API keys, passwords) replaced by a marker."""
    return {k: ("<redacted>" if is_secret_key(str(k)) and v not in (None, "") else v) for k, v in data.items()}


def dump_config(cfg: TrainConfig, *, explicit_only: bool = False) -> str:
    """The config as YAML, in schema order, secrets removed."""
    data = redact(cfg.to_dict(explicit_only=explicit_only))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def save_config(cfg: TrainConfig, path: str | Path, *, explicit_only: bool = False) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(dump_config(cfg, explicit_only=explicit_only), encoding="utf-8")
    return p
