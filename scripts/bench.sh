#!/usr/bin/env bash
# The perf benchmark, and BENCHMARKS.md regenerated from its run: builds the benchmark,
# runs it as an ordinary user with a login PATH (as root: as NETNS_PERF_USER, default
# netns-ci, from a folder of its own), puts the page it writes between the markers of
# BENCHMARKS.md and checks that every verdict there follows from the figures.
#
#   scripts/bench.sh                 # 3 rounds, every section: ~10 minutes, a quiet machine
#   scripts/bench.sh nat topo        # some sections (the page is not spliced)
#   NETNS_PERF_ROUNDS=1 NETNS_PERF_QUICK=1 scripts/bench.sh   # smoke run (not spliced)
#
# NETNS_PERF_ROUNDS, NETNS_PERF_QUICK and NETNS_PERF_SETTLE_MS are passed on
# (netns-test/benches/perf/main.rs). The page is also left in
# target/perf/BENCHMARKS.generated.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
login_path=/usr/local/bin:/usr/bin:/bin
exe=$(cargo bench -p netns-test --bench perf --no-run --message-format=json 2>/dev/null \
  | python3 scripts/ci_tools.py bench-binary perf)
dir=$(mktemp -d /tmp/netns-perf.XXXXXX)
trap 'rm -rf "$dir"' EXIT
install -m 755 "$exe" "$dir/perf-bench"
install -m 755 scripts/nat-lab-recipe.sh "$dir/nat-lab-recipe.sh"
vars=(PATH="$login_path" NETNS_PERF_RECIPE=./nat-lab-recipe.sh NETNS_PERF_OUT="$dir/page.md")
for v in NETNS_PERF_ROUNDS NETNS_PERF_QUICK NETNS_PERF_SETTLE_MS; do
  if [ -n "${!v:-}" ]; then vars+=("$v=${!v}"); fi
done
if [ "$(id -u)" -eq 0 ]; then
  user=${NETNS_PERF_USER:-netns-ci}
  id "$user" >/dev/null 2>&1 || { echo "bench: no user $user to run as (NETNS_PERF_USER)" >&2; exit 1; }
  chmod 755 "$dir"
  chown "$user" "$dir"
  (cd "$dir" && runuser -u "$user" -- env -i HOME="$(getent passwd "$user" | cut -d: -f6)" \
    USER="$user" "${vars[@]}" ./perf-bench --bench "$@")
else
  (cd "$dir" && env -i HOME="$HOME" USER="$(id -un)" "${vars[@]}" ./perf-bench --bench "$@")
fi
mkdir -p target/perf
cp "$dir/page.md" target/perf/BENCHMARKS.generated.md
if [ $# -eq 0 ] && [ -z "${NETNS_PERF_QUICK:-}" ]; then
  python3 scripts/ci_tools.py bench-splice target/perf/BENCHMARKS.generated.md BENCHMARKS.md
else
  echo "bench: a smoke run or some sections: BENCHMARKS.md left as it is;" \
    "the page is in $repo/target/perf/BENCHMARKS.generated.md"
fi
python3 scripts/ci_tools.py bench-check BENCHMARKS.md
