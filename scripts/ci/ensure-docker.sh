#!/usr/bin/env bash
# Starts a Docker engine if none answers, and builds the local base images that stand in for the
# public ones (no registry can be reached here): a Debian base from debootstrap, a Redis image on it.
# Idempotent: every step is skipped when its result is already there.
set -euo pipefail
cache="${STUDIOLINE_CACHE:-$HOME/.cache/studioline}"
mkdir -p "$cache"

need_pkg() { dpkg -s "$1" >/dev/null 2>&1 || missing+=("$1"); }
missing=()
need_pkg docker.io; need_pkg debootstrap
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci: installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "ci: starting dockerd"
  (nohup dockerd >"$cache/dockerd.log" 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "ci: dockerd did not start; see $cache/dockerd.log" >&2; exit 1; }
fi

base=studioline-local/debian:bookworm
if ! docker image inspect "$base" >/dev/null 2>&1; then
  tarball="$cache/debian-bookworm-minbase.tar"
  if [ ! -s "$tarball" ]; then
    echo "ci: debootstrap bookworm (about a minute, once)"
    root=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$root" >"$cache/debootstrap.log" 2>&1
    tar -C "$root" -c . >"$tarball.tmp" && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  docker import "$tarball" "$base" >/dev/null
fi

redis=studioline-local/redis:7
if ! docker image inspect "$redis" >/dev/null 2>&1; then
  echo "ci: building $redis"
  docker build -q --force-rm -t "$redis" --build-arg BASE_IMAGE="$base" -f docker/redis.Dockerfile docker >/dev/null
fi
node_image=studioline-local/node:20
# Rebuilt when this machine's CA bundle changes (registries are reached through it).
ca_sum=$(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-12)
if [ "$(docker image inspect -f '{{ index .Config.Labels "ca" }}' "$node_image" 2>/dev/null)" != "$ca_sum" ]; then
  echo "ci: building $node_image from this machine's node $(node --version)"
  ctx=$(mktemp -d)
  cp "$(readlink -f "$(command -v node)")" "$ctx/node"
  cp -r "$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")" "$ctx/npm"
  cp docker/node-local.Dockerfile "$ctx/Dockerfile"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
  docker build -q --force-rm -t "$node_image" --label "ca=$ca_sum" --build-arg BASE_IMAGE="$base" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

nginx_image=studioline-local/nginx:1
if ! docker image inspect "$nginx_image" >/dev/null 2>&1; then
  echo "ci: building $nginx_image"
  docker build -q --force-rm -t "$nginx_image" --build-arg BASE_IMAGE="$base" -f docker/nginx.Dockerfile docker >/dev/null
fi
echo "ci: docker ready (base $base, redis $redis, node $node_image, nginx $nginx_image)"
