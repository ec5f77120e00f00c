#!/usr/bin/env bash
# Builds the cluster's binaries from the Go module proxy into $CLUSTER_BIN (see env.sh), once per
# version: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl,
# crictl and coredns. Cold: about 15 minutes on 2 cores; every binary is skipped when the cached
# one has the wanted version. Go builds run under `nice -n 19`.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd); . "$D/env.sh"
case "${1:-}" in -h|--help)
  echo "usage: scripts/cluster/build.sh [BINARY...]"
  echo "Builds (or finds cached in $CLUSTER_BIN) the Kubernetes $K8S_VERSION binaries, crictl $CRICTL_VERSION"
  echo "and coredns $COREDNS_VERSION with Go >= 1.26 through the Go module proxy. Cold: ~15 min on 2 cores."
  exit 0;; esac
command -v go >/dev/null || { echo "build.sh: Go >= 1.26 is needed (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$CLUSTER_BIN"
export CGO_ENABLED=0
gobuild() { nice -n 19 go "$@"; }
cached() { [ -x "$CLUSTER_BIN/$1" ] && [ "$(cat "$CLUSTER_BIN/$1.version" 2>/dev/null)" = "$2" ]; }
t0=$(date +%s)

# --- Kubernetes. k8s.io/kubernetes replaces its k8s.io/* staging modules with ./staging/... paths
# that are not in the module zip (and a dependency's replaces are ignored anyway): a scratch module
# requires it and maps each staging module to the published k8s.io/<x> v0.<minor>.<patch>.
k8s_module() {
  local src=$CLUSTER_CACHE/src-$K8S_VERSION stg=v0.${K8S_VERSION#v1.} mod
  [ -s "$src/go.sum" ] && { echo "$src"; return; }
  mkdir -p "$src"
  mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  {
    echo "module studioline-cluster"; echo
    echo "go $(awk '/^go /{print $2}' "$mod")"; echo
    echo "require k8s.io/kubernetes $K8S_VERSION"; echo
    echo "replace ("
    # the sample-* modules are not needed (and sample-cli-plugin is not published for every tag)
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$mod" | grep -v /sample- |
      while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$stg"; done
    echo ")"
  } > "$src/go.mod"
  # blank imports of the commands let `go mod tidy` compute the whole dependency set
  cp "$D/k8s-tools.go.txt" "$src/tools.go"
  (cd "$src" && go mod tidy) >&2
  echo "$src"
}
minor=$(echo "$K8S_VERSION" | cut -d. -f2)
ldf="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do   # else: v0.0.0-master
  ldf+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
want=("$@"); [ ${#want[@]} -gt 0 ] || want=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy crictl coredns)
src=
for c in "${want[@]}"; do
  case $c in
    crictl)  v=$CRICTL_VERSION ;;
    coredns) v=$COREDNS_VERSION ;;
    *)       v=$K8S_VERSION ;;
  esac
  if cached "$c" "$v"; then echo "build: $c $v cached"; continue; fi
  echo "build: $c $v ... (started $(date +%T))"
  t=$(date +%s)
  case $c in
    crictl)  GOBIN=$CLUSTER_BIN gobuild install -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$v" "sigs.k8s.io/cri-tools/cmd/crictl@$v" ;;
    coredns) GOBIN=$CLUSTER_BIN gobuild install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$v" ;;
    *)       [ -n "$src" ] || { echo "build: resolving k8s.io/kubernetes $v modules"; src=$(k8s_module); echo "build: modules ready after $(( $(date +%s)-t ))s"; }
             (cd "$src" && gobuild build -trimpath -ldflags "$ldf" -o "$CLUSTER_BIN/$c" "k8s.io/kubernetes/cmd/$c") ;;
  esac
  echo "$v" > "$CLUSTER_BIN/$c.version"
  echo "build: $c $v in $(( $(date +%s)-t ))s ($(du -m "$CLUSTER_BIN/$c" | cut -f1) MB)"
done
echo "build: done in $(( $(date +%s)-t0 ))s; binaries in $CLUSTER_BIN"
