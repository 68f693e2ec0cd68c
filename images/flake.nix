{
  description = "nixlab lab-node images: NixOS disk images for libvirt, AWS, GCP, Azure and OpenStack, built by nixpkgs' own image builders";

  # nixos-25.11, pinned by flake.lock. nixpkgs' image framework
  # (nixos/modules/image/images.nix: `image.modules.<variant>`,
  # `system.build.images.<variant>`, what `nixos-rebuild build-image` uses) first
  # shipped in 25.05; it replaces nix-community/nixos-generators, which is deprecated.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { nixpkgs, ... }:
    let
      # Pure, builtins-only helpers; test/images.test.ts evaluates them without nixpkgs.
      nixlab = import ./lib.nix;
      targetNames = builtins.attrNames nixlab.spec.targets;
      targetModule = target: ./modules + "/${target}.nix";

      # One NixOS configuration per system. Each target's module is attached to the
      # nixpkgs image variant it builds from (image.modules is a deferredModule per
      # variant, merged with nixpkgs' own), so it applies to that image only and the
      # shared configuration never sees a cloud's options.
      nodeFor =
        system:
        nixpkgs.lib.nixosSystem {
          modules = [
            ./modules/base.nix
            {
              nixpkgs.hostPlatform = system;
              image.modules = builtins.listToAttrs (
                map (target: {
                  name = nixlab.variantOf target system;
                  value = targetModule target;
                }) targetNames
              );
            }
          ];
        };
      nodes = builtins.listToAttrs (
        map (system: {
          name = system;
          value = nodeFor system;
        }) nixlab.spec.systems
      );

      # nixpkgs' image derivation plus nixlab-image.json, which the program reads after
      # `nix build --json` (images/build.ts). images.nix hands every image
      # its evaluated config and its file's path in passthru; format, arch and boot mode
      # are read from that config (lib.nix), never restated.
      #
      # A plain runCommand, not runCommandLocal: the latter forbids substitution, and
      # then a host with a binary cache holding the aarch64 image would still need an
      # aarch64 builder to produce this wrapper.
      mkArtifact =
        {
          system,
          target,
          variant,
        }:
        let
          node = nodes.${system};
          image = node.config.system.build.images.${variant};
          inherit (image.passthru) filePath;
          fileName = baseNameOf filePath;
          metadata = nixlab.imageMetadata {
            inherit system target;
            inherit (image.passthru) config;
          };
        in
        node.pkgs.runCommand "nixlab-image-${target}-${system}"
          {
            # `file` must be absolute; the placeholder becomes $out when the builder runs.
            json = builtins.toJSON (
              metadata // { file = "${builtins.placeholder "out"}/${fileName}"; }
            );
            passthru = {
              inherit image;
              nixlab = metadata;
            };
          }
          ''
            mkdir -p $out
            ln -s ${image}/${filePath} $out/${fileName}
            printf '%s\n' "$json" > $out/nixlab-image.json
          '';
    in
    {
      # packages.<system>.<target>: `nix build ./images#aws` on an x86_64 host,
      # `nix build ./images#packages.aarch64-linux.aws` for Graviton, and
      # `…aws.image` for nixpkgs' image alone.
      #
      # No nixosConfigurations: the shared configuration is not bootable by itself (the
      # file systems and boot loader come from each image variant), so `nix flake
      # check` would fail evaluating its toplevel.
      packages = nixlab.packageTree mkArtifact;

      # To build nixlab-compatible images from another flake.
      nixosModules = {
        base = ./modules/base.nix;
      }
      // builtins.listToAttrs (
        map (target: {
          name = target;
          value = targetModule target;
        }) targetNames
      );
    };
}
