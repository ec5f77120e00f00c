#!/usr/bin/env bash
# Builds the Go tools the tests use (helm) with `go install` at pinned versions, once; later
# runs find them in the cache. The first build takes a few minutes.
set -euo pipefail
bin="${STUDIOLINE_CACHE:-$HOME/.cache/studioline}/bin"
mkdir -p "$bin"
install() { # name module version
  if [ -x "$bin/$1" ] && [ "$(cat "$bin/$1.version" 2>/dev/null)" = "$3" ]; then return; fi
  echo "ci: building $1 $3 with go install (once; a few minutes)"
  GOBIN="$bin" go install "$2@$3"
  echo "$3" > "$bin/$1.version"
}
install helm helm.sh/helm/v3/cmd/helm v3.22.0
echo "ci: tools ready in $bin ($("$bin/helm" version --short))"
