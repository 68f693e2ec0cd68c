/**
 * The OpenStack resources of a lab: a network + subnet + router + security group of its own,
 * a Glance image per architecture, and per node a port with the node's fixed address, an
 * instance (config drive on, so cloud-init needs no metadata service), volumes and a
 * floating IP. Submodule imports keep load time down.
 */
import * as blockstorage from "@pulumi/openstack/blockstorage";
import * as compute from "@pulumi/openstack/compute";
import * as images from "@pulumi/openstack/images";
import * as networking from "@pulumi/openstack/networking";
import { Provider } from "@pulumi/openstack/provider";
import * as pulumi from "@pulumi/pulumi";
import type { BackendContext, LabNode, NodeArgs, VolumeArgs } from "../../components/backend";
import { sshReadiness } from "../../components/ready";
import { cidrHost, type Arch, type BootMode, type ImageFormat, type LabSpec } from "../../components/spec";
import { stackId } from "../../components/names";
import { nodeTags } from "../../components/tags";
import { instanceTimeouts } from "../../components/timeouts";
import { shortHash, type ImageArtifact } from "../../images/artifact";
import type { OpenStackConfig } from "./config";
import { GLANCE_DISK_FORMATS } from "./place";
import { GLANCE_TAGS, NEUTRON_TAGS, NOVA_TAGS, novaMetadata, tagListOf } from "./tags";

export interface OpenStackNet {
    provider: Provider;
    network: networking.Network;
    subnet: networking.Subnet;
    secGroup: networking.SecGroup;
    /** Present when nixlab:openstack.externalNetworkId is set. */
    router?: networking.Router;
    routerInterface?: networking.RouterInterface;
}

export interface OpenStackVolume {
    volume: blockstorage.Volume;
    /** Logical name of the volume, for its attachment's name. */
    name: string;
}

type Opts = pulumi.CustomResourceOptions;

/** Inbound rules of the lab's security group, as data: SSH from the configured CIDRs, anything from inside the lab. */
export function ingressRules(lab: LabSpec): { suffix: string; args: Omit<networking.SecGroupRuleArgs, "securityGroupId"> }[] {
    return [
        ...lab.network.sshIngressCidrs.map((cidr, i) => ({
            suffix: `ssh-${i}`,
            args: {
                description: `SSH from ${cidr} (nixlab:lab.network.sshIngressCidrs[${i}])`,
                direction: "ingress",
                ethertype: "IPv4",
                protocol: "tcp",
                portRangeMin: 22,
                portRangeMax: 22,
                remoteIpPrefix: cidr,
            },
        })),
        {
            suffix: "internal",
            args: { description: "Any traffic between the lab's nodes", direction: "ingress", ethertype: "IPv4", remoteIpPrefix: lab.network.cidr },
        },
    ];
}

/**
 * The stem of every OpenStack name of the lab: OpenStack does not refuse duplicate names,
 * but two stacks with the same lab name in one project would otherwise show (and be found
 * by `openstack server show <name>`) under one name. The stack id tells them apart.
 */
export function openStackPrefix(ctx: Pick<BackendContext, "lab" | "stack">): string {
    return `${ctx.lab.name}-${stackId(ctx.stack)}`;
}

