/**
 * stacks/Pulumi.aws-arm64.yaml under mocks, as `pulumi preview` would run it: Graviton
 * bare metal (no nested virtualization on arm64), a UEFI arm64 AMI, one node sized by the
 * catalog and one with an explicit machineType. Offline changes as in aws-x86_64.test.ts:
 * a prebuilt artifact instead of `nix build`, and a fixed expiresAt.
 *
 * Writes test/__snapshots__/plan-aws-arm64.json.
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Lab } from "../components/lab";
import { parseLabConfig } from "../components/spec";
import { factory } from "../providers/aws";
import { describeValue, RecordedResource, runOffline } from "../scripts/offline";

const STACK = "aws-arm64";
const ROOT = path.resolve(__dirname, "..");
const EXPIRES = "2026-12-01T18:00:00Z";
const SHA = "a1b2c3d4".repeat(8);
const FIXTURE_DIR = path.join(os.tmpdir(), `nixlab-test-${STACK}`);
const IMAGE = path.join(FIXTURE_DIR, "nixos-amazon-aarch64.vhd");
const PROVIDER = "nixlab:index:Lab$pulumi:providers:aws::kvm-arm-net-provider";
const LAB_TAGS = { "nixlab:lab": "kvm-arm", "nixlab:owner": "alice@example.com", "nixlab:stack": STACK, "nixlab:expires-at": EXPIRES };

let resources: RecordedResource[] = [];
const providerOf = new Map<string, string | undefined>();

beforeAll(async () => {
    fs.mkdirSync(FIXTURE_DIR, { recursive: true });
    fs.writeFileSync(IMAGE, "not really a disk image");
    const doc = parse(fs.readFileSync(path.join(ROOT, "stacks", `Pulumi.${STACK}.yaml`), "utf8")) as { config: Record<string, unknown> };
    const lab = {
        ...(doc.config["nixlab:lab"] as Record<string, unknown>),
        expiresAt: EXPIRES,
        image: { artifacts: [{ path: IMAGE, format: "vhd", arch: "aarch64", bootMode: "uefi", sha256: SHA }] },
    };
    const result = await runOffline({
        stack: STACK,
        config: {},
        preview: true,
        program: async () => {
            const spec = parseLabConfig(lab, STACK);
            const l = new Lab(spec.name, { spec, backend: factory.fromConfig(doc.config["nixlab:aws"]), stack: STACK, projectDir: ROOT });
            return { nodes: l.nodes };
        },
        resources: [
            (args) => {
                providerOf.set(`${args.type}::${args.name}`, args.provider);
                return undefined;
            },
        ],
    });
    resources = result.resources;
}, 60_000);

function one(type: string, name: string): RecordedResource {
    const found = resources.filter((r) => r.type === type && r.name === name);
    expect(found, `${type} ${name}`).toHaveLength(1);
    return found[0]!;
}

/** File assets arrive with their path as a Promise; the snapshot shows the path itself. */
async function withAssetPaths(v: unknown): Promise<unknown> {
    if (v instanceof pulumi.asset.FileAsset) return { fileAsset: await v.path };
    if (Array.isArray(v)) return Promise.all(v.map(withAssetPaths));
    if (v && typeof v === "object") {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) out[k] = await withAssetPaths(x);
        return out;
    }
    return v;
}

/** Whether the SDK's `<Class>Args` (the resource's schema) has a top-level `field`. */
function sdkArgsHave(type: string, field: string): boolean {
    const m = /^aws:([a-zA-Z0-9]+)\/([a-zA-Z0-9]+):([A-Za-z0-9]+)$/.exec(type);
    if (!m) throw new Error(`not an aws resource type: ${type}`);
    const text = fs.readFileSync(path.join(ROOT, "node_modules", "@pulumi", "aws", m[1]!, `${m[2]}.d.ts`), "utf8");
    const start = text.indexOf(`export interface ${m[3]}Args {`);
    expect(start, `${m[3]}Args in ${type}`).toBeGreaterThan(-1);
    return new RegExp(`\\n    ${field}\\?:`).test(text.slice(start, text.indexOf("\n}", start)));
}

describe("aws-arm64 plan", () => {
    it("registers two metal nodes, one volume, one image chain, all on the explicit provider", () => {
        const counts: Record<string, number> = {};
        for (const r of resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
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
        expect(one("pulumi:providers:aws", "kvm-arm-net-provider").inputs).toMatchObject({ region: "eu-west-1", defaultTags: JSON.stringify({ tags: LAB_TAGS }) });
        for (const r of resources.filter((r) => r.type.startsWith("aws:"))) {
            expect(providerOf.get(`${r.type}::${r.name}`), `${r.type} ${r.name}`).toContain(`${PROVIDER}::`);
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
            name: `nixlab-kvm-arm-${SHA.slice(0, 16)}`,
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
        const taggable = resources.filter((r) => r.type.startsWith("aws:") && sdkArgsHave(r.type, "tags"));
        expect(taggable).toHaveLength(13);
        for (const r of taggable) {
            const node = /^kvm-arm-(host|builder)/.exec(r.name)?.[1];
            expect(r.inputs.tags, `${r.type} ${r.name}`).toEqual({ ...LAB_TAGS, ...(node ? { "nixlab:node": node, "nixlab:kvm": "metal" } : {}), Name: r.name });
        }
    });

    it("matches the reviewed plan snapshot", async () => {
        const sorted = [...resources].sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
        const plan = {
            stack: STACK,
            resources: await Promise.all(
                sorted.map(async (r) => ({ type: r.type, name: r.name, parent: r.parent ?? null, inputs: describeValue(await withAssetPaths(r.inputs)) })),
            ),
        };
        const text = JSON.stringify(plan, null, 2).split(FIXTURE_DIR).join("<fixture>") + "\n";
        await expect(text).toMatchFileSnapshot(`__snapshots__/plan-${STACK}.json`);
    });
});
