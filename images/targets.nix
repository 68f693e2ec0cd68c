# The one list of image targets and the systems they are built for.
#
# Plain data on purpose: flake.nix builds `packages.<system>.<target>` from it, and
# test/images.test.ts checks it against IMAGE_TARGETS in images/artifact.ts with
#   nix-instantiate --eval --json --strict images/targets.nix
# which needs no nixpkgs. Adding a target therefore means: a row here, a module in
# ./modules/<target>.nix, a boot-mode reader in ./lib.nix and a row in IMAGE_TARGETS;
# the tests fail until all four agree.
#
# `variant` names an entry of nixpkgs' nixos/modules/image/images.nix (nixos-25.11):
#   amazon         -> nixos/maintainers/scripts/ec2/amazon-image.nix   (.vhd, "vpc" format)
#   google-compute -> nixos/modules/virtualisation/google-compute-image.nix (.raw.tar.gz holding disk.raw)
#   azure          -> nixos/modules/virtualisation/azure-image.nix     (fixed-size .vhd)
#   openstack      -> nixos/maintainers/scripts/openstack/openstack-image.nix (.qcow2)
#   qemu           -> nixos/modules/virtualisation/disk-image.nix with image.efiSupport = false
#   qemu-efi       -> nixos/modules/virtualisation/disk-image.nix (UEFI, systemd-boot)
# `format` is what images/artifact.ts calls the file the variant produces.
{
  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  targets = {
    libvirt = {
      format = "qcow2";
      # x86_64 guests boot with SeaBIOS, so hosts need no OVMF; aarch64 "virt"
      # machines only boot UEFI (AAVMF), hence the EFI variant there.
      variant = {
        x86_64-linux = "qemu";
        aarch64-linux = "qemu-efi";
      };
    };
    aws = {
      format = "vhd";
      variant = {
        x86_64-linux = "amazon";
        aarch64-linux = "amazon";
      };
    };
    gcp = {
      format = "tar.gz";
      variant = {
        x86_64-linux = "google-compute";
        aarch64-linux = "google-compute";
      };
    };
    azure = {
      format = "vhd";
      variant = {
        x86_64-linux = "azure";
        aarch64-linux = "azure";
      };
    };
    openstack = {
      format = "qcow2";
      variant = {
        x86_64-linux = "openstack";
        aarch64-linux = "openstack";
      };
    };
  };
}
