"""Labels of the screens in English and Chinese (the parameter help texts live in ``help/``).

``label(lang, key, **fields)`` formats one label; an unknown language falls back to English, and so does a key a
translation lacks. Status words come from :func:`status_label`.
"""

from __future__ import annotations

from typing import Any

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "run": "run {id}",
        "attempt": "attempt {n}, resumed from step {step}",
        "attempt_plain": "attempt {n}",
        "stopping": "stop requested: saving a checkpoint",
        "step": "step {step}/{total}",
        "step_nototal": "step {step}",
        "epoch": "epoch {epoch}",
        "eta": "ETA {eta}",
        "elapsed": "took {time}",
        "loss": "loss",
        "eval_loss": "eval",
        "lr": "lr",
        "grad_norm": "grad norm",
        "tokens_s": "tok/s",
        "gpu_mem": "peak mem",
        "mem_vs_plan": "memory planned {planned} GiB, measured {measured} GiB ({over} %)",
        "chart_title": "Loss (train ▇, eval ●)",
        "chart_smoothed": "smoothed",
        "chart_raw": "raw",
        "chart_empty": "no loss logged yet",
        "gpu_title": "GPUs",
        "events_title": "Checkpoints and events",
        "events_empty": "no checkpoint yet",
        "log_title": "train.log",
        "ev_checkpoint": "checkpoint {path}",
        "ev_backoff": "out of memory: back-off {change}, restart from step {restart}",
        "ev_error": "error: {message}",
        "ev_resume": "resumed from step {step}",
        "ev_end": "ended: {status}",
        "no_events": "waiting for the trainer's first event",
        "confirm_stop_title": "Stop this run?",
        "confirm_stop_body": "The trainer saves a checkpoint at the end of the current step and ends as 'stopped'. "
                             "Resume it later from the runs screen or with `ft-tui resume {id}`.",
        "stop_sent": "Sent SIGTERM to {pid}: the run saves a checkpoint, then stops.",
        "stop_gone": "The run's process is gone ({status}); nothing to stop.",
        "detached": "Detached: run {id} keeps going. Watch it again with `ft-tui attach {id}`.",
        "runs_title": "Runs",
        "runs_empty": "No runs yet: start one from the setup screen, `ft-tui train CONFIG` or `ft-tui demo`.",
        "col_id": "Run", "col_status": "Status", "col_model": "Model", "col_method": "Method",
        "col_progress": "Progress", "col_loss": "Loss", "col_started": "Started",
        "resumed": "Resuming run {id}.",
        "exporting": "Exporting run {id}...",
        "exported": "Exported run {id} to {path}",
        "export_failed": "Export of run {id} failed: {error}",
        "resume_failed": "Could not resume run {id}: {error}",
        # setup screen: section titles and the plan panel
        "sec_Model & Method": "Model & Method", "sec_Dataset": "Dataset", "sec_Training": "Training",
        "sec_LoRA": "LoRA",
        "plan_gpu": "GPU",
        "plan_no_gpu": "no GPU found: the estimate has no budget.",
        "plan_no_gpu_hint": "Plan for a card with --gpu (e.g. rtx4090).",
        "plan_gpu_free": "GPU {index}: {free} free of {total}",
        "plan_free_smallest": "free {free} of {total} (smallest over GPUs)",
        "plan_each": "{total} each ({source}: {profile})",
        "plan_given_size": "given size",
        "plan_memory_gpu": "Memory (one GPU)",
        "plan_memory_proc": "Memory (one process)",
        "plan_waiting_model": "waiting for the model's shape…",
        "plan_peak": "peak {value}",
        "plan_budget": "budget {budget} ({margin} margin): ",
        "plan_fits": "fits",
        "plan_not_fit": "DOES NOT FIT",
        "bd_weights": "weights", "bd_optimizer": "optimizer", "bd_gradients": "gradients",
        "bd_activations": "activations", "bd_logits": "logits+loss", "bd_cuda_context": "CUDA context",
        "bd_overhead": "overhead",
        "plan_peak_during": "peak during {phase}",
        "plan_run": "Run",
        "plan_eff_batch": "effective batch {batch} x {accum}{gpus} = {eff}",
        "plan_gpus_suffix": " x {n} GPUs",
        "plan_strategy": "strategy {strategy}",
        "plan_params": "params {total}, trainable {trainable}",
        "plan_time_unknown": "time: unknown (no GPU throughput known)",
        "plan_speed": "~{tps} tokens/s, {step_s} s/step",
        "plan_steps": "{steps} steps",
        "plan_steps_unknown": "steps unknown",
        "plan_eta": "{steps}, ETA {eta}",
        "plan_plan": "Plan",
        "plan_start_disabled": "Start disabled",
        "plan_asks_first": "Start asks first: the plan does not fit",
        "plan_ready": "Ready to start",
        "plan_last_valid": "(estimate shows the last valid values)",
        "summary_estimating": "estimating…",
        "summary_batch": "batch {batch}x{accum}{gpus}",
        "summary_eta": "ETA {eta}",
        "planner_would_pick": "planner would pick {value}",
        # footer key labels (Binding descriptions), by binding id; key_command_palette is Textual's own ctrl+p
        "key_app.quit": "Quit", "key_help.language": "EN/中文", "key_app.runs": "Runs",
        "key_setup.start": "Start", "key_setup.replan": "Re-plan", "key_setup.save": "Save",
        "key_setup.load": "Load", "key_setup.reset_field": "Reset", "key_help.toggle": "Help",
        "key_setup.plan_toggle": "Plan", "key_setup.next_section": "Next section",
        "key_setup.prev_section": "Previous section",
        "key_dialog.cancel": "Cancel", "key_dialog.yes": "Yes", "key_dialog.no": "No",
        "key_run.stop": "Stop", "key_run.resume": "Resume", "key_run.detach": "Detach", "key_run.smooth": "Smooth",
        "key_run.quit": "Quit",
        "key_runs.open": "Open", "key_runs.resume": "Resume", "key_runs.export": "Export",
        "key_runs.refresh": "Refresh", "key_runs.back": "Back",
        "key_command_palette": "palette",
        # app
        "demo_preparing": "Preparing the demo model and tokenizer (cached after the first time)...",
        "worker_failed": "{name} failed: {error}",
        # command palette
        "cmd_runs": "Runs", "cmd_runs_help": "list runs: open, resume, export",
        "cmd_language": "Switch language (English / 中文)",
        "cmd_language_help": "labels, plan panel and help in English or Chinese",
        "cmd_start": "Start training", "cmd_start_help": "validate and start the run",
        "cmd_replan": "Re-plan", "cmd_replan_help": "re-plan the fields you did not set",
        "cmd_save": "Save config", "cmd_save_help": "write the config as YAML",
        "cmd_load": "Load config", "cmd_load_help": "open a config (ours or LLaMA-Factory)",
        "cmd_help": "Toggle help panel", "cmd_help_help": "show or hide the field help",
        "cmd_reset": "Reset focused field", "cmd_reset_help": "give the focused field back to the planner",
        "cmd_section": "Section: {title}", "cmd_section_help": "show this section",
        "cmd_field": "Field: {name}", "cmd_field_help": "jump to this field",
        "cmd_stop": "Stop run", "cmd_resume": "Resume run", "cmd_detach": "Detach",
        "cmd_smooth": "Toggle loss smoothing",
        "cmd_refresh": "Refresh runs", "cmd_open": "Open run", "cmd_export": "Export run",
        # setup screen: notifications and dialogs
        "config_notes": "Config notes",
        "run_active_title": "A run is active",
        "run_active": "The run {id} started from here is still running; watch it with F4 (Runs) or stop it first.",
        "cannot_start": "Cannot start",
        "blocker_no_model": "key 'model_name_or_path' is empty: name a model (a hub id or a local folder)",
        "blocker_no_dataset": "key 'dataset' is empty: name at least one dataset",
        "not_fit_title": "This plan does not fit in GPU memory",
        "not_fit_body": "The estimate is {peak} GiB per GPU but the budget is {budget} GiB. The run will probably "
                        "stop with an out-of-memory error (the runner retries with a smaller batch first). Press F5 "
                        "to re-plan, or start anyway?",
        "start_anyway": "Start anyway", "back": "Back",
        "trainer_failed": "could not start the trainer: {error}",
        "replan_fix_first": "Fix the fields marked ✗ first; the planner needs a valid config.",
        "replan_no_model": "The model is not known yet; name a model first.",
        "nothing_fits": "Nothing fits",
        "replanned_one": "Re-planned around the 1 field you set.",
        "replanned": "Re-planned around the {n} fields you set.",
        "save_fix_first": "Fix the fields marked ✗ before saving.",
        "save_title": "Save config as", "save_ok": "Save",
        "save_failed": "could not save {path}: {error}", "saved": "saved {path}",
        "load_title": "Load config (ours or LLaMA-Factory YAML)", "load_ok": "Load",
        "cannot_load": "Cannot load", "loaded_notes": "Loaded {name} with notes", "loaded": "loaded {path}",
        "not_set": "not set",
        "preview_open": "Preview (", "preview_prompt": "prompt, not trained", "preview_sep": " / ",
        "preview_trained": "trained", "preview_close": "):",
        "help_colon": ": ", "help_planner": "Planner: ", "help_recommended": "Recommended: ",
        "phase_forward/backward": "forward/backward", "phase_optimizer step": "optimizer step",
        "src_profile": "profile", "src_size": "size",
        # dialogs
        "dialog_ok": "OK", "path_empty": "enter a path", "path_missing": "no file at {path}",
        "path_is_dir": "{path} is a folder; name a file such as {example}",
        # the trainer's status messages before its first step (status events, by their ``phase``); the English
        # text is the runner's own (runner.worker.PHASES), which the run screen shows as it came
        "status_start-up": "starting the trainer",
        "status_imports": "importing torch, transformers and peft",
        "status_data": "loading the tokenizer and preparing the data",
        "status_model": "loading the model",
        "status_no_checkpoint": "no complete checkpoint in the run directory: starting from step 0",
        # background tasks (worker names) in the "... failed" notice
        "worker_tail run directory": "tail run directory", "worker_sample GPUs": "sample GPUs",
        "worker_resume run": "resume run", "worker_stop run": "stop run", "worker_read run index": "read run index",
        "worker_export run": "export run",
    },
    "zh": {
        "run": "运行 {id}",
        "attempt": "第 {n} 次尝试，从第 {step} 步恢复",
        "attempt_plain": "第 {n} 次尝试",
        "stopping": "已请求停止：正在保存检查点",
        "step": "步数 {step}/{total}",
        "step_nototal": "步数 {step}",
        "epoch": "轮次 {epoch}",
        "eta": "剩余 {eta}",
        "elapsed": "用时 {time}",
        "loss": "损失",
        "eval_loss": "验证",
        "lr": "学习率",
        "grad_norm": "梯度范数",
        "tokens_s": "词元/秒",
        "gpu_mem": "峰值显存",
        "mem_vs_plan": "显存计划 {planned} GiB，实测 {measured} GiB（{over} %）",
        "chart_title": "损失（训练 ▇，验证 ●）",
        "chart_smoothed": "平滑",
        "chart_raw": "原始",
        "chart_empty": "尚无损失记录",
        "gpu_title": "GPU",
        "events_title": "检查点与事件",
        "events_empty": "尚无检查点",
        "log_title": "train.log",
        "ev_checkpoint": "检查点 {path}",
        "ev_backoff": "显存不足：回退 {change}，从第 {restart} 步重新开始",
        "ev_error": "错误：{message}",
        "ev_resume": "从第 {step} 步恢复",
        "ev_end": "结束：{status}",
        "no_events": "等待训练进程的第一个事件",
        "confirm_stop_title": "停止此次训练？",
        "confirm_stop_body": "训练进程会在当前步结束时保存检查点，并以“已停止”结束。之后可在运行列表中或用 "
                             "`ft-tui resume {id}` 继续。",
        "stop_sent": "已向 {pid} 发送 SIGTERM：保存检查点后停止。",
        "stop_gone": "训练进程已不存在（{status}），无需停止。",
        "detached": "已分离：运行 {id} 继续进行。可用 `ft-tui attach {id}` 重新查看。",
        "runs_title": "运行列表",
        "runs_empty": "还没有运行：在设置界面启动，或使用 `ft-tui train CONFIG`、`ft-tui demo`。",
        "col_id": "运行", "col_status": "状态", "col_model": "模型", "col_method": "方法",
        "col_progress": "进度", "col_loss": "损失", "col_started": "开始时间",
        "resumed": "正在恢复运行 {id}。",
        "exporting": "正在导出运行 {id}……",
        "exported": "已将运行 {id} 导出到 {path}",
        "export_failed": "导出运行 {id} 失败：{error}",
        "resume_failed": "无法恢复运行 {id}：{error}",
        "sec_Model & Method": "模型与方法", "sec_Dataset": "数据集", "sec_Training": "训练", "sec_LoRA": "LoRA",
        "plan_gpu": "GPU",
        "plan_no_gpu": "未发现 GPU：估算没有显存预算。",
        "plan_no_gpu_hint": "可用 --gpu 为某张卡做计划（如 rtx4090）。",
        "plan_gpu_free": "GPU {index}：空闲 {free}，共 {total}",
        "plan_free_smallest": "空闲 {free}，共 {total}（取各卡最小值）",
        "plan_each": "每卡 {total}（{source}：{profile}）",
        "plan_given_size": "指定大小",
        "plan_memory_gpu": "显存（单卡）",
        "plan_memory_proc": "显存（单进程）",
        "plan_waiting_model": "正在读取模型结构…",
        "plan_peak": "峰值 {value}",
        "plan_budget": "预算 {budget}（预留 {margin}）：",
        "plan_fits": "放得下",
        "plan_not_fit": "放不下",
        "bd_weights": "权重", "bd_optimizer": "优化器状态", "bd_gradients": "梯度", "bd_activations": "激活值",
        "bd_logits": "logits+损失", "bd_cuda_context": "CUDA 上下文", "bd_overhead": "额外开销",
        "plan_peak_during": "峰值出现在 {phase}",
        "plan_run": "训练",
        "plan_eff_batch": "有效 batch {batch} x {accum}{gpus} = {eff}",
        "plan_gpus_suffix": " x {n} 卡",
        "plan_strategy": "并行策略 {strategy}",
        "plan_params": "参数 {total}，可训练 {trainable}",
        "plan_time_unknown": "时间：未知（不知道 GPU 的吞吐）",
        "plan_speed": "约 {tps} token/秒，{step_s} 秒/步",
        "plan_steps": "{steps} 步",
        "plan_steps_unknown": "步数未知",
        "plan_eta": "{steps}，预计 {eta}",
        "plan_plan": "计划",
        "plan_start_disabled": "无法开始",
        "plan_asks_first": "开始前会先确认：计划放不下",
        "plan_ready": "可以开始",
        "plan_last_valid": "（估算用的是最后一组有效值）",
        "summary_estimating": "估算中…",
        "summary_batch": "batch {batch}x{accum}{gpus}",
        "summary_eta": "预计 {eta}",
        "planner_would_pick": "计划器会选 {value}",
        "key_app.quit": "退出", "key_help.language": "EN/中文", "key_app.runs": "运行列表",
        "key_setup.start": "开始", "key_setup.replan": "重新规划", "key_setup.save": "保存",
        "key_setup.load": "加载", "key_setup.reset_field": "重置", "key_help.toggle": "帮助",
        "key_setup.plan_toggle": "计划", "key_setup.next_section": "下一分区", "key_setup.prev_section": "上一分区",
        "key_dialog.cancel": "取消", "key_dialog.yes": "是", "key_dialog.no": "否",
        "key_run.stop": "停止", "key_run.resume": "续训", "key_run.detach": "转入后台", "key_run.smooth": "平滑",
        "key_run.quit": "退出",
        "key_runs.open": "打开", "key_runs.resume": "续训", "key_runs.export": "导出", "key_runs.refresh": "刷新",
        "key_runs.back": "返回",
        "key_command_palette": "命令面板",
        "demo_preparing": "正在准备演示模型和分词器（首次之后会缓存）……",
        "worker_failed": "后台任务“{name}”失败：{error}",
        "cmd_runs": "运行列表", "cmd_runs_help": "列出所有运行：打开、续训、导出",
        "cmd_language": "切换语言（English / 中文）",
        "cmd_language_help": "界面文字、计划面板和帮助在中英文之间切换",
        "cmd_start": "开始训练", "cmd_start_help": "校验配置并开始训练",
        "cmd_replan": "重新规划", "cmd_replan_help": "重新规划你没有设定的字段",
        "cmd_save": "保存配置", "cmd_save_help": "把配置写成 YAML",
        "cmd_load": "加载配置", "cmd_load_help": "打开配置（本工具或 LLaMA-Factory 的）",
        "cmd_help": "显示/隐藏帮助面板", "cmd_help_help": "显示或隐藏字段帮助",
        "cmd_reset": "重置当前字段", "cmd_reset_help": "把当前字段交还给计划器",
        "cmd_section": "分区：{title}", "cmd_section_help": "显示这个分区",
        "cmd_field": "字段：{name}", "cmd_field_help": "跳到这个字段",
        "cmd_stop": "停止训练", "cmd_resume": "断点续训", "cmd_detach": "转入后台",
        "cmd_smooth": "切换损失曲线平滑",
        "cmd_refresh": "刷新运行列表", "cmd_open": "打开运行", "cmd_export": "导出运行",
        "config_notes": "配置提示",
        "run_active_title": "已有训练在进行",
        "run_active": "从这里启动的运行 {id} 仍在进行；可按 F4（运行列表）查看，或先停止它。",
        "cannot_start": "无法开始",
        "blocker_no_model": "配置项 'model_name_or_path' 为空：请填写模型（Hub 上的名称或本地文件夹）",
        "blocker_no_dataset": "配置项 'dataset' 为空：请至少填写一个数据集",
        "not_fit_title": "此计划超出显存",
        "not_fit_body": "估算每卡需要 {peak} GiB，但预算只有 {budget} GiB。训练很可能因显存不足（OOM）而中止"
                        "（运行器会先换更小的 batch 重试）。按 F5 重新规划，还是仍然开始？",
        "start_anyway": "仍然开始", "back": "返回",
        "trainer_failed": "无法启动训练进程：{error}",
        "replan_fix_first": "请先修正标 ✗ 的字段；计划器需要有效的配置。",
        "replan_no_model": "还不知道模型结构；请先填写模型。",
        "nothing_fits": "怎样都放不下",
        "replanned_one": "已围绕你设定的 1 个字段重新规划。",
        "replanned": "已围绕你设定的 {n} 个字段重新规划。",
        "save_fix_first": "保存前请先修正标 ✗ 的字段。",
        "save_title": "配置另存为", "save_ok": "保存",
        "save_failed": "无法保存 {path}：{error}", "saved": "已保存 {path}",
        "load_title": "加载配置（本工具或 LLaMA-Factory 的 YAML）", "load_ok": "加载",
        "cannot_load": "无法加载", "loaded_notes": "已加载 {name}（有提示）", "loaded": "已加载 {path}",
        "not_set": "未设置",
        "preview_open": "预览（", "preview_prompt": "提示词，不训练", "preview_sep": " / ",
        "preview_trained": "训练", "preview_close": "）：",
        "help_colon": "：", "help_planner": "计划器：", "help_recommended": "建议值：",
        "phase_forward/backward": "前向/反向传播", "phase_optimizer step": "优化器更新",
        "src_profile": "显卡型号", "src_size": "显存大小",
        "dialog_ok": "确定", "path_empty": "请输入路径", "path_missing": "{path} 不是已有的文件",
        "path_is_dir": "{path} 是文件夹；请写文件名，如 {example}",
        "status_start-up": "正在启动训练进程",
        "status_imports": "正在导入 torch、transformers 和 peft",
        "status_data": "正在加载分词器并准备数据",
        "status_model": "正在加载模型",
        "status_no_checkpoint": "运行目录里没有完整的检查点：从第 0 步开始",
        "worker_tail run directory": "读取运行目录", "worker_sample GPUs": "采集 GPU 状态",
        "worker_resume run": "续训", "worker_stop run": "停止训练", "worker_read run index": "读取运行列表",
        "worker_export run": "导出运行",
    },
}

