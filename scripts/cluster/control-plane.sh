#!/usr/bin/env bash
# etcd (Debian's, loopback, plain HTTP) + kube-apiserver + kube-controller-manager + kube-scheduler.
# The apiserver listens on every address (6443, mutual TLS): pods reach it through the `kubernetes`
# Service at NODE_IP:6443. Everything else listens on loopback.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd); . "$D/env.sh"; . "$D/lib.sh"; need_root
P=$KR/pki; mkdir -p "$KR/etcd" && chmod 700 "$KR/etcd"
start etcd /usr/bin/etcd --name default --data-dir "$KR/etcd" \
  --listen-client-urls http://127.0.0.1:12379 --advertise-client-urls http://127.0.0.1:12379 \
  --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
  --initial-cluster default=http://127.0.0.1:12380 --initial-cluster-state new
waitfor 60 etcd curl -fsS http://127.0.0.1:12379/health
start kube-apiserver "$CLUSTER_BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:12379 \
  --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$NODE_IP" \
  --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
  --client-ca-file="$P/ca.crt" \
  --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$P/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --service-cluster-ip-range="$SVC_CIDR" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --allow-privileged=true --v=1
waitfor 120 kube-apiserver kubectl get --raw /readyz
start kube-controller-manager "$CLUSTER_BIN/kube-controller-manager" \
  --kubeconfig="$KR/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$KR/controller-manager.kubeconfig" --authorization-kubeconfig="$KR/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false \
  --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
  --root-ca-file="$P/ca.crt" --service-account-private-key-file="$P/sa.key" --use-service-account-credentials=true \
  --service-cluster-ip-range="$SVC_CIDR" --v=1
start kube-scheduler "$CLUSTER_BIN/kube-scheduler" \
  --kubeconfig="$KR/scheduler.kubeconfig" \
  --authentication-kubeconfig="$KR/scheduler.kubeconfig" --authorization-kubeconfig="$KR/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --v=1
waitfor 60 kube-controller-manager curl -fsk https://127.0.0.1:10257/healthz
waitfor 60 kube-scheduler curl -fsk https://127.0.0.1:10259/healthz
