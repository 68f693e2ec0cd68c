/**
 * The AWS backend: KVM-capable EC2 instances (nested on C8i/M8i/R8i, or .metal) booted
 * from a NixOS image imported as an EBS snapshot, in a VPC of their own.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { Backend, BackendContext, BackendFactory, LabNode, NodeArgs, Placement, VolumeArgs } from "../../components/backend";
import type { Arch, LabSpec } from "../../components/spec";
import type { ImageArtifact } from "../../images/artifact";
import { AWS_CONFIG_KEY, AwsConfig, parseAwsConfig } from "./config";
import { AwsImage, createAwsImage } from "./image";
import { AwsNet, createAwsNetwork } from "./network";
import { AwsVolume, createAwsNode, createAwsVolume } from "./node";
import { placeAws } from "./placement";

/** EC2 takes at most 16 KB of user data before base64 (instancedata-add-user-data.html). */
export const AWS_USER_DATA_LIMIT_BYTES = 16 * 1024;

export class AwsBackend implements Backend<AwsNet, AwsImage, AwsVolume> {
    readonly kind = "aws" as const;
    readonly userDataLimitBytes = AWS_USER_DATA_LIMIT_BYTES;

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
