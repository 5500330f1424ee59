"""LLaMA-Factory's and transformers' argument names that ft-tui accepts without implementing them.

A LLaMA-Factory user's YAML file loads unchanged: a key of LLaMA-Factory (its ModelArguments, DataArguments,
FinetuningArguments, GeneratingArguments, TrainingArguments) or of transformers' ``TrainingArguments`` (the committed
list ``data/hf_training_args.yaml``) that is not in the schema (:mod:`.config`) loads with a warning saying why it
has no effect here (:func:`no_effect_reason`); any other unknown key stays an error.

No torch, no textual: imported on every start-up path through :mod:`.config`.
"""

from __future__ import annotations

import functools
from importlib import resources

import yaml

from .messages import Msg

# LLaMA-Factory keys that have no effect here, with the specific reason: accepted with a warning, so its users'
# files load. Values are :class:`Msg` reasons (English text; ``render(msg, lang)`` for Chinese).
_IGNORED_REASONS: dict[str, str | None] = {
    "do_train": "why_do_train",
    "do_eval": "why_do_eval",
    "do_predict": "why_do_predict",
    "plot_loss": "why_plot_loss",
    "overwrite_output_dir": "why_own_run_dir",
    "overwrite_cache": "why_overwrite_cache",
    "preprocessing_num_workers": "why_preprocessing",
    "dataloader_num_workers": "why_loader",
    "ddp_timeout": "why_ddp_timeout",
    "save_only_model": "why_save_only_model",
    "resume_from_checkpoint": "why_resume",
    "quantization_method": "why_quantization_method",
    "use_unsloth": "why_unsloth",
    "enable_liger_kernel": "why_liger",
    "use_liger_kernel": "why_liger",
    "upcast_layernorm": "why_upcast_layernorm",
    "neftune_noise_alpha": "why_neftune",
    "include_num_input_tokens_seen": "why_tokens_seen",
    "eval_strategy": "why_eval_strategy",
    "evaluation_strategy": "why_eval_strategy",
    "save_strategy": "why_save_strategy",
    "logging_strategy": "why_logging_strategy",
    "mix_strategy": "why_mix_strategy",
    "tokenized_path": "why_tokenized_path",
    "streaming": "why_streaming",
    "deepspeed": "why_deepspeed",
    "pure_bf16": "why_pure_bf16",
    "use_rslora": "why_rslora",
    "use_dora": "why_dora",
    "pissa_init": "why_pissa",
    "loraplus_lr_ratio": "why_loraplus",
    "create_new_adapter": "why_new_adapter",
    "additional_target": "why_additional_target",
    "adapter_name_or_path": "why_adapter_path",
    "freeze_trainable_modules": "why_freeze_modules",
    "freeze_extra_modules": "why_freeze_modules",
    "mask_history": "why_mask_history",
    "neat_packing": "why_neat_packing",
    "enable_thinking": "why_enable_thinking",
    "default_system": "why_default_system",
    "resize_vocab": "why_resize_vocab",
    "cache_dir": "why_cache_dir",
    "logging_dir": "why_logging_dir",
    "run_name": "why_run_name",
    "hf_hub_token": "why_hf_token",
    "ms_hub_token": "why_modelscope",
    "om_hub_token": "why_openmind",
    "use_fast_tokenizer": "why_fast_tokenizer",
    "flash_attn_dtype": "why_attn_dtype",
    "quantization_device_map": "why_device_map",
    "eval_dataset": "why_eval_dataset",
    "gradient_checkpointing": "why_gradient_checkpointing",
    "lr_scheduler_kwargs": "why_scheduler_kwargs",
    "finetuning_args": None,
    "bf16_full_eval": "why_full_eval",
    # keys a user may rely on: say what to do instead
    "push_to_hub": "why_hub",
    "load_best_model_at_end": "why_best_model",
    "metric_for_best_model": "why_best_model",
    "greater_is_better": "why_best_model",
    "torch_compile": "why_compile",
    "tf32": "why_tf32",
    "save_safetensors": "why_safetensors",
    "adafactor": "why_adafactor",
    "model_revision": "why_model_revision",
}
LLAMAFACTORY_IGNORED: dict[str, Msg | str] = {
    key: (Msg(code) if code else "") for key, code in _IGNORED_REASONS.items()
}

