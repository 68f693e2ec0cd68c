# Pure helpers shared by flake.nix and the tests.
#
# Builtins only, no nixpkgs: the tests evaluate this file with `nix-instantiate --eval`
# on machines that cannot fetch nixpkgs, so everything that decides *what* the flake
# outputs and *what* nixlab-image.json says lives here, and flake.nix only wires it
# to nixpkgs' image builders.
let
  spec = import ./targets.nix;

  fail = msg: throw "nixlab images: ${msg}";

  attrOr =
    what: set: name:
    if builtins.hasAttr name set then
      builtins.getAttr name set
    else
      fail "unknown ${what} \"${name}\" (known: ${builtins.concatStringsSep ", " (builtins.attrNames set)})";

  # Nix system -> the `arch` images/artifact.ts uses (components/spec.ts ARCHES).
  arches = {
    x86_64-linux = "x86_64";
    aarch64-linux = "aarch64";
  };
  archOf = attrOr "system" arches;

  # `image.extension` as each nixpkgs builder sets it (nixos/modules/image/file-options.nix;
  # amazon-image.nix maps its "vpc" format to "vhd", google-compute-image.nix sets
  # "raw.tar.gz", disk-image.nix uses the qemu-img format name) -> IMAGE_FORMATS.
  formats = {
    qcow2 = "qcow2";
    vhd = "vhd";
    "raw.tar.gz" = "tar.gz";
    img = "raw";
    raw = "raw";
    vmdk = "vmdk";
  };
  formatOfExtension = attrOr "image extension" formats;

  # Where each target's evaluated NixOS config says whether the image boots UEFI.
  # Each reads the option the nixpkgs builder itself uses to pick the partition table,
  # so the metadata cannot disagree with the disk:
  #   amazon-image.nix:          partitionTableType = if config.ec2.efi then "efi" else "legacy+gpt"
  #   google-compute-image.nix:  partitionTableType = if cfg.efi then "efi" else "legacy"
  #   azure-image.nix:           partitionTableType = if vmGeneration == "v2" then "efi" else "legacy"
  #   openstack (see modules/openstack.nix): GRUB EFI and an ESP when config.openstack.efi
  #   disk-image.nix:            partitionTableType = if cfg.efiSupport then "efi" else "legacy"
  efiReaders = {
    libvirt = cfg: cfg.image.efiSupport;
    aws = cfg: cfg.ec2.efi;
    gcp = cfg: cfg.virtualisation.googleComputeImage.efi;
    azure = cfg: cfg.virtualisation.azureImage.vmGeneration == "v2";
    openstack = cfg: cfg.openstack.efi;
  };

  bootModeOf =
    target: cfg: if (attrOr "target" efiReaders target) cfg then "uefi" else "bios";

  targetNames = builtins.attrNames spec.targets;

  # Fails evaluation (and so `nix build` and the tests) when targets.nix grows a
  # target that has no boot-mode reader, or the other way round.
  checked =
    if builtins.attrNames efiReaders != targetNames then
      fail "targets.nix has targets [${builtins.concatStringsSep " " targetNames}] but lib.nix reads boot modes for [${builtins.concatStringsSep " " (builtins.attrNames efiReaders)}]; keep them the same set"
    else
      true;

  variantOf =
    target: system:
    let
      t = attrOr "target" spec.targets target;
    in
    attrOr "system for target ${target}" t.variant system;

  # The JSON document every flake package carries as nixlab-image.json, minus `file`
  # (the store path is only known inside the builder). Throws when the nixpkgs
  # builder produced a different format than targets.nix promises, so a nixpkgs
  # change cannot slip a wrong file type past the upload step.
  imageMetadata =
    {
      target,
      system,
      config,
    }:
    let
      expected = (attrOr "target" spec.targets target).format;
      format = formatOfExtension config.image.extension;
    in
    assert checked;
    if format != expected then
      fail "target ${target} on ${system}: nixpkgs variant \"${variantOf target system}\" produces *.${config.image.extension} (format ${format}) but targets.nix and IMAGE_TARGETS expect ${expected}; fix modules/${target}.nix or targets.nix"
    else
      {
        inherit target format;
        arch = archOf system;
        bootMode = bootModeOf target config;
      };

  # { <system> = { <target> = f { system, target, variant }; }; } for every pair.
  # Only builtins, so attrNames of the result never force nixpkgs: the tests read the
  # real flake's package names this way.
  packageTree =
    f:
    builtins.listToAttrs (
      map (system: {
        name = system;
        value = builtins.mapAttrs (
          target: _:
          f {
            inherit system target;
            variant = variantOf target system;
          }
        ) spec.targets;
      }) spec.systems
    );
in
{
  inherit
    spec
    archOf
    formatOfExtension
    bootModeOf
    variantOf
    imageMetadata
    packageTree
    ;
  # Exposed for the tests: the two tables that must cover every target.
  efiTargets = builtins.attrNames efiReaders;
}
