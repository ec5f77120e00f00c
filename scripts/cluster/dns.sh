#!/usr/bin/env bash
# Cluster DNS: CoreDNS (image localhost/coredns:local from images.sh) as kube-dns on $DNS_IP.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd); . "$D/env.sh"; . "$D/lib.sh"
sed "s/clusterIP: DNS_IP/clusterIP: $DNS_IP/" "$D/dns.yaml" | kubectl apply -f - >/dev/null
kubectl -n kube-system rollout status deploy/coredns --timeout=180s >/dev/null
echo "  coredns ready on $DNS_IP"
