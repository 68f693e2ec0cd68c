/**
 * The Azure backend: a resource group per lab holding a VNet + NSG, a compute gallery fed
 * from a page-blob VHD, and one VM per node on a size whose documentation says nested
 * virtualization is supported. See catalog.ts for the sizes and their sources.
 */
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

export function azureBackend(cfg: AzureConfig): Backend<AzureNet, AzureImage, AzureVolume> {
    return {
        kind: "azure",
        userDataLimitBytes: AZURE_USER_DATA_LIMIT_BYTES,
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
