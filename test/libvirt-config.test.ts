/**
 * nixlab:libvirt validation and the libvirt capability check (place): pure functions,
 * exact messages.
 */
import { describe, expect, it } from "vitest";
import { planLab } from "../components/lab";
import { ConfigError } from "../components/problems";
import { parseLabConfig } from "../components/spec";
import { factory, LibvirtBackend, USER_DATA_LIMIT_BYTES } from "../providers/libvirt";
import { hypervisorSshFor, localArch, parseLibvirtConfig, parseUri, proxyJumpFor } from "../providers/libvirt/config";
import { placeLibvirt } from "../providers/libvirt/place";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v alice@laptop";

function lab(extra: Record<string, unknown>) {
    return parseLabConfig({ owner: "alice@example.com", user: { sshAuthorizedKeys: [KEY] }, ...extra }, "dev");
}

function configError(raw: unknown): string {
    try {
        parseLibvirtConfig(raw);
    } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
    }
    throw new Error("expected a ConfigError");
}

const HEAD = "nixlab: invalid stack configuration (1 problem):\n  - ";

describe("nixlab:libvirt", () => {
    it("defaults every field when the key is absent", () => {
        expect(parseLibvirtConfig(undefined)).toEqual({
            uri: "qemu:///system",
            accelerator: "kvm",
            networkMode: "nat",
            sshForwardBasePort: 2222,
            poolDir: "/var/lib/libvirt/nixlab",
            serialLogDir: "/var/log/libvirt/qemu",
            uefiLoader: undefined,
            uefiVarsTemplate: undefined,
            hypervisorArch: localArch(),
            readyTimeoutSeconds: 900,
            overcommit: { vcpus: 1, memory: 1, disk: 1 },
        });
    });

    it("keeps what is given, without trailing slashes on directories", () => {
        expect(
            parseLibvirtConfig({
                uri: "qemu+ssh://alice@hv.example.com:2200/system?keyfile=/home/alice/.ssh/hv",
                accelerator: "tcg",
                networkMode: "user",
                sshForwardBasePort: 40000,
                poolDir: "/srv/pools/",
                serialLogDir: "/srv/logs",
                uefiLoader: "/usr/share/OVMF/OVMF_CODE_4M.fd",
                uefiVarsTemplate: "/usr/share/OVMF/OVMF_VARS_4M.fd",
                hypervisorArch: "aarch64",
                readyTimeoutSeconds: 60,
                overcommit: { vcpus: 4, disk: 2 },
            }),
        ).toEqual({
            uri: "qemu+ssh://alice@hv.example.com:2200/system?keyfile=/home/alice/.ssh/hv",
            accelerator: "tcg",
            networkMode: "user",
            sshForwardBasePort: 40000,
            poolDir: "/srv/pools",
            serialLogDir: "/srv/logs",
            uefiLoader: "/usr/share/OVMF/OVMF_CODE_4M.fd",
            uefiVarsTemplate: "/usr/share/OVMF/OVMF_VARS_4M.fd",
            hypervisorArch: "aarch64",
            readyTimeoutSeconds: 60,
            overcommit: { vcpus: 4, memory: 1, disk: 2 },
        });
    });

    it.each([
        [{ urI: "x" }, "nixlab:libvirt.urI: unknown key; did you mean `uri`? (allowed here: `uri`, `accelerator`, `networkMode`, `sshForwardBasePort`, `poolDir`, `serialLogDir`, `uefiLoader`, `uefiVarsTemplate`, `hypervisorArch`, `readyTimeoutSeconds`, `overcommit`)"],
        [{ accelerator: "hvf" }, 'nixlab:libvirt.accelerator: must be one of `kvm` or `tcg` (got "hvf")'],
        [{ networkMode: "bridge" }, 'nixlab:libvirt.networkMode: must be one of `nat` or `user` (got "bridge")'],
        [{ uri: "not a uri" }, 'nixlab:libvirt.uri: must be a libvirt URI like qemu:///system or qemu+ssh://user@host/system (got "not a uri")'],
        [
            { uri: "xen:///system" },
            'nixlab:libvirt.uri: driver "xen" is not QEMU; nixlab drives QEMU/KVM guests only (use qemu:///system or qemu+ssh://user@host/system) (got "xen:///system")',
        ],
        [
            { uri: "qemu+tls://host/system" },
            'nixlab:libvirt.uri: remote transport "tls" is not supported: nixlab reads serial logs and reaches nodes over ssh; use qemu+ssh://user@host/system (got "qemu+tls://host/system")',
        ],
        [{ sshForwardBasePort: 80 }, "nixlab:libvirt.sshForwardBasePort: must be at least 1024 (unprivileged ports) (got 80)"],
        [{ sshForwardBasePort: 65500 }, "nixlab:libvirt.sshForwardBasePort: must leave room for 64 nodes: at most 65471 (got 65500)"],
        [{ poolDir: "var/lib" }, 'nixlab:libvirt.poolDir: must be an absolute path (got "var/lib")'],
        [{ readyTimeoutSeconds: 5 }, "nixlab:libvirt.readyTimeoutSeconds: must be at least 10 (got 5)"],
        [
            { uefiVarsTemplate: "/x" },
            "nixlab:libvirt.uefiVarsTemplate: is set without uefiLoader; set both (a code/vars pair from the same firmware build) or neither",
        ],
        ["qemu:///system", 'nixlab:libvirt: must be a mapping with keys `uri`, `accelerator`, `networkMode`, `sshForwardBasePort`, `poolDir`, `serialLogDir`, `uefiLoader`, `uefiVarsTemplate`, `hypervisorArch`, `readyTimeoutSeconds` and `overcommit` (got "qemu:///system")'],
    ])("refuses %j", (raw, message) => {
        expect(configError(raw)).toBe(HEAD + message);
    });

    it("the factory validates through the same schema", () => {
        expect(factory.kind).toBe("libvirt");
        expect(factory.configKey).toBe("nixlab:libvirt");
        expect(() => factory.fromConfig({ accelerator: "hvf" })).toThrow(ConfigError);
        const backend = factory.fromConfig({ accelerator: "tcg" }) as LibvirtBackend;
        expect(backend.kind).toBe("libvirt");
        expect(backend.config.accelerator).toBe("tcg");
        expect(backend.userDataLimitBytes).toBe(USER_DATA_LIMIT_BYTES);
    });

    it("maps Node's arch names", () => {
        expect(localArch("x64")).toBe("x86_64");
        expect(localArch("arm64")).toBe("aarch64");
    });
});

