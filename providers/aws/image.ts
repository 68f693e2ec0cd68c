/**
 * Image artifact → AMI: private S3 object → ebs.SnapshotImport → ec2.Ami. Physical names
 * derive from the artifact's content hash, so an unchanged image uploads and imports
 * nothing, and a new NixOS closure shows in a preview as a replaced AMI.
 *
 * Not VM Import's ImportImage: it inspects and modifies the guest, accepts only the
 * operating systems on VM Import's list (not NixOS) and rejects arm64 and UEFI images.
 * Importing only the disk as a snapshot and registering the AMI ourselves sets the
 * architecture, boot mode, ENA and IMDS support directly and leaves the image untouched.
 */
// Submodules, not "@pulumi/aws": the barrel makes tsc parse every service (test/layout.test.ts).
import * as ebs from "@pulumi/aws/ebs";
import * as ec2 from "@pulumi/aws/ec2";
import * as iam from "@pulumi/aws/iam";
import * as s3 from "@pulumi/aws/s3";
import * as pulumi from "@pulumi/pulumi";
import type { BackendContext } from "../../components/backend";
import { stackId } from "../../components/names";
import type { Arch } from "../../components/spec";
import { ImageArtifact, shortHash } from "../../images/artifact";
import type { AwsConfig } from "./config";
import type { AwsNet } from "./network";
import { named } from "./network";
import { artifactProblem, AWS_IMAGE_FORMATS } from "./placement";

export interface AwsImage {
    ami: ec2.Ami;
}

/** EC2's names for our arches and boot modes. */
const AMI_ARCH: { [a in Arch]: string } = { x86_64: "x86_64", aarch64: "arm64" };
const AMI_BOOT_MODE = { uefi: "uefi", bios: "legacy-bios" } as const;
/** gp3 volumes get 3000 IOPS unless more are bought (docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html). */
export const GP3_BASELINE_IOPS = 3000;
/** What the AMI must not diff on; see createAwsImage. */
export const AMI_IGNORED_CHANGES = ["ebsBlockDevices[*].encrypted"];

/** NixOS's amazon image expects its root disk here (the kernel sees NVMe on Nitro anyway). */
export const ROOT_DEVICE = "/dev/xvda";

/** Fails the preview with the reason when a built artifact cannot become an AMI. */
export function checkedArtifact(arch: Arch, artifact: ImageArtifact): ImageArtifact {
    if (artifact.arch !== arch) {
        throw new Error(`nixlab: image for ${arch} nodes is an ${artifact.arch} build (${artifact.path}); build the aws target for ${arch}`);
    }
    const problem = artifactProblem(artifact);
    if (problem) throw new Error(`nixlab: image ${artifact.path}: ${problem.field} ${problem.message}`);
    return artifact;
}

