#!/usr/bin/env bash
# Prints what a cluster left on this machine (processes, iptables chains and the guard, mounts,
# cgroups, bridge, directories) and exits 1 if anything; prints "nothing left" and exits 0 if not.
# Other Kubernetes installs on the same machine would show up here too.
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd); . "$D/env.sh"
left=$(
  # daemons: etcd, a binary from $CLUSTER_BIN, our containerd and its shims
  ps -eo pid=,args= | awk -v bin="$CLUSTER_BIN/" -v kr="$KR" -v sock="$CTR_SOCK" \
    '$2 == "/usr/bin/etcd" || index($2, bin) == 1 || ($2 ~ /containerd/ && (index($0, kr) || index($0, sock)))' 
  { iptables-save; ip6tables-save; } 2>/dev/null | grep -E "^:(CNI|KUBE)|$GUARD_COMMENT" | sed 's/^/iptables: /'
  grep -E "$KR|$KRUN|kubelet" /proc/mounts | sed 's/^/mount: /'
  find /sys/fs/cgroup -maxdepth 2 -name 'kubepods*' | sed 's/^/cgroup: /'
  ip -o link show "$CNI_BRIDGE" 2>/dev/null | sed 's/^/link: /'
  ls -d "$KR" "$KRUN" /var/lib/kubelet /var/lib/cni 2>/dev/null | sed 's/^/dir: /'
)
if [ -n "$left" ]; then echo "leftovers:"; echo "$left"; exit 1; fi
echo "leftovers: nothing left"
