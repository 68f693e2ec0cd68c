/**
 * Azure capability check and size choice: pure functions over the LabSpec and the catalog,
 * run before any resource is registered.
 */
import { sshIngressProblems } from "../../components/ready";
import { bySize } from "../../components/catalog";
import type { MachineChoice, Placement } from "../../components/backend";
import { assertNever } from "../../components/backend";
import { LAB_CONFIG_KEY, type LabSpec, type NodeSpec } from "../../components/spec";
import { show, type Problem } from "../../components/problems";
import { AZURE_SERIES, type AzureSeries, type AzureSize } from "./catalog";

/**
 * Compute API OSProfile.adminUsername, "Disallowed values" (the API reference text shipped
 * in @pulumi/azure-native compute types). The VM's admin user is the lab user.
 */
export const AZURE_RESERVED_ADMIN_USERNAMES: readonly string[] = [
    "administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1", "123", "a",
    "actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner", "root",
    "server", "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5",
];

/**
 * learn.microsoft.com/azure/virtual-machines/linux/create-ssh-keys-detailed, "Supported SSH
 * key formats": RSA (2048 bits or more) and ED25519. osProfile refuses other key types.
 */
export const AZURE_SSH_KEY_TYPES: readonly string[] = ["ssh-rsa", "ssh-ed25519"];

/**
 * learn.microsoft.com/azure/azure-resource-manager/management/tag-resources, "Limitations":
 * "Tag names can't contain these characters: <, >, %, &, \, ?, /".
 */
const AZURE_TAG_NAME_FORBIDDEN = /[<>%&\\?/]/;

/** The lab user's keys Azure accepts in osProfile (the cloud-config authorizes all of them anyway). */
export function azureAdminKeys(lab: LabSpec): string[] {
    return lab.user.sshAuthorizedKeys.filter((k) => AZURE_SSH_KEY_TYPES.includes(k.split(" ")[0]!));
}

/** @param catalog the sizes to choose from; tests pass their own. @default AZURE_SERIES */
export function placeAzure(lab: LabSpec, catalog: readonly AzureSeries[] = AZURE_SERIES): Placement {
    const problems: Problem[] = [...checkLab(lab), ...sshIngressProblems(lab)];
    const machines: Record<string, MachineChoice> = {};
    const sizes = new Catalog(catalog);
    for (const node of lab.nodes) {
        const result = sizes.choose(node);
        if ("problem" in result) {
            problems.push(result.problem);
            continue;
        }
        machines[node.name] = result.choice;
        if (node.volumes.length > result.size.maxDataDisks) {
            problems.push({
                path: `${node.configPath}.volumes`,
                message:
                    `node ${node.name} has ${node.volumes.length} volumes but ${result.size.name} attaches at most ` +
                    `${result.size.maxDataDisks} data disks; use fewer volumes or a larger size (machineType)`,
            });
        }
    }
    return { problems, machines };
}

type SizeResult = { size: AzureSize; choice: MachineChoice } | { problem: Problem };

function describe(size: AzureSize): string {
    return `${size.name} (${size.series.series}, ${size.series.arch}, ${size.vcpus} vCPUs, ${size.memoryGiB} GiB, nested virtualization ${size.series.nestedVirtualization ? "supported" : "not supported"}; ${size.series.source})`;
}

function choice(node: NodeSpec, size: AzureSize, why: string): SizeResult {
    return {
        size,
        choice: {
            machineType: size.name,
            reason: `${why}: ${describe(size)}`,
            nestedVirtualization: node.kvm === "nested",
            vcpus: size.vcpus,
            memoryGiB: size.memoryGiB,
        },
    };
}

class Catalog {
    private readonly sizes: AzureSize[];
    constructor(private readonly series: readonly AzureSeries[]) {
        this.sizes = series.flatMap((s) => s.sizes.map((size) => ({ ...size, series: s })));
    }

    choose(node: NodeSpec): SizeResult {
        const refusal = this.refuseKvm(node);
        if (refusal) return { problem: refusal };
        return node.machineType ? this.checkExplicit(node, node.machineType) : this.pickSmallest(node);
    }

