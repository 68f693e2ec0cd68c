/**
 * Image artifact → Compute Engine image: a tar.gz holding disk.raw goes into a private GCS
 * bucket, and compute.Image imports it from there. Names derive from the content hash, so
 * an unchanged image uploads nothing and a new closure shows as a replaced image.
 */
// Submodules, not "@pulumi/gcp": the barrel makes tsc parse every service (test/layout.test.ts).
import * as compute from "@pulumi/gcp/compute";
import * as storage from "@pulumi/gcp/storage";
import * as pulumi from "@pulumi/pulumi";
import type { BackendContext } from "../../components/backend";
import { fitName, stackId } from "../../components/names";
import type { Arch, BootMode } from "../../components/spec";
import { ImageArtifact, shortHash } from "../../images/artifact";
import { gcpLabelsOf } from "./labels";
import type { GcpNet } from "./network";
import { checkedGcpName, GCP_NAME_MAX, physicalName } from "./network";
import { artifactProblem } from "./placement";

export interface GcpImage {
    image: compute.Image;
    /** Shielded VM features (vTPM, integrity monitoring) need a UEFI image. */
    uefi: pulumi.Output<boolean>;
}

/**
 * Guest OS features the image declares (compute.Image guestOsFeatures). The kernel of the
 * NixOS image has virtio-scsi, gve (gVNIC, in Linux since 5.3) and idpf (since 6.7), so it
 * can take whichever NIC the machine type has: virtio-net on N1/N2, gVNIC on C3, IDPF on
 * bare metal. UEFI_COMPATIBLE only when the image boots UEFI.
 */
export function guestOsFeatures(bootMode: BootMode): { type: string }[] {
    return [
        { type: "VIRTIO_SCSI_MULTIQUEUE" },
        { type: "GVNIC" },
        { type: "IDPF" },
        ...(bootMode === "uefi" ? [{ type: "UEFI_COMPATIBLE" }] : []),
    ];
}

/**
 * Images are global to the project: the stack id keeps two stacks (even with the same lab
 * name and image) from claiming one name, the content hash makes new content a new image.
 * A long lab name is cut so that the whole stays within 63 characters.
 */
export function gcpImageName(lab: string, stack: string, shortHash: string): string {
    return checkedGcpName(fitName("nixlab-", lab, `${stackId(stack)}-${shortHash}`, GCP_NAME_MAX));
}

export function checkedArtifact(arch: Arch, artifact: ImageArtifact): ImageArtifact {
    if (artifact.arch !== arch) {
        throw new Error(`nixlab: image for ${arch} nodes is an ${artifact.arch} build (${artifact.path}); build the gcp target for ${arch}`);
    }
    const problem = artifactProblem(artifact);
    if (problem) throw new Error(`nixlab: image ${artifact.path}: ${problem}`);
    return artifact;
}

export function createGcpImage(
    ctx: BackendContext,
    name: string,
    args: { arch: Arch; artifact: pulumi.Output<ImageArtifact>; network: GcpNet },
): GcpImage {
    const { opts, config } = args.network;
    const labels = gcpLabelsOf(ctx.tags);
    const artifact = args.artifact.apply((a) => checkedArtifact(args.arch, a));
    const short = artifact.apply((a) => shortHash(a.hash));

    // The bucket only carries the upload to Compute Engine; it goes with the lab.
    const bucket = new storage.Bucket(
        `${name}-bucket`,
        {
            name: physicalName(`${name}-bucket`, ctx.stack),
            location: config.region,
            uniformBucketLevelAccess: true,
            publicAccessPrevention: "enforced",
            // Google-managed encryption at rest is always on; no key to manage or lose.
            forceDestroy: true,
            labels,
        },
        opts,
    );
    const object = new storage.BucketObject(
        `${name}-object`,
        {
            bucket: bucket.name,
            name: pulumi.interpolate`nixlab/${short}.tar.gz`,
            source: artifact.apply((a) => new pulumi.asset.FileAsset(a.path)),
            contentType: "application/gzip",
        },
        opts,
    );
    const image = new compute.Image(
        name,
        {
            name: short.apply((h) => gcpImageName(ctx.lab.name, ctx.stack, h)),
            description: pulumi.interpolate`nixlab ${args.arch} NixOS image ${short} for lab ${ctx.lab.name}`,
            // The API wants the object's https://storage.googleapis.com/<bucket>/<object> URL.
            rawDisk: { source: pulumi.interpolate`https://storage.googleapis.com/${bucket.name}/${object.name}`, containerType: "TAR" },
            guestOsFeatures: artifact.apply((a) => guestOsFeatures(a.bootMode)),
            labels,
        },
        { ...opts, customTimeouts: { create: "30m" } },
    );
    return { image, uefi: artifact.apply((a) => a.bootMode === "uefi") };
}
