/**
 * Pure rendering for the libvirt backend: physical names, MAC addresses, network and
 * domain XML, NoCloud network-config. The program renders everything here and hands the
 * text to the dynamic resources as inputs, so a plan shows the exact XML libvirt will get
 * and an unchanged config renders byte-identical inputs (no diff on a second `up`).
 */
import { createHash } from "crypto";
import { stringify } from "yaml";
import type { Arch, BootMode, KvmMode } from "../../components/spec";
import { cidrHost, cidrNetmask } from "../../components/spec";
import type { Accelerator } from "./config";

/** Everything a lab creates in libvirt starts with this, so `nixlab-*` finds it all. */
export const PREFIX = "nixlab";

/** Pool and network name of a lab. */
export function labResourceName(lab: string): string {
    return `${PREFIX}-${lab}`;
}

/**
 * `nixlab-<lab>.<node>`. The dot cannot occur in lab or node names (DNS labels), so lab
 * `a-b` with node `c` and lab `a` with node `b-c` get different domains and serial logs;
 * with a `-` both were `nixlab-a-b-c`. Readable, stable, and short enough for libvirt
 * (which shortens names itself where QEMU paths need it): at most 7 + 32 + 1 + 32 characters.
 */
export function domainName(lab: string, node: string): string {
    return `${PREFIX}-${lab}.${node}`;
}

/**
 * Who made a libvirt object: stamped into every domain's and network's `<metadata>` (and
 * a pool directory's marker) at creation, checked before anything is adopted, changed or
 * deleted. Names alone say nothing: another stack may use the same lab name on this host.
 */
export interface Owner {
    /** Pulumi stack name (`pulumi.getStack()`). */
    stack: string;
    lab: string;
    /** Domains only. */
    node?: string;
}

/** Namespace of the owner element; versioned so a later layout can be told apart. */
export const OWNER_URI = "https://nixlab.dev/xmlns/libvirt/owner/1";

/** `<nixlab-owner:owner .../>`: one element in the object's `<metadata>`. */
export function renderOwnerXml(o: Owner): string {
    const node = o.node === undefined ? "" : ` node='${esc(o.node)}'`;
    return `<nixlab-owner:owner xmlns:nixlab-owner='${OWNER_URI}' stack='${esc(o.stack)}' lab='${esc(o.lab)}'${node}/>`;
}

/** A dir pool per lab under poolDir, so deleting the pool deletes the lab's files. */
export function poolPath(poolDir: string, lab: string): string {
    return `${poolDir}/${lab}`;
}

/**
 * Volume names inside the lab's pool. Node and volume names are DNS labels (no dots),
 * so the dotted suffixes cannot collide with each other or with a user volume called
 * "root" or "cidata".
 */
export const volumeNames = {
    base: (shortHash: string) => `${PREFIX}-base-${shortHash}`,
    kernel: (shortHash: string) => `${PREFIX}-kernel-${shortHash}`,
    initrd: (shortHash: string) => `${PREFIX}-initrd-${shortHash}`,
    root: (node: string) => `${node}.root.qcow2`,
    seed: (node: string) => `${node}.cidata.iso`,
    extra: (node: string, volume: string) => `${node}.vol-${volume}.qcow2`,
};

export function serialLogPath(serialLogDir: string, lab: string, node: string): string {
    return `${serialLogDir}/${domainName(lab, node)}.serial.log`;
}

function sha256hex(s: string): string {
    return createHash("sha256").update(s).digest("hex");
}

/**
 * A stable, locally administered MAC per node (QEMU's 52:54:00 prefix), so the
 * network-config can match the NIC by address whatever the guest names it, and DHCP
 * host entries survive a node's replacement.
 */
