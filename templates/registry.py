"""Chat templates as data: loading, validation, lookup and auto-detection.

A template says how a conversation (``[{"role": "system"|"user"|"assistant", "content": str}, ...]``) is written
as text, and which part of that text the model is trained on. Built-in templates live in ``builtin/<name>.yaml``;
the user's own files in ``${XDG_CONFIG_HOME:-~/.config}/ft-tui/templates/*.yaml`` add templates or replace a
built-in one of the same name.

File format (one template per file; every key except ``name``, ``user`` and ``assistant`` is optional)::

    name: mychat                     # how configs refer to it (``template: mychat``)
    description: one line for lists
    prefix: "{bos}"                  # written once, before everything else
    system: "<|system|>\\n{content}\\n"  # how a system prompt is written
    system_in_user: false            # true: the rendered system text is put in front of the first user message
    default_system: ""               # used when a conversation has no system message
    user: "<|user|>\\n{content}\\n"
    assistant_start: "<|assistant|>\\n"  # the generation prompt: written before each reply, not trained
    assistant: "{content}{eos}"      # the reply: trained; must end with the stop token
    stop_token: "{eos}"              # what ends a reply (must be the end of ``assistant``)
    separator: "\\n"                  # written after each reply, not trained
    suffix: ""                       # written after the last reply of a conversation, not trained
    strip: [user, assistant]         # roles whose content is stripped of surrounding whitespace
    stop_words: ["<|end|>"]          # strings that end generation (the stop token is always one)
    special_tokens: ["<|user|>"]     # literal special tokens the strings use (the tokenizer must know them)
    tokens: {bos: "<s>", eos: "</s>"}  # what {bos}/{eos} render as when no tokenizer is given
    chat: true                       # false for plain-text formats (empty, alpaca, default's fallback)
    unsuffixed_names_are_chat: false # true when the family's chat models carry no -Instruct/-Chat suffix
    use_tokenizer_template: false    # true (``default``): use the tokenizer's own Jinja chat template
    thinking:                        # reasoning models (Qwen3): an empty think block on the last reply
      empty: "<think>\\n\\n</think>\\n\\n"
      in_prompt: false               # true: the empty block belongs to the (untrained) prompt
    match:                           # auto-detection
      chat_template: [["<|user|>", "<|assistant|>"]]  # any group whose strings all occur in the Jinja
      model_types: [mymodel]         # config.json model_type values
      names: ['mychat-?\\d']          # regular expressions searched in the model name (case-insensitive)

Placeholders: ``{content}`` (the message text), ``{bos}`` and ``{eos}`` (the tokenizer's bos/eos token, inserted by
id when encoding). Any other brace is literal text, so content with braces is safe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from ft_tui.planner.errors import ConfigError
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import config_dir
from ft_tui.planner.yaml_files import load_yaml_text

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
ROLES = ("system", "user", "assistant")

#: Markers inside a parsed slot; every other part of a slot is a literal ``str``.
CONTENT, BOS, EOS = "\x00content", "\x00bos", "\x00eos"
_PLACEHOLDER = re.compile(r"\{(content|bos|eos)\}")
_MARKERS = {"content": CONTENT, "bos": BOS, "eos": EOS}

_STR_KEYS = ("description", "prefix", "system", "default_system", "user", "assistant_start", "assistant",
             "stop_token", "separator", "suffix")
_BOOL_KEYS = ("system_in_user", "chat", "unsuffixed_names_are_chat", "use_tokenizer_template")
_LIST_KEYS = ("strip", "stop_words", "special_tokens")
_KNOWN_KEYS = {"name", "tokens", "thinking", "match", *_STR_KEYS, *_BOOL_KEYS, *_LIST_KEYS}
_INSTRUCT_MARK = re.compile(r"(instruct|chat|(^|[-_.])it($|[-_.])|sft|dpo|rlhf|orpo)", re.IGNORECASE)
_BASE_MARK = re.compile(r"(^|[-_.])base($|[-_.])", re.IGNORECASE)

Slot = tuple[str, ...]


def parse_slot(text: str) -> Slot:
    """Split a template string into literal parts and the CONTENT/BOS/EOS markers."""
    parts: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        parts.append(_MARKERS[m.group(1)])
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return tuple(parts)


@dataclass(frozen=True)
class Thinking:
    """Reasoning-model handling: ``empty`` is written before the last reply when it carries no think block."""

    empty: str
    in_prompt: bool = False
    open_tag: str = "<think>"
    close_tag: str = "</think>"


@dataclass(frozen=True)
class Template:
    """A chat format. Strings use ``{content}``, ``{bos}``, ``{eos}`` (see the module docstring)."""

    name: str
    user: str
    assistant: str
    description: str = ""
    prefix: str = ""
    system: str = "{content}\n"
    system_in_user: bool = False
    default_system: str = ""
    assistant_start: str = ""
    stop_token: str = "{eos}"
    separator: str = ""
    suffix: str = ""
    strip: frozenset[str] = frozenset()
    stop_words: tuple[str, ...] = ()
    special_tokens: tuple[str, ...] = ()
    tokens: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    chat: bool = True
    unsuffixed_names_are_chat: bool = False
    use_tokenizer_template: bool = False
    thinking: Thinking | None = None
    chat_template_signatures: tuple[tuple[str, ...], ...] = ()
    model_types: tuple[str, ...] = ()
    name_patterns: tuple[str, ...] = ()
    source: str = ""  # the file it was loaded from
    _slots: dict[str, Slot] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def slot(self, key: str) -> Slot:
        """The parsed form of string field ``key`` (cached per template)."""
        parsed = self._slots.get(key)
        if parsed is None:
            parsed = self._slots[key] = parse_slot(getattr(self, key))
        return parsed

    @property
    def all_stop_words(self) -> tuple[str, ...]:
        """Stop words for generation, the stop token first."""
        words = [self.stop_token, *self.stop_words]
        return tuple(dict.fromkeys(w for w in words if w))

    def matches_name(self, model_name: str) -> bool:
        """Whether one of the ``match.names`` patterns occurs in the model name's last path part."""
        short = model_name.rstrip("/").rsplit("/", 1)[-1]
        return any(re.search(p, short, re.IGNORECASE) for p in self.name_patterns)


