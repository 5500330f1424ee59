"""Labels of the screens in English and Chinese (the parameter help texts live in ``help/``).

The labels are codes of the one message catalog (area ``tui``, ``planner/catalogs/tui.py``); ``label(lang, key,
**fields)`` formats one, an unknown language falls back to English. Run status words are messages
(``runner.status.status_word``). Two tables here translate English text that is not ours to code: what each key
binding does (its English is in the key tables) and Textual's own palette entries.
"""

from __future__ import annotations

from typing import Any

from ft_tui.planner.messages import catalog, template

#: What each key binding does, in Chinese (the English text is in ``keymap.DEFAULT_KEYS`` and the run / runs
#: screens' ``RUN_KEYS`` / ``RUNS_KEYS``); shown as command palette help. A test checks every binding id has one.
BINDING_HELP_ZH: dict[str, str] = {
    "app.quit": "退出 ft-tui（已启动的训练会继续运行）",
    "setup.start": "校验配置，计划放不下时先确认，然后开始训练",
    "setup.replan": "围绕你设定的字段，重新规划其余所有字段",
    "setup.replan_all": "重新规划所有由计划器决定的字段，包括你设定过的（batch、量化、LoRA 秩……）",
    "setup.save": "把配置保存为 YAML",
    "setup.load": "加载配置（本工具或 LLaMA-Factory 的 YAML）",
    "setup.reset_field": "把当前字段交还给计划器",
    "help.language": "切换界面文字、计划面板和帮助的语言（English / 中文）",
    "help.toggle": "显示或隐藏帮助面板",
    "help.scroll_down": "向下滚动帮助面板（焦点仍留在字段上）",
    "help.scroll_up": "向上滚动帮助面板",
    "setup.plan_toggle": "显示计划面板（窄终端）或隐藏它",
    "app.runs": "列出所有运行",
    "setup.next_section": "下一分区（模型与方法、数据集、训练、LoRA）",
    "setup.prev_section": "上一分区",
    "dialog.cancel": "关闭对话框，不做任何操作",
    "dialog.yes": "在确认对话框中回答“是”",
    "dialog.no": "在确认对话框中回答“否”",
    "run.stop": "平稳停止训练（先保存检查点）；会先确认",
    "run.resume": "从最后一个完整的检查点续训中断、停止或失败的运行",
    "run.detach": "让训练在后台继续，返回上一界面（只有这一个界面时退出）",
    "run.back": "返回上一界面（只有这一个界面时退出）；训练不在进行时代替“转入后台”显示",
    "run.smooth": "切换损失曲线的平滑",
    "run.quit": "退出 ft-tui；训练继续运行",
    "runs.open": "查看选中的运行（回车也可以）",
    "runs.resume": "从最后一个检查点续训选中的中断、停止或失败的运行",
    "runs.export": "导出选中的已完成运行（适配器或模型），并显示导出位置",
    "runs.delete": "确认后删除选中的运行（它的目录，包括检查点）；正在进行的运行会被拒绝",
    "runs.refresh": "重新读取运行列表",
    "runs.back": "返回（只有这一个界面时退出）",
}


#: Textual's own command palette entries (``App.get_system_commands``, Textual 8.2), title or help -> Chinese.
SYSTEM_COMMANDS_ZH: dict[str, str] = {
    "Theme": "主题", "Change the current theme": "切换配色主题",
    "Quit": "退出", "Quit the application as soon as possible": "立即退出 ft-tui（已启动的训练会继续运行）",
    "Keys": "按键", "Hide the keys and widget help panel": "隐藏按键与控件帮助面板",
    "Show help for the focused widget and a summary of available keys": "显示当前控件的帮助和可用按键一览",
    "Minimize": "还原", "Minimize the widget and restore to normal size": "把控件还原到正常大小",
    "Maximize": "最大化", "Maximize the focused widget": "最大化当前控件",
    "Screenshot": "截图", "Save an SVG 'screenshot' of the current screen": "把当前界面保存为 SVG 截图",
}


def system_text(lang: str | None, text: str) -> str:
    """A title or help of Textual's own palette entries in ``lang`` (unknown text stays as it is)."""
    return SYSTEM_COMMANDS_ZH.get(text, text) if lang == "zh" else text


def binding_label(lang: str | None, binding_id: str, default: str) -> str:
    """The footer label of a key binding (``key_<id>``; Textual's own bindings by action), else ``default``."""
    return label_or(lang, f"key_{binding_id}", default)


def binding_help(lang: str | None, binding_id: str, english: str) -> str:
    """What a key binding does, in ``lang`` (``english`` is the English text from the key tables)."""
    return BINDING_HELP_ZH.get(binding_id, english) if lang == "zh" else english


def field_label(lang: str | None, key: str) -> str:
    """A config key's human name in ``lang`` (the form's row label); the key itself for one the catalog lacks."""
    return label_or(lang, f"field_{key}", key)


def value_words(lang: str | None, key: str, text: str, *, template_reason: Any = None) -> str:
    """A value of ``key`` as the form spells it (YAML: ``null``, ``true``, ``4``) in words for people: what an
    unset value means ("none (16-bit)", "auto (chatml, from the tokenizer)"). Other values stay as they are.
    ``template_reason`` is the message that says how the template was detected (its code names the source)."""
    if text != "null":
        return text
    if key == "template":
        code = getattr(template_reason, "code", None)
        name = (getattr(template_reason, "values", None) or {}).get("name") or "default"
        if code and f"tplsrc_{code}" in catalog():
            return label(lang, "null_template_found", name=name, source=label(lang, f"tplsrc_{code}"))
    return label_or(lang, f"null_{key}", label(lang, "not_set"))


def label_or(lang: str | None, key: str, default: str, **fields: Any) -> str:
    """:func:`label` for a key the catalog may lack (a value-derived key such as ``phase_<phase>``): ``default``
    then."""
    return label(lang, key, **fields) if key in catalog() else default


def label(lang: str | None, key: str, **fields: Any) -> str:
    """The label ``key`` (a code of the message catalog, area ``tui``) in ``lang`` (en when unknown), formatted
    with ``fields``."""
    text = template(key, lang)
    return text.format(**fields) if fields else text


def worker_name(lang: str | None, name: str) -> str:
    """A background task's name (a worker's ``name``) in ``lang``; unknown names stay as they are."""
    return label_or(lang, f"worker_{name}", name)
