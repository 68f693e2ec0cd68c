/**
 * The Azure resources of a lab. Everything lives in one resource group named from the lab,
 * so `pulumi destroy` (or deleting the group) leaves nothing behind.
 *
 * Submodule imports only: the package root of @pulumi/azure-native loads every Azure
 * service module (hundreds), which costs seconds of tsc and start-up time.
 */
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import { Provider } from "@pulumi/azure-native/provider";
import * as resources from "@pulumi/azure-native/resources";
import * as storage from "@pulumi/azure-native/storage";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import type { BackendContext, LabNode, NodeArgs, VolumeArgs } from "../../components/backend";
import { sshReadiness } from "../../components/ready";
import type { Arch, LabSpec } from "../../components/spec";
import { nodeTags, TAG_KEYS } from "../../components/tags";
import { instanceTimeouts } from "../../components/timeouts";
import type { ImageArtifact } from "../../images/artifact";
import { findAzureSize, type AzureSize } from "./catalog";
import type { AzureConfig } from "./config";
import { galleryImageName, galleryImageVersionName, galleryName, resourceGroupName, storageAccountName, vhdBlobName } from "./names";
import { azureAdminKeys } from "./place";
import { PageBlob } from "./pageblob";
import { vhdProblem } from "./vhd";

export interface AzureNet {
    provider: Provider;
    resourceGroup: resources.ResourceGroup;
    subnet: network.Subnet;
    /** Storage account, container and gallery, created with the first image and shared by all. */
    imageStore(): AzureImageStore;
}

export interface AzureImageStore {
    account: storage.StorageAccount;
    container: storage.BlobContainer;
    gallery: compute.Gallery;
}

export interface AzureImage {
    blob: PageBlob;
    definition: compute.GalleryImage;
    version: compute.GalleryImageVersion;
}

export interface AzureVolume {
    disk: compute.Disk;
    /** Data disk LUN on the VM: the volume's position among the node's volumes. */
    lun: number;
}

type Opts = pulumi.CustomResourceOptions;

/** The NSG's inbound rules: SSH from the configured CIDRs only, anything inside the lab, nothing else. */
export function securityRules(lab: LabSpec): network.NetworkSecurityGroupArgs["securityRules"] {
    const cidr = lab.network.cidr;
    const ssh = lab.network.sshIngressCidrs;
    return [
        ...(ssh.length > 0
            ? [
                  {
                      name: "ssh-from-allowed-cidrs",
                      description: "SSH from nixlab:lab.network.sshIngressCidrs",
                      priority: 100,
                      direction: "Inbound",
                      access: "Allow",
                      protocol: "Tcp",
                      sourceAddressPrefixes: ssh,
                      sourcePortRange: "*",
                      destinationAddressPrefix: cidr,
                      destinationPortRange: "22",
                  },
              ]
            : []),
        {
            name: "lab-internal",
            description: "Any traffic between the lab's nodes",
            priority: 200,
            direction: "Inbound",
            access: "Allow",
            protocol: "*",
            sourceAddressPrefix: cidr,
            sourcePortRange: "*",
            destinationAddressPrefix: cidr,
            destinationPortRange: "*",
        },
        // Azure's default rules (65000+) also admit the whole VirtualNetwork tag and load
        // balancer probes; this one makes the two rules above the complete inbound policy.
        {
            name: "deny-other-inbound",
            description: "Nothing else reaches the lab",
            priority: 4096,
            direction: "Inbound",
            access: "Deny",
            protocol: "*",
            sourceAddressPrefix: "*",
            sourcePortRange: "*",
            destinationAddressPrefix: "*",
            destinationPortRange: "*",
        },
    ];
}

