/**
 * The nixlab guard rails, as plain ResourceValidationPolicy objects so tests can call
 * `validateResource` directly (a PolicyPack starts a gRPC server; policy/index.ts is the
 * only file that builds one). Each policy reads a resource's inputs as the engine hands
 * them to the analyzer; the type tokens and property names are the provider SDKs' own
 * (node_modules/@pulumi/<provider>/<module>/<resource>.d.ts, `<Resource>Args`).
 *
 * During a preview an input may still be unknown; reading it throws inside
 * @pulumi/policy, which then reports "can't run during preview" as advisory and the check
 * runs for real during `up`.
 */
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { AWS_CATALOG } from "../providers/aws/catalog";
import { findAzureSize } from "../providers/azure/catalog";
import { GCP_CATALOG } from "../providers/gcp/catalog";

/** nixlab's tag keys as each cloud spells them (components/tags.ts, providers/gcp/labels.ts). */
export const EXPIRES_AT = "nixlab:expires-at";
export const GCP_EXPIRES_AT = "nixlab-expires-at";
/** What a node asked for (none | nested | metal): components/tags.ts nodeTags puts it on every per-node resource. */
export const KVM_TAG = "nixlab:kvm";
export const GCP_KVM_LABEL = "nixlab-kvm";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// ------------------------------------------------------------------ expiry tags

/**
 * Lab resource types that can carry nixlab's tags, and where. Every entry is a type the
 * programs create whose SDK args have that field (a test checks both directions against
 * the captured plans and the SDK .d.ts files). Types not listed take no tags at all
 * (associations such as RouteTableAssociation, SecGroupRule, VolumeAttach, AttachedDisk;
 * GCP networks, subnetworks and firewalls; Azure subnets and blob containers).
 */
export const TAGGABLE: Record<string, "tags" | "labels" | "tag-list" | "metadata"> = {
    "aws:ec2/vpc:Vpc": "tags",
    "aws:ec2/subnet:Subnet": "tags",
    "aws:ec2/internetGateway:InternetGateway": "tags",
    "aws:ec2/routeTable:RouteTable": "tags",
    "aws:ec2/securityGroup:SecurityGroup": "tags",
    "aws:ec2/instance:Instance": "tags",
    "aws:ec2/ami:Ami": "tags",
    "aws:ebs/volume:Volume": "tags",
    "aws:ebs/snapshotImport:SnapshotImport": "tags",
    "aws:s3/bucket:Bucket": "tags",
    "aws:s3/bucketObjectv2:BucketObjectv2": "tags",
    "aws:iam/role:Role": "tags",
    "gcp:compute/instance:Instance": "labels",
    "gcp:compute/disk:Disk": "labels",
    "gcp:compute/image:Image": "labels",
    "gcp:storage/bucket:Bucket": "labels",
    "azure-native:resources:ResourceGroup": "tags",
    "azure-native:network:VirtualNetwork": "tags",
    "azure-native:network:NetworkSecurityGroup": "tags",
    "azure-native:network:PublicIPAddress": "tags",
    "azure-native:network:NetworkInterface": "tags",
    "azure-native:storage:StorageAccount": "tags",
    "azure-native:compute:Gallery": "tags",
    "azure-native:compute:GalleryImage": "tags",
    "azure-native:compute:GalleryImageVersion": "tags",
    "azure-native:compute:Disk": "tags",
    "azure-native:compute:VirtualMachine": "tags",
    "openstack:networking/network:Network": "tag-list",
    "openstack:networking/subnet:Subnet": "tag-list",
    "openstack:networking/router:Router": "tag-list",
    "openstack:networking/secGroup:SecGroup": "tag-list",
    "openstack:networking/port:Port": "tag-list",
    "openstack:networking/floatingIp:FloatingIp": "tag-list",
    "openstack:images/image:Image": "tag-list",
    "openstack:compute/instance:Instance": "tag-list",
    "openstack:blockstorage/volume:Volume": "metadata",
};

