"""Messages of the terminal UI's own files: the user's keymap (``~/.config/ft-tui/keymap.yaml``).

Part of the one message catalog (see :mod:`ft_tui.planner.messages`): code -> {"en": ..., "zh": ...}.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    "keymap_unreadable": {"en": "cannot read the keymap ({error})", "zh": "无法读取按键配置（{error}）"},
    "hint_keymap_lines": {"en": "Write lines like `setup.start: f9`.", "zh": "请写成 `setup.start: f9` 这样的行。"},
    "keymap_not_mapping": {"en": "must be a mapping of binding id to keys, like `setup.start: f9`",
                           "zh": "必须是从按键绑定 id 到按键的映射，如 `setup.start: f9`"},
    "keymap_unknown_id": {"en": "unknown binding id '{key}'", "zh": "未知的按键绑定 id '{key}'"},
    "hint_keymap_known": {"en": "Known ids: {ids}.", "zh": "已有的 id：{ids}。"},
    "keymap_no_keys": {"en": "binding '{key}' needs a key string such as 'f9' or 'ctrl+g,f9'",
                       "zh": "按键绑定 '{key}' 需要一个按键字符串，如 'f9' 或 'ctrl+g,f9'"},
}
