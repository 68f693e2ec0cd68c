#!/usr/bin/env bash
# smoke-boot.sh — end-to-end proof that the test libvirtd + fixture image work.
#
# What it does (all names prefixed "nixlab-smoke"):
#   1. ensures the fixture image (build-fixture-image.sh, cached) and the
#      private libvirtd in netns nixlab-test (start-libvirtd.sh) exist;
#   2. creates a dir storage pool under /var/lib/libvirt/images and uploads
#      the fixture disk, kernel and initrd into it as volumes (qemu runs as
#      libvirt-qemu and cannot read /root/.cache), plus a qcow2 overlay
#      volume backed by the fixture disk and a NoCloud seed volume;
#   3. variant "nat": defines a libvirt NAT network with DHCP (fixed
#      MAC->IP host entry) INSIDE the netns, boots a TCG guest on it, waits
#      for the cloud-init final_message on the serial log, then ssh-es to
#      the guest's fixed IP from inside the netns;
#   4. variant "user": boots a second guest with QEMU user-mode networking
#      (slirp, restrict=on) and an ssh hostfwd on 127.0.0.1 — loopback of
#      the netns, since qemu runs there — added via <qemu:commandline>;
#   5. destroys/undefines everything and verifies nothing is left.
#
# Usage: smoke-boot.sh [nat|user|all]      (default all)
# Env:   NIXLAB_FIXTURE_DIR  use this fixture instead of building/caching one
#        NIXLAB_BOOT_TIMEOUT seconds to wait for the ready marker (default 600)
#        NIXLAB_SMOKE_KEEP=1 leave everything in place on failure (debugging)
#
# Requirements (Debian packages): libvirt-daemon-system libvirt-clients
#   qemu-system-x86 qemu-utils dnsmasq-base iproute2 iptables genisoimage
#   openssh-client, plus those of build-fixture-image.sh.  Root.
#
# Network: guests only ever talk to the netns (bridge 10.213.7.0/24 or
# slirp's loopback forward); the netns has no uplink, so nothing can leave.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODE="${1:-all}"
URI="qemu:///system"
NETNS="${NIXLAB_NETNS:-nixlab-test}"
BOOT_TIMEOUT="${NIXLAB_BOOT_TIMEOUT:-600}"   # ~45s idle; minutes on a loaded 2-core box
SSH_TIMEOUT=60

P=nixlab-smoke                       # prefix of everything we create
POOL=$P
POOL_DIR=/var/lib/libvirt/images/$P
NET=$P
BRIDGE=nxsmoke0                      # bridge names are limited to 15 chars
NET_PREFIX=10.213.7
NAT_MAC=52:54:00:d7:07:10
NAT_IP=$NET_PREFIX.10
USER_MAC=52:54:00:d7:07:11
USER_SSH_PORT=22222
MARKER=NIXLAB-READY

virsh() { command virsh -c "$URI" "$@"; }
log() { printf '[smoke %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
in_ns() { ip netns exec "$NETNS" "$@"; }

case "$MODE" in nat|user|all) ;; *) echo "usage: $0 [nat|user|all]" >&2; exit 2 ;; esac
[[ $EUID -eq 0 ]] || { echo "smoke-boot.sh must run as root" >&2; exit 1; }

# ---------------------------------------------------------------------------
# cleanup: safe to run any time, removes only nixlab-smoke* objects
# ---------------------------------------------------------------------------
cleanup() {
  local d v
  for d in $(virsh list --all --name 2>/dev/null | grep "^$P" || true); do
    virsh destroy "$d" >/dev/null 2>&1 || true
    virsh undefine "$d" --nvram >/dev/null 2>&1 || virsh undefine "$d" >/dev/null 2>&1 || true
  done
  if virsh net-info "$NET" >/dev/null 2>&1; then
    virsh net-destroy "$NET" >/dev/null 2>&1 || true
    virsh net-undefine "$NET" >/dev/null 2>&1 || true
  fi
  if virsh pool-info "$POOL" >/dev/null 2>&1; then
    virsh pool-refresh "$POOL" >/dev/null 2>&1 || true
    # overlays first: they reference the base volume
    for v in $(virsh vol-list "$POOL" 2>/dev/null | awk 'NR>2 && $1 != "" {print $1}' | sort -r); do
      virsh vol-delete --pool "$POOL" "$v" >/dev/null 2>&1 || true
    done
    virsh pool-destroy "$POOL" >/dev/null 2>&1 || true
    virsh pool-delete "$POOL" >/dev/null 2>&1 || true
    virsh pool-undefine "$POOL" >/dev/null 2>&1 || true
  fi
  rm -rf "$POOL_DIR"
  # serial logs (ours) and libvirt's per-domain qemu logs
  rm -f /var/log/libvirt/qemu/$P-*.log
}

