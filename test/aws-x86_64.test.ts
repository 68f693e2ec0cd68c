/**
 * stacks/Pulumi.aws-x86_64.yaml under mocks, as `pulumi preview` would run it: the Lab on
 * the AWS backend, with the stack's own nixlab:aws and nixlab:lab. Two changes make it run
 * offline and deterministic: the image is a prebuilt artifact (no `nix build`), and
 * expiresAt is fixed so tags are known at preview time.
 *
 * Writes test/__snapshots__/plan-aws-x86_64.json: review its diff in a pull request to see
 * what a change does to this stack.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Lab } from "../components/lab";
import { parseLabConfig } from "../components/spec";
import { factory } from "../providers/aws";
import { describeValue, RecordedResource, runOffline } from "../scripts/offline";

const STACK = "aws-x86_64";
const ROOT = path.resolve(__dirname, "..");
const EXPIRES = "2026-12-01T18:00:00Z";
const SHA = "c0ffee".repeat(10) + "c0ff";
const FIXTURE_DIR = path.join(os.tmpdir(), `nixlab-test-${STACK}`);
const IMAGE = path.join(FIXTURE_DIR, "nixos-amazon.vhd");
/** The explicit provider, as it appears in the URNs of provider references. */
const PROVIDER = "nixlab:index:Lab$pulumi:providers:aws::kvm-x86-net-provider";

const LAB_TAGS = {
    "nixlab:lab": "kvm-x86",
    "nixlab:owner": "alice@example.com",
    "nixlab:stack": STACK,
    "nixlab:expires-at": EXPIRES,
};

let resources: RecordedResource[] = [];
const providerOf = new Map<string, string | undefined>();

function stackConfig(): { lab: Record<string, unknown>; aws: unknown } {
    const doc = parse(fs.readFileSync(path.join(ROOT, "stacks", `Pulumi.${STACK}.yaml`), "utf8")) as { config: Record<string, unknown> };
    const lab = doc.config["nixlab:lab"] as Record<string, unknown>;
    return {
        lab: { ...lab, expiresAt: EXPIRES, image: { artifacts: [{ path: IMAGE, format: "vhd", arch: "x86_64", bootMode: "bios", sha256: SHA }] } },
        aws: doc.config["nixlab:aws"],
    };
}

