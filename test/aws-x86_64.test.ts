/**
 * stacks/Pulumi.aws-x86_64.yaml under mocks, as `pulumi preview` would run it: the Lab on
 * the AWS backend, with the stack's own nixlab:aws and nixlab:lab. Two changes make it run
 * offline and deterministic: the image is a prebuilt artifact (no `nix build`), and
 * expiresAt is fixed so tags are known at preview time.
 *
 * Writes test/__snapshots__/plan-aws-x86_64.json: review its diff in a pull request to see
 * what a change does to this stack.
 */
import { stackId } from "../components/names";
import { describe, expect, it } from "vitest";
import { factory } from "../providers/aws";
import { describeValue } from "../scripts/offline";
import { sdkArgsHave } from "./support/sdk";
import { oneOf, planSnapshot, providerRecorder, useStackRun } from "./support/stackRun";

const STACK = "aws-x86_64";
const EXPIRES = "2026-12-01T18:00:00Z";
const SHA = "c0ffee".repeat(10) + "c0ff";
/** The explicit provider, as it appears in the URNs of provider references. */
const PROVIDER = "nixlab:index:Lab$pulumi:providers:aws::kvm-x86-net-provider";

const LAB_TAGS = {
    "nixlab:lab": "kvm-x86",
    "nixlab:owner": "alice@example.com",
    "nixlab:stack": STACK,
    "nixlab:expires-at": EXPIRES,
};

const providers = providerRecorder();

const run = useStackRun({
    stack: STACK,
    artifact: { file: "nixos-amazon.vhd", format: "vhd", arch: "x86_64", bootMode: "bios", sha256: SHA },
    expiresAt: EXPIRES,
    mode: "preview",
    program: factory,
    resources: [providers.handler],
});

const one = (type: string, name: string) => oneOf(run.resources, type, name);

describe("aws-x86_64 plan", () => {
    it("registers the whole lab graph", () => {
        expect(run.resources.map((r) => `${r.type} ${r.name}`).sort()).toEqual([
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
            // Provider defaults leave out the expiry, unknown at a first preview (providerDefaultTags).
            defaultTags: JSON.stringify({ tags: { "nixlab:lab": "kvm-x86", "nixlab:owner": "alice@example.com", "nixlab:stack": STACK } }),
        });
        const aws = run.resources.filter((r) => r.type.startsWith("aws:"));
        expect(aws).toHaveLength(22);
        for (const r of aws) expect(providers.of(r), `${r.type} ${r.name}`).toContain(`${PROVIDER}::`);
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
        expect(await (object.source as { path: Promise<string> }).path).toBe(run.artifactPath);

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
            name: `nixlab-kvm-x86-${stackId(STACK)}-${short}`,
            virtualizationType: "hvm",
            architecture: "x86_64",
            bootMode: "legacy-bios",
            enaSupport: true,
            imdsSupport: "v2.0",
            rootDeviceName: "/dev/xvda",
        });
        expect(describeValue(ami.ebsBlockDevices)).toEqual([{ deviceName: "/dev/xvda", snapshotId: "[unknown]", volumeType: "gp3", deleteOnTermination: true, iops: 3000 }]);
    });

    it("tags every taggable AWS resource with the lab tags (node resources also with nixlab:node and nixlab:kvm)", () => {
        const taggable = run.resources.filter((r) => r.type.startsWith("aws:") && sdkArgsHave(r.type, "tags"));
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
            expect(cmd.create).toContain('"$ci" status --wait');
            expect(cmd.create).toContain(`if [ -c /dev/kvm ]; then kvm=ok; else echo "node ${node}: /dev/kvm missing although kvm: nested was asked for`);
            expect(describeValue(cmd.connection)).toBe("[secret]");
        }
    });

    it("matches the reviewed plan snapshot", async () => {
        await expect(await planSnapshot(run, "<fixture>")).toMatchFileSnapshot(`__snapshots__/plan-${STACK}.json`);
    });
});
