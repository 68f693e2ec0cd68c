/**
 * `nixlab:aws`: where on AWS a lab goes. Everything here reaches the explicit
 * `aws.Provider` or a resource argument; nothing is read from ambient AWS config except
 * the credentials themselves (profile/env/SSO, as the AWS CLI finds them).
 */
import { z } from "zod";
import { ConfigError, show, zodProblems } from "../../components/problems";

export const AWS_CONFIG_KEY = "nixlab:aws";

export const awsConfigSchema = z.strictObject({
    region: z
        .string()
        .regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$/, { error: "must be an AWS region code like eu-west-1" })
        .meta({ description: "Region for every resource of the lab. Required: a lab is never put in a region by accident." }),
    // Default `<region>a`: every region has an `a` zone.
    availabilityZone: z
        .string()
        .regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+[a-z]$/, { error: "must be an availability zone like eu-west-1a" })
        .optional()
        .meta({
            description:
                "Availability zone of the lab's subnet, instances and volumes (EBS volumes attach only within one zone). Pick another when a metal type has no capacity in the default zone.",
            defaultText: "`<region>a`",
        }),
    // Required permissions: https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html
    vmimportRoleName: z
        .string()
        .regex(/^[\w+=,.@-]{1,64}$/, { error: "must be an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -)" })
        .optional()
        .meta({
            description:
                "An existing VM Import/Export service role for `ebs.SnapshotImport`; it must trust vmie.amazonaws.com and may read the lab's image bucket (`nixlab-image-*`).",
            defaultText:
                "the lab creates its own role (`nixlab-vmimport-*`), allowed to read only its image bucket, and deletes it with the lab; the account-wide `vmimport` role is not touched",
        }),
});

export type AwsConfigInput = z.infer<typeof awsConfigSchema>;

/** `nixlab:aws` with defaults applied. */
export interface AwsConfig {
    region: string;
    availabilityZone: string;
    vmimportRoleName?: string;
}

export function parseAwsConfig(raw: unknown): AwsConfig {
    if (raw === undefined) {
        throw new ConfigError([
            {
                path: AWS_CONFIG_KEY,
                message: "is not set; nixlab:backend is aws, so add `nixlab:aws: { region: eu-west-1 }` (copy stacks/Pulumi.aws-x86_64.yaml)",
            },
        ]);
    }
    const parsed = awsConfigSchema.safeParse(raw);
    if (!parsed.success) throw new ConfigError(zodProblems(AWS_CONFIG_KEY, raw, parsed.error));
    const { region, availabilityZone, vmimportRoleName } = parsed.data;
    const zone = availabilityZone ?? `${region}a`;
    if (!zone.startsWith(region)) {
        throw new ConfigError([
            {
                path: `${AWS_CONFIG_KEY}.availabilityZone`,
                message: `${show(zone)} is not in region ${show(region)}; use a zone of that region such as ${region}a, or change region`,
            },
        ]);
    }
    return { region, availabilityZone: zone, vmimportRoleName };
}