export function createAzureNetwork(cfg: AzureConfig, ctx: BackendContext, name: string): AzureNet {
    const lab = ctx.lab.name;
    const provider = new Provider(`${name}-provider`, { subscriptionId: cfg.subscriptionId, location: cfg.location }, { parent: ctx.parent });
    const opts: Opts = { parent: ctx.parent, provider };
    const common = { location: cfg.location, tags: ctx.tags };

    const resourceGroup = new resources.ResourceGroup(`${name}-rg`, { resourceGroupName: resourceGroupName(lab, ctx.stack), ...common }, opts);
    const inRg = { resourceGroupName: resourceGroup.name, ...common };
    const nsg = new network.NetworkSecurityGroup(
        `${name}-nsg`,
        { networkSecurityGroupName: `${lab}-nsg`, securityRules: securityRules(ctx.lab), ...inRg },
        opts,
    );
    const vnet = new network.VirtualNetwork(
        name,
        { virtualNetworkName: `${lab}-vnet`, addressSpace: { addressPrefixes: [ctx.lab.network.cidr] }, ...inRg },
        opts,
    );
    // Subnets are not taggable in ARM (no tags property), so none are passed. A separate
    // Subnet survives updates of the VNet (tags change when the lab's expiry moves): the
    // provider keeps subnets a VNet does not list (pulumi/pulumi-azure-native#611).
    const subnet = new network.Subnet(
        `${name}-subnet`,
        {
            resourceGroupName: resourceGroup.name,
            virtualNetworkName: vnet.name,
            subnetName: "nodes",
            addressPrefix: ctx.lab.network.cidr,
            networkSecurityGroup: { id: nsg.id },
        },
        opts,
    );

    let store: AzureImageStore | undefined;
    const imageStore = (): AzureImageStore => (store ??= createImageStore(cfg, ctx, name, resourceGroup, opts));
    return { provider, resourceGroup, subnet, imageStore };
}

function createImageStore(cfg: AzureConfig, ctx: BackendContext, netName: string, rg: resources.ResourceGroup, opts: Opts): AzureImageStore {
    const lab = ctx.lab.name;
    const account = new storage.StorageAccount(
        `${netName}-images`,
        {
            accountName: storageAccountName(cfg.subscriptionId, lab, ctx.stack),
            resourceGroupName: rg.name,
            location: cfg.location,
            kind: "StorageV2",
            sku: { name: "Standard_LRS" },
            // Azure Storage encrypts all data at rest and it cannot be switched off
            // (learn.microsoft.com/azure/storage/common/storage-service-encryption); stated
            // here so the plan and the policy pack see it.
            encryption: { keySource: "Microsoft.Storage", services: { blob: { enabled: true, keyType: "Account" } } },
            enableHttpsTrafficOnly: true,
            minimumTlsVersion: "TLS1_2",
            allowBlobPublicAccess: false,
            allowCrossTenantReplication: false,
            // The VHD upload uses a service SAS, which ARM signs with the account key.
            allowSharedKeyAccess: true,
            tags: ctx.tags,
        },
        opts,
    );
    // Containers and blobs are data-plane objects: ARM tags do not apply to them.
    const container = new storage.BlobContainer(
        `${netName}-images-container`,
        { accountName: account.name, resourceGroupName: rg.name, containerName: "vhds", publicAccess: "None" },
        opts,
    );
    const gallery = new compute.Gallery(
        `${netName}-gallery`,
        {
            galleryName: galleryName(lab),
            resourceGroupName: rg.name,
            location: cfg.location,
            description: `NixOS images of nixlab lab ${lab}`,
            tags: ctx.tags,
        },
        opts,
    );
    return { account, container, gallery };
}

/**
 * What Azure needs from the artifact, checked when it is known: a fixed VHD (checked from its
 * footer when the file is on this machine) that boots with UEFI, since nodes are generation 2.
 */
