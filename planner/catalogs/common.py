"""Messages every layer shares: the separators of ``Msg.join`` and the layout of an error (where it is, what is
wrong, how to fix it: :meth:`ft_tui.planner.errors.InputError.render`).

Part of the one message catalog (see :mod:`ft_tui.planner.messages`): code -> {"en": ..., "zh": ...}.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    # Msg.join(items, sep): the template is the separator
    "join_list": {"en": ", ", "zh": "、"},
    "join_semicolon": {"en": "; ", "zh": "；"},
    "join_line": {"en": "\n", "zh": "\n"},
    "join_space": {"en": " ", "zh": ""},
    "join_or": {"en": ", or ", "zh": "，或"},
    # an exception shown as a message (an InputError renders itself in the language, others show their type)
    "error": {"en": "{error}", "zh": "{error}"},
    # InputError.render: "file:line, key 'k': message. Hint" (messages.ERROR_LAYOUT joins these parts)
    "error_layout": {"en": "{text}{hint}", "zh": "{text}{hint}"},
    "where_key": {"en": "key '{key}'", "zh": "配置项 '{key}'"},
    "where_sep": {"en": ", ", "zh": "，"},
    "where_colon": {"en": ": ", "zh": "："},
    "hint_stop": {"en": ". ", "zh": "。"},
    "hint_space": {"en": " ", "zh": ""},
}