/** `2026-11-24t18_00_00_000z` (a GCP label value) → `2026-11-24T18:00:00.000Z`. */
export function fromGcpLabel(v: string): string {
    const m = /^(\d{4}-\d{2}-\d{2})t(\d{2})_(\d{2})_(\d{2})(?:_(\d+))?z$/.exec(v);
    return m ? `${m[1]}T${m[2]}:${m[3]}:${m[4]}${m[5] ? `.${m[5]}` : ""}Z` : v;
}

/** The AWS provider's default tags (its inputs arrive JSON-encoded, like all provider inputs). */
function awsDefaultTags(args: ResourceValidationArgs): Record<string, string> {
    const raw = args.provider?.props?.defaultTags;
    const parsed = typeof raw === "string" ? (JSON.parse(raw) as Props) : raw;
    return (parsed?.tags ?? {}) as Record<string, string>;
}

/** The expiry a resource carries, where its cloud puts it; undefined if none. */
export function expiryOf(args: ResourceValidationArgs): string | undefined {
    const p = args.props;
    const kind = TAGGABLE[args.type];
    if (kind === undefined) return undefined;
    switch (kind) {
        case "tags": {
            const own = (p.tags ?? {}) as Record<string, string>;
            const inherited = args.type.startsWith("aws:") ? awsDefaultTags(args) : {};
            return own[EXPIRES_AT] ?? inherited[EXPIRES_AT];
        }
        case "labels": {
            const v = (p.labels ?? {})[GCP_EXPIRES_AT];
            return typeof v === "string" ? fromGcpLabel(v) : undefined;
        }
        case "tag-list": {
            const tag = ((p.tags ?? []) as string[]).find((t) => t.startsWith(`${EXPIRES_AT}=`));
            return tag?.slice(EXPIRES_AT.length + 1) ?? (p.metadata ?? {})[EXPIRES_AT];
        }
        case "metadata":
            return (p.metadata ?? {})[EXPIRES_AT];
        default: {
            const unhandled: never = kind;
            throw new Error(`unhandled tag field ${String(unhandled)}`);
        }
    }
}

function checkExpiry(where: string, value: string | undefined, report: ReportViolation, fix: string): void {
    if (value === undefined) report(`${where} has no ${EXPIRES_AT} tag, so \`nixlab gc\` and the cloud's own reports cannot tell when it may go. ${fix}`);
    else if (!Number.isFinite(Date.parse(value))) report(`${where} has ${EXPIRES_AT}=${JSON.stringify(value)}, which is not a time. ${fix}`);
}

const TAG_FIX = "Pass ctx.tags (components/tags.ts labTags; nodeTags for per-node resources) to every taggable resource a backend creates.";

export const expiryTag: ResourceValidationPolicy = {
    name: "nixlab-expiry-tag",
    description: `Every taggable lab resource carries ${EXPIRES_AT} (GCP label ${GCP_EXPIRES_AT}), so forgotten labs can be found and collected.`,
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (!(args.type in TAGGABLE)) return;
        checkExpiry(args.type, expiryOf(args), report, TAG_FIX);
        // A node's boot disk is a resource of its own in the cloud, tagged separately.
        if (args.type === "aws:ec2/instance:Instance") {
            const root = args.props.rootBlockDevice?.tags?.[EXPIRES_AT] ?? args.props.volumeTags?.[EXPIRES_AT];
            checkExpiry("its root volume (rootBlockDevice.tags)", root, report, "Set rootBlockDevice.tags to the node's tags; AWS default tags do not reach it.");
        }
        if (args.type === "gcp:compute/instance:Instance") {
            const v = args.props.bootDisk?.initializeParams?.labels?.[GCP_EXPIRES_AT];
            checkExpiry("its boot disk (bootDisk.initializeParams.labels)", typeof v === "string" ? fromGcpLabel(v) : undefined, report, "Label the boot disk like the instance.");
        }
    },
};

// ------------------------------------------------------------------ SSH exposure

const WORLD = new Set(["0.0.0.0/0", "::/0", "*", "Internet", "Any", "any", "internet"]);

