/**
 * `nixlab:azure`: where the lab goes on Azure. Only these settings reach the provider;
 * nothing is read from the environment's defaults (az CLI's default subscription,
 * AZURE_LOCATION), so a stack file says everything about where it deploys.
 */
import { z } from "zod";
import { ConfigError, zodProblems } from "../../components/problems";

export const AZURE_CONFIG_KEY = "nixlab:azure";

export const azureConfigSchema = z.strictObject({
    subscriptionId: z
        .guid({ error: "must be a subscription GUID like 00000000-0000-0000-0000-000000000000 (az account show --query id)" })
        .meta({ description: "Subscription the lab is billed to (`az account show --query id`)." }),
    location: z
        .string()
        .regex(/^[a-z][a-z0-9]{2,39}$/, {
            error: "must be an Azure region name like westeurope or eastus2 (lowercase, no spaces; az account list-locations -o table)",
        })
        .meta({ description: "Region name as the API spells it (`az account list-locations -o table`)." }),
    zone: z
        .enum(["1", "2", "3"], { error: "must be \"1\", \"2\" or \"3\" (quoted in YAML)" })
        .optional()
        .meta({ description: "Availability zone for VMs and their disks.", defaultText: "no zone (regional)" }),
    diskType: z
        .enum(["Premium_LRS", "StandardSSD_LRS", "Standard_LRS"])
        .optional()
        .meta({ description: "Managed disk type for OS and data disks.", default: "Premium_LRS" }),
    // Source: ACD articles/virtual-machines/disk-encryption.md
    encryptionAtHost: z
        .boolean()
        .optional()
        .meta({
            description:
                "Also encrypt the OS/data disk caches on the VM host. Off by default because the subscription must first register the `Microsoft.Compute/EncryptionAtHost` feature; managed disks are encrypted at rest with platform-managed keys either way.",
            default: false,
        }),
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
