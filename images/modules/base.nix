# The NixOS configuration every nixlab lab node boots, on every target.
#
# Cloud specifics live in ./<target>.nix, attached by flake.nix through nixpkgs'
# `image.modules.<variant>` (nixos/modules/image/images.nix), so this module sees only
# options that exist on every target. Settings use lib.mkDefault where a consumer might
# reasonably want something else, as srvos does.
#
# Contract with the program (components/cloudinit.ts): the image bakes in nothing
# user-specific. cloud-init creates the lab user with its keys and passwordless sudo,
# writes the node's SSH host key, sets the hostname, and last runs a command that
# prints `NIXLAB-READY ...` to /dev/console, which readiness reads from the serial log.
#
# Read against nixpkgs nixos-25.11 (see flake.lock): services/system/cloud-init.nix,
# services/networking/ssh/sshd.nix, security/sudo.nix, virtualisation/libvirtd.nix,
# and nix-community/srvos nixos/mixins/cloud-init.nix.
{
  lib,
  pkgs,
  ...
}:
let
  isx86 = pkgs.stdenv.hostPlatform.isx86_64;

  # amazon-image.nix, openstack-config.nix and azure-common.nix set
  # services.openssh.settings.PermitRootLogin = "prohibit-password" as plain
  # definitions (priority 100). Lab nodes allow no root login at all (the lab user has
  # sudo), so this wins one notch above plain definitions and leaves mkForce (50) to
  # whoever imports this module.
  overCloudModules = lib.mkOverride 90;

  # services/system/cloud-init.nix sets its cloud.cfg defaults (module lists,
  # disable_root, preserve_hostname) with mkDefault (1000). Equal priorities would
  # concatenate the module lists or clash on booleans, so these sit just above
  # mkDefault and below plain definitions, which stay free for consumers.
  overNixpkgsDefault = lib.mkOverride 900;
