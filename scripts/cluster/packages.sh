#!/usr/bin/env bash
# Installs the Debian packages the cluster runs on (etcd, containerd, runc, CNI plugins, iptables,
# conntrack, socat for port-forward, openssl for the PKI), once; and stops the services that
# etcd-server/containerd start on a systemd host (up.sh runs its own on other ports and sockets).
set -euo pipefail
case "${1:-}" in -h|--help)
  echo "usage: scripts/cluster/packages.sh   (root; Debian 12 or later)"; exit 0;; esac
pkgs=(etcd-server containerd runc containernetworking-plugins iptables conntrack socat openssl curl kmod iproute2)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "packages: installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  if [ -d /run/systemd/system ]; then systemctl disable --now etcd containerd >/dev/null 2>&1 || true; fi
fi
echo "packages: ready (etcd $(/usr/bin/etcd --version 2>/dev/null | awk '/etcd Version/{print $3}'), containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'))"
