# Helpers sourced by the cluster scripts.

# start NAME CMD... : run a daemon detached (setsid), log to $KR/logs/NAME.log, pid to $KR/pids/NAME.pid
start() {
  local n=$1; shift; mkdir -p "$KR/logs" "$KR/pids"
  setsid nohup "$@" > "$KR/logs/$n.log" 2>&1 < /dev/null & echo $! > "$KR/pids/$n.pid"
  echo "  started $n (pid $!, log $KR/logs/$n.log)"
}

# waitfor SECONDS DESC CMD... : poll CMD every second until it succeeds; on timeout say where to look
waitfor() {
  local t=$1 d=$2 s; shift 2; s=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) - s > t )); then echo "  TIMEOUT after ${t}s waiting for $d (logs: $KR/logs/)" >&2; return 1; fi
    sleep 1
  done
  echo "  $d ready after $(( $(date +%s) - s ))s"
}

# need_root: every step that starts daemons or touches iptables needs it
need_root() { [ "$(id -u)" = 0 ] || { echo "$(basename "$0"): run as root" >&2; exit 1; }; }
