#!/usr/bin/env bash
# Headless smoke run: `ft-tui demo --headless` trains the tiny demo model end to end in a scratch folder with its
# own XDG dirs, then `ft-tui runs --json` must list exactly that run as completed, with a loss that went down and
# an adapter on disk. Exits non-zero (and shows the run's log) otherwise.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
ft="$repo/.venv/bin/ft-tui"
py="$repo/.venv/bin/python"

work="$(mktemp -d "${TMPDIR:-/tmp}/ft-tui-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export XDG_STATE_HOME="$work/state" XDG_CACHE_HOME="$work/cache" XDG_CONFIG_HOME="$work/config"
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1
cd "$work"

start=$(date +%s)
if ! "$ft" demo --headless < /dev/null > demo.out 2> demo.err; then
  echo "smoke: ft-tui demo --headless failed" >&2
  cat demo.out demo.err >&2
  for log in runs/*/train.log; do [ -f "$log" ] && { echo "--- $log" >&2; tail -40 "$log" >&2; }; done
  exit 1
fi
echo "smoke: demo finished in $(( $(date +%s) - start )) s"
tail -n 12 demo.out

"$ft" runs --json > runs.json
"$py" - runs.json <<'EOF'
import json
import sys
from pathlib import Path

runs = json.load(open(sys.argv[1]))
problems = []
if len(runs) != 1:
    problems.append(f"expected exactly 1 run, `ft-tui runs --json` lists {len(runs)}")
for run in runs:
    missing = {"id", "path", "status", "model", "method", "step", "total_steps", "loss", "started"} - set(run)
    if missing:
        problems.append(f"run entry lacks {sorted(missing)}")
    if run.get("status") != "completed":
        problems.append(f"run {run.get('id')} is {run.get('status')!r}, not 'completed'")
    if run.get("step") != run.get("total_steps") or not run.get("step"):
        problems.append(f"run stopped at step {run.get('step')} of {run.get('total_steps')}")
    path = Path(run.get("path", ""))
    losses = []
    events = path / "events.jsonl"
    if events.exists():
        for line in events.read_text().splitlines():
            ev = json.loads(line)
            if ev.get("type") == "log" and isinstance(ev.get("loss"), (int, float)):
                losses.append(ev["loss"])
    k = max(1, min(3, len(losses) // 2))
    if len(losses) < 2 or sum(losses[-k:]) / k >= sum(losses[:k]) / k:
        problems.append(f"the loss did not go down: {losses}")
    if not any((path / name).is_dir() for name in ("adapter", "model")):
        problems.append(f"no adapter/ or model/ in {path}")
if problems:
    print("smoke: FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"smoke: ok ({runs[0]['id']}: {runs[0]['status']}, step {runs[0]['step']}, loss {runs[0]['loss']})")
EOF
