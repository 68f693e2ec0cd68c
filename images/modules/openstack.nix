# OpenStack: nixpkgs image variant "openstack"
# (nixos/maintainers/scripts/openstack/openstack-image.nix + virtualisation/openstack-config.nix).
# It writes a qcow2 with virtio drivers; openstack-config.nix boots GRUB EFI when
# `openstack.efi` (default: aarch64), which lib.nix reads for nixlab-image.json's
# bootMode and the OpenStack backend turns into hw_firmware_type=uefi.
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:
{
  # openstack-config.nix fetches metadata with openstack-init, applies hostname and
  # root key with apply-ec2-data, and hands user-data to amazon-init, which would copy
  # the program's #cloud-config to /etc/nixos/configuration.nix and nixos-rebuild with
  # it. cloud-init does all three jobs here.
  systemd.services.openstack-init.enable = false;
  systemd.services.apply-ec2-data.enable = false;
  virtualisation.amazon-init.enable = false;

  # Config drive first: it works without a metadata service (and without the
  # Neutron router the metadata proxy needs).
  services.cloud-init.settings.datasource_list = [
    "ConfigDrive"
    "OpenStack"
    "None"
  ];
  services.qemuGuest.enable = lib.mkDefault true;

  # openstack-image.nix calls make-disk-image without a partitionTableType, so the
  # disk gets make-disk-image's default "legacy" MBR layout ("unsuitable for UEFI",
  # nixos/lib/make-disk-image.nix) with no ESP, while openstack-config.nix switches
  # GRUB to EFI and mounts /boot from the ESP label whenever openstack.efi is set,
  # which it is by default on aarch64. For that case build the same image with the
  # "efi" layout, exactly as amazon-image.nix does for ec2.efi. x86_64 keeps nixpkgs'
  # own derivation untouched.
  system.build.openstackImage = lib.mkIf config.openstack.efi (
    lib.mkForce (
      import (modulesPath + "/../lib/make-disk-image.nix") {
        inherit lib config pkgs;
        inherit (config.image) baseName;
        format = "qcow2";
        partitionTableType = "efi";
        additionalSpace = "1024M";
      }
    )
  );
}