/** Whether a port range (inclusive; undefined ends mean "all") contains 22. */
function covers22(from: unknown, to: unknown): boolean {
    const lo = from === undefined || from === null || from === "" ? 0 : Number(from);
    const hi = to === undefined || to === null || to === "" ? 65535 : Number(to);
    return lo <= 22 && 22 <= hi;
}

/** "22", "20-30", "*" (Azure and GCP write port ranges as strings). */
function stringRangeCovers22(r: string): boolean {
    if (r === "*") return true;
    const [a, b] = r.split("-");
    return covers22(a, b ?? a);
}

function isTcpOrAll(protocol: unknown): boolean {
    const p = String(protocol ?? "").toLowerCase();
    return p === "tcp" || p === "6" || p === "-1" || p === "all" || p === "*" || p === "";
}

function awsRuleOpen(r: Props): string[] {
    if (!isTcpOrAll(r.protocol ?? r.ipProtocol)) return [];
    const allPorts = String(r.protocol ?? r.ipProtocol) === "-1";
    if (!allPorts && !covers22(r.fromPort, r.toPort)) return [];
    const ranges: string[] = [...(r.cidrBlocks ?? []), ...(r.ipv6CidrBlocks ?? []), ...(r.cidrIpv4 ? [r.cidrIpv4] : []), ...(r.cidrIpv6 ? [r.cidrIpv6] : [])];
    return ranges.filter((c) => WORLD.has(c));
}

function azureRuleOpen(r: Props): string[] {
    const inbound = String(r.direction ?? "Inbound") === "Inbound" && String(r.access ?? "Allow") === "Allow";
    if (!inbound || !isTcpOrAll(r.protocol)) return [];
    const ports: string[] = [...(r.destinationPortRange ? [r.destinationPortRange] : []), ...(r.destinationPortRanges ?? [])];
    if (ports.length > 0 && !ports.some(stringRangeCovers22)) return [];
    const sources: string[] = [...(r.sourceAddressPrefix ? [r.sourceAddressPrefix] : []), ...(r.sourceAddressPrefixes ?? [])];
    return sources.filter((s) => WORLD.has(s));
}

/** Where a resource lets SSH in from anywhere: one entry per offending rule. */
export function worldSshRules(type: string, p: Props): string[] {
    const hits: string[] = [];
    switch (type) {
        case "aws:ec2/securityGroup:SecurityGroup":
            ((p.ingress ?? []) as Props[]).forEach((r, i) => awsRuleOpen(r).forEach((c) => hits.push(`ingress[${i}] from ${c}`)));
            break;
        case "aws:ec2/securityGroupRule:SecurityGroupRule":
            if (p.type === "ingress") awsRuleOpen(p).forEach((c) => hits.push(`rule from ${c}`));
            break;
        case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
            awsRuleOpen(p).forEach((c) => hits.push(`rule from ${c}`));
            break;
        case "gcp:compute/firewall:Firewall": {
            if (String(p.direction ?? "INGRESS") !== "INGRESS") break;
            const open = ((p.allows ?? []) as Props[]).some((a) => isTcpOrAll(a.protocol) && (!a.ports || a.ports.length === 0 || (a.ports as string[]).some(stringRangeCovers22)));
            if (open) ((p.sourceRanges ?? []) as string[]).filter((s) => WORLD.has(s)).forEach((s) => hits.push(`sourceRanges ${s}`));
            break;
        }
        case "azure-native:network:NetworkSecurityGroup":
            ((p.securityRules ?? []) as Props[]).forEach((r, i) => azureRuleOpen(r).forEach((s) => hits.push(`securityRules[${i}] (${r.name ?? "unnamed"}) from ${s}`)));
            break;
        case "azure-native:network:SecurityRule":
            azureRuleOpen(p).forEach((s) => hits.push(`rule from ${s}`));
            break;
        case "openstack:networking/secGroupRule:SecGroupRule": {
            if (p.direction !== "ingress" || !isTcpOrAll(p.protocol) || !covers22(p.portRangeMin, p.portRangeMax)) break;
            // Neutron: a rule with neither remote prefix nor remote group matches every source.
            const prefix: string | undefined = p.remoteIpPrefix ?? (p.remoteGroupId ? undefined : p.ethertype === "IPv6" ? "::/0" : "0.0.0.0/0");
            if (prefix && WORLD.has(prefix)) hits.push(`rule from ${prefix}${p.remoteIpPrefix ? "" : " (no remoteIpPrefix: any source)"}`);
            break;
        }
    }
    return hits;
}

