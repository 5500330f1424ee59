"""The `ft-tui` command line.

This module only parses arguments and dispatches; each subcommand's work lives in the component that owns it and is
imported lazily, so `ft-tui --help` and `ft-tui gpus` never pay for importing torch.

Exit status: 0 ok; 2 bad input (message names the key, file or argument; no traceback); 3 the planner found
nothing that fits; 1 anything else.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

EPILOG = """\
Exit status: 0 ok, 2 bad input, 3 nothing fits (plan), 1 other errors.
Docs: README.md. Config keys follow LLaMA-Factory's names, so its YAML files load.
"""

# subcommand -> "module:function"; the function takes the argparse namespace and returns an exit status.
HANDLERS = {
    "tui": "ft_tui.tui.app:run_from_cli",
    "demo": "ft_tui.tui.cli:cmd_demo",
    "gpus": "ft_tui.planner.gpus_cli:cmd_gpus",
    "plan": "ft_tui.runner.history:cmd_plan",
    "estimate": "ft_tui.runner.history:cmd_estimate",
    "train": "ft_tui.runner.cli:cmd_train",
    "runs": "ft_tui.runner.cli:cmd_runs",
    "attach": "ft_tui.tui.cli:cmd_attach",
    "stop": "ft_tui.runner.cli:cmd_stop",
    "resume": "ft_tui.runner.cli:cmd_resume",
    "export": "ft_tui.runner.cli:cmd_export",
}


def _add_hardware_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpu", default="auto", metavar="G",
                   help="'auto' (probe this machine), a profile name such as rtx4090, a100-80gb, h100-80gb, t4 "
                        "(`ft-tui gpus --profiles` lists them), or a memory size such as 24GiB (24GB is the same: GPU memory is marketed in GiB)")
    p.add_argument("--gpus", type=int, default=None, metavar="N", help="number of GPUs (default: as probed, or 1)")


def _add_set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set lora_rank=16 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ft-tui",
        description="Fine-tune LLMs from a terminal: plan a setup that fits your GPU, edit it, run it detached.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("tui", help="open the TUI (the default when no command is given)")
    p.add_argument("config", nargs="?", help="a config YAML to open")
    _add_hardware_args(p)
    p.add_argument("--lang", choices=("en", "zh"), default=None, help="TUI language: labels, plan panel and help (default: from LANG)")

    p = sub.add_parser("demo", help="offline demo on a tiny local model and a bundled dataset")
    p.add_argument("--headless", action="store_true", help="train it end to end in the terminal, no TUI")
    p.add_argument("--lang", choices=("en", "zh"), default=None, help="TUI language (default: from LANG)")

    p = sub.add_parser("gpus", help="show what the hardware probe sees")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--profiles", action="store_true", help="list the GPU profiles usable with --gpu")

    p = sub.add_parser("plan", help="recommend a setup that fits the GPU(s)")
    p.add_argument("config", nargs="?", help="a config YAML; keys it sets are kept as the user's")
    p.add_argument("--model", help="model_name_or_path: a local folder or a hub id (offline: the built-in catalog)")
    p.add_argument("--dataset", help="dataset name(s), comma-separated")
    _add_hardware_args(p)
    _add_set_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", metavar="OUT.yaml", help="write the recommended config here")

    p = sub.add_parser("estimate", help="estimate peak memory and time for config(s)")
    p.add_argument("configs", nargs="+", metavar="CONFIG", help="config YAML file(s); one JSON line each")
    _add_hardware_args(p)
    _add_set_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON (one object per config, one per line)")

    p = sub.add_parser("train", help="start a training run")
    p.add_argument("config", help="config YAML")
    _add_set_arg(p)
    p.add_argument("--detach", action="store_true", help="print the run id and return; the run goes on")
    p.add_argument("--dry-run", action="store_true", help="load tokenizer and data, print stats and plan; no training")
    p.add_argument("--print-launch", action="store_true",
                   help="print the exact launch line (torchrun / accelerate for several GPUs) and exit; "
                        "nothing is written, and the model need not be in this machine's cache")
    p.add_argument("--prepare", action="store_true",
                   help="with --print-launch: also write the run directory the line names (config.yaml, "
                        "plan.json), marked prepared, for a scheduler to run; nothing is started")
    _add_hardware_args(p)

    p = sub.add_parser("runs", help="list runs; `runs rm RUN...` deletes runs")
    p.add_argument("--json", action="store_true", help="print a JSON array, oldest first")
    runs_sub = p.add_subparsers(dest="runs_command", metavar="{rm}")
    rm = runs_sub.add_parser("rm", help="delete runs (their directories, checkpoints included); refuses a live run")
    rm.add_argument("runs", nargs="+", metavar="RUN", help="run id, unique id prefix or run directory")
    rm.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation on a terminal")

    p = sub.add_parser("attach", help="follow a run's progress")
    p.add_argument("run", metavar="RUN", help="run id or run directory")
    p.add_argument("--plain", action="store_true", help="plain lines in this terminal instead of the TUI screen")
    p.add_argument("--lang", choices=("en", "zh"), default=None, help="TUI language (default: from LANG)")

    p = sub.add_parser("stop", help="stop a run gracefully (it saves a checkpoint first)")
    p.add_argument("run", metavar="RUN", help="run id or run directory")
    p.add_argument("--wait", type=float, default=120.0, metavar="S", help="seconds to wait for it to end")
    p.add_argument("--now", action="store_true",
                   help="stop at once without saving a checkpoint (the steps since the last one are lost); a "
                        "plain stop repeated while one is under way changes nothing")

    p = sub.add_parser("resume", help="resume a stopped or interrupted run from its last complete checkpoint")
    p.add_argument("run", metavar="RUN", help="run id or run directory")
    p.add_argument("--detach", action="store_true", help="print the run id and return")

    p = sub.add_parser("export", help="export a finished run's adapter, or a merged model")
    p.add_argument("run", metavar="RUN", help="run id or run directory")
    p.add_argument("--merge", action="store_true", help="merge the adapter into the base model (16-bit safetensors)")
    p.add_argument("-o", "--output", metavar="DIR", help="output directory (default: RUN/export or RUN/merged)")
    p.add_argument("--dtype", choices=("bfloat16", "float16", "float32"), default=None,
                   help="dtype of a merged model (default: bfloat16 if the run trained in bf16, else float16 on a "
                        "GPU, float32 on a CPU)")
    p.add_argument("--checkpoint", type=int, metavar="N", default=None,
                   help="export the complete checkpoint of step N (RUN/checkpoint-N) instead of the final result")
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    """`ft-tui demo`: the TUI on the demo kit; with --headless (or without a terminal) a run in this terminal."""
    if args.headless or not sys.stdout.isatty():
        from ft_tui.runner.cli import cmd_demo as headless_demo

        return headless_demo(args)
    from ft_tui.tui.app import run_demo

    return int(run_demo(args) or 0)


def cmd_attach(args: argparse.Namespace) -> int:
    """`ft-tui attach RUN`: the TUI's run screen; plain lines with --plain or without a terminal."""
    if args.plain or not sys.stdout.isatty():
        from ft_tui.runner.cli import cmd_attach as plain_attach

        return plain_attach(args)
    from ft_tui.runner.rundir import find_run
    from ft_tui.tui.app import run_attach

    return int(run_attach(find_run(args.run).path, lang=args.lang) or 0)


def _dispatch(name: str, args: argparse.Namespace) -> int:
    module_name, _, func_name = HANDLERS[name].partition(":")
    module = importlib.import_module(module_name)
    return int(getattr(module, func_name)(args) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `ft-tui [CONFIG] [--gpu G] [--lang zh]` opens the TUI: route it to the `tui` subcommand.
    if not argv or (argv[0] not in HANDLERS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "tui")
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(f"ft-tui {version('ft-tui')}")
        return 0
    command = args.command
    from ft_tui.planner.errors import InputError, NothingFits

    try:
        return _dispatch(command, args)
    except InputError as exc:
        print(f"ft-tui {command}: error: {exc.render()}", file=sys.stderr)
        return 2
    except NothingFits as exc:
        print(f"ft-tui {command}: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
