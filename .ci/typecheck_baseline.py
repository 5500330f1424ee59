"""Compare mypy's errors with the committed per-file baseline (.ci/mypy-baseline.txt); used by .ci/typecheck.sh.

Fails when a file has more errors than its baseline line allows, and when a package that must be clean
(ZERO: planner/, templates/) has any error at all. Fewer errors than the baseline pass, with a reminder to lower
it (`bash .ci/typecheck.sh --update-baseline` rewrites the file from the current errors; it never raises a count
for you: a file whose errors grew still fails).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ZERO = ("ft_tui/planner/", "ft_tui/templates/")
ERROR = re.compile(r"^(ft_tui/[^:]+\.py):\d+: error: ")


def counts(mypy_output: str) -> Counter[str]:
    return Counter(m.group(1) for line in mypy_output.splitlines() if (m := ERROR.match(line)))


def read_baseline(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                name, number = line.rsplit(None, 1)
                out[name] = int(number)
    return out


def write_baseline(path: Path, found: Counter[str], old: dict[str, int]) -> None:
    lines = ["# mypy errors allowed per file (.ci/typecheck.sh); lower these as you fix them, never raise them.\n"]
    for name in sorted(found):
        if not name.startswith(ZERO):
            lines.append(f"{name} {min(found[name], old.get(name, found[name]))}\n")
    path.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str]) -> int:
    output_file, baseline_file = Path(argv[0]), Path(argv[1])
    update = "--update-baseline" in argv[2:]
    text = output_file.read_text(encoding="utf-8")
    found = counts(text)
    baseline = read_baseline(baseline_file)
    worse = []
    for name, n in sorted(found.items()):
        allowed = 0 if name.startswith(ZERO) else baseline.get(name, 0)
        if n > allowed:
            worse.append((name, n, allowed))
    better = [(name, found.get(name, 0), n) for name, n in sorted(baseline.items()) if found.get(name, 0) < n]
    if update:
        write_baseline(baseline_file, found, baseline)
    total, allowed_total = sum(found.values()), sum(baseline.values())
    if worse:
        lines = [line for line in text.splitlines() if (m := ERROR.match(line)) and m.group(1) in
                 {w[0] for w in worse}]
        print("\n".join(lines), file=sys.stderr)
        for name, n, allowed in worse:
            print(f"{name}: {n} mypy errors, {allowed} allowed"
                  + (" (planner/ and templates/ must have none)" if name.startswith(ZERO) else
                     " (.ci/mypy-baseline.txt)"), file=sys.stderr)
        return 1
    for name, n, allowed in better:
        print(f"{name}: {n} mypy errors, baseline {allowed}: lower it (bash .ci/typecheck.sh --update-baseline)")
    print(f"mypy: {total} errors, baseline allows {allowed_total}; planner/ and templates/: "
          f"{sum(n for f, n in found.items() if f.startswith(('ft_tui/planner/', 'ft_tui/templates/')))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
