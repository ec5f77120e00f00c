#!/usr/bin/env bash
# Brings up a single-node Kubernetes cluster on this machine: Debian packages, binaries (built once
# and cached), images, then the traffic guard, PKI, control plane, node and DNS. Prints each step's
# time. Safe to re-run: an answering cluster is left as it is.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd); . "$D/env.sh"; . "$D/lib.sh"
case "${1:-}" in -h|--help) cat <<USAGE
usage: sudo scripts/cluster/up.sh
Single-node Kubernetes $K8S_VERSION for tests and trials (no registry: local images only).
  1. packages.sh  Debian packages (etcd, containerd, runc, CNI plugins, iptables, conntrack, socat)
  2. build.sh     kube-* binaries, kubelet, kubectl, crictl, coredns from the Go module proxy
                  (cold ~15 min on 2 cores, cached in $CLUSTER_BIN)
  3. images.sh    pause, coredns and the product images ($CLUSTER_PRODUCT_IMAGES)
  4. guard, PKI, etcd + control plane, containerd + kubelet + kube-proxy, CoreDNS (~15 s)
Then:  export KUBECONFIG=$KUBECONFIG PATH=$CLUSTER_BIN:\$PATH
Stop:  sudo scripts/cluster/down.sh   (removes everything, including the cluster's state)
Settings (versions, addresses, directories): scripts/cluster/env.sh
USAGE
  exit 0;; esac
need_root
[ -n "$NODE_IP" ] || { echo "up.sh: no default route to take the node IP from: set NODE_IP to a local non-loopback address" >&2; exit 1; }
step() { local t=$(date +%s); echo "== $1"; "$D/$1.sh"; echo "== $1: $(( $(date +%s)-t ))s"; }
t0=$(date +%s)
step packages; step build; step images
if [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1; then
  echo "== the cluster is already up ($KUBECONFIG)"; exit 0
fi
[ -d "$KR/pids" ] && { echo "up.sh: a partial cluster is in $KR: run down.sh first" >&2; exit 1; }
t1=$(date +%s)
step guard; step pki; step control-plane; step node; step dns
echo "== cluster up in $(( $(date +%s)-t1 ))s ($(( $(date +%s)-t0 ))s with packages, build, images)"
kubectl get nodes -o wide
echo "export KUBECONFIG=$KUBECONFIG PATH=$CLUSTER_BIN:\$PATH"
