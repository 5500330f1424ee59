"""Runner messages: the errors and warnings of ``train`` / ``resume`` / ``stop`` / ``export`` / ``demo`` and of the
run directory, the trainer's status phases, its end and error messages, the out-of-memory back-off, and the words
for a run's status. The runner writes them into ``events.jsonl`` with their code and values next to the English ``message``,
so the TUI shows them in the user's language.

Part of the one message catalog (see :mod:`ft_tui.planner.messages`): code -> {"en": ..., "zh": ...}.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    # resume warnings (runner/control.py)
    "resume_fewer_gpus": {
        "en": "the run was launched on {nproc} processes but only {visible} GPU(s) are visible now; resuming on "
              "{visible} changes the effective batch size",
        "zh": "这个训练启动时用了 {nproc} 个进程，但现在只看得到 {visible} 张 GPU；用 {visible} 个进程续训会改变"
              "有效批大小"},
    "resume_checkpoint_skipped": {
        "en": "{checkpoint} is damaged ({problem}): it is skipped and set aside, and the run continues from the "
              "newest complete checkpoint before it",
        "zh": "{checkpoint} 已损坏（{problem}）：跳过它并移到一旁，从它之前最新的完整检查点继续"},
    "resume_no_checkpoint": {
        "en": "run {id} has no complete checkpoint: it starts over from step 0",
        "zh": "训练 {id} 没有完整的检查点：将从第 0 步重新开始"},
    # the model and data checks before a run starts (runner/cli.py) and in the trainer (runner/modeling.py)
    "model_not_set": {"en": "no model is set", "zh": "没有设置模型"},
    "hint_model_not_set": {"en": "Set model_name_or_path to a local folder or a hub id such as Qwen/Qwen2.5-0.5B-Instruct.",
                           "zh": "请把 model_name_or_path 设为本地文件夹或 Hub 上的名称，如 Qwen/Qwen2.5-0.5B-Instruct。"},
    "model_folder_missing": {"en": "model folder {path} does not exist", "zh": "模型文件夹 {path} 不存在"},
    "hint_model_folder_missing": {
        "en": "Check the path (relative paths are read from the config file's folder), or give a hub id.",
        "zh": "请检查路径（相对路径是相对配置文件所在的文件夹），或改写 Hub 上的名称。"},
    "model_no_config_json": {"en": "{path} has no config.json, so it is not a transformers model folder",
                             "zh": "{path} 里没有 config.json，所以不是 transformers 模型文件夹"},
    "hint_model_save_pretrained": {"en": "Point model_name_or_path at the folder save_pretrained wrote.",
                                   "zh": "请让 model_name_or_path 指向 save_pretrained 写出的文件夹。"},
    "model_not_cached_offline": {
        "en": "model '{ref}' is not in the local Hugging Face cache and HF_HUB_OFFLINE is set",
        "zh": "模型 '{ref}' 不在本地 Hugging Face 缓存里，而且设置了 HF_HUB_OFFLINE"},
    "hint_model_download": {"en": "Download it first (unset HF_HUB_OFFLINE, or `hf download`), or use a local folder.",
                            "zh": "请先下载（取消 HF_HUB_OFFLINE，或用 `hf download`），或改用本地文件夹。"},
    "hint_dataset_not_set": {
        "en": "Set dataset to a name from dataset_dir/dataset_info.json or a data file, e.g. dataset: demo_alpaca_en.",
        "zh": "请把 dataset 设为 dataset_dir/dataset_info.json 里的名称或数据文件，如 dataset: demo_alpaca_en。"},
    "model_none_given": {"en": "no model given", "zh": "没有指定模型"},
    "hint_model_none_given": {"en": "Set model_name_or_path to a local folder or a Hugging Face model id.",
                              "zh": "请把 model_name_or_path 设为本地文件夹或 Hugging Face 模型名。"},
    "model_path_is_file": {"en": "model path {path} is a file, not a model folder",
                           "zh": "模型路径 {path} 是文件，不是模型文件夹"},
    "hint_model_folder_config": {"en": "Point model_name_or_path at the folder holding config.json.",
                                 "zh": "请让 model_name_or_path 指向含 config.json 的文件夹。"},
    "hint_model_path_or_id": {"en": "Check the path, or give a Hugging Face model id such as Qwen/Qwen2.5-0.5B.",
                              "zh": "请检查路径，或改写 Hugging Face 模型名，如 Qwen/Qwen2.5-0.5B。"},
    "model_load_failed": {"en": "cannot load the {what} from {path}: {error}", "zh": "无法从 {path} 加载{what}：{error}"},
    "what_model": {"en": "model", "zh": "模型"},
    "what_tokenizer": {"en": "tokenizer", "zh": "分词器"},
    "what_model_config": {"en": "model config", "zh": "模型配置"},
    "hint_model_load_failed": {
        "en": "Check that the folder holds config.json and the weights (or, for a hub id, that it is in the local "
              "Hugging Face cache: there is no network here unless HF_HUB_OFFLINE is 0).",
        "zh": "请检查文件夹里有 config.json 和权重（若是 Hub 上的名称，请检查它在本地 Hugging Face 缓存里：除非 "
              "HF_HUB_OFFLINE 为 0，这里不联网）。"},
    "tokenizer_no_pad_eos": {"en": "the tokenizer in {path} has neither a pad nor an eos token",
                             "zh": "{path} 里的分词器既没有 pad token，也没有 eos token"},
    "hint_tokenizer_pad": {"en": "Add a pad_token to its tokenizer_config.json.",
                           "zh": "请在它的 tokenizer_config.json 里加上 pad_token。"},
    "fa2_missing": {"en": "flash_attn: fa2 needs the flash-attn package, which is not installed",
                    "zh": "flash_attn: fa2 需要 flash-attn 包，但它没有安装"},
    "hint_fa2_missing": {"en": "Install it (pip install flash-attn --no-build-isolation) or use flash_attn: sdpa.",
                         "zh": "请安装它（pip install flash-attn --no-build-isolation），或改用 flash_attn: sdpa。"},
    "fsdp_8bit": {"en": "8-bit quantization cannot be sharded with FSDP", "zh": "8 位量化不能配合 FSDP 分片"},
    "hint_fsdp_8bit": {"en": "Use quantization_bit: 4 (FSDP-QLoRA), or fewer GPUs with DDP.",
                       "zh": "请改用 quantization_bit: 4（FSDP-QLoRA），或用更少的卡跑 DDP。"},
    "lora_no_linear": {"en": "the model has no linear layer named {names}", "zh": "模型里没有名为 {names} 的线性层"},
    "hint_lora_linear": {"en": "Its linear layers are: {known}; or use lora_target: all.",
                         "zh": "它的线性层有：{known}；也可以用 lora_target: all。"},
    "freeze_no_layers": {"en": "cannot find the decoder layers of this model for freeze tuning",
                         "zh": "找不到这个模型的解码器层，无法做冻结微调"},
    "hint_freeze_no_layers": {"en": "Use finetuning_type: lora or full.", "zh": "请改用 finetuning_type: lora 或 full。"},
    "freeze_too_many": {"en": "freeze_trainable_layers is {n} but the model has only {layers} layers",
                        "zh": "freeze_trainable_layers 为 {n}，但模型只有 {layers} 层"},
    "hint_freeze_range": {"en": "Use a value between -{layers} and {layers}.", "zh": "请用 -{layers} 到 {layers} 之间的值。"},
    "attn_load_failed": {"en": "cannot load {path} with {attn} attention: {error}",
                         "zh": "无法用 {attn} 注意力加载 {path}：{error}"},
    "hint_attn_load_failed": {"en": "Use flash_attn: auto (sdpa) or install the missing package.",
                              "zh": "请用 flash_attn: auto（sdpa），或安装缺少的包。"},
    "attn_sdpa_unsupported": {"en": "{arch} models cannot use sdpa attention in this transformers version",
                              "zh": "在这个 transformers 版本里，{arch} 模型不能用 sdpa 注意力"},
    "hint_attn_sdpa_unsupported": {"en": "Use flash_attn: auto (the model's default kernel) or disabled (eager).",
                                   "zh": "请用 flash_attn: auto（模型默认的注意力实现）或 disabled（eager）。"},
    "train_no_samples": {"en": "the dataset has no training samples left after encoding",
                         "zh": "编码后数据集里没有剩下任何训练样本"},
    "hint_train_no_samples": {"en": "Check the dataset and cutoff_len (samples with nothing trainable are dropped).",
                              "zh": "请检查数据集和 cutoff_len（没有可训练部分的样本会被丢弃）。"},
    "fp16_needs_cuda": {"en": "fp16 mixed precision needs a CUDA GPU and none is visible",
                        "zh": "fp16 混合精度需要 CUDA GPU，但看不到任何一张"},
    "hint_fp16_needs_cuda": {"en": "On a CPU set fp16: false (and bf16: true or false); check CUDA_VISIBLE_DEVICES.",
                             "zh": "在 CPU 上请设 fp16: false（bf16 设 true 或 false 均可）；并检查 CUDA_VISIBLE_DEVICES。"},
    # --gpus (runner/cli.py)
    "gpus_at_least_one": {"en": "--gpus must be >= 1, got {n}", "zh": "--gpus 必须 >= 1，当前为 {n}"},
    "gpus_too_many": {"en": "--gpus {n} asks for more GPUs than this machine shows ({visible})",
                      "zh": "--gpus {n} 要的显卡比这台机器能看到的（{visible} 张）多"},
    "hint_gpus_print_launch": {"en": "Use --print-launch to get the line for a bigger machine.",
                               "zh": "可用 --print-launch 得到在更大机器上运行的命令行。"},
    # runs: resume, stop, export (runner/cli.py, runner/export.py, runner/rundir.py)
    "run_other_host": {"en": "run {id} runs on host '{host}', not on this one ({here})",
                       "zh": "运行 {id} 在主机 '{host}' 上，不在这台（{here}）上"},
    "hint_run_other_host": {"en": "Run the command on {host}.", "zh": "请在 {host} 上执行这个命令。"},
    "run_already_running": {"en": "run {id} is already running (another worker or launch holds it)",
                            "zh": "运行 {id} 已在运行（另一个训练进程或启动占用着它）"},
    "run_still_live": {"en": "run {id} is still {status}", "zh": "运行 {id} 仍在{status}"},
    "hint_run_attach_or_stop": {"en": "Follow it with `ft-tui attach {id}`, or stop it first with `ft-tui stop`.",
                                "zh": "可用 `ft-tui attach {id}` 查看，或先用 `ft-tui stop` 停止它。"},
    "hint_run_stop_before_rm": {"en": "Stop it first with `ft-tui stop {id}`; nothing was removed.",
                                "zh": "请先用 `ft-tui stop {id}` 停止它；没有删除任何东西。"},
    "run_rm_failed": {"en": "could not remove run {id}: {error}", "zh": "无法删除运行 {id}：{error}"},
    "hint_run_export_later": {"en": "Export it when it has ended, or stop it first (`ft-tui stop`).",
                              "zh": "请等它结束后再导出，或先停止它（`ft-tui stop`）。"},
    "run_complete": {"en": "run {id} is complete", "zh": "运行 {id} 已完成"},
    "hint_run_complete": {
        "en": "To train longer, start a new run with a higher num_train_epochs or max_steps (its config is {config}).",
        "zh": "要训练更久，请用更大的 num_train_epochs 或 max_steps 开始新的运行（它的配置是 {config}）。"},
    "run_not_resumable": {"en": "run {id} cannot be resumed (status: {status}){hint}",
                          "zh": "运行 {id} 无法续训（状态：{status}）{hint}"},
    "run_state_problem": {"en": "; {problem}", "zh": "；{problem}"},
    "state_missing": {"en": "its state file {path} is missing", "zh": "它的状态文件 {path} 不存在"},
    "state_unreadable": {"en": "its state file {path} cannot be read ({error})",
                         "zh": "无法读取它的状态文件 {path}（{error}）"},
    "state_not_json": {"en": "its state file {path} is not valid JSON (damaged or cut short)",
                       "zh": "它的状态文件 {path} 不是有效的 JSON（已损坏或被截断）"},
    "state_not_object": {"en": "its state file {path} holds a JSON {kind}, not an object",
                         "zh": "它的状态文件 {path} 里是 JSON {kind}，不是对象"},
    "state_no_status": {"en": "its state file {path} records no status",
                        "zh": "它的状态文件 {path} 没有记录状态"},
    "run_resume_from": {"en": "; resume from {checkpoint} with: ft-tui resume {id}",
                        "zh": "；可从 {checkpoint} 续训：ft-tui resume {id}"},
    "run_resume_over": {"en": "; resume (no complete checkpoint: starts over) with: ft-tui resume {id}",
                        "zh": "；续训（没有完整的检查点：从头开始）：ft-tui resume {id}"},
    "run_prepared_hint": {"en": "; prepared, never started: run the line in {path}",
                          "zh": "；已准备但从未开始：请运行 {path} 里的命令行"},
    # train --print-launch (runner/cli.py)
    "launch_nothing_written": {
        "en": "# nothing was written: this is the line `{train}` runs on a machine with this hardware, for the run "
              "directory it creates there ({path}; a run started later is named by its own start time). To run "
              "the line yourself (a scheduler, a node without ft-tui in the loop), add --prepare: it writes that "
              "run directory (config.yaml, plan.json) without starting anything",
        "zh": "# 没有写入任何东西：这是在这种硬件的机器上 `{train}` 会运行的命令行，对应它在那里创建的运行目录"
              "（{path}；之后开始的运行按它自己的开始时间命名）。要自己运行这行命令（调度器、不经 ft-tui 的节点），"
              "请加上 --prepare：它会写好那个运行目录（config.yaml、plan.json），但不启动任何东西"},
    "launch_prepared": {"en": "# run directory prepared: {path} (config.yaml, plan.json); run the line above to train",
                        "zh": "# 运行目录已准备好：{path}（config.yaml、plan.json）；运行上面那行命令即开始训练"},
    "launch_cluster": {
        "en": "# on a cluster (SLURM, SkyPilot, Kubernetes) each node runs, with NNODES, NODE_RANK, MASTER_ADDR "
              "and MASTER_PORT set and the run directory on a shared filesystem:",
        "zh": "# 在集群上（SLURM、SkyPilot、Kubernetes），每个节点在设好 NNODES、NODE_RANK、MASTER_ADDR 和 "
              "MASTER_PORT、运行目录位于共享文件系统时运行："},
    "prepare_needs_print_launch": {"en": "--prepare goes with --print-launch",
                                   "zh": "--prepare 只能和 --print-launch 一起用"},
    "hint_prepare_needs_print_launch": {
        "en": "Use `ft-tui train CONFIG --print-launch --prepare` to write a run directory without starting it.",
        "zh": "用 `ft-tui train CONFIG --print-launch --prepare` 写好运行目录而不启动它。"},
    "run_no_config": {"en": "run {id} has no config.yaml", "zh": "运行 {id} 没有 config.yaml"},
    "run_dir_not_empty": {"en": "run directory {path} already exists and is not empty",
                          "zh": "运行目录 {path} 已存在且不为空"},
    "hint_run_dir_not_empty": {"en": "Choose another output_dir, or resume that run with `ft-tui resume`.",
                               "zh": "请换一个 output_dir，或用 `ft-tui resume` 续训那次运行。"},
    "run_ref_ambiguous": {"en": "'{ref}' matches several runs: {ids}", "zh": "'{ref}' 匹配到多个运行：{ids}"},
    "hint_run_ref_ambiguous": {"en": "Give more of the id, or the run directory.", "zh": "请写更长的 id，或写运行目录。"},
    "run_ref_unknown": {"en": "no run '{ref}' found (not a run directory, not an id in the run index)",
                        "zh": "找不到运行 '{ref}'（既不是运行目录，也不是运行列表里的 id）"},
    "hint_runs_list": {"en": "`ft-tui runs` lists the known runs.", "zh": "`ft-tui runs` 会列出已知的运行。"},
    "export_not_final": {"en": "run {id} has no final {final}/ yet: it has not completed",
                         "zh": "运行 {id} 还没有最终的 {final}/：它还没有完成"},
    "hint_export_resume": {"en": "`ft-tui resume {id}` finishes it from its last checkpoint; then export again.",
                           "zh": "`ft-tui resume {id}` 会从最后一个检查点把它训练完；之后再导出。"},
    "export_target_not_empty": {"en": "{target} exists and is not empty (and is not an earlier ft-tui export)",
                                "zh": "{target} 已存在且不为空（也不是之前 ft-tui 导出的结果）"},
    "hint_export_target": {"en": "Choose another folder with -o, or remove it.", "zh": "请用 -o 换一个文件夹，或删掉它。"},
    "export_unknown_dtype": {"en": "unknown dtype {dtype!r}", "zh": "未知的 dtype {dtype!r}"},
    "hint_export_dtypes": {"en": "Use one of {dtypes}.", "zh": "请用 {dtypes} 之一。"},
    "export_not_run_dir": {"en": "{path} is not a run directory (no config.yaml)",
                           "zh": "{path} 不是运行目录（没有 config.yaml）"},
    "hint_export_run_ref": {"en": "Pass a run id or directory; `ft-tui runs` lists them.",
                            "zh": "请写运行 id 或运行目录；`ft-tui runs` 会列出它们。"},
    # the demo model (runner/demo_kit.py)
    "demo_special_token": {"en": "special token {token!r} is not a non-empty string",
                           "zh": "特殊 token {token!r} 不是非空字符串"},
    "hint_demo_special_token": {"en": "Pass strings such as '<|eot_id|>'.", "zh": "请传入字符串，如 '<|eot_id|>'。"},
    "demo_vocab_small": {"en": "vocab_size {size!r} is too small for a byte-level BPE tokenizer",
                         "zh": "vocab_size {size!r} 对字节级 BPE 分词器来说太小"},
    "hint_demo_vocab": {"en": "Use at least {min} (256 bytes + {specials} specials).",
                        "zh": "至少要 {min}（256 个字节 + {specials} 个特殊 token）。"},
    "demo_unknown_size": {"en": "unknown demo model size {size!r}", "zh": "未知的演示模型大小 {size!r}"},
    "hint_demo_sizes": {"en": "Choose one of: {sizes}.", "zh": "请从这些中选：{sizes}。"},
    # the trainer's status phases before its first step (status events, by their phase)
    "status_start-up": {"en": "starting the trainer", "zh": "正在启动训练进程"},
    "status_imports": {"en": "importing torch, transformers and peft", "zh": "正在导入 torch、transformers 和 peft"},
    "status_data": {"en": "loading the tokenizer and preparing the data", "zh": "正在加载分词器并准备数据"},
    "status_model": {"en": "loading the model", "zh": "正在加载模型"},
    "status_no_checkpoint": {"en": "no complete checkpoint in the run directory: starting from step 0",
                             "zh": "运行目录里没有完整的检查点：从第 0 步开始"},
    "status_checkpoint_skipped": {
        "en": "{checkpoint} is damaged ({problem}): skipped; its files are kept as {kept}",
        "zh": "{checkpoint} 已损坏（{problem}）：已跳过；它的文件保留为 {kept}"},
    "failed_during_save": {
        "en": "{error}; this happened while {checkpoint} was being saved: its partial folder was removed and "
              "{kept}{hint}",
        "zh": "{error}；出错时正在保存 {checkpoint}：已删除这个不完整的文件夹，{kept}{hint}"},
    "kept_checkpoint": {"en": "{checkpoint} is kept (ft-tui resume continues from it)",
                        "zh": "保留了 {checkpoint}（ft-tui resume 会从它继续）"},
    "kept_no_checkpoint": {"en": "there is no earlier complete checkpoint (a resume starts over)",
                           "zh": "没有更早的完整检查点（续训会从头开始）"},
    "hint_disk_full": {"en": ". The disk is full: free space on the file system of {path}, then run ft-tui resume",
                       "zh": "。磁盘已满：请在 {path} 所在的文件系统上腾出空间，然后运行 ft-tui resume"},
    # what makes a checkpoint unusable (runner/checkpoints.py)
    "ckpt_not_marked": {"en": "not marked complete", "zh": "没有完成标记"},
    "ckpt_mark_unreadable": {"en": "its completion mark cannot be read", "zh": "完成标记无法读取"},
    "ckpt_file_missing": {"en": "{file} is missing", "zh": "缺少 {file}"},
    "ckpt_file_size": {"en": "{file} has {size} bytes, {expected} when it was saved",
                       "zh": "{file} 现在有 {size} 字节，保存时是 {expected} 字节"},
    "ckpt_file_changed": {"en": "{file} changed after it was saved", "zh": "{file} 在保存后被改动"},
    "ckpt_file_short": {"en": "{file} is too short to be a safetensors file ({size} bytes)",
                        "zh": "{file} 太短，不是 safetensors 文件（{size} 字节）"},
    "ckpt_file_truncated": {"en": "{file} is truncated ({size} of {expected} bytes)",
                            "zh": "{file} 被截断（{size} / {expected} 字节）"},
    "ckpt_file_not_torch": {"en": "{file} is not a complete torch file", "zh": "{file} 不是完整的 torch 文件"},
    "ckpt_file_unreadable": {"en": "{file} cannot be read", "zh": "{file} 无法读取"},
    # how a run ends (end / error events)
    "error_no_message": {"en": "error (no message)", "zh": "出错（没有消息）"},
    "error_unexpected": {"en": "{type}: {text}", "zh": "{type}：{text}"},
    "stopped_early": {"en": "stopped by {signal} {when} (after {phase}); no new checkpoint was saved",
                      "zh": "{when}被 {signal} 停止（{phase}之后）；没有保存新的检查点"},
    "when_before_first_step": {"en": "before the first training step", "zh": "在第一个训练步之前"},
    "when_before_restart": {"en": "before training restarted after the out-of-memory back-off",
                            "zh": "在显存不足回退后重新开始训练之前"},
    "stopped_at_once": {"en": "stopped at once by {signal} (ft-tui stop --now)",
                        "zh": "收到 {signal}（ft-tui stop --now），已立即停止"},
    "stopped_at_once_plain": {"en": "stopped at once (KeyboardInterrupt)", "zh": "已立即停止（KeyboardInterrupt）"},
    "stopped_no_checkpoint": {"en": "{what}; no checkpoint was saved for the current step",
                              "zh": "{what}；当前步没有保存检查点"},
    "sup_stopped_after_backoff": {
        "en": "stopped after the out-of-memory back-off, before the relaunch; `ft-tui resume` continues with the new "
              "settings",
        "zh": "在显存不足回退之后、重新启动之前被停止；`ft-tui resume` 会用新的设置继续"},
    "sup_stopped_before_end": {"en": "stopped before the trainer wrote its end", "zh": "在训练进程写下结束事件之前被停止"},
    "sup_launcher_exited": {"en": "the launcher exited with status {code} without an end event{last}",
                            "zh": "启动器以状态 {code} 退出，没有写结束事件{last}"},
    "sup_last_log_line": {"en": "; last log line: {line}", "zh": "；日志最后一行：{line}"},
    "supervisor_failed": {"en": "the ft-tui supervisor failed: {type}: {text}",
                          "zh": "ft-tui 监管进程出错：{type}：{text}"},
    # the out-of-memory back-off (runner/backoff.py, runner/supervise.py, runner/worker.py)
    "oom_give_up": {
        "en": "out of GPU memory even at per_device_train_batch_size 1 with gradient checkpointing on. Try {options}; "
              "`ft-tui estimate` shows the memory each choice needs.",
        "zh": "即使 per_device_train_batch_size 为 1 且开启梯度检查点，显存仍然不足。请试试 {options}；"
              "`ft-tui estimate` 会显示每种选择需要的显存。"},
    "oom_try_cutoff": {"en": "a shorter cutoff_len (e.g. cutoff_len: {cutoff})", "zh": "更短的 cutoff_len（如 cutoff_len: {cutoff}）"},
    "oom_try_smaller": {"en": "a smaller model or a GPU with more memory", "zh": "更小的模型或显存更大的显卡"},
    "oom_summary_none": {"en": "out of memory", "zh": "显存不足"},
    "oom_summary_rank": {"en": "out of memory on rank {ranks} {when}{detail}", "zh": "第 {ranks} 号进程{when}显存不足{detail}"},
    "oom_summary_ranks": {"en": "out of memory on ranks {ranks} {when}{detail}",
                          "zh": "第 {ranks} 号进程{when}显存不足{detail}"},
    "oom_when_loading": {"en": "while loading the model", "zh": "在加载模型时"},
    "oom_when_step": {"en": "after step {step}", "zh": "在第 {step} 步之后"},
    "oom_detail": {"en": " ({message})", "zh": "（{message}）"},
    "oom_message_advice": {"en": "{message}. {advice}", "zh": "{message}。{advice}"},
    "oom_what_detail": {"en": "{what}: {detail}", "zh": "{what}：{detail}"},
    "oom_multiprocess": {
        "en": "{what}. A multi-process run backs off automatically only when ft-tui started it on one machine "
              "(`ft-tui train` / `ft-tui resume`); this one was launched by hand or by a scheduler. Set {values} in "
              "{config} (the same effective batch), then rerun the launch line with --resume on every node, or "
              "`ft-tui resume {id}` on a single machine.",
        "zh": "{what}。只有 ft-tui 在一台机器上启动的多进程运行（`ft-tui train` / `ft-tui resume`）才会自动回退；"
              "这次是手动或由调度器启动的。请在 {config} 里设置 {values}（有效 batch 不变），然后在每个节点上加 "
              "--resume 重新运行启动命令，或在单台机器上运行 `ft-tui resume {id}`。"},
    "oom_halve_batch": {"en": "{what}; halve per_device_train_batch_size and double gradient_accumulation_steps",
                        "zh": "{what}；请把 per_device_train_batch_size 减半，并把 gradient_accumulation_steps 加倍"},
    "oom_multinode": {
        "en": "{what}. The automatic back-off relaunches only single-node runs (every node would have to back off "
              "together): halve per_device_train_batch_size and double gradient_accumulation_steps in {config}, then "
              "rerun the launch line with --resume on every node.",
        "zh": "{what}。自动回退只会重新启动单节点的运行（多节点需要所有节点一起回退）：请在 {config} 里把 "
              "per_device_train_batch_size 减半、gradient_accumulation_steps 加倍，然后在每个节点上加 --resume "
              "重新运行启动命令。"},
    "oom_cannot_back_off": {"en": "{what}; cannot back off: {error}", "zh": "{what}；无法回退：{error}"},
    "oom_loading_default": {"en": "the model does not fit while loading", "zh": "加载时模型就放不下"},
    "oom_loading": {
        "en": "The GPU ran out of memory while loading the model, before training began, so a smaller batch would not "
              "help. Check that no other process holds GPU memory (`ft-tui gpus`), or try {options}; "
              "`ft-tui estimate CONFIG` shows the memory each choice needs.",
        "zh": "在加载模型时（训练开始之前）显存就不足了，所以换更小的 batch 也没有用。请检查没有别的进程占用显存"
              "（`ft-tui gpus`），或试试 {options}；`ft-tui estimate CONFIG` 会显示每种选择需要的显存。"},
    "oom_load_qlora": {"en": "quantization_bit: 4 (QLoRA: about a quarter of the 16-bit weights)",
                       "zh": "quantization_bit: 4（QLoRA：权重约为 16 位的四分之一）"},
    "oom_load_then_qlora": {"en": "then quantization_bit: 4", "zh": "再加上 quantization_bit: 4"},
    "oom_load_smaller": {"en": "a smaller model", "zh": "更小的模型"},
    "oom_load_more_gpus": {"en": "more GPUs (with several visible, ft-tui train shards a model that does not fit one GPU)",
                           "zh": "更多的显卡（看得到多张卡时，ft-tui train 会把单卡放不下的模型分片）"},
    # the words for a run's status
    "run_status_waiting": {"en": "waiting", "zh": "等待中"},
    "run_status_starting": {"en": "starting", "zh": "启动中"},
    "run_status_running": {"en": "running", "zh": "运行中"},
    "run_status_completed": {"en": "completed", "zh": "已完成"},
    "run_status_failed": {"en": "failed", "zh": "失败"},
    "run_status_stopped": {"en": "stopped", "zh": "已停止"},
    "run_status_interrupted": {"en": "interrupted", "zh": "已中断"},
    "run_status_prepared": {"en": "prepared", "zh": "已准备"},
    "run_status_unknown": {"en": "unknown", "zh": "未知"},
    "report_to_missing": {
        "en": "report_to: {value} needs the {package} package, which this Python does not have",
        "zh": "report_to: {value} 需要 {package} 包，但当前 Python 环境没有安装"},
    "report_to_missing_hint": {
        "en": "Install it (pip install {package}) or set report_to: none.",
        "zh": "请安装它（pip install {package}），或设 report_to: none。"},
    "output_dir_control": {"en": "{value!r} holds a control character (a newline or tab), which would write the "
                                 "run to a path you did not mean",
                           "zh": "{value!r} 含有控制字符（换行或制表符），训练会被写到你并不想要的路径"},
    "output_dir_control_hint": {"en": "Write the path on one line, without tabs.",
                                "zh": "请把路径写在一行里，不要有制表符。"},
    "output_dir_not_folder": {"en": "{path} is a file, so the run cannot be written to {target}",
                              "zh": "{path} 是一个文件，所以训练无法写到 {target}"},
    "output_dir_not_writable": {"en": "cannot write in {path} (read-only or no permission)",
                                "zh": "无法在 {path} 中写入（只读或没有权限）"},
    "output_dir_no_space": {"en": "{path} has {free_gib} GiB free, less than one checkpoint of this run needs "
                                  "({need_gib} GiB)",
                            "zh": "{path} 只剩 {free_gib} GiB 空间，不够保存这个训练的一个检查点（需要 {need_gib} GiB）"},
    "output_dir_write_failed": {"en": "cannot write the run directory ({path}: {error})",
                                "zh": "无法写入训练目录（{path}：{error}）"},
    "output_dir_hint": {"en": "Set output_dir to a writable folder with room for the checkpoints.",
                        "zh": "请把 output_dir 设为一个可写、并有足够空间保存检查点的文件夹。"},
    # --gpu PROFILE on a machine without that card (train runs here; plan/estimate plan for another box)
    "here_cpu": {"en": "no GPU: it would train on the CPU", "zh": "没有 GPU：会在 CPU 上训练"},
    "here_gpus": {"en": "{count} x {name}", "zh": "{count} 张 {name}"},
    "gpu_not_here": {
        "en": "--gpu {gpu}: this machine has no {name} ({found}); train plans for and runs on this machine, not on "
              "{name}. To plan for another machine use `ft-tui plan --gpu {gpu}` or `ft-tui estimate`, or print its "
              "launch line with `ft-tui train --print-launch --gpu {gpu}`",
        "zh": "--gpu {gpu}：这台机器没有 {name}（{found}）；train 按这台机器做计划并在这台机器上运行，而不是在 {name} 上。"
              "要为另一台机器做计划，请用 `ft-tui plan --gpu {gpu}` 或 `ft-tui estimate`，或用 "
              "`ft-tui train --print-launch --gpu {gpu}` 打印它的启动命令"},
    "gpu_not_here_dry": {
        "en": "--gpu {gpu}: this machine has no {name} ({found}): the plan below is for {name}, but `ft-tui train` "
              "here would run on this machine; no time is shown, since {name}'s speed says nothing about this machine",
        "zh": "--gpu {gpu}：这台机器没有 {name}（{found}）：下面的计划是为 {name} 做的，但在这里运行 `ft-tui train` "
              "会用这台机器；不显示时间，因为 {name} 的速度与这台机器无关"},
    "serve_vllm": {"en": "serve it with vLLM: {command}", "zh": "用 vLLM 部署：{command}"},
    "serve_vllm_lora": {
        "en": "serve it with vLLM (the base model with this adapter, asked for as model \"{name}\"): {command}",
        "zh": "用 vLLM 部署（基座模型加这个 adapter，请求时模型名写 \"{name}\"）：{command}"},
    "serve_pipeline": {"en": "or try it with transformers: {command}", "zh": "或用 transformers 试用：{command}"},
    "serve_template_differs": {
        "en": "the run trained with template {template}, but the tokenizer's own chat template is a different one (or "
              "none): an engine's chat endpoint would format prompts unlike training; send prompts rendered with "
              "{template} to its completion endpoint, or give the engine a chat template that renders {template} (vLLM: --chat-template FILE)",
        "zh": "这次训练用的是模板 {template}，但分词器自带的对话模板与之不同（或没有）：推理引擎的 chat 接口会按另一种格式"
              "拼接提示，与训练时不一致；请把按 {template} 渲染好的提示发给 completion 接口，或给引擎一个按 {template} 渲染的对话模板（vLLM：--chat-template FILE）"},
    "export_nothing_to_merge": {
        "en": "finetuning_type {finetuning_type} trains the model's own weights: there is no adapter to merge, exporting "
              "the model as it is",
        "zh": "finetuning_type {finetuning_type} 训练的是模型自身的权重：没有可合并的 adapter，按原样导出模型"},
    "export_copied": {"en": "exported {name}/ to {target}", "zh": "已把 {name}/ 导出到 {target}"},
    "export_merge_quantized": {
        "en": "the adapter was trained on a {bits}-bit base; merging into the {dtype} base model it was quantized from",
        "zh": "这个 adapter 是在 {bits} 位量化的基座上训练的；合并到量化之前的 {dtype} 基座模型"},
    "export_merge_cpu_float32": {
        "en": "no GPU here: merging in float32 (fp16 on a CPU is slow); add --dtype float16 for a 16-bit file",
        "zh": "这里没有 GPU：用 float32 合并（CPU 上 fp16 很慢）；要 16 位文件请加 --dtype float16"},
    "export_merged": {
        "en": "merged the adapter into {model} ({dtype}) and saved it to {target}",
        "zh": "已把 adapter 合并进 {model}（{dtype}）并保存到 {target}"},
    "export_no_checkpoint": {"en": "run {id} has no complete checkpoint at step {step} (complete checkpoints: {steps})",
                             "zh": "运行 {id} 在第 {step} 步没有完整的检查点（完整的检查点：{steps}）"},
    "export_checkpoint_incomplete": {"en": "{path} has no {needed}: it is not a checkpoint that can be exported",
                                     "zh": "{path} 里没有 {needed}：这不是可以导出的检查点"},
    "hint_export_checkpoints": {
        "en": "Give the step of one of the run's checkpoint-N folders, or leave out the checkpoint to export the "
              "final result.",
        "zh": "请给出运行目录里某个 `checkpoint-N` 文件夹的步数，或者不指定检查点，导出最终结果。"},
    "export_loading_base": {"en": "loading the base model {model} in {dtype}", "zh": "正在以 {dtype} 加载基座模型 {model}"},
    "export_merging": {"en": "merging the adapter of {adapter}/ into the weights",
                       "zh": "正在把 {adapter}/ 的 adapter 合并进权重"},
    "export_saving": {"en": "saving the merged model to {target}", "zh": "正在把合并后的模型保存到 {target}"},
}
