"""Check the planner's memory terms against what autograd and the allocator really hold, on real model shapes.

    python bench/activation_truth.py [--json] [--quick] [--only SHAPE,...] [--results-dir DIR] [--no-write]

The bytes autograd saves for backward are the same on a CPU and on a GPU for the same shapes and dtypes; what a GPU
adds (allocator rounding and caching, the CUDA context, kernels' workspaces) is a separate term the planner keeps in
one place (``planner/train_setup.py``, "GPU-only terms"). This script measures the first part here, with the real layer
code of transformers and peft, for real model shapes from the planner's catalog:

* the model is the catalog entry's ``config.json`` fields with ``num_hidden_layers`` reduced to 1 or 2 (the
  embedding, final norm, lm_head and loss at their real sizes), built through transformers' config classes with
  random weights, then prepared for training by the runner's own code (``runner.modeling``: load dtype, attention
  kernel, LoRA targets and config, freeze, gradient checkpointing; QLoRA through bitsandbytes via the runner's
  ``build_model`` on a saved checkpoint);
* one training step is run as the Trainer runs it (the forward under ``torch.autocast`` with bf16/fp16, the
  outputs dropped, ``loss.backward()``), either on fake tensors (``torch._subclasses.FakeTensorMode``: every op
  runs its real shape/dtype logic and allocates nothing, so a Llama-3-8B layer at 2048 tokens costs no memory and
  little time) or on real CPU tensors (QLoRA, MoE routing, and the cross-checks that fake and real agree);
* measured: every tensor saved for backward (``torch.autograd.graph.saved_tensors_hooks``), deduplicated by
  storage and attributed to the decoder layer that saved it; every storage the step creates and frees (a
  ``TorchDispatchMode`` that records each op's outputs and a finalizer on each storage), which gives the peak of
  live bytes, split into data-derived (activations, logits, gradients) and weight-derived (autocast's 16-bit weight
  copies, bitsandbytes' dequantized weights); on real tensors also the allocator's own peak from
  ``torch.profiler`` memory events, as a check of the tracker.

Compared, per setting, with the planner's functions for the same config and the same reduced layer count
(``planner.memory``: ``weight_bytes``, ``autocast_copy_bytes``, ``activation_bytes``, ``logits_bytes``, and the
forward/backward peak that ``estimate_setup`` assembles), it prints one table: term, measured, planned, error.
Acceptance: every term within 5 % (``TOLERANCE``), or the table says why the term cannot be measured on a CPU.
Writes ``bench/results/activation_truth.json`` (machine, date, versions, every row).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import os
import sys
import tempfile
import time
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (bench/common.py, next to this script)

RESULT_NAME = "activation_truth"
TOLERANCE = 0.05
PAD = 8                 # padded positions at the end of the batch (see run_step)
SMALL_TERM = 0.001      # a term below 0.1 % of the peak is judged against the peak (it cannot move it by 5 %)
MIB = 1024 ** 2

#: Catalog shapes measured (label -> catalog id). TinyLlama is not in the catalog: its config.json fields are here.
SHAPES: dict[str, str] = {
    "llama3-8b": "meta-llama/Meta-Llama-3-8B",
    "qwen2.5-7b": "Qwen/Qwen2.5-7B",
    "gemma2-2b": "google/gemma-2-2b",
    "phi3-mini": "microsoft/Phi-3-mini-4k-instruct",
    "qwen3-30b-a3b": "Qwen/Qwen3-30B-A3B",
    "mixtral-8x7b": "mistralai/Mixtral-8x7B-v0.1",
    "tinyllama": "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T",
}
TINYLLAMA_CONFIG = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 2048, "intermediate_size": 5632,
    "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4, "vocab_size": 32000,
    "tie_word_embeddings": False, "max_position_embeddings": 2048, "rope_theta": 10000.0, "torch_dtype": "float32",
}


@dataclass(frozen=True)
class Case:
    """One setting of one shape."""

    shape: str
    method: str = "lora"            # lora | full | freeze
    quant: int | None = None        # 4 | 8 (LoRA only; real tensors through bitsandbytes)
    dtype: str = "bf16"             # bf16 | fp16 | fp32
    gc: bool = False
    dropout: float = 0.0
    attn: str = "sdpa"              # sdpa | eager
    targets: str = "all"            # all | attn
    rank: int = 8
    seq: int = 512
    layers: int = 2
    freeze: int = 1                 # freeze_trainable_layers
    adapter_fp32: bool = True       # peft's default (the runner's); False: adapters in the 16-bit compute dtype
    real: bool = False              # real CPU tensors (else fake tensors)

    @property
    def id(self) -> str:
        parts = [self.shape, self.method + (f"{self.quant}bit" if self.quant else ""), self.dtype,
                 f"gc{'on' if self.gc else 'off'}", f"do{self.dropout:g}", self.attn, f"t-{self.targets}",
                 f"r{self.rank}", f"s{self.seq}", f"L{self.layers}"]
        if self.method == "freeze":
            parts.append(f"k{self.freeze}")
        if not self.adapter_fp32:
            parts.append("16bit-adapters")
        if self.real:
            parts.append("real")
        return "/".join(parts)


ATTN_TARGETS = "q_proj,k_proj,v_proj,o_proj"


def _targets(case: Case, spec) -> str:
    if case.targets == "all":
        return "all"
    names = set(_linear_names(spec))
    wanted = [t for t in ("q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj") if t in names]
    return ",".join(wanted)


def _linear_names(spec) -> list[str]:
    return [n.split(".")[-1] for n in _count_params(spec).per_layer_linear]


def _count_params(spec):
    """``planner.params.count_params`` (``planner.models`` in a checkout that predates the split: ``--before``)."""
    try:
        from ft_tui.planner.params import count_params
    except ImportError:
        from ft_tui.planner.models import count_params
    return count_params(spec)


# ================================================================================================================
# Shapes: catalog config -> reduced HF config and planner spec
# ================================================================================================================

def shape_config(label: str) -> tuple[str, dict[str, Any]]:
    """(model id, config.json fields) of a shape. ``<shape>-v<N>`` is the shape with a vocabulary of N entries:
    the probes where a layer's backward, not the loss, is the peak (checks the planner's layer-backward term)."""
    base, _, vocab = label.rpartition("-v")
    if base in SHAPES and vocab.isdigit():
        model_id, fields = shape_config(base)
        return model_id, {**fields, "vocab_size": int(vocab)}
    model_id = SHAPES[label]
    if label == "tinyllama":
        return model_id, dict(TINYLLAMA_CONFIG)
    from ft_tui.planner.models import inspect_model

    spec = inspect_model(model_id, allow_network=False)
    return model_id, dict(spec.raw_config or {})


def reduced(label: str, layers: int) -> tuple[Any, Any, dict[str, Any]]:
    """(transformers config, planner ModelSpec, fields) of ``label`` with ``layers`` decoder layers."""
    try:
        from ft_tui.planner.model_spec import spec_from_config
    except ImportError:  # a checkout that predates the split (``--before``)
        from ft_tui.planner.models import spec_from_config
    from transformers import AutoConfig

    model_id, fields = shape_config(label)
    fields = {**fields, "num_hidden_layers": layers}
    if "mlp_only_layers" in fields:
        fields["mlp_only_layers"] = [i for i in fields["mlp_only_layers"] if i < layers]
    # the planner needs at least one layer; the layer-free model (logits alone) has no planner spec
    spec = spec_from_config(fields, name=model_id, source="bench", where=f"bench shape {label}") if layers else None
    hf_fields = {k: v for k, v in fields.items() if k not in ("model_type", "torch_dtype", "architectures")}
    config = AutoConfig.for_model(fields["model_type"], **hf_fields)
    config.use_cache = False
    return config, spec, fields


def train_config(case: Case, model_ref: str, spec) -> Any:
    """The run config (schema keys) of a case."""
    from ft_tui.planner.config import config_from_dict

    data = {
        "model_name_or_path": model_ref, "finetuning_type": case.method, "quantization_bit": case.quant,
        "bf16": case.dtype == "bf16", "fp16": case.dtype == "fp16", "disable_gradient_checkpointing": not case.gc,
        "flash_attn": "disabled" if case.attn == "eager" else "auto", "lora_rank": case.rank,
        "lora_dropout": case.dropout, "lora_target": _targets(case, spec), "cutoff_len": case.seq,
        "per_device_train_batch_size": 1, "gradient_accumulation_steps": 1, "freeze_trainable_layers": case.freeze,
    }
    return config_from_dict(data)


# ================================================================================================================
# Building the model the runner's way
# ================================================================================================================

def _load_dtype(cfg) -> Any:
    """``runner.modeling.load_dtype`` (the same rule inline for a checkout that predates it: ``--before``)."""
    import torch
    from ft_tui.runner import modeling

    if hasattr(modeling, "load_dtype"):
        return modeling.load_dtype(cfg)
    return torch.float32 if cfg.finetuning_type == "full" else modeling.compute_dtype(cfg)


def build_fake(case: Case, cfg, hf_config, mode) -> Any:
    """The model on fake CPU tensors: built on the meta device, prepared by the runner's code, then every parameter
    and buffer replaced by a fake CPU tensor of the same shape, dtype and sharing (tied weights stay tied)."""
    import torch
    from ft_tui.runner import modeling
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config, dtype=_load_dtype(cfg),
                                                 attn_implementation=modeling.attn_implementation(cfg))
        model.config.use_cache = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = modeling._prepare_for_training(cfg, model, False, {})
        if not case.adapter_fp32:  # on a real device peft casts new adapters to the base dtype; meta skips it
            for name, p in model.named_parameters():
                if "lora_" in name:
                    p.data = p.data.to(modeling.compute_dtype(cfg))
    return _fakeify(model, mode)


_CHECKPOINTS: dict[tuple[str, int], str] = {}


def checkpoint_dir(label: str, layers: int, work: Path) -> str:
    """A random-weight bf16 checkpoint of the reduced shape on disk (made once per shape and layer count)."""
    import torch
    from transformers import AutoModelForCausalLM

    key = (label, layers)
    if key in _CHECKPOINTS:
        return _CHECKPOINTS[key]
    hf_config, _, _ = reduced(label, layers)
    folder = work / f"{label}-L{layers}"
    if not (folder / "config.json").is_file():
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AutoModelForCausalLM.from_config(hf_config, dtype=torch.bfloat16)
        model.save_pretrained(str(folder), safe_serialization=True)
        del model
        gc.collect()
    _CHECKPOINTS[key] = str(folder)
    return str(folder)


def build_real(cfg) -> Any:
    """The model on real CPU tensors, exactly as the runner builds it (``runner.modeling.build_model``)."""
    from ft_tui.runner.modeling import build_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = build_model(cfg, device_map={"": "cpu"} if cfg.quantization_bit else None)
    return model


# ================================================================================================================
# Measuring one step
# ================================================================================================================

def _key(t) -> int:
    return t.untyped_storage()._cdata


def _nbytes(t) -> int:
    return int(t.untyped_storage().nbytes())


class Probe:
    """Records, for one training step, what is saved for backward and every storage the step creates.

    * ``saved[scope]``: bytes of the distinct storages saved for backward while ``scope`` ran (a decoder layer
      ``layer<i>``, ``head`` for the final norm / lm_head / loss, ``model`` for the rest), data-derived only;
      ``saved_weights``: weight-derived storages saved (autocast copies, the weights themselves are excluded);
    * ``peak``: the highest live bytes (weights and buffers included) over the step; ``peak_data`` and
      ``peak_weight_copies``: the same for data-derived and weight-derived storages created by the step.
    """

    def __init__(self, model) -> None:
        self.scope = "model"
        self.origin: dict[int, tuple[str, bool]] = {}   # storage -> (scope created in, data-derived)
        self.base: set[int] = set()
        self.inputs: set[int] = set()                   # the batch: data, but allocated before the step
        self.base_bytes = 0
        self.live = self.live_data = self.live_weights = 0
        self.peak = self.peak_data = self.peak_weights = 0
        self.peak_at = ""
        self.saved: dict[str, int] = {}
        self.saved_weights = 0
        self.recomputed: dict[int, int] = {}              # checkpoint recomputation -> bytes it saved
        self.ops: dict[int, str] = {}
        self._saved_keys: set[int] = set()
        for t in _model_tensors(model):
            k = _key(t)
            if k not in self.base:
                self.base.add(k)
                self.base_bytes += _nbytes(t)
        self.live = self.peak = self.base_bytes
        self._handles: list[Any] = []
        self._hook_modules(model)

    # ---- scopes
    def _hook_modules(self, model) -> None:
        from ft_tui.runner.modeling import decoder_layers

        layers = decoder_layers(model) if getattr(model.config, "num_hidden_layers", 0) else []
        for i, layer in enumerate(layers):
            self._scope(layer, f"layer{i}")
        inner = _inner_model(model)
        for name in ("norm", "final_layernorm"):
            if hasattr(inner, name):
                self._scope(getattr(inner, name), "head", restore=False)
        head = model.get_output_embeddings()
        if head is not None:
            self._scope(head, "head", restore=False)
        emb = model.get_input_embeddings()
        self._scope(emb, "embed")
        rot = getattr(inner, "rotary_emb", None)
        if rot is not None:
            self._scope(rot, "rotary")

    def _scope(self, module, name: str, restore: bool = True) -> None:
        def pre(mod, args, kwargs=None):
            mod._probe_prev = self.scope
            self.scope = name

        def post(mod, args, out):
            if restore:
                self.scope = getattr(mod, "_probe_prev", "model")
            return out

        self._handles.append(module.register_forward_pre_hook(pre))
        self._handles.append(module.register_forward_hook(post))

    def close(self) -> None:
        for h in self._handles:
            h.remove()

    # ---- storages
    def created(self, t, data: bool, op: str = "") -> None:
        k = _key(t)
        if k in self.origin or k in self.base or k in self.inputs:
            return
        n = _nbytes(t)
        self.origin[k] = (self.scope, data)
        self.ops[k] = op
        self.live += n
        if data:
            self.live_data += n
        else:
            self.live_weights += n
        if self.live > self.peak:
            self.peak, self.peak_at = self.live, self.scope
        self.peak_data = max(self.peak_data, self.live_data)
        self.peak_weights = max(self.peak_weights, self.live_weights)
        weakref.finalize(t.untyped_storage(), self._freed, k, n, data)

    def _freed(self, k: int, n: int, data: bool) -> None:
        self.origin.pop(k, None)
        self.live -= n
        if data:
            self.live_data -= n
        else:
            self.live_weights -= n

    def is_data(self, t) -> bool:
        k = _key(t)
        if k in self.inputs:
            return True
        if k in self.base:
            return False
        origin = self.origin.get(k)
        return True if origin is None else origin[1]

    # ---- saved tensors
    def pack(self, t):
        k = _key(t)
        if k not in self._saved_keys:
            self._saved_keys.add(k)
            if k in self.base and k not in self.inputs:
                pass
            elif self.is_data(t):
                origin = self.origin.get(k, ("input", True))[0]
                scope = "shared" if origin in ("rotary", "model", "input") and self.scope != "head" else self.scope
                self.saved[scope] = self.saved.get(scope, 0) + _nbytes(t)
            else:
                self.saved_weights += _nbytes(t)
        return t


def _inner_model(model):
    """The decoder stack (``LlamaModel`` & co.) under the peft and CausalLM wrappers."""
    m = model
    for _ in range(4):
        if hasattr(m, "get_base_model"):
            m = m.get_base_model()
        elif hasattr(m, "model") and not hasattr(m, "layers"):
            m = m.model
        else:
            break
    return m


def _model_tensors(model):
    for p in model.parameters():
        yield p
        qs = getattr(p, "quant_state", None)
        if qs is not None:
            yield from _quant_state_tensors(qs)
    yield from model.buffers()


def _quant_state_tensors(qs):
    import torch

    for v in vars(qs).values():
        if isinstance(v, torch.Tensor):
            yield v
        elif hasattr(v, "absmax"):
            yield from _quant_state_tensors(v)


def _dispatch_mode(probe: Probe):
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
            data = not inputs or any(probe.is_data(t) for t in inputs)
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    probe.created(t, data, str(func))
            return out

    return Recorder()


@contextlib.contextmanager
def _recomputations(probe: Probe):
    """Also see what gradient checkpointing's recomputation saves: torch's non-reentrant checkpoint stores the
    recomputed layer's saved tensors through its own ``_recomputation_hook`` (not ours); each hook instance is one
    layer's recomputation, ``probe.recomputed`` holds the data-derived bytes of each (distinct storages)."""
    from torch.utils import checkpoint

    original = checkpoint._recomputation_hook.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        inner, seen, slot = self.pack_hook, set(), id(self)

        def pack(x):
            k = _key(x)
            if k not in seen and k not in probe.base and probe.is_data(x):
                seen.add(k)
                probe.recomputed[slot] = probe.recomputed.get(slot, 0) + _nbytes(x)
            return inner(x)

        self.pack_hook = pack

    checkpoint._recomputation_hook.__init__ = init
    try:
        yield
    finally:
        checkpoint._recomputation_hook.__init__ = original


