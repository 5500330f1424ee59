"""The one YAML reader for files the user writes (run configs, chat templates, key maps): what ``yaml.safe_load``
lets through, refused with the file and line as :class:`~ft_tui.planner.errors.ConfigError`: a duplicate key
(PyYAML keeps the last value silently) and aliases that expand beyond :data:`MAX_YAML_NODES` nodes (a "billion
laughs" file would hang and fill memory); a syntax error is ``file_bad_yaml`` with its line.

No torch, no textual.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .messages import Msg

#: The most nodes a YAML file may expand to once its aliases are followed: a config is a few hundred; a
#: "billion laughs" file (aliases of aliases) expands to billions and would hang and fill memory.
MAX_YAML_NODES = 100_000


def _check_yaml_node(root: yaml.Node, file: str) -> None:
    """Refuse duplicate keys (PyYAML keeps the last value silently) and alias bombs, naming the line."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_ids:  # an anchor used inside itself
            raise ConfigError(Msg("yaml_alias_loop"), file=file, line=node.start_mark.line + 1)
        open_ids.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    line = k.start_mark.line + 1
                    if k.value in seen:
                        raise ConfigError(Msg("yaml_duplicate_key", key=k.value, first=seen[k.value]), file=file,
                                          line=line, hint=Msg("yaml_duplicate_key_hint"))
                    seen[k.value] = line
                total += size(k) + size(v)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(v) for v in node.value)
        open_ids.discard(key)
        if total > MAX_YAML_NODES:
            raise ConfigError(Msg("yaml_alias_bomb", limit=MAX_YAML_NODES), file=file,
                              line=node.start_mark.line + 1, hint=Msg("yaml_alias_bomb_hint"))
        sizes[key] = total
        return total

    size(root)


def load_yaml_text(text: str, file: str) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document safely: its value and its node tree (for line numbers).

    The one YAML reader for files the user writes: it refuses what ``yaml.safe_load`` lets through (a duplicate
    key, where the last value would silently win; aliases that expand beyond :data:`MAX_YAML_NODES` nodes) with
    the file and line, as :class:`ConfigError` (``file_bad_yaml`` for a syntax error)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_yaml_node(node, file)
        return loader.construct_document(node), node
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(Msg("file_bad_yaml", problem=problem), file=file, line=line) from None
    finally:
        loader.dispose()


def _yaml_key_lines(node: yaml.Node | None) -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode):
                out[str(k.value)] = k.start_mark.line + 1
    return out


def read_yaml_mapping(path: str | Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Read a YAML (or JSON) config file into a dict plus the line number of each top-level key."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(Msg("file_not_found"), file=str(path), hint=Msg("file_not_found_hint")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(Msg("file_unreadable", error=str(exc)), file=str(path)) from None
    data, node = load_yaml_text(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(Msg("file_not_mapping"), file=str(path))
    return data, _yaml_key_lines(node)
