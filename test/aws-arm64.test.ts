/**
 * stacks/Pulumi.aws-arm64.yaml under mocks, as `pulumi preview` would run it: Graviton
 * bare metal (no nested virtualization on arm64), a UEFI arm64 AMI, one node sized by the
 * catalog and one with an explicit machineType. Offline changes as in aws-x86_64.test.ts:
 * a prebuilt artifact instead of `nix build`, and a fixed expiresAt.
 *
 * Writes test/__snapshots__/plan-aws-arm64.json.
 */
import { stackId } from "../components/names";
import { describe, expect, it } from "vitest";
import { factory } from "../providers/aws";
import { describeValue } from "../scripts/offline";
import { sdkArgsHave } from "./support/sdk";
import { oneOf, planSnapshot, providerRecorder, useStackRun } from "./support/stackRun";

const STACK = "aws-arm64";
const EXPIRES = "2026-12-01T18:00:00Z";
const SHA = "a1b2c3d4".repeat(8);
const PROVIDER = "nixlab:index:Lab$pulumi:providers:aws::kvm-arm-net-provider";
const LAB_TAGS = { "nixlab:lab": "kvm-arm", "nixlab:owner": "alice@example.com", "nixlab:stack": STACK, "nixlab:expires-at": EXPIRES };

const providers = providerRecorder();

const run = useStackRun({
    stack: STACK,
    artifact: { file: "nixos-amazon-aarch64.vhd", format: "vhd", arch: "aarch64", bootMode: "uefi", sha256: SHA },
    expiresAt: EXPIRES,
    mode: "preview",
    program: factory,
    resources: [providers.handler],
});

const one = (type: string, name: string) => oneOf(run.resources, type, name);

describe("aws-arm64 plan", () => {
    it("registers two metal nodes, one volume, one image chain, all on the explicit provider", () => {
        const counts: Record<string, number> = {};
        for (const r of run.resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
        expect(counts).toEqual({
            "aws:ebs/snapshotImport:SnapshotImport": 1,
            "aws:ebs/volume:Volume": 1,
            "aws:ec2/ami:Ami": 1,
            "aws:ec2/instance:Instance": 2,
            "aws:ec2/internetGateway:InternetGateway": 1,
            "aws:ec2/route:Route": 1,
            "aws:ec2/routeTable:RouteTable": 1,
            "aws:ec2/routeTableAssociation:RouteTableAssociation": 1,
            "aws:ec2/securityGroup:SecurityGroup": 1,
            "aws:ec2/subnet:Subnet": 1,
            "aws:ec2/volumeAttachment:VolumeAttachment": 1,
            "aws:ec2/vpc:Vpc": 1,
            "aws:iam/role:Role": 1,
            "aws:iam/rolePolicy:RolePolicy": 1,
            "aws:s3/bucket:Bucket": 1,
            "aws:s3/bucketObjectv2:BucketObjectv2": 1,
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
            "command:remote:Command": 2,
            "nixlab:index:Lab": 1,
            "pulumi:providers:aws": 1,
            "tls:index/privateKey:PrivateKey": 3,
        });
        expect(one("pulumi:providers:aws", "kvm-arm-net-provider").inputs).toMatchObject({ region: "eu-west-1", defaultTags: JSON.stringify({ tags: { "nixlab:lab": "kvm-arm", "nixlab:owner": "alice@example.com", "nixlab:stack": STACK } }) });
        for (const r of run.resources.filter((r) => r.type.startsWith("aws:"))) {
            expect(providers.of(r), `${r.type} ${r.name}`).toContain(`${PROVIDER}::`);
        }
    });

    it("sizes `host` by the catalog (64 vCPUs/128 GiB → c6g.metal) and keeps `builder`'s explicit c7g.metal, neither with a nested CPU option", () => {
        const host = one("aws:ec2/instance:Instance", "kvm-arm-host").inputs;
        const builder = one("aws:ec2/instance:Instance", "kvm-arm-builder").inputs;
        expect([host.instanceType, builder.instanceType]).toEqual(["c6g.metal", "c7g.metal"]);
        expect([host.cpuOptions, builder.cpuOptions]).toEqual([undefined, undefined]);
        expect([host.privateIp, builder.privateIp]).toEqual(["10.78.0.10", "10.78.0.11"]);
        for (const i of [host, builder]) {
            expect(i.metadataOptions).toMatchObject({ httpTokens: "required" });
            expect(i.rootBlockDevice).toMatchObject({ volumeSize: 60, encrypted: true });
            expect(describeValue(i.userData)).toBe("[secret]");
        }
    });

    it("registers an arm64 UEFI AMI from the imported snapshot", () => {
        expect(one("aws:ec2/ami:Ami", "kvm-arm-image-aarch64-ami").inputs).toMatchObject({
            name: `nixlab-kvm-arm-${stackId(STACK)}-${SHA.slice(0, 16)}`,
            architecture: "arm64",
            bootMode: "uefi",
            virtualizationType: "hvm",
            enaSupport: true,
            imdsSupport: "v2.0",
        });
        expect(one("aws:ebs/snapshotImport:SnapshotImport", "kvm-arm-image-aarch64-snapshot").inputs.diskContainer).toMatchObject({
            format: "VHD",
            userBucket: { s3Key: `nixlab/${SHA.slice(0, 16)}.vhd` },
        });
    });

    it("gives only `host` its scratch volume, in eu-west-1b", () => {
        expect(one("aws:ebs/volume:Volume", "kvm-arm-host-scratch").inputs).toMatchObject({ availabilityZone: "eu-west-1b", size: 200, encrypted: true });
        expect(one("aws:ec2/volumeAttachment:VolumeAttachment", "kvm-arm-host-scratch-attachment").inputs.deviceName).toBe("/dev/sdf");
    });

    it("tags every taggable AWS resource (node resources also with nixlab:node and nixlab:kvm)", () => {
        const taggable = run.resources.filter((r) => r.type.startsWith("aws:") && sdkArgsHave(r.type, "tags"));
        expect(taggable).toHaveLength(13);
        for (const r of taggable) {
            const node = /^kvm-arm-(host|builder)/.exec(r.name)?.[1];
            expect(r.inputs.tags, `${r.type} ${r.name}`).toEqual({ ...LAB_TAGS, ...(node ? { "nixlab:node": node, "nixlab:kvm": "metal" } : {}), Name: r.name });
        }
    });

    it("matches the reviewed plan snapshot", async () => {
        await expect(await planSnapshot(run, "<fixture>")).toMatchFileSnapshot(`__snapshots__/plan-${STACK}.json`);
    });
});
