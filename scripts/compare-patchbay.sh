#!/usr/bin/env bash
# netns-test beside patchbay 0.7 (crates.io): the same two-home-router lab with a relay,
# each sample a fresh process, interleaved; prints a markdown block of both sides'
# medians, p10 / p90 and their ratio (benches/patchbay-compare/src/main.rs).
#
#   scripts/compare-patchbay.sh           # prints the block
#   scripts/compare-patchbay.sh --write   # and puts it into BENCHMARKS.md, between its
#                                         # patchbay-compare markers, and checks the page
#   PATCHBAY_COMPARE_SAMPLES=30 scripts/compare-patchbay.sh   # default 15, at least 10
#
# It downloads and builds patchbay, so it is not part of the workspace (nor of CI).
# patchbay runs `nft` (/usr/sbin/nft, else on PATH): `apt-get install nftables`
# (scripts/setup.sh does). Like scripts/bench.sh, it runs the benchmark as an ordinary
# user with the login PATH (as root: as NETNS_PERF_USER, default netns-ci);
# NETNS_PERF_SETTLE_MS (default 100) is the wait before every sample.
set -euo pipefail
cd "$(dirname "$0")/.."
write=0
case "${1:-}" in
  "") ;;
  --write) write=1 ;;
  *) echo "usage: scripts/compare-patchbay.sh [--write]" >&2; exit 2 ;;
esac
login_path=/usr/local/bin:/usr/bin:/bin
if [ ! -x /usr/sbin/nft ] && ! command -v nft >/dev/null; then
  echo "compare-patchbay: no nft binary (/usr/sbin/nft or on PATH): patchbay cannot" \
    "apply its NAT rules without it; apt-get install nftables" >&2
  exit 1
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --locked --manifest-path benches/patchbay-compare/Cargo.toml >&2
bin=$CARGO_TARGET_DIR/release
dir=$(mktemp -d /tmp/patchbay-compare.XXXXXX)
trap 'rm -rf "$dir"' EXIT
install -m 755 "$bin/patchbay-compare" "$bin/patchbay-lab" "$bin/netns-test-lab" "$dir/"
vars=(PATH="$login_path")
for v in PATCHBAY_COMPARE_SAMPLES NETNS_PERF_SETTLE_MS; do
  if [ -n "${!v:-}" ]; then vars+=("$v=${!v}"); fi
done
if [ "$(id -u)" -eq 0 ]; then
  user=${NETNS_PERF_USER:-netns-ci}
  id "$user" >/dev/null 2>&1 || {
    echo "compare-patchbay: no user $user to run as (NETNS_PERF_USER)" >&2
    exit 1
  }
  chmod 755 "$dir"
  chown "$user" "$dir"
  run=(runuser -u "$user" -- env -i HOME="$(getent passwd "$user" | cut -d: -f6)" USER="$user")
else
  run=(env -i HOME="$HOME" USER="$(id -un)")
fi
rc=0
(cd "$dir" && "${run[@]}" TMPDIR="$dir" "${vars[@]}" ./patchbay-compare > block.md) || rc=$?
cat "$dir/block.md"
if [ "$rc" -ne 0 ]; then
  echo "compare-patchbay: a side failed (exit $rc): see above; BENCHMARKS.md left as it is" >&2
  exit "$rc"
fi
if [ "$write" -eq 1 ]; then
  python3 scripts/ci_tools.py compare-splice "$dir/block.md" BENCHMARKS.md
  python3 scripts/ci_tools.py bench-check BENCHMARKS.md
fi
