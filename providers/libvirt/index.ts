/**
 * The libvirt backend: a lab on a local or remote (qemu+ssh) hypervisor.
 *
 * Per lab: a dir storage pool and (NAT mode) a libvirt network, both `nixlab-<lab>`; the
 * image uploaded once into the pool under its content hash (plus kernel/initrd for
 * images booted directly). Per node: a qcow2 overlay root disk, extra blank disks, a
 * NoCloud seed and the domain, whose creation waits for cloud-init's readiness line on
 * the serial console. All of it is real CRUD through the dynamic providers in ./provider.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Backend, BackendContext, BackendFactory, LabNode, NodeArgs, Placement, VolumeArgs } from "../../components/backend";
import type { NamingScheme } from "../../components/names";
import { READY_MARKER, readyCommand } from "../../components/cloudinit";
import { nodeAddress, type Arch, type LabSpec } from "../../components/spec";
import { nodeTags } from "../../components/tags";
import { shortHash, type ImageArtifact } from "../../images/artifact";
import { CONFIG_KEY, hypervisorSshFor, parseLibvirtConfig, parseUri, proxyJumpFor, type LibvirtConfig } from "./config";
import { OFFLINE_PLAN_ENV } from "../../images/build";
import { CAPACITY_CHECK_ENV, checkCapacity, virshCapacityProbe, type CapacityProbe } from "./capacity";
import { placeLibvirt } from "./place";
import {
    cpuModeFor,
    domainName,
    gatewayAddress,
    labResourceName,
    libvirtFormat,
    macAddress,
    METADATA_URI,
    poolPath,
    renderDomainXml,
    renderNetworkConfig,
    renderNetworkXml,
    renderTagsXml,
    renderVendorData,
    serialLogPath,
    userModeDnsAddress,
    userNetdev,
    volumeNames,
    type DiskXml,
} from "./render";
import { Domain, ImageVolume, Network, Pool, SeedVolume, Volume } from "./resources";

export { dynamicProviders } from "./resources";

const GiB = 1024 ** 3;

/**
 * NoCloud itself has no size limit. The user-data is kept (as a secret) in the Pulumi
 * state and written into a seed ISO per node, so 1 MiB: room for generous write_files,
 * small enough that state and previews stay readable. Anything bigger belongs in the image.
 */
export const USER_DATA_LIMIT_BYTES = 1024 * 1024;

export interface LibvirtNet {
    pool: Pool;
    /** NAT mode only. */
    network?: Network;
}

export interface LibvirtImage {
    base: ImageVolume;
    /**
     * Direct kernel boot: the kernel and initrd volumes. Plain resources when config gives
     * the artifact (known before anything resolves, so a plan shows them); for a built
     * image, what its nixlab-image.json says, known once the build ran (also in a preview).
     */
    kernel?: pulumi.Output<ImageVolume | undefined>;
    initrd?: pulumi.Output<ImageVolume | undefined>;
    artifact: pulumi.Output<ImageArtifact>;
}

export interface LibvirtVolume {
    volume: Volume;
    serial: string;
}

/**
 * Child names on libvirt. The root disk and extra volumes share the Volume type, so a volume
 * named `root` would take the root disk's URN. Names inside libvirt (render.ts) use '.', which
 * node and volume names cannot hold, and cannot meet.
 * Checked against what the program registers by test/names.test.ts.
 */
