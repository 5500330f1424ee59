"""The one set of rules a config meets on a given hardware, beyond its own validation: what ``plan``,
``estimate``, ``train`` (also ``--dry-run`` and ``--print-launch``) and the TUI's setup screen all ask.

:func:`config_findings` returns the errors (an unknown or broken chat template, located at the key's
``--set`` argument or file line) and the warnings (bf16 on a card without bf16:
``planner.recommend.hardware_warnings``) of a config. The config's own validation (unknown keys, ranges, the
LLaMA-Factory keys with no effect here: ``ConfigProblems`` and ``cfg.warnings``) is ``planner.config``'s, which
every caller already goes through when it loads the config; this is the rest, so no command passes a config that
another refuses, and no command is silent about what another warns of.

The planner cannot import templates/, so ``ft-tui plan`` / ``estimate`` (``planner/cli.py``) are handed this
function by ``runner/history.py``, as they are handed ``planning_data``. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ft_tui.planner.errors import ConfigError, InputError


@dataclass
class Findings:
    """What :func:`config_findings` found: ``errors`` (``InputError``s, exit 2 in the CLI, Start blockers in the
    TUI) and ``warnings`` (coded messages)."""

    errors: list[InputError] = field(default_factory=list)
    warnings: list[Any] = field(default_factory=list)

    def raise_first(self) -> None:
        """Raise the first error, if any (the CLI's way: one error, exit 2)."""
        if self.errors:
            raise self.errors[0]


def _template_error(cfg: Any) -> InputError | None:
    """A template named in the config must exist and load (a malformed user file, by its name)."""
    from ft_tui.templates.registry import get_template

    name = cfg.template
    if not name or str(name).lower() == "auto":
        return None
    try:
        get_template(name)
    except ConfigError as exc:
        if exc.file is not None:  # a broken user template file: the error names that file and its line
            return exc
        where = cfg.where("template") if hasattr(cfg, "where") else {"file": getattr(cfg, "source", None)}
        return ConfigError(exc.message, key="template", hint=exc.hint, **where)
    except InputError as exc:
        return exc
    return None


def config_findings(cfg: Any, hw: Any = None) -> Findings:
    """The errors and warnings of ``cfg`` (a ``TrainConfig``) on ``hw`` (a ``planner.hardware.HardwareTarget``;
    None: hardware unknown, no hardware warning)."""
    from ft_tui.planner.recommend import hardware_warnings

    found = Findings()
    error = _template_error(cfg)
    if error is not None:
        found.errors.append(error)
    if hw is not None:
        found.warnings += hardware_warnings(cfg, hw)
    return found