export interface SshPolicyConfig {
    /** Allow SSH from 0.0.0.0/0 or ::/0 (e.g. a lab reached from changing addresses). */
    allowWorldSsh: boolean;
}

export const noWorldSsh: ResourceValidationPolicy = {
    name: "nixlab-no-world-ssh",
    description: "SSH (port 22) is open only to the CIDRs in nixlab:lab.network.sshIngressCidrs, never to 0.0.0.0/0 or ::/0, unless the pack config sets allowWorldSsh.",
    enforcementLevel: "mandatory",
    configSchema: { properties: { allowWorldSsh: { type: "boolean", default: false } } },
    validateResource: (args, report) => {
        const hits = worldSshRules(args.type, args.props);
        if (hits.length === 0 || args.getConfig<SshPolicyConfig>().allowWorldSsh) return;
        report(
            `${args.type} lets SSH in from anywhere: ${hits.join("; ")}. List your own addresses in nixlab:lab.network.sshIngressCidrs ` +
                `(e.g. 203.0.113.7/32), or, if a world-open lab is intended, set {"nixlab-no-world-ssh": {"allowWorldSsh": true}} in the policy pack config.`,
        );
    },
};

// ------------------------------------------------------------------ disk encryption

export interface DiskPolicyConfig {
    /** Cinder volume types that are encrypted on your cloud (openstack volume type list --long). Empty: not checked. */
    openstackEncryptedVolumeTypes: string[];
    /** Require Azure encryption at host (temp disks and caches too). */
    azureEncryptionAtHost: boolean;
}

export const diskEncryption: ResourceValidationPolicy = {
    name: "nixlab-disk-encryption",
    description:
        "Lab disks are encrypted at rest: EBS volumes, instance root and EBS block devices and imported snapshots on AWS; " +
        "Cinder volumes of an encrypted volume type on OpenStack (when the pack config names them); encryption at host on Azure " +
        "(when the pack config asks). GCP and Azure managed disks are always encrypted at rest by the platform.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            openstackEncryptedVolumeTypes: { type: "array", items: { type: "string" }, default: [] },
            azureEncryptionAtHost: { type: "boolean", default: false },
        },
    },
    validateResource: (args, report) => {
        const p = args.props;
        const cfg = args.getConfig<DiskPolicyConfig>();
        switch (args.type) {
            case "aws:ebs/volume:Volume":
            case "aws:ebs/snapshotImport:SnapshotImport":
                if (p.encrypted !== true) report(`${args.type} is not encrypted; set encrypted: true (EBS encryption costs nothing and cannot be added later).`);
                return;
            case "aws:ec2/instance:Instance": {
                if (p.rootBlockDevice?.encrypted !== true) {
                    report("the instance's root volume is not encrypted; set rootBlockDevice.encrypted: true (an encrypted copy of the AMI's snapshot is made at launch).");
                }
                ((p.ebsBlockDevices ?? []) as Props[]).forEach((d, i) => {
                    if (d.encrypted !== true) report(`ebsBlockDevices[${i}] (${d.deviceName ?? "?"}) is not encrypted; set encrypted: true.`);
                });
                return;
            }
            case "openstack:blockstorage/volume:Volume":
            case "openstack:compute/instance:Instance": {
                const allowed = cfg.openstackEncryptedVolumeTypes ?? [];
                if (allowed.length === 0) return;
                const types: { where: string; type?: string }[] =
                    args.type === "openstack:blockstorage/volume:Volume"
                        ? [{ where: "the volume", type: p.volumeType }]
                        : ((p.blockDevices ?? []) as Props[]).filter((d) => d.destinationType === "volume").map((d, i) => ({ where: `blockDevices[${i}]`, type: d.volumeType }));
                for (const t of types) {
                    if (!t.type || !allowed.includes(t.type)) {
                        report(`${t.where} uses volume type ${JSON.stringify(t.type ?? "(the cloud's default)")}, not an encrypted one (${allowed.join(", ")}); set nixlab:openstack.volumeType.`);
                    }
                }
                return;
            }
            case "azure-native:compute:VirtualMachine":
                if (cfg.azureEncryptionAtHost && p.securityProfile?.encryptionAtHost !== true) {
                    report("encryption at host is off, so the VM's temp disk and disk caches are not encrypted; set nixlab:azure.encryptionAtHost: true (after registering Microsoft.Compute/EncryptionAtHost).");
                }
                return;
        }
    },
};