STATUS: dict[str, dict[str, str]] = {
    "en": {},
    "zh": {"waiting": "等待中", "starting": "启动中", "running": "运行中", "completed": "已完成", "failed": "失败",
           "stopped": "已停止", "interrupted": "已中断", "prepared": "已准备", "unknown": "未知"},
}


#: What each key binding does, in Chinese (the English text is in ``keymap.DEFAULT_KEYS`` and the run / runs
#: screens' ``RUN_KEYS`` / ``RUNS_KEYS``); shown as command palette help. A test checks every binding id has one.
BINDING_HELP_ZH: dict[str, str] = {
    "app.quit": "退出 ft-tui（已启动的训练会继续运行）",
    "setup.start": "校验配置，计划放不下时先确认，然后开始训练",
    "setup.replan": "围绕你设定的字段，重新规划其余所有字段",
    "setup.save": "把配置保存为 YAML",
    "setup.load": "加载配置（本工具或 LLaMA-Factory 的 YAML）",
    "setup.reset_field": "把当前字段交还给计划器",
    "help.language": "切换界面文字、计划面板和帮助的语言（English / 中文）",
    "help.toggle": "显示或隐藏帮助面板",
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
    "run.smooth": "切换损失曲线的平滑",
    "run.quit": "退出 ft-tui；训练继续运行",
    "runs.open": "查看选中的运行（回车也可以）",
    "runs.resume": "从最后一个检查点续训选中的中断、停止或失败的运行",
    "runs.export": "导出选中的已完成运行（适配器或模型），并显示导出位置",
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
    table = LABELS.get(lang or "en", LABELS["en"])
    return table.get(f"key_{binding_id}", LABELS["en"].get(f"key_{binding_id}", default))


def binding_help(lang: str | None, binding_id: str, english: str) -> str:
    """What a key binding does, in ``lang`` (``english`` is the English text from the key tables)."""
    return BINDING_HELP_ZH.get(binding_id, english) if lang == "zh" else english


def label_or(lang: str | None, key: str, default: str, **fields: Any) -> str:
    """:func:`label` for a key the tables may lack (a value-derived key such as ``phase_<phase>``): ``default``
    then."""
    return label(lang, key, **fields) if key in LABELS["en"] else default


def label(lang: str | None, key: str, **fields: Any) -> str:
    """The label ``key`` in ``lang`` (en when unknown), formatted with ``fields``."""
    table = LABELS.get(lang or "en", LABELS["en"])
    text = table.get(key, LABELS["en"][key])
    return text.format(**fields) if fields else text


def status_message(lang: str | None, message: str, phase: str | None = None) -> str:
    """A trainer status message (``status`` event) in ``lang``: by its ``phase`` code when the runner gave one,
    else by its exact English text when it is one the table knows; English as it came otherwise."""
    if (lang or "en") == "en":
        return message
    key = f"status_{phase}" if phase else None
    if key is None or key not in LABELS["en"]:
        key = next((k for k, v in LABELS["en"].items() if k.startswith("status_") and v == message), None)
    return label(lang, key) if key else message


def worker_name(lang: str | None, name: str) -> str:
    """A background task's name (a worker's ``name``) in ``lang``; unknown names stay as they are."""
    return label_or(lang, f"worker_{name}", name)


def status_label(lang: str | None, status: str) -> str:
    """A run status word (``running``, ``interrupted``...) in ``lang``."""
    return STATUS.get(lang or "en", {}).get(status, status)
