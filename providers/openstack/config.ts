/**
 * `nixlab:openstack`. OpenStack flavors are defined by each cloud's operators, so there is
 * no catalog nixlab could ship: the stack file describes the flavors it may use (size,
 * architecture and whether guests get KVM) and that description *is* the catalog.
 * Credentials and endpoints come from the named clouds.yaml entry, never from OS_* variables
 * picked up silently.
 */
import { z } from "zod";
import { ConfigError, zodProblems } from "../../components/problems";
import { ARCHES, KVM_MODES, isCidrV4, type Arch, type KvmMode } from "../../components/spec";

export const OPENSTACK_CONFIG_KEY = "nixlab:openstack";

const ipv4 = z.string().refine((s) => isCidrV4(`${s}/32`), { error: "must be an IPv4 address like 9.9.9.9" });

const flavor = z.strictObject({
    vcpus: z.number().int().min(1).meta({ description: "Virtual CPUs of the flavor." }),
    memoryGiB: z.number().positive().meta({ description: "Memory of the flavor in GiB." }),
    arch: z.enum(ARCHES).meta({ description: "CPU architecture of the hosts the flavor schedules to." }),
    kvm: z.enum(KVM_MODES).meta({
        description:
            "What a guest of this flavor gets: `none` (no /dev/kvm), `nested` (the operators run KVM with nested=1 and host-passthrough or vmx/svm exposed), or `metal` (a bare-metal flavor scheduled to Ironic nodes).",
    }),
});

export const openstackConfigSchema = z.strictObject({
    cloud: z
        .string()
        .min(1, { error: "must name an entry of clouds.yaml" })
        .meta({ description: "Entry in clouds.yaml (~/.config/openstack/clouds.yaml) holding auth URL and credentials." }),
    region: z.string().min(1).optional().meta({ description: "Region of every resource.", defaultText: "the clouds.yaml entry's region_name" }),
    externalNetworkId: z
        .guid({ error: "must be the network's UUID (openstack network list --external -c ID -c Name)" })
        .optional()
        .meta({
            description:
                "UUID of the external (provider) network the lab's router uses as gateway (`openstack network list --external`). Needed for outbound traffic and floating IPs.",
            defaultText: "no router",
        }),
    floatingIpPool: z
        .string()
        .min(1)
        .optional()
        .meta({ description: "Name of the network floating IPs come from, usually the external network's name. Required (nodes always get floating IPs).", defaultText: "none" }),
    dnsNameservers: z.array(ipv4).optional().meta({ description: "DNS servers handed out by the lab subnet's DHCP.", defaultText: "the cloud's default" }),
    availabilityZone: z.string().min(1).optional().meta({ description: "Availability zone for instances and volumes.", defaultText: "the cloud's default" }),
    volumeType: z
        .string()
        .min(1)
        .optional()
        .meta({ description: "Cinder volume type for root and extra volumes; pick an encrypted type if your cloud has one.", defaultText: "the cloud's default" }),
    rootVolume: z
        .boolean()
        .optional()
        .meta({
            description:
                "Boot VMs from a Cinder volume of the node's rootDiskGiB (otherwise the flavor's local disk size applies). Bare-metal flavors always boot from their local disk.",
            default: true,
        }),
    flavors: z
        .record(z.string().min(1), flavor)
        .refine((f) => Object.keys(f).length > 0, { error: "needs at least one flavor (openstack flavor list)" })
        .meta({
            description: "The flavors nodes may use, keyed by flavor name, e.g. `m1.large: { vcpus: 4, memoryGiB: 8, arch: x86_64, kvm: nested }`.",
            expected: "a mapping of flavor names to { vcpus, memoryGiB, arch, kvm }",
        }),
});

export interface FlavorSpec {
    name: string;
    vcpus: number;
    memoryGiB: number;
    arch: Arch;
    kvm: KvmMode;
}

/** `nixlab:openstack` with every default applied. */
export interface OpenStackConfig {
    cloud: string;
    region?: string;
    externalNetworkId?: string;
    floatingIpPool?: string;
    dnsNameservers?: string[];
    availabilityZone?: string;
    volumeType?: string;
    rootVolume: boolean;
    flavors: FlavorSpec[];
}

export function parseOpenStackConfig(raw: unknown): OpenStackConfig {
    if (raw === undefined) {
        throw new ConfigError([
            {
                path: OPENSTACK_CONFIG_KEY,
                message:
                    "is not set; nixlab:backend is openstack, so add `nixlab:openstack: { cloud: <clouds.yaml entry>, flavors: {...} }` " +
                    "to the stack file (copy stacks/Pulumi.openstack-x86_64.yaml)",
            },
        ]);
    }
    const parsed = openstackConfigSchema.safeParse(raw);
    if (!parsed.success) throw new ConfigError(zodProblems(OPENSTACK_CONFIG_KEY, raw, parsed.error));
    const c = parsed.data;
    return {
        cloud: c.cloud,
        region: c.region,
        externalNetworkId: c.externalNetworkId,
        floatingIpPool: c.floatingIpPool,
        dnsNameservers: c.dnsNameservers,
        availabilityZone: c.availabilityZone,
        volumeType: c.volumeType,
        rootVolume: c.rootVolume ?? true,
        flavors: Object.entries(c.flavors).map(([name, f]) => ({ name, ...f })),
    };
}