# ------------------------------------------------------------------------------------------------ loading

def _fail(path: Path | str, problem: Msg, hint: Msg | None = None) -> ConfigError:
    return ConfigError(Msg("tplf_malformed", problem=problem), file=str(path), hint=hint or Msg("hint_tplf_format"))


def _str_list(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, Msg("tplf_str_list", key=key, value=value))
    return tuple(value)


def _match_section(path: Path, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(path, Msg("tplf_match_mapping"))
    unknown = set(raw) - {"chat_template", "model_types", "names"}
    if unknown:
        raise _fail(path, Msg("tplf_unknown_under", section="match", keys=Msg.join(sorted(unknown), "list")))
    groups = []
    for group in raw.get("chat_template") or []:
        groups.append(_str_list(path, "match.chat_template", group if isinstance(group, list) else [group]))
    names = _str_list(path, "match.names", raw.get("names"))
    for pattern in names:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(path, Msg("tplf_bad_regex", pattern=pattern, error=str(exc))) from None
    return {"chat_template_signatures": tuple(groups),
            "model_types": _str_list(path, "match.model_types", raw.get("model_types")),
            "name_patterns": names}


def _thinking(path: Path, raw: Any) -> Thinking | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("empty"), str):
        raise _fail(path, Msg("tplf_thinking"))
    unknown = set(raw) - {"empty", "in_prompt", "open_tag", "close_tag"}
    if unknown:
        raise _fail(path, Msg("tplf_unknown_under", section="thinking", keys=Msg.join(sorted(unknown), "list")))
    return Thinking(empty=raw["empty"], in_prompt=bool(raw.get("in_prompt", False)),
                    open_tag=str(raw.get("open_tag", "<think>")), close_tag=str(raw.get("close_tag", "</think>")))


