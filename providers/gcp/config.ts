/**
 * `nixlab:gcp`: where on Google Cloud a lab goes. Every value reaches the explicit
 * `gcp.Provider` or a resource argument; gcloud's ambient project/region are never used
 * (only its credentials: application-default login or GOOGLE_APPLICATION_CREDENTIALS).
 */
import { z } from "zod";
import { ConfigError, show, zodProblems } from "../../components/problems";

export const GCP_CONFIG_KEY = "nixlab:gcp";

export const gcpConfigSchema = z.strictObject({
    project: z
        .string()
        .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, {
            error: "must be a project ID: 6-30 of a-z 0-9 -, starting with a letter, like my-kvm-lab",
        })
        .meta({ description: "Project ID that owns and pays for the lab (not its number or display name)." }),
    region: z
        .string()
        .regex(/^[a-z]+-[a-z]+\d+$/, { error: "must be a region like us-central1 or europe-west4" })
        .optional()
        .meta({ description: "Region of the subnet and image bucket.", default: "us-central1" }),
    // Default zone `-b`, not `-a`, which several regions (us-east1, europe-west1) lack.
    zone: z
        .string()
        .regex(/^[a-z]+-[a-z]+\d+-[a-z]$/, { error: "must be a zone like us-central1-b" })
        .optional()
        .meta({
            description: "Zone of the nodes and their disks. Pick another when a machine type has no capacity there (C3 bare metal is in a few zones only).",
            defaultText: "`<region>-b`",
        }),
});

export type GcpConfigInput = z.infer<typeof gcpConfigSchema>;

/** `nixlab:gcp` with defaults applied. */
export interface GcpConfig {
    project: string;
    region: string;
    zone: string;
}

export const GCP_DEFAULT_REGION = "us-central1";

export function parseGcpConfig(raw: unknown): GcpConfig {
    if (raw === undefined) {
        throw new ConfigError([
            {
                path: GCP_CONFIG_KEY,
                message: "is not set; nixlab:backend is gcp, so add `nixlab:gcp: { project: <project id> }` (copy stacks/Pulumi.gcp-x86_64.yaml)",
            },
        ]);
    }
    const parsed = gcpConfigSchema.safeParse(raw);
    if (!parsed.success) throw new ConfigError(zodProblems(GCP_CONFIG_KEY, raw, parsed.error));
    const region = parsed.data.region ?? GCP_DEFAULT_REGION;
    const zone = parsed.data.zone ?? `${region}-b`;
    if (!zone.startsWith(`${region}-`)) {
        throw new ConfigError([
            {
                path: `${GCP_CONFIG_KEY}.zone`,
                message: `${show(zone)} is not in region ${show(region)}; use a zone of that region such as ${region}-b, or change region`,
            },
        ]);
    }
    return { project: parsed.data.project, region, zone };
}