def _allocator_peak(fn) -> tuple[Any, int]:
    """Run ``fn`` under ``torch.profiler`` with memory events; returns (fn's result, peak of allocated bytes above
    the start, summed from the allocator's own alloc/free events in time order)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    events = []
    for e in prof.profiler.kineto_results.events():
        if e.name() == "[memory]":
            events.append((e.start_ns(), e.nbytes()))
    events.sort()
    live = peak = 0
    for _, n in events:
        live += n
        peak = max(peak, live)
    return result, peak


def run_step(model, case: Case, vocab: int, *, fake_mode=None, allocator: bool = False) -> dict[str, Any]:
    """One training step as the Trainer runs it; returns the probe's figures."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[case.dtype]
    ctx = fake_mode if fake_mode is not None else contextlib.nullcontext()
    with ctx:
        g = torch.Generator().manual_seed(0) if fake_mode is None else None
        ids = torch.randint(0, vocab, (1, case.seq), generator=g) if g else torch.randint(0, vocab, (1, case.seq))
        # the runner's collator pads every batch to its longest row (to a multiple of 8 on a GPU): the last PAD
        # positions are padding, so attention gets a mask, as in training (never the mask-free is_causal path)
        mask = torch.ones(1, case.seq, dtype=torch.long)
        mask[:, -PAD:] = 0
        labels = ids.masked_fill(mask == 0, -100)
    probe = Probe(model)
    probe.inputs.update(_key(t) for t in (ids, mask, labels))

    def step() -> float:
        with ctx, _dispatch_mode(probe), _recomputations(probe), \
                torch.autograd.graph.saved_tensors_hooks(probe.pack, lambda t: t):
            amp = torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
            with amp:
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            probe.scope = "backward"
            loss.backward()
            return 0.0 if fake_mode is not None else float(loss.detach())

    t0 = time.perf_counter()
    if allocator:
        _, alloc_peak = _allocator_peak(step)
    else:
        step()
        alloc_peak = None
    probe.close()
    out = {"base_bytes": probe.base_bytes, "saved": dict(probe.saved), "saved_weights": probe.saved_weights,
           "recomputed": max(probe.recomputed.values(), default=0),
           "peak": probe.peak, "peak_data": probe.peak_data, "peak_weight_copies": probe.peak_weights,
           "peak_scope": probe.peak_at, "seconds": round(time.perf_counter() - t0, 2)}
    if alloc_peak is not None:
        out["allocator_peak_above_start"] = alloc_peak
    model.zero_grad(set_to_none=True)
    return out


