#!/usr/bin/env bash
# The PC/SC daemon for the offline NFC suite and the virtual reader (vsmartcard's vpcd driver,
# which pcscd loads from /etc/reader.conf.d/vpcd and which then listens on 127.0.0.1:35963 for
# "Virtual PCD 00 00" and :35964 for "Virtual PCD 00 01").
#
#   scripts/pcsc.sh start    start pcscd unless one is running (needs root)
#   scripts/pcsc.sh stop     stop pcscd, only if this script started it
#   scripts/pcsc.sh status   say whether pcscd runs, and who started it
#
# The tests do not need this script: they start pcscd themselves when it is not running and
# stop only what they started (offline/pcsc_stack.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

pid_file=/run/pcscd/pcscd.pid
ours=.tmp/pcscd.started-by-script

running_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid=$(tr -dc '0-9' < "$pid_file")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  echo "$pid"
}

case "${1:-}" in
  start)
    if pid=$(running_pid); then
      echo "pcsc: pcscd already running (pid $pid); leaving it alone"
      exit 0
    fi
    command -v pcscd >/dev/null || { echo "pcsc: pcscd is not installed; run scripts/setup.sh as root" >&2; exit 1; }
    [ -f /etc/reader.conf.d/vpcd ] || echo "pcsc: warning: vsmartcard-vpcd is not installed; no virtual reader" >&2
    mkdir -p .tmp
    pcscd   # forks into the background and writes its pid file
    for _ in $(seq 1 100); do
      if pid=$(running_pid); then
        echo "$pid" > "$ours"
        echo "pcsc: pcscd started (pid $pid)"
        exit 0
      fi
      sleep 0.1
    done
    echo "pcsc: pcscd did not start" >&2
    exit 1
    ;;
  stop)
    if [ ! -f "$ours" ]; then
      echo "pcsc: pcscd was not started by this script; leaving it alone"
      exit 0
    fi
    started=$(cat "$ours")
    rm -f "$ours"
    if pid=$(running_pid) && [ "$pid" = "$started" ]; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "pcsc: pcscd stopped (pid $pid)"
    else
      echo "pcsc: the pcscd this script started is gone already"
    fi
    ;;
  status)
    if pid=$(running_pid); then
      if [ -f "$ours" ] && [ "$(cat "$ours")" = "$pid" ]; then who="started by this script"; else who="started elsewhere"; fi
      echo "pcsc: pcscd running (pid $pid, $who)"
    else
      echo "pcsc: pcscd not running"
      exit 3
    fi
    ;;
  *)
    echo "usage: scripts/pcsc.sh start|stop|status" >&2
    exit 2
    ;;
esac
