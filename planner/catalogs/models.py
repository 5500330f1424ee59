"""Model errors: every message of a ``ModelError`` (and the LoRA-target ``ConfigError``) the planner's model
inspection raises.

Part of the one message catalog (see :mod:`ft_tui.planner.messages`): code -> {"en": ..., "zh": ...}.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    "not_non_negative": {"en": "'{key}' must be a non-negative integer, got {value!r}.",
                         "zh": "'{key}' 必须是非负整数，当前为 {value!r}。"},
    "hint_fix_config": {"en": "Fix the config.json or pass another model.", "zh": "请修正 config.json，或换一个模型。"},
    "custom_code": {
        "en": "model_type '{model_type}' is custom code (config.json has auto_map) that this planner cannot count "
              "from its fields.",
        "zh": "model_type '{model_type}' 是自定义代码（config.json 里有 auto_map），计划器无法根据它的字段计算模型"
              "大小。"},
    "hint_trust_code": {"en": "Set `trust_remote_code: true` in the config if you trust this repository's code.",
                        "zh": "如果信任这个仓库的代码，请在配置中设置 `trust_remote_code: true`。"},
    "lacks_fields": {"en": "config.json lacks {missing}; cannot tell the model's size.",
                     "zh": "config.json 缺少 {missing}，无法判断模型大小。"},
    "hint_causal_lm_dir": {"en": "Pass the directory of a Hugging Face causal LM (--model /path/to/model).",
                           "zh": "请指定一个 Hugging Face 因果语言模型的目录（--model /path/to/model）。"},
    "dims_positive": {"en": "hidden_size, num_hidden_layers, num_attention_heads and vocab_size must be positive.",
                      "zh": "hidden_size、num_hidden_layers、num_attention_heads 和 vocab_size 都必须大于 0。"},
    "size_too_large": {"en": "'{key}' is {value}, above {limit}, more than any real model has.",
                       "zh": "'{key}' 为 {value}，超过了 {limit}，没有真实模型会这么大。"},
    "model_type_unknown": {"en": "transformers does not know model_type '{model_type}'.",
                           "zh": "transformers 不认识 model_type '{model_type}'。"},
    "st_truncated": {"en": "is truncated: its header promises {expected} bytes, the file has {size}.",
                     "zh": "文件不完整：文件头声明有 {expected} 字节，实际只有 {size} 字节。"},
    "head_dim_missing": {
        "en": "hidden_size {h} is not divisible by num_attention_heads {heads} and head_dim is missing.",
        "zh": "hidden_size {h} 不能被 num_attention_heads {heads} 整除，而且缺少 head_dim。"},
    "config_not_object": {"en": "config.json must hold a JSON object.", "zh": "config.json 必须是一个 JSON 对象。"},
    "mlp_only_layers": {"en": "'mlp_only_layers' must be a list of layer indices, got {value!r}.",
                        "zh": "'mlp_only_layers' 必须是层号的列表，当前为 {value!r}。"},
    "moe_layers": {"en": "'moe_layers' must be a list of layer indices, got {value!r}.",
                   "zh": "'moe_layers' 必须是层号的列表，当前为 {value!r}。"},
    "cannot_read": {"en": "cannot read it: {error}.", "zh": "无法读取：{error}。"},
    "not_json": {"en": "not valid JSON ({error}).", "zh": "不是有效的 JSON（{error}）。"},
    "hint_redownload": {"en": "Re-download or fix the file.", "zh": "请重新下载或修正这个文件。"},
    "st_too_short": {"en": "too short to be a safetensors file.", "zh": "文件太短，不可能是 safetensors 文件。"},
    "st_header_length": {"en": "header length {length} is implausible; the file is corrupt.",
                         "zh": "文件头长度 {length} 不合理；文件已损坏。"},
    "st_header_json": {"en": "the safetensors header is not valid JSON ({error}).",
                       "zh": "safetensors 文件头不是有效的 JSON（{error}）。"},
    "st_header_object": {"en": "the safetensors header is not a JSON object.",
                         "zh": "safetensors 文件头不是 JSON 对象。"},
    "no_weight_map": {"en": "has no 'weight_map' object.", "zh": "没有 'weight_map' 对象。"},
    "st_tensor_entry": {"en": "tensor '{name}' has a malformed header entry ({error}).",
                        "zh": "张量 '{name}' 的文件头条目格式错误（{error}）。"},
    "hint_corrupt": {"en": "The file is corrupt; download it again.", "zh": "文件已损坏，请重新下载。"},
    "no_config_json": {"en": "no config.json in {folder}.", "zh": "{folder} 里没有 config.json。"},
    "hint_model_dir": {"en": "Point --model at a Hugging Face model directory (the one holding config.json).",
                       "zh": "请让 --model 指向 Hugging Face 模型目录（含 config.json 的那个）。"},
    "gated": {"en": "'{repo}' is gated on the Hugging Face hub and this machine has no access.",
              "zh": "'{repo}' 在 Hugging Face Hub 上是受限（gated）模型，这台机器没有访问权限。"},
    "hint_gated": {
        "en": "Accept its licence on the hub and `huggingface-cli login`, or pass a local copy with --model "
              "/path/to/model.",
        "zh": "请先在 Hub 上接受它的许可协议并运行 `huggingface-cli login`，或用 --model /path/to/model 指定本地副本。"},
    "catalog_unreadable": {"en": "the built-in model catalog is unreadable ({error}).",
                           "zh": "内置模型目录无法读取（{error}）。"},
    "no_model": {"en": "no model given.", "zh": "没有指定模型。"},
    "hint_no_model": {
        "en": "Set model_name_or_path to a hub id (e.g. Qwen/Qwen2.5-0.5B-Instruct) or a local directory (--model "
              "/path/to/model).",
        "zh": "请把 model_name_or_path 设为 Hub 上的模型名（如 Qwen/Qwen2.5-0.5B-Instruct）或本地目录（--model "
              "/path/to/model）。"},
    "path_missing": {"en": "model path '{path}' does not exist.", "zh": "模型路径 '{path}' 不存在。"},
    "path_not_folder": {"en": "model path '{path}' is a file, not a model folder.",
                        "zh": "模型路径 '{path}' 是一个文件，不是模型文件夹。"},
    "hint_path_missing": {"en": "Check the path; relative paths are taken from the config file's folder.",
                          "zh": "请检查路径；相对路径是相对配置文件所在的文件夹。"},
    "unknown_model": {
        "en": "unknown model '{name}': it is not in the built-in catalog, not in the local Hugging Face cache "
              "({cache}){hub}.",
        "zh": "未知的模型 '{name}'：内置模型目录里没有，本地 Hugging Face 缓存（{cache}）里也没有{hub}。"},
    "hub_offline": {"en": " and the hub is offline (HF_HUB_OFFLINE, or network not allowed)",
                    "zh": "，而且无法访问 Hub（设置了 HF_HUB_OFFLINE，或不允许联网）"},
    "hub_unreachable": {"en": " and the hub could not be reached ({error})", "zh": "，而且连不上 Hub（{error}）"},
    "hub_not_found": {"en": " nor on the hub", "zh": "，Hub 上也没有"},
    "hint_unknown": {"en": "Or pass a local model directory with --model /path/to/model.",
                     "zh": "也可以用 --model /path/to/model 指定本地模型目录。"},
    "hint_unknown_close": {"en": "Did you mean: {close}? Or pass a local model directory with --model /path/to/model.",
                           "zh": "你是不是想写：{close}？也可以用 --model /path/to/model 指定本地模型目录。"},
    "no_formula": {"en": "model_type '{model_type}' has no closed-form parameter count.",
                   "zh": "model_type '{model_type}' 没有参数量的解析公式。"},
    "layer_range": {"en": "layer index {index} is outside 0..{last}.", "zh": "层号 {index} 不在 0..{last} 范围内。"},
    "lora_targets_empty": {"en": "must name at least one module, or 'all'.", "zh": "至少要写一个模块名，或写 'all'。"},
    "lora_rank": {"en": "must be a positive integer, got {value!r}.", "zh": "必须是正整数，当前为 {value!r}。"},
    "lora_target_unknown": {"en": "no module named {names} in {model_type} ({model}).",
                            "zh": "{model_type}（{model}）里没有名为 {names} 的模块。"},
    "hint_lora_targets": {"en": "Use 'all' or some of: {available}.", "zh": "请用 'all'，或从这些模块中选：{available}。"},
    "unknown_model_type": {"en": "transformers does not know model_type '{model_type}' ({error}).",
                           "zh": "transformers 不认识 model_type '{model_type}'（{error}）。"},
    "hint_unknown_model_type": {
        "en": "Upgrade transformers, or set `trust_remote_code: true` for custom code.",
        "zh": "请升级 transformers；如果是自定义代码，请设置 `trust_remote_code: true`。"},
    "cannot_build": {"en": "cannot build {model_type} as a causal LM ({error}).",
                     "zh": "无法把 {model_type} 构建为因果语言模型（{error}）。"},
    "hint_ships_code": {"en": "Set `trust_remote_code: true` if the model ships its own code.",
                        "zh": "如果模型自带代码，请设置 `trust_remote_code: true`。"},
}
