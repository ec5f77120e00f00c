#!/usr/bin/env bash
# Removes the containers a test run leaves behind: testcontainers' own reaper (Ryuk) cannot run here
# (its image cannot be pulled), so a suite that is killed or times out before its `after` hook leaves
# its containers, and every `docker stop` in a test leaves an exited one until it is removed.
# Only containers that testcontainers made (label org.testcontainers=true) and that are no longer
# running, unless --all is given (then running ones too: for the end of a CI run, nothing else runs).
set -euo pipefail
filters=(--filter label=org.testcontainers=true)
[ "${1:-}" = "--all" ] || filters+=(--filter status=exited --filter status=created --filter status=dead)
command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || exit 0
ids=$(docker ps -aq "${filters[@]}")
if [ -n "$ids" ]; then
  echo "ci: removing $(echo "$ids" | wc -l) leftover test container(s)"
  docker rm -f $ids >/dev/null
fi
# Networks that testcontainers made and nothing uses any more.
nets=$(docker network ls -q --filter label=org.testcontainers=true)
for n in $nets; do docker network rm "$n" >/dev/null 2>&1 || true; done