export function macAddress(lab: string, node: string): string {
    const h = sha256hex(`${lab}/${node}`);
    return `52:54:00:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}

/** Linux limits interface names to 15 characters; lab names may be 32. */
export function bridgeName(lab: string): string {
    return `nxl-${sha256hex(lab).slice(0, 10)}`;
}

/** Slirp and libvirt DHCP hand out addresses from here: the top of the CIDR, away from the nodes (.10 +). */
export function dhcpRange(cidr: string): { start: string; end: string } {
    const size = 2 ** (32 - Number(cidr.split("/")[1]));
    return { start: cidrHost(cidr, Math.max(size - 18, 2)), end: cidrHost(cidr, size - 2) };
}

export function gatewayAddress(cidr: string): string {
    return cidrHost(cidr, 1);
}

/** Slirp refuses a DNS address equal to its host (gateway) address; .3 is slirp's own default. */
export function userModeDnsAddress(cidr: string): string {
    return cidrHost(cidr, 3);
}

export function esc(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;").replace(/"/g, "&quot;");
}

export interface NetworkXmlArgs {
    lab: string;
    cidr: string;
    /** Stamped into `<metadata>`. */
    owner: Owner;
}

/**
 * The lab's NAT network. Per-node DHCP/DNS host entries are not in here: the Network
 * resource adds them with `net-update`, so adding a node changes the running network in
 * place instead of replacing it (which would cut every running node off its bridge).
 */
export function renderNetworkXml({ lab, cidr, owner }: NetworkXmlArgs): string {
    const range = dhcpRange(cidr);
    return [
        "<network>",
        `  <name>${esc(labResourceName(lab))}</name>`,
        "  <metadata>",
        `    ${renderOwnerXml(owner)}`,
        "  </metadata>",
        "  <forward mode='nat'/>",
        `  <bridge name='${bridgeName(lab)}' stp='on' delay='0'/>`,
        "  <dns enable='yes'/>",
        `  <ip address='${gatewayAddress(cidr)}' netmask='${cidrNetmask(cidr)}'>`,
        "    <dhcp>",
        `      <range start='${range.start}' end='${range.end}'/>`,
        "    </dhcp>",
        "  </ip>",
        "</network>",
        "",
    ].join("\n");
}

export interface NetworkHost {
    mac: string;
    name: string;
    ip: string;
}

/** `net-update ... ip-dhcp-host` / `dns-host` arguments for one node. */
export function dhcpHostXml(h: NetworkHost): string {
    return `<host mac='${h.mac}' name='${esc(h.name)}' ip='${h.ip}'/>`;
}

export function dnsHostXml(h: NetworkHost): string {
    return `<host ip='${h.ip}'><hostname>${esc(h.name)}</hostname></host>`;
}

/**
 * NoCloud network-config v2: the NIC is matched by MAC (its name depends on PCI slot and
 * udev policy), with the node's fixed address. No `set-name`: renaming a NIC that is
 * already up does not work on systemd-networkd renderers until the next boot.
 * `gateway4` rather than a `routes` entry: cloud-init's ENI renderer (Debian) turns
 * routes into `post-up route add`, which needs net-tools, while gateway4 becomes ifupdown's
 * own `gateway`; the networkd renderer (NixOS) maps both to Gateway=.
 */
export function renderNetworkConfig(args: { mac: string; address: string; cidr: string; gateway: string; dns: string }): string {
    const prefix = args.cidr.split("/")[1];
    const doc = {
        version: 2,
        ethernets: {
            lan0: {
                match: { macaddress: args.mac },
                addresses: [`${args.address}/${prefix}`],
                gateway4: args.gateway,
                nameservers: { addresses: [args.dns] },
            },
        },
    };
    // Quoted: cloud-init reads YAML 1.1, where an all-digit MAC such as 52:54:00:12:34:56
    // is a base-60 integer, and the NIC would never match.
    return stringify(doc, { lineWidth: 0, defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "PLAIN" });
}

export type CpuMode = "host-passthrough" | "host-model" | "emulated";

export interface DiskXml {
    path: string;
    /** Format as libvirt names it: qcow2, raw, vmdk, vpc. */
    format: string;
    readonly?: boolean;
    /** Shows in the guest as /dev/disk/by-id/virtio-<serial>. */
    serial?: string;
}

export type NicXml =
    | { kind: "network"; network: string; mac: string }
    /** QEMU user-mode (slirp) NIC, created with qemu:commandline passthrough. */
    | { kind: "user"; mac: string; netdev: string };

export interface DomainXmlArgs {
    name: string;
    accelerator: Accelerator;
    arch: Arch;
    machineType: string;
    vcpus: number;
    memoryMiB: number;
    cpu: CpuMode;
    bootMode: BootMode;
    kernel?: { kernel: string; initrd?: string; cmdline?: string };
    uefiLoader?: string;
    uefiVarsTemplate?: string;
    /** In order: root (vda), seed, extra volumes. */
    disks: DiskXml[];
    nic: NicXml;
    serialLog: string;
    /** Stamped into `<metadata>` at `virsh define`, so no window leaves an unstamped domain. */
    owner: Owner;
}

/** vda, vdb, ... vdz, vdaa: libvirt's target naming for the n-th virtio disk. */
export function diskTarget(n: number): string {
    let s = "";
    let i = n;
    do {
        s = String.fromCharCode(97 + (i % 26)) + s;
        i = Math.floor(i / 26) - 1;
    } while (i >= 0);
    return `vd${s}`;
}

function osXml(a: DomainXmlArgs): string[] {
    const type = `    <type arch='${a.arch}' machine='${esc(a.machineType)}'>hvm</type>`;
    const kernel = a.kernel
        ? [
              `    <kernel>${esc(a.kernel.kernel)}</kernel>`,
              ...(a.kernel.initrd ? [`    <initrd>${esc(a.kernel.initrd)}</initrd>`] : []),
              ...(a.kernel.cmdline ? [`    <cmdline>${esc(a.kernel.cmdline)}</cmdline>`] : []),
          ]
        : ["    <boot dev='hd'/>"];
    switch (a.bootMode) {
        case "bios":
            return ["  <os>", type, ...kernel, "  </os>"];
        case "uefi":
            if (a.uefiLoader) {
                return [
                    "  <os>",
                    type,
                    `    <loader readonly='yes' secure='no' type='pflash'>${esc(a.uefiLoader)}</loader>`,
                    ...(a.uefiVarsTemplate ? [`    <nvram template='${esc(a.uefiVarsTemplate)}'/>`] : []),
                    ...kernel,
                    "  </os>",
                ];
            }
            // Firmware autoselection from the QEMU firmware descriptors works on Debian,
            // Fedora and NixOS alike; Secure Boot off because NixOS images are unsigned.
            return [
                "  <os firmware='efi'>",
                type,
                "    <firmware>",
                "      <feature enabled='no' name='enrolled-keys'/>",
                "      <feature enabled='no' name='secure-boot'/>",
                "    </firmware>",
                ...kernel,
                "  </os>",
            ];
    }
}

function cpuXml(cpu: CpuMode): string[] {
    switch (cpu) {
        // Passes VMX/SVM through, so the guest gets /dev/kvm when the hypervisor allows
        // nested virtualization (kvm_intel/kvm_amd nested=1).
        case "host-passthrough":
            return ["  <cpu mode='host-passthrough' check='none' migratable='off'/>"];
        case "host-model":
            return ["  <cpu mode='host-model' check='partial'/>"];
        case "emulated":
            return [];
    }
}

function diskXml(d: DiskXml, i: number): string[] {
    return [
        "    <disk type='file' device='disk'>",
        `      <driver name='qemu' type='${esc(d.format)}'${d.readonly ? "" : " discard='unmap'"}/>`,
        `      <source file='${esc(d.path)}'/>`,
        `      <target dev='${diskTarget(i)}' bus='virtio'/>`,
        ...(d.serial ? [`      <serial>${esc(d.serial)}</serial>`] : []),
        ...(d.readonly ? ["      <readonly/>"] : []),
        "    </disk>",
    ];
}

export function renderDomainXml(a: DomainXmlArgs): string {
    const user = a.nic.kind === "user";
    const lines = [
        `<domain type='${a.accelerator === "kvm" ? "kvm" : "qemu"}'${user ? " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" : ""}>`,
        `  <name>${esc(a.name)}</name>`,
        "  <metadata>",
        `    ${renderOwnerXml(a.owner)}`,
        "  </metadata>",
        `  <memory unit='MiB'>${a.memoryMiB}</memory>`,
        `  <vcpu placement='static'>${a.vcpus}</vcpu>`,
        ...osXml(a),
        "  <features>",
        "    <acpi/>",
        ...(a.arch === "x86_64" ? ["    <apic/>"] : []),
        "  </features>",
        ...cpuXml(a.cpu),
        "  <clock offset='utc'/>",
        "  <on_poweroff>destroy</on_poweroff>",
        "  <on_reboot>restart</on_reboot>",
        "  <on_crash>destroy</on_crash>",
        "  <devices>",
        ...a.disks.flatMap(diskXml),
        ...(a.nic.kind === "network"
            ? [
                  "    <interface type='network'>",
                  `      <mac address='${a.nic.mac}'/>`,
                  `      <source network='${esc(a.nic.network)}'/>`,
                  "      <model type='virtio'/>",
                  "    </interface>",
              ]
            : []),
        "    <serial type='pty'>",
        // append='off': each boot starts a fresh log, so readiness never sees an old marker.
        `      <log file='${esc(a.serialLog)}' append='off'/>`,
        "      <target port='0'/>",
        "    </serial>",
        "    <console type='pty'>",
        "      <target type='serial' port='0'/>",
        "    </console>",
        "    <controller type='usb' model='none'/>",
        "    <memballoon model='none'/>",
        // Entropy at first boot: ssh and cloud-init block on it, badly so under TCG.
        "    <rng model='virtio'>",
        "      <backend model='random'>/dev/urandom</backend>",
        "    </rng>",
        "  </devices>",
        ...(a.nic.kind === "user"
            ? [
                  // libvirt 9.0 has no port forwarding for the slirp backend, so the NIC is
                  // QEMU's own -netdev user with hostfwd.
                  "  <qemu:commandline>",
                  "    <qemu:arg value='-netdev'/>",
                  `    <qemu:arg value='${esc(a.nic.netdev)}'/>`,
                  "    <qemu:arg value='-device'/>",
                  `    <qemu:arg value='virtio-net-pci,netdev=nixnet0,mac=${a.nic.mac},bus=${rootBus(a.machineType)},addr=${USER_NIC_SLOT}'/>`,
                  "  </qemu:commandline>",
              ]
            : []),
        "</domain>",
        "",
    ];
    return lines.join("\n");
}

/**
 * QEMU creates the passthrough NIC before libvirt's own PCI devices, so without an
 * address it takes the first free slot, the one libvirt has already given its first
 * PCIe root port, and QEMU refuses to start. Slot 0x1e of the root bus is never handed out
 * by libvirt for these domains (it keeps it for a DMI-to-PCI bridge, which needs legacy
 * PCI devices we do not have).
 */
export const USER_NIC_SLOT = "0x1e";

/** The machine's root bus: i440fx (`pc*`) has PCI, q35 and virt have PCIe. */
export function rootBus(machineType: string): string {
    return /^pc($|-i440fx)/.test(machineType) ? "pci.0" : "pcie.0";
}

/** The slirp netdev: the lab CIDR (so the node's fixed address fits), gateway .1, SSH on loopback. */
export function userNetdev(args: { cidr: string; address: string; sshPort: number }): string {
    const range = dhcpRange(args.cidr);
    return [
        "user",
        "id=nixnet0",
        `net=${args.cidr}`,
        `host=${gatewayAddress(args.cidr)}`,
        `dns=${userModeDnsAddress(args.cidr)}`,
        `dhcpstart=${range.start}`,
        // Without the guest address slirp forwards to its first DHCP lease, not the node.
        `hostfwd=tcp:127.0.0.1:${args.sshPort}-${args.address}:22`,
    ].join(",");
}

/** Which CPU a node gets: host-passthrough only where nested KVM is asked for. */
export function cpuModeFor(accelerator: Accelerator, kvm: KvmMode): CpuMode {
    if (accelerator === "tcg") return "emulated";
    return kvm === "nested" ? "host-passthrough" : "host-model";
}

/** Domain metadata: the lab's tags as `<tag key='...'>value</tag>` under nixlab's namespace. */
export const METADATA_URI = "https://nixlab.dev/xmlns/libvirt/tags/1";

export function renderTagsXml(tags: Record<string, string>): string {
    const entries = Object.keys(tags)
        .sort()
        .map((k) => `<tag key='${esc(k)}'>${esc(tags[k]!)}</tag>`);
    return `<tags>${entries.join("")}</tags>`;
}

/** Libvirt's format names for artifact formats (`vhd` is QEMU's `vpc`). */
export function libvirtFormat(format: string): string {
    return format === "vhd" ? "vpc" : format;
}

/**
 * NoCloud vendor-data: makes the readiness line appear on *every* boot, not only the
 * first. The lab's runcmd prints it once per instance; when a node is restarted (a
 * resize, a domain recreated after it was deleted behind the program's back) runcmd does
 * not run again, so this installs a cloud-init per-boot script that prints the same line
 * on later boots. On the instance's first boot the per-boot script runs before runcmd
 * (cloud_final_modules order: scripts-vendor, scripts-per-boot, scripts-user), so it only
 * records that the first boot happened and leaves the line to runcmd, which runs after the
 * user's own commands.
 */
export function renderVendorData(readyCommand: string): string {
    return [
        "#!/bin/sh",
        "# nixlab libvirt backend: print the readiness line on later boots too",
        "set -e",
        "mkdir -p /var/lib/nixlab /var/lib/cloud/scripts/per-boot",
        "rm -f /var/lib/nixlab/first-boot-done",
        "cat >/var/lib/cloud/scripts/per-boot/nixlab-ready <<'NIXLAB_EOF'",
        "#!/bin/sh",
        "if [ ! -e /var/lib/nixlab/first-boot-done ]; then touch /var/lib/nixlab/first-boot-done; exit 0; fi",
        readyCommand,
        "NIXLAB_EOF",
        "chmod 0755 /var/lib/cloud/scripts/per-boot/nixlab-ready",
        "",
    ].join("\n");
}
