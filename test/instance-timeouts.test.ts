/**
 * No `up` can hang forever on a machine (issue 9, item 5, the instance half): every cloud
 * instance carries customTimeouts, bare metal longer (firmware, POST, Ironic deploy and
 * cleaning). Each cloud's stack runs once under mocks with a VM node and, where the cloud
 * has bare metal, a metal node.
 */
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import type { BackendFactory } from "../components/backend";
import { METAL_TIMEOUTS, VM_TIMEOUTS } from "../components/timeouts";
import { factory as awsFactory } from "../providers/aws";
import { factory as azureFactory } from "../providers/azure";
import { factory as gcpFactory } from "../providers/gcp";
import { factory as openstackFactory } from "../providers/openstack";
import { fixedVhd, QCOW2_MAGIC, runStackWithArtifact, type Any, type ArtifactFixture } from "./support/stackRun";

interface Case {
    stack: string;
    factory: BackendFactory;
    instanceType: string;
    artifact: ArtifactFixture;
    /** Node name → expected kind; the lab's nodes are replaced by these. */
    nodes: Record<string, "vm" | "metal">;
    edit?: (config: Record<string, Any>) => void;
}

const SHA = "77".repeat(32);
const CASES: Case[] = [
    {
        stack: "aws-x86_64",
        factory: awsFactory,
        instanceType: "aws:ec2/instance:Instance",
        artifact: { file: "a.vhd", format: "vhd", arch: "x86_64", bootMode: "bios", sha256: SHA },
        nodes: { vm: "vm", metal: "metal" },
    },
    {
        stack: "gcp-x86_64",
        factory: gcpFactory,
        instanceType: "gcp:compute/instance:Instance",
        artifact: { file: "a.tar.gz", format: "tar.gz", arch: "x86_64", bootMode: "uefi", sha256: SHA },
        nodes: { vm: "vm", metal: "metal" },
    },
    {
        stack: "azure-x86_64",
        factory: azureFactory,
        instanceType: "azure-native:compute:VirtualMachine",
        artifact: { file: "a.vhd", content: fixedVhd(), format: "vhd", arch: "x86_64", bootMode: "uefi", sha256: SHA },
        nodes: { vm: "vm" },
    },
    {
        stack: "openstack-arm64",
        factory: openstackFactory,
        instanceType: "openstack:compute/instance:Instance",
        artifact: { file: "a.qcow2", content: QCOW2_MAGIC, format: "qcow2", arch: "aarch64", bootMode: "uefi", sha256: SHA },
        nodes: { vm: "vm", metal: "metal" },
    },
];

describe("customTimeouts on every instance", () => {
    it.each(CASES)("$stack: every instance has VM_TIMEOUTS, bare metal METAL_TIMEOUTS", async (c) => {
        const r = await runStackWithArtifact({
            stack: c.stack,
            artifact: c.artifact,
            expiresAt: "2026-12-01T18:00:00Z",
            mode: "preview",
            program: c.factory,
            edit: (config) => {
                const lab = config["nixlab:lab"];
                lab.defaults = { arch: c.artifact.arch };
                lab.nodes = Object.entries(c.nodes).map(([name, kind]) =>
                    kind === "metal" ? { name, kvm: "metal", vcpus: 1, memoryGiB: 1 } : { name, kvm: "none", vcpus: 1, memoryGiB: 1 },
                );
            },
        });
        fs.rmSync(r.dir, { recursive: true, force: true });
        const instances = r.resources.filter((x) => x.type === c.instanceType);
        const lab = r.resources.find((x) => x.type === "nixlab:index:Lab")!.name;
        expect(instances.map((i) => i.name).sort()).toEqual(Object.keys(c.nodes).map((n) => `${lab}-${n}`).sort());
        for (const i of instances) {
            const kind = c.nodes[i.name.split("-").pop()!];
            expect(i.options.customTimeouts, i.name).toEqual(kind === "metal" ? METAL_TIMEOUTS : VM_TIMEOUTS);
        }
    }, 120_000);
});
