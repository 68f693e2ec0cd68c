/**
 * Replacing a node must not collide with itself (issue 9, item 2). For each cloud the lab
 * runs three times under mocks, as `up` would see it: as deployed, after a new image (a
 * different content hash) and after a cloud-init change. From each pair the replacement
 * model (support/replacement.ts) works out which resources the engine replaces, using the
 * provider's force-new inputs (FORCE_NEW, each with its source); the test asserts exactly
 * which are replaced and whether each replaces delete-first.
 *
 * A resource with a fixed physical identity (a fixed private address, a port, a name,
 * an attached volume) must be delete-first: created first, the replacement collides with
 * the resource it replaces. Resources named after the image's content hash get a new name
 * with new content, so they replace create-first (no gap, no collision).
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { BackendFactory } from "../components/backend";
import { factory as awsFactory } from "../providers/aws";
import { factory as azureFactory } from "../providers/azure";
import { factory as gcpFactory } from "../providers/gcp";
import { factory as openstackFactory } from "../providers/openstack";
import type { ResourceHandler, CallHandler } from "../scripts/offline";
import { fakeKeys, readyCommands } from "./support/fakeCloud";
import { replacementPlan, type ForceNewRules, type ReplacementPlan } from "./support/replacement";
import { fixedVhd, QCOW2_MAGIC, runStackWithArtifact, type ArtifactFixture, type StackRun, type Any } from "./support/stackRun";
import * as fs from "node:fs";

interface Cloud {
    stack: string;
    lab: string;
    factory: BackendFactory;
    artifact: (sha256: string) => ArtifactFixture;
    resources?: ResourceHandler[];
    calls?: Record<string, CallHandler>;
}

const CLOUDS: Record<string, Cloud> = {
    aws: {
        stack: "aws-x86_64",
        lab: "kvm-x86",
        factory: awsFactory,
        artifact: (sha256) => ({ file: "nixos-amazon.vhd", format: "vhd", arch: "x86_64", bootMode: "bios", sha256 }),
    },
    gcp: {
        stack: "gcp-x86_64",
        lab: "kvm-gce",
        factory: gcpFactory,
        artifact: (sha256) => ({ file: "nixos-gce.raw.tar.gz", format: "tar.gz", arch: "x86_64", bootMode: "uefi", sha256 }),
    },
    azure: {
        stack: "azure-x86_64",
        lab: "kvm-azure",
        factory: azureFactory,
        artifact: (sha256) => ({ file: "nixos-x86_64.vhd", content: fixedVhd(), format: "vhd", arch: "x86_64", bootMode: "uefi", sha256 }),
        resources: [
            ({ type, name, inputs }) => {
                if (type === "azure-native:network:PublicIPAddress") return { id: `${name}-id`, state: { ...inputs, ipAddress: "198.51.100.11" } };
                if (type === "azure-native:storage:StorageAccount") {
                    return { id: `${name}-id`, state: { ...inputs, name: inputs.accountName, primaryEndpoints: { blob: `https://${inputs.accountName}.blob.core.windows.net/` } } };
                }
                return undefined;
            },
        ],
        calls: { "azure-native:storage:listStorageAccountServiceSAS": () => ({ serviceSasToken: "sv=2022-11-02&sig=abc" }) },
    },
    openstack: {
        stack: "openstack-x86_64",
        lab: "kvm-os",
        factory: openstackFactory,
        artifact: (sha256) => ({ file: "nixos-x86_64.qcow2", content: QCOW2_MAGIC, format: "qcow2", arch: "x86_64", bootMode: "bios", sha256 }),
        resources: [({ type, name, inputs }) => (type === "openstack:networking/floatingIp:FloatingIp" ? { id: `${name}-id`, state: { ...inputs, address: "192.0.2.21" } } : undefined)],
    },
};

const SHA_A = "a1".repeat(32);
const SHA_B = "b2".repeat(32);

/** The artifact's path differs per run (a fresh fixture directory); a stack keeps its path. */
function withFixedDir(r: StackRun): StackRun {
    const fix = (v: unknown): unknown => {
        if (typeof v === "string") return v.split(r.dir).join("/fixture");
        if (Array.isArray(v)) return v.map(fix);
        if (v && typeof v === "object" && !(v instanceof Promise)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fix(x)]));
        return v;
    };
    return { ...r, resources: r.resources.map((x) => ({ ...x, inputs: fix(x.inputs) as Record<string, unknown> })) };
}

