"""The runner's messages to the user (``runner/control.py``): what ``ft-tui resume`` and the TUI's resume warn
about.

Part of the one message catalog (see :mod:`ft_tui.planner.messages`): code -> {"en": ..., "zh": ...}.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    "resume_fewer_gpus": {
        "en": "the run was launched on {nproc} processes but only {visible} GPU(s) are visible now; resuming on "
              "{visible} changes the effective batch size",
        "zh": "这个训练启动时用了 {nproc} 个进程，但现在只看得到 {visible} 张 GPU；用 {visible} 个进程续训会改变"
              "有效批大小"},
    "resume_no_checkpoint": {
        "en": "run {id} has no complete checkpoint: it starts over from step 0",
        "zh": "训练 {id} 没有完整的检查点：将从第 0 步重新开始"},
}