def build_head(case: Case, hf_config, mode) -> Any:
    """The same shape without decoder layers (embedding -> final norm -> lm_head -> loss), every weight frozen and
    the embedding's output requiring grad, so the step measures the logits and the loss alone."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[case.dtype]
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config, dtype=dtype)
    model.config.use_cache = False
    model.requires_grad_(False)
    model.get_input_embeddings().register_forward_hook(lambda mod, args, out: out.requires_grad_(True))
    return _fakeify(model, mode)


def _fakeify(model, mode):
    import torch

    memo: dict[int, Any] = {}
    with mode:
        for mod in model.modules():
            for name, p in list(mod._parameters.items()):
                if p is None:
                    continue
                if id(p) not in memo:
                    memo[id(p)] = torch.nn.Parameter(torch.empty(p.shape, dtype=p.dtype, device="cpu"),
                                                     requires_grad=p.requires_grad)
                mod._parameters[name] = memo[id(p)]
            for name, b in list(mod._buffers.items()):
                if b is not None:
                    mod._buffers[name] = torch.zeros(b.shape, dtype=b.dtype, device="cpu")
    model.train()
    return model


def build_direct(case: Case, cfg, hf_config) -> Any:
    """Real CPU tensors without a checkpoint: transformers' config class with random weights, then the runner's
    own preparation (what ``build_model`` does after ``from_pretrained``)."""
    import torch
    from ft_tui.runner import modeling
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config, dtype=_load_dtype(cfg),
                                                 attn_implementation=modeling.attn_implementation(cfg))
    model = model.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02, generator=g)
        for name, b in model.named_buffers():
            if name.endswith("inv_freq"):
                dim = b.numel() * 2
                b.copy_(1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)))
    model.config.use_cache = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = modeling._prepare_for_training(cfg, model, False, {})
    model.train()
    return model


@contextlib.contextmanager
def _adapters_in_compute_dtype(enabled: bool):
    """peft's ``autocast_adapter_dtype=False`` (adapters in the base's 16-bit dtype, the planner's
    ``adapter_fp32=False``) for the cases that check that option; the runner itself keeps peft's fp32 default."""
    if not enabled:
        yield
        return
    import peft

    original = peft.get_peft_model

    def patched(*args, **kwargs):
        kwargs["autocast_adapter_dtype"] = False
        return original(*args, **kwargs)

    peft.get_peft_model = patched
    try:
        yield
    finally:
        peft.get_peft_model = original


