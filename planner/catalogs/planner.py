"""Planner errors outside the config schema and the model: the GPU profiles and ``--gpu`` / ``--gpus``, the
calibration data, our own GPU measurements, and the ``plan`` / ``estimate`` commands.

Part of the one message catalog (see :mod:`ft_tui.planner.messages`): code -> {"en": ..., "zh": ...}.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    # planner/hardware.py: the GPU profiles (data/gpus.yaml) and --gpu / --gpus
    "gpu_profile_not_mapping": {"en": "a profile must be a mapping of fields.", "zh": "显卡配置必须是字段的映射。"},
    "gpu_profile_missing": {"en": "missing field(s): {fields}.", "zh": "缺少字段：{fields}。"},
    "gpu_profile_capability": {"en": "compute_capability must be [major, minor].",
                               "zh": "compute_capability 必须写成 [major, minor]。"},
    "gpu_profile_positive": {"en": "{key} must be a positive number, got {value!r}.",
                             "zh": "{key} 必须是正数，当前为 {value!r}。"},
    "gpu_profile_bf16": {"en": "bf16_tflops must be set exactly when bf16 is true.",
                         "zh": "只有 bf16 为 true 时才设置 bf16_tflops，且此时必须设置。"},
    "hint_gpu_profile": {"en": "This file ships with ft-tui; reinstall it or fix the entry.",
                         "zh": "这个文件随 ft-tui 一起安装；请重新安装 ft-tui，或修正这一项。"},
    "gpu_unknown": {"en": "unknown GPU '{gpu}'.{suggestion}", "zh": "未知的显卡 '{gpu}'。{suggestion}"},
    "gpu_did_you_mean": {"en": " Did you mean {close}?", "zh": "你是不是想写 {close}？"},
    "hint_gpu_unknown": {
        "en": "Use 'auto', a profile name (`ft-tui gpus --profiles` lists them) or a memory size such as 24GiB.",
        "zh": "请用 'auto'、显卡型号名（`ft-tui gpus --profiles` 会列出）或显存大小（如 24GiB）。"},
    "gpu_count_whole": {"en": "the GPU count must be a whole number >= 1, got {gpus!r}.",
                        "zh": "显卡数量必须是 >= 1 的整数，当前为 {gpus!r}。"},
    "hint_gpu_count": {"en": "Drop --gpus to use the probed count (or 1 for a named GPU).",
                       "zh": "去掉 --gpus 即使用检测到的数量（指定显卡型号时为 1）。"},
    "gpu_count_too_many": {"en": "--gpus {gpus} asks for more GPUs than this process can see ({found}).",
                           "zh": "--gpus {gpus} 要的显卡比这个进程能看到的（{found} 张）多。"},
    "hint_gpu_count_other_box": {"en": "To plan for another box, name its card too, e.g. --gpu h100-80gb --gpus 8.",
                                 "zh": "要为另一台机器做计划，请同时写明显卡型号，如 --gpu h100-80gb --gpus 8。"},
    "gpu_size_positive": {"en": "GPU memory size '{text}' must be positive.", "zh": "显存大小 '{text}' 必须是正数。"},
    "hint_gpu_size": {"en": "Give a size such as 24GiB.", "zh": "请写一个大小，如 24GiB。"},
    # planner/calibration.py and planner/measured.py
    "calibration_unknown_fields": {"en": "point {point}: unknown field(s) {fields}",
                                   "zh": "数据点 {point}：未知的字段 {fields}"},
    "measured_unreadable": {"en": "cannot read the GPU measurements in {path}: {error}",
                            "zh": "无法读取 {path} 中的 GPU 实测数据：{error}"},
    "measured_not_result": {"en": "{path} is not a bench/gpu_calibrate.py result (no 'points' list)",
                            "zh": "{path} 不是 bench/gpu_calibrate.py 的结果（没有 'points' 列表）"},
    "hint_measured": {"en": "Re-run bench/gpu_calibrate.py on the GPU machine, or delete the file.",
                      "zh": "请在 GPU 机器上重新运行 bench/gpu_calibrate.py，或删除这个文件。"},
    # planner/cli.py: plan / estimate
    "plan_no_model": {"en": "no model given", "zh": "没有指定模型"},
    "hint_plan_no_model": {
        "en": "Pass --model (a local folder or a hub id such as meta-llama/Llama-3.1-8B) or set model_name_or_path "
              "in the config.",
        "zh": "请用 --model 指定（本地文件夹或 Hub 上的名称，如 meta-llama/Llama-3.1-8B），或在配置里设置 "
              "model_name_or_path。"},
    "plan_write_failed": {"en": "cannot write the config ({error})", "zh": "无法写入配置（{error}）"},
}