export function checkAzureArtifact(a: ImageArtifact, arch: Arch): ImageArtifact {
    const problems: string[] = [];
    if (a.arch !== arch) problems.push(`it is built for ${a.arch}, but the nodes using it are ${arch}`);
    if (a.format !== "vhd") problems.push(`its format is ${a.format}; Azure imports fixed VHDs only`);
    if (a.bootMode !== "uefi") problems.push(`it boots with ${a.bootMode}; Azure nodes are Hyper-V generation 2 and need UEFI`);
    if (a.format === "vhd" && fs.existsSync(a.path)) {
        const vhd = vhdProblem(a.path);
        if (vhd) problems.push(vhd);
    }
    if (problems.length > 0) throw new Error(`nixlab: the ${arch} image ${a.path} cannot be used on Azure: ${problems.join("; ")}`);
    return a;
}

/** SAS expiry: a week after the lab's expiry (RFC 3339, second precision as ARM wants it). */
export function sasExpiry(labExpiresAt: string | undefined): string {
    const base = labExpiresAt ? Date.parse(labExpiresAt) : NaN;
    if (Number.isNaN(base)) throw new Error(`nixlab: lab expiry ${String(labExpiresAt)} is not a time`);
    return new Date(base + 7 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function createAzureImage(
    cfg: AzureConfig,
    ctx: BackendContext,
    name: string,
    args: { arch: Arch; artifact: pulumi.Output<ImageArtifact>; network: AzureNet },
): AzureImage {
    const { arch, network: net } = args;
    const store = net.imageStore();
    const opts: Opts = { parent: ctx.parent, provider: net.provider };
    const rgName = net.resourceGroup.name;
    const artifact = args.artifact.apply((a) => checkAzureArtifact(a, arch));

    // Gallery versions are made from page-blob VHDs only; see pageblob.ts for why this is
    // not storage.Blob. The blob name carries the content hash.
    const blobName = artifact.apply((a) => vhdBlobName(arch, a.hash));
    const url = pulumi
        .all([store.account.primaryEndpoints, store.container.name, blobName])
        .apply(([endpoints, container, blob]) => `${endpoints.blob.replace(/\/$/, "")}/${container}/${blob}`);
    const sas = storage.listStorageAccountServiceSASOutput(
        {
            accountName: store.account.name,
            resourceGroupName: rgName,
            canonicalizedResource: pulumi.interpolate`/blob/${store.account.name}/${store.container.name}/${blobName}`,
            resource: "b",
            // read, create, write, delete: upload, and delete on replacement or destroy.
            permissions: "rcwd",
            protocols: "https",
            // Valid until a week after the lab expires, so a destroy at expiry can still delete it.
            sharedAccessExpiryTime: pulumi.output(ctx.tags[TAG_KEYS.expiresAt]!).apply(sasExpiry),
        },
        { parent: ctx.parent, provider: net.provider },
    );
    const blob = new PageBlob(
        `${name}-vhd`,
        {
            url,
            sas: pulumi.secret(sas.serviceSasToken),
            path: artifact.apply((a) => a.path),
            hash: artifact.apply((a) => a.hash),
        },
        { parent: ctx.parent, dependsOn: [store.container] },
    );
    const definition = new compute.GalleryImage(
        `${name}-definition`,
        {
            galleryName: store.gallery.name,
            galleryImageName: galleryImageName(arch),
            resourceGroupName: rgName,
            location: cfg.location,
            osType: "Linux",
            // cloud-init provisions the node (hostname, users, keys): a generalized image.
            osState: "Generalized",
            hyperVGeneration: "V2",
            architecture: arch === "aarch64" ? "Arm64" : "x64",
            identifier: { publisher: "nixlab", offer: ctx.lab.name, sku: galleryImageName(arch) },
            // Features cannot change once the definition exists, so they allow every size the
            // catalog may pick: Trusted Launch or not (ACD trusted-launch-portal.md: VHD sources
            // use SecurityType=TrustedLaunchSupported) and SCSI or NVMe disks (v6 sizes are NVMe-only).
            features: [
                { name: "SecurityType", value: "TrustedLaunchSupported" },
                { name: "DiskControllerTypes", value: "SCSI, NVMe" },
                { name: "IsAcceleratedNetworkSupported", value: "True" },
            ],
            description: `NixOS for ${arch}, built by nixlab`,
            tags: ctx.tags,
        },
        opts,
    );
    const version = new compute.GalleryImageVersion(
        name,
        {
            galleryName: store.gallery.name,
            galleryImageName: definition.name,
            galleryImageVersionName: artifact.apply((a) => galleryImageVersionName(a.hash)),
            resourceGroupName: rgName,
            location: cfg.location,
            publishingProfile: {
                // One replica in the lab's region: the lab is its only user.
                replicaCount: 1,
                storageAccountType: "Standard_LRS",
                targetRegions: [{ name: cfg.location, regionalReplicaCount: 1, storageAccountType: "Standard_LRS" }],
            },
            storageProfile: { osDiskImage: { hostCaching: "ReadWrite", source: { storageAccountId: store.account.id, uri: blob.url } } },
            tags: ctx.tags,
        },
        opts,
    );
    return { blob, definition, version };
}

export function createAzureVolume(cfg: AzureConfig, ctx: BackendContext, name: string, args: VolumeArgs<AzureNet>): AzureVolume {
    const { node, volume, network: net } = args;
    const disk = new compute.Disk(
        name,
        {
            diskName: `${node.name}-${volume.name}`,
            resourceGroupName: net.resourceGroup.name,
            location: cfg.location,
            zones: cfg.zone ? [cfg.zone] : undefined,
            creationData: { createOption: "Empty" },
            diskSizeGB: volume.sizeGiB,
            sku: { name: cfg.diskType },
            // Managed disks are always encrypted at rest, with platform-managed keys unless a
            // disk encryption set says otherwise (ACD articles/virtual-machines/disk-encryption.md);
            // stated so the plan shows it. OS disks get the same default.
            encryption: { type: "EncryptionAtRestWithPlatformKey" },
            // No SAS export or import of the disk's contents.
            networkAccessPolicy: "DenyAll",
            publicNetworkAccess: "Disabled",
            tags: nodeTags(ctx.tags, node),
        },
        { parent: ctx.parent, provider: net.provider },
    );
    return { disk, lun: args.volumeIndex };
}

/** Trusted Launch with Secure Boot off where the size has it; NixOS's boot chain is not signed. */
export function securityProfile(size: AzureSize, cfg: AzureConfig): compute.VirtualMachineArgs["securityProfile"] {
    const atHost = cfg.encryptionAtHost ? { encryptionAtHost: true } : {};
    if (!size.series.trustedLaunch) {
        // Omitted securityType on a size without Trusted Launch means a Standard VM.
        return cfg.encryptionAtHost ? atHost : undefined;
    }
    // Not `securityType: Standard`: that needs the subscription feature
    // Microsoft.Compute/UseStandardSecurityType. Trusted Launch with Secure Boot disabled works
    // everywhere and keeps the vTPM; nixpkgs notes Azure Gen2 images need Secure Boot off.
    return { securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: false, vTpmEnabled: true }, ...atHost };
}

export function createAzureNode(cfg: AzureConfig, ctx: BackendContext, name: string, args: NodeArgs<AzureNet, AzureImage, AzureVolume>): LabNode {
    const { node, network: net } = args;
    const lab = ctx.lab;
    const size = findAzureSize(args.machine.machineType);
    if (!size) throw new Error(`nixlab: ${args.machine.machineType} is not in the Azure catalog (place() should have refused it)`);
    const opts: Opts = { parent: ctx.parent, provider: net.provider };
    const tags = nodeTags(ctx.tags, node);
    const inRg = { resourceGroupName: net.resourceGroup.name, location: cfg.location, tags };

    const publicIp = lab.network.publicAddresses
        ? new network.PublicIPAddress(
              `${name}-ip`,
              {
                  publicIpAddressName: `${node.name}-ip`,
                  // Standard IPs are closed until an NSG allows traffic; Static so ssh_config stays valid.
                  sku: { name: "Standard", tier: "Regional" },
                  publicIPAllocationMethod: "Static",
                  publicIPAddressVersion: "IPv4",
                  ...inRg,
              },
              opts,
          )
        : undefined;
    const nic = new network.NetworkInterface(
        `${name}-nic`,
        {
            networkInterfaceName: `${node.name}-nic`,
            enableAcceleratedNetworking: size.series.acceleratedNetworking === "required",
            ipConfigurations: [
                {
                    name: "primary",
                    primary: true,
                    subnet: { id: net.subnet.id },
                    privateIPAllocationMethod: "Static",
                    privateIPAddress: args.privateAddress,
                    privateIPAddressVersion: "IPv4",
                    publicIPAddress: publicIp ? { id: publicIp.id } : undefined,
                },
            ],
            ...inRg,
        },
        opts,
    );
    const vm = new compute.VirtualMachine(
        name,
        {
            vmName: node.name,
            zones: cfg.zone ? [cfg.zone] : undefined,
            hardwareProfile: { vmSize: size.name },
            osProfile: {
                computerName: node.name,
                adminUsername: lab.user.name,
                // customData, not userData: it is handed to cloud-init once, kept root-only on the
                // VM and never served by IMDS. Azure takes it base64-encoded.
                customData: pulumi.secret(args.userData.apply((u) => Buffer.from(u, "utf8").toString("base64"))),
                linuxConfiguration: {
                    disablePasswordAuthentication: true,
                    // Azure requires a key when password login is off; cloud-init authorizes the rest.
                    ssh: {
                        publicKeys: azureAdminKeys(lab).map((keyData) => ({ path: `/home/${lab.user.name}/.ssh/authorized_keys`, keyData })),
                    },
                },
            },
            storageProfile: {
                imageReference: { id: args.image.version.id },
                osDisk: {
                    name: `${node.name}-os`,
                    createOption: "FromImage",
                    caching: "ReadWrite",
                    diskSizeGB: node.rootDiskGiB,
                    managedDisk: { storageAccountType: cfg.diskType },
                    // The OS disk is not a Pulumi resource; without this it outlives the VM.
                    deleteOption: "Delete",
                },
                dataDisks: args.volumes.map((v) => ({ lun: v.lun, createOption: "Attach", managedDisk: { id: v.disk.id }, deleteOption: "Detach" })),
                diskControllerType: size.series.diskController,
            },
            networkProfile: { networkInterfaces: [{ id: nic.id, primary: true }] },
            securityProfile: securityProfile(size, cfg),
            // The serial log (managed storage) is where a node that never gets ready explains why.
            diagnosticsProfile: { bootDiagnostics: { enabled: true } },
            ...inRg,
        },
        {
            ...opts,
            // Azure cannot change a VM's osProfile (customData, admin user, keys) or source image
            // after creation; a new cloud-config or image means a new VM, as on other clouds.
            replaceOnChanges: ["osProfile", "storageProfile.imageReference"],
            // The replacement has the same vmName, OS disk name, NIC and data disks: Azure
            // would update the old VM in place under that name (or refuse the NIC and disks
            // in use), so the old VM must be deleted first.
            deleteBeforeReplace: true,
            customTimeouts: instanceTimeouts(false),
        },
    );

    const sshHost = publicIp ? publicAddress(publicIp, name) : pulumi.output(args.privateAddress);
    const ready = sshReadiness(
        `${name}-ready`,
        { node, host: sshHost, user: lab.user.name, privateKey: args.operatorPrivateKey, hostPublicKey: args.hostPublicKey, triggers: [vm.id] },
        { parent: ctx.parent, dependsOn: [vm] },
    );
    return { resource: vm, sshHost, sshPort: pulumi.output(22), privateAddress: pulumi.output(args.privateAddress), ready };
}

function publicAddress(ip: network.PublicIPAddress, name: string): pulumi.Output<string> {
    return ip.ipAddress.apply((a) => {
        if (!a) throw new Error(`nixlab: public IP ${name}-ip has no address after creation`);
        return a;
    });
}