def measure(case: Case, work: Path) -> dict[str, Any]:
    """Build the case's model (fake or real tensors), run one step and return the probe's figures."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    hf_config, spec, fields = reduced(case.shape, case.layers)
    t0 = time.perf_counter()
    if case.layers == 0:
        mode = FakeTensorMode()
        model = build_head(case, hf_config, mode)
        out = run_step(model, case, int(fields["vocab_size"]), fake_mode=mode)
    elif case.real:
        if case.quant:
            ref = checkpoint_dir(case.shape, case.layers, work)
            cfg = train_config(case, ref, spec)
            model = build_real(cfg)
        else:
            cfg = train_config(case, spec.name, spec)
            with _adapters_in_compute_dtype(not case.adapter_fp32):
                model = build_direct(case, cfg, hf_config)
        out = run_step(model, case, spec.vocab_size, allocator=True)
    else:
        cfg = train_config(case, spec.name, spec)
        mode = FakeTensorMode()
        with _adapters_in_compute_dtype(not case.adapter_fp32):
            model = build_fake(case, cfg, hf_config, mode)
        out = run_step(model, case, spec.vocab_size, fake_mode=mode)
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    del model
    gc.collect()
    torch.set_grad_enabled(True)
    return out


# ================================================================================================================
# The planner's side: the same config, the same reduced layer count
# ================================================================================================================

def planned(case: Case) -> dict[str, float]:
    """The planner's terms (bytes) for the case: weights, autocast copies, activations, logits, and the
    forward/backward peak of the allocated metric (no optimizer state: the step measured has no optimizer)."""
    from ft_tui.planner import memory
    _, spec, _ = reduced(case.shape, case.layers)
    counts = _count_params(spec)
    cfg = train_config(case, spec.name, spec)
    setup = memory.setup_from_config(cfg, None, None, n_gpus=1, strategy="single", metric="allocated",
                                     include_context=False, **_setup_options(case))
    est = memory.estimate_setup(spec, counts, setup)
    t = est.terms
    w = memory.weight_bytes(spec, counts, setup)
    copies = memory.autocast_copy_bytes(spec, counts, setup)
    if "phase_fwd_bwd" in t:
        peak = w + max(t["phase_fwd_bwd"], t["phase_backward_end"])
        copies += memory.dequant_bytes(spec, counts, setup)
    else:  # a planner that predates the phases (``--before``): its own assembly, without the optimizer state
        g_fb = t["gradients"] if setup.grad_accum > 1 else 0
        peak = t["weights"] + max(t["activations"] + t["logits"] + t["dequant_transient"] + g_fb, t["gradients"])
    return {
        "weights": w,
        # weight-derived storages: autocast's copies, merged expert weights, bitsandbytes' dequantized weight
        "weight_copies": copies,
        "activations": t["activations"],
        "logits": t["logits"],
        "peak": peak,
        "tokens": setup.tokens,
        "vocab": spec.vocab_size,
    }


def _setup_options(case: Case) -> dict[str, Any]:
    """Planner options that are not config keys: the device-dependent terms as on this CPU (``device="cpu"``), the
    adapters' dtype (planner option ``adapter_fp32``)."""
    import dataclasses as dc

    from ft_tui.planner.memory import TrainSetup

    device = {"device": "cpu"} if "device" in {f.name for f in dc.fields(TrainSetup)} else {}
    return {**device, **({} if case.adapter_fp32 else {"adapter_fp32": False})}


