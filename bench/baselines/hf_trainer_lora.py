"""A plain LoRA fine-tuning script of the kind a user writes with transformers' Trainer and peft.

    python bench/baselines/hf_trainer_lora.py --model DIR --data conversations.json [--cutoff-len 512]
        [--batch-size 4] [--grad-accum 1] [--lr 2e-4] [--epochs 1] [--lora-rank 8] [--lora-alpha 16]
        [--gradient-checkpointing] [--seed 42] [--output-dir DIR] [--result result.json]

This is the throughput benchmark's baseline (``bench/throughput.py``), deliberately written the way the
transformers and peft documentation teach, with none of ft-tui's code:

- the data is a ShareGPT-style JSON array (``{"conversations": [{"from": "human"|"gpt"|"system", "value": ...}]}``);
  each conversation is rendered with the tokenizer's own chat template (``apply_chat_template``), every assistant
  reply is trained and everything else (system, user turns, the assistant header) is masked with -100; truncated
  to ``--cutoff-len``;
- ``DataCollatorForSeq2Seq`` pads each batch to its longest row (labels with -100); no packing, no length grouping;
- ``LoraConfig(target_modules="all-linear")`` + ``get_peft_model`` and a stock ``Trainer``.

It prints one JSON object (and writes it to ``--result``): the Trainer's ``train_runtime`` and ``train_loss``, and
the token counts of the epoch it trained (``useful_tokens``: label tokens that are not -100; ``input_tokens``:
non-padding tokens).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def load_conversations(path: str) -> list[list[dict[str, str]]]:
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for row in rows:
        msgs = [{"role": ROLES[m["from"]], "content": m["value"]} for m in row["conversations"]]
        if row.get("system"):
            msgs.insert(0, {"role": "system", "content": row["system"]})
        out.append(msgs)
    return out


def tokenize_conversation(tokenizer, messages, cutoff_len):
    """input_ids/labels for one conversation: assistant replies trained, the rest masked."""
    input_ids, labels = [], []
    rendered = ""
    for i, msg in enumerate(messages):
        if msg["role"] == "assistant":
            with_header = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
            header = with_header[len(rendered):]
            ids = tokenizer.encode(header, add_special_tokens=False)
            input_ids += ids
            labels += [-100] * len(ids)
            rendered = with_header
        full = tokenizer.apply_chat_template(messages[:i + 1], tokenize=False)
        ids = tokenizer.encode(full[len(rendered):], add_special_tokens=False)
        input_ids += ids
        labels += ids if msg["role"] == "assistant" else [-100] * len(ids)
        rendered = full
    return {"input_ids": input_ids[:cutoff_len], "labels": labels[:cutoff_len]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="LoRA fine-tuning with transformers Trainer + peft (baseline)")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--cutoff-len", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--scheduler", default="cosine")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--lora-alpha", type=int, default=16)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--output-dir", default="baseline-out")
    p.add_argument("--result", default="")
    args = p.parse_args(argv)

    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = [tokenize_conversation(tokenizer, m, args.cutoff_len) for m in load_conversations(args.data)]
    rows = [r for r in rows if any(x != -100 for x in r["labels"])]
    dataset = Dataset.from_list(rows)

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model.config.use_cache = False
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=args.lora_rank, lora_alpha=args.lora_alpha,
                                             lora_dropout=0.0, target_modules="all-linear"))

    training_args = TrainingArguments(
        output_dir=args.output_dir, per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum, learning_rate=args.lr, lr_scheduler_type=args.scheduler,
        num_train_epochs=args.epochs, logging_steps=10, save_strategy="steps", save_steps=500, seed=args.seed,
        data_seed=args.seed, report_to=[], disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=dataset,
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100))
    result = trainer.train()

    out = {"train_runtime": result.metrics["train_runtime"], "train_loss": result.training_loss,
           "steps": trainer.state.global_step, "sequences": len(rows),
           "useful_tokens": sum(sum(1 for x in r["labels"] if x != -100) for r in rows),
           "input_tokens": sum(len(r["input_ids"]) for r in rows)}
    print(json.dumps(out))
    if args.result:
        Path(args.result).write_text(json.dumps(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