beforeAll(async () => {
    fs.mkdirSync(FIXTURE_DIR, { recursive: true });
    fs.writeFileSync(IMAGE, "not really a disk image");
    const { lab, aws } = stackConfig();
    const result = await runOffline({
        stack: STACK,
        config: {},
        preview: true,
        program: async () => {
            const spec = parseLabConfig(lab, STACK);
            const l = new Lab(spec.name, { spec, backend: factory.fromConfig(aws), stack: STACK, projectDir: ROOT });
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

describe("aws-x86_64 plan", () => {
    it("registers the whole lab graph", () => {
        expect(resources.map((r) => `${r.type} ${r.name}`).sort()).toEqual([
            "aws:ebs/snapshotImport:SnapshotImport kvm-x86-image-x86_64-snapshot",
            "aws:ebs/volume:Volume kvm-x86-node-1-scratch",
            "aws:ebs/volume:Volume kvm-x86-node-2-scratch",
            "aws:ec2/ami:Ami kvm-x86-image-x86_64-ami",
            "aws:ec2/instance:Instance kvm-x86-node-1",
            "aws:ec2/instance:Instance kvm-x86-node-2",
            "aws:ec2/internetGateway:InternetGateway kvm-x86-net-igw",
            "aws:ec2/route:Route kvm-x86-net-default-route",
            "aws:ec2/routeTable:RouteTable kvm-x86-net-rt",
            "aws:ec2/routeTableAssociation:RouteTableAssociation kvm-x86-net-rt-assoc",
            "aws:ec2/securityGroup:SecurityGroup kvm-x86-net-sg",
            "aws:ec2/subnet:Subnet kvm-x86-net-subnet",
            "aws:ec2/volumeAttachment:VolumeAttachment kvm-x86-node-1-scratch-attachment",
            "aws:ec2/volumeAttachment:VolumeAttachment kvm-x86-node-2-scratch-attachment",
            "aws:ec2/vpc:Vpc kvm-x86-net-vpc",
            "aws:iam/role:Role kvm-x86-image-x86_64-vmimport",
            "aws:iam/rolePolicy:RolePolicy kvm-x86-image-x86_64-vmimport",
            "aws:s3/bucket:Bucket kvm-x86-image-x86_64-bucket",
            "aws:s3/bucketObjectv2:BucketObjectv2 kvm-x86-image-x86_64-object",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls kvm-x86-image-x86_64-bucket-ownership",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock kvm-x86-image-x86_64-bucket-public-access",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration kvm-x86-image-x86_64-bucket-encryption",
            "command:remote:Command kvm-x86-node-1-ready",
            "command:remote:Command kvm-x86-node-2-ready",
            "nixlab:index:Lab kvm-x86",
            "pulumi:providers:aws kvm-x86-net-provider",
            "tls:index/privateKey:PrivateKey kvm-x86-node-1-host-ed25519",
            "tls:index/privateKey:PrivateKey kvm-x86-node-2-host-ed25519",
            "tls:index/privateKey:PrivateKey kvm-x86-operator-key",
        ]);
    });

    it("puts every AWS resource on one explicit provider for the configured region, with the lab tags as default tags", () => {
        expect(one("pulumi:providers:aws", "kvm-x86-net-provider").inputs).toMatchObject({
            region: "eu-west-1",
            defaultTags: JSON.stringify({ tags: LAB_TAGS }),
        });
        const aws = resources.filter((r) => r.type.startsWith("aws:"));
        expect(aws).toHaveLength(22);
        for (const r of aws) expect(providerOf.get(`${r.type}::${r.name}`), `${r.type} ${r.name}`).toContain(`${PROVIDER}::`);
    });

    it("chooses m8i-flex.xlarge with AWS's nested-virtualization CPU option, IMDSv2 only, an encrypted root", () => {
        for (const [node, ip] of [
            ["kvm-x86-node-1", "10.77.0.10"],
            ["kvm-x86-node-2", "10.77.0.11"],
        ] as const) {
            const i = one("aws:ec2/instance:Instance", node).inputs;
            expect(i.instanceType).toBe("m8i-flex.xlarge");
            expect(i.cpuOptions).toEqual({ nestedVirtualization: "enabled" });
            expect(i.metadataOptions).toEqual({ httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
            expect(i.rootBlockDevice).toMatchObject({ volumeSize: 40, volumeType: "gp3", encrypted: true, deleteOnTermination: true });
            expect(i.privateIp).toBe(ip);
            expect(i.associatePublicIpAddress).toBe(true);
            expect(i.keyName).toBeUndefined();
        }
    });

    it("passes cloud-init as secret userData (its text is checked in aws-up.test.ts), replacing the node when it changes", () => {
        for (const node of ["node-1", "node-2"]) {
            const raw = one("aws:ec2/instance:Instance", `kvm-x86-${node}`).inputs;
            expect(describeValue(raw.userData)).toBe("[secret]");
            expect(raw.userDataReplaceOnChange).toBe(true);
        }
    });

    it("imports the image S3 → SnapshotImport → AMI, named after its content hash", async () => {
        const short = SHA.slice(0, 16);
        expect(one("aws:s3/bucket:Bucket", "kvm-x86-image-x86_64-bucket").inputs).toMatchObject({ bucketPrefix: "nixlab-image-", forceDestroy: true });
        expect(one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "kvm-x86-image-x86_64-bucket-public-access").inputs).toMatchObject({
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
        });
        expect(
            one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "kvm-x86-image-x86_64-bucket-encryption").inputs.rules,
        ).toEqual([{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]);
        const object = one("aws:s3/bucketObjectv2:BucketObjectv2", "kvm-x86-image-x86_64-object").inputs;
        expect(object.key).toBe(`nixlab/${short}.vhd`);
        expect(await (object.source as { path: Promise<string> }).path).toBe(IMAGE);

        const role = one("aws:iam/role:Role", "kvm-x86-image-x86_64-vmimport").inputs;
        expect(role.namePrefix).toBe("nixlab-vmimport-");
        expect(JSON.parse(role.assumeRolePolicy as string).Statement).toEqual([
            { Effect: "Allow", Principal: { Service: "vmie.amazonaws.com" }, Action: "sts:AssumeRole", Condition: { StringEquals: { "sts:Externalid": "vmimport" } } },
        ]);

        const snapshot = one("aws:ebs/snapshotImport:SnapshotImport", "kvm-x86-image-x86_64-snapshot").inputs;
        expect(snapshot.diskContainer).toMatchObject({ format: "VHD", userBucket: { s3Key: `nixlab/${short}.vhd` } });
        expect(snapshot.encrypted).toBe(true);

        const ami = one("aws:ec2/ami:Ami", "kvm-x86-image-x86_64-ami").inputs;
        expect(ami).toMatchObject({
            name: `nixlab-kvm-x86-${short}`,
            virtualizationType: "hvm",
            architecture: "x86_64",
            bootMode: "legacy-bios",
            enaSupport: true,
            imdsSupport: "v2.0",
            rootDeviceName: "/dev/xvda",
        });
        expect(describeValue(ami.ebsBlockDevices)).toEqual([{ deviceName: "/dev/xvda", snapshotId: "[unknown]", volumeType: "gp3", deleteOnTermination: true }]);
    });

    it("tags every taggable AWS resource with the lab tags (node resources also with nixlab:node and nixlab:kvm)", () => {
        const taggable = resources.filter((r) => r.type.startsWith("aws:") && sdkArgsHave(r.type, "tags"));
        expect(taggable.map((r) => r.type).sort()).toEqual([
            "aws:ebs/snapshotImport:SnapshotImport",
            "aws:ebs/volume:Volume",
            "aws:ebs/volume:Volume",
            "aws:ec2/ami:Ami",
            "aws:ec2/instance:Instance",
            "aws:ec2/instance:Instance",
            "aws:ec2/internetGateway:InternetGateway",
            "aws:ec2/routeTable:RouteTable",
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/subnet:Subnet",
            "aws:ec2/vpc:Vpc",
            "aws:iam/role:Role",
            "aws:s3/bucket:Bucket",
            "aws:s3/bucketObjectv2:BucketObjectv2",
        ]);
        for (const r of taggable) {
            const node = /kvm-x86-(node-\d)/.exec(r.name)?.[1];
            expect(r.inputs.tags, `${r.type} ${r.name}`).toEqual({ ...LAB_TAGS, ...(node ? { "nixlab:node": node, "nixlab:kvm": "nested" } : {}), Name: r.name });
        }
        for (const node of ["node-1", "node-2"]) {
            expect(one("aws:ec2/instance:Instance", `kvm-x86-${node}`).inputs.rootBlockDevice).toMatchObject({
                tags: { ...LAB_TAGS, "nixlab:node": node, "nixlab:kvm": "nested", Name: `kvm-x86-${node}-root` },
            });
        }
    });

    it("lets SSH in only from the configured CIDR, and anything from inside the lab", () => {
        const sg = one("aws:ec2/securityGroup:SecurityGroup", "kvm-x86-net-sg").inputs;
        expect(sg.ingress).toEqual([
            { description: "SSH from nixlab:lab.network.sshIngressCidrs", protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["203.0.113.7/32"] },
            { description: "all traffic between lab nodes", protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["10.77.0.0/24"] },
        ]);
        expect(sg.egress).toEqual([{ description: "all outbound", protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }]);
        expect(one("aws:ec2/subnet:Subnet", "kvm-x86-net-subnet").inputs).toMatchObject({
            cidrBlock: "10.77.0.0/24",
            availabilityZone: "eu-west-1a",
            mapPublicIpOnLaunch: false,
        });
        expect(one("aws:ec2/route:Route", "kvm-x86-net-default-route").inputs.destinationCidrBlock).toBe("0.0.0.0/0");
    });

    it("creates each extra volume encrypted in the subnet's zone and attaches it", () => {
        for (const node of ["node-1", "node-2"]) {
            expect(one("aws:ebs/volume:Volume", `kvm-x86-${node}-scratch`).inputs).toMatchObject({
                availabilityZone: "eu-west-1a",
                size: 100,
                type: "gp3",
                encrypted: true,
            });
            expect(one("aws:ec2/volumeAttachment:VolumeAttachment", `kvm-x86-${node}-scratch-attachment`).inputs.deviceName).toBe("/dev/sdf");
        }
    });

    it("waits for cloud-init and /dev/kvm on each node over SSH, with the connection kept secret", () => {
        for (const node of ["node-1", "node-2"]) {
            const cmd = one("command:remote:Command", `kvm-x86-${node}-ready`).inputs;
            expect(cmd.create).toContain("cloud-init status --wait");
            expect(cmd.create).toContain(`if [ -c /dev/kvm ]; then kvm=ok; else echo "node ${node}: /dev/kvm missing although kvm: nested was asked for`);
            expect(describeValue(cmd.connection)).toBe("[secret]");
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
