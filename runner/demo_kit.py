"""The demo kit: a tiny local Llama-style model, its tokenizer and the bundled sample datasets.

Nothing is downloaded. `ft-tui demo`, the tests and the benchmarks build the kit here from text that ships with the
package and load it through the same `from_pretrained` path a real model takes.

- :func:`build_tokenizer` trains a byte-level BPE tokenizer (any UTF-8 text, Chinese included, encodes without an
  unknown token) on ``runner/data/tokenizer_corpus.txt`` plus the text of the bundled demo datasets, and saves it
  with ``save_pretrained`` together with a chat template (ChatML unless one is given).
- :func:`build_demo_model` saves a randomly initialised ``LlamaForCausalLM`` (safetensors) sized by name.
- :func:`build_demo_kit` builds both once into the user's cache directory and reuses them afterwards.
- :data:`DEMO_SETTINGS` / :func:`write_demo_config`: the config `ft-tui demo` (TUI and ``--headless``) trains.

Both builders are deterministic: the same arguments give byte-identical ``tokenizer.json`` and identical tensors.

torch, transformers and tokenizers are imported inside the functions only: importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_tui.planner.errors import InputError
from ft_tui.planner.messages import Msg
from ft_tui.planner.paths import cache_dir

#: Bump when anything that changes the built files changes (sizes, special tokens, template, builder code), so
#: caches from an older version are not reused. Changes to the corpus files are caught by their digest as well.
KIT_VERSION = 1

DEFAULT_VOCAB_SIZE = 1024
BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")

#: ChatML (the format Qwen and many others use): every turn is ``<|im_start|>role\\ncontent<|im_end|>\\n``.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

#: Model shapes by name. Parameter counts are for the default vocabulary (about 1k tokens), untied embeddings:
#: tiny ~0.2M, small ~3.4M, medium ~36M (the throughput benchmark's size).
MODEL_SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=128),
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4,
                  intermediate_size=688),
    "medium": dict(hidden_size=512, num_hidden_layers=12, num_attention_heads=8, num_key_value_heads=4,
                   intermediate_size=1408),
}
MAX_POSITION_EMBEDDINGS = 2048

_MARKER = "demo-kit.json"  # written last: a kit folder without it is incomplete
_CORPUS_FILE = Path(__file__).resolve().parent / "data" / "tokenizer_corpus.txt"
#: Demo dataset files whose text also trains the tokenizer, so the demo data encodes into few tokens.
_DEMO_TEXT_FILES = ("demo_alpaca_en.json", "demo_alpaca_zh.json", "demo_sharegpt.json", "demo_pretrain.jsonl")


@dataclass(frozen=True)
class DemoKit:
    """A built demo kit. ``tokenizer_dir`` is the same folder as ``model_dir`` (as for a hub model)."""

    model_dir: Path
    tokenizer_dir: Path
    dataset_dir: Path
    size: str
    seed: int
    built: bool  # True when this call built the kit, False when it reused a cached one


# --------------------------------------------------------------------------------------------------- locations

def demo_dataset_dir() -> Path:
    """The bundled ``templates/demo_data`` folder of the installed package (independent of the working dir)."""
    from importlib.resources import files

    return Path(str(files("ft_tui.templates") / "demo_data"))


def default_cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/ft-tui/demo-kit``."""
    return cache_dir() / "demo-kit"


# --------------------------------------------------------------------------------------------------- corpus

def _corpus_files() -> list[Path]:
    data_dir = demo_dataset_dir()
    return [_CORPUS_FILE] + [data_dir / name for name in _DEMO_TEXT_FILES if (data_dir / name).is_file()]


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, depth first, in document order."""
    if isinstance(value, str):
        if value.strip():
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _read_texts(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [s for line in text.splitlines() if line.strip() for s in _strings(json.loads(line))]
    if path.suffix == ".json":
        return list(_strings(json.loads(text)))
    return [line for line in text.splitlines() if line.strip()]


def default_corpus() -> list[str]:
    """The bundled training text for the tokenizer: the hand-written corpus plus the demo datasets' strings."""
    texts: list[str] = []
    for path in _corpus_files():
        texts.extend(_read_texts(path))
    return texts


def corpus_digest() -> str:
    """A short digest of the files :func:`default_corpus` reads (part of the cache's validity check)."""
    h = hashlib.sha256()
    for path in _corpus_files():
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------------- tokenizer

