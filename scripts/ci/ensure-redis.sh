#!/usr/bin/env bash
# Installs Debian's redis-server and redis-tools (redis-server, redis-cli; `redis-server --sentinel`
# is redis-sentinel) when missing: the Sentinel and Cluster suites and `npm run bench` start them as
# processes. Refuses a server newer than 7.2 (7.4 and later are not BSD licensed: DESIGN §11).
set -euo pipefail
missing=()
for pkg in redis-server redis-tools; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci: installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
# The package starts a system service where systemd runs; the tests start their own processes.
version=$(redis-server --version)
case "$version" in
  *" v=7.0."* | *" v=7.1."* | *" v=7.2."*) ;;
  *) echo "ci: redis-server must be 7.0-7.2 (BSD), got: $version" >&2; exit 1 ;;
esac
command -v redis-cli >/dev/null || { echo "ci: redis-cli is missing" >&2; exit 1; }
echo "ci: $(echo "$version" | cut -d' ' -f1-3)"
