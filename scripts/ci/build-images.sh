#!/usr/bin/env bash
# Builds the Studioline image from the repository's Dockerfile, on the local Node base image when
# the public one cannot be pulled (see ensure-docker.sh), and the SIP bridge's image (the same
# layers, the bridge as entry point: the Dockerfile's `sip-bridge` target). Docker's layer cache
# keeps reruns fast.
set -euo pipefail
cd "$(dirname "$0")/../.."
node_image="${NODE_IMAGE:-studioline-local/node:20}"
image="${STUDIOLINE_IMAGE:-studioline:dev}"
sip_image="${STUDIOLINE_SIP_BRIDGE_IMAGE:-studioline-sip-bridge:dev}"
echo "ci: building $image and $sip_image on $node_image"
docker build -q --force-rm -t "$image" --build-arg NODE_IMAGE="$node_image" . >/dev/null
docker build -q --force-rm -t "$sip_image" --target sip-bridge --build-arg NODE_IMAGE="$node_image" . >/dev/null
echo "ci: built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')) and $sip_image"