def template_from_dict(raw: Any, source: Path | str) -> Template:
    """Validate one parsed YAML document and build a :class:`Template`; ConfigError names ``source``."""
    path = Path(source)
    if not isinstance(raw, dict):
        raise _fail(path, Msg("tplf_not_mapping"))
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise _fail(path, Msg("tplf_unknown_keys", keys=Msg.join(sorted(unknown), "list")))
    for key in ("name", "user", "assistant"):
        if not isinstance(raw.get(key), str) or (key == "name" and not raw[key].strip()):
            raise _fail(path, Msg("tplf_required", key=key))
    kwargs: dict[str, Any] = {"name": raw["name"].strip(), "source": str(path)}
    for key in _STR_KEYS:
        if key in raw and raw[key] is not None:
            if not isinstance(raw[key], str):
                raise _fail(path, Msg("tplf_not_string", key=key, value=raw[key]))
            kwargs[key] = raw[key]
    for key in _BOOL_KEYS:
        if key in raw:
            if not isinstance(raw[key], bool):
                raise _fail(path, Msg("tplf_not_bool", key=key, value=raw[key]))
            kwargs[key] = raw[key]
    strip = _str_list(path, "strip", raw.get("strip"))
    bad_roles = set(strip) - set(ROLES)
    if bad_roles:
        raise _fail(path, Msg("tplf_strip_roles", roles=sorted(bad_roles)))
    kwargs["strip"] = frozenset(strip)
    kwargs["stop_words"] = _str_list(path, "stop_words", raw.get("stop_words"))
    kwargs["special_tokens"] = _str_list(path, "special_tokens", raw.get("special_tokens"))
    tokens = raw.get("tokens") or {}
    if not isinstance(tokens, dict) or set(tokens) - {"bos", "eos"} or not all(
            isinstance(v, str) for v in tokens.values()):
        raise _fail(path, Msg("tplf_tokens"))
    kwargs["tokens"] = dict(tokens)
    kwargs["thinking"] = _thinking(path, raw.get("thinking"))
    kwargs.update(_match_section(path, raw.get("match")))
    template = Template(**kwargs)
    _check_slots(template, path)
    return template


def _check_slots(t: Template, path: Path) -> None:
    """The reply slot holds ``{content}`` once and ends with the stop token; other slots use content sensibly."""
    if t.assistant.count("{content}") != 1:
        raise _fail(path, Msg("tplf_content_once", key="assistant"))
    if t.user.count("{content}") != 1:
        raise _fail(path, Msg("tplf_content_once", key="user"))
    if t.system.count("{content}") != 1:
        raise _fail(path, Msg("tplf_content_once", key="system"))
    if not t.stop_token:
        raise _fail(path, Msg("tplf_stop_empty"))
    if not t.assistant.endswith(t.stop_token):
        raise _fail(path, Msg("tplf_stop_end", assistant=t.assistant, stop=t.stop_token), hint=Msg("hint_tplf_stop_end"))
    if t.system_in_user and ("{bos}" in t.system or "{eos}" in t.system):
        raise _fail(path, Msg("tplf_system_bos_eos"))
    for key in ("prefix", "assistant_start", "separator", "suffix"):
        if "{content}" in getattr(t, key):
            raise _fail(path, Msg("tplf_no_content", key=key))


def _load_file(path: Path) -> Template:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(Msg("err_template_unreadable", error=exc.strerror), file=str(path)) from None
    try:
        raw, _ = load_yaml_text(text, str(path))  # the one reader of user YAML: a duplicate key is an error too
    except ConfigError as exc:
        if exc.code != "file_bad_yaml":
            raise
        raise ConfigError(Msg("err_template_yaml", error=exc.params.get("problem", "")), file=str(path),
                          line=exc.line, hint=Msg("hint_template_yaml")) from None
    return template_from_dict(raw, path)


def user_template_dir() -> Path:
    """``${XDG_CONFIG_HOME:-~/.config}/ft-tui/templates``."""
    return config_dir() / "templates"


def _load_dir(folder: Path) -> dict[str, Template]:
    out: dict[str, Template] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.yaml")):
        t = _load_file(path)
        if t.name in out:
            raise ConfigError(Msg("err_template_twice", name=t.name, other=out[t.name].source), file=str(path),
                              hint=Msg("hint_template_twice"))
        out[t.name] = t
    return out


