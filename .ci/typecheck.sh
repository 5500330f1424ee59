#!/usr/bin/env bash
# Type check (mypy): planner/ and templates/ with zero errors; runner/ and tui/ with no more errors per file than
# .ci/mypy-baseline.txt records (lower it as you fix them: `bash .ci/typecheck.sh --update-baseline`).
# The four folders are installed as ft_tui.* (package-dir); mypy reads them through a tree of symlinks.
set -euo pipefail
cd "$(dirname "$0")/.."
MYPY=${MYPY:-$PWD/.venv/bin/mypy}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir "$root/ft_tui"
for p in planner runner templates tui; do ln -s "$PWD/$p" "$root/ft_tui/$p"; done
flags=(--ignore-missing-imports --follow-imports=silent --namespace-packages --explicit-package-bases
       --no-error-summary --show-error-codes --no-color-output --cache-dir=/dev/null)
cd "$root"
set +e
"$MYPY" "${flags[@]}" -p ft_tui.planner -p ft_tui.templates -p ft_tui.runner -p ft_tui.tui > "$root/out.txt" 2>&1
rc=$?
set -e
if [ "$rc" -gt 1 ]; then  # 1 = type errors (compared below); 2 = mypy itself failed
  cat "$root/out.txt" >&2
  exit "$rc"
fi
cd - > /dev/null
exec .venv/bin/python .ci/typecheck_baseline.py "$root/out.txt" .ci/mypy-baseline.txt "$@"
