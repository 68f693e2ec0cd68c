#!/usr/bin/env bash
# start-libvirtd.sh — start a private libvirtd for nixlab's libvirt tests.
#
# Idempotent.  Creates the network namespace "nixlab-test" (loopback up) and
# runs virtlogd + libvirtd INSIDE it, so every bridge, tap, dnsmasq and
# iptables rule that libvirt creates for test networks lives in that
# namespace and can never touch the machine's real interfaces.  The libvirt
# UNIX socket (/run/libvirt/libvirt-sock) is a filesystem object, so
# `virsh -c qemu:///system` works from any namespace; only traffic to guests
# needs `ip netns exec nixlab-test ...`.
#
# Prints the namespace name on stdout when libvirtd answers.
#
# Designed for machines without systemd (containers/CI VMs): daemons are
# started with -d and tracked through their pid files.
#
# Requirements (Debian packages): libvirt-daemon-system libvirt-clients
#   qemu-system-x86 dnsmasq-base iproute2 iptables.  Must run as root.
#
# Environment:
#   NIXLAB_NETNS          namespace name (default nixlab-test)
#   NIXLAB_LIBVIRT_WAIT   seconds to wait for libvirtd (default 30)
set -euo pipefail

NETNS="${NIXLAB_NETNS:-nixlab-test}"
WAIT="${NIXLAB_LIBVIRT_WAIT:-30}"
URI="qemu:///system"
LIBVIRTD_PID=/run/libvirtd.pid
VIRTLOGD_PID=/run/virtlogd.pid

log() { printf '[start-libvirtd] %s\n' "$*" >&2; }

if [[ $EUID -ne 0 ]]; then
  echo "start-libvirtd.sh must run as root" >&2
  exit 1
fi

# --- network namespace -------------------------------------------------------
if [[ ! -e "/run/netns/$NETNS" ]]; then   # (no `list | grep -q`: SIGPIPE + pipefail)
  log "creating netns $NETNS"
  ip netns add "$NETNS"
fi
ip netns exec "$NETNS" ip link set lo up

# pid of a running daemon from its pid file, or empty
running_pid() {
  local pidfile=$1 name=$2 pid
  [[ -s "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]; then
    echo "$pid"
  fi
}

# A daemon that already runs must be in OUR namespace; one in the host
# namespace would put test bridges/dnsmasq on the real network stack.
check_netns() {
  local pid=$1 name=$2 want have
  want="$(stat -L -c %i "/run/netns/$NETNS")"
  have="$(stat -L -c %i "/proc/$pid/ns/net")"
  if [[ "$want" != "$have" ]]; then
    echo "ERROR: $name (pid $pid) is running outside netns $NETNS." >&2
    echo "Stop it first (it was not started by this script)." >&2
    exit 1
  fi
}

# --- /dev/kvm as Debian's udev rule leaves it --------------------------------
# Without udev (containers, CI VMs) /dev/kvm stays 0600 root:root. libvirt's QEMU
# capability probe (as root) then finds KVM usable, while its access check as
# libvirt-qemu says it is not ("KVM was enabled when probing ... but it is not
# available now"), so it re-probes QEMU on every lookup: one `virsh define` took
# 48-73 s instead of 0.03 s. systemd's 50-udev-default.rules gives GROUP="kvm" and
# MODE="@DEV_KVM_MODE@", which Debian builds as 0660.
if [[ -c /dev/kvm ]]; then
  getent group kvm >/dev/null || groupadd --system kvm
  if [[ "$(stat -c '%a %G' /dev/kvm)" != "660 kvm" ]]; then
    log "giving /dev/kvm Debian's udev mode (0660 root:kvm)"
    chgrp kvm /dev/kvm
    chmod 0660 /dev/kvm
  fi
fi

# --- directories libvirt expects (normally made by systemd-tmpfiles) ---------
mkdir -p /var/log/libvirt/qemu /var/run/libvirt /var/lib/libvirt/images

# --- keep libvirt's stock 'default' network off ------------------------------
# libvirt-daemon-config-network ships /etc/libvirt/qemu/networks/default.xml
# (192.168.122.0/24, virbr0) and normally an autostart link.  Remove the link
# BEFORE libvirtd starts so it is never brought up.
rm -f /etc/libvirt/qemu/networks/autostart/default.xml

# --- virtlogd (captures guest serial/console logs for <log file=...>) -------
pid="$(running_pid "$VIRTLOGD_PID" virtlogd)"
if [[ -n "$pid" ]]; then
  check_netns "$pid" virtlogd
else
  log "starting virtlogd in $NETNS"
  ip netns exec "$NETNS" virtlogd -d -p "$VIRTLOGD_PID"
fi

# --- libvirtd -----------------------------------------------------------------
pid="$(running_pid "$LIBVIRTD_PID" libvirtd)"
if [[ -n "$pid" ]]; then
  check_netns "$pid" libvirtd
else
  log "starting libvirtd in $NETNS"
  # Without systemd there is no journal; log warnings+ to a file so a failed
  # test can be diagnosed (tests may print this file on failure).
  ip netns exec "$NETNS" env \
    LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log" \
    libvirtd -d -p "$LIBVIRTD_PID"
fi

# --- wait (bounded) until the daemon answers ----------------------------------
deadline=$(( $(date +%s) + WAIT ))
until virsh -c "$URI" version >/dev/null 2>&1; do
  if (( $(date +%s) >= deadline )); then
    echo "ERROR: libvirtd did not answer on $URI within ${WAIT}s" >&2
    tail -n 30 /var/log/libvirt/libvirtd.log >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.5
done

# In case 'default' was started anyway (e.g. a previous run outside this
# script), stop it and make sure it stays off.  Stopping it is harmless: it
# lives in our namespace.
if virsh -c "$URI" net-info default >/dev/null 2>&1; then
  if [[ "$(virsh -c "$URI" net-info default)" =~ Active:[[:space:]]+yes ]]; then
    log "stopping libvirt 'default' network"
    virsh -c "$URI" net-destroy default >/dev/null
  fi
  virsh -c "$URI" net-autostart default --disable >/dev/null 2>&1 || true
fi

log "libvirtd ready ($(virsh -c "$URI" version | sed -n 's/^Running hypervisor: //p'))"
echo "$NETNS"
