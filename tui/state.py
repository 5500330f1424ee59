"""The setup screen's headless core: what each field holds, what the user set, validation, plan and estimate.

:class:`SetupState` is plain Python (no Textual), so every rule the setup screen applies is tested without a
terminal. The screen is a thin view: it forwards edits to :meth:`SetupState.edit` and redraws from the state.

Validation goes through :func:`ft_tui.planner.config.config_from_dict`, the same rules the CLI applies. Memory and
time are re-estimated synchronously on every edit with :func:`ft_tui.planner.memory.estimate_memory` and
:func:`ft_tui.planner.timing.estimate_time` (pure arithmetic, well under a millisecond for catalog models).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ft_tui.planner.config import (
    FIELDS,
    KEYS,
    PLANNED_KEYS,
    ConfigProblems,
    Problem,
    TrainConfig,
    config_from_dict,
    is_key_warning,
)
from ft_tui.planner.errors import NothingFits
from ft_tui.planner.memory import MemoryEstimate, estimate_memory
from ft_tui.planner.messages import Msg, render
from ft_tui.planner.recommend import SET_BY_YOU
from ft_tui.planner.timing import TimeEstimate, estimate_time
from ft_tui.planner.units import gib_number
from ft_tui.templates.rules import Findings, config_findings
from ft_tui.tui.i18n import label, value_words

#: Screen sections: title -> the schema sections (``FIELDS[key].metadata["section"]``) shown under it.
SECTIONS: dict[str, tuple[str, ...]] = {
    "Model & Method": ("model",),
    "Dataset": ("dataset",),
    "Training": ("training", "output"),
    "LoRA": ("lora", "freeze"),
}


#: Keys whose note carries the planner's word: its planned keys and the template (detected from the data).
NOTED_KEYS = frozenset((*PLANNED_KEYS, "template"))
#: Keys set by the user whose note also says whether the config as it is now fits the GPU budget.
FIT_NOTE_KEYS = ("per_device_train_batch_size", "cutoff_len", "quantization_bit", "disable_gradient_checkpointing")


def section_keys(title: str) -> list[str]:
    """Config keys shown under a section title, in schema order."""
    wanted = SECTIONS[title]
    return [k for k in KEYS if FIELDS[k].metadata["section"] in wanted]


def format_value(value: Any) -> str:
    """How a config value is written in the form: YAML spelling (``null``, ``true``), floats without noise."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass
class SetupState:
    """Everything the setup screen shows, independent of Textual.

    ``values`` holds what each field shows (raw text for an edit that does not validate yet); ``config`` is the
    last valid config, the one the estimate is for. ``user_keys`` are the keys the user set (loaded from a file
    or edited): the planner keeps them. ``typed`` are the keys whose text came from the form's editor
    (:meth:`edit`): that editor owns the text, so a redraw never writes it back (the user may have typed on
    since). ``problems`` maps a key to its validation problem.
    """

    config: TrainConfig
    hardware: Any  # planner.hardware.HardwareTarget
    values: dict[str, Any] = field(default_factory=dict)
    user_keys: set[str] = field(default_factory=set)
    typed: set[str] = field(default_factory=set)
    spec: Any = None  # planner.model_spec.ModelSpec
    counts: Any = None  # planner.params.ParamCounts
    spec_for: str | None = None  # the model_name_or_path that ``spec`` describes
    data: Any = None  # templates.stats.DataStats
    data_note: str | None = None
    preview: list = field(default_factory=list)  # templates.trainset.preview_rows output
    dataset_names: list = field(default_factory=list)  # names the dataset field can suggest
    plan: Any = None  # planner.recommend.Plan
    plan_input: TrainConfig | None = None  # the config the last re-plan planned around (the plan or its error)
    planned_for: tuple | None = None  # :meth:`_plan_inputs` when the plan (or its error) was made
    recommended: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    estimate_result: MemoryEstimate | None = None
    time_result: TimeEstimate | None = None
    strategy: str = "single"
    problems: dict[str, Problem] = field(default_factory=dict)
    model_error: str | None = None
    data_error: str | None = None
    plan_error: str | None = None
    template_reason: str | None = None
    load_warnings: tuple = ()  # LLaMA-Factory keys with no effect here, from the loaded file
    gpus: list = field(default_factory=list)  # planner.gpu_probe.GpuInfo of this machine, when probed
    history: list = field(default_factory=list)  # planner.history.PastRun: this machine's finished runs
    _findings: tuple | None = field(default=None, repr=False, compare=False)  # (config, hardware, Findings)

    # -- construction ------------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: TrainConfig, hardware: Any, gpus: list | None = None,
                    history: list | None = None) -> SetupState:
        """A state showing ``config``; its explicit keys count as set by the user. ``gpus`` lists the probed
        GPUs (with free and total memory) when the target is this machine; ``history`` this machine's finished
        runs (``runner.history.past_runs``), which the plan compares with its own predictions."""
        state = cls(config=config, hardware=hardware, gpus=list(gpus or []), history=list(history or []))
        state._adopt(config)
        return state

    def _adopt(self, config: TrainConfig) -> None:
        self.config = config
        self.load_warnings = tuple(config.warnings)
        self.values = config.to_dict()
        self.user_keys = set(config.explicit)
        self.typed = set()
        self.problems = {}
        self.plan = None
        self.recommended = {}
        self.reasons = {}
        self.plan_error = None
        self.planned_for = None

    def load(self, config: TrainConfig) -> None:
        """Replace everything with a loaded config (a file's keys are the user's). Model facts are dropped when
        the model changed; the caller inspects the new one."""
        model_changed = config.model_name_or_path != self.spec_for
        self._adopt(config)
        if model_changed:
            self.set_spec(None, None)
        self.data, self.data_note, self.preview = None, None, []
        self.data_error = self.template_reason = None

    # -- queries -----------------------------------------------------------------------------------------------
    @property
    def source(self) -> str | None:
        return self.config.source

    def is_user_set(self, key: str) -> bool:
        return key in self.user_keys

    def display(self, key: str) -> str:
        """The text a field shows."""
        value = self.values.get(key)
        return value if isinstance(value, str) else format_value(value)

    def _plan_inputs(self) -> tuple:
        """What a plan depends on: the keys the user set and their values in the config, the model and data facts."""
        user = sorted(self.user_keys & set(KEYS))
        return (tuple(user), tuple(getattr(self.config, k) for k in user), id(self.spec), id(self.data))

    @property
    def plan_current(self) -> bool:
        """True when the last re-plan (its plan or its error) was made for the config as it is now: no edit of a
        key, no new model or data facts since. Until then the planner's reasons and picks are for other inputs."""
        return self.planned_for is not None and self.planned_for == self._plan_inputs()

    def reason(self, key: str) -> str:
        """The planner's one-line reason for a key's current value, or "" when it has none (or it was for other
        inputs): "set by you" for a key the user set (or the planner's word on the user's value)."""
        planned = self.reasons.get(key, "")
        if key in self.user_keys:
            if key not in NOTED_KEYS:
                return ""
            return planned if planned and key in PLANNED_KEYS and self.plan_current else SET_BY_YOU
        if key in PLANNED_KEYS and not self.plan_current:
            return ""
        return planned

    def note(self, key: str, lang: str | None = "en") -> str:
        """The one line shown under a field and atop its help, in ``lang``, computed from the config and the plan
        as they are now (the one place notes are made). A key the user set: "set by you", the planner's pick for
        it when that differs (given the user's other keys, as the plan now stands) and, for the keys that move
        memory, whether the config fits. A key the planner set: its reason, or "re-planning" while the plan is
        for values the user has since changed (alpha's "2 x rank" is not shown for a rank no longer there)."""
        reason = self.reason(key)
        if key not in self.user_keys:
            if not reason and key in PLANNED_KEYS and self.reasons.get(key):  # the plan is for older inputs
                return label(lang, "note_replan_waits" if self.problems else "note_replanning")
            return render(reason, lang)
        if not reason:
            return ""
        parts: list[str] = [render(reason, lang)]
        rec = self.recommendation(key)
        if rec is not None:
            words = value_words(lang, key, rec, template_reason=self.template_reason)
            parts.append(label(lang, "planner_would_pick", value=words))
        est = self.estimate_result
        if key in FIT_NOTE_KEYS and est is not None and est.fits is not None and not self.problems:
            high = est.high_bytes if est.high_bytes is not None else est.peak_bytes
            parts.append(label(lang, "note_fits" if est.fits else "note_does_not_fit",
                               budget=gib_number(est.budget_bytes), peak=f"{est.peak_gib:.1f}",
                               high=gib_number(high)))
        return render(Msg.join(parts, "semicolon"), lang)

    def recommendation(self, key: str) -> str | None:
        """The planner's own value for a key the user set to something else (None when they agree, are unknown,
        or the plan is for inputs the user has since changed)."""
        if key not in self.recommended or key not in self.user_keys or not self.plan_current:
            return None
        rec = format_value(self.recommended[key])
        return None if rec == self.display(key) else rec

    @property
    def estimate(self) -> MemoryEstimate | None:
        return self.estimate_result

    @property
    def time(self) -> TimeEstimate | None:
        return self.time_result

    def start_blockers(self, lang: str | None = "en") -> list[str]:
        """Why Start is not possible now (empty when it is), in ``lang``. Same rules as the CLI, plus a known
        model."""
        out = [p.render(lang=lang) for p in self.problems.values()]
        rule_errors = [] if self.problems else self.findings().errors
        out += [e.render(lang) for e in rule_errors]
        if not self.config.model_name_or_path:
            out.append(label(lang, "blocker_no_model"))
        elif self.model_error:
            out.append(render(self.model_error, lang))
        if not self.config.dataset:
            out.append(label(lang, "blocker_no_dataset"))
        elif self.data_error and not self._said_by(self.data_error, rule_errors):
            out.append(render(self.data_error, lang))
        return out

    @staticmethod
    def _said_by(error: Any, errors: list) -> bool:
        """``error`` (a data worker's ``Msg("error", error=exc)``) is about a key one of ``errors`` already names
        (the template the data could not be templated with)."""
        exc = getattr(error, "values", {}).get("error") if isinstance(getattr(error, "values", None), dict) else None
        key = getattr(exc, "key", None)
        return key is not None and any(e.key == key for e in errors)

    def findings(self) -> Findings:
        """The rules plan, estimate and train apply to the config on this hardware
        (:func:`ft_tui.templates.rules.config_findings`): their errors block Start, their warnings are shown."""
        if self._findings is None or self._findings[0] is not self.config or self._findings[1] is not self.hardware:
            self._findings = (self.config, self.hardware, config_findings(self.config, self.hardware))
        return self._findings[2]

    def rule_problem(self, key: str) -> Any:
        """The rules' error about ``key`` (for its field on the form), or None."""
        return next((e for e in self.findings().errors if e.key == key), None)

    def value_warnings(self) -> list[Any]:
        """Warnings about the current values (e.g. group_by_length with packing, bf16 on a card without bf16):
        recomputed on every edit."""
        return [w for w in self.config.warnings if not is_key_warning(w)] + list(self.findings().warnings)

    @property
    def fits(self) -> bool | None:
        """None when no GPU budget is known (no GPU, no --gpu)."""
        return None if self.estimate_result is None else self.estimate_result.fits

    # -- edits -------------------------------------------------------------------------------------------------
    def edit(self, key: str, raw_value: Any) -> list[Problem]:
        """Set ``key`` to ``raw_value`` (text as typed, or a value), mark it as the user's, re-validate and
        re-estimate. Returns the problems of the whole config (empty when valid)."""
        if key not in FIELDS:
            raise KeyError(f"unknown config key {key!r}")
        self.values[key] = raw_value
        self.user_keys.add(key)
        self.typed.add(key)
        return self.revalidate()  # the notes follow (:meth:`note`): the plan is now for other inputs

    def reset(self, key: str) -> list[Problem]:
        """Give ``key`` back to the planner: its recommended value (or the schema default) and no user mark."""
        if key in self.recommended:
            self.values[key] = self.recommended[key]
        else:
            self.values[key] = FIELDS[key].default
        self.user_keys.discard(key)
        self.typed.discard(key)
        return self.revalidate()

    def revalidate(self) -> list[Problem]:
        """Validate ``values``; on success adopt them as ``config`` and re-estimate."""
        try:
            cfg = config_from_dict(self.values, source=self.source, explicit=self.user_keys & set(KEYS))
            cfg.warnings = self._warnings(cfg)
        except ConfigProblems as exc:
            self.problems = {p.key: p for p in exc.problems}
            return list(exc.problems)
        self.problems = {}
        self.config = cfg
        self.run_estimate()
        return []

    # -- model and data facts ----------------------------------------------------------------------------------
    def set_spec(self, spec: Any, counts: Any, *, name: str | None = None, error: str | None = None) -> None:
        """Record the inspected model (or the error that inspecting it raised)."""
        self.spec, self.counts, self.model_error = spec, counts, error
        self.spec_for = name if spec is not None or error else None
        if spec is None:
            self.estimate_result, self.time_result = None, None

    def set_data(self, stats: Any, preview: list | None = None, note: str | None = None, *,
                 template_reason: str | None = None, error: str | None = None) -> None:
        """Record dataset statistics (None when they cannot be had cheaply; ``note`` says why), or the error
        reading the data raised (bad data blocks Start, as it would fail ``ft-tui train``)."""
        self.data, self.data_note, self.preview = stats, note, list(preview or [])
        self.template_reason, self.data_error = template_reason, error
        self._merge_data_reasons()

    def _merge_data_reasons(self) -> None:
        if self.template_reason and "template" not in self.user_keys:
            self.reasons["template"] = self.template_reason

    # -- plan and estimate -------------------------------------------------------------------------------------
    def replan(self) -> None:
        """Re-plan around the user's keys: every other planned key takes the planner's value and reason."""
        if self.spec is None or self.problems:
            return
        from ft_tui.planner.recommend import make_plan

        cfg = self._with_explicit(self.config, self.user_keys)
        self.plan_input = cfg
        try:
            plan = make_plan(cfg, self.hardware, self.spec, self.data, counts=self.counts, history=self.history)
        except NothingFits as exc:
            self.plan, self.plan_error = None, exc.args[0] if exc.args else str(exc)  # coded: renders in zh
            self.reasons = {k: SET_BY_YOU for k in self.user_keys & set(PLANNED_KEYS)}
            self.recommended = self._recommendations(cfg)
            self.planned_for = self._plan_inputs()
            self.run_estimate()
            return
        self.plan, self.plan_error = plan, None
        self.config = self._with_explicit(plan.config, self.user_keys)
        for key in KEYS:
            if key not in self.user_keys:
                self.values[key] = getattr(plan.config, key)
        self.reasons = dict(plan.reasons)
        self._merge_data_reasons()
        self.recommended = self._recommendations(cfg)
        self.planned_for = self._plan_inputs()
        self.run_estimate()

    def replan_all(self) -> list[str]:
        """Give every planned key back to the planner, the user's values of them too, and re-plan around the keys
        left (model, data, ...). Returns the keys given back."""
        released = [k for k in PLANNED_KEYS if k in self.user_keys]
        self.user_keys -= set(PLANNED_KEYS)
        self.typed -= set(PLANNED_KEYS)
        self.revalidate()
        self.replan()
        return released

    def _recommendations(self, cfg: TrainConfig) -> dict[str, Any]:
        """For each planned key the user set, the planner's value when only that key is given back (what F8
        does), every other key the user set kept: with rank 16 set, lora_alpha's is 32, not the 16 of rank 8."""
        from ft_tui.planner.recommend import make_plan

        out: dict[str, Any] = {}
        for key in PLANNED_KEYS:
            if key not in self.user_keys:
                continue
            released = self._with_explicit(cfg, self.user_keys - {key})
            try:
                plan = make_plan(released, self.hardware, self.spec, self.data, counts=self.counts,
                                 history=self.history)
            except NothingFits:
                continue
            out[key] = getattr(plan.config, key)
        return out

    def _with_explicit(self, cfg: TrainConfig, keys: Iterable[str]) -> TrainConfig:
        out = config_from_dict(cfg.to_dict(), source=cfg.source, explicit=set(keys) & set(KEYS))
        out.warnings = self._warnings(out)
        return out

    def _warnings(self, cfg: TrainConfig) -> tuple:
        """The loaded file's key warnings (keys with no effect here: the form cannot show those keys, so they are
        remembered) followed by ``cfg``'s own warnings about values, which every validation recomputes."""
        keys = [w for w in self.load_warnings if is_key_warning(w)]
        return (*keys, *(w for w in cfg.warnings if not is_key_warning(w)))

    def _strategy(self, cfg: TrainConfig) -> str:
        n = max(1, int(getattr(self.hardware, "count", 1) or 1))
        if n == 1:
            return "single"
        if self.plan is not None and self.plan.strategy != "single":
            return self.plan.strategy
        est = estimate_memory(cfg, self.spec, self.hardware, self.data, counts=self.counts, n_gpus=n,
                              strategy="ddp")
        return "ddp" if est.fits is not False else "fsdp"

    def run_estimate(self) -> MemoryEstimate | None:
        """Memory and time for the current config as it stands (no re-plan)."""
        if self.spec is None:
            self.estimate_result, self.time_result = None, None
            return None
        if self.counts is None:
            from ft_tui.planner.params import count_params

            self.counts = count_params(self.spec)
        cfg = self.config
        n = max(1, int(getattr(self.hardware, "count", 1) or 1))
        self.strategy = self._strategy(cfg)
        est = estimate_memory(cfg, self.spec, self.hardware, self.data, counts=self.counts, n_gpus=n,
                              strategy=self.strategy)
        self.estimate_result = est
        self.time_result = estimate_time(cfg, self.spec, self.counts, est.setup, self.hardware,
                                         est.trainable_params, self.data)
        return est

    def plan_dict(self) -> dict[str, Any]:
        """What goes into the run's plan.json: the estimate of the config being launched, reasons, hardware."""
        est, t = self.estimate_result, self.time_result
        hw = self.hardware.to_dict() if hasattr(self.hardware, "to_dict") else None
        return {
            "config": self.config.to_dict(),
            "estimate": est.to_dict() if est is not None else None,
            "reasons": dict(self.reasons),
            "hardware": hw,
            "time": t.to_dict() if t is not None else None,
            "strategy": self.strategy,
            "user_keys": sorted(self.user_keys),
            "warnings": list(self.config.warnings),
        }


