#!/usr/bin/env bash
# Runs the suite (or the tests a nextest filter selects) N times under `cargo nextest run`,
# with no retries, and reports every test that failed even once: how many times of N, and
# the diagnostics folder each failure wrote. Exits 1 if any test failed.
#
#   bash scripts/soak.sh N [cargo nextest run arguments...]
#   bash scripts/soak.sh 20 -p netns-test --test node_handles
#   bash scripts/soak.sh 5 -E 'binary(harness_mode)'
#
# Each iteration writes its diagnostics under its own folder (NETNS_TEST_ARTIFACTS), so a
# later iteration does not overwrite an earlier one's: target/soak/<start time>/iter-K/,
# with the iteration's log and JUnit report beside them.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: bash scripts/soak.sh N [cargo nextest run arguments...]" >&2
  exit 2
fi
n=$1
shift
out=$PWD/target/soak/$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$out"
# The ci profile writes the JUnit report (with each failure's output) that the report
# below reads; the arguments after it make every run count: no retry, no early stop.
junit=target/nextest/ci/junit.xml
echo "soak: $n iterations of cargo nextest run --profile ci --retries 0 --no-fail-fast $*"
echo "soak: logs, reports and diagnostics in $out"
# The build once, outside the timed iterations (a build error stops here).
cargo nextest run --profile ci --no-run "$@"
for k in $(seq 1 "$n"); do
  dir=$out/iter-$k
  mkdir -p "$dir/artifacts"
  rm -f "$junit"
  start=$SECONDS
  set +e
  NETNS_TEST_ARTIFACTS="$dir/artifacts" cargo nextest run --profile ci --retries 0 \
    --no-fail-fast "$@" </dev/null >"$dir/log" 2>&1
  rc=$?
  set -e
  echo "$rc" > "$dir/exit"
  [ -f "$junit" ] && mv "$junit" "$dir/junit.xml"
  echo "soak: iteration $k/$n: exit $rc, $((SECONDS - start))s ($(grep -E '^ +Summary ' "$dir/log" | sed 's/^ *//' || echo 'no summary'))"
done
python3 scripts/ci_tools.py soak-report "$out" "$n"