describe("libvirt URIs", () => {
    it.each([
        ["qemu:///system", {}, undefined],
        ["qemu:///session", {}, undefined],
        ["qemu+ssh://hv/system", { host: "hv", user: undefined, port: undefined, keyfile: undefined }, "hv"],
        [
            "qemu+ssh://alice@hv.example.com:2200/system?keyfile=/k&no_verify=1",
            { host: "hv.example.com", user: "alice", port: 2200, keyfile: "/k" },
            "alice@hv.example.com:2200",
        ],
    ])("%s", (uri, target, jump) => {
        expect(parseUri(uri)).toEqual(target);
        expect(proxyJumpFor(parseUri(uri))).toBe(jump);
    });
});

describe("place", () => {
    const x86 = parseLibvirtConfig({ hypervisorArch: "x86_64" });

    it("picks q35 for x86_64 and virt for aarch64, or the configured machine", () => {
        const spec = lab({
            nodes: [{ name: "a", kvm: "nested" }, { name: "b", arch: "aarch64", kvm: "none" }, { name: "c", machineType: "pc", kvm: "none" }],
            image: { artifacts: [{ path: "/x", format: "qcow2", arch: "x86_64", bootMode: "uefi" }, { path: "/y", format: "qcow2", arch: "aarch64", bootMode: "uefi" }] },
        });
        const placement = placeLibvirt(spec, parseLibvirtConfig({ hypervisorArch: "x86_64", accelerator: "tcg" }));
        expect(placement.problems).toEqual([
            {
                path: "nixlab:lab.nodes[0].kvm",
                message:
                    'is "nested", but nixlab:libvirt.accelerator is "tcg": nested KVM needs the hypervisor\'s own KVM to pass VMX/SVM through ' +
                    "(host-passthrough CPU), which emulation cannot do; set kvm: none for this node, or accelerator: kvm on a hypervisor with /dev/kvm",
            },
        ]);
        expect(placement.machines).toEqual({
            a: { machineType: "q35", reason: "QEMU's q35 machine for x86_64 (TCG emulation)", nestedVirtualization: true, vcpus: 2, memoryGiB: 4 },
            b: { machineType: "virt", reason: "QEMU's virt machine for aarch64 (TCG emulation)", nestedVirtualization: false, vcpus: 2, memoryGiB: 4 },
            c: { machineType: "pc", reason: "set in config", nestedVirtualization: false, vcpus: 2, memoryGiB: 4 },
        });
    });

    it("accepts nested on KVM", () => {
        const placement = placeLibvirt(lab({ nodes: { count: 2 } }), x86);
        expect(placement.problems).toEqual([]);
        expect(placement.machines["node-1"]).toEqual({ machineType: "q35", reason: "QEMU's q35 machine for x86_64 (KVM)", nestedVirtualization: true, vcpus: 2, memoryGiB: 4 });
    });

    it("refuses what a hypervisor cannot give, naming the key and the fix", () => {
        const spec = lab({
            nodes: [
                { name: "a", kvm: "metal" },
                { name: "b", arch: "aarch64", kvm: "none" },
                { name: "c", machineType: "virt", volumes: [{ name: "averyveryverylongname1", sizeGiB: 1 }] },
            ],
            image: {
                artifacts: [
                    { path: "/x", format: "tar.gz", arch: "x86_64", bootMode: "bios" },
                    { path: "/y", format: "qcow2", arch: "aarch64", bootMode: "bios" },
                ],
            },
        });
        expect(placeLibvirt(spec, x86).problems).toEqual([
            {
                path: "nixlab:lab.nodes[0].kvm",
                message:
                    'is "metal", but libvirt nodes are virtual machines; use kvm: nested (host-passthrough CPU, needs nested virtualization enabled on the hypervisor) or kvm: none',
            },
            {
                path: "nixlab:lab.nodes[1].arch",
                message:
                    'is "aarch64", but the hypervisor is x86_64 (nixlab:libvirt.hypervisorArch) and nixlab:libvirt.accelerator is "kvm": ' +
                    "KVM only runs guests of the host's architecture; set accelerator: tcg (slow emulation), or use an aarch64 hypervisor",
            },
            {
                path: "nixlab:lab.nodes[2].machineType",
                message: '"virt" is not a QEMU machine type for x86_64 guests on libvirt; use q35 (the default), pc, or a versioned pc-q35-<ver> / pc-i440fx-<ver>',
            },
            {
                path: "nixlab:lab.nodes[2].volumes[0].name",
                message: '"averyveryverylongname1" is 22 characters; the volume\'s virtio serial (/dev/disk/by-id/virtio-<name>) holds at most 20: use a shorter name',
            },
            {
                path: "nixlab:lab.image.artifacts[0].format",
                message: '"tar.gz" (a GCE disk.raw tarball) cannot back a libvirt disk; give a qcow2 (or raw, vmdk, vhd) image',
            },
            {
                path: "nixlab:lab.image.artifacts[1].bootMode",
                message: '"bios" does not exist on aarch64: aarch64 guests boot UEFI; set bootMode: uefi (or give a kernel for direct boot)',
            },
        ]);
    });

    it("allows aarch64 bios images that boot a kernel directly", () => {
        const spec = lab({
            nodes: [{ name: "a", arch: "aarch64", kvm: "none" }],
            image: { artifacts: [{ path: "/y", format: "qcow2", arch: "aarch64", bootMode: "bios", kernel: "/k" }] },
        });
        expect(placeLibvirt(spec, parseLibvirtConfig({ hypervisorArch: "aarch64" })).problems).toEqual([]);
    });

    it("says a problem of counted nodes once", () => {
        const problems = placeLibvirt(lab({ nodes: { count: 3, kvm: "metal" } }), x86).problems;
        expect(problems.map((p) => p.path)).toEqual(["nixlab:lab.nodes.kvm"]);
    });

    it("is what the Lab checks before registering anything", () => {
        const backend = factory.fromConfig({ accelerator: "tcg" });
        expect(() => planLab(lab({ nodes: { count: 2 } }), backend)).toThrow(
            "nixlab: invalid stack configuration (1 problem):\n  - nixlab:lab.nodes.kvm: is \"nested\", but nixlab:libvirt.accelerator is \"tcg\"",
        );
    });
});