export function createOpenStackNetwork(cfg: OpenStackConfig, ctx: BackendContext, name: string): OpenStackNet {
    const lab = ctx.lab;
    const provider = new Provider(`${name}-provider`, { cloud: cfg.cloud, region: cfg.region }, { parent: ctx.parent });
    const opts: Opts = { parent: ctx.parent, provider };
    const tags = tagListOf(ctx.tags, NEUTRON_TAGS);
    const physical = `nixlab-${openStackPrefix(ctx)}`;
    const cidr = lab.network.cidr;

    const network = new networking.Network(name, { name: physical, adminStateUp: true, portSecurityEnabled: true, tags }, opts);
    const subnet = new networking.Subnet(
        `${name}-subnet`,
        {
            name: physical,
            networkId: network.id,
            cidr,
            ipVersion: 4,
            enableDhcp: true,
            gatewayIp: cidrHost(cidr, 1),
            // Nodes take .10 and up on their ports; keeping DHCP agents and the router on .2-.9
            // means an automatically allocated port can never take a node's address first.
            allocationPools: [{ start: cidrHost(cidr, 2), end: cidrHost(cidr, 9) }],
            dnsNameservers: cfg.dnsNameservers,
            tags,
        },
        opts,
    );
    const secGroup = new networking.SecGroup(
        `${name}-secgroup`,
        {
            name: physical,
            description: `nixlab lab ${lab.name}: SSH from the configured CIDRs, anything inside the lab`,
            // Explicit rules only, so the plan shows the whole policy.
            deleteDefaultRules: true,
            tags,
        },
        opts,
    );
    for (const rule of ingressRules(lab)) {
        new networking.SecGroupRule(`${name}-${rule.suffix}`, { ...rule.args, securityGroupId: secGroup.id }, opts);
    }
    new networking.SecGroupRule(
        `${name}-egress`,
        { description: "Outbound traffic", direction: "egress", ethertype: "IPv4", securityGroupId: secGroup.id },
        opts,
    );

    if (!cfg.externalNetworkId) return { provider, network, subnet, secGroup };
    const router = new networking.Router(
        `${name}-router`,
        { name: physical, adminStateUp: true, externalNetworkId: cfg.externalNetworkId, tags },
        opts,
    );
    const routerInterface = new networking.RouterInterface(`${name}-router-interface`, { routerId: router.id, subnetId: subnet.id }, opts);
    return { provider, network, subnet, secGroup, router, routerInterface };
}

/** Glance properties telling Nova how to boot the image. */
export function imageProperties(arch: Arch, bootMode: BootMode, hash: string): Record<string, string> {
    return {
        architecture: arch,
        // q35 is the modern PC machine (PCIe); aarch64 guests have only `virt`.
        hw_machine_type: arch === "x86_64" ? "q35" : "virt",
        // Nova enables UEFI for aarch64 guests by itself; saying so keeps both arches uniform.
        ...(bootMode === "uefi" ? { hw_firmware_type: "uefi" } : {}),
        os_type: "linux",
        os_distro: "nixos",
        nixlab_image_hash: hash,
    };
}

export function glanceDiskFormat(format: ImageFormat): string {
    if (format in GLANCE_DISK_FORMATS) return GLANCE_DISK_FORMATS[format as keyof typeof GLANCE_DISK_FORMATS];
    throw new Error(`nixlab: Glance cannot boot ${format} images; build the openstack image target (qcow2)`);
}

export function createOpenStackImage(
    _cfg: OpenStackConfig,
    ctx: BackendContext,
    name: string,
    args: { arch: Arch; artifact: pulumi.Output<ImageArtifact>; network: OpenStackNet },
): images.Image {
    const { arch, artifact } = args;
    return new images.Image(
        name,
        {
            name: artifact.apply((a) => `nixlab-${openStackPrefix(ctx)}-nixos-${arch}-${shortHash(a.hash)}`),
            localFilePath: artifact.apply((a) => a.path),
            diskFormat: artifact.apply((a) => glanceDiskFormat(a.format)),
            containerFormat: "bare",
            visibility: "private",
            properties: artifact.apply((a) => imageProperties(arch, a.bootMode, a.hash)),
            tags: tagListOf(ctx.tags, GLANCE_TAGS),
        },
        // The name carries the content hash; the provider would rename in place, and new
        // content must be a new image.
        { parent: ctx.parent, provider: args.network.provider, replaceOnChanges: ["name"] },
    );
}

export function createOpenStackVolume(cfg: OpenStackConfig, ctx: BackendContext, name: string, args: VolumeArgs<OpenStackNet>): OpenStackVolume {
    const { node, volume } = args;
    const v = new blockstorage.Volume(
        name,
        {
            name: `${openStackPrefix(ctx)}-${node.name}-${volume.name}`,
            description: `nixlab lab ${ctx.lab.name}, node ${node.name}`,
            size: volume.sizeGiB,
            volumeType: cfg.volumeType,
            availabilityZone: cfg.availabilityZone,
            // Lets a later sizeGiB increase extend the volume while attached (Cinder API 3.42+).
            enableOnlineResize: true,
            metadata: nodeTags(ctx.tags, node),
        },
        { parent: ctx.parent, provider: args.network.provider },
    );
    return { volume: v, name };
}

