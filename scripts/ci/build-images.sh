#!/usr/bin/env bash
# Builds the Studioline image from the repository's Dockerfile, on the local Node base image when
# the public one cannot be pulled (see ensure-docker.sh). Docker's layer cache keeps reruns fast.
set -euo pipefail
cd "$(dirname "$0")/../.."
node_image="${NODE_IMAGE:-studioline-local/node:20}"
image="${STUDIOLINE_IMAGE:-studioline:dev}"
echo "ci: building $image on $node_image"
docker build -q --force-rm -t "$image" --build-arg NODE_IMAGE="$node_image" . >/dev/null
echo "ci: built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
