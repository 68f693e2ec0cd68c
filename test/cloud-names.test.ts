/**
 * Physical names are unique per stack (issue 9, item 8): two stacks running a lab of the same
 * name in one AWS account, GCP project, Azure subscription or OpenStack project must never
 * claim one name. Each cloud's stack file runs twice under mocks, as stacks "dev" and "ci",
 * with the same lab name and the same image; every name the cloud keys by is collected from
 * the registrations and the two sets must not meet. GCP names are also checked against
 * Compute Engine's rule (at most 63 characters) with the longest lab and node names allowed.
 * The OpenStack run carries a tag whose key Nova's metadata refuses (issue 9, item 9).
 */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import type { BackendFactory } from "../components/backend";
import { factory as awsFactory } from "../providers/aws";
import { factory as azureFactory } from "../providers/azure";
import { factory as gcpFactory } from "../providers/gcp";
import { factory as openstackFactory } from "../providers/openstack";
import { NOVA_METADATA_KEY } from "../providers/openstack/tags";
import { revealValue, type RecordedResource } from "../scripts/offline";
import { fixedVhd, QCOW2_MAGIC, runStackWithArtifact, type Any, type ArtifactFixture } from "./support/stackRun";

interface Cloud {
    stack: string;
    factory: BackendFactory;
    artifact: ArtifactFixture;
    /** The physical names a run registers (those its cloud keys by). */
    names: (resources: RecordedResource[]) => string[];
    edit?: (config: Record<string, Any>) => void;
}

const SHA = "5e".repeat(32);
const input = (r: RecordedResource, key: string): unknown => (revealValue(r.inputs) as Record<string, unknown>)[key];
const strings = (xs: unknown[]) => xs.filter((x): x is string => typeof x === "string");

/** 32 characters, the longest lab and node names the spec allows (a DNS label). */
const LONG = "a-lab-name-of-thirty-two-chars-x";

const CLOUDS: Record<string, Cloud> = {
    aws: {
        stack: "aws-x86_64",
        factory: awsFactory,
        artifact: { file: "nixos-amazon.vhd", format: "vhd", arch: "x86_64", bootMode: "bios", sha256: SHA },
        // AMI names are unique per account and region; S3 buckets and IAM roles take prefixes.
        names: (rs) => strings(rs.filter((r) => r.type === "aws:ec2/ami:Ami").map((r) => input(r, "name"))),
    },
    gcp: {
        stack: "gcp-x86_64",
        factory: gcpFactory,
        artifact: { file: "nixos-gce.raw.tar.gz", format: "tar.gz", arch: "x86_64", bootMode: "uefi", sha256: SHA },
        // Long lab and node names: the instance and disk names no longer fit an autoname.
        edit: (config) => {
            config["nixlab:lab"].name = LONG;
            config["nixlab:lab"].nodes = [{ name: LONG, volumes: [{ name: "scratch", sizeGiB: 10 }] }];
        },
        names: (rs) => strings(rs.filter((r) => r.type.startsWith("gcp:compute/")).map((r) => input(r, "name"))),
    },
    azure: {
        stack: "azure-x86_64",
        factory: azureFactory,
        artifact: { file: "nixos-x86_64.vhd", content: fixedVhd(), format: "vhd", arch: "x86_64", bootMode: "uefi", sha256: SHA },
        // Everything else lives inside the group; storage account names are global.
        names: (rs) =>
            strings([
                ...rs.filter((r) => r.type === "azure-native:resources:ResourceGroup").map((r) => input(r, "resourceGroupName")),
                ...rs.filter((r) => r.type === "azure-native:storage:StorageAccount").map((r) => input(r, "accountName")),
            ]),
    },
    openstack: {
        stack: "openstack-x86_64",
        factory: openstackFactory,
        artifact: { file: "nixos-x86_64.qcow2", content: QCOW2_MAGIC, format: "qcow2", arch: "x86_64", bootMode: "bios", sha256: SHA },
        edit: (config) => {
            config["nixlab:lab"].tags = { "team/cost-center": "kvm@lab", "env=": "ci" };
        },
        names: (rs) => strings(rs.filter((r) => r.type.startsWith("openstack:")).map((r) => input(r, "name"))),
    },
};

async function runAs(cloud: Cloud, stackName: string): Promise<RecordedResource[]> {
    const r = await runStackWithArtifact({
        stack: cloud.stack,
        stackName,
        artifact: cloud.artifact,
        expiresAt: "2026-12-01T18:00:00Z",
        mode: "preview",
        program: cloud.factory,
        edit: cloud.edit,
        calls: { "azure-native:storage:listStorageAccountServiceSAS": () => ({ serviceSasToken: "sv=x" }) },
    });
    fs.rmSync(r.dir, { recursive: true, force: true });
    return r.resources;
}

describe("physical names of two stacks with one lab name", () => {
    const runs: Record<string, { dev: RecordedResource[]; ci: RecordedResource[] }> = {};

    it.each(Object.keys(CLOUDS))("%s: no name is claimed by both stacks", async (cloudName) => {
        const cloud = CLOUDS[cloudName]!;
        const dev = await runAs(cloud, "dev");
        const ci = await runAs(cloud, "ci");
        runs[cloudName] = { dev, ci };
        const devNames = cloud.names(dev);
        const ciNames = cloud.names(ci);
        // Every keyed resource is named (explicitly) in both runs, and the two sets are disjoint.
        expect(devNames.length).toBeGreaterThan(0);
        expect(devNames).toHaveLength(ciNames.length);
        expect(devNames.filter((n) => ciNames.includes(n))).toEqual([]);
    }, 120_000);

    it("aws: the AMI name is lab, stack id and content hash", () => {
        const [name] = CLOUDS.aws!.names(runs.aws!.dev);
        expect(name).toMatch(/^nixlab-kvm-x86-[0-9a-f]{8}-5e5e5e5e5e5e5e5e$/);
    });

    it("gcp: every Compute Engine name fits its rule (at most 63 characters), long lab and node names included", () => {
        const names = CLOUDS.gcp!.names(runs.gcp!.dev);
        // image, instance and disk: every one named explicitly because the autoname would not fit
        expect(names).toHaveLength(3);
        for (const n of names) expect(n, n).toMatch(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
    });

    it("openstack: tag keys Nova's metadata refuses are mapped, values kept", () => {
        const vm = runs.openstack!.dev.find((r) => r.type === "openstack:compute/instance:Instance")!;
        const metadata = revealValue(vm.inputs.metadata) as Record<string, string>;
        expect(metadata).toMatchObject({ "team_cost-center": "kvm@lab", "env_": "ci", "nixlab:lab": "kvm-os" });
        for (const k of Object.keys(metadata)) expect(k, k).toMatch(NOVA_METADATA_KEY);
    });
});