# ================================================================================================================
# The matrix, the comparison and the table
# ================================================================================================================

#: Sequence length of each shape's base case (fake tensors cost no memory: every shape can run at 1024).
BASE_SEQ = 1024
DENSE = ("llama3-8b", "qwen2.5-7b", "gemma2-2b", "phi3-mini", "tinyllama")
MOE = ("qwen3-30b-a3b", "mixtral-8x7b")
#: Shapes that run every axis (the others skip the axes that only repeat them: fp16 saves what bf16 saves, and
#: the sequence-length sweep is linear in tokens except eager attention, covered at 2048 everywhere).
FULL_AXES = ("tinyllama", "llama3-8b")
#: The same shapes with a 256-entry vocabulary (see ``shape_config``).
SMALL_VOCAB = ("tinyllama-v256", "llama3-8b-v256", "qwen2.5-7b-v256")

#: Settings that cannot be measured here, with the reason (shown in the table instead of a measurement).
GROUPED_MM_BF16 = ("transformers' grouped experts (torch grouped_mm) have a bf16 kernel only on this CPU build: "
                   "fp16/fp32 expert weights (fp16 runs, fp32 runs, full and freeze tuning load them in fp32) cannot "
                   "be measured here")
PARAM_WRAPPER_DROPOUT = ("peft's adapters on fused MoE experts (ParamWrapper) refuse lora_dropout > 0: the runner "
                         "cannot build this set-up on any device (use lora_target without the experts, or no dropout)")


