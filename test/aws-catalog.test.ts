/**
 * The AWS backend's pure parts: the instance-type catalog, placement (choice and
 * refusals, with their exact messages) and `nixlab:aws` parsing. No Pulumi runtime.
 */
// Submodules, not "@pulumi/aws": the barrel makes tsc parse every service (test/layout.test.ts).
import { InstanceType } from "@pulumi/aws/types/enums/ec2";
import { describe, expect, it } from "vitest";
import { planLab } from "../components/lab";
import { factory } from "../providers/aws";
import { AWS_CATALOG } from "../providers/aws/catalog";
import { parseAwsConfig } from "../providers/aws/config";
import { placeAws } from "../providers/aws/placement";
import { configErrorLines, minimalLab, problemLines } from "./support/problems";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v alice@laptop";
const NESTED_DOC = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/amazon-ec2-nested-virtualization.html";

const lab = (extra: Record<string, unknown>) => minimalLab(KEY, extra);

function problems(extra: Record<string, unknown>): string[] {
    return problemLines(placeAws(lab(extra)).problems);
}

function chosen(node: Record<string, unknown>): { machineType: string; nested: boolean } {
    const p = placeAws(lab({ nodes: [{ name: "n", ...node }] }));
    expect(p.problems).toEqual([]);
    const m = p.machines.n!;
    return { machineType: m.machineType, nested: m.nestedVirtualization };
}

const configProblems = (raw: unknown) => configErrorLines(() => parseAwsConfig(raw));