    /** Series names with their size range, e.g. "Dsv5 (Standard_D2s_v5 ... Standard_D96s_v5)". */
    private list(filter: (s: AzureSeries) => boolean): string {
        return this.series
            .filter(filter)
            .map((s) => `${s.series} (${s.sizes[0]!.name} ... ${s.sizes[s.sizes.length - 1]!.name})`)
            .join(", ");
    }

    /** Series that can run the node at all: its arch, and nested virtualization when KVM is asked for. */
    private fits(node: NodeSpec): (s: AzureSeries) => boolean {
        return (s) => s.arch === node.arch && (node.kvm === "none" || s.nestedVirtualization);
    }

    /** Combinations no Azure size can serve, whatever the size request. */
    private refuseKvm(node: NodeSpec): Problem | undefined {
        const at = `${node.configPath}.kvm`;
        const nestedX86 = this.list((s) => s.arch === "x86_64" && s.nestedVirtualization);
        switch (node.kvm) {
            case "none":
                return undefined;
            case "nested":
                if (node.arch === "x86_64" || this.series.some((s) => s.arch === node.arch && s.nestedVirtualization)) return undefined;
                return {
                    path: at,
                    message:
                        `node ${node.name}: Azure has no Arm64 size with nested virtualization (Dpsv5 and Dpsv6 list ` +
                        `"Nested Virtualization: Not supported"), so aarch64 with kvm: nested cannot get /dev/kvm here. ` +
                        `Use arch: x86_64 with kvm: nested on Azure (${nestedX86}), ` +
                        `kvm: none for an Arm64 node without KVM, or kvm: metal on AWS (e.g. c7g.metal) or GCP (c4a-standard-96-metal)`,
                };
            case "metal": {
                const elsewhere =
                    node.arch === "aarch64" ? "AWS (e.g. c7g.metal) or GCP (c4a-standard-96-metal)" : "AWS (e.g. m5.metal) or GCP (c3-standard-192-metal)";
                const onAzure =
                    node.arch === "aarch64"
                        ? "Azure has no Arm64 size with nested virtualization either"
                        : `kvm: nested gives /dev/kvm on Azure with ${nestedX86}`;
                return {
                    path: at,
                    message:
                        `node ${node.name}: kvm: metal is not available on Azure: every Azure VM size is virtual and ` +
                        `nixlab's Azure catalog has no bare-metal machine. ${onAzure}; for bare metal use ${elsewhere}`,
                };
            }
            default:
                return assertNever(node.kvm, "kvm mode");
        }
    }

    private checkExplicit(node: NodeSpec, machineType: string): SizeResult {
        const at = `${node.configPath}.machineType`;
        // Azure size names are case-insensitive in the API; compare the same way.
        const size = this.sizes.find((s) => s.name.toLowerCase() === machineType.toLowerCase());
        if (!size) {
            return {
                problem: {
                    path: at,
                    message:
                        `node ${node.name}: ${show(machineType)} is not in nixlab's Azure size catalog (providers/azure/catalog.ts), ` +
                        `so its architecture and nested-virtualization support cannot be checked. Use a size of ` +
                        `${this.list(this.fits(node))}, or add its series to the catalog with its source`,
                },
            };
        }
        if (size.series.arch !== node.arch) {
            return {
                problem: {
                    path: at,
                    message:
                        `node ${node.name}: ${size.name} is an ${size.series.arch} size but the node's arch is ${node.arch}; ` +
                        `use a size of ${this.list(this.fits(node))}, or change arch`,
                },
            };
        }
        if (node.kvm === "nested" && !size.series.nestedVirtualization) {
            return {
                problem: {
                    path: at,
                    message:
                        `node ${node.name}: ${size.name} (${size.series.series}) does not support nested virtualization ` +
                        `(${size.series.source}); kvm: nested needs a size of ${this.list(this.fits(node))}, or set kvm: none`,
                },
            };
        }
        return choice(node, size, `set in config (${at})`);
    }

