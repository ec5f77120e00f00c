#!/usr/bin/env bash
# Installs the chart on a real cluster and makes a real call through it with `helm test`.
# Not run by CI (no cluster can run here); for anyone with kind or a kubeconfig.
#
#   scripts/k8s-smoke.sh              # a throwaway kind cluster named studioline-smoke
#   KUBECONFIG=... scripts/k8s-smoke.sh --existing   # the current context of your kubeconfig
#
# Needs docker, helm and kubectl (and kind without --existing).
set -euo pipefail
cd "$(dirname "$0")/.."
namespace=${NAMESPACE:-studioline-smoke}
image=${STUDIOLINE_IMAGE:-studioline:smoke}

docker build -t "$image" --build-arg NODE_IMAGE="${NODE_IMAGE:-node:20-bookworm-slim}" .
if [ "${1:-}" != "--existing" ]; then
  kind get clusters | grep -qx studioline-smoke || kind create cluster --name studioline-smoke --wait 120s
  kind load docker-image "$image" --name studioline-smoke
  trap 'kind delete cluster --name studioline-smoke' EXIT
fi

kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install studioline charts/studioline -n "$namespace" \
  --set image.repository="${image%:*}" --set image.tag="${image##*:}" --set image.pullPolicy=IfNotPresent \
  --wait --timeout 5m
# A declarative key, mirrored by keys-admin from a labelled Secret:
key=$(LC_ALL=C tr -dc 'a-zA-Z' </dev/urandom | head -c 72)
kubectl -n "$namespace" create secret generic smoke-key --from-literal=apikey="$key" --dry-run=client -o yaml \
  | kubectl label --local -f - studioline.io/api-key=true -o yaml | kubectl apply -f -
helm test studioline -n "$namespace" --logs
echo "smoke test passed: a real call went through gateways, relays and Redis in $namespace"
