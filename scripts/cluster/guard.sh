#!/usr/bin/env bash
# Keeps test traffic on this machine. Until kube-proxy has programmed a fresh Service (about a
# second), packets to its ClusterIP are not translated and would follow the default route off the
# host (seen: a Redis client got an HTTP answer from somewhere else). Reject every packet to the
# service range that no DNAT rule has rewritten, from the host (OUTPUT) and from pods (FORWARD).
# `guard.sh --remove` takes the rules out again (down.sh does).
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd); . "$D/env.sh"; . "$D/lib.sh"; need_root
rule=(-d "$SVC_CIDR" -m conntrack ! --ctstate DNAT -m comment --comment "$GUARD_COMMENT" -j REJECT)
for chain in OUTPUT FORWARD; do
  if [ "${1:-}" = --remove ]; then
    while iptables -D $chain "${rule[@]}" 2>/dev/null; do :; done
  else
    iptables -C $chain "${rule[@]}" 2>/dev/null || iptables -I $chain "${rule[@]}"
  fi
done