describe("AWS catalog", () => {
    it("names only instance types the SDK knows, each once", () => {
        const known = new Set<string>(Object.values(InstanceType));
        const names = AWS_CATALOG.map((m) => m.machineType);
        expect(names.filter((n) => !known.has(n))).toEqual([]);
        expect(new Set(names).size).toBe(names.length);
    });

    it("offers nested only on Intel C8i/M8i/R8i (and flex), metal only on .metal types", () => {
        for (const m of AWS_CATALOG) {
            if (m.kvm === "nested") expect(m.machineType).toMatch(/^[cmr]8i(-flex)?\.\d*x?large$/);
            expect(m.kvm === "metal").toBe(m.machineType.includes(".metal"));
            if (m.kvm === "nested") expect(m.arch).toBe("x86_64");
            expect(m.source).toMatch(/^https:\/\//);
        }
    });

    it("keeps each virtual family's memory per vCPU (C 2, M 4, R 8 GiB; T is its own table)", () => {
        const ratio = { c: 2, m: 4, r: 8 } as Record<string, number>;
        for (const m of AWS_CATALOG.filter((m) => m.kvm !== "metal" && !m.machineType.startsWith("t"))) {
            expect(m.memoryGiB / m.vcpus, m.machineType).toBe(ratio[m.machineType[0]!]);
        }
    });
});

describe("AWS placement", () => {
    it.each([
        [{ vcpus: 2, memoryGiB: 4 }, "c8i-flex.large", true],
        [{ vcpus: 4, memoryGiB: 16 }, "m8i-flex.xlarge", true],
        [{ vcpus: 8, memoryGiB: 64 }, "r8i-flex.2xlarge", true],
        [{ vcpus: 100, memoryGiB: 200 }, "c8i.32xlarge", true],
        // kvm: none takes ordinary types only, burstable T first (issue 9, item 10).
        [{ vcpus: 2, memoryGiB: 4, kvm: "none" }, "t3.medium", false],
        [{ vcpus: 1, memoryGiB: 1, kvm: "none" }, "t3.micro", false],
        [{ vcpus: 16, memoryGiB: 32, kvm: "none" }, "c7i.4xlarge", false],
        [{ arch: "aarch64", vcpus: 4, memoryGiB: 16, kvm: "none" }, "t4g.xlarge", false],
        [{ arch: "aarch64", vcpus: 16, memoryGiB: 16, kvm: "none" }, "c7g.4xlarge", false],
        [{ vcpus: 4, memoryGiB: 16, kvm: "metal" }, "m5zn.metal", false],
        [{ vcpus: 96, memoryGiB: 192, kvm: "metal" }, "c5.metal", false],
        [{ arch: "aarch64", vcpus: 4, memoryGiB: 16, kvm: "metal" }, "a1.metal", false],
        [{ arch: "aarch64", vcpus: 64, memoryGiB: 128, kvm: "metal" }, "c6g.metal", false],
        [{ arch: "aarch64", vcpus: 2, memoryGiB: 4, kvm: "none" }, "t4g.medium", false],
    ])("picks the smallest fitting type for %j: %s", (node, type, nested) => {
        expect(chosen(node)).toEqual({ machineType: type, nested });
    });

    it("takes an explicit machineType that gives the arch and kvm asked for", () => {
        expect(chosen({ arch: "aarch64", kvm: "metal", machineType: "c7g.metal" })).toEqual({ machineType: "c7g.metal", nested: false });
        expect(chosen({ machineType: "c8i.4xlarge" })).toEqual({ machineType: "c8i.4xlarge", nested: true });
    });

    it("fails aarch64 + nested, naming the metal and x86 alternatives", () => {
        expect(problems({ nodes: [{ name: "arm", arch: "aarch64", kvm: "nested" }] })).toEqual([
            "nixlab:lab.nodes[0].kvm: kvm: nested is impossible for aarch64 on AWS: Graviton (arm64) instances have no nested virtualization; " +
                `AWS offers it only on Intel C8i/M8i/R8i (${NESTED_DOC}). ` +
                "What works: kvm: metal with a1.metal, c6g.metal, c7g.metal, m6g.metal, or arch: x86_64 with kvm: nested on c8i-flex.large, c8i.large, m8i-flex.large, m8i.large",
        ]);
    });

    it("fails an explicit type outside the catalog", () => {
        expect(problems({ nodes: [{ name: "a", machineType: "t2.micro" }] })).toEqual([
            'nixlab:lab.nodes[0].machineType: "t2.micro" is not in the AWS catalog (providers/aws/catalog.ts), so nixlab cannot tell whether it gives x86_64 with kvm: nested; ' +
                "use one of c8i-flex.large, c8i.large, m8i-flex.large, m8i.large (smallest first), or remove machineType to choose by vcpus/memoryGiB",
        ]);
    });

    it("fails an explicit metal type for kvm: nested, and an arm type for an x86 node", () => {
        expect(
            problems({
                nodes: [
                    { name: "a", machineType: "c5.metal", kvm: "nested" },
                    { name: "b", machineType: "c7g.metal", kvm: "metal" },
                ],
            }),
        ).toEqual([
            "nixlab:lab.nodes[0].machineType: c5.metal is bare metal, which gives kvm: metal, not nested (set kvm: metal to keep it); " +
                "use one of c8i-flex.large, c8i.large, m8i-flex.large, m8i.large (smallest first), or remove machineType to choose by vcpus/memoryGiB",
            "nixlab:lab.nodes[1].machineType: c7g.metal is an aarch64 type but node b is x86_64; " +
                "use one of m5zn.metal, c5n.metal, c5.metal, c7i.metal-24xl (smallest first), or remove machineType to choose by vcpus/memoryGiB",
        ]);
    });

    it("fails an ordinary type for kvm: nested, and takes it for kvm: none", () => {
        expect(problems({ nodes: [{ name: "a", machineType: "t3.micro" }] })).toEqual([
            `nixlab:lab.nodes[0].machineType: t3.micro has no /dev/kvm (AWS enables nested virtualization only on C8i/M8i/R8i, ${NESTED_DOC}); ` +
                "use one of c8i-flex.large, c8i.large, m8i-flex.large, m8i.large (smallest first), or remove machineType to choose by vcpus/memoryGiB",
        ]);
        expect(chosen({ machineType: "t3.micro", kvm: "none" })).toEqual({ machineType: "t3.micro", nested: false });
    });

    it("fails a virtual type for kvm: metal", () => {
        expect(problems({ nodes: [{ name: "a", machineType: "m8i.large", kvm: "metal" }] })).toEqual([
            "nixlab:lab.nodes[0].machineType: m8i.large is a virtual instance; it gives kvm: nested, not metal (set kvm: nested to keep it); " +
                "use one of m5zn.metal, c5n.metal, c5.metal, c7i.metal-24xl (smallest first), or remove machineType to choose by vcpus/memoryGiB",
        ]);
    });

    it("fails a size no type has", () => {
        expect(problems({ nodes: [{ name: "big", vcpus: 400, memoryGiB: 4000, kvm: "metal" }] })).toEqual([
            "nixlab:lab.nodes[0].vcpus: node big asks for 400 vCPUs and 4000 GiB, more than any x86_64 type with kvm: metal in the AWS catalog; " +
                "the largest is m7i.metal-48xl (192 vCPUs, 768 GiB). Lower vcpus/memoryGiB",
        ]);
    });

    it("fails artifacts EBS cannot import or Graviton cannot boot", () => {
        const artifacts = [
            { path: "x.qcow2", format: "qcow2", arch: "x86_64", bootMode: "bios" },
            { path: "a.vhd", format: "vhd", arch: "aarch64", bootMode: "bios" },
        ];
        expect(problems({ image: { artifacts }, nodes: [{ name: "x" }, { name: "a", arch: "aarch64", kvm: "metal" }] })).toEqual([
            'nixlab:lab.image.artifacts[0].format: "qcow2" cannot be imported into EBS; ebs.SnapshotImport takes vhd, vmdk, raw (build the aws image target, which makes a VHD)',
            'nixlab:lab.image.artifacts[1].bootMode: "bios" cannot boot an aarch64 image on AWS: Graviton instances boot UEFI only; build it with UEFI (ec2.efi, the default on aarch64)',
        ]);
    });

    it("fails more extra volumes than EC2 has device names for", () => {
        const volumes = Array.from({ length: 12 }, (_, i) => ({ name: `v${i}`, sizeGiB: 1 }));
        expect(problems({ nodes: { count: 1, volumes } })).toEqual([
            "nixlab:lab.nodes.volumes: node node-1 has 12 extra volumes; nixlab attaches at most 11 on AWS (/dev/sdf to /dev/sdp). Use fewer, larger volumes",
        ]);
    });

    it("fails a lab nobody can reach over SSH", () => {
        expect(problems({ network: { sshIngressCidrs: [] }, nodes: { count: 1 } })).toEqual([
            "nixlab:lab.network.sshIngressCidrs: is empty, so nothing outside the lab can reach SSH and `up` would wait for readiness until it times out; " +
                "add the address Pulumi runs from, e.g. [203.0.113.7/32]",
        ]);
    });

    it("fails user-data over EC2's 16 KB before anything is registered", () => {
        const backend = factory.fromConfig({ region: "eu-west-1" });
        const spec = lab({ nodes: [{ name: "fat", cloudInit: { writeFiles: [{ path: "/etc/big", content: "x".repeat(17000) }] } }] });
        expect(() => planLab(spec, backend)).toThrow(/^nixlab: invalid stack configuration \(1 problem\):\n  - nixlab:lab\.nodes\[0\]\.cloudInit: user-data for node fat renders to about \d+ bytes; aws accepts at most 16384\./);
    });
});

describe("nixlab:aws", () => {
    it("defaults the zone to <region>a", () => {
        expect(parseAwsConfig({ region: "eu-west-1" })).toEqual({ region: "eu-west-1", availabilityZone: "eu-west-1a", vmimportRoleName: undefined });
    });

    it("fails when absent, naming what to add", () => {
        expect(configProblems(undefined)).toEqual([
            "nixlab:aws: is not set; nixlab:backend is aws, so add `nixlab:aws: { region: eu-west-1 }` (copy stacks/Pulumi.aws-x86_64.yaml)",
        ]);
    });

    it("fails bad values and unknown keys with their paths", () => {
        expect(configProblems({ region: "Ireland", zone: "a", vmimportRoleName: "no spaces" })).toEqual([
            'nixlab:aws.region: must be an AWS region code like eu-west-1 (got "Ireland")',
            'nixlab:aws.vmimportRoleName: must be an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -) (got "no spaces")',
            "nixlab:aws.zone: unknown key; allowed here: `region`, `availabilityZone`, `vmimportRoleName`",
        ]);
    });

    it("fails a zone outside the region", () => {
        expect(configProblems({ region: "eu-west-1", availabilityZone: "us-east-1a" })).toEqual([
            'nixlab:aws.availabilityZone: "us-east-1a" is not in region "eu-west-1"; use a zone of that region such as eu-west-1a, or change region',
        ]);
    });
});