# ----------------------------------------------------------------------------------------------------------------
# Pure functions the screen runs in worker threads
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class ModelFacts:
    """An inspected model: its spec and parameter counts."""

    name: str
    spec: Any
    counts: Any


@dataclass
class DataFacts:
    """Dataset statistics and a preview of formatted rows, or a note saying why there are none."""

    stats: Any = None
    preview: list = field(default_factory=list)
    note: str | None = None
    template_reason: str | None = None
    dataset_names: list = field(default_factory=list)


def inspect_model_facts(cfg: TrainConfig) -> ModelFacts:
    """Read the model's config.json (or the catalog) and count its parameters. Raises ModelError."""
    from ft_tui.planner.models import inspect_model
    from ft_tui.planner.params import count_params

    spec = inspect_model(cfg.model_name_or_path or "", trust_remote_code=cfg.trust_remote_code,
                         base_dir=cfg.base_dir)
    return ModelFacts(name=cfg.model_name_or_path or "", spec=spec, counts=count_params(spec))


def load_data_facts(cfg: TrainConfig, spec: Any, preview_n: int = 3) -> DataFacts:
    """Check that every dataset name resolves (as the trainer will), then the statistics every command plans with
    (:func:`ft_tui.templates.planning.planning_data`) and formatted preview rows through the model's tokenizer.

    Raises DataError for a dataset that does not resolve or cannot be read, and the tokenizer's error for one that
    cannot be read (shown inline, blocks Start). Without a tokenizer on disk (``spec.local_path``) the facts carry
    the sample count and a note instead. Imports transformers for the tokenizer, so it only ever runs in a worker
    thread.
    """
    from ft_tui.templates.datasets import list_datasets
    from ft_tui.templates.planning import planning_data
    from ft_tui.templates.trainset import check_dataset, preview_rows

    names = list_datasets(cfg)
    if not cfg.dataset:
        return DataFacts(note=Msg("no_dataset"), dataset_names=names)
    warnings: list[Any] = []
    for name in cfg.datasets:
        check_dataset(name, cfg, warnings)
    found = planning_data(cfg, spec)
    if found.error is not None:
        raise found.error
    if found.tokenizer is None:
        # No tokenizer: every row was still read (a broken line shows inline now, not as a failed run) and the
        # samples counted, so the time estimate knows its steps.
        return DataFacts(stats=found.stats, note=Msg.join([*warnings, found.note], "line"), dataset_names=names)
    warnings += [Msg("warning", text=w) for w in found.template_warnings]
    rows = preview_rows(cfg, found.tokenizer, found.template, n=preview_n)
    return DataFacts(stats=found.stats, preview=rows, template_reason=found.template_reason,
                     note=Msg.join(warnings, "line") if warnings else None, dataset_names=names)
