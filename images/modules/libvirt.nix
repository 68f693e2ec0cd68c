# libvirt: nixpkgs image variants "qemu" (x86_64, BIOS + GRUB) and "qemu-efi" (aarch64,
# UEFI + systemd-boot), both nixos/modules/virtualisation/disk-image.nix writing a
# qcow2. lib.nix reads `image.efiSupport` for nixlab-image.json's bootMode; the
# libvirt backend gives UEFI domains firmware to match.
{ lib, modulesPath, ... }:
{
  # disk-image.nix is a bare disk: without the virtio drivers in the initrd the root
  # filesystem on /dev/vda is never found.
  imports = [ (modulesPath + "/profiles/qemu-guest.nix") ];

  # Lets libvirt report the guest's addresses (virsh domifaddr --source agent).
  services.qemuGuest.enable = lib.mkDefault true;

  # The backend attaches a NoCloud seed (filesystem label cidata: user-data,
  # meta-data, network-config v2 matching NICs by MAC).
  services.cloud-init.settings.datasource_list = [
    "NoCloud"
    "None"
  ];
}