async function run(cloud: Cloud, sha: string, edit?: (config: Record<string, Any>) => void): Promise<StackRun> {
    const r = await runStackWithArtifact({
        stack: cloud.stack,
        artifact: cloud.artifact(sha),
        expiresAt: "2026-12-01T18:00:00Z",
        mode: "up",
        program: cloud.factory,
        edit,
        resources: [fakeKeys, readyCommands(cloud.lab), ...(cloud.resources ?? [])],
        calls: cloud.calls,
    });
    fs.rmSync(r.dir, { recursive: true, force: true });
    return withFixedDir(r);
}

/** One more command for every node's cloud-init (defaults apply to all nodes). */
const newCloudInit = (config: Record<string, Any>) => {
    const lab = config["nixlab:lab"];
    lab.defaults = { ...lab.defaults, cloudInit: { runcmd: ["touch /etc/nixlab-changed"] } };
};

// Force-new inputs of the resources these changes reach, from each provider's schema.
// TF-AWS = hashicorp/terraform-provider-aws, TF-GOOGLE = hashicorp/terraform-provider-google,
// TF-OS = terraform-provider-openstack/terraform-provider-openstack (Pulumi bridges each:
// a ForceNew attribute is a replacement). "update" = changed in place.
const COMMAND = {
    // @pulumi/command: `triggers` is declared replaceOnChanges by the SDK (the plan shows it);
    // a new connection (address) runs the update (here: create) command again in place.
    "command:remote:Command": { connection: "update", triggers: "replace" },
} as const;
const FORCE_NEW: ForceNewRules = {
    ...COMMAND,
    // TF-AWS internal/service/s3/object.go: bucket and key ForceNew.
    "aws:s3/bucketObjectv2:BucketObjectv2": { key: "replace", bucket: "replace" },
    // TF-AWS internal/service/ec2/ebs_snapshot_import.go: every argument ForceNew.
    "aws:ebs/snapshotImport:SnapshotImport": { description: "replace", diskContainer: "replace" },
    // TF-AWS internal/service/ec2/ec2_ami.go: name and every ebs_block_device field ForceNew;
    // description is updated in place (resourceAMIUpdate).
    "aws:ec2/ami:Ami": { name: "replace", description: "update", ebsBlockDevices: "replace" },
    // TF-AWS internal/service/ec2/ec2_instance.go: ami ForceNew; user_data ForceNew when
    // user_data_replace_on_change is true (CustomizeDiff), which nixlab sets.
    "aws:ec2/instance:Instance": { ami: "replace", userData: "replace", subnetId: "replace", vpcSecurityGroupIds: "update" },
    // TF-AWS internal/service/ec2/ec2_volume_attachment.go: every argument ForceNew.
    "aws:ec2/volumeAttachment:VolumeAttachment": { instanceId: "replace", volumeId: "replace", deviceName: "replace" },
    // TF-GOOGLE google/services/storage/resource_storage_bucket_object.go: name, bucket, source ForceNew.
    "gcp:storage/bucketObject:BucketObject": { name: "replace", bucket: "replace" },
    // TF-GOOGLE google/services/compute/resource_compute_image.go: name, description, raw_disk ForceNew.
    "gcp:compute/image:Image": { name: "replace", description: "replace", rawDisk: "replace" },
    // TF-GOOGLE google/services/compute/resource_compute_instance.go: boot_disk.initialize_params.image
    // and network_interface.subnetwork ForceNew; metadata updated in place.
    "gcp:compute/instance:Instance": {
        "bootDisk.initializeParams.image": "replace",
        "bootDisk.initializeParams.labels": "update",
        metadata: "update",
        "networkInterfaces[*].subnetwork": "replace",
    },
    // TF-GOOGLE google/services/compute/resource_compute_attached_disk.go: every argument ForceNew.
    "gcp:compute/attachedDisk:AttachedDisk": { instance: "replace", disk: "replace" },
    // nixlab's own dynamic provider (providers/azure/pageblob.ts diff): new url or hash replaces.
    "pulumi-nodejs:dynamic/nixlab:AzurePageBlob": { hash: "replace", url: "replace", path: "update", sas: "update" },
    // azure-native: a resource's name is part of its ARM id, so a new name is a new resource;
    // a gallery image version's source is fixed at creation (Azure "storageProfile cannot be changed").
    "azure-native:compute:GalleryImageVersion": { galleryImageVersionName: "replace", storageProfile: "replace" },
    // azure-native: the VM's own replaceOnChanges (osProfile, storageProfile.imageReference)
    // decides; the rest of the VM updates in place.
    "azure-native:compute:VirtualMachine": { storageProfile: "update", networkProfile: "update" },
    // TF-OS openstack/resource_openstack_images_image_v2.go: local_file_path ForceNew,
    // properties updated in place; nixlab adds replaceOnChanges: name.
    "openstack:images/image:Image": { localFilePath: "replace", properties: "update" },
    // TF-OS openstack/resource_openstack_compute_instance_v2.go: user_data, image_id,
    // block_device ForceNew; network (port) ForceNew.
    "openstack:compute/instance:Instance": { userData: "replace", imageId: "replace", blockDevices: "replace", networks: "replace" },
    // TF-OS openstack/resource_openstack_compute_volume_attach_v2.go: every argument ForceNew.
    "openstack:compute/volumeAttach:VolumeAttach": { instanceId: "replace", volumeId: "replace" },
};

