"""Preprocessing throughput: load + template + tokenize N short alpaca rows through ``prepare_datasets``.

    python bench/preprocess.py [--json] [--rows N] [--cutoff-len L] [--packing]

Builds the demo kit's tokenizer (byte-level BPE, ChatML chat template) in a temporary folder, writes N alpaca rows
(LLaMA-Factory's format, a JSON array) there, and times ``prepare_datasets`` end to end: reading the file,
converting rows, encoding with the template, splitting and building the ``datasets.Dataset``. Building the
tokenizer is timed separately and not counted. Target: 100,000 rows in under 30 s on a 2-core machine.

The result is printed (one JSON object with ``--json``) and written to ``bench/results/preprocess.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "preprocess.json"
TARGET_S = 30.0
TARGET_ROWS = 100_000

_SUBJECTS = ["the moon", "a river", "fresh bread", "a bicycle", "green tea", "winter", "a library", "the ocean",
             "chess", "honey", "a lighthouse", "rain", "a violin", "the desert", "a garden", "trains"]
_TASKS = ["Write one sentence about {s}.", "Describe {s} in five words.", "Give a fun fact about {s}.",
          "Why do people like {s}?", "Write a haiku about {s}."]
_INPUTS = ["", "", "Keep it short.", "Use simple words.", "Answer for a child."]


def make_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """``n`` short alpaca rows (instruction/input/output), deterministic for a seed."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        subject = rng.choice(_SUBJECTS)
        words = " ".join(rng.choice(_SUBJECTS).split()[-1] for _ in range(rng.randint(3, 12)))
        rows.append({"instruction": rng.choice(_TASKS).format(s=subject), "input": rng.choice(_INPUTS),
                     "output": f"Here is an answer about {subject}: {words}. Number {i}."})
    return rows


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("ft-tui", "datasets", "tokenizers", "transformers", "pyarrow"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _machine() -> dict[str, object]:
    return {"host": platform.node(), "platform": platform.platform(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count()}


def run(rows: int, cutoff_len: int, packing: bool) -> dict[str, object]:
    """Build the tokenizer, write the rows, time prepare_datasets; return the result record."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from ft_tui.planner.config import config_from_dict
    from ft_tui.runner.demo_kit import build_tokenizer
    from ft_tui.templates.registry import resolve_template
    from ft_tui.templates.trainset import prepare_datasets

    with tempfile.TemporaryDirectory(prefix="ft-tui-bench-") as tmp:
        t0 = time.perf_counter()
        tokenizer = build_tokenizer(Path(tmp) / "tokenizer")
        template, reason = resolve_template(None, tokenizer, "demo", "llama")
        build_s = time.perf_counter() - t0

        data_file = Path(tmp) / "alpaca_bench.json"
        data_file.write_text(json.dumps(make_rows(rows)), encoding="utf-8")
        size_mb = data_file.stat().st_size / 1e6
        cfg = config_from_dict({"dataset": str(data_file), "cutoff_len": cutoff_len, "packing": packing,
                                "template": template.name}, source=str(Path(tmp) / "config.yaml"))

        t1 = time.perf_counter()
        prepared = prepare_datasets(cfg, tokenizer, template)
        total_s = time.perf_counter() - t1
    stats = prepared.stats
    return {
        "benchmark": "preprocess", "rows": rows, "cutoff_len": cutoff_len, "packing": packing,
        "template": template.name, "template_reason": reason, "file_mb": round(size_mb, 2),
        "seconds": round(total_s, 3), "rows_per_s": round(rows / total_s, 1),
        "tokens_per_s": round(stats.total_tokens / total_s, 1), "train_sequences": stats.train_sequences,
        "total_tokens": stats.total_tokens, "p50": stats.p50, "p99": stats.p99,
        "tokenizer_build_s": round(build_s, 3),
        "target": f"{TARGET_ROWS:,} rows < {TARGET_S:g} s",
        "meets_target": bool(rows / total_s >= TARGET_ROWS / TARGET_S),
        "machine": _machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=TARGET_ROWS, help="alpaca rows to generate (default 100000)")
    parser.add_argument("--cutoff-len", type=int, default=512, help="cutoff_len (default 512)")
    parser.add_argument("--packing", action="store_true", help="also pack the samples into cutoff_len bins")
    parser.add_argument("--json", action="store_true", help="print one JSON object and nothing else")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")

    result = run(args.rows, args.cutoff_len, args.packing)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['rows']:,} rows in {result['seconds']:.2f} s: {result['rows_per_s']:,.0f} rows/s, "
              f"{result['tokens_per_s']:,.0f} tokens/s (p50 {result['p50']} tokens; tokenizer built in "
              f"{result['tokenizer_build_s']:.1f} s, not counted)")
        verdict = "meets" if result["meets_target"] else "MISSES"
        print(f"{verdict} the target of {result['target']}; written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
