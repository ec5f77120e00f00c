#!/usr/bin/env bash
# oci-image.sh ROOTFS_DIR IMAGE_NAME OUT.tar '["entrypoint","args"]'
# Writes a single-layer OCI image archive of ROOTFS_DIR (no Docker, no registry) that
# `ctr images import` takes under the full name IMAGE_NAME (annotation io.containerd.image.name).
set -euo pipefail
ROOT=$1 NAME=$2 OUT=$3 ENTRY=$4
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; mkdir -p "$W/blobs/sha256"
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$W/blobs/sha256/$d"; echo "$d"; }
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$ROOT" -cf "$W/layer" .
LS=$(stat -c %s "$W/layer"); L=$(blob "$W/layer")
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$ENTRY" "$L" > "$W/config"
CS=$(stat -c %s "$W/config"); C=$(blob "$W/config")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$C" "$CS" "$L" "$LS" > "$W/manifest"
MS=$(stat -c %s "$W/manifest"); M=$(blob "$W/manifest")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' "$M" "$MS" "$NAME" "${NAME##*:}" > "$W/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$W/oci-layout"
tar -C "$W" -cf "$OUT.tmp" oci-layout index.json blobs && mv "$OUT.tmp" "$OUT"