describe("hypervisorSshFor: ssh to the hypervisor the way libvirt's ssh transport does", () => {
    it("is not needed for a local URI", () => {
        expect(hypervisorSshFor("qemu:///system")).toBeUndefined();
    });

    it("follows the URI's user, port, keyfile and command", () => {
        expect(hypervisorSshFor("qemu+ssh://ops@hv1.example.com:2222/system?keyfile=/k/id&command=/usr/local/bin/myssh")).toEqual({
            command: "/usr/local/bin/myssh",
            args: ["-p", "2222", "-i", "/k/id", "--", "ops@hv1.example.com"],
        });
    });

    it("defaults to plain ssh and skips host key checks only where the URI says no_verify", () => {
        expect(hypervisorSshFor("qemu+ssh://hv1/system")).toEqual({ command: "ssh", args: ["--", "hv1"] });
        expect(hypervisorSshFor("qemu+ssh://root@hv1/system?no_verify=1")).toEqual({
            command: "ssh",
            args: ["-o", "StrictHostKeyChecking=no", "--", "root@hv1"],
        });
    });
});

describe("a libvirt URI cannot smuggle ssh options", () => {
    it("refuses a host or user beginning with '-' (libvirt and nixlab would hand it to ssh)", () => {
        expect(configError({ uri: "qemu+ssh://-oProxyCommand=touch%20pwned/system" })).toBe(
            `${HEAD}nixlab:libvirt.uri: the host "-oProxyCommand=touch%20pwned" begins with "-", which ssh would read as an option; give the hypervisor's real host name or address (got "qemu+ssh://-oProxyCommand=touch%20pwned/system")`,
        );
        expect(configError({ uri: "qemu+ssh://-oProxyCommand=x@hv1/system" })).toContain('the user "-oProxyCommand=x" begins with "-"');
    });

    it("reports a bad URI and a lone uefiVarsTemplate together", () => {
        expect(configError({ uri: "qemu+ssh://-x/system", uefiVarsTemplate: "/v.fd" })).toMatch(/^nixlab: invalid stack configuration \(2 problems\):\n  - nixlab:libvirt\.uri: .*\n  - nixlab:libvirt\.uefiVarsTemplate: /);
    });

    it("puts -- before the destination whenever nixlab runs ssh to the hypervisor", () => {
        for (const uri of ["qemu+ssh://hv1/system", "qemu+ssh://ops@hv1:2222/system?keyfile=/k&no_verify=1"]) {
            const args = hypervisorSshFor(uri)!.args;
            expect(args[args.length - 2]).toBe("--");
        }
    });
});