def _special_tokens(extra: Sequence[str]) -> list[str]:
    """Special tokens in id order: pad, bos, eos, unk, ChatML markers, then the caller's extras (deduplicated)."""
    tokens: list[str] = []
    for tok in (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN, *CHATML_TOKENS, *extra):
        if not isinstance(tok, str) or not tok:
            raise InputError(Msg("demo_special_token", token=tok), key="extra_special_tokens",
                             hint=Msg("hint_demo_special_token"))
        if tok not in tokens:
            tokens.append(tok)
    return tokens


def build_tokenizer(out_dir: str | os.PathLike[str], *, vocab_size: int = DEFAULT_VOCAB_SIZE,
                    extra_special_tokens: Sequence[str] = (), chat_template: str | None = None,
                    add_bos_token: bool = False, seed: int = 0,
                    corpus: Iterable[str] | None = None) -> Any:
    """Train a byte-level BPE tokenizer and save it to ``out_dir`` with ``save_pretrained``.

    Special tokens: ``<pad>`` (id 0), ``<s>`` (bos), ``</s>`` (eos), ``<unk>`` (never produced by byte-level
    BPE, present for code that expects one), ``<|im_start|>``, ``<|im_end|>``, then ``extra_special_tokens``
    in the order given (e.g. ``["<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]``).

    ``chat_template`` (a Jinja string) defaults to :data:`CHATML_TEMPLATE`. ``add_bos_token`` makes plain
    ``encode`` prepend ``<s>`` (as Llama tokenizers do); off by default (as ChatML/Qwen tokenizers). ``corpus``
    replaces the bundled text (see :func:`default_corpus`).

    BPE training is deterministic and does not depend on the order of the corpus, so the result is a function of
    the corpus and the other arguments only: ``seed`` is accepted so that one seed can be passed to every builder
    of the kit, and does not change the tokenizer. Same arguments -> byte-identical ``tokenizer.json``.
    Returns the tokenizer (a transformers fast tokenizer).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = _special_tokens(extra_special_tokens)
    min_vocab = 256 + len(specials)
    if not isinstance(vocab_size, int) or vocab_size < min_vocab:
        raise InputError(Msg("demo_vocab_small", size=vocab_size), key="vocab_size",
                         hint=Msg("hint_demo_vocab", min=min_vocab, specials=len(specials)))
    del seed  # see the docstring
    texts = list(default_corpus() if corpus is None else corpus)

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    if add_bos_token:
        bos_id = tok.token_to_id(BOS_TOKEN)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B:1",
            special_tokens=[(BOS_TOKEN, bos_id)])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS_TOKEN, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN, additional_special_tokens=specials[4:],
        chat_template=CHATML_TEMPLATE if chat_template is None else chat_template,
        model_max_length=MAX_POSITION_EMBEDDINGS, padding_side="right", clean_up_tokenization_spaces=False,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    return fast


# --------------------------------------------------------------------------------------------------- model

@contextmanager
def _quiet_progress() -> Iterator[None]:
    """Hide transformers' tqdm bars ("Writing model shards", "Loading weights") for a tiny local model."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _check_size(size: str) -> None:
    if size not in MODEL_SIZES:
        raise InputError(Msg("demo_unknown_size", size=size), key="size",
                         hint=Msg("hint_demo_sizes", sizes=Msg.join(MODEL_SIZES, "list")))


def demo_model_config(size: str, tokenizer: Any) -> Any:
    """The ``LlamaConfig`` of a demo model of the named ``size`` for ``tokenizer`` (vocab and special ids)."""
    from transformers import LlamaConfig

    _check_size(size)
    return LlamaConfig(
        vocab_size=len(tokenizer), max_position_embeddings=MAX_POSITION_EMBEDDINGS,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, rms_norm_eps=1e-5,
        initializer_range=0.02, **MODEL_SIZES[size],
    )


def build_demo_model(out_dir: str | os.PathLike[str], tokenizer: Any, *, size: str = "tiny",
                     seed: int = 0) -> Any:
    """Save a randomly initialised ``LlamaForCausalLM`` of the named ``size`` to ``out_dir`` (safetensors).

    ``tokenizer`` is a tokenizer object or a folder holding one; the vocabulary and the bos/eos/pad ids come from
    it. Embeddings are untied (as in Llama 2/3 7B+), so LoRA on ``lm_head`` behaves as on the real models.
    Weights are drawn after ``torch.manual_seed(seed)``: the same seed gives identical tensors.
    Returns the model (float32, eval mode).
    """
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    _check_size(size)
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
    config = demo_model_config(size, tokenizer)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _quiet_progress():
        model.save_pretrained(str(out), safe_serialization=True)
    return model


