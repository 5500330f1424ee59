"""How well the planner's memory model predicts published peak-memory measurements.

    python bench/planner_accuracy.py [--json]

Predicts every point of ``planner/data/calibration.yaml`` with the same estimator the planner uses, prints the error
per point and a summary (median absolute % error, worst under-prediction) for all points and for the subset whose
stack matches ours (HF transformers + peft + bitsandbytes, ``stack: hf``). Acceptance on that subset: median
absolute error <= 10 % and no under-prediction worse than 15 %. Exit status 1 when the acceptance fails.
Points marked ``skip`` (settings the model cannot express) are listed with their reason, not predicted.
"""

from __future__ import annotations

import argparse
import json
import sys

from ft_tui.planner.calibration import run_points, summarize

MAX_MEDIAN_ABS_PCT = 10.0
MAX_UNDER_PCT = 15.0
# Our own GPU measurements (bench/gpu_calibrate.py, ids "gpu:..."): the runner is ours, so the bar is tighter.
MAX_UNDER_PCT_MEASURED = 10.0


def _row(r) -> str:
    pred = "-" if r.predicted is None else f"{r.predicted:9.2f}"
    err = "" if r.error is None else f"{100 * r.error:+6.1f}%"
    extra = f"skipped: {r.skip}" if r.skip else ("torch.compile (not modelled); " if r.compile else "") + r.note
    return f"{r.id:<5} {r.stack:<10} {r.model:<28.28} {r.measured:9.2f} {pred:>9} {r.unit:<4} {err:>7}  {extra}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    results = run_points()
    matching = [r for r in results if r.stack == "hf"]
    summary = {"all": summarize(results), "hf_stack": summarize(matching),
               "by_stack": {s: summarize([r for r in results if r.stack == s])
                            for s in sorted({r.stack for r in results})}}
    hf = summary["hf_stack"]
    ok = hf["points"] > 0 and hf["median_abs_pct"] <= MAX_MEDIAN_ABS_PCT and -hf["worst_under_pct"] <= MAX_UNDER_PCT
    summary["acceptance"] = {"median_abs_pct_max": MAX_MEDIAN_ABS_PCT, "under_pct_max": MAX_UNDER_PCT, "pass": ok}
    ours = [r for r in results if str(r.id).startswith("gpu:")]
    if ours:
        mine = summary["measured_by_us"] = summarize(ours)
        mine_ok = mine["median_abs_pct"] <= MAX_MEDIAN_ABS_PCT and -mine["worst_under_pct"] <= MAX_UNDER_PCT_MEASURED
        summary["acceptance_measured"] = {"median_abs_pct_max": MAX_MEDIAN_ABS_PCT,
                                          "under_pct_max": MAX_UNDER_PCT_MEASURED, "pass": mine_ok}
        ok = ok and mine_ok
    if args.json:
        print(json.dumps({"points": [r.to_dict() for r in results], "summary": summary}))
        return 0 if ok else 1
    print(f"{'id':<5} {'stack':<10} {'model':<28} {'measured':>9} {'predicted':>9} unit {'error':>7}")
    for r in results:
        print(_row(r))
    print()
    for name, s in (("all points", summary["all"]), ("HF + peft + bnb (our stack)", hf),
                    *((f"stack {k}", v) for k, v in summary["by_stack"].items() if k != "hf")):
        print(f"{name:<30} n={s['points']:<3} median |error| {s['median_abs_pct']}%  worst under "
              f"{s['worst_under_pct']}%  worst over {s['worst_over_pct']}%")
    if "measured_by_us" in summary:
        s = summary["measured_by_us"]
        print(f"{'our GPU measurements':<30} n={s['points']:<3} median |error| {s['median_abs_pct']}%  worst under "
              f"{s['worst_under_pct']}%  (acceptance: under-prediction <= {MAX_UNDER_PCT_MEASURED}%)")
    else:
        print("our GPU measurements: none yet (run bench/gpu_calibrate.py on a GPU machine; see bench/README.md)")
    print(f"acceptance (our stack: median <= {MAX_MEDIAN_ABS_PCT}%, under-prediction <= {MAX_UNDER_PCT}%): "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
