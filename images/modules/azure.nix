# Azure: nixpkgs image variant "azure" (nixos/modules/virtualisation/azure-image.nix +
# azure-common.nix). It writes a fixed-size VHD (qemu-img -o subformat=fixed,force_size
# -O vpc), the only kind Azure imports. azure-common.nix already runs waagent next to
# cloud-init with networkd ("Otherwise waagent would try manage networking using
# ifupdown"), so this module only picks the generation and drivers.
{ lib, ... }:
{
  # Gen2 (UEFI) on both architectures: Azure Arm64 sizes are Gen2-only, and so is
  # Dsv6, the newest x86_64 family with nested virtualization. lib.nix reads
  # vmGeneration for nixlab-image.json's bootMode.
  #
  # Trap: Gen2 VMs default to Trusted Launch with Secure Boot on, and stock NixOS
  # GRUB is unsigned ("For v2, secure boot needs to be turned off during creation",
  # azure-image.nix). The Azure backend must create VMs with
  # securityProfile.uefiSettings.secureBootEnabled = false, or securityType Standard.
  virtualisation.azureImage.vmGeneration = lib.mkDefault "v2";

  # Dsv5 requires accelerated networking and Dpsv6 turns it on. azure-common.nix then
  # adds the Mellanox VF drivers to the initrd and marks those VFs Unmanaged for
  # networkd, leaving them to hv_netvsc. MANA VFs (v6 sizes) are not on that list;
  # with networking.useDHCP off they stay unconfigured as long as cloud-init's Azure
  # network config matches only the synthetic NIC (by MAC and driver hv_netvsc;
  # unverified here).
  virtualisation.azure.acceleratedNetworking = lib.mkDefault true;
  # v6 sizes attach disks over NVMe instead of SCSI (hv_storvsc).
  boot.initrd.availableKernelModules = [ "nvme" ];

  services.cloud-init.settings.datasource_list = [
    "Azure"
    "None"
  ];
}
