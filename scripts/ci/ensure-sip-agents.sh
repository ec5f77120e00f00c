#!/usr/bin/env bash
# Installs the SIP user agents the SIP bridge's tests drive, when missing: Debian's baresip-core
# (the baresip softphone and its modules, without the GUI and video packages that `baresip`
# recommends) and sip-tester (SIPp).
set -euo pipefail
missing=()
for pkg in baresip-core sip-tester; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci: installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v baresip >/dev/null && command -v sipp >/dev/null || { echo "ci: baresip or sipp is missing" >&2; exit 1; }
