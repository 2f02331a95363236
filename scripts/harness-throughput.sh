#!/usr/bin/env bash
# Suite throughput, harness mode against the default mode, on this machine in one run: the
# same 50 tests of two nodes on a link (no bridge) with a TCP connection each
# (tests/tests/throughput/cases.rs), as `throughput_harness` (harness = false, one process)
# and `throughput_default` (libtest, a sandbox process per test). Each binary runs whole,
# the two alternately, RUNS times; a run is timed from its start to its exit, so process
# start, namespaces, builds and the networks' teardown are all in it (the kernel frees
# namespaces asynchronously after that, in both modes alike). Prints tests/s per run and
# the median of each mode; no figure is checked against a target.
#
#   bash scripts/harness-throughput.sh [RUNS]          # builds with cargo, 5 runs
#
# As an ordinary user without the toolchain: build the two test binaries, then give
# them as THROUGHPUT_DEFAULT_BIN and THROUGHPUT_HARNESS_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
tests=50

default_bin=${THROUGHPUT_DEFAULT_BIN:-}
harness_bin=${THROUGHPUT_HARNESS_BIN:-}
if [ -z "$default_bin" ] || [ -z "$harness_bin" ]; then
  json=$(cargo test -p netns-test-suite --test throughput_default --test throughput_harness \
    --no-run --message-format=json 2>/dev/null)
  exe() { grep -o "\"executable\":\"[^\"]*/deps/$1-[^\"]*\"" <<< "$json" | cut -d'"' -f4 | tail -n 1; }
  default_bin=$(exe throughput_default)
  harness_bin=$(exe throughput_harness)
fi
for bin in "$default_bin" "$harness_bin"; do
  [ -x "$bin" ] || { echo "not an executable test binary: '$bin'" >&2; exit 1; }
done

echo "machine: $(nproc) CPUs, $(uname -r), user $(id -un); $tests tests per run, default test threads"
declare -A rates=([default]="" [harness]="")
for run in $(seq "$runs"); do
  for mode in default harness; do
    bin=${mode}_bin
    start=$(date +%s%N)
    out=$("${!bin}" 2>&1) || { echo "$mode run $run failed:" >&2; echo "$out" >&2; exit 1; }
    end=$(date +%s%N)
    # Never a figure for a run that did not run every test.
    grep -q "test result: ok. $tests passed; 0 failed" <<< "$out" \
      || { echo "$mode run $run did not pass $tests tests:" >&2; echo "$out" >&2; exit 1; }
    rate=$(awk -v n="$tests" -v ns=$((end - start)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
    rates[$mode]="${rates[$mode]} $rate"
    printf 'run %d  %-8s %4d ms  %4d tests/s\n' "$run" "$mode" $(((end - start) / 1000000)) "$rate"
  done
done
median() { tr ' ' '\n' <<< "$1" | grep . | sort -n | awk '{a[NR] = $1} END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
d=$(median "${rates[default]}")
h=$(median "${rates[harness]}")
echo "median: default $d tests/s, harness $h tests/s ($(awk -v h="$h" -v d="$d" 'BEGIN { printf "%.1f", h / d }')x)"