    private pickSmallest(node: NodeSpec): SizeResult {
        const fit = this.fits(node);
        const capable = this.sizes.filter((s) => fit(s.series));
        // Among sizes with the same vCPUs and memory, catalog order decides.
        const best = bySize(capable, (s) => s.vcpus >= node.vcpus && s.memoryGiB >= node.memoryGiB)[0];
        if (best) return choice(node, best, `smallest catalog size with at least ${node.vcpus} vCPUs and ${node.memoryGiB} GiB`);
        const largest = [...capable].sort((a, b) => b.vcpus - a.vcpus || b.memoryGiB - a.memoryGiB)[0];
        if (!largest) {
            return {
                problem: {
                    path: `${node.configPath}.kvm`,
                    message: `node ${node.name}: nixlab's Azure catalog has no ${node.arch} size for kvm: ${node.kvm}; add one to providers/azure/catalog.ts with its source`,
                },
            };
        }
        return {
            problem: {
                path: `${node.configPath}.vcpus`,
                message:
                    `node ${node.name}: no Azure size in nixlab's catalog has at least ${node.vcpus} vCPUs and ${node.memoryGiB} GiB ` +
                    `for ${node.arch} with kvm: ${node.kvm}; the largest is ${largest.name} (${largest.vcpus} vCPUs, ${largest.memoryGiB} GiB). ` +
                    `Lower vcpus/memoryGiB, or set machineType to a size you have checked`,
            },
        };
    }
}

/** Lab-wide facts Azure refuses at deploy time, caught at program start instead. */
function checkLab(lab: LabSpec): Problem[] {
    const problems: Problem[] = [];
    if (AZURE_RESERVED_ADMIN_USERNAMES.includes(lab.user.name.toLowerCase())) {
        problems.push({
            path: `${LAB_CONFIG_KEY}.user.name`,
            message: `${show(lab.user.name)} is reserved on Azure (the API refuses it as the VM admin user); choose another name, e.g. "lab"`,
        });
    }
    if (azureAdminKeys(lab).length === 0) {
        const n = lab.user.sshAuthorizedKeys.length;
        problems.push({
            path: `${LAB_CONFIG_KEY}.user.sshAuthorizedKeys`,
            message:
                `Azure accepts only ssh-rsa and ssh-ed25519 keys for the VM's admin user (password login is off), and none of the ` +
                `${n} key${n === 1 ? " is" : "s are"} of those types; add an ed25519 key (ssh-keygen -t ed25519)`,
        });
    }
    const badKeys = (root: string, tags: Record<string, string>) => {
        for (const key of Object.keys(tags)) {
            if (AZURE_TAG_NAME_FORBIDDEN.test(key)) {
                problems.push({
                    path: `${root}.${key}`,
                    message: `Azure tag names cannot contain < > % & \\ ? or /, got ${show(key)}; rename the tag`,
                });
            }
        }
    };
    badKeys(`${LAB_CONFIG_KEY}.tags`, lab.tags);
    const seen = new Set<string>();
    for (const node of lab.nodes) {
        // Counted nodes share one config path; report their tags once.
        if (seen.has(node.configPath)) continue;
        seen.add(node.configPath);
        badKeys(`${node.configPath}.tags`, node.tags);
    }
    lab.image.artifacts?.forEach((a, i) => {
        const at = `${LAB_CONFIG_KEY}.image.artifacts[${i}]`;
        if (a.format !== "vhd") {
            problems.push({
                path: `${at}.format`,
                message: `Azure imports fixed-size VHD disks only, got ${show(a.format)}; convert it (qemu-img convert -O vpc -o subformat=fixed,force_size) or build the azure image target`,
            });
        }
        if (a.bootMode !== "uefi") {
            problems.push({
                path: `${at}.bootMode`,
                message: `nixlab boots Azure nodes as Hyper-V generation 2 (UEFI; Arm64 and v6 sizes have no generation 1), got ${show(a.bootMode)}; build the image with UEFI boot`,
            });
        }
    });
    return problems;
}
