#!/usr/bin/env bash
# The README's two commands N times in a row (default 10) in a fresh clone of HEAD, the
# first run building from nothing: `bash scripts/fresh-clone-soak.sh [N]`. Prints one line
# per iteration (each command's exit status and the time taken) and exits 1 if any
# command failed; each command's output is kept in the clone's folder.
set -uo pipefail
n=${1:-10}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/fresh-clone-soak.XXXXXX)
git clone -q "$repo" "$work/clone" && cd "$work/clone" || exit 1
echo "fresh clone of $(git log --oneline -1) in $work/clone"
failed=0
for i in $(seq 1 "$n"); do
  start=$SECONDS
  bash scripts/setup.sh > "$work/$i-lab.log" 2>&1 \
    && cargo test -p netns-test-examples --test docker_bridge -- --nocapture >> "$work/$i-lab.log" 2>&1
  lab=$?
  bash scripts/setup.sh > "$work/$i-suite.log" 2>&1 && cargo test --workspace >> "$work/$i-suite.log" 2>&1
  suite=$?
  echo "iteration $i/$n: main example lab exit $lab, whole suite exit $suite, $((SECONDS - start)) s"
  [ "$lab" -eq 0 ] && [ "$suite" -eq 0 ] || failed=$((failed + 1))
done
echo "$((n - failed)) of $n iterations passed both commands (logs in $work)"
[ "$failed" -eq 0 ]