verify_clean() {
  local left=""
  left+="$(virsh list --all --name | grep "^$P" || true)"
  left+="$(virsh net-list --all --name | grep "^$P" || true)"
  left+="$(virsh pool-list --all --name | grep "^$P" || true)"
  if in_ns ip link show "$BRIDGE" >/dev/null 2>&1; then left+=" bridge:$BRIDGE"; fi
  if [[ -e "$POOL_DIR" ]]; then left+=" dir:$POOL_DIR"; fi
  if [[ -n "${left// /}" ]]; then
    echo "ERROR: leftovers after cleanup: $left" >&2
    return 1
  fi
  log "verified: no $P* domains, networks, pools, volumes or bridges left"
  virsh list --all; virsh net-list --all; virsh pool-list --all
}

on_exit() {
  local rc=$?
  if [[ $rc -ne 0 && "${NIXLAB_SMOKE_KEEP:-0}" == 1 ]]; then
    log "FAILED (rc=$rc); NIXLAB_SMOKE_KEEP=1: leaving $P* objects and $WORK in place"
    return
  fi
  cleanup
  rm -rf "$WORK"
  exit "$rc"
}

# ---------------------------------------------------------------------------
# prerequisites
# ---------------------------------------------------------------------------
FIXTURE="${NIXLAB_FIXTURE_DIR:-$("$HERE/build-fixture-image.sh")}"
for f in image.json disk.qcow2 vmlinuz initrd.img; do
  [[ -s "$FIXTURE/$f" ]] || { echo "fixture incomplete: $FIXTURE/$f" >&2; exit 1; }
