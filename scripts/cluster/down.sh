#!/usr/bin/env bash
# Tears down everything up.sh started and made, and checks that nothing is left. Safe to re-run
# and after a partial start. Stops daemons by their PID files only; removes pod sandboxes through
# CRI (so the CNI plugins release addresses); removes the iptables chains, bridge, mounts,
# cgroups and directories the cluster made, and restores the kernel settings the kubelet changed.
# Whatever existed before up.sh (Docker, /var/lib/kubelet, KUBE-* chains) is left alone.
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd); . "$D/env.sh"; . "$D/lib.sh"
case "${1:-}" in -h|--help) echo "usage: sudo scripts/cluster/down.sh   (then runs leftovers.sh)"; exit 0;; esac
need_root
t0=$(date +%s)
stop() { local p s=$(date +%s); p=$(cat "$KR/pids/$1.pid" 2>/dev/null) || return 0
  if kill -0 "$p" 2>/dev/null; then kill "$p"; for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
    kill -0 "$p" 2>/dev/null && { echo "  SIGKILL $1 ($p)"; kill -9 "$p"; }; fi
  rm -f "$KR/pids/$1.pid"; echo "  stopped $1 ($(( $(date +%s)-s ))s)"; }
# ipt_purge REGEX: remove the chains matching REGEX, and every rule jumping to them, from iptables
# and ip6tables (eval: rules with quoted comments)
ipt_purge() { local ipt t c
  for ipt in iptables ip6tables; do for t in filter nat mangle raw; do
    $ipt -t $t -S 2>/dev/null | grep -E -- "^-A .* -j ($1)" | sed 's/^-A/-D/' | while read -r r; do eval "$ipt -t $t $r"; done
    for c in $($ipt -t $t -S 2>/dev/null | awk -v re="^($1)" '$1=="-N" && $2 ~ re {print $2}'); do $ipt -t $t -F "$c"; $ipt -t $t -X "$c"; done
  done; done; }
# 1. the node agents first, so nothing restarts pods
stop kubelet; stop kube-proxy
# 2. every pod sandbox through CRI (runs CNI DEL, removes the netns; quicker than the API's grace
# periods), then any stray task
if [ -S "$CTR_SOCK" ]; then
  crictl stopp $(crictl pods -q 2>/dev/null) >/dev/null 2>&1; crictl rmp -a -f >/dev/null 2>&1
  for t in $(ctr -a "$CTR_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
    ctr -a "$CTR_SOCK" -n k8s.io tasks kill -s SIGKILL "$t"; sleep 1; ctr -a "$CTR_SOCK" -n k8s.io tasks delete "$t"; done
fi
stop containerd
for p in $(ps -eo pid=,comm=,args= | awk -v a="-address $CTR_SOCK" '$2 ~ /^containerd-shim/ && index($0, a) {print $1}'); do
  echo "  killing leftover shim $p"; kill "$p"; done
stop kube-scheduler; stop kube-controller-manager; stop kube-apiserver; stop etcd
# 3. network: kube-proxy/kubelet/CNI chains (only when none existed before up.sh), bridge, guard
[ -x "$CLUSTER_BIN/kube-proxy" ] && "$CLUSTER_BIN/kube-proxy" --cleanup >/dev/null 2>&1
[ -f "$KR/own-iptables-chains" ] && ipt_purge 'KUBE-|CNI-'
ip link del "$CNI_BRIDGE" 2>/dev/null
"$D/guard.sh" --remove
# 4. mounts, kubelet's cgroups, kernel settings, state
for m in $(awk '{print $2}' /proc/mounts | grep -E "^($KR|$KRUN|/var/lib/kubelet)" | sort -r); do umount -l "$m"; done
[ -f "$KR/own-kubepods-cgroups" ] && for c in /sys/fs/cgroup/kubepods* /sys/fs/cgroup/*/kubepods*; do
  [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null; done
[ -f "$KR/sysctl.saved" ] && sysctl -q -p "$KR/sysctl.saved"
[ -f "$KR/own-var-lib-cni" ] && rm -rf /var/lib/cni
[ -f "$KR/own-var-lib-kubelet" ] && rm -rf /var/lib/kubelet
rm -rf "$KR" "$KRUN"
echo "== down in $(( $(date +%s)-t0 ))s"
"$D/leftovers.sh"