def variants(shape: str) -> list[Case]:
    """One shape's settings: the base (LoRA, bf16, default attention, all linear, r8, no dropout, no
    checkpointing, 1024 tokens, 2 layers) and each axis varied, plus the interactions that change which tensors
    are saved (dropout x checkpointing, dropout x precision, adapters' dtype x dropout, eager x length)."""
    b = Case(shape, seq=BASE_SEQ)
    r = dataclasses.replace
    if shape in MOE:
        return [b, r(b, gc=True), r(b, attn="eager"), r(b, attn="eager", seq=2048), r(b, targets="attn"),
                r(b, targets="attn", dropout=0.05), r(b, rank=64), r(b, seq=256), r(b, seq=2048),
                r(b, adapter_fp32=False)]
    out = [b, r(b, gc=True), r(b, dropout=0.05), r(b, dropout=0.05, gc=True), r(b, dtype="fp32"),
           r(b, dtype="fp32", dropout=0.05), r(b, attn="eager", seq=2048), r(b, targets="attn"), r(b, rank=64),
           r(b, seq=2048), r(b, adapter_fp32=False, dropout=0.05), r(b, method="full"),
           r(b, method="full", gc=True), r(b, method="freeze"), r(b, method="freeze", gc=True)]
    if shape in FULL_AXES:
        out += [r(b, dtype="fp16"), r(b, attn="eager"), r(b, seq=256), r(b, adapter_fp32=False)]
    return out


def skipped(shapes) -> list[tuple[Case, str]]:
    """The MoE settings that cannot be measured here (see the reasons above)."""
    out = []
    for shape in shapes:
        if shape not in MOE:
            continue
        b = Case(shape, seq=BASE_SEQ)
        r = dataclasses.replace
        out += [(r(b, dtype="fp16"), GROUPED_MM_BF16), (r(b, dtype="fp32"), GROUPED_MM_BF16),
                (r(b, method="full"), GROUPED_MM_BF16), (r(b, method="freeze"), GROUPED_MM_BF16),
                (r(b, dropout=0.05), PARAM_WRAPPER_DROPOUT)]
    return out


