/**
 * The GCP backend: Compute Engine VMs with nested virtualization (N1/N2/C3) or C3 bare
 * metal, booted from a NixOS image uploaded through GCS, in a VPC network of their own.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { Backend, BackendContext, BackendFactory, LabNode, NodeArgs, Placement, VolumeArgs } from "../../components/backend";
import type { NamingScheme } from "../../components/names";
import type { Arch, LabSpec } from "../../components/spec";
import type { ImageArtifact } from "../../images/artifact";
import { GCP_CONFIG_KEY, GcpConfig, parseGcpConfig } from "./config";
import { createGcpImage, GcpImage } from "./image";
import { createGcpNetwork, GcpNet } from "./network";
import { createGcpNode, createGcpVolume, GcpVolume } from "./node";
import { placeGcp } from "./placement";

/** Compute Engine metadata values are at most 256 KiB each (REST reference, Metadata). */
export const GCP_USER_DATA_LIMIT_BYTES = 256 * 1024;

/**
 * Child names on GCP (network.ts, image.ts, node.ts). Physical names are autonamed or hashed from these (physicalName), so only URNs can meet.
 * Checked against what the program registers by test/names.test.ts.
 */
export const GCP_NAMING: NamingScheme = {
    lab: [
        { namespace: "pulumi:providers:gcp", suffix: "-net-provider" },
        { namespace: "gcp:compute/network:Network", suffix: "-net-vpc" },
        { namespace: "gcp:compute/subnetwork:Subnetwork", suffix: "-net-subnet" },
        { namespace: "gcp:compute/firewall:Firewall", suffix: "-net-internal" },
        { namespace: "gcp:compute/firewall:Firewall", suffix: "-net-ssh" },
        { namespace: "gcp:storage/bucket:Bucket", suffix: "-image-{arch}-bucket" },
        { namespace: "gcp:storage/bucketObject:BucketObject", suffix: "-image-{arch}-object" },
        { namespace: "gcp:compute/image:Image", suffix: "-image-{arch}" },
    ],
    node: [
        { namespace: "gcp:compute/instance:Instance", suffix: "" },
        { namespace: "command:remote:Command", suffix: "-ready" },
    ],
    volume: [
        { namespace: "gcp:compute/disk:Disk", suffix: "" },
        { namespace: "gcp:compute/attachedDisk:AttachedDisk", suffix: "-attachment" },
    ],
};

export class GcpBackend implements Backend<GcpNet, GcpImage, GcpVolume> {
    readonly kind = "gcp" as const;
    readonly userDataLimitBytes = GCP_USER_DATA_LIMIT_BYTES;
    readonly naming = GCP_NAMING;

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
