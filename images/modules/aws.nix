# AWS: nixpkgs image variant "amazon" (nixos/maintainers/scripts/ec2/amazon-image.nix,
# which imports nixos/modules/virtualisation/amazon-image.nix). It writes a .vhd
# (amazonImage.format "vpc") with ENA and NVMe drivers and a ttyS0 console, and boots
# UEFI when `ec2.efi` is set: by default on aarch64 (Graviton only boots UEFI) and not
# on x86_64. lib.nix reads that same `ec2.efi` for nixlab-image.json's bootMode, and
# the AWS backend registers the AMI with the matching bootMode.
{ lib, ... }:
{
  # amazon-init (virtualisation/amazon-init.nix) copies any user-data that is not a
  # `#!` script to /etc/nixos/configuration.nix and runs nixos-rebuild switch: the
  # program's #cloud-config would be "applied" as a Nix expression. cloud-init reads
  # user-data instead, as in srvos nixos/hardware/amazon.
  virtualisation.amazon-init.enable = false;
  # ec2-data.nix's apply-ec2-data sets the hostname and root's authorized_keys from
  # the instance metadata that fetch-ec2-metadata downloads; both are cloud-init's
  # job on a lab node, and two writers of the hostname race each other.
  systemd.services.apply-ec2-data.enable = false;
  systemd.services.fetch-ec2-metadata.enable = false;

  # Without a list cloud-init probes every datasource it knows, network ones
  # included, before it reaches Ec2.
  services.cloud-init.settings.datasource_list = [
    "Ec2"
    "None"
  ];

  # nixpkgs fixes AMI disks at 4 GiB (mkOverride 1490). "auto" sizes the image to the
  # closure (QEMU and libvirt make it bigger than a stock AMI) plus slack, and
  # boot.growPartition fills whatever root volume the instance gets.
  virtualisation.diskSize = lib.mkDefault "auto";
}