export const LIBVIRT_NAMING: NamingScheme = {
    lab: [
        { namespace: "pulumi-nodejs:dynamic/nixlab-libvirt:Pool", suffix: "-net-pool" },
        { namespace: "pulumi-nodejs:dynamic/nixlab-libvirt:Network", suffix: "-net" },
        { namespace: "pulumi-nodejs:dynamic/nixlab-libvirt:ImageVolume", suffix: "-image-{arch}" },
        { namespace: "pulumi-nodejs:dynamic/nixlab-libvirt:ImageVolume", suffix: "-image-{arch}-kernel" },
        { namespace: "pulumi-nodejs:dynamic/nixlab-libvirt:ImageVolume", suffix: "-image-{arch}-initrd" },
    ],
    node: [
        { namespace: "pulumi-nodejs:dynamic/nixlab-libvirt:Domain", suffix: "" },
        { namespace: "pulumi-nodejs:dynamic/nixlab-libvirt:Volume", suffix: "-root", role: "root disk" },
        { namespace: "pulumi-nodejs:dynamic/nixlab-libvirt:SeedVolume", suffix: "-cidata", role: "cloud-init seed" },
    ],
    volume: [
        { namespace: "pulumi-nodejs:dynamic/nixlab-libvirt:Volume", suffix: "" },
    ],
};

export class LibvirtBackend implements Backend<LibvirtNet, LibvirtImage, LibvirtVolume> {
    readonly kind = "libvirt" as const;
    readonly userDataLimitBytes = USER_DATA_LIMIT_BYTES;
    readonly naming = LIBVIRT_NAMING;

    constructor(
        readonly config: LibvirtConfig,
        /** How the hypervisor's capacity is read. @default - virsh nodeinfo and df on the hypervisor */
        private readonly probe: CapacityProbe = virshCapacityProbe,
    ) {}

    place(lab: LabSpec): Placement {
        const placement = placeLibvirt(lab, this.config);
        // Only for a lab that is otherwise placeable (and never in the offline plan, which
        // must not depend on, or reach, any hypervisor).
        if (placement.problems.length > 0) return placement;
        const offline = process.env[OFFLINE_PLAN_ENV] === "1";
        const env = offline ? { ...process.env, [CAPACITY_CHECK_ENV]: "off" } : process.env;
        const capacity = checkCapacity(lab, this.config, this.probe, { dryRun: pulumi.runtime.isDryRun(), env });
        if (capacity.note && !offline) void pulumi.log.info(capacity.note);
        return { ...placement, problems: capacity.problems };
    }

    createNetwork(ctx: BackendContext, name: string): LibvirtNet {
        const { uri, poolDir, networkMode } = this.config;
        const lab = ctx.lab;
        const pool = new Pool(
            `${name}-pool`,
            { uri, name: labResourceName(lab.name), path: poolPath(poolDir, lab.name), owner: { stack: ctx.stack, lab: lab.name } },
            { parent: ctx.parent },
        );
        switch (networkMode) {
            case "user":
                // Slirp lives inside each QEMU process: nothing to create on the host.
                return { pool };
            case "nat": {
                const network = new Network(
                    name,
                    {
                        uri,
                        name: labResourceName(lab.name),
                        xml: renderNetworkXml({ lab: lab.name, cidr: lab.network.cidr, owner: { stack: ctx.stack, lab: lab.name } }),
                        // DHCP for images that ignore network-config, DNS so nodes find each other by name.
                        hosts: lab.nodes.map((n) => ({ mac: macAddress(lab.name, n.name), name: n.name, ip: nodeAddress(lab, n) })),
                    },
                    { parent: ctx.parent },
                );
                return { pool, network };
            }
        }
    }