# --------------------------------------------------------------------------------------------------- kit

def _kit_name(size: str, seed: int) -> str:
    return f"{size}-seed{seed}-v{KIT_VERSION}"


def _is_complete(folder: Path, digest: str) -> bool:
    """True when ``folder`` holds a finished kit built from the current corpus."""
    try:
        marker = json.loads((folder / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if marker.get("kit_version") != KIT_VERSION or marker.get("corpus_digest") != digest:
        return False
    return all((folder / name).is_file() for name in marker.get("files", []))


def _discard(folder: Path) -> None:
    """Remove ``folder``: first rename it out of the way (atomic), then delete it."""
    if not folder.exists():
        return
    trash = folder.with_name(f".trash-{folder.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        folder.rename(trash)
    except OSError:
        return  # another process moved it first
    shutil.rmtree(trash, ignore_errors=True)


def build_demo_kit(size: str = "tiny", *, cache_dir: str | os.PathLike[str] | None = None, seed: int = 0,
                   force: bool = False) -> DemoKit:
    """Build the demo model + tokenizer once into the cache and return where everything is.

    The kit lives in ``<cache_dir>/<size>-seed<seed>-v<KIT_VERSION>/`` (``cache_dir`` defaults to
    :func:`default_cache_dir`). A folder is reused when its marker file (written last) is present and matches the
    current corpus; otherwise, or with ``force``, the kit is built in a temporary sibling folder and renamed into
    place, so a crash never leaves a half-built kit that looks finished and two processes building at once both
    end up with one complete folder.
    """
    _check_size(size)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = root / _kit_name(size, seed)
    digest = corpus_digest()
    if not force and _is_complete(final, digest):
        return DemoKit(final, final, demo_dataset_dir(), size, seed, built=False)

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{final.name}-", dir=root))
    try:
        tokenizer = build_tokenizer(tmp, seed=seed)
        build_demo_model(tmp, tokenizer, size=size, seed=seed)
        files = sorted(p.name for p in tmp.iterdir() if p.is_file())
        marker = {"kit_version": KIT_VERSION, "size": size, "seed": seed, "corpus_digest": digest,
                  "files": files}
        (tmp / _MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if force or (final.exists() and not _is_complete(final, digest)):
            _discard(final)
        try:
            tmp.rename(final)
        except OSError:
            # Another process renamed its finished kit into place first: use that one.
            if not _is_complete(final, digest):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DemoKit(final, final, demo_dataset_dir(), size, seed, built=True)


def load_demo_kit(kit: DemoKit) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a kit through ``AutoModelForCausalLM`` / ``AutoTokenizer``, offline.

    Sets ``HF_HUB_OFFLINE=1`` in the environment when it is unset, as a real local model would be loaded.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(kit.tokenizer_dir))
    with _quiet_progress():
        model = AutoModelForCausalLM.from_pretrained(str(kit.model_dir))
    return model, tokenizer


#: Tuned so the tiny demo model trains end to end on a laptop CPU in well under a minute with a loss that clearly
#: goes down (measured: 6.9 -> 4.9 over 60 steps, batch 8). The demo model is randomly initialised, and its frozen
#: lm_head (init std 0.02) caps how far the logits can move, so adapters on the attention/MLP layers alone bring
#: the loss down by ~2%; the demo therefore also puts an adapter on lm_head. Every key the planner would choose is
#: set, so a GPU box runs the same thing.
DEMO_SETTINGS: dict[str, Any] = {
    "stage": "sft", "finetuning_type": "lora", "dataset": "demo_alpaca_en",
    "cutoff_len": 256, "quantization_bit": None, "lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.0,
    "lora_target": "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head",
    "learning_rate": 5e-3, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "max_steps": 60,
    "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1, "optim": "adamw_torch",
    "bf16": False, "fp16": False, "disable_gradient_checkpointing": True, "logging_steps": 5, "save_steps": 30,
    "save_total_limit": 2, "val_size": 0.0, "seed": 42, "report_to": "none",
}


def write_demo_config(kit: Any, folder: Path) -> Path:
    """Write the demo config for ``kit`` into ``folder``; the run directory follows the normal ./runs path."""
    from ft_tui.planner.config import config_from_dict, save_config

    data = dict(DEMO_SETTINGS, model_name_or_path=str(kit.model_dir), dataset_dir=str(kit.dataset_dir))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"demo-{time.strftime('%Y%m%d-%H%M%S')}.yaml"
    cfg = config_from_dict(data, source=str(path))
    save_config(cfg, path, explicit_only=True)
    return path
