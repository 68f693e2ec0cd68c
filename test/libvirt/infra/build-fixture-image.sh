#!/usr/bin/env bash
# build-fixture-image.sh [OUTDIR]
#
# Builds the small Debian 12 (bookworm) guest image that the libvirt backend's
# integration tests boot under QEMU/TCG.  Output (in OUTDIR):
#
#   disk.qcow2   ext4 root filesystem, NO partition table (guest sees it as
#                /dev/vda), 2 GiB virtual size
#   vmlinuz      Debian cloud kernel (linux-image-cloud-amd64), for direct
#                kernel boot (<os><kernel>)
#   initrd.img   matching initramfs (virtio_pci/virtio_blk/virtio_net/ext4
#                forced in, resume disabled)
#   image.json   metadata: format, arch, bootMode, kernel, initrd, cmdline,
#                sha256 of disk.qcow2, ...  Written LAST: its presence marks a
#                complete build.
#
# OUTDIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/nixlab/fixture-<hash>,
# where <hash> is derived from this script's contents, so editing the script
# invalidates the cache automatically.  If OUTDIR already holds a complete
# build the script exits 0 at once.
#
# Guest properties the tests rely on:
#   * cloud-init with datasource_list [NoCloud, None]; the NoCloud seed must be
#     a filesystem labelled "cidata" on a *virtio* disk (the cloud kernel has
#     no SATA/AHCI CD-ROM support worth relying on).
#   * networking rendered by cloud-init as ENI (ifupdown + isc-dhcp-client),
#     so network-config v1/v2 with dhcp4 or static addresses both work.
#   * openssh-server, sudo, iproute2; host keys are generated at first boot
#     (ed25519 only, RSA keygen is slow under TCG).
#
# Requirements (Debian packages): debootstrap e2fsprogs qemu-utils coreutils
#   util-linux (mount, flock).  Must run as root (debootstrap + chroot).
# Network: only the Debian mirror configured for apt (override with
#   DEBIAN_MIRROR=...).  NIXLAB_KEEP_WORK=1 keeps the work dir of a failed
#   build for debugging.  Takes ~5-10 minutes on 2 cores; the result is
#   ~300-400 MiB.
set -euo pipefail

SCRIPT_PATH="$(readlink -f "${BASH_SOURCE[0]}")"
SCRIPT_HASH="$(sha256sum "$SCRIPT_PATH" | cut -c1-16)"
OUTDIR="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/nixlab/fixture-$SCRIPT_HASH}"
SUITE=bookworm
DISK_SIZE=2G
# console=ttyS0: the tests read the serial log.  mitigations=off: every cycle
# counts under TCG.  net.ifnames is left on purpose: tests must match NICs by
# MAC address, never by name.
CMDLINE="root=/dev/vda rw console=ttyS0,115200 mitigations=off"

log() { printf '[build-fixture] %s\n' "$*" >&2; }

is_complete() {
  [[ -s "$1/image.json" && -s "$1/disk.qcow2" && -s "$1/vmlinuz" && -s "$1/initrd.img" ]]
}

if is_complete "$OUTDIR"; then
  log "cached: $OUTDIR"
  echo "$OUTDIR"
  exit 0
fi

if [[ $EUID -ne 0 ]]; then
  echo "build-fixture-image.sh must run as root (debootstrap/chroot)" >&2
  exit 1
fi
for tool in debootstrap mkfs.ext4 qemu-img chroot flock; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