in
{
  system.stateVersion = lib.mkDefault "25.11";

  # ---------------------------------------------------------------- KVM, nested guests
  # kvm_intel/kvm_amd are loaded for whichever vendor the VM actually runs on (one
  # image serves Intel and AMD machine types), with nested virtualization on. Recent
  # kernels default to nested=1; stating it keeps nested guests working if that
  # default ever changes. On aarch64 KVM is built into the kernel (arch/arm64/kvm is
  # not a module) and no cloud offers nested virtualization on Arm, so there is
  # nothing to load.
  boot.extraModprobeConfig = lib.mkIf isx86 ''
    options kvm_intel nested=1
    options kvm_amd nested=1
  '';
  systemd.services.nixlab-kvm = lib.mkIf isx86 {
    description = "Load the KVM module for this CPU's vendor";
    wantedBy = [ "multi-user.target" ];
    # Readiness (the NIXLAB-READY line, printed from cloud-final) reports kvm=ok only
    # if /dev/kvm exists by then.
    before = [
      "cloud-final.service"
      "libvirtd.service"
    ];
    path = [
      pkgs.kmod
      pkgs.gnugrep
    ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
    };
    # Never fails the boot: a node without VMX/SVM is legitimate (`kvm: none`, or a
    # machine type without nested virtualization) and readiness reports it.
    script = ''
      if grep -qw vmx /proc/cpuinfo; then
        modprobe kvm_intel || echo "nixlab-kvm: VMX present but kvm_intel did not load"
      elif grep -qw svm /proc/cpuinfo; then
        modprobe kvm_amd || echo "nixlab-kvm: SVM present but kvm_amd did not load"
      else
        echo "nixlab-kvm: this CPU exposes neither VMX nor SVM; /dev/kvm will be missing"
      fi
    '';
  };
  # systemd already defaults /dev/kvm to 0666; stated so the lab user, whom cloud-init
  # puts in no group, keeps KVM access whatever that default becomes.
  services.udev.extraRules = ''
    KERNEL=="kvm", GROUP="kvm", MODE="0666"
  '';

  # QEMU and libvirt for the nested guests a lab exists to run. qemu_kvm builds only the
  # host architecture's emulator, a much smaller closure than the all-targets qemu.
  # The lab user drives libvirt with `sudo virsh`, or qemu:///session.
  virtualisation.libvirtd = {
    enable = lib.mkDefault true;
    qemu.package = lib.mkDefault pkgs.qemu_kvm;
  };
  environment.systemPackages = [
    pkgs.qemu_kvm
    # cloud-localds: NoCloud seeds for nested guests.
    pkgs.cloud-utils
    # The program's SSH readiness check runs /run/current-system/sw/bin/cloud-init
    # (components/ready.ts): nixpkgs' cloud-init module puts cloud-init only on its own
    # units' PATH, so without this every `*-ready` check would find no cloud-init. The
    # same package the units run (services/system/cloud-init.nix uses pkgs.cloud-init).
    pkgs.cloud-init
    # Ansible's interpreter: the lab's inventory output (components/outputs.ts) sets
    # ansible_python_interpreter to /run/current-system/sw/bin/python3.
    # test/images-packages.test.ts checks both against the program's paths.
    pkgs.python3
  ];

  # ---------------------------------------------------------------- metadata guard
  # User-data holds this node's SSH host private key, and any process that can reach
  # the metadata service can read it: on GCP and OpenStack without a token, on AWS with
  # an IMDSv2 token whose PUT a nested guest can make once the hop limit is above 1.
  # Nested guests (libvirt's NAT networks, containers) reach it through this node as
  # routed traffic, so every forwarded packet to a metadata address is dropped; the
  # node's own traffic (cloud-init, the lab user) is output, not forward, and unaffected.
  # 169.254.169.254 is the IPv4 metadata address on AWS, GCP, Azure and OpenStack;
  # fd00:ec2::254 is AWS's IPv6 endpoint (OpenStack's IPv6 one, fe80::a9fe:a9fe, is
  # link-local and never forwarded). test/images-packages.test.ts checks the file with
  # `nft -c` and sends packets through it.
  #
  # A table of its own, loaded by its own unit with `nft -f`, rather than NixOS's
  # networking.nftables: that module owns the whole ruleset (flushing it on reload, and
  # blacklisting ip_tables), while libvirt keeps its NAT rules in tables of its own. nft
  # tables from different owners coexist: a packet passes every base chain on its hook,
  # and a drop in any of them is final, whatever libvirt's chains accept.
  systemd.services.nixlab-metadata-guard = {
    description = "Drop nested guests' traffic to the cloud metadata service";
    wantedBy = [ "multi-user.target" ];
    # Before any guest network exists, so there is no window without the rule.
    wants = [ "network-pre.target" ];
    before = [
      "network-pre.target"
      "libvirtd.service"
    ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      ExecStart = "${pkgs.nftables}/bin/nft -f ${./metadata-guard.nft}";
      ExecStop = "${pkgs.nftables}/bin/nft delete table inet nixlab-metadata-guard";
    };
  };

  # ---------------------------------------------------------------- cloud-init
  # srvos nixos/mixins/cloud-init.nix is the model: cloud-init owns the network
  # (networkd renderer) and the hostname. Per-target modules add `datasource_list` and
  # turn off the cloud agents that would do the same jobs (amazon-init, apply-ec2-data,
  # openstack-init, the GCE accounts daemon).
  services.cloud-init = {
    enable = lib.mkDefault true;
    # Also enables systemd-networkd: cloud-init renders the network config the
    # datasource gives it (on libvirt: NoCloud `network-config` v2, NICs matched by
    # MAC) as /run/systemd/network/10-cloud-init-*.network.
    network.enable = lib.mkDefault true;
    settings = {
      # The program always supplies the node's host key (ssh_keys) and wants it to be
      # the only one, so known_hosts is right before first contact. srvos turns
      # ssh_deletekeys off ("Never flush the host's SSH keys. See #148"); here the
      # `ssh` module runs in the init stage, and cloud-init.service is ordered before
      # sshd-keygen.service and sshd.service (services/system/cloud-init.nix), so the
      # keys it deletes are only ones the program is about to replace, before sshd
      # has loaded any.
      ssh_deletekeys = overNixpkgsDefault true;
      ssh_genkeytypes = overNixpkgsDefault [ ];
      ssh_pwauth = overNixpkgsDefault false;
      disable_root = overNixpkgsDefault true;
      preserve_hostname = overNixpkgsDefault false;

      # The root partition is grown in the initrd by boot.growPartition and
      # fileSystems."/".autoResize (below and in every nixpkgs image builder).
      # cloud-init's growpart would only look for a `growpart` binary that is not on
      # its PATH and log an error.
      growpart.mode = overNixpkgsDefault "off";
      resize_rootfs = overNixpkgsDefault false;

      # nixpkgs' default module lists, changed in three places:
      #  - `ssh` moves from the config stage to the init stage, as in upstream
      #    cloud-init's own cloud.cfg, so host keys are written before sshd starts;
      #  - `set_hostname` is added, so the hostname is set on first boot and not only
      #    by `update_hostname`;
      #  - `growpart` and `resizefs` are dropped (see above).
      cloud_init_modules = overNixpkgsDefault [
        "migrator"
        "seed_random"
        "bootcmd"
        "write-files"
        "set_hostname"
        "update_hostname"
        "resolv_conf"
        "ca-certs"
        "rsyslog"
        "users-groups"
        "ssh"
      ];
      cloud_config_modules = overNixpkgsDefault [
        "disk_setup"
        "mounts"
        "ssh-import-id"
        "set-passwords"
        "timezone"
        "disable-ec2-metadata"
        "runcmd"
      ];
    };
  };
  networking.useNetworkd = lib.mkDefault true;
  # No NixOS-side DHCP: it would race cloud-init's own network config for the NICs.
  networking.useDHCP = lib.mkDefault false;
  # An empty hostName leaves /etc/hostname to cloud-init (srvos does the same).
  networking.hostName = lib.mkDefault "";
  # The lab's own network boundary (security groups, firewall rules, the libvirt NAT
  # network) is the firewall; a host firewall would only break what people run in a
  # lab (clusters, nested guests' services) between nodes. nixpkgs' GCE image makes
  # the same call ("Rely on GCP's firewall instead").
  networking.firewall.enable = lib.mkDefault false;

  # cloud-init creates the lab user with `useradd` and writes its sudo rule to
  # /etc/sudoers.d/90-cloud-init-users; NixOS's generated sudoers reads no sudoers.d
  # unless told to, and users must stay mutable for useradd to stick.
  users.mutableUsers = true;
  security.sudo.extraConfig = ''
    @includedir /etc/sudoers.d
  '';
  systemd.tmpfiles.rules = [
    "d /etc/sudoers.d 0750 root root -"
    # The program gives the lab user the shell /bin/bash (the path every other distro
    # has). NixOS has only /bin/sh, and sshd refuses users whose shell does not exist.
    "L+ /bin/bash - - - - /run/current-system/sw/bin/bash"
  ];

  # ---------------------------------------------------------------- sshd
  services.openssh = {
    enable = true;
    # cloud-init writes the lab user's keys to ~/.ssh/authorized_keys. This is the
    # nixpkgs default; stated because the lab cannot be entered without it.
    authorizedKeysInHomedir = true;
    # Only the key type the program supplies, so sshd-keygen never adds a host key
    # that the lab's known_hosts does not list.
    hostKeys = [
      {
        type = "ed25519";
        path = "/etc/ssh/ssh_host_ed25519_key";
      }
    ];
    settings = {
      PermitRootLogin = overCloudModules "no";
      # `PasswordAuthentication no` must already be in sshd_config: cloud-init's
      # set-passwords applies `ssh_pwauth: false` by editing sshd_config, which on
      # NixOS is a read-only store path, and only leaves it alone when it matches.
      PasswordAuthentication = false;
      KbdInteractiveAuthentication = false;
      X11Forwarding = false;
      MaxAuthTries = 3;
      LoginGraceTime = 30;
    };
  };

  # ---------------------------------------------------------------- consoles
  # The program's last runcmd writes NIXLAB-READY to /dev/console, and /dev/console is
  # the last `console=` on the kernel command line that exists on the machine. mkAfter
  # puts these after whatever the cloud module adds (openstack-config.nix adds
  # console=tty1), so the serial port wins. On aarch64, qemu "virt" machines, Azure
  # and GCE have a PL011 (ttyAMA0), while AWS Graviton exposes ttyS0 (amazon-image.nix
  # sets console=ttyS0 on both architectures); listing ttyAMA0 last makes it the
  # console where it exists and leaves ttyS0 elsewhere.
  boot.kernelParams = lib.mkAfter (
    if isx86 then
      [
        "console=tty0"
        "console=ttyS0,115200n8"
      ]
    else
      [
        "console=ttyS0,115200n8"
        "console=ttyAMA0,115200n8"
      ]
  );

  # ---------------------------------------------------------------- disk
  # Every nixpkgs builder used here labels the root filesystem "nixos" and sets
  # fileSystems."/".autoResize; growPartition makes the initrd grow the partition to
  # the instance's disk first, so rootDiskGiB bigger than the image just works.
  boot.growPartition = lib.mkDefault true;

  # ---------------------------------------------------------------- nix
  nix.settings.experimental-features = [
    "nix-command"
    "flakes"
  ];
}