@lru_cache(maxsize=1)
def _builtins() -> dict[str, Template]:
    return _load_dir(BUILTIN_DIR)


def _declared_name(path: Path) -> str:
    """The ``name:`` a template file declares, read leniently (the file stem when it cannot be read)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return path.stem
    name = raw.get("name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) and name else path.stem


def _cached_user(folder: Path) -> tuple[dict[str, Template], dict[str, ConfigError]]:
    key = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.yaml"))) \
        if folder.is_dir() else ()
    return _user_cache(folder, key)


@lru_cache(maxsize=8)
def _user_cache(folder: Path, _key: tuple) -> tuple[dict[str, Template], dict[str, ConfigError]]:
    """The user's templates that load, and the error of each that does not, by the name it declares and by its
    file stem: a malformed file fails only the runs that ask for it by name, and listing the templates."""
    good: dict[str, Template] = {}
    broken: dict[str, ConfigError] = {}
    if not folder.is_dir():
        return good, broken
    for path in sorted(folder.glob("*.yaml")):
        try:
            t = _load_file(path)
        except ConfigError as exc:
            for name in (_declared_name(path), path.stem):
                broken.setdefault(name, exc)
            continue
        if t.name in good:
            broken.setdefault(t.name, ConfigError(Msg("err_template_twice", name=t.name, other=good[t.name].source),
                                                  file=str(path), hint=Msg("hint_template_twice")))
            continue
        good[t.name] = t
    for name in broken:
        good.pop(name, None)
    return good, broken


def all_templates() -> dict[str, Template]:
    """Built-in templates overlaid with the user's that load (a user file with a built-in's name replaces it);
    a malformed user file is left out here (see :func:`get_template`, :func:`template_problems`)."""
    merged = dict(_builtins())
    merged.update(_cached_user(user_template_dir())[0])
    return merged


def list_templates() -> list[str]:
    """Names of every template that loads, sorted (a malformed user file is left out: :func:`template_problems`
    says what is wrong with it, and :func:`get_template` raises it when a run asks for it)."""
    return sorted(all_templates())


def template_problems() -> list[ConfigError]:
    """The error of each malformed user template file (naming the file and, for YAML, the line), once each."""
    broken = _cached_user(user_template_dir())[1]
    unique: dict[int, ConfigError] = {}
    for exc in broken.values():
        unique.setdefault(id(exc), exc)
    return list(unique.values())


def get_template(name: str) -> Template:
    """The template called ``name``; ConfigError (listing the known names) if there is none."""
    broken = _cached_user(user_template_dir())[1]
    if name in broken:
        raise broken[name]
    templates = all_templates()
    if name not in templates:
        raise ConfigError(Msg("err_unknown_template", name=name), key="template",
                          hint=Msg("hint_known_templates", names=", ".join(sorted(templates)),
                                    folder=user_template_dir()))
    return templates[name]


# ------------------------------------------------------------------------------------------------ detection

def tokenizer_chat_template(tokenizer: Any) -> str:
    """The tokenizer's Jinja chat template as one string ("" when it has none)."""
    if tokenizer is None:
        return ""
    tpl = getattr(tokenizer, "chat_template", None)
    if isinstance(tpl, dict):
        tpl = tpl.get("default") or "\n".join(v for v in tpl.values() if isinstance(v, str))
    return tpl if isinstance(tpl, str) else ""


def detect_from_chat_template(jinja: str, templates: Iterable[Template]) -> Template | None:
    """The template whose signature group matches ``jinja`` best (longest total matched text)."""
    best: tuple[int, str] | None = None
    chosen = None
    for t in templates:
        for group in t.chat_template_signatures:
            if group and all(s in jinja for s in group):
                score = (sum(len(s) for s in group), t.name)
                if best is None or score[0] > best[0]:
                    best, chosen = score, t
    return chosen


