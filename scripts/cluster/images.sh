#!/usr/bin/env bash
# The cluster's images as archives under $CLUSTER_IMAGES, and their import into the cluster's
# containerd (no registry: nothing is ever pulled):
#   - localhost/pause:local   the pod sandbox: a tiny static Go program that sleeps and reaps
#   - localhost/coredns:local the coredns binary from build.sh in an otherwise empty image
#   - the product images ($CLUSTER_PRODUCT_IMAGES) with `docker save`, when Docker has them;
#     saved again only when the image ID changes
# When the cluster is up, archives written by this run are imported right away.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd); . "$D/env.sh"; . "$D/lib.sh"
case "${1:-}" in -h|--help)
  echo "usage: scripts/cluster/images.sh [--import-only] [IMAGE...]"
  echo "Writes the pause and coredns image archives and 'docker save's the product images"
  echo "(default: $CLUSTER_PRODUCT_IMAGES) into $CLUSTER_IMAGES;"
  echo "imports them into the cluster's containerd when it runs. --import-only: import every archive."
  exit 0;; esac
mkdir -p "$CLUSTER_IMAGES"
import() { # ARCHIVE...
  [ -S "$CTR_SOCK" ] || return 0
  for a in "$@"; do
    local t=$(date +%s)
    ctr -a "$CTR_SOCK" -n k8s.io images import "$a" >/dev/null
    echo "  imported $(basename "$a" .tar) ($(du -m "$a" | cut -f1) MB, $(( $(date +%s)-t ))s)"
  done
}
if [ "${1:-}" = --import-only ]; then import "$CLUSTER_IMAGES"/*.tar; exit 0; fi
[ $# -gt 0 ] && CLUSTER_PRODUCT_IMAGES="$*"
fresh=()

# --- pause, keyed on its source
pause_src=$(cat <<'GO'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

// The pod sandbox's process: holds the pod's namespaces, reaps zombies, exits on SIGTERM/SIGINT.
func main() {
	c := make(chan os.Signal, 8)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range c {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				if pid, _ := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
GO
)
key=$(echo "$pause_src" | sha256sum | cut -c1-12)
if [ "$(cat "$CLUSTER_IMAGES/pause.key" 2>/dev/null)" != "$key" ] || [ ! -s "$CLUSTER_IMAGES/pause.tar" ]; then
  T=$(mktemp -d); mkdir -p "$T/src" "$T/root"
  echo "$pause_src" > "$T/src/main.go"
  (cd "$T/src" && go mod init pause >/dev/null 2>&1 && CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags '-s -w' -o "$T/root/pause" .)
  "$D/oci-image.sh" "$T/root" localhost/pause:local "$CLUSTER_IMAGES/pause.tar" '["/pause"]'
  rm -rf "$T"; echo "$key" > "$CLUSTER_IMAGES/pause.key"; fresh+=("$CLUSTER_IMAGES/pause.tar")
  echo "images: pause written"
fi

# --- product images from Docker, keyed on the image ID
for img in $CLUSTER_PRODUCT_IMAGES; do
  f=$CLUSTER_IMAGES/product-$(echo "$img" | tr '/:' '__').tar
  if ! id=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null); then
    echo "images: $img is not in Docker (build it with scripts/ci/build-images.sh); $( [ -s "$f" ] && echo "keeping the saved archive" || echo "skipped")" >&2
    continue
  fi
  if [ "$(cat "$f.id" 2>/dev/null)" != "$id" ] || [ ! -s "$f" ]; then
    t=$(date +%s)
    docker save -o "$f.tmp" "$img" && mv "$f.tmp" "$f"; echo "$id" > "$f.id"; fresh+=("$f")
    echo "images: saved $img ($(du -m "$f" | cut -f1) MB, $(( $(date +%s)-t ))s)"
  fi
done

# --- coredns, keyed on its version
[ -x "$CLUSTER_BIN/coredns" ] || { echo "images.sh: no coredns in $CLUSTER_BIN: run scripts/cluster/build.sh" >&2; exit 1; }
if [ "$(cat "$CLUSTER_IMAGES/coredns.key" 2>/dev/null)" != "$COREDNS_VERSION" ] || [ ! -s "$CLUSTER_IMAGES/coredns.tar" ]; then
  T=$(mktemp -d); cp "$CLUSTER_BIN/coredns" "$T/coredns"
  "$D/oci-image.sh" "$T" localhost/coredns:local "$CLUSTER_IMAGES/coredns.tar" '["/coredns"]'
  rm -rf "$T"; echo "$COREDNS_VERSION" > "$CLUSTER_IMAGES/coredns.key"; fresh+=("$CLUSTER_IMAGES/coredns.tar")
  echo "images: coredns written"
fi

[ ${#fresh[@]} -gt 0 ] && import "${fresh[@]}"
echo "images: ready in $CLUSTER_IMAGES ($(ls "$CLUSTER_IMAGES" | grep -c '\.tar$') archives)"