// ------------------------------------------------------------------ IMDSv2

export const awsImdsV2: ResourceValidationPolicy = {
    name: "nixlab-aws-imdsv2",
    description: "EC2 instances require IMDSv2 session tokens (metadataOptions.httpTokens = required), so a request forgery on a node cannot read its credentials.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (args.type !== "aws:ec2/instance:Instance" && args.type !== "aws:ec2/launchTemplate:LaunchTemplate") return;
        const m = args.props.metadataOptions;
        if (m?.httpEndpoint === "disabled") return;
        if (m?.httpTokens !== "required") {
            report(`IMDSv1 is allowed (metadataOptions.httpTokens is ${JSON.stringify(m?.httpTokens ?? "optional (the default)")}); set metadataOptions: { httpTokens: "required" }.`);
        }
    },
};

// ------------------------------------------------------------------ KVM

type Kvm = "none" | "nested" | "metal";
const KVM_MODES: readonly Kvm[] = ["none", "nested", "metal"];

function kvmAsked(v: unknown): Kvm | undefined {
    return KVM_MODES.find((m) => m === v);
}

/** What a machine type gives, from the backends' own catalogs; undefined if nixlab does not know the type. */
function awsKvm(instanceType: string): Kvm | undefined {
    return AWS_CATALOG.find((m) => m.machineType === instanceType)?.kvm;
}

function gcpKvm(machineType: string): Kvm | undefined {
    return GCP_CATALOG.find((m) => m.machineType === machineType)?.kvm;
}

/** The `nixlab:kvm` an OpenStack server carries: its metadata holds every tag, the Nova tag list those that fit. */
function openstackKvmAsked(p: Props): Kvm | undefined {
    const tag = ((p.tags ?? []) as string[]).find((t) => t.startsWith(`${KVM_TAG}=`));
    return kvmAsked((p.metadata ?? {})[KVM_TAG] ?? tag?.slice(KVM_TAG.length + 1));
}

export interface KvmPolicyConfig {
    /**
     * What guests of each OpenStack flavor get, keyed by flavor name: the stack's
     * `nixlab:openstack.flavors.<name>.kvm`. Flavors are defined per cloud, so no catalog can
     * say; `nixlab up/preview --policy` fills this in from the stack file. Empty: not checked.
     */
    openstackFlavors: Record<string, Kvm>;
}

