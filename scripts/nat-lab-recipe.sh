#!/usr/bin/env bash
# The NAT lab of `presets::nat_lan_wan(2)` built the way the tutorials build it by hand:
# `ip` and `nft` commands, here under `unshare -Urnm` so that it runs unprivileged in
# namespaces of its own, then one TCP connection from each LAN host to the server. It is
# the baseline the perf benchmark times, pair by pair, against the same lab as a
# `#[netns_test]` (`cargo bench -p netns-test --bench perf -- nat`).
#
#   lan1 192.168.1.2 ─┐
#                     lan (bridge in router, 192.168.1.1/24, masqueraded) router ── wan
#   lan2 192.168.1.3 ─┘                                  198.51.100.1/24 ── server .2
#
# Needs iproute2, nftables, netcat-openbsd and util-linux (scripts/setup.sh installs
# them). Exits non-zero if any step fails, a connection included.
set -euo pipefail
# The administration tools live in /usr/sbin, which an ordinary user's PATH lacks.
export PATH="$PATH:/usr/sbin:/sbin"
exec unshare --user --map-root-user --mount --net bash -euo pipefail -c '
mount -t tmpfs tmpfs /run            # a private /run for `ip netns`
for n in router server lan1 lan2; do ip netns add $n; ip -n $n link set lo up; done

ip -n router link add lan type bridge
ip -n router addr add 192.168.1.1/24 dev lan
ip -n router link set lan up
for i in 1 2; do
  ip -n router link add veth$i type veth peer name eth0 netns lan$i
  ip -n router link set veth$i master lan up
  ip -n lan$i addr add 192.168.1.$((i + 1))/24 dev eth0
  ip -n lan$i link set eth0 up
  ip -n lan$i route add default via 192.168.1.1
done
ip -n router link add wan type veth peer name eth0 netns server
ip -n router addr add 198.51.100.1/24 dev wan
ip -n router link set wan up
ip -n server addr add 198.51.100.2/24 dev eth0
ip -n server link set eth0 up
ip netns exec router sysctl -qw net.ipv4.ip_forward=1
ip netns exec router nft -f - <<EOF
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    ip saddr 192.168.1.0/24 oifname != "lan" masquerade
  }
}
EOF

# One TCP connection from each LAN host to a listener on the server.
ip netns exec server nc -lk 198.51.100.2 7000 >/dev/null &
server=$!
for i in 1 2; do
  for try in $(seq 200); do
    ip netns exec lan$i nc -z -w 2 198.51.100.2 7000 && break
    [ "$try" -lt 200 ] || { echo "lan$i cannot connect to the server" >&2; exit 1; }
    sleep 0.005   # the listener is not up yet
  done
done
kill $server
'
