/**
 * A lab node on Compute Engine, its extra disks, and the readiness check that makes `up`
 * wait until cloud-init is done and /dev/kvm works on it.
 */
// Submodules, not "@pulumi/gcp": the barrel makes tsc parse every service (test/layout.test.ts).
import * as compute from "@pulumi/gcp/compute";
import * as pulumi from "@pulumi/pulumi";
import type { BackendContext, LabNode, NodeArgs, VolumeArgs } from "../../components/backend";
import { sshReadiness } from "../../components/ready";
import { nodeTags } from "../../components/tags";
import { instanceTimeouts } from "../../components/timeouts";
import type { GcpImage } from "./image";
import { gcpLabelsOf } from "./labels";
import type { GcpNet } from "./network";
import { physicalName } from "./network";
import { machineOf, resolveMachine } from "./placement";

export interface GcpVolume {
    name: string;
    disk: compute.Disk;
    /** The guest finds the disk as /dev/disk/by-id/google-<deviceName>. */
    deviceName: string;
}

export function createGcpVolume(ctx: BackendContext, name: string, args: VolumeArgs<GcpNet>): GcpVolume {
    const { config, opts } = args.network;
    // The disk type must suit the node's machine (Hyperdisk only on bare metal); placement
    // is a pure function of the node, so resolving again gives the machine place() chose.
    const machine = resolveMachine(args.node);
    if (!machine) throw new Error(`nixlab: no GCP machine for node ${args.node.name}; place() should have refused it`);
    const disk = new compute.Disk(
        name,
        {
            name: physicalName(name, ctx.stack),
            zone: config.zone,
            size: args.volume.sizeGiB,
            type: machine.diskType,
            // Encrypted at rest with Google-managed keys, always; nothing to configure.
            labels: gcpLabelsOf(nodeTags(ctx.tags, args.node)),
        },
        opts,
    );
    return { name, disk, deviceName: args.volume.name };
}

export function createGcpNode(ctx: BackendContext, name: string, args: NodeArgs<GcpNet, GcpImage, GcpVolume>): LabNode {
    const { node, network } = args;
    const lab = ctx.lab;
    const machine = machineOf(args.machine);
    const metal = machine.kvm === "metal";
    const labels = gcpLabelsOf(nodeTags(ctx.tags, node));

    const instance = new compute.Instance(
        name,
        {
            name: physicalName(name, ctx.stack),
            zone: network.config.zone,
            machineType: machine.machineType,
            bootDisk: {
                autoDelete: true,
                // Encrypted at rest with Google-managed keys (Compute Engine's default; it
                // cannot be turned off), so no key resource is needed.
                initializeParams: { image: args.image.image.selfLink, size: node.rootDiskGiB, type: machine.diskType, labels },
            },
            networkInterfaces: [
                {
                    subnetwork: network.subnetwork.id,
                    networkIp: args.privateAddress,
                    nicType: machine.nicType,
                    // An empty access config asks for an ephemeral public address.
                    accessConfigs: lab.network.publicAddresses ? [{}] : [],
                },
            ],
            metadata: {
                // cloud-init's GCE datasource reads `user-data` (256 KiB per value).
                "user-data": args.userData,
                // Keys come from cloud-init only: no OS Login, no project-wide SSH keys.
                "enable-oslogin": "FALSE",
                "block-project-ssh-keys": "TRUE",
            },
            advancedMachineFeatures: args.machine.nestedVirtualization ? { enableNestedVirtualization: true } : undefined,
            minCpuPlatform: args.machine.nestedVirtualization ? machine.nestedMinCpuPlatform : undefined,
            scheduling: machine.onHostMaintenance ? { onHostMaintenance: machine.onHostMaintenance, automaticRestart: true } : undefined,
            // Stock NixOS is not signed for Secure Boot. vTPM and integrity monitoring need a
            // UEFI image; bare metal has no Shielded VM at all.
            shieldedInstanceConfig: args.image.uefi.apply((uefi) => ({
                enableSecureBoot: false,
                enableVtpm: uefi && !metal,
                enableIntegrityMonitoring: uefi && !metal,
            })),
            // No service account: lab nodes need no Google API credentials.
            allowStoppingForUpdate: true,
            labels,
        },
        {
            ...network.opts,
            dependsOn: network.firewalls,
            // Extra disks are attached by compute.AttachedDisk, which the instance must not undo.
            ignoreChanges: ["attachedDisks"],
            // Compute Engine updates metadata in place, but cloud-init reads user-data once
            // per instance: a changed document only takes effect on a new instance (as
            // userDataReplaceOnChange does on AWS).
            replaceOnChanges: ['metadata["user-data"]'],
            // Bare metal boots firmware before the OS: minutes.
            customTimeouts: instanceTimeouts(metal),
            // The replacement takes the same fixed networkIp (and the same extra disks):
            // Compute Engine refuses an address still in use, so the old one must go first.
            deleteBeforeReplace: true,
        },
    );

    const attachments = args.volumes.map(
        (v) =>
            new compute.AttachedDisk(
                `${v.name}-attachment`,
                { disk: v.disk.id, instance: instance.id, zone: network.config.zone, deviceName: v.deviceName },
                // A zonal disk attaches read-write to one instance at a time: detach from the
                // old instance before attaching to its replacement.
                { ...network.opts, deleteBeforeReplace: true },
            ),
    );

    const sshHost = lab.network.publicAddresses
        ? instance.networkInterfaces.apply((nics) => nics[0]?.accessConfigs?.[0]?.natIp ?? "")
        : pulumi.output(args.privateAddress);
    const ready = sshReadiness(
        `${name}-ready`,
        { node, host: sshHost, user: lab.user.name, privateKey: args.operatorPrivateKey, hostPublicKey: args.hostPublicKey, triggers: [instance.id] },
        { parent: ctx.parent, dependsOn: [instance, ...attachments] },
    );

    return {
        resource: instance,
        sshHost,
        sshPort: pulumi.output(22),
        privateAddress: pulumi.output(args.privateAddress),
        ready,
    };
}