export const kvmMachineType: ResourceValidationPolicy = {
    name: "nixlab-kvm-machine-type",
    description:
        "A node runs on a machine type that provides the KVM it asked for (tag nixlab:kvm nested|metal, GCP label nixlab-kvm; or nested " +
        "virtualization switched on), per the backends' catalogs: AWS C8i/M8i/R8i with cpuOptions.nestedVirtualization or .metal; GCP Intel " +
        "N1/N2/C3 with enableNestedVirtualization or -metal; Azure sizes whose series supports nested virtualization; OpenStack flavors as " +
        "the stack describes them (pack config openstackFlavors, filled in by `nixlab --policy`).",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            openstackFlavors: { type: "object", additionalProperties: { type: "string", enum: [...KVM_MODES] }, default: {} },
        },
    },
    validateResource: (args, report) => {
        const p = args.props;
        switch (args.type) {
            case "aws:ec2/instance:Instance": {
                const type = String(p.instanceType);
                const gives = awsKvm(type);
                const nestedOn = p.cpuOptions?.nestedVirtualization === "enabled";
                const asked = kvmAsked(p.tags?.[KVM_TAG]) ?? (nestedOn ? "nested" : undefined);
                if (nestedOn && gives !== "nested") {
                    report(`cpuOptions.nestedVirtualization is enabled on ${type}, which ${gives ? `is a ${gives} type` : "is not in nixlab's catalog"}; AWS offers nested virtualization on C8i, M8i and R8i (and flex) only (providers/aws/catalog.ts).`);
                }
                if (asked === "metal" && gives !== "metal") report(`the node asks for metal KVM but ${type} is not a bare-metal type (a .metal size, providers/aws/catalog.ts).`);
                if (asked === "nested" && !(gives === "metal" || (gives === "nested" && nestedOn))) {
                    report(`the node asks for nested KVM but ${type} ${gives === "nested" ? "does not have cpuOptions.nestedVirtualization enabled" : "does not offer it"}; use a C8i/M8i/R8i type with nestedVirtualization enabled.`);
                }
                return;
            }
            case "gcp:compute/instance:Instance": {
                const type = String(p.machineType);
                const gives = gcpKvm(type);
                const nestedOn = p.advancedMachineFeatures?.enableNestedVirtualization === true;
                const asked = kvmAsked(p.labels?.[GCP_KVM_LABEL]) ?? (nestedOn ? "nested" : undefined);
                if (nestedOn && gives !== "nested") {
                    report(`enableNestedVirtualization is on for ${type}, which ${gives ? `is a ${gives} type` : "is not in nixlab's catalog"}; Compute Engine nests only on Intel N1, N2 and C3 (providers/gcp/catalog.ts).`);
                }
                if (asked === "metal" && gives !== "metal") report(`the node asks for metal KVM but ${type} is not a -metal machine type.`);
                if (asked === "nested" && !(gives === "metal" || (gives === "nested" && nestedOn))) {
                    report(`the node asks for nested KVM but ${type} ${gives === "nested" ? "does not have advancedMachineFeatures.enableNestedVirtualization" : "does not offer it"}.`);
                }
                return;
            }
            case "azure-native:compute:VirtualMachine": {
                const asked = kvmAsked(p.tags?.[KVM_TAG]);
                if (asked === undefined || asked === "none") return;
                const size = String(p.hardwareProfile?.vmSize);
                const known = findAzureSize(size);
                if (asked === "metal") report(`the node asks for metal KVM, which Azure does not offer (no bare-metal sizes in providers/azure/catalog.ts); use kvm: nested.`);
                else if (!known?.series.nestedVirtualization) {
                    report(`the node asks for nested KVM but ${size} ${known ? `(${known.series.series}) does not support nested virtualization` : "is not in nixlab's catalog"}; use a Dsv5, Dasv5 or Dsv6 size (providers/azure/catalog.ts).`);
                }
                return;
            }
            case "openstack:compute/instance:Instance": {
                // Flavors are the cloud operators' own, so only the stack's description of them
                // (handed over as pack config) says what a flavor gives; without it: unchecked.
                const flavors = args.getConfig<KvmPolicyConfig>().openstackFlavors ?? {};
                const asked = openstackKvmAsked(p);
                if (Object.keys(flavors).length === 0 || asked === undefined || asked === "none") return;
                const flavor = String(p.flavorName ?? p.flavorId);
                const gives = kvmAsked(flavors[flavor]);
                const described = Object.entries(flavors).map(([name, kvm]) => `${name} (${kvm})`).join(", ");
                if (gives === undefined) {
                    report(`the node asks for ${asked} KVM but flavor ${flavor} is not among the pack's openstackFlavors (${described}); describe it in nixlab:openstack.flavors and in the pack config.`);
                } else if (asked === "metal" ? gives !== "metal" : gives === "none") {
                    report(`the node asks for ${asked} KVM but flavor ${flavor} gives kvm: ${gives} (pack config openstackFlavors: ${described}); use a flavor described with kvm: ${asked === "metal" ? "metal" : "nested or metal"}.`);
                }
                return;
            }
        }
    },
};

export const policies: ResourceValidationPolicy[] = [expiryTag, noWorldSsh, diskEncryption, awsImdsV2, kvmMachineType];
