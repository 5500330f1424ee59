"""Data notes: the statistics summary's lines, the notes made when statistics cannot be had, dropped-row
reasons, dataset and template warnings and data errors of ``ft_tui.templates``.

Part of the one message catalog (see :mod:`ft_tui.planner.messages`): code -> {"en": ..., "zh": ...}.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    # format_stats lines
    "kept_samples": {"en": "{rows} samples kept of {read} rows read", "zh": "读取 {read} 行，保留 {rows} 条样本"},
    "kept_texts": {"en": "{rows} texts kept of {read} rows read", "zh": "读取 {read} 行，保留 {rows} 段文本"},
    "per_dataset": {"en": " ({items})", "zh": "（{items}）"},
    "lengths": {"en": "full length in tokens: p50 {p50}  p90 {p90}  p99 {p99}  max {max}  mean {mean}",
                "zh": "完整长度（token）：p50 {p50}  p90 {p90}  p99 {p99}  最长 {max}  平均 {mean}"},
    "truncated": {"en": "cutoff_len {cutoff}: {share} of samples are truncated",
                  "zh": "cutoff_len {cutoff}：{share} 的样本超长，会被截断"},
    "epoch": {"en": "per epoch: {seqs} sequences (longest {longest}), {tokens} tokens, {trained} trained",
              "zh": "每轮：{seqs} 条序列（最长 {longest}），共 {tokens} 个 token，其中 {trained} 个参与训练"},
    "epoch_packed": {"en": "per epoch: {seqs} packed sequences (longest {longest}), {tokens} tokens, {trained} trained",
                     "zh": "每轮：{seqs} 条打包序列（最长 {longest}），共 {tokens} 个 token，其中 {trained} 个参与训练"},
    "epoch_eval": {"en": "; eval: {seqs} sequences", "zh": "；验证集：{seqs} 条序列"},
    "epoch_eval_packed": {"en": "; eval: {seqs} packed sequences", "zh": "；验证集：{seqs} 条打包序列"},
    "dropped": {"en": "dropped {n}: {detail}", "zh": "丢弃 {n} 条：{detail}"},
    "dropped_item": {"en": "{n} {reason}", "zh": "{n} 条（{reason}）"},
    "warning": {"en": "warning: {text}", "zh": "注意：{text}"},
    "samples_only": {"en": "{rows} samples", "zh": "{rows} 条样本"},
    # when there are no statistics
    "no_dataset": {"en": "no dataset named", "zh": "还没有指定数据集"},
    "folder_without_tokenizer": {
        "en": "the model folder {path} has no tokenizer (only config.json), so the data cannot be measured: planned "
              "without data statistics; {note}",
        "zh": "模型文件夹 {path} 里没有分词器（只有 config.json），无法统计数据：本次计划不使用数据统计；{note}"},
    "no_tokenizer": {
        "en": "token lengths need the model's tokenizer on disk; every sample is assumed to be cutoff_len "
              "({cutoff}) tokens",
        "zh": "统计 token 长度需要本地有模型的分词器；现按每条样本都是 cutoff_len（{cutoff}）个 token 估算"},
    "stats_not_cheap": {
        "en": "could not read the dataset cheaply ({error}); estimated without statistics",
        "zh": "无法低成本地读取数据集（{error}）；按没有统计数据的情况估算"},
    "no_tokenizer_counted": {
        "en": "token lengths need the model's tokenizer on disk; every sample is assumed to be cutoff_len "
              "({cutoff}) tokens; steps are counted from its {rows} samples",
        "zh": "统计 token 长度需要本地有模型的分词器；现按每条样本都是 cutoff_len（{cutoff}）个 token 估算；"
              "步数按其 {rows} 条样本计算"},
    # why rows were dropped (templates.readers, templates.trainset)
    "drop_empty_response": {"en": "empty response", "zh": "回复为空"},
    "drop_empty_text": {"en": "empty text", "zh": "文本为空"},
    "drop_history": {"en": "history is not a list of [query, answer] pairs",
                     "zh": "history 不是 [query, answer] 对的列表"},
    "drop_messages": {"en": "messages is empty or not a list", "zh": "messages 为空或不是列表"},
    "drop_message_object": {"en": "a message is not an object", "zh": "有一条消息不是对象"},
    "drop_alternate": {"en": "turns do not alternate user/assistant", "zh": "对话轮次没有按 user/assistant 交替"},
    "drop_no_role_tag": {
        "en": "turns have no '{role_tag}' key (they have: {keys}); set tags.role_tag (and tags.content_tag) in "
              "dataset_info.json to the keys your turns use",
        "zh": "对话轮次里没有 '{role_tag}' 键（实际有：{keys}）；请在 dataset_info.json 的 tags.role_tag（以及 "
              "tags.content_tag）里写上你的数据所用的键"},
    "drop_unknown_role": {
        "en": "a turn has {role_tag} '{role}', which the tags do not map (user_tag '{user}', assistant_tag "
              "'{assistant}'); set tags.user_tag / tags.assistant_tag in dataset_info.json to your role names",
        "zh": "有对话轮次的 {role_tag} 为 '{role}'，tags 没有映射它（user_tag 为 '{user}'，assistant_tag 为 "
              "'{assistant}'）；请在 dataset_info.json 的 tags.user_tag / tags.assistant_tag 里写上你的角色名"},
    "drop_last_turn": {"en": "conversation does not end with an assistant turn",
                       "zh": "对话不是以 assistant 轮结束"},
    "drop_no_label_empty": {"en": "no trainable token (empty response)", "zh": "没有可训练的 token（回复为空）"},
    "drop_no_label": {"en": "no trainable token", "zh": "没有可训练的 token"},
    "drop_too_long": {"en": "longer than cutoff_len={cutoff} with nothing left to train; raise cutoff_len",
                      "zh": "超过 cutoff_len={cutoff}，截断后没有可训练的部分；请调大 cutoff_len"},
    # warnings of templates.datasets, readers and trainset
    "warn_entry_key": {"en": "{registry}: dataset '{name}': key '{key}' is not a dataset_info.json key and is ignored",
                       "zh": "{registry}：数据集 '{name}'：'{key}' 不是 dataset_info.json 的键，已忽略"},
    "warn_num_samples": {"en": "dataset '{name}': 'num_samples' is ignored; use max_samples in the config",
                         "zh": "数据集 '{name}'：'num_samples' 会被忽略；请在配置里用 max_samples"},
    "warn_column_key": {"en": "dataset '{name}': column key '{key}' is unknown and ignored",
                        "zh": "数据集 '{name}'：未知的列键 '{key}'，已忽略"},
    "warn_tag_key": {"en": "dataset '{name}': tag key '{key}' is unknown and ignored",
                     "zh": "数据集 '{name}'：未知的标签键 '{key}'，已忽略"},
    "warn_media": {"en": "dataset '{name}': media columns ({columns}) are ignored; ft-tui trains text-only models",
                   "zh": "数据集 '{name}'：多模态列（{columns}）会被忽略；ft-tui 只训练纯文本模型"},
    "warn_tools_column": {"en": "dataset '{name}': the '{column}' column (tool definitions) is ignored",
                          "zh": "数据集 '{name}'：'{column}' 列（工具定义）会被忽略"},
    "warn_tool_turns": {
        "en": "dataset '{name}': {n} conversation(s) have tool turns; function_call turns are trained as assistant "
              "text and observation turns are read as user turns",
        "zh": "数据集 '{name}'：{n} 段对话含工具调用；function_call 轮按 assistant 文本训练，observation 轮按 user "
              "轮读取"},
    "warn_no_eos": {"en": "the tokenizer has no eos token; texts are concatenated without a separator",
                    "zh": "分词器没有 eos token；各段文本直接拼接，中间没有分隔符"},
    "warn_one_block": {
        "en": "all text is {n} tokens, less than one cutoff_len={cutoff} block; training on one shorter block",
        "zh": "全部文本只有 {n} 个 token，不足一个 cutoff_len={cutoff} 的块；只用一个较短的块训练"},
    "warn_last_block": {"en": "the last {n} tokens (less than one block) are dropped",
                        "zh": "最后 {n} 个 token（不足一个块）被丢弃"},
    # warnings of templates.registry
    "warn_base_model": {
        "en": "'{model}' looks like a base model (its tokenizer has no chat template and its name has no "
              "Instruct/Chat/-it marker), but chat template '{template}' is selected. The model has never seen "
              "'{stop}' as a stop token, so it may never stop generating unless it trains long enough. Consider "
              "template: default or empty for a base model, or an instruct model.",
        "zh": "'{model}' 看起来是基座模型（分词器没有对话模板，名称里也没有 Instruct/Chat/-it 字样），却选了对话模板 "
              "'{template}'。模型从没见过 '{stop}' 这个结束符，除非训练得足够久，否则可能停不下来。基座模型建议用 "
              "template: default 或留空，或者换用指令模型。"},
    "warn_base_model_unnamed": {
        "en": "this model looks like a base model (its tokenizer has no chat template and its name has no "
              "Instruct/Chat/-it marker), but chat template '{template}' is selected. The model has never seen "
              "'{stop}' as a stop token, so it may never stop generating unless it trains long enough. Consider "
              "template: default or empty for a base model, or an instruct model.",
        "zh": "这个模型看起来是基座模型（分词器没有对话模板，名称里也没有 Instruct/Chat/-it 字样），却选了对话模板 "
              "'{template}'。模型从没见过 '{stop}' 这个结束符，除非训练得足够久，否则可能停不下来。基座模型建议用 "
              "template: default 或留空，或者换用指令模型。"},
    "warn_missing_tokens": {
        "en": "template '{template}' uses {tokens}, which the tokenizer does not have as single tokens; pick the "
              "template that matches the model (or leave template unset to detect it).",
        "zh": "模板 '{template}' 用到的 {tokens} 在分词器里不是单个 token；请选与模型匹配的模板（或不设 template，"
              "让它自动识别）。"},
    # how templates.registry chose the template (the template field's reason)
    "tpl_set": {"en": "template '{name}' set in the config", "zh": "配置里设定了模板 '{name}'"},
    "tpl_detected": {"en": "detected '{name}' from the tokenizer's chat template",
                     "zh": "根据分词器自带的对话模板识别为 '{name}'"},
    "tpl_tokenizer_own": {
        "en": "the tokenizer's chat template matches no built-in template; using it as it is ('default')",
        "zh": "分词器自带的对话模板与所有内置模板都不匹配；按原样使用它（'default'）"},
    "tpl_type_and_name": {"en": "chose '{name}' from model_type '{model_type}' and the model name",
                          "zh": "根据 model_type '{model_type}' 和模型名称选了 '{name}'"},
    "tpl_type": {"en": "chose '{name}' from model_type '{model_type}'",
                 "zh": "根据 model_type '{model_type}' 选了 '{name}'"},
    "tpl_name": {"en": "chose '{name}' from the model name '{model}'", "zh": "根据模型名称 '{model}' 选了 '{name}'"},
    "tpl_default": {"en": "no chat template, model type or name matched; using 'default'",
                    "zh": "对话模板、模型类型和名称都没有匹配上；使用 'default'"},
    # errors of templates.registry
    "err_unknown_template": {"en": "unknown chat template '{name}'", "zh": "未知的对话模板 '{name}'"},
    "hint_known_templates": {"en": "Known templates: {names}. Put your own in {folder}/<name>.yaml.",
                             "zh": "已有的模板：{names}。自己的模板请放在 {folder}/<name>.yaml。"},
    "err_template_unreadable": {"en": "cannot read chat template file ({error})",
                                "zh": "无法读取对话模板文件（{error}）"},
    "err_template_yaml": {"en": "chat template file is not valid YAML ({error})",
                          "zh": "对话模板文件不是有效的 YAML（{error}）"},
    "hint_template_yaml": {"en": "Fix the YAML syntax (quote strings with \\n).",
                           "zh": "请修正 YAML 语法（含 \\n 的字符串要加引号）。"},
    "err_template_twice": {"en": "template name '{name}' is defined twice (also in {other})",
                           "zh": "模板名 '{name}' 定义了两次（另一处在 {other}）"},
    "hint_template_twice": {"en": "Give each template file a different 'name'.",
                            "zh": "请给每个模板文件起不同的 'name'。"},
    # errors of templates.encode
    "err_conv_empty": {"en": "a conversation must be a non-empty list of {{role, content}} messages",
                       "zh": "一段对话必须是由 {{role, content}} 消息组成的非空列表"},
    "hint_columns_mapping": {"en": "Check the dataset's columns mapping (dataset_info.json).",
                             "zh": "请检查数据集的列映射（dataset_info.json）。"},
    "err_conv_message": {"en": "message {i} is not a {{role, content}} mapping with string content: {shown}",
                         "zh": "第 {i} 条消息不是内容为字符串的 {{role, content}} 映射：{shown}"},
    "err_conv_order": {
        "en": "message {i} has role {role} out of order: after an optional first system message, user and "
              "assistant messages must take turns, starting with user",
        "zh": "第 {i} 条消息的角色 {role} 顺序不对：开头可以有一条 system 消息，之后 user 和 assistant 消息必须轮流"
              "出现，并从 user 开始"},
    "hint_conv_order": {"en": "Merge consecutive messages of the same role or fix the role names.",
                        "zh": "请合并同一角色的连续消息，或修正角色名。"},
    "err_conv_ends_user": {
        "en": "the conversation ends with a user message; a training sample must end with the assistant's reply",
        "zh": "这段对话以 user 消息结尾；训练样本必须以 assistant 的回复结束"},
    "err_conv_no_user": {"en": "the conversation has no user message", "zh": "这段对话没有 user 消息"},
    "err_in_conversation": {"en": "conversation {i}: {message}", "zh": "第 {i} 段对话：{message}"},
    "err_chat_template_render": {"en": "the tokenizer's chat template cannot render a conversation ({error})",
                                 "zh": "分词器的对话模板无法渲染这段对话（{error}）"},
    "hint_fix_data_or_template": {"en": "Fix the data or choose a built-in template with `template:`.",
                                  "zh": "请修正数据，或用 `template:` 选一个内置模板。"},
    "err_jinja_unstable": {
        "en": "the tokenizer's chat template renders earlier turns differently once later turns are added, so the "
              "prompt/reply split cannot be found",
        "zh": "加上后面的轮次后，分词器的对话模板会把前面的轮次渲染成不同的样子，因此找不到提示词和回复的分界"},
    "hint_builtin_template": {"en": "Choose a built-in template with `template:`.",
                              "zh": "请用 `template:` 选一个内置模板。"},
    "err_template_no_eos": {"en": "template '{name}' ends replies with {{eos}} but the tokenizer has no eos token",
                            "zh": "模板 '{name}' 用 {{eos}} 结束回复，但分词器没有 eos token"},
    "hint_template_no_eos": {"en": "Choose a template with a literal stop token, or fix the tokenizer.",
                             "zh": "请选一个写明结束符的模板，或修正分词器。"},
    # errors of templates.datasets: the registry (dataset_info.json)
    "err_registry_unreadable": {"en": "cannot read the dataset registry ({error})",
                                "zh": "无法读取数据集注册文件（{error}）"},
    "err_registry_json": {"en": "is not valid JSON: {msg} (column {col})",
                          "zh": "不是有效的 JSON：{msg}（第 {col} 列）"},
    "hint_registry_json": {"en": "Fix the JSON syntax; every entry is \"name\": {{\"file_name\": ...}}.",
                           "zh": "请修正 JSON 语法；每一项都写成 \"name\": {{\"file_name\": ...}}。"},
    "err_registry_object": {
        "en": "must be a JSON object mapping dataset names to entries, like {{\"my_data\": {{\"file_name\": "
              "\"my_data.json\"}}}}",
        "zh": "必须是把数据集名映射到条目的 JSON 对象，如 {{\"my_data\": {{\"file_name\": \"my_data.json\"}}}}"},
    "err_in_dataset": {"en": "dataset '{name}': {message}", "zh": "数据集 '{name}'：{message}"},
    "err_entry_object": {"en": "the entry must be an object such as {{\"file_name\": \"data.json\"}}",
                         "zh": "条目必须是对象，如 {{\"file_name\": \"data.json\"}}"},
    "err_ranking": {
        "en": "preference data (DPO/RM) is not supported yet ('ranking: true'); ft-tui trains sft and pt.",
        "zh": "暂不支持偏好数据（DPO/RM，'ranking: true'）；ft-tui 只训练 sft 和 pt。"},
    "err_kto": {"en": "KTO data (a 'kto_tag' column) is not supported yet; ft-tui trains sft and pt.",
                "zh": "暂不支持 KTO 数据（'kto_tag' 列）；ft-tui 只训练 sft 和 pt。"},
    "err_formatting": {"en": "formatting '{formatting}' is not one of {choices}",
                       "zh": "formatting '{formatting}' 不是 {choices} 之一"},
    "err_columns_tags": {"en": "'columns' and 'tags' must be objects such as {{\"prompt\": \"instruction\"}}",
                         "zh": "'columns' 和 'tags' 必须是对象，如 {{\"prompt\": \"instruction\"}}"},
    "err_file_name_missing": {"en": "file_name '{file_name}' does not exist (looked for {path})",
                              "zh": "file_name '{file_name}' 不存在（查找的是 {path}）"},
    "err_file_name_outside": {
        "en": "file_name '{file_name}' leads outside the registry's folder {folder} ({path} is {target}); refused, "
              "so a dataset_info.json cannot make a run read files elsewhere",
        "zh": "file_name '{file_name}' 指向了登记文件所在文件夹 {folder} 之外（{path} 实际是 {target}）；已拒绝，"
              "dataset_info.json 不能让训练读取别处的文件"},
    "hint_file_name_outside": {
        "en": "Move the data into that folder, or name the file in your config instead (dataset: /path/to/file.json).",
        "zh": "请把数据移到该文件夹内，或者在你自己的配置里直接写出文件路径（dataset: /path/to/file.json）。"},
    "hint_dataset_dir": {"en": "dataset_dir is resolved against the config file's folder; check both.",
                         "zh": "dataset_dir 是相对配置文件所在的文件夹解析的；请两者都检查一下。"},
    "err_source_unsupported": {
        "en": "'{source}' sources are not supported; download the data and point 'file_name' at it",
        "zh": "不支持 '{source}' 来源；请下载数据，并让 'file_name' 指向它"},
    "err_no_source": {"en": "has no source: add 'file_name' (a file or folder under dataset_dir) or 'hf_hub_url'",
                      "zh": "没有数据来源：请添加 'file_name'（dataset_dir 下的文件或文件夹）或 'hf_hub_url'"},
    # ... data files and folders
    "err_file_type": {"en": "unsupported file type '{suffix}'", "zh": "不支持的文件类型 '{suffix}'"},
    "hint_use_types": {"en": "Use one of {types}.", "zh": "请使用 {types} 之一。"},
    "err_folder_empty": {"en": "the folder holds no data files", "zh": "这个文件夹里没有数据文件"},
    "hint_put_types": {"en": "Put {types} files in it.", "zh": "请在其中放入 {types} 文件。"},
    "err_folder_mixed": {"en": "a dataset folder must hold files of one type, found {kinds}: {listing}",
                         "zh": "一个数据集文件夹只能放同一种类型的文件，现在有 {kinds}：{listing}"},
    "hint_folder_mixed": {"en": "Move the other files elsewhere or split the dataset.",
                          "zh": "请把其他文件移走，或拆成几个数据集。"},
    "err_dataset_file_missing": {"en": "dataset file '{name}' does not exist (looked for {path})",
                                 "zh": "数据集文件 '{name}' 不存在（查找的是 {path}）"},
    "hint_relative_paths": {"en": "Relative paths are resolved against the config file's folder.",
                            "zh": "相对路径是相对配置文件所在的文件夹解析的。"},
    "err_unknown_dataset": {"en": "unknown dataset '{name}' ({where})", "zh": "未知的数据集 '{name}'（{where}）"},
    "where_no_registry": {"en": "no {registry} in dataset_dir {folder}",
                          "zh": "dataset_dir {folder} 里没有 {registry}"},
    "hint_known_datasets": {
        "en": "Known datasets: {names}. A path to a json, jsonl, csv, parquet, txt or arrow file (or a folder of "
              "them) also works.",
        "zh": "已有的数据集：{names}。也可以直接写 json、jsonl、csv、parquet、txt 或 arrow 文件的路径（或装着这些文件"
              "的文件夹）。"},
    "none": {"en": "none", "zh": "无"},
    # ... reading rows
    "err_json": {"en": "is not valid JSON: {msg} (column {col})", "zh": "不是有效的 JSON：{msg}（第 {col} 列）"},
    "hint_json_lines": {"en": "Fix the file, or save it as JSON Lines (.jsonl, one object per line).",
                        "zh": "请修正文件，或改存为 JSON Lines（.jsonl，每行一个对象）。"},
    "err_json_array": {"en": "must hold a JSON array of objects (one per row)",
                       "zh": "必须是由对象组成的 JSON 数组（每行数据一个对象）"},
    "err_row_type": {"en": "row {i} is a {kind}, not an object", "zh": "第 {i} 行是 {kind}，不是对象"},
    "hint_row_object": {"en": "Each row must be an object such as {{\"instruction\": ..., \"output\": ...}}.",
                        "zh": "每行必须是对象，如 {{\"instruction\": ..., \"output\": ...}}。"},
    "err_jsonl_line": {"en": "line {line} is not valid JSON: {msg} (column {col})",
                       "zh": "第 {line} 行不是有效的 JSON：{msg}（第 {col} 列）"},
    "hint_jsonl_line": {"en": "Each line must be one complete JSON object.", "zh": "每行必须是一个完整的 JSON 对象。"},
    "err_jsonl_type": {"en": "line {line} is a {kind}, not a JSON object",
                       "zh": "第 {line} 行是 {kind}，不是 JSON 对象"},
    "err_csv_cells": {"en": "line {line} has more cells than the header has columns",
                      "zh": "第 {line} 行的单元格比表头的列多"},
    "err_parquet": {"en": "is not a readable parquet file ({error})", "zh": "不是可读的 parquet 文件（{error}）"},
    "err_arrow": {"en": "is not a readable arrow file ({error})", "zh": "不是可读的 arrow 文件（{error}）"},
    "err_hub_offline": {
        "en": "dataset '{name}' comes from the Hugging Face Hub ('{url}'), but the hub is offline here "
              "(HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set)",
        "zh": "数据集 '{name}' 来自 Hugging Face Hub（'{url}'），但这里无法访问 Hub（设置了 HF_HUB_OFFLINE 或 "
              "HF_DATASETS_OFFLINE）"},
    "hint_download_data": {"en": "Download the data and point 'file_name' at the file.",
                           "zh": "请下载数据，并让 'file_name' 指向该文件。"},
    "err_hub_load": {"en": "dataset '{name}': cannot load '{url}' from the Hugging Face Hub: {error}",
                     "zh": "数据集 '{name}'：无法从 Hugging Face Hub 加载 '{url}'：{error}"},
    "hint_hub_load": {"en": "Check the name and your network or HF_TOKEN, or download the data.",
                      "zh": "请检查名称、网络或 HF_TOKEN，或者先下载数据。"},
    "err_not_utf8": {"en": "is not UTF-8 text ({reason} at byte {byte})",
                     "zh": "不是 UTF-8 文本（第 {byte} 字节处：{reason}）"},
    "hint_utf8": {"en": "Re-save the file as UTF-8.", "zh": "请把文件另存为 UTF-8 编码。"},
    "err_file_unreadable": {"en": "cannot read the file ({error})", "zh": "无法读取文件（{error}）"},
    # ... converting rows
    "err_text_only_sft": {"en": "dataset '{name}' has only a text column (pre-training data), but stage is sft",
                          "zh": "数据集 '{name}' 只有一个文本列（预训练数据），但 stage 是 sft"},
    "hint_text_only_sft": {"en": "Use stage: pt to train on raw text, or give instruction/output pairs.",
                           "zh": "要在纯文本上训练请用 stage: pt，否则请提供 instruction/output 对。"},
    "err_missing_columns": {"en": "dataset '{name}' ({formatting}, stage {stage}) needs column(s) {missing}, but "
                                  "{where} has: {have}",
                            "zh": "数据集 '{name}'（{formatting}，stage {stage}）需要列 {missing}，但 {where} 只有："
                                  "{have}"},
    "where_hub": {"en": "hub dataset '{url}'", "zh": "Hub 数据集 '{url}'"},
    "where_files": {"en": "{n} files under {folder}", "zh": "{folder} 下的 {n} 个文件"},
    "where_no_columns": {"en": "no columns", "zh": "没有任何列"},
    "hint_fix": {"en": "Fix: {how}.", "zh": "解决办法：{how}。"},
    "how_map_columns": {"en": "map them with \"columns\" in dataset_info.json",
                        "zh": "在 dataset_info.json 里用 \"columns\" 映射这些列"},
    "how_rename_columns": {
        "en": "rename the columns, or register the file in dataset_info.json with a \"columns\" mapping",
        "zh": "重命名这些列，或在 dataset_info.json 中注册该文件并写上 \"columns\" 映射"},
    "err_no_dataset": {"en": "no dataset is set", "zh": "没有设置数据集"},
    "hint_no_dataset": {
        "en": "Set dataset: to a name in dataset_info.json, a demo (demo_alpaca_en) or a file path.",
        "zh": "请把 dataset: 设为 dataset_info.json 里的名称、演示数据集（demo_alpaca_en）或文件路径。"},
    "err_no_rows": {"en": "dataset(s) {names} hold no rows", "zh": "数据集 {names} 里没有任何数据行"},
    "err_no_rows_in": {"en": "dataset(s) {names} hold no rows (read {files}: empty or only blank lines)",
                       "zh": "数据集 {names} 里没有任何数据行（读取的是 {files}：文件为空或只有空行）"},
    "err_all_dropped": {"en": "all {total} rows were dropped, nothing is left to train ({detail})",
                        "zh": "全部 {total} 行都被丢弃，没有可训练的数据（{detail}）"},
    "err_val_size": {
        "en": "val_size={value} takes {n_eval} of the {n} training sequences and leaves none to train on",
        "zh": "val_size={value} 占用了全部 {n} 条训练序列中的 {n_eval} 条，没有剩下可训练的"},
    "hint_val_size": {"en": "Lower val_size or add data.", "zh": "请调小 val_size 或增加数据。"},
    # templates/encode.py
    "cutoff_not_positive": {"en": "cutoff_len must be a positive integer, got {value!r}",
                            "zh": "cutoff_len 必须是正整数，当前为 {value!r}"},
    # templates/registry.py: a chat template file that is malformed (a custom one in ~/.config/ft-tui/templates)
    "tplf_malformed": {"en": "chat template file is malformed: {problem}", "zh": "对话模板文件格式有误：{problem}"},
    "hint_tplf_format": {"en": "See templates/builtin/README.md for the format.",
                         "zh": "格式见 templates/builtin/README.md。"},
    "tplf_str_list": {"en": "key '{key}' must be a list of strings, got {value!r}",
                      "zh": "键 '{key}' 必须是字符串列表，当前为 {value!r}"},
    "tplf_match_mapping": {"en": "key 'match' must be a mapping with chat_template / model_types / names",
                           "zh": "键 'match' 必须是含 chat_template / model_types / names 的映射"},
    "tplf_unknown_under": {"en": "unknown key(s) under '{section}': {keys}", "zh": "'{section}' 下有未知的键：{keys}"},
    "tplf_bad_regex": {"en": "match.names pattern {pattern!r} is not a regular expression ({error})",
                       "zh": "match.names 的模式 {pattern!r} 不是合法的正则表达式（{error}）"},
    "tplf_thinking": {"en": "key 'thinking' must be a mapping with a string 'empty' (and optional bool 'in_prompt')",
                      "zh": "键 'thinking' 必须是含字符串 'empty'（以及可选的布尔值 'in_prompt'）的映射"},
    "tplf_not_mapping": {"en": "the file must hold a YAML mapping (name: ..., user: ..., assistant: ...)",
                         "zh": "文件内容必须是 YAML 映射（name: ...、user: ...、assistant: ...）"},
    "tplf_unknown_keys": {"en": "unknown key(s): {keys}", "zh": "未知的键：{keys}"},
    "tplf_required": {"en": "key '{key}' is required and must be a string", "zh": "键 '{key}' 必须填写，且必须是字符串"},
    "tplf_not_string": {"en": "key '{key}' must be a string, got {value!r}", "zh": "键 '{key}' 必须是字符串，当前为 {value!r}"},
    "tplf_not_bool": {"en": "key '{key}' must be true or false, got {value!r}",
                      "zh": "键 '{key}' 必须是 true 或 false，当前为 {value!r}"},
    "tplf_strip_roles": {"en": "key 'strip' lists unknown role(s) {roles}; use system, user, assistant",
                         "zh": "键 'strip' 里有未知的角色 {roles}；请用 system、user、assistant"},
    "tplf_tokens": {"en": "key 'tokens' must map bos/eos to strings", "zh": "键 'tokens' 必须把 bos/eos 映射为字符串"},
    "tplf_content_once": {"en": "key '{key}' must contain {{content}} exactly once",
                          "zh": "键 '{key}' 必须恰好包含一次 {{content}}"},
    "tplf_stop_empty": {"en": "key 'stop_token' must not be empty: without it the model never learns to stop",
                        "zh": "键 'stop_token' 不能为空：没有它，模型永远学不会停下"},
    "tplf_stop_end": {"en": "key 'assistant' ({assistant!r}) must end with the stop token {stop!r}",
                      "zh": "键 'assistant'（{assistant!r}）必须以停止符 {stop!r} 结尾"},
    "hint_tplf_stop_end": {"en": "The stop token is trained as part of every reply; put it at the end of 'assistant'.",
                           "zh": "停止符会作为每条回复的一部分参与训练；请把它放在 'assistant' 的末尾。"},
    "tplf_system_bos_eos": {
        "en": "key 'system' cannot use {{bos}}/{{eos}} when system_in_user is true (it becomes user text)",
        "zh": "system_in_user 为 true 时，键 'system' 不能使用 {{bos}}/{{eos}}（它会变成用户文本）"},
    "tplf_no_content": {"en": "key '{key}' cannot contain {{content}}", "zh": "键 '{key}' 不能包含 {{content}}"},
}