def real_cases() -> list[Case]:
    """Real CPU tensors: bitsandbytes QLoRA through the runner's ``build_model`` (4-bit and 8-bit), and the
    cross-check that fake tensors save exactly what real ones do and that the tracker's peak is the CPU
    allocator's (same shapes, short sequences so the CPU matmuls stay short)."""
    return [
        Case("tinyllama", seq=256, real=True),
        Case("tinyllama", seq=256, real=True, gc=True),
        Case("tinyllama", seq=256, real=True, dropout=0.05),
        Case("tinyllama", quant=4, seq=256, real=True),
        Case("tinyllama", quant=4, seq=256, real=True, gc=True),
        Case("tinyllama", quant=8, seq=256, real=True),
        Case("qwen3-30b-a3b", seq=256, layers=1, real=True),
    ]


def all_cases(quick: bool = False, only: set[str] | None = None) -> list[Case]:
    if quick:
        b = Case("tinyllama", seq=512)
        r = dataclasses.replace
        return [b, r(b, gc=True), r(b, dropout=0.05), r(b, adapter_fp32=False, dropout=0.05)]
    shapes = [s for s in (*DENSE, *MOE) if not only or s in only]
    out = [c for s in shapes for c in variants(s)]
    for probe in SMALL_VOCAB:  # a layer's backward is the peak: the layer-backward term
        if not only or probe.split("-v")[0] in only:
            b = Case(probe, seq=BASE_SEQ)
            out += [b, dataclasses.replace(b, gc=True), dataclasses.replace(b, gc=True, dropout=0.05),
                    dataclasses.replace(b, gc=True, dtype="fp32")]
    out += [c for c in real_cases() if not only or c.shape in only]
    return out


def _head(case: Case) -> Case:
    return Case(case.shape, dtype=case.dtype, seq=case.seq, layers=0)


def measured_terms(case: Case, m: dict[str, Any], head: dict[str, Any] | None) -> dict[str, float | None]:
    saved = m["saved"]
    layers = {k: v for k, v in saved.items() if k.startswith("layer")}
    acts = sum(layers.values()) + saved.get("shared", 0)
    if case.gc:
        # checkpointing keeps each layer's input (saved by the checkpoint, seen by our hook); backward recomputes
        # one layer at a time (its saved tensors go through the checkpoint's own hook: see _recomputations)
        acts += m["recomputed"]
    return {
        "weights": m["base_bytes"], "weight_copies": m["peak_weight_copies"], "activations": acts,
        "logits": head["peak_data"] if head else None, "peak": m["peak"],
        "allocator_peak": (m["allocator_peak_above_start"] + m["base_bytes"]) if "allocator_peak_above_start" in m
        else None,
    }


TERMS = ("weights", "weight_copies", "activations", "logits", "peak")


