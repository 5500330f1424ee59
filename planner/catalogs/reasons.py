"""The planner's reasons: why each value of a plan was chosen (``Plan.reasons``).

Part of the one message catalog (see :mod:`ft_tui.planner.messages`): code -> {"en": ..., "zh": ...}.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    "set_by_you": {"en": "set by you", "zh": "由你设定"},
    # precision
    "bf16_unsupported_warning": {
        "en": "bf16: true, but {gpu} has no bf16 support; set bf16: false and fp16: true",
        "zh": "bf16 为 true，但 {gpu} 不支持 bf16；请设 bf16: false 和 fp16: true"},
    "bf16_user_unsupported": {
        "en": "set by you; warning: {gpu} has no bf16 support (use fp16)",
        "zh": "由你设定；注意：{gpu} 不支持 bf16（请改用 fp16）"},
    "fp16_user_bf16_off": {
        "en": "fp16: 16-bit compute halves activation memory; bf16 is off as you set",
        "zh": "fp16：16 位计算让激活显存减半；bf16 已按你的设置关闭"},
    "bf16_user_fp16_off": {
        "en": "bf16: this GPU supports it and it is as stable as fp32 in range",
        "zh": "bf16：这张卡支持，数值范围与 fp32 一样稳"},
    "bf16_off_unsupported": {
        "en": "off: {gpu} has no bf16 (compute capability < 8.0)",
        "zh": "关闭：{gpu} 不支持 bf16（计算能力 < 8.0）"},
    "fp16_on_no_bf16": {
        "en": "fp16 mixed precision: the 16-bit type this GPU supports",
        "zh": "fp16 混合精度：这张卡支持的 16 位类型"},
    "bf16_on": {
        "en": "bf16 mixed precision: this GPU supports it; same range as fp32, no loss scaling",
        "zh": "bf16 混合精度：这张卡支持；数值范围与 fp32 相同，不需要 loss scaling"},
    "bf16_on_assumed": {
        "en": "bf16 mixed precision: assumed (GPU model unknown; use fp16 on pre-Ampere cards); same range as "
              "fp32, no loss scaling",
        "zh": "bf16 混合精度：按支持假定（不知道显卡型号；Ampere 之前的卡请用 fp16）；数值范围与 fp32 相同，"
              "不需要 loss scaling"},
    "fp16_off_bf16_used": {"en": "off: bf16 is used", "zh": "关闭：已使用 bf16"},
    "precision_cpu": {
        "en": "off: no GPU, training would run in fp32 on the CPU",
        "zh": "关闭：没有 GPU，训练会在 CPU 上以 fp32 进行"},
    "hardware_none": {
        "en": "no GPU found: the config is returned unchanged; plan for a target GPU with --gpu (e.g. --gpu "
              "rtx4090, --gpu a100-80gb, --gpu 24GiB)",
        "zh": "未发现 GPU：配置原样返回；可用 --gpu 为目标显卡做计划（如 --gpu rtx4090、--gpu a100-80gb、"
              "--gpu 24GiB）"},
    # context
    "rope_linear": {
        "en": "linear: cutoff_len {cutoff} is {factor}x the model's context ({max_pos}); positions are scaled to "
              "stay in range",
        "zh": "linear：cutoff_len {cutoff} 是模型上下文（{max_pos}）的 {factor} 倍；位置按比例缩放以保持在范围内"},
    "cutoff_p99": {
        "en": "{value}: covers 99% of samples (p99 = {p99} tokens), rounded up",
        "zh": "{value}：覆盖 99% 的样本（p99 = {p99} token），向上取整"},
    "cutoff_default": {
        "en": "{value}: default (no dataset statistics to size it from)",
        "zh": "{value}：默认值（没有数据集统计可参考）"},
    "cutoff_context": {
        "en": "{value}: the model's context length (max_position_embeddings)",
        "zh": "{value}：模型的上下文长度（max_position_embeddings）"},
    "cutoff_shortened": {
        "en": "{value}: shortened from {orig} because nothing fits at {orig}; longer samples are truncated (set "
              "cutoff_len: {orig} to keep it and see what would fit)",
        "zh": "{value}：从 {orig} 缩短，因为 {orig} 时什么都放不下；更长的样本会被截断（设 cutoff_len: {orig} "
              "可保留它，并看到怎样才能放下）"},
    # LoRA
    "lora_rank_model": {
        "en": "{rank}: enough adapter capacity for the {size} model; rank barely changes memory",
        "zh": "{rank}：对 {size} 模型已有足够的适配器容量；秩几乎不影响显存"},
    "lora_rank_data": {
        "en": "{rank}: enough adapter capacity for a small dataset ({rows} rows); rank barely changes memory",
        "zh": "{rank}：小数据集（{rows} 行）用这个容量足够；秩几乎不影响显存"},
    "lora_alpha": {
        "en": "{alpha}: 2 x rank, a common scale for the adapter update",
        "zh": "{alpha}：秩的 2 倍，适配器更新常用的缩放"},
    # gradient checkpointing
    "gc_off_fits": {
        "en": "checkpointing off: batch {batch} fits without it (no recomputation, ~25% faster)",
        "zh": "关闭重计算：不开也能放下 batch {batch}（不用重算，约快 25%）"},
    "gc_on_bigger_batch": {
        "en": "checkpointing on: without it only batch {off} fits, with it batch {on}",
        "zh": "开启重计算：不开只能放下 batch {off}，开了能放 batch {on}"},
    "gc_on_needed": {
        "en": "checkpointing on: needed to fit (keeps one input per layer and recomputes the rest)",
        "zh": "开启重计算：不开放不下（每层只保留输入，其余在反向时重算）"},
    "gc_off_no_gain": {
        "en": "checkpointing off: checkpointing would not allow a larger batch than {batch}",
        "zh": "关闭重计算：开了也放不下比 {batch} 更大的 batch"},
    # quantization
    "quant_none": {"en": "none: the 16-bit base model fits, best quality",
                   "zh": "不量化：16 位基座放得下，效果最好"},
    "quant_8": {"en": "8-bit: the 16-bit base does not fit; 8-bit loses less quality than 4-bit",
                "zh": "8-bit：16 位基座放不下；8-bit 比 4-bit 损失的效果更少"},
    "quant_4": {"en": "4-bit NF4 (QLoRA): neither the 16-bit nor the 8-bit base fits",
                "zh": "4-bit NF4（QLoRA）：16 位和 8 位基座都放不下"},
    "quant_not_lora": {"en": "none: quantization applies to LoRA only ({method} tuning)",
                       "zh": "不量化：量化只用于 LoRA（当前是 {method}）"},
    # optimizer
    "optim_adamw_torch": {"en": "adamw_torch: standard AdamW; its states fit",
                          "zh": "adamw_torch：标准 AdamW，优化器状态放得下"},
    "optim_adamw_torch_fused": {"en": "adamw_torch_fused: fused AdamW avoids the step's temporary buffers",
                                "zh": "adamw_torch_fused：融合版 AdamW，省掉更新步的临时缓冲"},
    "optim_adamw_bnb_8bit": {"en": "adamw_bnb_8bit: 8-bit states (~2 B/param instead of 8) are needed to fit",
                             "zh": "adamw_bnb_8bit：要用 8 位状态（每参数约 2 字节而不是 8）才放得下"},
    "optim_paged_adamw_8bit": {"en": "paged_adamw_8bit: 8-bit states that can spill to CPU RAM, needed to fit",
                               "zh": "paged_adamw_8bit：可换出到内存的 8 位状态，这样才放得下"},
    # batch
    "batch_fit": {"en": "{batch}: the largest power of two that fits with the {margin} margin",
                  "zh": "{batch}：预留 {margin} 后放得下的最大 2 的幂"},
    "batch_fit_capped": {
        "en": "{batch}: the largest power of two that fits with the {margin} margin (capped by "
              "target_effective_batch {target})",
        "zh": "{batch}：预留 {margin} 后放得下的最大 2 的幂（受 target_effective_batch {target} 限制）"},
    "grad_accum": {
        "en": "{ga}: {batch} x {ga} = {total} samples per optimizer step (target_effective_batch {target})",
        "zh": "{ga}：{batch} x {ga} = 每次优化器更新 {total} 个样本（target_effective_batch {target}）"},
    "grad_accum_gpus": {
        "en": "{ga}: {batch} x {ga} x {n} GPUs = {total} samples per optimizer step (target_effective_batch "
              "{target})",
        "zh": "{ga}：{batch} x {ga} x {n} 卡 = 每次优化器更新 {total} 个样本（target_effective_batch {target}）"},
    # uncertainty band
    "memory_band_safe": {
        "en": "the whole uncertainty band of the estimate ({low}-{high} GiB) fits the {budget} GiB budget",
        "zh": "估算的整个不确定区间（{low}-{high} GiB）都在 {budget} GiB 预算之内"},
    "memory_band_edge": {
        "en": "within the uncertainty band of the limit: the estimate ({peak} GiB) fits the {budget} GiB budget but "
              "its high end ({high} GiB) does not; safe with the whole band: {lean}",
        "zh": "处在上限的不确定区间内：估算值（{peak} GiB）在 {budget} GiB 预算之内，但区间上端（{high} GiB）"
              "超出；想让整个区间都放得下：{lean}"},
    "memory_band_edge_no_lean": {
        "en": "within the uncertainty band of the limit: the estimate ({peak} GiB) fits the {budget} GiB budget but "
              "its high end ({high} GiB) does not, and no single leaner setting keeps the whole band under it (free GPU "
              "memory, or use a smaller model)",
        "zh": "处在上限的不确定区间内：估算值（{peak} GiB）在 {budget} GiB 预算之内，但区间上端（{high} GiB）"
              "超出，而且没有哪一项更省的设置能让整个区间放下（请腾出显存或换更小的模型）"},
    # multi-GPU
    "strategy_single": {"en": "one GPU", "zh": "单卡"},
    "strategy_ddp": {"en": "DDP on {n} GPUs: the run fits one GPU, each holds a full copy",
                     "zh": "{n} 卡 DDP：单卡放得下，每张卡存一份完整副本"},
    "strategy_fsdp": {
        "en": "FSDP on {n} GPUs: the run does not fit one GPU; weights, gradients and states are sharded",
        "zh": "{n} 卡 FSDP：单卡放不下；权重、梯度和优化器状态分片存放"},
}
