"""The config validation messages, in English and Chinese.

Same pattern as :mod:`.reasons`: a :class:`Message` is a ``str`` (its English text), so the CLI, JSON output and
tests use it as plain text, and it also keeps its message code and values, so the TUI can show it in the user's
language (``Message.render(lang)``, :func:`text`). Every message the config schema gives (coercion, range,
unknown key, cross-key rule, warning) has an entry in :data:`CATALOG`; a test checks both languages and their
placeholders. Key names, values and file names stay as they are inside the Chinese text.

No torch, no textual: imported on every start-up path.
"""

from __future__ import annotations

from typing import Any

from .errors import Coded

CATALOG: dict[str, dict[str, str]] = {
    # -- layout: how a problem names its key (Problem.render) ---------------------------------------------------
    "problem": {"en": "key '{key}' {message}", "zh": "配置项 '{key}'：{message}"},
    # -- values that do not fit the key's type ------------------------------------------------------------------
    "empty": {"en": "must not be empty", "zh": "不能为空"},
    "not_bool": {"en": "must be true or false, got {value!r}",
                 "zh": "必须是 true 或 false，当前为 {value!r}"},
    "not_int": {"en": "must be a whole number, got {value!r}", "zh": "必须是整数，当前为 {value!r}"},
    "not_number": {"en": "must be a number, got {value!r}", "zh": "必须是数字，当前为 {value!r}"},
    "not_finite": {"en": "must be a finite number, got {value!r}", "zh": "必须是有限的数，当前为 {value!r}"},
    "not_choice": {"en": "must be one of {choices}; got {value!r}", "zh": "必须是 {choices} 之一，当前为 {value!r}"},
    "stage_not_supported": {
        "en": "must be one of {choices}; got {value!r} (ft-tui does not run LLaMA-Factory's reward-model, PPO, DPO "
              "and KTO stages)",
        "zh": "必须是 {choices} 之一，当前为 {value!r}（ft-tui 不支持 LLaMA-Factory 的奖励模型、PPO、DPO 和 KTO "
              "训练阶段）"},
    "method_not_supported": {
        "en": "must be one of {choices}; got {value!r} (ft-tui does not support LLaMA-Factory's OFT)",
        "zh": "必须是 {choices} 之一，当前为 {value!r}（ft-tui 不支持 LLaMA-Factory 的 OFT）"},
    "not_single": {"en": "must be a single value, got {kind}", "zh": "必须是单个值，当前是 {kind}"},
    # -- ranges ------------------------------------------------------------------------------------------------
    "too_small": {"en": "must be >= {limit}, got {value}", "zh": "必须 >= {limit}，当前为 {value}"},
    "not_above": {"en": "must be > {limit}, got {value}", "zh": "必须 > {limit}，当前为 {value}"},
    "too_large": {"en": "must be <= {limit}, got {value}", "zh": "必须 <= {limit}，当前为 {value}"},
    # -- unknown keys ------------------------------------------------------------------------------------------
    "unknown_key_match": {"en": "is not a known config key; did you mean '{match}'?",
                          "zh": "不是已知的配置项；你是不是想写 '{match}'？"},
    "unknown_key": {
        "en": "is not a known config key; `ft-tui plan --model MODEL -o FILE.yaml` writes a config that lists every "
              "key",
        "zh": "不是已知的配置项；`ft-tui plan --model MODEL -o FILE.yaml` 会写出一份列出所有配置项的配置"},
    # -- cross-key rules ---------------------------------------------------------------------------------------
    "quant_needs_lora": {
        "en": "quantization works only with finetuning_type: lora (got {method}); remove quantization_bit or use lora",
        "zh": "量化只能配合 finetuning_type: lora 使用（当前为 {method}）；请去掉 quantization_bit 或改用 lora"},
    "bf16_and_fp16": {"en": "bf16 and fp16 cannot both be true; pick one",
                      "zh": "bf16 和 fp16 不能同时为 true，请只选一个"},
    "nothing_trained": {"en": "set num_train_epochs > 0 or max_steps > 0, or nothing is trained",
                        "zh": "请设 num_train_epochs > 0 或 max_steps > 0，否则什么都不会训练"},
    "max_steps_zero": {"en": "must be a positive number of steps, or -1 to use num_train_epochs",
                       "zh": "必须是正的步数，或设为 -1 以按 num_train_epochs 训练"},
    "prompt_only_sft": {"en": "applies to stage sft only; pre-training trains on every token",
                        "zh": "只适用于 sft 阶段；预训练会在每个 token 上计算 loss"},
    "freeze_zero": {"en": "must not be 0: a positive n trains the last n layers, a negative n the first n",
                    "zh": "不能为 0：正数 n 训练最后 n 层，负数 n 训练最前面 n 层"},
    "val_size_whole": {"en": "a value >= 1 is a row count and must be whole, got {value}",
                       "zh": "大于等于 1 的值表示行数，必须是整数，当前为 {value}"},
    "lora_target_name": {"en": "'{target}' is not a module name; use 'all' or names like q_proj,v_proj",
                         "zh": "'{target}' 不是模块名；请用 'all'，或 q_proj,v_proj 这样的模块名"},
    "lora_target_empty": {"en": "must name at least one module, or 'all'", "zh": "至少要写一个模块名，或写 'all'"},
    "warmup_both": {"en": "set warmup_ratio or warmup_steps, not both",
                    "zh": "warmup_ratio 和 warmup_steps 只能设一个"},
    # -- warnings ----------------------------------------------------------------------------------------------
    "no_effect": {"en": "'{key}' has no effect in ft-tui", "zh": "'{key}' 在 ft-tui 中不起作用"},
    "no_effect_because": {"en": "'{key}' has no effect in ft-tui: {reason}",
                          "zh": "'{key}' 在 ft-tui 中不起作用：{reason}"},
    "group_by_length_packed": {
        "en": "'group_by_length' has no effect while packing is on: packed rows all have the same length "
              "(cutoff_len)",
        "zh": "打包开启时 'group_by_length' 不起作用：打包后每行长度都相同（cutoff_len）"},
    # -- why a LLaMA-Factory / transformers key has no effect (the {reason} of no_effect_because) ---------------
    "why_do_train": {"en": "ft-tui always trains", "zh": "ft-tui 总是会训练"},
    "why_do_eval": {"en": "evaluation runs when val_size > 0", "zh": "val_size > 0 时才会评估"},
    "why_do_predict": {"en": "prediction is not part of a training run here", "zh": "这里的训练任务不包含预测"},
    "why_plot_loss": {"en": "the run screen plots the loss live", "zh": "运行界面会实时绘制 loss 曲线"},
    "why_own_run_dir": {"en": "each run gets its own directory", "zh": "每次运行都有自己的目录"},
    "why_overwrite_cache": {"en": "the data cache is keyed by file content", "zh": "数据缓存按文件内容区分"},
    "why_preprocessing": {"en": "preprocessing runs batched in one process", "zh": "预处理在一个进程内分批进行"},
    "why_loader": {"en": "the loader settings are chosen by ft-tui", "zh": "数据加载设置由 ft-tui 决定"},
    "why_ddp_timeout": {"en": "the launcher sets the timeout", "zh": "超时由启动器设置"},
    "why_save_only_model": {"en": "checkpoints always keep the optimizer state so resume is exact",
                            "zh": "检查点总会保存优化器状态，续训才能完全接上"},
    "why_resume": {"en": "use `ft-tui resume RUN` instead", "zh": "请改用 `ft-tui resume RUN`"},
    "why_quantization_method": {"en": "only bitsandbytes quantization is supported", "zh": "只支持 bitsandbytes 量化"},
    "why_unsloth": {"en": "Unsloth is not used", "zh": "不使用 Unsloth"},
    "why_liger": {"en": "Liger kernels are not used", "zh": "不使用 Liger 内核"},
    "why_upcast_layernorm": {"en": "layer norms stay in the compute dtype (bf16/fp16), as in LLaMA-Factory's default",
                             "zh": "LayerNorm 保持计算精度（bf16/fp16），与 LLaMA-Factory 的默认做法相同"},
    "why_neftune": {"en": "NEFTune is not supported", "zh": "不支持 NEFTune"},
    "why_tokens_seen": {"en": "tokens seen are always reported", "zh": "已训练的 token 数总会上报"},
    "why_eval_strategy": {"en": "evaluation runs every eval_steps when val_size > 0",
                          "zh": "val_size > 0 时每 eval_steps 步评估一次"},
    "why_save_strategy": {"en": "checkpoints are saved every save_steps", "zh": "每 save_steps 步保存一次检查点"},
    "why_logging_strategy": {"en": "logs are written every logging_steps", "zh": "每 logging_steps 步记录一次日志"},
    "why_mix_strategy": {"en": "datasets are concatenated", "zh": "多个数据集直接拼接"},
    "why_tokenized_path": {"en": "the tokenized data cache is managed by ft-tui", "zh": "分词后的数据缓存由 ft-tui 管理"},
    "why_streaming": {"en": "datasets are loaded in full", "zh": "数据集会完整加载"},
    "why_deepspeed": {"en": "the multi-GPU strategy is chosen by the planner", "zh": "多卡策略由计划器选择"},
    "why_pure_bf16": {"en": "use bf16: true", "zh": "请用 bf16: true"},
    "why_rslora": {"en": "rsLoRA is not supported", "zh": "不支持 rsLoRA"},
    "why_dora": {"en": "DoRA is not supported", "zh": "不支持 DoRA"},
    "why_pissa": {"en": "PiSSA is not supported", "zh": "不支持 PiSSA"},
    "why_loraplus": {"en": "LoRA+ is not supported", "zh": "不支持 LoRA+"},
    "why_new_adapter": {"en": "adapters are always created new", "zh": "总是新建适配器"},
    "why_additional_target": {"en": "extra trainable modules are not supported", "zh": "不支持额外的可训练模块"},
    "why_adapter_path": {"en": "starting from an existing adapter is not supported", "zh": "不支持从已有适配器继续训练"},
    "why_freeze_modules": {"en": "freeze tuning trains whole layers", "zh": "冻结微调按整层训练"},
    "why_mask_history": {"en": "every assistant turn is trained", "zh": "每一轮助手回复都参与训练"},
    "why_neat_packing": {"en": "packing does not isolate attention between packed samples",
                         "zh": "打包时不隔离样本之间的注意力"},
    "why_enable_thinking": {"en": "the template decides how reasoning is written", "zh": "思考内容的写法由模板决定"},
    "why_default_system": {"en": "the template's default system prompt is used", "zh": "使用模板自带的默认系统提示词"},
    "why_resize_vocab": {"en": "the vocabulary is not resized", "zh": "不调整词表大小"},
    "why_cache_dir": {"en": "the Hugging Face cache in the environment is used",
                      "zh": "使用环境中配置的 Hugging Face 缓存"},
    "why_logging_dir": {"en": "logs go into the run directory", "zh": "日志写入运行目录"},
    "why_run_name": {"en": "runs are named by their directory", "zh": "运行以其目录命名"},
    "why_hf_token": {"en": "the token is read from HF_TOKEN or the Hugging Face login, never from the config",
                     "zh": "令牌从 HF_TOKEN 或 Hugging Face 登录信息读取，从不从配置文件读取"},
    "why_modelscope": {"en": "ModelScope is not supported", "zh": "不支持 ModelScope"},
    "why_openmind": {"en": "OpenMind is not supported", "zh": "不支持 OpenMind"},
    "why_fast_tokenizer": {"en": "the fast tokenizer is always used", "zh": "总是使用 fast 分词器"},
    "why_attn_dtype": {"en": "the attention kernel follows the compute dtype", "zh": "注意力内核跟随计算精度"},
    "why_device_map": {"en": "the runner places the model", "zh": "模型放在哪张卡上由运行器决定"},
    "why_eval_dataset": {"en": "use val_size", "zh": "请用 val_size"},
    "why_gradient_checkpointing": {"en": "use disable_gradient_checkpointing", "zh": "请用 disable_gradient_checkpointing"},
    "why_scheduler_kwargs": {"en": "scheduler options are not forwarded", "zh": "不转发学习率调度器的参数"},
    "why_full_eval": {"en": "evaluation follows the training precision", "zh": "评估使用与训练相同的精度"},
    # sharper reasons for keys a user may rely on
    "why_hub": {"en": "ft-tui does not upload; run `ft-tui export RUN` and push the result yourself",
                "zh": "ft-tui 不会上传；请运行 `ft-tui export RUN`，再自行推送导出的结果"},
    "why_best_model": {
        "en": "ft-tui saves the final model; every checkpoint stays in the run directory, pick the best by eval_loss "
              "yourself",
        "zh": "ft-tui 保存的是最后的模型；每个检查点都留在运行目录里，请按 eval_loss 自行挑选最好的"},
    "why_compile": {"en": "the model is not compiled (torch.compile is not used)",
                    "zh": "不编译模型（不使用 torch.compile）"},
    "why_tf32": {"en": "TF32 is left at PyTorch's default", "zh": "TF32 保持 PyTorch 的默认设置"},
    "why_safetensors": {"en": "checkpoints are always saved as safetensors", "zh": "检查点总是以 safetensors 格式保存"},
    "why_adafactor": {"en": "use optim: adafactor", "zh": "请用 optim: adafactor"},
    "why_model_revision": {"en": "the model is loaded from its default revision",
                           "zh": "模型从默认版本（revision）加载"},
    # reasons shared by a family of keys
    "why_predict": {"en": "evaluation computes the loss only; nothing is generated",
                    "zh": "评估只计算 loss，不生成文本"},
    "why_generation": {"en": "a generation setting; ft-tui trains and does not generate text",
                       "zh": "这是生成参数；ft-tui 只训练，不生成文本"},
    "why_export": {"en": "use `ft-tui export RUN` (--merge merges the adapter into the model)",
                   "zh": "请用 `ft-tui export RUN`（加 --merge 会把适配器合并进模型）"},
    "why_rlhf": {"en": "preference and RL training (rm, ppo, dpo, kto) is not supported",
                 "zh": "不支持偏好训练和强化学习（rm、ppo、dpo、kto）"},
    "why_inference": {"en": "an inference setting; ft-tui only trains", "zh": "这是推理设置；ft-tui 只负责训练"},
    "why_multimodal": {"en": "image, video and audio inputs are not supported", "zh": "不支持图像、视频和音频输入"},
    "why_optimizer": {"en": "this optimizer is not supported; choose one with optim",
                      "zh": "不支持这种优化器；请用 optim 选择优化器"},
    "why_swanlab": {"en": "SwanLab is not supported; report_to picks the logger",
                    "zh": "不支持 SwanLab；请用 report_to 选择日志工具"},
    "why_new_tokens": {"en": "adding tokens is not supported; the vocabulary stays as it is",
                       "zh": "不支持添加新 token，词表保持不变"},
    "why_multi_gpu": {"en": "the multi-GPU launch (DDP, FSDP) is set up by ft-tui",
                      "zh": "多卡启动（DDP、FSDP）由 ft-tui 配置"},
    "why_llamafactory": {"en": "a LLaMA-Factory option ft-tui does not implement",
                         "zh": "这是 ft-tui 没有实现的 LLaMA-Factory 选项"},
    "why_transformers": {"en": "a transformers TrainingArguments option ft-tui does not forward",
                         "zh": "这是 ft-tui 不转发的 transformers TrainingArguments 选项"},
    # reading the config file (planner.config.read_yaml_mapping)
    "file_not_found": {"en": "config file not found", "zh": "找不到配置文件"},
    "file_not_found_hint": {
        "en": "Check the path; `ft-tui plan -o FILE.yaml` writes a starting config.",
        "zh": "请检查路径；`ft-tui plan -o FILE.yaml` 可以生成一份初始配置。"},
    "file_unreadable": {"en": "cannot read the config file ({error})", "zh": "无法读取配置文件（{error}）"},
    "file_bad_yaml": {"en": "is not valid YAML: {problem}", "zh": "不是合法的 YAML：{problem}"},
    "file_not_mapping": {"en": "must be a YAML mapping of key: value lines",
                         "zh": "必须是由 key: value 行组成的 YAML 映射"},
    "why_transformers_old": {
        "en": "a TrainingArguments option of older transformers releases; ft-tui does not forward it",
        "zh": "这是旧版 transformers 的 TrainingArguments 选项；ft-tui 不转发它"},
}


class Message(Coded):
    """A validation message: its English text as a ``str``, plus the code and values to say it in another language
    (:class:`~.errors.Coded` over :data:`CATALOG`). A value that is itself a coded text (the reason inside a
    warning) is rendered in the same language."""

    CATALOG = CATALOG


def text(message: Any, lang: str | None) -> str:
    """``message`` in ``lang`` when it is a :class:`Message`; any other text as it is."""
    if isinstance(message, Message):
        return message.render(lang)
    return "" if message is None else str(message)


def warning_text(warning: Any, lang: str | None) -> str:
    """A config warning (an item of ``TrainConfig.warnings``) in ``lang``; other warnings pass through as text."""
    return text(warning, lang)