export function createOpenStackNode(
    cfg: OpenStackConfig,
    ctx: BackendContext,
    name: string,
    args: NodeArgs<OpenStackNet, images.Image, OpenStackVolume>,
): LabNode {
    const { node, network: net } = args;
    const lab = ctx.lab;
    const flavor = cfg.flavors.find((f) => f.name === args.machine.machineType);
    if (!flavor) throw new Error(`nixlab: flavor ${args.machine.machineType} is not in nixlab:openstack.flavors (place() should have refused it)`);
    const opts: Opts = { parent: ctx.parent, provider: net.provider };
    const tags = nodeTags(ctx.tags, node);
    const physical = `${openStackPrefix(ctx)}-${node.name}`;

    const port = new networking.Port(
        `${name}-port`,
        {
            name: physical,
            networkId: net.network.id,
            fixedIps: [{ subnetId: net.subnet.id, ipAddress: args.privateAddress }],
            securityGroupIds: [net.secGroup.id],
            adminStateUp: true,
            tags: tagListOf(tags, NEUTRON_TAGS),
        },
        opts,
    );
    // Bare-metal nodes boot from their own disk (Ironic boot-from-volume needs extra
    // operator setup); VMs boot from a volume of rootDiskGiB unless rootVolume is off.
    const bootVolume = cfg.rootVolume && flavor.kvm !== "metal";
    const instance = new compute.Instance(
        name,
        {
            name: physical,
            flavorName: flavor.name,
            imageId: bootVolume ? undefined : args.image.id,
            blockDevices: bootVolume
                ? [
                      {
                          sourceType: "image",
                          uuid: args.image.id,
                          destinationType: "volume",
                          volumeSize: node.rootDiskGiB,
                          volumeType: cfg.volumeType,
                          bootIndex: 0,
                          deleteOnTermination: true,
                      },
                  ]
                : undefined,
            networks: [{ port: port.id }],
            availabilityZone: cfg.availabilityZone,
            // The config drive carries user-data even where the metadata service is off or
            // unreachable (common for Ironic); NixOS's cloud-init reads ConfigDrive first.
            configDrive: true,
            // Raw cloud-config: the provider base64-encodes it for Nova.
            userData: args.userData,
            // Nova's key pattern is narrower than a tag key's: place() refused what cannot map.
            metadata: novaMetadata(tags),
            tags: tagListOf(tags, NOVA_TAGS),
        },
        {
            ...opts,
            // Bare metal (Ironic) deploys the image to disk and cleans it on delete.
            customTimeouts: instanceTimeouts(flavor.kvm === "metal"),
            // The replacement takes the same port (fixed address) and volumes, which Neutron
            // and Cinder give to one server at a time: the old server must go first.
            deleteBeforeReplace: true,
        },
    );
    const attachments = args.volumes.map(
        (v) =>
            new compute.VolumeAttach(
                `${v.name}-attach`,
                { instanceId: instance.id, volumeId: v.volume.id },
                // A volume attaches to one server at a time: detach before attaching to the replacement.
                { ...opts, deleteBeforeReplace: true },
            ),
    );

    let sshHost: pulumi.Output<string> = pulumi.output(args.privateAddress);
    const reachable: pulumi.Resource[] = [instance, ...attachments];
    if (lab.network.publicAddresses) {
        const fip = new networking.FloatingIp(
            `${name}-fip`,
            { pool: cfg.floatingIpPool!, description: `nixlab lab ${lab.name}, node ${node.name}`, tags: tagListOf(tags, NEUTRON_TAGS) },
            opts,
        );
        // Neutron refuses to associate a floating IP with a port whose subnet has no router to
        // the floating network yet: wait for the router interface.
        const associate = new networking.FloatingIpAssociate(
            `${name}-fip-associate`,
            { floatingIp: fip.address, portId: port.id },
            { ...opts, dependsOn: net.routerInterface ? [net.routerInterface] : [] },
        );
        sshHost = associate.floatingIp;
        reachable.push(associate);
    }
    const ready = sshReadiness(
        `${name}-ready`,
        { node, host: sshHost, user: lab.user.name, privateKey: args.operatorPrivateKey, hostPublicKey: args.hostPublicKey, triggers: [instance.id] },
        { parent: ctx.parent, dependsOn: reachable },
    );
    return { resource: instance, sshHost, sshPort: pulumi.output(22), privateAddress: pulumi.output(args.privateAddress), ready };
}