done
CMDLINE="$(sed -n 's/.*"cmdline": *"\([^"]*\)".*/\1/p' "$FIXTURE/image.json")"
"$HERE/start-libvirtd.sh" >/dev/null

WORK="$(mktemp -d /tmp/$P.XXXXXX)"
cleanup                              # leftovers of an earlier crashed run
trap on_exit EXIT

ssh-keygen -q -t ed25519 -N '' -C "$P" -f "$WORK/id_ed25519"
PUBKEY="$(cat "$WORK/id_ed25519.pub")"
SSH_OPTS=(-i "$WORK/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no
          -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR)

# ---------------------------------------------------------------------------
# storage: pool + volumes
# ---------------------------------------------------------------------------
log "creating pool $POOL at $POOL_DIR"
virsh pool-define-as "$POOL" dir --target "$POOL_DIR" >/dev/null
virsh pool-build "$POOL" >/dev/null
virsh pool-start "$POOL" >/dev/null

# upload a local file as a new volume (created raw with the file's size;
# pool-refresh lets libvirt probe the real format afterwards)
upload() {
  local name=$1 file=$2
  virsh vol-create-as "$POOL" "$name" "$(stat -c %s "$file")" --format raw >/dev/null
  virsh vol-upload --pool "$POOL" "$name" "$file" >/dev/null
}
t0=$(date +%s)
upload base.qcow2 "$FIXTURE/disk.qcow2"
upload vmlinuz "$FIXTURE/vmlinuz"
upload initrd.img "$FIXTURE/initrd.img"
virsh pool-refresh "$POOL" >/dev/null
log "uploaded fixture volumes in $(( $(date +%s) - t0 ))s"
vol_path() { virsh vol-path --pool "$POOL" "$1"; }

# NoCloud seed: ISO9660 labelled "cidata", attached as a virtio DISK.
make_seed() {
  local name=$1 mac=$2 dir="$WORK/seed-$1"
  mkdir -p "$dir"
  cat >"$dir/meta-data" <<EOF
instance-id: $P-$name-$(date +%s)
local-hostname: $P-$name
EOF
  cat >"$dir/user-data" <<EOF
#cloud-config
users:
  - name: lab
    shell: /bin/bash
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    lock_passwd: true
    ssh_authorized_keys:
      - $PUBKEY
final_message: "$MARKER \$UPTIME"
EOF
  # Match the NIC by MAC (its name depends on the PCI slot); set-name gives
  # it a stable name inside the guest.
  cat >"$dir/network-config" <<EOF
version: 2
ethernets:
  lan0:
    match:
      macaddress: "$mac"
    set-name: lan0
    dhcp4: true
EOF
  genisoimage -quiet -output "$WORK/seed-$name.iso" -volid cidata -joliet -rock \
    "$dir/user-data" "$dir/meta-data" "$dir/network-config"
  upload "seed-$name.iso" "$WORK/seed-$name.iso"
}

overlay() {
  virsh vol-create-as "$POOL" "$1" 4G --format qcow2 \
    --backing-vol base.qcow2 --backing-vol-format qcow2 >/dev/null
}

# ---------------------------------------------------------------------------
# domain XML (shared skeleton; $1 name, $2 <interface>/<qemu:commandline> xml)
# ---------------------------------------------------------------------------
domain_xml() {
  local name=$1 nic=$2 extra=${3:-}
  cat <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$P-$name</name>
  <memory unit='MiB'>1024</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$(vol_path vmlinuz)</kernel>
    <initrd>$(vol_path initrd.img)</initrd>
    <cmdline>$CMDLINE</cmdline>
  </os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <!-- root disk MUST be the first virtio disk: cmdline says root=/dev/vda -->
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$(vol_path "$name.qcow2")'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$(vol_path "seed-$name.iso")'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
$nic
    <serial type='pty'>
      <log file='/var/log/libvirt/qemu/$P-$name.serial.log' append='off'/>
      <target port='0'/>
    </serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
$extra
</domain>
EOF
}

# boot domain $1, wait for the marker, print boot seconds
boot_and_wait() {
  local name=$1 logf=/var/log/libvirt/qemu/$P-$1.serial.log start now deadline
  start=$(date +%s.%N)
  deadline=$(( ${start%.*} + BOOT_TIMEOUT ))
  virsh start "$P-$name" >/dev/null
  log "$P-$name started; waiting up to ${BOOT_TIMEOUT}s for $MARKER on $logf"
  while :; do
    if grep -aq "$MARKER" "$logf" 2>/dev/null; then break; fi
    if (( $(date +%s) > deadline )); then
      echo "ERROR: no $MARKER after ${BOOT_TIMEOUT}s; last serial lines:" >&2
      tail -n 40 "$logf" >&2 || true
      return 1
    fi
    # (no `| grep -q` here: with pipefail an early grep exit can fail virsh)
    if [[ "$(virsh domstate "$P-$name")" != running* ]]; then
      echo "ERROR: domain stopped while booting; serial log:" >&2
      tail -n 40 "$logf" >&2 || true
      return 1
    fi
    sleep 1
  done
  now=$(date +%s.%N)
  log "$P-$name: marker after $(awk -v a="$start" -v b="$now" 'BEGIN{printf "%.1f", b-a}')s (host); guest says: $(grep -a "$MARKER" "$logf" | tail -n1 | tr -d '\r')"
}

# wait (bounded) until sshd accepts our key, then run the command once so
# that a failing remote command (e.g. cloud-init status != done) fails fast.
# args: [ssh options...] destination command
ssh_run() {
  local cmd=${*: -1} deadline=$(( $(date +%s) + SSH_TIMEOUT ))
  until in_ns ssh "${SSH_OPTS[@]}" "${@:1:$#-1}" true 2>/dev/null; do
    if (( $(date +%s) >= deadline )); then
      echo "ERROR: no ssh to ${*:1:$#-1} within ${SSH_TIMEOUT}s" >&2
      return 1
    fi
    sleep 2
  done
  in_ns ssh "${SSH_OPTS[@]}" "${@:1:$#-1}" "$cmd"
}

RESULTS=()

# ---------------------------------------------------------------------------
# variant 1: libvirt NAT network in the netns, fixed MAC->IP via DHCP
# ---------------------------------------------------------------------------
run_nat() {
  log "variant nat: network $NET ($NET_PREFIX.0/24, bridge $BRIDGE, in netns $NETNS)"
  cat >"$WORK/net.xml" <<EOF
<network>
  <name>$NET</name>
  <forward mode='nat'/>
  <bridge name='$BRIDGE' stp='off' delay='0'/>
  <ip address='$NET_PREFIX.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='$NET_PREFIX.100' end='$NET_PREFIX.199'/>
      <host mac='$NAT_MAC' name='$P-nat' ip='$NAT_IP'/>
    </dhcp>
  </ip>
</network>
EOF
  virsh net-define "$WORK/net.xml" >/dev/null
  virsh net-start "$NET" >/dev/null

  overlay nat.qcow2
  make_seed nat "$NAT_MAC"
  domain_xml nat "    <interface type='network'>
      <mac address='$NAT_MAC'/>
      <source network='$NET'/>
      <model type='virtio'/>
    </interface>" >"$WORK/dom-nat.xml"
  virsh define "$WORK/dom-nat.xml" >/dev/null
  boot_and_wait nat

  log "ssh lab@$NAT_IP (from netns $NETNS)"
  ssh_run "lab@$NAT_IP" 'cloud-init status --long && ip -br addr && sudo -n true && echo sudo-ok' | sed 's/^/  guest: /' >&2
  virsh net-dhcp-leases "$NET" >&2 || true
  virsh destroy "$P-nat" >/dev/null
  RESULTS+=("nat: OK (ssh lab@$NAT_IP via bridge $BRIDGE in netns $NETNS)")
}

# ---------------------------------------------------------------------------
# variant 2: QEMU user-mode networking (slirp) with hostfwd on 127.0.0.1
# libvirt 9.0 has no <portForward> for the slirp backend, so the NIC is
# created entirely by extra qemu args.  (<backend type='passt'/> +
# <portForward> passes the 9.0 RNG schema, but Debian's libvirt 9.0.0-4
# rejects it when parsing: "Invalid value for attribute 'type' in element
# 'backend': 'passt'".)
# restrict=on: the guest can reach nothing but the forwarded port;
# 127.0.0.1 is the netns' loopback, not the host's.
# Gotcha: libvirt puts <qemu:commandline> args BEFORE its own -device args,
# so without an explicit addr= the NIC grabs PCI slot 2, which libvirt has
# already assigned to the root disk ("slot 2 function 0 not available").
# Slot 0x1e is far above anything libvirt auto-assigns for this domain.
# ---------------------------------------------------------------------------
run_user() {
  log "variant user: slirp + hostfwd 127.0.0.1:$USER_SSH_PORT (netns loopback)"
  overlay user.qcow2
  make_seed user "$USER_MAC"
  domain_xml user "" "  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=nixnet0,restrict=on,hostfwd=tcp:127.0.0.1:$USER_SSH_PORT-:22'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=nixnet0,mac=$USER_MAC,bus=pci.0,addr=0x1e'/>
  </qemu:commandline>" >"$WORK/dom-user.xml"
  virsh define "$WORK/dom-user.xml" >/dev/null
  boot_and_wait user

  log "ssh -p $USER_SSH_PORT lab@127.0.0.1 (inside netns $NETNS)"
  ssh_run -p "$USER_SSH_PORT" lab@127.0.0.1 'cloud-init status --long && ip -br addr' | sed 's/^/  guest: /' >&2
  virsh destroy "$P-user" >/dev/null
  RESULTS+=("user: OK (ssh -p $USER_SSH_PORT lab@127.0.0.1 inside netns $NETNS)")
}

case "$MODE" in
  nat) run_nat ;;
  user) run_user ;;
  all) run_nat; run_user ;;
esac

cleanup
verify_clean
printf '%s\n' "${RESULTS[@]}"
