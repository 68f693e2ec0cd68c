/**
 * The AWS backend: KVM-capable EC2 instances (nested on C8i/M8i/R8i, or .metal) booted
 * from a NixOS image imported as an EBS snapshot, in a VPC of their own.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { Backend, BackendContext, BackendFactory, LabNode, NodeArgs, Placement, VolumeArgs } from "../../components/backend";
import type { NamingScheme } from "../../components/names";
import type { Arch, LabSpec } from "../../components/spec";
import type { ImageArtifact } from "../../images/artifact";
import { AWS_CONFIG_KEY, AwsConfig, parseAwsConfig } from "./config";
import { AwsImage, createAwsImage } from "./image";
import { AwsNet, createAwsNetwork } from "./network";
import { AwsVolume, createAwsNode, createAwsVolume } from "./node";
import { placeAws } from "./placement";

/** EC2 takes at most 16 KB of user data before base64 (instancedata-add-user-data.html). */
export const AWS_USER_DATA_LIMIT_BYTES = 16 * 1024;

/**
 * Child names on AWS (network.ts, image.ts, node.ts). Physical names come from tags and autonaming, so only URNs can meet.
 * Checked against what the program registers by test/names.test.ts.
 */
export const AWS_NAMING: NamingScheme = {
    lab: [
        { namespace: "pulumi:providers:aws", suffix: "-net-provider" },
        { namespace: "aws:ec2/vpc:Vpc", suffix: "-net-vpc" },
        { namespace: "aws:ec2/subnet:Subnet", suffix: "-net-subnet" },
        { namespace: "aws:ec2/internetGateway:InternetGateway", suffix: "-net-igw" },
        { namespace: "aws:ec2/routeTable:RouteTable", suffix: "-net-rt" },
        { namespace: "aws:ec2/route:Route", suffix: "-net-default-route" },
        { namespace: "aws:ec2/routeTableAssociation:RouteTableAssociation", suffix: "-net-rt-assoc" },
        { namespace: "aws:ec2/securityGroup:SecurityGroup", suffix: "-net-sg" },
        { namespace: "aws:s3/bucket:Bucket", suffix: "-image-{arch}-bucket" },
        { namespace: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", suffix: "-image-{arch}-bucket-public-access" },
        { namespace: "aws:s3/bucketOwnershipControls:BucketOwnershipControls", suffix: "-image-{arch}-bucket-ownership" },
        { namespace: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", suffix: "-image-{arch}-bucket-encryption" },
        { namespace: "aws:s3/bucketObjectv2:BucketObjectv2", suffix: "-image-{arch}-object" },
        { namespace: "aws:ebs/snapshotImport:SnapshotImport", suffix: "-image-{arch}-snapshot" },
        { namespace: "aws:ec2/ami:Ami", suffix: "-image-{arch}-ami" },
        { namespace: "aws:iam/role:Role", suffix: "-image-{arch}-vmimport" },
        { namespace: "aws:iam/rolePolicy:RolePolicy", suffix: "-image-{arch}-vmimport" },
    ],
    node: [
        { namespace: "aws:ec2/instance:Instance", suffix: "" },
        { namespace: "command:remote:Command", suffix: "-ready" },
    ],
    volume: [
        { namespace: "aws:ebs/volume:Volume", suffix: "" },
        { namespace: "aws:ec2/volumeAttachment:VolumeAttachment", suffix: "-attachment" },
    ],
};

export class AwsBackend implements Backend<AwsNet, AwsImage, AwsVolume> {
    readonly kind = "aws" as const;
    readonly userDataLimitBytes = AWS_USER_DATA_LIMIT_BYTES;
    readonly naming = AWS_NAMING;

    constructor(readonly config: AwsConfig) {}

    place(lab: LabSpec): Placement {
        return placeAws(lab);
    }

    createNetwork(ctx: BackendContext, name: string): AwsNet {
        return createAwsNetwork(ctx, name, this.config);
    }

    createImage(ctx: BackendContext, name: string, args: { arch: Arch; artifact: pulumi.Output<ImageArtifact>; network: AwsNet }): AwsImage {
        return createAwsImage(ctx, name, args, this.config);
    }

    createVolume(ctx: BackendContext, name: string, args: VolumeArgs<AwsNet>): AwsVolume {
        return createAwsVolume(ctx, name, args);
    }

    createNode(ctx: BackendContext, name: string, args: NodeArgs<AwsNet, AwsImage, AwsVolume>): LabNode {
        return createAwsNode(ctx, name, args);
    }
}

export const factory: BackendFactory = {
    kind: "aws",
    configKey: AWS_CONFIG_KEY,
    fromConfig: (raw: unknown) => new AwsBackend(parseAwsConfig(raw)),
};