def resolve_template(name: str | None, tokenizer: Any = None, model_name: str = "",
                     model_type: str = "") -> tuple[Template, str]:
    """Pick the template: an explicit ``name`` wins; else detect it; return it with the reason for the choice.

    Detection order: the tokenizer's own chat template (signature strings such as ``<|im_start|>``); a tokenizer
    chat template that no built-in matches is used as it is (``default``); then ``model_type`` (config.json),
    where the model name breaks ties (``qwen2`` is Qwen2 and Qwen2.5, ``phi3`` is Phi-3 and Phi-4) and a name
    of a fine-tune family wins over the base architecture (zephyr is a ``mistral``); then the name alone; else
    ``default``.
    """
    if name:
        return get_template(name), Msg("tpl_set", name=name)
    templates = all_templates()
    ordered = [templates[n] for n in sorted(templates)]
    jinja = tokenizer_chat_template(tokenizer)
    if jinja:
        found = detect_from_chat_template(jinja, ordered)
        if found is not None:
            return found, Msg("tpl_detected", name=found.name)
        return templates["default"], Msg("tpl_tokenizer_own")
    by_name = _best_name_match(ordered, model_name)
    if model_type:
        candidates = [t for t in ordered if model_type in t.model_types]
        if by_name is not None and by_name in candidates:
            return by_name, Msg("tpl_type_and_name", name=by_name.name, model_type=model_type)
        if by_name is None and len(candidates) == 1:
            return candidates[0], Msg("tpl_type", name=candidates[0].name, model_type=model_type)
    if by_name is not None:
        return by_name, Msg("tpl_name", name=by_name.name, model=model_name)
    return templates["default"], Msg("tpl_default")


def _best_name_match(templates: list[Template], model_name: str) -> Template | None:
    """The template whose name pattern matches ``model_name`` with the longest pattern (most specific)."""
    if not model_name:
        return None
    named = [t for t in templates if t.matches_name(model_name)]
    return max(named, key=lambda t: max(len(p) for p in t.name_patterns)) if named else None


def looks_like_chat_model(template: Template, model_name: str) -> bool:
    """Whether the model name says it is a chat/instruct model (or belongs to a family whose chat models
    carry no suffix, like Qwen3)."""
    short = model_name.rstrip("/").rsplit("/", 1)[-1]
    if _BASE_MARK.search(short):
        return False
    if _INSTRUCT_MARK.search(short):
        return True
    return template.unsuffixed_names_are_chat and template.matches_name(short)


def is_base_model_warning(template: Template, tokenizer: Any = None, model_name: str = "") -> str | None:
    """A warning when a chat template is used on what looks like a base model, else None.

    A base model has never seen the template's turn markers or stop token, so after a short fine-tune it often
    never stops generating. Signs of a base model: the tokenizer carries no chat template and the name has no
    Instruct/Chat/-it marker.
    """
    if not template.chat or template.use_tokenizer_template:
        return None
    if tokenizer_chat_template(tokenizer):
        return None
    if model_name and looks_like_chat_model(template, model_name):
        return None
    if model_name:
        return Msg("warn_base_model", model=model_name, template=template.name, stop=template.stop_token)
    return Msg("warn_base_model_unnamed", template=template.name, stop=template.stop_token)


def template_warnings(template: Template, tokenizer: Any = None, model_name: str = "") -> list[str]:
    """Everything a user should hear about the chosen template before training: a chat template on what looks
    like a base model, and template tokens the tokenizer lacks (they would be split into pieces, so the model
    would never learn a single stop token)."""
    out = []
    base = is_base_model_warning(template, tokenizer, model_name)
    if base:
        out.append(base)
    if tokenizer is not None and hasattr(tokenizer, "get_vocab"):
        missing = missing_special_tokens(template, tokenizer)
        if missing:
            out.append(Msg("warn_missing_tokens", template=template.name, tokens=", ".join(missing)))
    return out


def missing_special_tokens(template: Template, tokenizer: Any) -> list[str]:
    """Literal special tokens of the template that the tokenizer does not map to a single token id."""
    vocab = tokenizer.get_vocab()
    return [tok for tok in template.special_tokens if tok not in vocab]