def compare(case: Case, meas: dict[str, float | None], plan: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    floor = SMALL_TERM * (meas.get("peak") or 0)
    for term in TERMS:
        m, p = meas.get(term), plan.get(term)
        row = {"case": case.id, "term": term, "measured": m, "planned": p}
        if m is None:
            row["error"] = None
        elif max(m, p or 0) < floor:  # e.g. Gemma's fp32 norm-weight copies: too small to matter
            row["error"] = ((p or 0) - m) / meas["peak"]
            row["note"] = f"below {SMALL_TERM:.1%} of the peak: error relative to the peak"
        elif m == 0:
            row["error"] = 0.0 if not p else None
            row["note"] = "" if not p else "planned a term that is not there"
        else:
            row["error"] = (p - m) / m
        rows.append(row)
    if meas.get("allocator_peak") is not None:
        rows.append({"case": case.id, "term": "tracker_vs_allocator", "measured": meas["allocator_peak"],
                     "planned": meas["peak"], "error": (meas["peak"] - meas["allocator_peak"]) / meas["allocator_peak"],
                     "note": "dispatch-level tracker (planned column) vs the CPU allocator's own peak"})
    return rows


def _fmt(term: str, v: float | None, case: Case, tokens: int) -> str:
    if v is None:
        return "-"
    if term == "activations":
        return f"{v / tokens / max(case.layers, 1) / 1024:8.2f} KiB/tok/layer"
    if term == "logits":
        return f"{v / tokens:10.0f} B/tok"
    return f"{v / MIB:10.1f} MiB"


def run(cases: list[Case], work: Path, skips=(), log=common.log) -> list[dict[str, Any]]:
    cache: dict[str, dict[str, Any]] = {}

    def get(c: Case) -> dict[str, Any]:
        if c.id not in cache:
            cache[c.id] = measure(c, work)
        return cache[c.id]

    rows: list[dict[str, Any]] = [{"case": c.id, "term": "skipped", "measured": None, "planned": None,
                                   "error": None, "note": why} for c, why in skips]
    for case in cases:
        try:
            m = get(case)
            head = get(_head(case)) if not case.real else None
            plan = planned(case)
        except Exception as exc:  # noqa: BLE001 - one failed case is reported, the matrix goes on
            rows.append({"case": case.id, "term": "error", "measured": None, "planned": None, "error": None,
                         "note": f"{type(exc).__name__}: {str(exc)[:300]}"})
            log(f"  {case.id}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        meas = measured_terms(case, m, head)
        if "-v" in case.shape:  # the small-vocabulary probes check the layer term; the logits, the real vocabularies
            meas["logits"] = None
        new = compare(case, meas, plan)
        if "-v" in case.shape:
            for r in new:
                if r["term"] == "logits":
                    r["note"] = "not compared: the probe's vocabulary is not a real one"
        for r in new:
            r["tokens"] = plan["tokens"]
            r["seconds"] = m["wall_s"]
        rows += new
        worst = max((abs(r["error"]) for r in new if r["error"] is not None), default=0.0)
        log(f"  {case.id:<72} {m['wall_s']:6.1f} s  worst |error| {100 * worst:5.1f}%")
    return rows


def table_lines(rows: list[dict[str, Any]], cases: dict[str, Case]) -> list[str]:
    lines = [f"{'case':<72} {'term':<21} {'measured':>24} {'planned':>24} {'error':>7}"]
    for r in rows:
        case = cases.get(r["case"])
        if r["term"] in ("error", "skipped") or case is None:
            lines.append(f"{r['case']:<72} {r['term']}: {r.get('note', '')}")
            continue
        term = r["term"]
        unit_term = term if term in ("activations", "logits") else "peak"
        err = "-" if r["error"] is None else f"{100 * r['error']:+6.1f}%"
        flag = "  <-- off by more than 5 %" if r["error"] is not None and abs(r["error"]) > TOLERANCE else ""
        lines.append(f"{r['case']:<72} {term:<21} {_fmt(unit_term, r['measured'], case, r['tokens']):>24} "
                     f"{_fmt(unit_term, r['planned'], case, r['tokens']):>24} {err:>7}{flag}"
                     + (f"  ({r['note']})" if r.get("note") and not flag else ""))
    return lines


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    errs = [r for r in rows if r.get("error") is not None and r["term"] in TERMS]
    off = [r for r in errs if abs(r["error"]) > TOLERANCE]
    by_term = {}
    for term in TERMS:
        e = [abs(r["error"]) for r in errs if r["term"] == term]
        by_term[term] = {"rows": len(e), "worst_abs_pct": round(100 * max(e), 1) if e else None,
                         "off": sum(1 for x in e if x > TOLERANCE)}
    return {"rows": len(errs), "off_by_more_than_5pct": len(off), "by_term": by_term,
            "skipped": sum(1 for r in rows if r["term"] == "skipped"),
            "errors": sum(1 for r in rows if r["term"] == "error"), "pass": not off and not any(
                r["term"] == "error" for r in rows)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true", help="the small slice the tests run (TinyLlama, 4 settings)")
    p.add_argument("--only", default="", help="comma-separated shapes (" + ", ".join(SHAPES) + ")")
    p.add_argument("--results-dir", default="", help="write the result JSON here instead of bench/results")
    p.add_argument("--no-write", action="store_true", help="do not write the result file")
    p.add_argument("--work-dir", default="", help="where the QLoRA checkpoints go (default: a temporary folder)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore")
    common.ensure_ft_tui_importable()
    import logging

    logging.getLogger("transformers").setLevel(logging.ERROR)
    only = {s.strip() for s in args.only.split(",") if s.strip()} or None
    cases = all_cases(args.quick, only)
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        work = Path(args.work_dir) if args.work_dir else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="ft-tui-truth-")))
        skips = [] if args.quick else skipped([s for s in (*DENSE, *MOE) if not only or s in only])
        rows = run(cases, work, skips)
    record = common.envelope(RESULT_NAME)
    record.update(tolerance=TOLERANCE, quick=args.quick, elapsed_s=round(time.perf_counter() - t0, 1),
                  cases=[{**dataclasses.asdict(c), "id": c.id} for c in cases], rows=rows, summary=summarize(rows))
    if not args.no_write:
        record["path"] = common.display_path(common.write_result(
            RESULT_NAME + ("_quick" if args.quick else ""), record,
            Path(args.results_dir) if args.results_dir else None))
    by_id = {c.id: c for c in cases}
    s = record["summary"]
    lines = table_lines(rows, by_id) + [
        "", f"{s['rows']} comparisons, {s['off_by_more_than_5pct']} off by more than {TOLERANCE:.0%}, "
            f"{s['errors']} cases failed, {s['skipped']} settings not measurable on a CPU (reasons above); "
            f"{record['elapsed_s']} s"]
    for term, v in s["by_term"].items():
        lines.append(f"  {term:<14} rows {v['rows']:<4} worst |error| {v['worst_abs_pct']}%  off {v['off']}")
    common.emit(record, args.json, lines)
    return 0 if s["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