    createImage(ctx: BackendContext, name: string, args: { arch: Arch; artifact: pulumi.Output<ImageArtifact>; network: LibvirtNet }): LibvirtImage {
        const { uri } = this.config;
        const { artifact } = args;
        const pool = args.network.pool.name;
        const poolUuid = args.network.pool.uuid;
        const opts = { parent: ctx.parent };
        const base = new ImageVolume(
            name,
            {
                uri,
                pool,
                poolUuid,
                name: artifact.apply((a) => volumeNames.base(shortHash(a.hash))),
                source: artifact.apply((a) => a.path),
                contentHash: artifact.apply((a) => a.hash),
                format: artifact.apply((a) => libvirtFormat(a.format)),
            },
            opts,
        );
        // The kernel belongs to the image: it is named and replaced by the image's hash.
        const bootFile = (suffix: "kernel" | "initrd", file: (a: ImageArtifact) => string | undefined) =>
            new ImageVolume(
                `${name}-${suffix}`,
                {
                    uri,
                    pool,
                    poolUuid,
                    name: artifact.apply((a) => volumeNames[suffix](shortHash(a.hash))),
                    source: artifact.apply((a) => {
                        const f = file(a);
                        if (!f) throw new Error(`image artifact for ${args.arch} has no ${suffix} file although nixlab:lab.image.artifacts gives one`);
                        return f;
                    }),
                    contentHash: artifact.apply((a) => a.hash),
                    format: "raw",
                },
                opts,
            );
        const artifacts = ctx.lab.image.artifacts;
        if (artifacts) {
            // Known from config before the artifact resolves, so the plan shows these volumes.
            const spec = artifacts.find((a) => a.arch === args.arch);
            if (!spec?.kernel) return { base, artifact };
            return {
                base,
                artifact,
                kernel: pulumi.output(bootFile("kernel", (a) => a.kernel)),
                initrd: pulumi.output(spec.initrd ? bootFile("initrd", (a) => a.initrd) : undefined),
            };
        }
        // A built image boots its own kernel when its nixlab-image.json names one. The build
        // is an invoke, so this is known in a preview too (not in the offline plan, which
        // does not build: there the volumes stay out of the plan).
        return {
            base,
            artifact,
            kernel: artifact.apply((a) => (a.kernel ? bootFile("kernel", (x) => x.kernel) : undefined)),
            initrd: artifact.apply((a) => (a.kernel && a.initrd ? bootFile("initrd", (x) => x.initrd) : undefined)),
        };
    }

    createVolume(ctx: BackendContext, name: string, args: VolumeArgs<LibvirtNet>): LibvirtVolume {
        const { node, volume, volumeIndex } = args;
        const v = new Volume(
            name,
            {
                uri: this.config.uri,
                pool: args.network.pool.name,
                poolUuid: args.network.pool.uuid,
                name: volumeNames.extra(node.name, volume.name),
                capacityBytes: volume.sizeGiB * GiB,
                domain: domainName(ctx.lab.name, node.name),
                sizeKey: `${node.configPath}.volumes[${volumeIndex}].sizeGiB`,
            },
            { parent: ctx.parent },
        );
        return { volume: v, serial: volume.name };
    }