# Pick the mirror apt already uses (deb822 .sources first, then one-line
# format), so we only ever talk to the configured package registry.
detect_mirror() {
  local uri
  uri="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '{print $2}' | grep -v -e security -e '^$' | grep '/debian/*$' | head -n1 || true)"
  if [[ -z "$uri" ]]; then
    uri="$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{ for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; exit } }' \
            | grep -v security | grep '/debian/*$' | head -n1 || true)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="${DEBIAN_MIRROR:-$(detect_mirror)}"

mkdir -p "$(dirname "$OUTDIR")"
# One build per OUTDIR at a time: concurrent test runs wait for the first.
exec 9>"$OUTDIR.lock"
flock 9
if is_complete "$OUTDIR"; then
  log "built concurrently: $OUTDIR"
  echo "$OUTDIR"
  exit 0
fi

# Work next to OUTDIR (same filesystem) so the final step is an atomic rename.
WORK="$(mktemp -d "$OUTDIR.work.XXXXXX")"
ROOT="$WORK/rootfs"
cleanup() {
  # Unmount anything still mounted below ROOT (deepest first), then delete.
  if [[ -d "$ROOT" ]]; then
    awk -v r="$ROOT" '$2 ~ "^"r {print $2}' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" || true
    done
  fi
  if [[ "${NIXLAB_KEEP_WORK:-0}" == 1 ]]; then
    log "NIXLAB_KEEP_WORK=1: keeping $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

START=$(date +%s)
log "debootstrap $SUITE from $MIRROR into $ROOT"

# minbase + explicit package list keeps the image small.  Notes:
#  * python3-cffi-backend: python3-cryptography depends on the *virtual*
#    package python3-cffi-backend-api-*, which debootstrap cannot resolve.
#  * ifupdown + isc-dhcp-client: cloud-init 22.4 on Debian renders
#    /etc/network/interfaces.d/50-cloud-init (ENI renderer); ifupdown needs a
#    DHCP client for "inet dhcp".
#  * dbus: cloud-init sets the hostname via hostnamectl, which needs dbus.
#  * udev/kmod: module autoloading (virtio_net etc.) and initramfs-tools.
#  * e2fsprogs: cloud-init resizefs (resize2fs) when a test grows the disk.
PACKAGES=(
  systemd-sysv udev kmod dbus
  linux-image-cloud-amd64 initramfs-tools zstd
  cloud-init python3-cffi-backend
  openssh-server sudo iproute2 ifupdown isc-dhcp-client
  e2fsprogs netbase ca-certificates
)
# Keep downloaded .debs between builds (a script edit changes OUTDIR and
# forces a rebuild; this saves re-downloading ~150 MB).
DEB_CACHE="${NIXLAB_DEB_CACHE:-$(dirname "$OUTDIR")/debootstrap-debs}"
mkdir -p "$DEB_CACHE"
debootstrap --variant=minbase --merged-usr --cache-dir="$DEB_CACHE" \
  --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 50 "$WORK/debootstrap.log" >&2
    [[ -f "$ROOT/debootstrap/debootstrap.log" ]] && tail -n 50 "$ROOT/debootstrap/debootstrap.log" >&2
    exit 1
  }
log "debootstrap done after $(( $(date +%s) - START ))s"

# --- configure the guest -----------------------------------------------------

cat >"$ROOT/etc/fstab" <<'EOF'
# Whole-disk ext4, no partition table (direct kernel boot, root=/dev/vda).
# fsck pass 0: a fresh overlay never needs it and it costs seconds under TCG.
/dev/vda  /  ext4  defaults,noatime,errors=remount-ro  0  0
EOF
echo nixlab-fixture >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
# Let ifupdown read the cloud-init fragment.
mkdir -p "$ROOT/etc/network/interfaces.d"
printf 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n' \
  >"$ROOT/etc/network/interfaces"
# debootstrap copies the build host's resolv.conf; the guest gets its own via DHCP.
rm -f "$ROOT/etc/resolv.conf"

# cloud-init: local NoCloud seed only, never probe network metadata services
# (they would send packets off-host and each probe times out slowly).
cat >"$ROOT/etc/cloud/cloud.cfg.d/90-nixlab.cfg" <<'EOF'
# nixlab fixture defaults (tests may override in user-data)
datasource_list: [NoCloud, None]
# No partition table: nothing for growpart to do; resize2fs still grows the fs.
growpart:
  mode: "off"
resize_rootfs: true
# RSA/ECDSA keygen takes seconds under TCG.
ssh_genkeytypes: [ed25519]
ssh_deletekeys: true
# No network package operations at boot.
package_update: false
package_upgrade: false
# Stock Debian module lists minus modules that need packages we do not ship
# (locale -> locales, rsyslog, grub-dpkg, snap, byobu, lxd, ...), reach the
# network on their own (ssh-import-id) or are irrelevant here.  Everything a
# test may reasonably put in user-data (write_files, runcmd, packages,
# ca_certs, power_state, ...) still works.
cloud_init_modules:
  - migrator
  - seed_random
  - bootcmd
  - write-files
  - growpart
  - resizefs
  - disk_setup
  - mounts
  - set_hostname
  - update_hostname
  - update_etc_hosts
  - ca-certs
  - users-groups
  - ssh
cloud_config_modules:
  - set-passwords
  - apt-configure
  - ntp
  - timezone
  - runcmd
cloud_final_modules:
  - package-update-upgrade-install
  - write-files-deferred
  - scripts-vendor
  - scripts-per-once
  - scripts-per-boot
  - scripts-per-instance
  - scripts-user
  - ssh-authkey-fingerprints
  - keys-to-console
  - phone-home
  - final-message
  - power-state-change
EOF

# ifupdown waits for DHCP in networking.service; make sure it never blocks
# boot for long if a test deliberately gives the guest no DHCP.
mkdir -p "$ROOT/etc/dhcp"
if [[ -f "$ROOT/etc/dhcp/dhclient.conf" ]]; then
  sed -i 's/^#\?timeout .*/timeout 30;/' "$ROOT/etc/dhcp/dhclient.conf"
  grep -q '^timeout' "$ROOT/etc/dhcp/dhclient.conf" || echo 'timeout 30;' >>"$ROOT/etc/dhcp/dhclient.conf"
fi

# initramfs: force the virtio drivers in (belt and braces: MODULES=most would
# include them too) and disable resume (otherwise the initramfs may wait for
# a swap/resume device that does not exist).
cat >>"$ROOT/etc/initramfs-tools/modules" <<'EOF'
virtio_pci
virtio_blk
virtio_net
virtio_scsi
ext4
EOF
echo 'RESUME=none' >"$ROOT/etc/initramfs-tools/conf.d/resume"
echo 'COMPRESS=zstd' >"$ROOT/etc/initramfs-tools/conf.d/compress"

# Services that only slow down a throwaway test VM.
mkdir -p "$ROOT/proc" "$ROOT/sys" "$ROOT/dev"
mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
chroot "$ROOT" /bin/sh -ec '
  for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
           fstrim.timer man-db.timer systemd-timesyncd.service; do
    systemctl mask "$u" >/dev/null 2>&1 || true
  done
  # The kernel/initramfs are shipped outside the image; regenerate the
  # initramfs with the settings above.
  update-initramfs -u -k all >/dev/null
  # Root has no password (locked); access is via the cloud-init user + ssh key.
  passwd -l root >/dev/null
'
KVER="$(ls "$ROOT/lib/modules" | sort -V | tail -n1)"
cp "$ROOT/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$WORK/initrd.img"
# Confirm the virtio drivers are reachable at boot: either built into the
# kernel (modules.builtin) or present in the initramfs.
# (List to a file first: `lsinitramfs | grep -q` dies of SIGPIPE under pipefail.)
chroot "$ROOT" lsinitramfs "/boot/initrd.img-$KVER" >"$WORK/initrd.list"
for mod in virtio_pci virtio_blk virtio_net ext4; do
  if grep -q "/$mod.ko" "$ROOT/lib/modules/$KVER/modules.builtin"; then
    log "$mod: built into $KVER"
  elif grep -q "/$mod.ko" "$WORK/initrd.list"; then
    log "$mod: in initramfs"
  else
    echo "ERROR: $mod neither built in nor in the initramfs" >&2
    exit 1
  fi
done
umount "$ROOT/dev" "$ROOT/sys" "$ROOT/proc"

# --- slim down & make per-instance state fresh -------------------------------
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/boot/* \
       "$ROOT"/var/lib/apt/lists/* \
       "$ROOT"/var/cache/apt/*.bin \
       "$ROOT"/var/cache/debconf/*-old \
       "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
       "$ROOT"/usr/share/lintian "$ROOT"/usr/share/locale/* \
       "$ROOT"/var/log/* "$ROOT"/tmp/* "$ROOT"/var/tmp/* \
       "$ROOT"/debootstrap \
       "$ROOT"/etc/ssh/ssh_host_*            # regenerated by cloud-init per VM
rm -rf "$ROOT"/var/lib/cloud/*                # no stale instance state
: >"$ROOT/etc/machine-id"                     # systemd makes a new one per VM
rm -f "$ROOT/var/lib/dbus/machine-id"
# Keep dpkg from re-adding docs if a test installs packages in the guest.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/01-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF

# --- filesystem image --------------------------------------------------------
# mkfs.ext4 -d populates the filesystem from a directory without mounting
# anything (keeps ownership, modes, xattrs, device nodes, hard links).
log "creating ext4 ($DISK_SIZE) from rootfs ($(du -sh "$ROOT" | cut -f1))"
truncate -s "$DISK_SIZE" "$WORK/root.raw"
mkfs.ext4 -q -F -L nixlab-root -E root_owner=0:0 -d "$ROOT" "$WORK/root.raw"
qemu-img convert -f raw -O qcow2 "$WORK/root.raw" "$WORK/disk.qcow2"
rm -f "$WORK/root.raw"

SHA="$(sha256sum "$WORK/disk.qcow2" | cut -d' ' -f1)"
VSIZE="$(qemu-img info --output=json "$WORK/disk.qcow2" | sed -n 's/.*"virtual-size": *\([0-9]*\).*/\1/p' | head -n1)"
cat >"$WORK/image.json" <<EOF
{
  "format": "qcow2",
  "arch": "x86_64",
  "bootMode": "bios",
  "disk": "disk.qcow2",
  "sha256": "$SHA",
  "virtualSize": $VSIZE,
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "cmdline": "$CMDLINE",
  "kernelVersion": "$KVER",
  "distro": "debian-12",
  "datasources": ["NoCloud", "None"],
  "builderHash": "$SCRIPT_HASH"
}
EOF

# Publish atomically: image.json is the completeness marker, moved last.
rm -rf "$ROOT"
mkdir -p "$OUTDIR"
for f in disk.qcow2 vmlinuz initrd.img image.json; do
  mv "$WORK/$f" "$OUTDIR/$f"
done
chmod 0644 "$OUTDIR"/*
log "done in $(( $(date +%s) - START ))s: $OUTDIR ($(du -sh "$OUTDIR" | cut -f1))"
echo "$OUTDIR"
