/**
 * The azure-x86_64 stack as `pulumi up` would wire it, under mocks that answer like Azure
 * (names, IDs, endpoints, addresses): every link of the image chain, the user-data field
 * (base64, secret), the admin key, the readiness check per node, and the stack outputs.
 */
import { describe, expect, it } from "vitest";
import { galleryImageVersionName, resourceGroupName, storageAccountName } from "../providers/azure/names";
import { revealValue } from "../scripts/offline";
import { namedKeys, readyCommands } from "./support/fakeCloud";
import { fixedVhd, oneOf, useStackRun, type Any } from "./support/stackRun";

const STACK = "azure-x86_64";
const RG = resourceGroupName("kvm-azure", STACK);
const SUB = "00000000-0000-0000-0000-000000000000";
const RG_ID = `/subscriptions/${SUB}/resourceGroups/${RG}`;
const SHA = "9f".repeat(32);
const EXPIRES = "2026-11-24T18:00:00Z";
const ACCOUNT = storageAccountName(SUB, "kvm-azure", STACK);
const SAS = "sv=2022-11-02&sr=b&sp=rcwd&sig=abc";
const USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v alice@laptop";

const sasCalls: Record<string, unknown>[] = [];

const get = (type: string, name: string) => oneOf(run.resources, type, name);
const inputsOf = (type: string, name: string): Any => revealValue(get(type, name).inputs);

/** What Azure answers for each resource: ARM IDs, the names given, endpoints and addresses. */
function azureState(args: { type: string; name: string; inputs: Record<string, Any> }): { id: string; state: Record<string, unknown> } | undefined {
    const i = args.inputs;
    const arm = (provider: string, name: string) => `${RG_ID}/providers/${provider}/${name}`;
    const nodeIp: Record<string, string> = { "node-1-ip": "198.51.100.11", "node-2-ip": "198.51.100.12" };
    switch (args.type) {
        case "azure-native:resources:ResourceGroup":
            return { id: RG_ID, state: { ...i, name: i.resourceGroupName } };
        case "azure-native:storage:StorageAccount":
            return {
                id: arm("Microsoft.Storage/storageAccounts", i.accountName),
                state: { ...i, name: i.accountName, primaryEndpoints: { blob: `https://${i.accountName}.blob.core.windows.net/` } },
            };
        case "azure-native:storage:BlobContainer":
            return { id: arm("Microsoft.Storage/storageAccounts", `${i.accountName}/blobServices/default/containers/${i.containerName}`), state: { ...i, name: i.containerName } };
        case "azure-native:compute:Gallery":
            return { id: arm("Microsoft.Compute/galleries", i.galleryName), state: { ...i, name: i.galleryName } };
        case "azure-native:compute:GalleryImage":
            return { id: arm("Microsoft.Compute/galleries", `${i.galleryName}/images/${i.galleryImageName}`), state: { ...i, name: i.galleryImageName } };
        case "azure-native:compute:GalleryImageVersion":
            return {
                id: arm("Microsoft.Compute/galleries", `${i.galleryName}/images/${i.galleryImageName}/versions/${i.galleryImageVersionName}`),
                state: { ...i, name: i.galleryImageVersionName },
            };
        case "azure-native:network:VirtualNetwork":
            return { id: arm("Microsoft.Network/virtualNetworks", i.virtualNetworkName), state: { ...i, name: i.virtualNetworkName } };
        case "azure-native:network:Subnet":
            return { id: arm("Microsoft.Network/virtualNetworks", `${i.virtualNetworkName}/subnets/${i.subnetName}`), state: { ...i, name: i.subnetName } };
        case "azure-native:network:NetworkSecurityGroup":
            return { id: arm("Microsoft.Network/networkSecurityGroups", i.networkSecurityGroupName), state: { ...i, name: i.networkSecurityGroupName } };
        case "azure-native:network:PublicIPAddress":
            return { id: arm("Microsoft.Network/publicIPAddresses", i.publicIpAddressName), state: { ...i, name: i.publicIpAddressName, ipAddress: nodeIp[i.publicIpAddressName] } };
        case "azure-native:network:NetworkInterface":
            return { id: arm("Microsoft.Network/networkInterfaces", i.networkInterfaceName), state: { ...i, name: i.networkInterfaceName } };
        case "azure-native:compute:Disk":
            return { id: arm("Microsoft.Compute/disks", i.diskName), state: { ...i, name: i.diskName } };
        case "azure-native:compute:VirtualMachine":
            return { id: arm("Microsoft.Compute/virtualMachines", i.vmName), state: { ...i, name: i.vmName } };
        default:
            return undefined;
    }
}

