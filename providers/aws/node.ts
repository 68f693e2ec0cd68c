/**
 * A lab node on EC2 and its extra EBS volumes, plus the readiness check that makes `up`
 * wait until cloud-init is done and /dev/kvm works on it.
 */
// Submodules, not "@pulumi/aws": the barrel makes tsc parse every service (test/layout.test.ts).
import * as ebs from "@pulumi/aws/ebs";
import * as ec2 from "@pulumi/aws/ec2";
import * as pulumi from "@pulumi/pulumi";
import type { BackendContext, LabNode, NodeArgs, VolumeArgs } from "../../components/backend";
import { sshReadiness } from "../../components/ready";
import { nodeTags } from "../../components/tags";
import { instanceTimeouts } from "../../components/timeouts";
import type { AwsImage } from "./image";
import type { AwsNet } from "./network";
import { named } from "./network";
import { DATA_DEVICE_LETTERS, findMachine } from "./placement";

export interface AwsVolume {
    name: string;
    volume: ebs.Volume;
    /** The attachment name EC2 wants; on Nitro the guest sees NVMe devices whatever it is. */
    deviceName: string;
}

/** EC2's recommended names for data volumes (place() refuses more than there are). */
export function deviceName(volumeIndex: number): string {
    const letter = DATA_DEVICE_LETTERS[volumeIndex];
    if (letter === undefined) throw new Error(`nixlab: no device name for volume index ${volumeIndex}; place() should have refused it`);
    return `/dev/sd${letter}`;
}

export function createAwsVolume(ctx: BackendContext, name: string, args: VolumeArgs<AwsNet>): AwsVolume {
    const volume = new ebs.Volume(
        name,
        {
            // EBS attaches only within a zone: the subnet's.
            availabilityZone: args.network.availabilityZone,
            size: args.volume.sizeGiB,
            type: "gp3",
            encrypted: true,
            tags: named(nodeTags(ctx.tags, args.node), name),
        },
        args.network.opts,
    );
    return { name, volume, deviceName: deviceName(args.volumeIndex) };
}

export function createAwsNode(ctx: BackendContext, name: string, args: NodeArgs<AwsNet, AwsImage, AwsVolume>): LabNode {
    const { node, machine, network } = args;
    const lab = ctx.lab;
    const tags = nodeTags(ctx.tags, node);
    // A metal host runs firmware and POST before the OS: minutes, not seconds.
    const metal = findMachine(machine.machineType)?.kvm === "metal";

    const instance = new ec2.Instance(
        name,
        {
            ami: args.image.ami.id,
            instanceType: machine.machineType,
            subnetId: network.subnet.id,
            privateIp: args.privateAddress,
            vpcSecurityGroupIds: [network.securityGroup.id],
            associatePublicIpAddress: lab.network.publicAddresses,
            // cloud-init's #cloud-config, as text: EC2 base64-encodes userData itself, and
            // allows 16 KB before encoding (userDataLimitBytes).
            userData: args.userData,
            // cloud-init reads user-data once per instance; a changed document only takes
            // effect on a new instance, so replace rather than stop/start.
            userDataReplaceOnChange: true,
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
            rootBlockDevice: {
                volumeSize: node.rootDiskGiB,
                volumeType: "gp3",
                encrypted: true,
                deleteOnTermination: true,
                tags: named(tags, `${name}-root`),
            },
            // Nested virtualization is a CPU option AWS turns on per instance (C8i/M8i/R8i).
            cpuOptions: machine.nestedVirtualization ? { nestedVirtualization: "enabled" } : undefined,
            tags: named(tags, name),
        },
        {
            ...network.opts,
            dependsOn: network.routing,
            customTimeouts: instanceTimeouts(metal),
            // The replacement takes the same fixed privateIp (and the same volumes): EC2
            // refuses a second instance with that address while the old one exists
            // (InvalidIPAddress.InUse), so the old one must go first.
            deleteBeforeReplace: true,
        },
    );

    const attachments = args.volumes.map(
        (v) =>
            new ec2.VolumeAttachment(
                `${v.name}-attachment`,
                { instanceId: instance.id, volumeId: v.volume.id, deviceName: v.deviceName },
                // A volume attaches to one instance at a time (VolumeInUse): detach from the
                // old instance before attaching to its replacement.
                { ...network.opts, deleteBeforeReplace: true },
            ),
    );

    const sshHost = lab.network.publicAddresses ? instance.publicIp : pulumi.output(args.privateAddress);
    const ready = sshReadiness(
        `${name}-ready`,
        {
            node,
            host: sshHost,
            user: lab.user.name,
            privateKey: args.operatorPrivateKey,
            hostPublicKey: args.hostPublicKey,
            triggers: [instance.id],
        },
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