    createNode(ctx: BackendContext, name: string, args: NodeArgs<LibvirtNet, LibvirtImage, LibvirtVolume>): LabNode {
        const cfg = this.config;
        const { node, image, network, privateAddress } = args;
        const lab = ctx.lab;
        const opts = { parent: ctx.parent };
        const pool = network.pool.name;
        const poolUuid = network.pool.uuid;
        const dom = domainName(lab.name, node.name);
        const mac = macAddress(lab.name, node.name);
        const sshPort = cfg.sshForwardBasePort + node.index;
        const target = parseUri(cfg.uri);
        const hypervisorSsh = hypervisorSshFor(cfg.uri);

        const root = new Volume(
            `${name}-root`,
            {
                uri: cfg.uri,
                pool,
                poolUuid,
                name: volumeNames.root(node.name),
                capacityBytes: node.rootDiskGiB * GiB,
                backing: pulumi
                    .all([image.base.path, image.base.format, image.base.capacityBytes])
                    .apply(([path, format, capacityBytes]) => ({ path, format, capacityBytes })),
                domain: dom,
                sizeKey: `${node.configPath}.rootDiskGiB`,
            },
            opts,
        );
        const seed = new SeedVolume(
            `${name}-cidata`,
            {
                uri: cfg.uri,
                pool,
                poolUuid,
                name: volumeNames.seed(node.name),
                userData: args.userData,
                networkConfig: renderNetworkConfig({
                    mac,
                    address: privateAddress,
                    cidr: lab.network.cidr,
                    gateway: gatewayAddress(lab.network.cidr),
                    dns: cfg.networkMode === "nat" ? gatewayAddress(lab.network.cidr) : userModeDnsAddress(lab.network.cidr),
                }),
                vendorData: renderVendorData(readyCommand(node)),
                hostname: node.name,
                instanceIdPrefix: dom,
            },
            opts,
        );

        const xml = pulumi
            .all([
                root.path,
                seed.path,
                pulumi.all(args.volumes.map((v) => v.volume.path)),
                image.artifact,
                (image.kernel ?? pulumi.output(undefined)).apply((v) => v?.path),
                (image.initrd ?? pulumi.output(undefined)).apply((v) => v?.path),
            ])
            .apply(([rootPath, seedPath, volumePaths, artifact, kernel, initrd]) => {
                const disks: DiskXml[] = [
                    { path: rootPath, format: "qcow2" },
                    ...volumePaths.map((path, i) => ({ path, format: "qcow2", serial: args.volumes[i]!.serial })),
                    // Last, so extra volumes are vdb, vdc, ... as on clouds; found by its label.
                    { path: seedPath, format: "raw", readonly: true },
                ];
                return renderDomainXml({
                    name: dom,
                    accelerator: cfg.accelerator,
                    arch: node.arch,
                    machineType: args.machine.machineType,
                    vcpus: node.vcpus,
                    memoryMiB: Math.round(node.memoryGiB * 1024),
                    cpu: cpuModeFor(cfg.accelerator, node.kvm),
                    bootMode: artifact.bootMode,
                    kernel: kernel ? { kernel, initrd, cmdline: artifact.cmdline } : undefined,
                    uefiLoader: cfg.uefiLoader,
                    uefiVarsTemplate: cfg.uefiVarsTemplate,
                    disks,
                    nic:
                        cfg.networkMode === "nat"
                            ? { kind: "network", network: labResourceName(lab.name), mac }
                            : { kind: "user", mac, netdev: userNetdev({ cidr: lab.network.cidr, address: privateAddress, sshPort }) },
                    serialLog: serialLogPath(cfg.serialLogDir, lab.name, node.name),
                    owner: { stack: ctx.stack, lab: lab.name, node: node.name },
                });
            });

        const domain = new Domain(
            name,
            {
                uri: cfg.uri,
                name: dom,
                xml,
                // One XML string: unknown at preview until the expiry is known (a first `up`).
                tagsXml: pulumi.output(nodeTags(ctx.tags, node)).apply(renderTagsXml),
                metadataUri: METADATA_URI,
                serialLog: serialLogPath(cfg.serialLogDir, lab.name, node.name),
                hypervisorSsh: hypervisorSsh?.args ?? [],
                // Only when the URI names one: state written without it keeps meaning `ssh`.
                ...(hypervisorSsh && hypervisorSsh.command !== "ssh" ? { hypervisorSshCommand: hypervisorSsh.command } : {}),
                nodeName: node.name,
                kvm: node.kvm,
                readyMarker: READY_MARKER,
                readyTimeoutSeconds: cfg.readyTimeoutSeconds,
                restartOn: pulumi.all([
                    root.generation,
                    seed.instanceId,
                    ...args.volumes.map((v) => v.volume.generation),
                    ...(network.network ? [network.network.generation] : []),
                ]),
            },
            // The boot files are volumes the domain reads: delete it before them.
            {
                ...opts,
                dependsOn: pulumi
                    .all([image.kernel ?? pulumi.output(undefined), image.initrd ?? pulumi.output(undefined)])
                    .apply((vs) => vs.filter((v): v is ImageVolume => v !== undefined)),
            },
        );

        const nat = cfg.networkMode === "nat";
        return {
            resource: domain,
            sshHost: pulumi.output(nat ? privateAddress : "127.0.0.1"),
            sshPort: pulumi.output(nat ? 22 : sshPort),
            sshProxyJump: pulumi.output(proxyJumpFor(target)),
            privateAddress: pulumi.output(privateAddress),
            ready: domain.ready,
        };
    }
}

export const factory: BackendFactory = {
    kind: "libvirt",
    configKey: CONFIG_KEY,
    fromConfig(raw: unknown) {
        return new LibvirtBackend(parseLibvirtConfig(raw));
    },
};