#: LLaMA-Factory's own argument names: the fields of its ModelArguments, DataArguments, FinetuningArguments and
#: GeneratingArguments and the ones its TrainingArguments adds to transformers' (which come from
#: data/hf_training_args.yaml). Written from the dataclasses in llamafactory 0.9.5 (PyPI, src/llamafactory/hparams/;
#: the init=False fields compute_dtype, device_map, model_max_length and block_diag_attn are not arguments), plus
#: new_special_tokens, the name older releases used for add_special_tokens.
LLAMAFACTORY_KEYS: frozenset[str] = frozenset("""
    model_name_or_path adapter_name_or_path adapter_folder cache_dir use_fast_tokenizer resize_vocab
    split_special_tokens add_tokens add_special_tokens new_special_tokens new_special_tokens_config
    init_special_tokens model_revision low_cpu_mem_usage rope_scaling flash_attn shift_attn mixture_of_depths
    use_unsloth use_unsloth_gc enable_liger_kernel moe_aux_loss_coef disable_gradient_checkpointing use_reentrant_gc
    upcast_layernorm upcast_lmhead_output train_from_scratch infer_backend offload_folder use_kv_cache use_v1_kernels
    infer_dtype hf_hub_token ms_hub_token om_hub_token print_param_status trust_remote_code
    quantization_method quantization_bit quantization_type double_quantization quantization_device_map
    image_max_pixels image_min_pixels image_do_pan_and_scan crop_to_patches video_max_pixels video_min_pixels
    video_fps video_maxlen use_audio_in_video audio_sampling_rate
    export_dir export_size export_device export_quantization_bit export_quantization_dataset
    export_quantization_nsamples export_quantization_maxlen export_legacy_format export_hub_model_id
    vllm_maxlen vllm_gpu_util vllm_enforce_eager vllm_max_lora_rank vllm_config
    sglang_maxlen sglang_mem_fraction sglang_tp_size sglang_config sglang_lora_backend
    use_kt kt_weight_path kt_expert_checkpoint_path kt_use_lora_experts kt_lora_expert_num
    kt_lora_expert_intermediate_size

    template dataset eval_dataset dataset_dir media_dir cutoff_len train_on_prompt mask_history streaming
    buffer_size mix_strategy interleave_probs overwrite_cache preprocessing_batch_size preprocessing_num_workers
    max_samples eval_num_beams ignore_pad_token_for_loss val_size eval_on_each_dataset packing neat_packing
    tool_format default_system enable_thinking preserve_thinking tokenized_path data_shared_file_system

    freeze_trainable_layers freeze_trainable_modules freeze_extra_modules
    additional_target lora_alpha lora_dropout lora_rank lora_target loraplus_lr_ratio loraplus_lr_embedding
    use_rslora use_dora pissa_init pissa_iter pissa_convert create_new_adapter
    module_dropout oft_rank oft_block_size oft_target
    pref_beta pref_ftx pref_bco_weight pref_loss dpo_label_smoothing kto_chosen_weight kto_rejected_weight
    simpo_gamma ppo_buffer_size ppo_epochs ppo_score_norm ppo_target ppo_whiten_rewards ref_model
    ref_model_adapters ref_model_quantization_bit reward_model reward_model_adapters reward_model_quantization_bit
    reward_model_type ld_alpha
    use_galore galore_target galore_rank galore_update_interval galore_scale galore_proj_type galore_layerwise
    use_apollo apollo_target apollo_rank apollo_update_interval apollo_scale apollo_proj apollo_proj_type
    apollo_scale_type apollo_layerwise apollo_scale_front
    use_badam badam_mode badam_start_block badam_switch_mode badam_switch_interval badam_update_ratio
    badam_mask_mode badam_verbose
    use_swanlab swanlab_project swanlab_workspace swanlab_run_name swanlab_mode swanlab_api_key swanlab_logdir
    swanlab_lark_webhook_url swanlab_lark_secret
    pure_bf16 stage finetuning_type use_llama_pro use_adam_mini use_mca use_hyper_parallel hyper_parallel_args
    use_muon use_dft_loss use_asft_loss asft_alpha use_eaft_loss eaft_alpha freeze_vision_tower
    freeze_multi_modal_projector freeze_language_model compute_accuracy disable_shuffling early_stopping_steps
    plot_loss include_effective_tokens_per_second

    do_sample temperature top_p top_k num_beams max_length max_new_tokens repetition_penalty length_penalty
    skip_special_tokens

    overwrite_output_dir ray_num_workers ray_init_kwargs master_addr master_port enable_torch_profiler
    profiler_output_dir profiler_wait_steps profiler_warmup_steps profiler_active_steps profiler_repeat
    profiler_record_shapes profiler_profile_memory profiler_with_stack profile_modules fp8 fp8_backend
    fp8_enable_fsdp_float8_all_gather
""".split())