const run = useStackRun({
    stack: STACK,
    artifact: { file: "nixos-x86_64.vhd", content: fixedVhd(), format: "vhd", arch: "x86_64", bootMode: "uefi", sha256: SHA },
    expiresAt: EXPIRES,
    mode: "up",
    program: "index",
    resources: [azureState, namedKeys, readyCommands("kvm-azure")],
    calls: {
        "azure-native:storage:listStorageAccountServiceSAS": (args) => {
            sasCalls.push(args.inputs);
            return { serviceSasToken: SAS };
        },
    },
});

describe("azure-x86_64 up (mocked Azure)", () => {
    const blobName = `nixos-x86_64-${SHA}.vhd`;
    const blobUrl = `https://${ACCOUNT}.blob.core.windows.net/vhds/${blobName}`;
    const gallery = `${RG_ID}/providers/Microsoft.Compute/galleries/nixlab_kvm_azure`;
    const versionId = `${gallery}/images/nixos-x86_64/versions/${galleryImageVersionName(SHA)}`;

    it("mints one SAS for exactly the VHD blob, valid a week past the lab's expiry", () => {
        expect(sasCalls).toEqual([
            {
                accountName: ACCOUNT,
                resourceGroupName: RG,
                canonicalizedResource: `/blob/${ACCOUNT}/vhds/${blobName}`,
                resource: "b",
                permissions: "rcwd",
                protocols: "https",
                sharedAccessExpiryTime: "2026-12-01T18:00:00Z",
            },
        ]);
    });

    it("links the image chain: file → page blob → gallery version → every VM", () => {
        expect(inputsOf("pulumi-nodejs:dynamic/nixlab:AzurePageBlob", "kvm-azure-image-x86_64-vhd")).toMatchObject({
            url: blobUrl,
            sas: SAS,
            path: run.artifactPath,
            hash: SHA,
        });
        // The SAS travels as a secret.
        expect(JSON.stringify(get("pulumi-nodejs:dynamic/nixlab:AzurePageBlob", "kvm-azure-image-x86_64-vhd").inputs.sas)).toContain("1b47061264138c4ac30d75fd1eb44270");
        expect(inputsOf("azure-native:compute:GalleryImage", "kvm-azure-image-x86_64-definition")).toMatchObject({
            galleryName: "nixlab_kvm_azure",
            resourceGroupName: RG,
        });
        expect(inputsOf("azure-native:compute:GalleryImageVersion", "kvm-azure-image-x86_64")).toMatchObject({
            galleryName: "nixlab_kvm_azure",
            galleryImageName: "nixos-x86_64",
            galleryImageVersionName: galleryImageVersionName(SHA),
            storageProfile: {
                osDiskImage: { hostCaching: "ReadWrite", source: { storageAccountId: `${RG_ID}/providers/Microsoft.Storage/storageAccounts/${ACCOUNT}`, uri: blobUrl } },
            },
        });
        for (const node of ["node-1", "node-2"]) {
            expect(inputsOf("azure-native:compute:VirtualMachine", `kvm-azure-${node}`).storageProfile.imageReference).toEqual({ id: versionId });
        }
    });

    it("passes the cloud-config as base64 customData, secret, with the lab user's key and no password", () => {
        for (const node of ["node-1", "node-2"]) {
            const raw = get("azure-native:compute:VirtualMachine", `kvm-azure-${node}`).inputs;
            expect(JSON.stringify(raw.osProfile)).toContain("1b47061264138c4ac30d75fd1eb44270");
            const os: Any = revealValue(raw.osProfile);
            expect(Object.keys(os).sort()).toEqual(["adminUsername", "computerName", "customData", "linuxConfiguration"]);
            expect(os.computerName).toBe(node);
            expect(os.adminUsername).toBe("lab");
            expect(os.linuxConfiguration).toEqual({
                disablePasswordAuthentication: true,
                ssh: { publicKeys: [{ path: "/home/lab/.ssh/authorized_keys", keyData: USER_KEY }] },
            });
            const cloudConfig = Buffer.from(os.customData, "base64").toString("utf8");
            expect(cloudConfig.startsWith(`#cloud-config\nhostname: ${node}\n`)).toBe(true);
            expect(cloudConfig).toContain(`ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    kvm-azure-${node}-host-ed25519\n`);
            expect(cloudConfig).toContain("ssh_pwauth: false");
        }
    });

    it("wires each NIC to the subnet, its public IP and its fixed address; disks to their LUNs", () => {
        const subnet = `${RG_ID}/providers/Microsoft.Network/virtualNetworks/kvm-azure-vnet/subnets/nodes`;
        for (const [i, node] of ["node-1", "node-2"].entries()) {
            expect(inputsOf("azure-native:network:NetworkInterface", `kvm-azure-${node}-nic`).ipConfigurations[0]).toMatchObject({
                subnet: { id: subnet },
                privateIPAddress: `10.79.0.${10 + i}`,
                publicIPAddress: { id: `${RG_ID}/providers/Microsoft.Network/publicIPAddresses/${node}-ip` },
            });
            const vm = inputsOf("azure-native:compute:VirtualMachine", `kvm-azure-${node}`);
            expect(vm.networkProfile).toEqual({ networkInterfaces: [{ id: `${RG_ID}/providers/Microsoft.Network/networkInterfaces/${node}-nic`, primary: true }] });
            expect(vm.storageProfile.dataDisks).toEqual([
                { lun: 0, createOption: "Attach", managedDisk: { id: `${RG_ID}/providers/Microsoft.Compute/disks/${node}-scratch` }, deleteOption: "Detach" },
            ]);
        }
        expect(inputsOf("azure-native:network:Subnet", "kvm-azure-net-subnet").networkSecurityGroup).toEqual({
            id: `${RG_ID}/providers/Microsoft.Network/networkSecurityGroups/kvm-azure-nsg`,
        });
    });

    it("checks readiness over SSH on each node's public address, re-run when the VM is replaced", () => {
        for (const [i, node] of ["node-1", "node-2"].entries()) {
            const check = inputsOf("command:remote:Command", `kvm-azure-${node}-ready`);
            expect(check.connection).toMatchObject({ host: `198.51.100.${11 + i}`, port: 22, user: "lab" });
            // The node's own generated host key, pinned (namedKeys answers with the key's name).
            expect(check.connection.hostKey).toBe(`ssh-ed25519 AAAAkvmazure${node.replace(/-/g, "")}hosted25519\n`);
            expect(check.connection.privateKey).toContain("kvm-azure-operator-key");
            expect(check.triggers).toEqual([`${RG_ID}/providers/Microsoft.Compute/virtualMachines/${node}`]);
            expect(check.create).toContain('"$ci" status --wait');
            expect(check.create).toContain("if [ -c /dev/kvm ]; then kvm=ok;");
        }
    });

    it("reports per node what the local backend reports, ready included", () => {
        const nodes = run.outputs.nodes as Record<string, Any>;
        expect(Object.keys(nodes)).toEqual(["node-1", "node-2"]);
        expect(nodes["node-1"]).toMatchObject({
            name: "node-1",
            machineType: "Standard_D4s_v5",
            privateAddress: "10.79.0.10",
            sshHost: "198.51.100.11",
            sshPort: 22,
            user: "lab",
            ready: "NIXLAB-READY node=node-1 kvm=ok cloud-init-rc=0",
        });
        expect(nodes["node-1"]).not.toHaveProperty("proxyJump");
        expect(nodes["node-2"].ready).toBe("NIXLAB-READY node=node-2 kvm=ok cloud-init-rc=0");
        expect(run.outputs.backendKind).toBe("azure");
    });
});
