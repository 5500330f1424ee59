"""How to serve an exported result elsewhere: the lines ``ft-tui export`` prints after the export.

ft-tui installs no inference engine; it says how the usual ones take what it wrote (torch-free, read from the
export folder alone):

* a merged model or a full / freeze fine-tune is a plain model folder: ``vllm serve DIR``;
* a LoRA adapter is served on its base model with vLLM's LoRA support: ``vllm serve BASE --enable-lora
  --lora-modules NAME=DIR``, plus ``--max-lora-rank R`` when the adapter's rank is above vLLM's default of 16;
* transformers' ``pipeline`` loads either (with peft installed it reads ``adapter_config.json`` and loads the base
  under the adapter) and applies the tokenizer's chat template to a list of messages.

An engine's chat endpoint formats prompts with the tokenizer's own chat template. When the run trained with another
template (ft-tui's ``template`` key, e.g. ``alpaca`` on a base model), the export's tokenizer template does not match
what the model learned, and the lines say so: the model then answers best through a completion endpoint given the
prompt exactly as the template renders it, or with an engine given a chat template that renders the same text.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from ft_tui.planner.config import load_config
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import is_local_model_ref

from .modeling import TEMPLATE_FILE
from .rundir import read_json

VLLM_DEFAULT_MAX_LORA_RANK = 16  # vLLM's --max-lora-rank default; a larger adapter rank must be passed


def _read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or {} when it is missing, unreadable or not an object (rundir's one reader)."""
    data = read_json(path, {})
    return data if isinstance(data, dict) else {}


def _tokenizer_template(folder: Path) -> str:
    """The export's tokenizer chat template ("" when it has none): ``chat_template.jinja`` (transformers 5) or the
    ``chat_template`` of ``tokenizer_config.json`` (earlier releases)."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    value = _read_json(folder / "tokenizer_config.json").get("chat_template")
    if isinstance(value, list):  # several named templates: any of them may be the one an engine picks
        return "\n".join(str(t.get("template", "")) for t in value if isinstance(t, dict))
    return value if isinstance(value, str) else ""


def _base_ref(base: str, run_config: Path | None) -> str:
    """The base model as an engine on this machine takes it: a hub id as it is, a local folder as an absolute path."""
    if run_config is None or not run_config.is_file():
        return base
    cfg = load_config(run_config)
    if is_local_model_ref(base, cfg.base_dir):
        return str(cfg.resolve_path(base).resolve())
    return base


def template_matches(folder: Path, template: str | None) -> bool | None:
    """Whether the export's tokenizer chat template is the run's ``template`` (None when the run names none)."""
    if not template:
        return None
    from ft_tui.planner.errors import ConfigError
    from ft_tui.templates.registry import detect_from_chat_template, get_template

    try:
        known = get_template(template)
    except ConfigError:  # a user template since removed: nothing to compare with
        return None
    jinja = _tokenizer_template(folder)
    if not jinja:
        return False
    if not known.chat_template_signatures:  # no signature to recognise it by: cannot tell
        return None
    return detect_from_chat_template(jinja, [known]) is not None


def serve_lines(folder: str | Path, *, run_config: str | Path | None = None) -> list[Msg]:
    """The lines that serve the export in ``folder`` with vLLM and with transformers, and a note when an engine's chat
    endpoint would not format prompts as the run trained. ``run_config`` (the run's config.yaml) resolves a local
    base model's path."""
    folder = Path(folder).resolve()
    info = _read_json(folder / TEMPLATE_FILE)
    adapter = (folder / "adapter_config.json").is_file() and not info.get("merged")
    where = shlex.quote(str(folder))
    lines: list[Msg] = []
    if adapter:
        adapter_cfg = _read_json(folder / "adapter_config.json")
        base = str(info.get("base_model") or adapter_cfg.get("base_model_name_or_path") or "")
        base = _base_ref(base, Path(run_config) if run_config else None)
        command = f"vllm serve {shlex.quote(base)} --enable-lora --lora-modules {folder.name}={where}"
        rank = adapter_cfg.get("r")
        if isinstance(rank, int) and rank > VLLM_DEFAULT_MAX_LORA_RANK:
            command += f" --max-lora-rank {rank}"
        lines.append(Msg("serve_vllm_lora", command=command, name=folder.name))
    else:
        lines.append(Msg("serve_vllm", command=f"vllm serve {where}"))
    pipeline = ("python -c \"from transformers import pipeline; "
                f"chat = pipeline('text-generation', model={str(folder)!r}); "
                "print(chat([{'role': 'user', 'content': 'Hello'}], max_new_tokens=64)[0]['generated_text'][-1]['content'])\"")
    lines.append(Msg("serve_pipeline", command=pipeline))
    template = info.get("template")
    if template_matches(folder, template) is False:
        lines.append(Msg("serve_template_differs", template=template))
    return lines
