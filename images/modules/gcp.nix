# GCP: nixpkgs image variant "google-compute"
# (nixos/modules/virtualisation/google-compute-image.nix + google-compute-config.nix).
# It writes <name>.raw.tar.gz holding disk.raw, the layout GCE imports.
{ lib, pkgs, ... }:
{
  # UEFI on both architectures: Arm machines have no BIOS boot at all, and one boot
  # mode per target keeps the image's guestOsFeatures (UEFI_COMPATIBLE, which the GCP
  # backend sets from bootMode) the same for x86_64 and aarch64. EFI is opt-in in
  # nixpkgs (virtualisation.googleComputeImage.efi, an mkEnableOption); lib.nix reads
  # the same option for nixlab-image.json. Shielded VM Secure Boot must stay off:
  # stock NixOS GRUB is not signed.
  virtualisation.googleComputeImage.efi = lib.mkDefault true;

  services.cloud-init.settings.datasource_list = [
    "GCE"
    "None"
  ];

  # google-compute-config.nix turns OS Login on, which adds an NSS module that asks
  # the metadata server about every user lookup and an sshd AuthorizedKeysCommand.
  # Lab users and their keys come from cloud-init alone.
  security.googleOsLogin.enable = lib.mkForce false;

  # google-guest-agent stays (startup scripts, clock sync, NIC tuning), but its
  # accounts daemon would create users and keys from project-wide `ssh-keys` metadata:
  # people outside the lab, fighting cloud-init over /etc/passwd. Same file as
  # google-compute-config.nix otherwise, including set_host_keys = false so the
  # agent never replaces the host key the program put in known_hosts.
  environment.etc."default/instance_configs.cfg".text = lib.mkForce ''
    [Accounts]
    useradd_cmd = useradd -m -s /run/current-system/sw/bin/bash -p * {user}

    [Daemons]
    accounts_daemon = false

    [InstanceSetup]
    set_host_keys = false

    [MetadataScripts]
    default_shell = ${pkgs.stdenv.shell}

    [NetworkInterfaces]
    dhclient_script = ${pkgs.google-guest-configs}/bin/google-dhclient-script
    # cloud-init (networkd) sets up the NICs.
    setup = false
  '';
}
