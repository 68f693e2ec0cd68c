/**
 * `nixlab:azure`: where the lab goes on Azure. Only these settings reach the provider;
 * nothing is read from the environment's defaults (az CLI's default subscription,
 * AZURE_LOCATION), so a stack file says everything about where it deploys.
 */
import { z } from "zod";
import { ConfigError, zodProblems } from "../../components/problems";

export const AZURE_CONFIG_KEY = "nixlab:azure";

export const azureConfigSchema = z.strictObject({
    /** Subscription the lab is billed to (a GUID, `az account show --query id`). */
    subscriptionId: z.guid({ error: "must be a subscription GUID like 00000000-0000-0000-0000-000000000000 (az account show --query id)" }),
    /** Region name as the API spells it, e.g. `westeurope`, `eastus2` (az account list-locations -o table). */
    location: z.string().regex(/^[a-z][a-z0-9]{2,39}$/, {
        error: "must be an Azure region name like westeurope or eastus2 (lowercase, no spaces; az account list-locations -o table)",
    }),
    /** Availability zone for VMs and their disks. @default - no zone (regional) */
    zone: z.enum(["1", "2", "3"], { error: "must be \"1\", \"2\" or \"3\" (quoted in YAML)" }).optional(),
    /** Managed disk type for OS and data disks. @default "Premium_LRS" */
    diskType: z.enum(["Premium_LRS", "StandardSSD_LRS", "Standard_LRS"]).optional(),
    /**
     * Also encrypt the OS/data disk caches on the VM host. Off by default because the
     * subscription must first register the `Microsoft.Compute/EncryptionAtHost` feature;
     * managed disks are encrypted at rest with platform-managed keys either way, and the
     * catalog's sizes have no local temp disk (ACD articles/virtual-machines/disk-encryption.md).
     * @default false
     */
    encryptionAtHost: z.boolean().optional(),
});

export type AzureConfigInput = z.infer<typeof azureConfigSchema>;

/** `nixlab:azure` with every default applied. */
export interface AzureConfig {
    subscriptionId: string;
    location: string;
    zone?: string;
    diskType: "Premium_LRS" | "StandardSSD_LRS" | "Standard_LRS";
    encryptionAtHost: boolean;
}

export function parseAzureConfig(raw: unknown): AzureConfig {
    if (raw === undefined) {
        throw new ConfigError([
            {
                path: AZURE_CONFIG_KEY,
                message:
                    "is not set; nixlab:backend is azure, so add `nixlab:azure: { subscriptionId: <GUID>, location: westeurope }` " +
                    "to the stack file (copy stacks/Pulumi.azure-x86_64.yaml)",
            },
        ]);
    }
    const parsed = azureConfigSchema.safeParse(raw);
    if (!parsed.success) throw new ConfigError(zodProblems(AZURE_CONFIG_KEY, raw, parsed.error));
    const c = parsed.data;
    return {
        subscriptionId: c.subscriptionId,
        location: c.location,
        zone: c.zone,
        diskType: c.diskType ?? "Premium_LRS",
        encryptionAtHost: c.encryptionAtHost ?? false,
    };
}
