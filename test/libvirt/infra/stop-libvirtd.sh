#!/usr/bin/env bash
# stop-libvirtd.sh — undo start-libvirtd.sh.  Idempotent.
#
# 1. Stops (virsh destroy) every running domain and every active network of
#    the test libvirtd, so qemu and dnsmasq processes exit cleanly and libvirt
#    does not keep "active" state for bridges that vanish with the namespace.
#    Persistent definitions are NOT undefined (tests clean up their own).
# 2. Terminates libvirtd and virtlogd, but only if they run inside our netns
#    (i.e. were started by start-libvirtd.sh).
# 3. Kills any process still left inside the netns (they can only be ours),
#    then deletes the netns.
#
# Requirements (Debian packages): libvirt-clients iproute2 procps.  Root.
set -euo pipefail

NETNS="${NIXLAB_NETNS:-nixlab-test}"
URI="qemu:///system"

log() { printf '[stop-libvirtd] %s\n' "$*" >&2; }

if [[ $EUID -ne 0 ]]; then
  echo "stop-libvirtd.sh must run as root" >&2
  exit 1
fi

if [[ ! -e "/run/netns/$NETNS" ]]; then   # (no `list | grep -q`: SIGPIPE + pipefail)
  log "netns $NETNS does not exist; nothing to do"
  exit 0
fi
NS_INODE="$(stat -L -c %i "/run/netns/$NETNS")"

in_our_netns() {
  [[ "$(stat -L -c %i "/proc/$1/ns/net" 2>/dev/null)" == "$NS_INODE" ]]
}

# wait (bounded) for a pid to exit, SIGKILL it after $2 seconds
wait_gone() {
  local pid=$1 secs=$2 i
  for (( i = 0; i < secs * 10; i++ )); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid still alive after ${secs}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# Is the daemon behind /run/libvirtd.pid ours (running inside the netns)?
# If not (never started, already stopped, or someone else's libvirtd) we must
# not touch it or its guests.
OUR_LIBVIRTD=""
if [[ -s /run/libvirtd.pid ]]; then
  pid="$(cat /run/libvirtd.pid)"
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == libvirtd ]] && in_our_netns "$pid"; then
    OUR_LIBVIRTD=$pid
  fi
fi

# 1. graceful: guests and networks, only on our daemon and only if it
#    answers quickly
if [[ -n "$OUR_LIBVIRTD" ]] && timeout 5 virsh -c "$URI" version >/dev/null 2>&1; then
  for dom in $(timeout 10 virsh -c "$URI" list --name 2>/dev/null); do
    log "destroying domain $dom"
    timeout 30 virsh -c "$URI" destroy "$dom" >/dev/null 2>&1 || true
  done
  for net in $(timeout 10 virsh -c "$URI" net-list --name 2>/dev/null); do
    log "destroying network $net"
    timeout 30 virsh -c "$URI" net-destroy "$net" >/dev/null 2>&1 || true
  done
fi

# 2. daemons started by start-libvirtd.sh (identified by pid file + netns)
for spec in libvirtd:/run/libvirtd.pid virtlogd:/run/virtlogd.pid; do
  name=${spec%%:*} pidfile=${spec#*:}
  [[ -s "$pidfile" ]] || continue
  pid="$(cat "$pidfile")"
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] && in_our_netns "$pid"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 15
    rm -f "$pidfile"
  fi
done

# 3. leftovers in the namespace (qemu, dnsmasq, ssh clients of a crashed test)
for pid in $(ip netns pids "$NETNS" 2>/dev/null); do
  log "killing leftover pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo '?'))"
  kill -TERM "$pid" 2>/dev/null || true
done
for pid in $(ip netns pids "$NETNS" 2>/dev/null); do
  wait_gone "$pid" 10
done

ip netns del "$NETNS"
log "netns $NETNS deleted"
