/**
 * `npm run plan -- --stack azure-x86_64`, in-process: the real program (index.ts) on the
 * real stack file, under mocks in preview mode. Two things are swapped so it runs offline
 * and stays stable: the image is a prebuilt fixed VHD (no Nix build) and the lab has a
 * fixed expiry (tags are known in the plan). Asserts the graph, the size and KVM setting,
 * the image chain, tags on every taggable resource, the NSG rules, and keeps a snapshot.
 */
import { describe, expect, it } from "vitest";
import { galleryImageVersionName, storageAccountName } from "../providers/azure/names";
import { fixedVhd, ofType, oneOf, planInputs as inputs, planSnapshot, providerRecorder, useStackRun } from "./support/stackRun";

const STACK = "azure-x86_64";
const SHA = "4c".repeat(32);
const EXPIRES = "2026-11-24T18:00:00Z";
const LAB_TAGS = { "nixlab:lab": "kvm-azure", "nixlab:owner": "alice@example.com", "nixlab:stack": STACK, "nixlab:expires-at": EXPIRES };

const providers = providerRecorder();

const run = useStackRun({
    stack: STACK,
    artifact: { file: "nixos-x86_64.vhd", content: fixedVhd(), format: "vhd", arch: "x86_64", bootMode: "uefi", sha256: SHA },
    expiresAt: EXPIRES,
    mode: "preview",
    program: "index",
    calls: {},
    resources: [providers.handler],
});

const byType = (t: string) => ofType(run.plan.resources, t);
const one = (t: string, name: string) => inputs(oneOf(run.plan.resources, t, name));