/** A replacement as the assertions spell it. */
const R = (resource: string, deleteBeforeReplace: boolean) => ({ resource, deleteBeforeReplace });

const EXPECTED: Record<string, { image: ReturnType<typeof R>[]; cloudInit: ReturnType<typeof R>[] }> = {
    aws: {
        image: [
            // Named after the content hash (object key, AMI name): new ones next to the old, no collision.
            R("aws:ebs/snapshotImport:SnapshotImport kvm-x86-image-x86_64-snapshot", false),
            R("aws:ec2/ami:Ami kvm-x86-image-x86_64-ami", false),
            // Fixed privateIp and attached volumes: delete first.
            R("aws:ec2/instance:Instance kvm-x86-node-1", true),
            R("aws:ec2/instance:Instance kvm-x86-node-2", true),
            R("aws:ec2/volumeAttachment:VolumeAttachment kvm-x86-node-1-scratch-attachment", true),
            R("aws:ec2/volumeAttachment:VolumeAttachment kvm-x86-node-2-scratch-attachment", true),
            R("aws:s3/bucketObjectv2:BucketObjectv2 kvm-x86-image-x86_64-object", false),
            // A command has no physical identity: it runs again against the new node.
            R("command:remote:Command kvm-x86-node-1-ready", false),
            R("command:remote:Command kvm-x86-node-2-ready", false),
        ],
        cloudInit: [
            R("aws:ec2/instance:Instance kvm-x86-node-1", true),
            R("aws:ec2/instance:Instance kvm-x86-node-2", true),
            R("aws:ec2/volumeAttachment:VolumeAttachment kvm-x86-node-1-scratch-attachment", true),
            R("aws:ec2/volumeAttachment:VolumeAttachment kvm-x86-node-2-scratch-attachment", true),
            R("command:remote:Command kvm-x86-node-1-ready", false),
            R("command:remote:Command kvm-x86-node-2-ready", false),
        ],
    },
    gcp: {
        image: [
            R("command:remote:Command kvm-gce-node-1-ready", false),
            R("command:remote:Command kvm-gce-node-2-ready", false),
            // A zonal disk attaches read-write to one instance: detach before reattaching.
            R("gcp:compute/attachedDisk:AttachedDisk kvm-gce-node-1-scratch-attachment", true),
            R("gcp:compute/attachedDisk:AttachedDisk kvm-gce-node-2-scratch-attachment", true),
            R("gcp:compute/image:Image kvm-gce-image-x86_64", false),
            // Fixed networkIp: delete first.
            R("gcp:compute/instance:Instance kvm-gce-node-1", true),
            R("gcp:compute/instance:Instance kvm-gce-node-2", true),
            R("gcp:storage/bucketObject:BucketObject kvm-gce-image-x86_64-object", false),
        ],
        cloudInit: [
            R("command:remote:Command kvm-gce-node-1-ready", false),
            R("command:remote:Command kvm-gce-node-2-ready", false),
            R("gcp:compute/attachedDisk:AttachedDisk kvm-gce-node-1-scratch-attachment", true),
            R("gcp:compute/attachedDisk:AttachedDisk kvm-gce-node-2-scratch-attachment", true),
            R("gcp:compute/instance:Instance kvm-gce-node-1", true),
            R("gcp:compute/instance:Instance kvm-gce-node-2", true),
        ],
    },
    azure: {
        image: [
            R("azure-native:compute:GalleryImageVersion kvm-azure-image-x86_64", false),
            // Fixed vmName, OS disk name, NIC and data disk: delete first.
            R("azure-native:compute:VirtualMachine kvm-azure-node-1", true),
            R("azure-native:compute:VirtualMachine kvm-azure-node-2", true),
            R("command:remote:Command kvm-azure-node-1-ready", false),
            R("command:remote:Command kvm-azure-node-2-ready", false),
            R("pulumi-nodejs:dynamic/nixlab:AzurePageBlob kvm-azure-image-x86_64-vhd", false),
        ],
        cloudInit: [
            R("azure-native:compute:VirtualMachine kvm-azure-node-1", true),
            R("azure-native:compute:VirtualMachine kvm-azure-node-2", true),
            R("command:remote:Command kvm-azure-node-1-ready", false),
            R("command:remote:Command kvm-azure-node-2-ready", false),
        ],
    },
    openstack: {
        image: [
            R("command:remote:Command kvm-os-node-1-ready", false),
            R("command:remote:Command kvm-os-node-2-ready", false),
            // Fixed port and attached volumes: delete first.
            R("openstack:compute/instance:Instance kvm-os-node-1", true),
            R("openstack:compute/instance:Instance kvm-os-node-2", true),
            R("openstack:compute/volumeAttach:VolumeAttach kvm-os-node-1-scratch-attach", true),
            R("openstack:compute/volumeAttach:VolumeAttach kvm-os-node-2-scratch-attach", true),
            R("openstack:images/image:Image kvm-os-image-x86_64", false),
        ],
        cloudInit: [
            R("command:remote:Command kvm-os-node-1-ready", false),
            R("command:remote:Command kvm-os-node-2-ready", false),
            R("openstack:compute/instance:Instance kvm-os-node-1", true),
            R("openstack:compute/instance:Instance kvm-os-node-2", true),
            R("openstack:compute/volumeAttach:VolumeAttach kvm-os-node-1-scratch-attach", true),
            R("openstack:compute/volumeAttach:VolumeAttach kvm-os-node-2-scratch-attach", true),
        ],
    },
};

for (const [cloudName, cloud] of Object.entries(CLOUDS)) {
    describe(`${cloudName} (${cloud.stack})`, () => {
        const plans = {} as { image: ReplacementPlan; cloudInit: ReplacementPlan };
        beforeAll(async () => {
            const base = await run(cloud, SHA_A);
            plans.image = replacementPlan(base.resources, (await run(cloud, SHA_B)).resources, FORCE_NEW);
            plans.cloudInit = replacementPlan(base.resources, (await run(cloud, SHA_A, newCloudInit)).resources, FORCE_NEW);
        }, 180_000);

        for (const change of ["image", "cloudInit"] as const) {
            it(`a new ${change === "image" ? "image (content hash)" : "cloud-init document"} replaces exactly these, each node-bound one delete-first`, () => {
                const plan = plans[change];
                expect(plan.added).toEqual([]);
                expect(plan.removed).toEqual([]);
                expect(plan.replaced.map(({ resource, deleteBeforeReplace }) => R(resource, deleteBeforeReplace))).toEqual(EXPECTED[cloudName]![change]);
            });
        }
    });
}