#: LLaMA-Factory GeneratingArguments: sampling settings for its chat, predict and PPO paths.
_GENERATION_KEYS = frozenset(
    "do_sample temperature top_p top_k num_beams max_length max_new_tokens repetition_penalty length_penalty "
    "skip_special_tokens".split())

# Families of LLaMA-Factory / transformers keys that share one reason. An entry ending in "_" is a name prefix,
# any other entry an exact name; only names from the two lists above are matched, so a typo is never excused.
_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("why_hub", ("push_to_hub", "push_to_hub_", "hub_", "export_hub_model_id")),
    ("why_compile", ("torch_compile_", "torchdynamo")),
    ("why_export", ("export_",)),
    ("why_generation", tuple(_GENERATION_KEYS)),
    ("why_predict", ("predict_with_generate", "generation_", "compute_accuracy", "include_for_metrics",
                     "include_inputs_for_metrics", "batch_eval_metrics", "eval_num_beams", "sortish_sampler")),
    ("why_rlhf", ("pref_", "dpo_", "kto_", "ppo_", "simpo_gamma", "ld_alpha", "ref_model", "ref_model_",
                  "reward_model", "reward_model_")),
    ("why_inference", ("infer_backend", "infer_dtype", "use_kv_cache", "vllm_", "sglang_")),
    ("why_multimodal", ("image_", "video_", "audio_", "use_audio_in_video", "crop_to_patches", "media_dir",
                        "freeze_vision_tower", "freeze_multi_modal_projector", "freeze_language_model")),
    ("why_optimizer", ("use_galore", "galore_", "use_apollo", "apollo_", "use_badam", "badam_", "use_adam_mini",
                       "use_muon")),
    ("why_swanlab", ("use_swanlab", "swanlab_")),
    ("why_new_tokens", ("add_tokens", "add_special_tokens", "new_special_tokens", "new_special_tokens_config",
                        "init_special_tokens")),
    ("why_multi_gpu", ("fsdp", "fsdp_", "ddp_", "accelerator_config", "parallelism_config", "local_rank")),
    ("why_loader", ("dataloader_",)),
)


@functools.cache
def hf_training_args() -> tuple[frozenset[str], frozenset[str]]:
    """transformers' Seq2SeqTrainingArguments field names: (the pinned release's, older releases' only).

    Read from ``data/hf_training_args.yaml`` on first use (only an unknown key needs it), so loading stays fast.
    """
    text = resources.files("ft_tui.planner").joinpath("data/hf_training_args.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return frozenset(data["fields"]), frozenset(data["older_fields"])


def _family(key: str) -> str | None:
    for code, names in _FAMILIES:
        if any(key == n or (n.endswith("_") and key.startswith(n)) for n in names):
            return code
    return None


def no_effect_reason(key: str) -> Msg | str | None:
    """Why ``key`` (not a schema key) is accepted with a warning, or None when it is no key we know of.

    LLaMA-Factory's own argument names and transformers' training argument names (what LLaMA-Factory parses its
    YAML into) are known; anything else is a typo or a foreign key and stays an error. An empty string means no
    reason is given.
    """
    if key in LLAMAFACTORY_IGNORED:
        return LLAMAFACTORY_IGNORED[key]
    current, older = hf_training_args()
    if key not in LLAMAFACTORY_KEYS and key not in current and key not in older:
        return None
    family = _family(key)
    if family:
        return Msg(family)
    if key in LLAMAFACTORY_KEYS:
        return Msg("why_llamafactory")
    return Msg("why_transformers" if key in current else "why_transformers_old")
