/**
 * The GCP backend: Compute Engine VMs with nested virtualization (N1/N2/C3) or C3 bare
 * metal, booted from a NixOS image uploaded through GCS, in a VPC network of their own.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { Backend, BackendContext, BackendFactory, LabNode, NodeArgs, Placement, VolumeArgs } from "../../components/backend";
import type { Arch, LabSpec } from "../../components/spec";
import type { ImageArtifact } from "../../images/artifact";
import { GCP_CONFIG_KEY, GcpConfig, parseGcpConfig } from "./config";
import { createGcpImage, GcpImage } from "./image";
import { createGcpNetwork, GcpNet } from "./network";
import { createGcpNode, createGcpVolume, GcpVolume } from "./node";
import { placeGcp } from "./placement";

/** Compute Engine metadata values are at most 256 KiB each (REST reference, Metadata). */
export const GCP_USER_DATA_LIMIT_BYTES = 256 * 1024;

export class GcpBackend implements Backend<GcpNet, GcpImage, GcpVolume> {
    readonly kind = "gcp" as const;
    readonly userDataLimitBytes = GCP_USER_DATA_LIMIT_BYTES;

    constructor(readonly config: GcpConfig) {}

    place(lab: LabSpec): Placement {
        return placeGcp(lab);
    }

    createNetwork(ctx: BackendContext, name: string): GcpNet {
        return createGcpNetwork(ctx, name, this.config);
    }

    createImage(ctx: BackendContext, name: string, args: { arch: Arch; artifact: pulumi.Output<ImageArtifact>; network: GcpNet }): GcpImage {
        return createGcpImage(ctx, name, args);
    }

    createVolume(ctx: BackendContext, name: string, args: VolumeArgs<GcpNet>): GcpVolume {
        return createGcpVolume(ctx, name, args);
    }

    createNode(ctx: BackendContext, name: string, args: NodeArgs<GcpNet, GcpImage, GcpVolume>): LabNode {
        return createGcpNode(ctx, name, args);
    }
}

export const factory: BackendFactory = {
    kind: "gcp",
    configKey: GCP_CONFIG_KEY,
    fromConfig: (raw: unknown) => new GcpBackend(parseGcpConfig(raw)),
};
