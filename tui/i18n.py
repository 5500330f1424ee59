"""Labels of the run and runs screens in English and Chinese (the setup screen's help texts live in ``help/``).

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
    },
}

STATUS: dict[str, dict[str, str]] = {
    "en": {},
    "zh": {"waiting": "等待中", "starting": "启动中", "running": "运行中", "completed": "已完成", "failed": "失败",
           "stopped": "已停止", "interrupted": "已中断", "prepared": "已准备", "unknown": "未知"},
}


def label(lang: str | None, key: str, **fields: Any) -> str:
    """The label ``key`` in ``lang`` (en when unknown), formatted with ``fields``."""
    table = LABELS.get(lang or "en", LABELS["en"])
    text = table.get(key, LABELS["en"][key])
    return text.format(**fields) if fields else text


def status_label(lang: str | None, status: str) -> str:
    """A run status word (``running``, ``interrupted``...) in ``lang``."""
    return STATUS.get(lang or "en", {}).get(status, status)
