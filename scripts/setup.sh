#!/usr/bin/env bash
# Installs what the examples and tests run inside their nodes: ip, ping, curl, python3,
# nft/tcpdump for inspecting a sandbox by hand, nc for the benchmark's shell baseline, and
# tmux for the lab CLI's terminal tests.
# The framework itself needs none of them; with uidmap's newuidmap/newgidmap, when present,
# it maps a range of ids into its namespaces.
# Idempotent; uses sudo when not root.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have ip || need+=(iproute2)
have ping || need+=(iputils-ping)
have curl || need+=(curl)
[ -x /usr/bin/python3 ] || need+=(python3)
have nft || need+=(nftables)
have tcpdump || need+=(tcpdump)
# The perf benchmark's baseline, scripts/nat-lab-recipe.sh, connects with nc.
have nc || need+=(netcat-openbsd)
# netns-test/tests/lab_cli.rs drives `netns-test lab` in a real terminal: tmux.
have tmux || need+=(tmux)
# dig, for the name service's tests (records, CNAME chains, TXT, reverse lookups).
have dig || need+=(dnsutils)
# newuidmap/newgidmap map a range of ids, so that programs in nodes can change user and
# group (README, "Programs that change user or group"); not on PATH for ordinary users.
[ -x /usr/bin/newuidmap ] && [ -x /usr/bin/newgidmap ] || need+=(uidmap)
# The report_html tests open a failed test's report.html in headless Chromium.
have chromium || need+=(chromium)
# The pause_on_failure tests enter a paused test's nodes with nsenter.
have nsenter || need+=(util-linux)

if [ ${#need[@]} -gt 0 ]; then
  if ! have apt-get; then
    echo "setup.sh: please install: ${need[*]} (no apt-get on this machine)" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! have cargo; then
  echo "setup.sh: cargo is missing: install a Rust toolchain (rustup) first" >&2
  exit 1
fi

# A clear word now beats a failing suite later.
if ! unshare --user --map-root-user --net true 2>/dev/null; then
  echo "setup.sh: warning: this machine cannot create user namespaces for $(id -un);" >&2
  echo "          the tests will fail and say why (see README, 'When user namespaces are restricted')." >&2
fi
if [ "$(id -u)" -ne 0 ] && ! grep -qE "^($(id -un)|$(id -u)):" /etc/subuid 2>/dev/null; then
  echo "setup.sh: note: $(id -un) has no range in /etc/subuid, so programs in nodes cannot" >&2
  echo "          change user or group; as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $(id -un)" >&2
fi
echo "setup.sh: ready"
