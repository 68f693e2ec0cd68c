/**
 * A GCP lab as `pulumi up` would see it, with fake cloud answers (keys, public addresses,
 * the readiness command's output): the gcp-x86_64 stack with its nodes replaced by one C3
 * bare-metal node and one small N1 VM, to cover the metal and N1 branches.
 */
import { describe, expect, it } from "vitest";
import { factory } from "../providers/gcp";
import { guestOsFeatures } from "../providers/gcp/image";
import { describeValue, revealValue, type ResourceHandler } from "../scripts/offline";
import { fakeKey, fakeKeys, readyCommands } from "./support/fakeCloud";
import { oneOf, useStackRun } from "./support/stackRun";

const STACK = "gcp-x86_64";
const PUBLIC = { "kvm-gce-metal": "198.51.100.10", "kvm-gce-vm": "198.51.100.11" } as Record<string, string>;

/** GCP's answer for an instance: its ephemeral public address in each NIC's access config. */
const publicAddresses: ResourceHandler = ({ type, name, inputs }) => {
    if (type !== "gcp:compute/instance:Instance") return undefined;
    const nics = (inputs.networkInterfaces as Record<string, unknown>[]).map((n) => ({ ...n, accessConfigs: [{ natIp: PUBLIC[name] }] }));
    return { id: `${name}-id`, state: { ...inputs, networkInterfaces: nics } };
};

const run = useStackRun({
    stack: STACK,
    artifact: { file: "nixos-gce.raw.tar.gz", format: "tar.gz", arch: "x86_64", bootMode: "uefi", sha256: "ef".repeat(32) },
    expiresAt: "2026-12-01T18:00:00Z",
    mode: "up",
    program: factory,
    edit: (config) => {
        config["nixlab:lab"].defaults = undefined;
        config["nixlab:lab"].nodes = [
            { name: "metal", kvm: "metal", rootDiskGiB: 100, volumes: [{ name: "scratch", sizeGiB: 500 }] },
            { name: "vm", vcpus: 2, memoryGiB: 4, kvm: "nested" },
        ];
    },
    resources: [fakeKeys, publicAddresses, readyCommands("kvm-gce")],
});

const one = (type: string, name: string) => oneOf(run.resources, type, name);

describe("gcp up with a bare-metal node (fake cloud)", () => {
    it("reports each node ready, on its machine type, at its public address", () => {
        const nodes = run.outputs.nodes as Record<string, Record<string, unknown>>;
        expect(Object.keys(nodes)).toEqual(["metal", "vm"]);
        expect(nodes.metal).toMatchObject({
            machineType: "c3-highcpu-192-metal",
            privateAddress: "10.79.0.10",
            sshHost: "198.51.100.10",
            user: "lab",
            ready: "NIXLAB-READY node=metal kvm=ok cloud-init-rc=0",
        });
        expect(nodes.vm).toMatchObject({
            machineType: "n1-standard-2",
            privateAddress: "10.79.0.11",
            sshHost: "198.51.100.11",
            user: "lab",
            ready: "NIXLAB-READY node=vm kvm=ok cloud-init-rc=0",
        });
        // No jump host on a cloud: the key is absent, not null.
        expect(Object.values(nodes).filter((n) => "proxyJump" in n)).toEqual([]);
        // Each instance is labelled with what its node asked for (the policy pack checks it).
        const kvmLabel = (node: string) => (one("gcp:compute/instance:Instance", `kvm-gce-${node}`).inputs.labels as Record<string, string>)["nixlab-kvm"];
        expect([kvmLabel("metal"), kvmLabel("vm")]).toEqual(["metal", "nested"]);
    });

    it("runs C3 bare metal with TERMINATE on maintenance, one IDPF NIC, Hyperdisk, no nested flag, no Shielded VM", () => {
        const i = one("gcp:compute/instance:Instance", "kvm-gce-metal").inputs;
        expect(i.machineType).toBe("c3-highcpu-192-metal");
        expect(i.scheduling).toEqual({ onHostMaintenance: "TERMINATE", automaticRestart: true });
        expect(i.advancedMachineFeatures).toBeUndefined();
        expect(i.networkInterfaces).toEqual([{ subnetwork: "kvm-gce-net-subnet-id", networkIp: "10.79.0.10", nicType: "IDPF", accessConfigs: [{}] }]);
        expect((i.bootDisk as { initializeParams: Record<string, unknown> }).initializeParams).toMatchObject({ size: 100, type: "hyperdisk-balanced" });
        expect(i.shieldedInstanceConfig).toEqual({ enableSecureBoot: false, enableVtpm: false, enableIntegrityMonitoring: false });
        expect(one("gcp:compute/disk:Disk", "kvm-gce-metal-scratch").inputs).toMatchObject({ size: 500, type: "hyperdisk-balanced" });
    });

    it("runs the N1 VM nested on Haswell or newer", () => {
        const i = one("gcp:compute/instance:Instance", "kvm-gce-vm").inputs;
        expect(i.machineType).toBe("n1-standard-2");
        expect(i.advancedMachineFeatures).toEqual({ enableNestedVirtualization: true });
        expect(i.minCpuPlatform).toBe("Intel Haswell");
        expect(i.scheduling).toBeUndefined();
        expect(i.shieldedInstanceConfig).toEqual({ enableSecureBoot: false, enableVtpm: true, enableIntegrityMonitoring: true });
    });

    it("puts each node's cloud-init into the user-data metadata key", () => {
        for (const node of ["metal", "vm"]) {
            const metadata = revealValue(one("gcp:compute/instance:Instance", `kvm-gce-${node}`).inputs.metadata) as Record<string, string>;
            expect(Object.keys(metadata).sort()).toEqual(["block-project-ssh-keys", "enable-oslogin", "user-data"]);
            expect(metadata["user-data"]!.startsWith("#cloud-config\n")).toBe(true);
            expect(metadata["user-data"]).toContain(`hostname: ${node}\n`);
            expect(metadata["user-data"]).toContain(fakeKey(`kvm-gce-${node}-host-ed25519`).publicKeyOpenssh.trim());
        }
    });

    it("checks readiness at the public address with the operator key", () => {
        for (const node of ["metal", "vm"]) {
            const cmd = one("command:remote:Command", `kvm-gce-${node}-ready`).inputs;
            expect(describeValue(cmd.connection)).toBe("[secret]");
            expect(revealValue(cmd.connection)).toMatchObject({
                host: PUBLIC[`kvm-gce-${node}`],
                user: "lab",
                privateKey: fakeKey("kvm-gce-operator-key").privateKeyOpenssh,
            });
        }
    });

    it("declares UEFI only for UEFI images", () => {
        expect(guestOsFeatures("bios").map((f) => f.type)).toEqual(["VIRTIO_SCSI_MULTIQUEUE", "GVNIC", "IDPF"]);
        expect(guestOsFeatures("uefi").map((f) => f.type)).toEqual(["VIRTIO_SCSI_MULTIQUEUE", "GVNIC", "IDPF", "UEFI_COMPATIBLE"]);
    });
});
