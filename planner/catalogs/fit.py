""""Nothing fits": the planner's message when no setup fits the memory budget, and its alternatives.

Part of the one message catalog (see :mod:`ft_tui.planner.messages`): code -> {"en": ..., "zh": ...}.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    "moe_experts_unquantized": {
        "en": "Why so much at {bits}-bit: the {experts}B expert parameters of this MoE model are not quantized "
              "(bitsandbytes quantizes linear layers only, and transformers 5 keeps the experts fused in 3-D "
              "tensors), so they stay in {dtype} beside the {bits}-bit rest.",
        "zh": "为什么 {bits}-bit 下仍要这么多：这个 MoE 模型的 {experts}B 专家参数不会被量化（bitsandbytes 只量化线性层，"
              "而 transformers 5 把专家合并存放在 3 维张量里），所以它们以 {dtype} 保存在 {bits}-bit 的其余部分旁边。"},
    "nothing_fits": {
        "en": "nothing fits: {model} ({method}) needs at least {need} GiB per GPU with {setup}, the leanest settings "
              "your keys allow; the budget is {budget} GiB on {count} x {gpu} (memory_margin {margin}). What would "
              "fit: {hints}.",
        "zh": "怎样都放不下：{model}（{method}）在 {setup} 下（你设定的配置项允许的最省显存的设置），每张卡也至少需要 "
              "{need} GiB；而 {count} x {gpu} 上的预算只有 {budget} GiB（memory_margin {margin}）。这样可以放下：{hints}。"},
    # -- the setup 'nothing fits' computed; (yours) marks what the user set --------------------------------------
    "setup_batch": {"en": "batch {batch}", "zh": "批大小 batch {batch}"},
    "setup_quant": {"en": "{bits}-bit quantization", "zh": "{bits} 位量化"},
    "setup_no_quant": {"en": "no quantization", "zh": "不量化"},
    "setup_ckpt": {"en": "gradient checkpointing", "zh": "梯度检查点"},
    "setup_no_ckpt": {"en": "no gradient checkpointing", "zh": "不开梯度检查点"},
    "setup_optim": {"en": "optimizer {optim}", "zh": "优化器 {optim}"},
    "setup_cutoff": {"en": "cutoff_len {length}", "zh": "截断长度 cutoff_len {length}"},
    "setup_yours": {"en": "{item} (yours)", "zh": "{item}（你设定的）"},
    # what would fit by giving back a choice the user made (checked with the same estimator)
    "fit_batch1": {"en": "batch 1 instead of your {batch} (per_device_train_batch_size: 1)",
                   "zh": "用 batch 1 代替你设定的 {batch}（per_device_train_batch_size: 1）"},
    "fit_gc_on": {"en": "gradient checkpointing back on (disable_gradient_checkpointing: false)",
                  "zh": "重新开启梯度检查点（disable_gradient_checkpointing: false）"},
    "fit_batch1_gc_on": {
        "en": "batch 1 instead of your {batch} with gradient checkpointing back on (per_device_train_batch_size: 1, "
              "disable_gradient_checkpointing: false)",
        "zh": "用 batch 1 代替你设定的 {batch}，并重新开启梯度检查点（per_device_train_batch_size: 1，"
              "disable_gradient_checkpointing: false）"},
    "with_quant": {"en": " and {bits}-bit quantization", "zh": "，并使用 {bits} 位量化"},
    "fit_fsdp": {"en": "{n} x {gpu} with FSDP{quant} (weights, gradients and optimizer states sharded)",
                 "zh": "{n} x {gpu} 配合 FSDP{quant}（权重、梯度和优化器状态分片存放）"},
    "fit_qlora": {"en": "4-bit quantization (quantization_bit: 4, QLoRA)",
                  "zh": "4 位量化（quantization_bit: 4，即 QLoRA）"},
    "fit_lora4": {"en": "LoRA with 4-bit quantization (finetuning_type: lora, quantization_bit: 4)",
                  "zh": "LoRA 配合 4 位量化（finetuning_type: lora，quantization_bit: 4）"},
    "fit_cutoff": {"en": "a shorter cutoff_len: {length}{quant}", "zh": "更短的 cutoff_len：{length}{quant}"},
    "fit_smaller_none": {
        "en": "a smaller model (activations and logits alone exceed the budget at this cutoff_len)",
        "zh": "更小的模型（在这个 cutoff_len 下，光是激活值和 logits 就已超出预算）"},
    "fit_smaller": {"en": "a smaller model: about {size}B parameters or fewer with these settings",
                    "zh": "更小的模型：在这些设置下约 {size}B 参数或更少"},
}