describe("azure-x86_64 plan", () => {
    it("shows the whole graph, each resource once, under the Lab", () => {
        const names = run.plan.resources.map((r) => `${r.type} ${r.name}`).sort();
        expect(names).toEqual(
            [
                "azure-native:compute:Disk kvm-azure-node-1-scratch",
                "azure-native:compute:Disk kvm-azure-node-2-scratch",
                "azure-native:compute:Gallery kvm-azure-net-gallery",
                "azure-native:compute:GalleryImage kvm-azure-image-x86_64-definition",
                "azure-native:compute:GalleryImageVersion kvm-azure-image-x86_64",
                "azure-native:compute:VirtualMachine kvm-azure-node-1",
                "azure-native:compute:VirtualMachine kvm-azure-node-2",
                "azure-native:network:NetworkInterface kvm-azure-node-1-nic",
                "azure-native:network:NetworkInterface kvm-azure-node-2-nic",
                "azure-native:network:NetworkSecurityGroup kvm-azure-net-nsg",
                "azure-native:network:PublicIPAddress kvm-azure-node-1-ip",
                "azure-native:network:PublicIPAddress kvm-azure-node-2-ip",
                "azure-native:network:Subnet kvm-azure-net-subnet",
                "azure-native:network:VirtualNetwork kvm-azure-net",
                "azure-native:resources:ResourceGroup kvm-azure-net-rg",
                "azure-native:storage:BlobContainer kvm-azure-net-images-container",
                "azure-native:storage:StorageAccount kvm-azure-net-images",
                "command:remote:Command kvm-azure-node-1-ready",
                "command:remote:Command kvm-azure-node-2-ready",
                "nixlab:index:Lab kvm-azure",
                "pulumi-nodejs:dynamic/nixlab:AzurePageBlob kvm-azure-image-x86_64-vhd",
                "pulumi:providers:azure-native kvm-azure-net-provider",
                "tls:index/privateKey:PrivateKey kvm-azure-node-1-host-ed25519",
                "tls:index/privateKey:PrivateKey kvm-azure-node-2-host-ed25519",
                "tls:index/privateKey:PrivateKey kvm-azure-operator-key",
            ].sort(),
        );
        for (const r of run.plan.resources) expect(r.parent, r.name).toBe(r.type === "nixlab:index:Lab" ? null : "kvm-azure");
    });

    it("creates every azure-native resource through the explicit provider, no other through it", () => {
        const explicit = `urn:pulumi:${STACK}::nixlab::nixlab:index:Lab$pulumi:providers:azure-native::kvm-azure-net-provider::`;
        const cloud = run.plan.resources.filter((r) => r.type.startsWith("azure-native:"));
        expect(cloud).toHaveLength(17);
        for (const r of cloud) expect(providers.of(r), r.name).toContain(explicit);
        for (const r of run.plan.resources.filter((r) => !r.type.startsWith("azure-native:"))) expect(providers.of(r) ?? "", r.name).not.toContain("providers:azure-native");
    });

    it("configures the explicit provider from nixlab:azure only", () => {
        expect(one("pulumi:providers:azure-native", "kvm-azure-net-provider")).toMatchObject({
            location: "westeurope",
            subscriptionId: "00000000-0000-0000-0000-000000000000",
        });
    });

    it("puts each node on Standard_D4s_v5 with Trusted Launch, Secure Boot off", () => {
        for (const node of ["node-1", "node-2"]) {
            const vm = one("azure-native:compute:VirtualMachine", `kvm-azure-${node}`);
            expect(vm.vmName).toBe(node);
            expect(vm.location).toBe("westeurope");
            expect(vm.hardwareProfile).toEqual({ vmSize: "Standard_D4s_v5" });
            expect(vm.securityProfile).toEqual({ securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: false, vTpmEnabled: true } });
            expect(vm.storageProfile).toEqual({
                imageReference: { id: "[unknown]" },
                osDisk: {
                    name: `${node}-os`,
                    createOption: "FromImage",
                    caching: "ReadWrite",
                    diskSizeGB: 40,
                    managedDisk: { storageAccountType: "Premium_LRS" },
                    deleteOption: "Delete",
                },
                dataDisks: [{ lun: 0, createOption: "Attach", managedDisk: { id: "[unknown]" }, deleteOption: "Detach" }],
                diskControllerType: "SCSI",
            });
            // The cloud-config (with the node's host key) makes the whole osProfile secret in the plan.
            expect(vm.osProfile).toBe("[secret]");
            expect(vm.diagnosticsProfile).toEqual({ bootDiagnostics: { enabled: true } });
            // Dsv5 requires accelerated networking.
            const nic = one("azure-native:network:NetworkInterface", `kvm-azure-${node}-nic`);
            expect(nic.enableAcceleratedNetworking).toBe(true);
            expect(nic.ipConfigurations).toEqual([
                {
                    name: "primary",
                    primary: true,
                    subnet: { id: "[unknown]" },
                    privateIPAllocationMethod: "Static",
                    privateIPAddress: node === "node-1" ? "10.79.0.10" : "10.79.0.11",
                    privateIPAddressVersion: "IPv4",
                    publicIPAddress: { id: "[unknown]" },
                },
            ]);
            expect(one("azure-native:network:PublicIPAddress", `kvm-azure-${node}-ip`)).toMatchObject({
                publicIpAddressName: `${node}-ip`,
                sku: { name: "Standard", tier: "Regional" },
                publicIPAllocationMethod: "Static",
            });
            expect(one("azure-native:compute:Disk", `kvm-azure-${node}-scratch`)).toMatchObject({
                diskName: `${node}-scratch`,
                diskSizeGB: 100,
                creationData: { createOption: "Empty" },
                sku: { name: "Premium_LRS" },
                encryption: { type: "EncryptionAtRestWithPlatformKey" },
                networkAccessPolicy: "DenyAll",
                publicNetworkAccess: "Disabled",
            });
        }
    });

    it("uploads the image by content: page blob → gallery image (Gen2, x64) → version named from the hash", () => {
        expect(one("pulumi-nodejs:dynamic/nixlab:AzurePageBlob", "kvm-azure-image-x86_64-vhd")).toEqual({
            path: run.artifactPath,
            hash: SHA,
            url: "[unknown]",
            sas: "[secret]",
        });
        const account = one("azure-native:storage:StorageAccount", "kvm-azure-net-images");
        expect(account).toMatchObject({
            accountName: storageAccountName("00000000-0000-0000-0000-000000000000", "kvm-azure", STACK),
            kind: "StorageV2",
            enableHttpsTrafficOnly: true,
            minimumTlsVersion: "TLS1_2",
            allowBlobPublicAccess: false,
            encryption: { keySource: "Microsoft.Storage", services: { blob: { enabled: true, keyType: "Account" } } },
        });
        expect(one("azure-native:storage:BlobContainer", "kvm-azure-net-images-container")).toMatchObject({ containerName: "vhds", publicAccess: "None" });
        expect(one("azure-native:compute:GalleryImage", "kvm-azure-image-x86_64-definition")).toMatchObject({
            galleryImageName: "nixos-x86_64",
            osType: "Linux",
            osState: "Generalized",
            hyperVGeneration: "V2",
            architecture: "x64",
            identifier: { publisher: "nixlab", offer: "kvm-azure", sku: "nixos-x86_64" },
            features: [
                { name: "SecurityType", value: "TrustedLaunchSupported" },
                { name: "DiskControllerTypes", value: "SCSI, NVMe" },
                { name: "IsAcceleratedNetworkSupported", value: "True" },
            ],
        });
        expect(one("azure-native:compute:GalleryImageVersion", "kvm-azure-image-x86_64")).toMatchObject({
            galleryImageVersionName: galleryImageVersionName(SHA),
            storageProfile: { osDiskImage: { hostCaching: "ReadWrite", source: { storageAccountId: "[unknown]", uri: "[unknown]" } } },
        });
        expect(one("azure-native:compute:Gallery", "kvm-azure-net-gallery")).toMatchObject({ galleryName: "nixlab_kvm_azure" });
    });

    it("opens SSH to the configured CIDRs only, and the lab to itself", () => {
        expect(one("azure-native:network:NetworkSecurityGroup", "kvm-azure-net-nsg").securityRules).toEqual([
            {
                name: "ssh-from-allowed-cidrs",
                description: "SSH from nixlab:lab.network.sshIngressCidrs",
                priority: 100,
                direction: "Inbound",
                access: "Allow",
                protocol: "Tcp",
                sourceAddressPrefixes: ["203.0.113.7/32"],
                sourcePortRange: "*",
                destinationAddressPrefix: "10.79.0.0/24",
                destinationPortRange: "22",
            },
            {
                name: "lab-internal",
                description: "Any traffic between the lab's nodes",
                priority: 200,
                direction: "Inbound",
                access: "Allow",
                protocol: "*",
                sourceAddressPrefix: "10.79.0.0/24",
                sourcePortRange: "*",
                destinationAddressPrefix: "10.79.0.0/24",
                destinationPortRange: "*",
            },
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
        ]);
        expect(one("azure-native:network:Subnet", "kvm-azure-net-subnet")).toMatchObject({
            subnetName: "nodes",
            addressPrefix: "10.79.0.0/24",
            networkSecurityGroup: { id: "[unknown]" },
        });
        expect(one("azure-native:network:VirtualNetwork", "kvm-azure-net")).toMatchObject({ addressSpace: { addressPrefixes: ["10.79.0.0/24"] } });
    });

    it("tags every taggable resource, and every resource type is classified", () => {
        const labTagged = [
            "azure-native:resources:ResourceGroup",
            "azure-native:network:NetworkSecurityGroup",
            "azure-native:network:VirtualNetwork",
            "azure-native:storage:StorageAccount",
            "azure-native:compute:Gallery",
            "azure-native:compute:GalleryImage",
            "azure-native:compute:GalleryImageVersion",
        ];
        const nodeTagged = [
            "azure-native:network:PublicIPAddress",
            "azure-native:network:NetworkInterface",
            "azure-native:compute:VirtualMachine",
            "azure-native:compute:Disk",
        ];
        // No `tags` in their API: subnets, containers (data plane), the upload, and non-Azure resources.
        const untaggable = [
            "azure-native:network:Subnet",
            "azure-native:storage:BlobContainer",
            "pulumi-nodejs:dynamic/nixlab:AzurePageBlob",
            "pulumi:providers:azure-native",
            "nixlab:index:Lab",
            "tls:index/privateKey:PrivateKey",
            "command:remote:Command",
        ];
        expect([...new Set(run.plan.resources.map((r) => r.type))].sort()).toEqual([...labTagged, ...nodeTagged, ...untaggable].sort());
        for (const t of labTagged) for (const r of byType(t)) expect(inputs(r).tags, r.name).toEqual(LAB_TAGS);
        for (const t of nodeTagged) {
            for (const r of byType(t)) {
                const node = /kvm-azure-(node-\d)/.exec(r.name)![1];
                expect(inputs(r).tags, r.name).toEqual({ ...LAB_TAGS, "nixlab:node": node, "nixlab:kvm": "nested" });
            }
        }
        for (const t of untaggable) for (const r of byType(t)) expect(inputs(r).tags, r.name).toBeUndefined();
    });

    it("matches the plan snapshot", async () => {
        await expect(await planSnapshot(run, "<fixtures>")).toMatchFileSnapshot("__snapshots__/plan-azure-x86_64.json");
    });
});
