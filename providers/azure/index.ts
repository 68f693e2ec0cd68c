/**
 * The Azure backend: a resource group per lab holding a VNet + NSG, a compute gallery fed
 * from a page-blob VHD, and one VM per node on a size whose documentation says nested
 * virtualization is supported. See catalog.ts for the sizes and their sources.
 */
import type { NamingScheme } from "../../components/names";
import type { Backend, BackendFactory } from "../../components/backend";
import { AZURE_CONFIG_KEY, parseAzureConfig, type AzureConfig } from "./config";
import { placeAzure } from "./place";
import {
    createAzureImage,
    createAzureNetwork,
    createAzureNode,
    createAzureVolume,
    type AzureImage,
    type AzureNet,
    type AzureVolume,
} from "./resources";

/**
 * Compute API OSProfile.customData: "The maximum length of the binary array is 65535
 * bytes" — the decoded bytes, i.e. the cloud-config before base64.
 */
export const AZURE_USER_DATA_LIMIT_BYTES = 65535;

/**
 * Child names on Azure (resources.ts). Disk names are physical and explicit: data disks are
 * `<node>-<volume>` and the OS disk `<node>-os`, all in one resource group, so a volume named
 * `os` (or node `a` with volume `b-os` beside node `a-b`) would take the OS disk's name.
 * Checked against what the program registers by test/names.test.ts.
 */
export const AZURE_NAMING: NamingScheme = {
    lab: [
        { namespace: "pulumi:providers:azure-native", suffix: "-net-provider" },
        { namespace: "azure-native:resources:ResourceGroup", suffix: "-net-rg" },
        { namespace: "azure-native:network:NetworkSecurityGroup", suffix: "-net-nsg" },
        { namespace: "azure-native:network:VirtualNetwork", suffix: "-net" },
        { namespace: "azure-native:network:Subnet", suffix: "-net-subnet" },
        { namespace: "azure-native:storage:StorageAccount", suffix: "-net-images" },
        { namespace: "azure-native:storage:BlobContainer", suffix: "-net-images-container" },
        { namespace: "azure-native:compute:Gallery", suffix: "-net-gallery" },
        { namespace: "pulumi-nodejs:dynamic/nixlab:AzurePageBlob", suffix: "-image-{arch}-vhd" },
        { namespace: "azure-native:compute:GalleryImage", suffix: "-image-{arch}-definition" },
        { namespace: "azure-native:compute:GalleryImageVersion", suffix: "-image-{arch}" },
    ],
    node: [
        { namespace: "azure-native:compute:VirtualMachine", suffix: "" },
        { namespace: "azure-native:network:PublicIPAddress", suffix: "-ip" },
        { namespace: "azure-native:network:NetworkInterface", suffix: "-nic" },
        { namespace: "command:remote:Command", suffix: "-ready" },
        { namespace: "Azure managed disk in the lab's resource group", suffix: "-os", withoutLab: true, role: "OS disk" },
    ],
    volume: [
        { namespace: "azure-native:compute:Disk", suffix: "" },
        { namespace: "Azure managed disk in the lab's resource group", suffix: "", withoutLab: true },
    ],
};

export function azureBackend(cfg: AzureConfig): Backend<AzureNet, AzureImage, AzureVolume> {
    return {
        kind: "azure",
        userDataLimitBytes: AZURE_USER_DATA_LIMIT_BYTES,
        naming: AZURE_NAMING,
        place: (lab) => placeAzure(lab),
        createNetwork: (ctx, name) => createAzureNetwork(cfg, ctx, name),
        createImage: (ctx, name, args) => createAzureImage(cfg, ctx, name, args),
        createVolume: (ctx, name, args) => createAzureVolume(cfg, ctx, name, args),
        createNode: (ctx, name, args) => createAzureNode(cfg, ctx, name, args),
    };
}

export const factory: BackendFactory = {
    kind: "azure",
    configKey: AZURE_CONFIG_KEY,
    fromConfig: (raw) => azureBackend(parseAzureConfig(raw)),
};
