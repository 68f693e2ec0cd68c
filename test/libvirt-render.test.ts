/**
 * What the libvirt backend hands to libvirt and to the guest: domain and network XML,
 * NoCloud network-config, meta-data and vendor-data, names and MACs; and the providers'
 * pure helpers (readiness line, instance-id, "not found" detection).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { READY_MARKER, readyCommand } from "../components/cloudinit";
import type { NodeSpec } from "../components/spec";
import {
    findReadyLine,
    isLabVolume,
    OWNER_NS,
    parseOwner,
    qemuLogPath,
    POOL_MARKER,
    renderMetaData,
    restartReasons,
    sameOwner,
    seedInstanceId,
    withUuid,
} from "../providers/libvirt/provider";
import { OWNER_URI, renderOwnerXml } from "../providers/libvirt/render";
import {
    bridgeName,
    cpuModeFor,
    dhcpRange,
    diskTarget,
    domainName,
    libvirtFormat,
    macAddress,
    renderDomainXml,
    renderNetworkConfig,
    renderNetworkXml,
    renderTagsXml,
    renderVendorData,
    rootBus,
    serialLogPath,
    userNetdev,
    volumeNames,
} from "../providers/libvirt/render";

const NAT_BIOS_KERNEL = `<domain type='qemu'>
  <name>nixlab-dev-node-1</name>
  <metadata>
    <nixlab-owner:owner xmlns:nixlab-owner='https://nixlab.dev/xmlns/libvirt/owner/1' stack='dev-stack' lab='dev' node='node-1'/>
  </metadata>
  <memory unit='MiB'>1024</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>/p/k</kernel>
    <initrd>/p/i</initrd>
    <cmdline>root=/dev/vda rw console=ttyS0,115200</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/p/node-1.root.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/p/node-1.cidata.iso'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:cc'/>
      <source network='nixlab-dev'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'>
      <log file='/var/log/libvirt/qemu/nixlab-dev.node-1.serial.log' append='off'/>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
  </devices>
</domain>
`;

describe("domain XML", () => {
    it("TCG, BIOS, direct kernel boot, NAT: the whole document", () => {
        expect(
            renderDomainXml({
                name: "nixlab-dev-node-1",
                accelerator: "tcg",
                arch: "x86_64",
                machineType: "q35",
                vcpus: 1,
                memoryMiB: 1024,
                cpu: "emulated",
                bootMode: "bios",
                kernel: { kernel: "/p/k", initrd: "/p/i", cmdline: "root=/dev/vda rw console=ttyS0,115200" },
                disks: [
                    { path: "/p/node-1.root.qcow2", format: "qcow2" },
                    { path: "/p/node-1.cidata.iso", format: "raw", readonly: true },
                ],
                nic: { kind: "network", network: "nixlab-dev", mac: "52:54:00:aa:bb:cc" },
                serialLog: "/var/log/libvirt/qemu/nixlab-dev.node-1.serial.log",
                owner: { stack: "dev-stack", lab: "dev", node: "node-1" },
            }),
        ).toBe(NAT_BIOS_KERNEL);
    });

    const uefiUser = renderDomainXml({
        name: "nixlab-dev-node-2",
        accelerator: "kvm",
        arch: "x86_64",
        machineType: "q35",
        vcpus: 4,
        memoryMiB: 16384,
        cpu: "host-passthrough",
        bootMode: "uefi",
        disks: [
            { path: "/p/node-2.root.qcow2", format: "qcow2" },
            { path: "/p/node-2.vol-scratch.qcow2", format: "qcow2", serial: "scratch" },
            { path: "/p/node-2.cidata.iso", format: "raw", readonly: true },
        ],
        nic: { kind: "user", mac: "52:54:00:aa:bb:cd", netdev: userNetdev({ cidr: "10.77.0.0/24", address: "10.77.0.11", sshPort: 2223 }) },
        serialLog: "/l/x.log",
        owner: { stack: "s", lab: "dev", node: "node-2" },
    });

    it("KVM nested: host-passthrough CPU on a kvm domain", () => {
        expect(uefiUser).toMatch(/^<domain type='kvm' xmlns:qemu='http:\/\/libvirt.org\/schemas\/domain\/qemu\/1.0'>\n/);
        expect(uefiUser).toContain("\n  <cpu mode='host-passthrough' check='none' migratable='off'/>\n");
    });

    it("UEFI by firmware autoselection, Secure Boot off, boot from disk", () => {
        expect(uefiUser).toContain(
            [
                "  <os firmware='efi'>",
                "    <type arch='x86_64' machine='q35'>hvm</type>",
                "    <firmware>",
                "      <feature enabled='no' name='enrolled-keys'/>",
                "      <feature enabled='no' name='secure-boot'/>",
                "    </firmware>",
                "    <boot dev='hd'/>",
                "  </os>",
            ].join("\n"),
        );
    });

    it("extra volumes carry their name as virtio serial, the seed comes last", () => {
        expect(uefiUser).toContain("<source file='/p/node-2.vol-scratch.qcow2'/>\n      <target dev='vdb' bus='virtio'/>\n      <serial>scratch</serial>");
        expect(uefiUser).toContain("<source file='/p/node-2.cidata.iso'/>\n      <target dev='vdc' bus='virtio'/>\n      <readonly/>");
    });

    it("user mode: no libvirt interface, a slirp NIC with SSH forwarded from loopback to the node's address", () => {
        expect(uefiUser).not.toContain("<interface");
        expect(uefiUser).toContain(
            [
                "  <qemu:commandline>",
                "    <qemu:arg value='-netdev'/>",
                "    <qemu:arg value='user,id=nixnet0,net=10.77.0.0/24,host=10.77.0.1,dns=10.77.0.3,dhcpstart=10.77.0.238,hostfwd=tcp:127.0.0.1:2223-10.77.0.11:22'/>",
                "    <qemu:arg value='-device'/>",
                // A fixed slot: QEMU plugs passthrough devices in before libvirt's own.
                "    <qemu:arg value='virtio-net-pci,netdev=nixnet0,mac=52:54:00:aa:bb:cd,bus=pcie.0,addr=0x1e'/>",
                "  </qemu:commandline>",
                "</domain>",
            ].join("\n"),
        );
    });

    it("UEFI with configured firmware files; aarch64 has no APIC", () => {
        const xml = renderDomainXml({
            name: "n3",
            accelerator: "kvm",
            arch: "aarch64",
            machineType: "virt",
            vcpus: 2,
            memoryMiB: 2048,
            cpu: "host-model",
            bootMode: "uefi",
            uefiLoader: "/fw/code.fd",
            uefiVarsTemplate: "/fw/vars.fd",
            disks: [{ path: "/p/r", format: "qcow2" }],
            nic: { kind: "network", network: "nixlab-dev", mac: "52:54:00:aa:bb:ce" },
            serialLog: "/l/y.log",
            owner: { stack: "s", lab: "dev", node: "n3" },
        });
        expect(xml).toContain(
            [
                "  <os>",
                "    <type arch='aarch64' machine='virt'>hvm</type>",
                "    <loader readonly='yes' secure='no' type='pflash'>/fw/code.fd</loader>",
                "    <nvram template='/fw/vars.fd'/>",
                "    <boot dev='hd'/>",
                "  </os>",
                "  <features>",
                "    <acpi/>",
                "  </features>",
                "  <cpu mode='host-model' check='partial'/>",
            ].join("\n"),
        );
    });

    it("escapes what comes from outside", () => {
        const xml = renderDomainXml({
            name: "a&b",
            accelerator: "tcg",
            arch: "x86_64",
            machineType: "q35",
            vcpus: 1,
            memoryMiB: 512,
            cpu: "emulated",
            bootMode: "bios",
            kernel: { kernel: "/k", cmdline: "console=ttyS0 x='1' <y>" },
            disks: [{ path: "/it's", format: "qcow2" }],
            nic: { kind: "network", network: "n", mac: "52:54:00:00:00:01" },
            serialLog: "/l",
            owner: { stack: "a&b", lab: "x", node: "y'z" },
        });
        expect(xml).toContain("<name>a&amp;b</name>");
        expect(xml).toContain("<cmdline>console=ttyS0 x=&apos;1&apos; &lt;y&gt;</cmdline>");
        expect(xml).toContain("<source file='/it&apos;s'/>");
        expect(xml).toContain("stack='a&amp;b' lab='x' node='y&apos;z'/>");
    });

    it.each([
        ["q35", "pcie.0"],
        ["pc-q35-7.2", "pcie.0"],
        ["virt", "pcie.0"],
        ["pc", "pci.0"],
        ["pc-i440fx-7.2", "pci.0"],
    ])("the root bus of %s is %s", (machine, bus) => {
        expect(rootBus(machine)).toBe(bus);
    });

    it.each([
        ["kvm", "nested", "host-passthrough"],
        ["kvm", "none", "host-model"],
        ["tcg", "none", "emulated"],
    ] as const)("cpu for accelerator %s, kvm %s: %s", (accelerator, kvm, mode) => {
        expect(cpuModeFor(accelerator, kvm)).toBe(mode);
    });

    it.each([
        [0, "vda"],
        [1, "vdb"],
        [25, "vdz"],
        [26, "vdaa"],
        [27, "vdab"],
    ])("disk %i is %s", (n, dev) => {
        expect(diskTarget(n)).toBe(dev);
    });
});

describe("network XML", () => {
    it("NAT with the gateway at .1 and a DHCP range at the top, away from the nodes", () => {
        expect(renderNetworkXml({ lab: "dev", cidr: "10.77.0.0/24", owner: { stack: "dev-stack", lab: "dev" } })).toBe(`<network>
  <name>nixlab-dev</name>
  <metadata>
    <nixlab-owner:owner xmlns:nixlab-owner='https://nixlab.dev/xmlns/libvirt/owner/1' stack='dev-stack' lab='dev'/>
  </metadata>
  <forward mode='nat'/>
  <bridge name='nxl-ef260e9aa3' stp='on' delay='0'/>
  <dns enable='yes'/>
  <ip address='10.77.0.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.77.0.238' end='10.77.0.254'/>
    </dhcp>
  </ip>
</network>
`);
    });

    it.each([
        ["10.77.0.0/24", "10.77.0.238", "10.77.0.254"],
        ["10.0.0.0/16", "10.0.255.238", "10.0.255.254"],
        ["192.168.5.0/26", "192.168.5.46", "192.168.5.62"],
    ])("DHCP range of %s", (cidr, start, end) => {
        expect(dhcpRange(cidr)).toEqual({ start, end });
    });

    it("bridge names fit Linux's 15 characters, even for the longest lab names", () => {
        const name = bridgeName("a".repeat(32));
        expect(name).toMatch(/^nxl-[0-9a-f]{10}$/);
        expect(name.length).toBeLessThanOrEqual(15);
        expect(bridgeName("dev")).not.toBe(bridgeName("dev2"));
    });
});

describe("names and addresses", () => {
    it("MACs are stable per lab and node, in QEMU's prefix", () => {
        expect(macAddress("dev", "node-1")).toBe(macAddress("dev", "node-1"));
        expect(macAddress("dev", "node-1")).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
        expect(macAddress("dev", "node-1")).not.toBe(macAddress("dev", "node-2"));
        expect(macAddress("dev", "node-1")).not.toBe(macAddress("dev2", "node-1"));
    });

    it("every libvirt object of a lab is found by the nixlab- prefix, volumes cannot collide", () => {
        expect(domainName("dev", "node-1")).toBe("nixlab-dev.node-1");
        expect(serialLogPath("/var/log/libvirt/qemu", "dev", "node-1")).toBe("/var/log/libvirt/qemu/nixlab-dev.node-1.serial.log");
        expect([volumeNames.root("n"), volumeNames.seed("n"), volumeNames.extra("n", "root"), volumeNames.extra("n", "cidata")]).toEqual([
            "n.root.qcow2",
            "n.cidata.iso",
            "n.vol-root.qcow2",
            "n.vol-cidata.qcow2",
        ]);
        expect(volumeNames.base("0123456789abcdef")).toBe("nixlab-base-0123456789abcdef");
    });

    it("maps artifact formats to QEMU's names", () => {
        expect(libvirtFormat("vhd")).toBe("vpc");
        expect(libvirtFormat("qcow2")).toBe("qcow2");
    });

    it("tags are sorted and escaped", () => {
        expect(renderTagsXml({ "nixlab:owner": "a<b>&'c", "nixlab:lab": "dev" })).toBe(
            "<tags><tag key='nixlab:lab'>dev</tag><tag key='nixlab:owner'>a&lt;b&gt;&amp;&apos;c</tag></tags>",
        );
    });
});

describe("NoCloud seed", () => {
    it("network-config matches the NIC by a quoted MAC (YAML 1.1 would read 52:54:00:12:34:56 as a number)", () => {
        const text = renderNetworkConfig({ mac: "52:54:00:12:34:56", address: "10.77.0.10", cidr: "10.77.0.0/24", gateway: "10.77.0.1", dns: "10.77.0.1" });
        expect(text).toBe(`version: 2
ethernets:
  lan0:
    match:
      macaddress: "52:54:00:12:34:56"
    addresses:
      - "10.77.0.10/24"
    gateway4: "10.77.0.1"
    nameservers:
      addresses:
        - "10.77.0.1"
`);
        expect(parse(text)).toEqual({
            version: 2,
            ethernets: {
                lan0: {
                    match: { macaddress: "52:54:00:12:34:56" },
                    addresses: ["10.77.0.10/24"],
                    gateway4: "10.77.0.1",
                    nameservers: { addresses: ["10.77.0.1"] },
                },
            },
        });
    });

    it("meta-data names the instance and the host", () => {
        expect(renderMetaData("nixlab-dev-node-1-0123456789abcdef", "node-1")).toBe("instance-id: nixlab-dev-node-1-0123456789abcdef\nlocal-hostname: node-1\n");
    });

    it("the instance-id changes with any of the seed's content, and only then", () => {
        const seed = { instanceIdPrefix: "nixlab-dev-node-1", userData: "#cloud-config\n", networkConfig: "version: 2\n", vendorData: "#!/bin/sh\n" };
        const id = seedInstanceId(seed);
        expect(id).toMatch(/^nixlab-dev-node-1-[0-9a-f]{16}$/);
        expect(seedInstanceId({ ...seed })).toBe(id);
        expect(seedInstanceId({ ...seed, userData: "#cloud-config\nhostname: x\n" })).not.toBe(id);
        expect(seedInstanceId({ ...seed, networkConfig: "version: 1\n" })).not.toBe(id);
        expect(seedInstanceId({ ...seed, vendorData: "" })).not.toBe(id);
    });

    const node = { name: "node-1", kvm: "none" } as NodeSpec;
    const vendor = renderVendorData(readyCommand(node));

    it("vendor-data installs a per-boot script that repeats the readiness line after the first boot", () => {
        expect(vendor).toBe(`#!/bin/sh
# nixlab libvirt backend: print the readiness line on later boots too
set -e
mkdir -p /var/lib/nixlab /var/lib/cloud/scripts/per-boot
rm -f /var/lib/nixlab/first-boot-done
cat >/var/lib/cloud/scripts/per-boot/nixlab-ready <<'NIXLAB_EOF'
#!/bin/sh
if [ ! -e /var/lib/nixlab/first-boot-done ]; then touch /var/lib/nixlab/first-boot-done; exit 0; fi
${readyCommand(node)}
NIXLAB_EOF
chmod 0755 /var/lib/cloud/scripts/per-boot/nixlab-ready
`);
    });

    it("vendor-data and the per-boot script it writes are valid sh", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-vendor-"));
        try {
            fs.writeFileSync(path.join(dir, "vendor"), vendor);
            execFileSync("sh", ["-n", path.join(dir, "vendor")]);
            const perBoot = vendor.split("<<'NIXLAB_EOF'\n")[1]!.split("NIXLAB_EOF\n")[0]!;
            fs.writeFileSync(path.join(dir, "per-boot"), perBoot);
            execFileSync("sh", ["-n", path.join(dir, "per-boot")]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("provider helpers", () => {
    it("finds this node's readiness line in a console log with CRs and terminal escapes", () => {
        const log = `[  OK  ] Started ssh.service\r\n\x1b[0;32mNIXLAB-READY node=node-10 kvm=ok\x1b[0m\r\nNIXLAB-READY node=node-1 kvm=missing\r\nlogin:`;
        expect(findReadyLine(log, READY_MARKER, "node-1")).toBe("NIXLAB-READY node=node-1 kvm=missing");
        expect(findReadyLine(log, READY_MARKER, "node-10")).toBe("NIXLAB-READY node=node-10 kvm=ok");
        expect(findReadyLine(log, READY_MARKER, "node-2")).toBeUndefined();
    });

    it("does not mistake the echoed command for the line", () => {
        expect(findReadyLine(`echo "NIXLAB-READY node=node-1 kvm=$k"`, READY_MARKER, "node-1")).toBeUndefined();
    });

});

describe("identity: names, owner stamps, UUIDs", () => {
    it("lab a-b with node c and lab a with node b-c get different domains and serial logs", () => {
        expect(domainName("a-b", "c")).toBe("nixlab-a-b.c");
        expect(domainName("a", "b-c")).toBe("nixlab-a.b-c");
        expect(serialLogPath("/l", "a-b", "c")).not.toBe(serialLogPath("/l", "a", "b-c"));
        // The longest lab and node names (32 each) still give a name libvirt takes as it is.
        expect(domainName("a".repeat(32), "b".repeat(32))).toHaveLength(72);
    });

    it("the owner stamp reads back as written, also as libvirt re-serializes it (double quotes, its own prefix)", () => {
        const owner = { stack: "org/dev&x", lab: "dev", node: "node-1" };
        expect(OWNER_NS).toBe(OWNER_URI);
        expect(parseOwner(`<domain><metadata>\n    ${renderOwnerXml(owner)}\n  </metadata></domain>`)).toEqual(owner);
        const libvirtWay = `<network>\n  <metadata>\n    <nx:owner xmlns:nx="${OWNER_URI}" stack="s" lab="l"/>\n  </metadata>\n</network>`;
        expect(parseOwner(libvirtWay)).toEqual({ stack: "s", lab: "l" });
        // Another namespace's element called owner is not ours; no metadata, no owner.
        expect(parseOwner(`<domain><metadata><x:owner xmlns:x="https://example.com/o" stack="s" lab="l"/></metadata></domain>`)).toBeUndefined();
        expect(parseOwner("<domain><name>x</name></domain>")).toBeUndefined();
    });

    it("owners are the same only when stack, lab and node all match", () => {
        const a = { stack: "s", lab: "l", node: "n" };
        expect(sameOwner(a, { ...a })).toBe(true);
        expect(sameOwner(a, { ...a, stack: "t" })).toBe(false);
        expect(sameOwner(a, { ...a, node: "m" })).toBe(false);
        expect(sameOwner(a, { stack: "s", lab: "l" })).toBe(false);
        expect(sameOwner(a, undefined)).toBe(false);
    });

    it("libvirt's own QEMU log of a system domain is known (destroy removes it); session URIs keep theirs per user", () => {
        expect(qemuLogPath("qemu:///system", "nixlab-a.b")).toBe("/var/log/libvirt/qemu/nixlab-a.b.log");
        expect(qemuLogPath("qemu+ssh://root@hv:2222/system?keyfile=/k", "nixlab-a.b")).toBe("/var/log/libvirt/qemu/nixlab-a.b.log");
        expect(qemuLogPath("qemu:///session", "nixlab-a.b")).toBeUndefined();
    });

    it("a redefinition carries the domain's UUID right after its name", () => {
        expect(withUuid("<domain>\n  <name>x</name>\n  <memory/>\n</domain>\n", "u-1")).toBe("<domain>\n  <name>x</name>\n  <uuid>u-1</uuid>\n  <memory/>\n</domain>\n");
        expect(withUuid("<domain><name>x</name></domain>", undefined)).toBe("<domain><name>x</name></domain>");
    });

    it("destroy deletes exactly the volume names the lab makes (and its marker) from its pool", () => {
        for (const name of [
            volumeNames.base("0123456789abcdef"),
            volumeNames.kernel("0123456789abcdef"),
            volumeNames.initrd("0123456789abcdef"),
            volumeNames.root("node-1"),
            volumeNames.seed("node-1"),
            volumeNames.extra("node-1", "scratch-2"),
            POOL_MARKER,
        ]) {
            expect(isLabVolume(name), name).toBe(true);
        }
        for (const name of ["notes.txt", "nixlab-base-xyz", "backup.qcow2", "node-1.root.qcow2.bak", ".hidden"]) expect(isLabVolume(name), name).toBe(false);
    });
});

describe("which domain changes need a restart", () => {
    const base = renderDomainXml({
        name: "d",
        accelerator: "tcg",
        arch: "x86_64",
        machineType: "q35",
        vcpus: 1,
        memoryMiB: 1024,
        cpu: "emulated",
        bootMode: "bios",
        kernel: { kernel: "/k", cmdline: "console=ttyS0" },
        disks: [{ path: "/p/r", format: "qcow2" }],
        nic: { kind: "network", network: "n", mac: "52:54:00:00:00:01" },
        serialLog: "/l",
        owner: { stack: "s", lab: "l", node: "d" },
    });

    it.each([
        ["vcpus and memory", (x: string) => x.replace(">1</vcpu>", ">2</vcpu>").replace(">1024</memory>", ">1536</memory>"), ["vcpus 1 -> 2", "memory (MiB) 1024 -> 1536"]],
        ["machine type", (x: string) => x.replace("machine='q35'", "machine='pc'"), ["machine type"]],
        ["kernel cmdline", (x: string) => x.replace("console=ttyS0<", "console=ttyS0 quiet<"), ["kernel cmdline"]],
        ["an extra disk", (x: string) => x.replace("  </devices>", "    <disk type='file' device='disk'><source file='/p/v'/></disk>\n  </devices>"), ["disks"]],
        ["nothing", (x: string) => x, []],
    ])("%s", (_what, change, reasons) => {
        expect(restartReasons(base, change(base))).toEqual(reasons);
    });
});