export function createAwsImage(
    ctx: BackendContext,
    name: string,
    args: { arch: Arch; artifact: pulumi.Output<ImageArtifact>; network: AwsNet },
    config: AwsConfig,
): AwsImage {
    const opts = args.network.opts;
    const artifact = args.artifact.apply((a) => checkedArtifact(args.arch, a));
    const short = artifact.apply((a) => shortHash(a.hash));

    // The bucket only carries the upload into EBS. Private, encrypted, ACLs off, and
    // force-destroyed with the lab so `destroy` leaves no object behind.
    const bucket = new s3.Bucket(
        `${name}-bucket`,
        // A prefix, not a name: S3 names are global; the provider appends a unique suffix.
        { bucketPrefix: "nixlab-image-", forceDestroy: true, tags: named(ctx.tags, `${name}-bucket`) },
        opts,
    );
    const publicAccess = new s3.BucketPublicAccessBlock(
        `${name}-bucket-public-access`,
        { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
        opts,
    );
    new s3.BucketOwnershipControls(`${name}-bucket-ownership`, { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, opts);
    const encryption = new s3.BucketServerSideEncryptionConfiguration(
        `${name}-bucket-encryption`,
        // SSE-S3, not KMS: the VM Import role then needs no key grants to read the object.
        { bucket: bucket.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
        opts,
    );
    const object = new s3.BucketObjectv2(
        `${name}-object`,
        {
            bucket: bucket.id,
            key: pulumi.interpolate`nixlab/${short}.${artifact.format}`,
            source: artifact.apply((a) => new pulumi.asset.FileAsset(a.path)),
            serverSideEncryption: "AES256",
            tags: named(ctx.tags, `${name}-object`),
        },
        { ...opts, dependsOn: [publicAccess, encryption] },
    );

    const role = vmimportRole(ctx, name, bucket, opts, config);

    const snapshot = new ebs.SnapshotImport(
        `${name}-snapshot`,
        {
            diskContainer: {
                format: artifact.apply((a) => AWS_IMAGE_FORMATS[a.format as keyof typeof AWS_IMAGE_FORMATS]),
                userBucket: { s3Bucket: bucket.bucket, s3Key: object.key },
            },
            roleName: role.name,
            // With the account's default EBS key; nodes' root volumes inherit it.
            encrypted: true,
            description: pulumi.interpolate`nixlab ${ctx.lab.name} ${args.arch} image ${short}`,
            tags: named(ctx.tags, `${name}-snapshot`),
        },
        // VM Import takes minutes to an hour for a few GB (TF-AWS default create timeout: 60m).
        { ...opts, dependsOn: role.ready, customTimeouts: { create: "90m" } },
    );

    const ami = new ec2.Ami(
        `${name}-ami`,
        {
            // AMI names are unique per account and region: the stack id keeps two stacks with
            // the same lab name (and image) apart; the hash makes new content a new AMI.
            // At most 7 + 32 + 1 + 8 + 1 + 16 = 65 of the 128 characters EC2 allows.
            name: pulumi.interpolate`nixlab-${ctx.lab.name}-${stackId(ctx.stack)}-${short}`,
            description: pulumi.interpolate`nixlab ${args.arch} NixOS image ${short} for lab ${ctx.lab.name}`,
            // The provider defaults to paravirtual, which no current instance type boots.
            virtualizationType: "hvm",
            architecture: AMI_ARCH[args.arch],
            bootMode: artifact.apply((a) => AMI_BOOT_MODE[a.bootMode]),
            // Every type in the catalog is Nitro, which needs ENA; IMDSv2 only, like the nodes.
            enaSupport: true,
            imdsSupport: "v2.0",
            rootDeviceName: ROOT_DEVICE,
            ebsBlockDevices: [
                {
                    deviceName: ROOT_DEVICE,
                    snapshotId: snapshot.id,
                    volumeType: "gp3",
                    deleteOnTermination: true,
                    // gp3's baseline, which is what EC2 reports back for this mapping. In the
                    // provider `iops` is Optional + ForceNew and not Computed, so leaving it
                    // unset made every `up` after a refresh replace the AMI (3000 → null).
                    iops: GP3_BASELINE_IOPS,
                },
            ],
            tags: named(ctx.tags, `${name}-ami`),
        },
        {
            ...opts,
            // `encrypted` cannot be set: the provider refuses it beside snapshotId ("can't set
            // both 'snapshot_id' and 'encrypted'", resourceAMICreate); the snapshot is
            // encrypted, so EC2 reads the mapping back as encrypted: true. The attribute is
            // Optional + ForceNew and not Computed (ebs_block_device schema), so the read-back
            // value would replace the AMI on every `up`. Both in
            // hashicorp/terraform-provider-aws internal/service/ec2/ec2_ami.go.
            ignoreChanges: AMI_IGNORED_CHANGES,
        },
    );
    return { ami };
}

/**
 * The service role VM Import assumes to read the upload. Created per image unless the
 * stack names an existing one (nixlab:aws.vmimportRoleName): IAM names are account-wide,
 * and a lab-owned role limited to its own bucket leaves the account's `vmimport` alone.
 */
function vmimportRole(
    ctx: BackendContext,
    name: string,
    bucket: s3.Bucket,
    opts: pulumi.CustomResourceOptions,
    config: AwsConfig,
): { name: pulumi.Input<string>; ready: pulumi.Resource[] } {
    if (config.vmimportRoleName) return { name: config.vmimportRoleName, ready: [] };
    // Trust and permissions as in https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html
    const role = new iam.Role(
        `${name}-vmimport`,
        {
            namePrefix: "nixlab-vmimport-",
            description: `VM Import for nixlab lab ${ctx.lab.name} (reads only its image bucket)`,
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [
                    {
                        Effect: "Allow",
                        Principal: { Service: "vmie.amazonaws.com" },
                        Action: "sts:AssumeRole",
                        Condition: { StringEquals: { "sts:Externalid": "vmimport" } },
                    },
                ],
            }),
            tags: named(ctx.tags, `${name}-vmimport`),
        },
        opts,
    );
    const policy = new iam.RolePolicy(
        `${name}-vmimport`,
        {
            role: role.id,
            policy: bucket.arn.apply((arn) =>
                JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [
                        { Effect: "Allow", Action: ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"], Resource: [arn, `${arn}/*`] },
                        {
                            Effect: "Allow",
                            Action: ["ec2:ModifySnapshotAttribute", "ec2:CopySnapshot", "ec2:RegisterImage", "ec2:Describe*"],
                            Resource: "*",
                        },
                    ],
                }),
            ),
        },
        opts,
    );
    return { name: role.name, ready: [policy] };
}
