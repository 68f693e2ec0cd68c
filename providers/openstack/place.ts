/**
 * OpenStack capability check and flavor choice, over the flavors the stack file describes.
 */
import { bySize } from "../../components/catalog";
import { sshIngressProblems } from "../../components/ready";
import type { MachineChoice, Placement } from "../../components/backend";
import { assertNever } from "../../components/backend";
import { show, type Problem } from "../../components/problems";
import { LAB_CONFIG_KEY, type KvmMode, type LabSpec, type NodeSpec } from "../../components/spec";
import { TAG_KEYS } from "../../components/tags";
import { OPENSTACK_CONFIG_KEY, type FlavorSpec, type OpenStackConfig } from "./config";
import { novaMetadataProblems } from "./tags";

/** Glance disk formats nixlab artifacts can have (Glance also knows iso, vdi, ...). */
export const GLANCE_DISK_FORMATS = { qcow2: "qcow2", raw: "raw", vhd: "vhd", vmdk: "vmdk" } as const;

const FLAVORS = `${OPENSTACK_CONFIG_KEY}.flavors`;

/**
 * Whether a flavor can serve a node. Picked automatically, `none` nodes never take a
 * bare-metal flavor and `nested` nodes never silently become bare metal; a flavor set
 * explicitly may give more than asked (a metal flavor for a nested node).
 */
function serves(flavor: KvmMode, want: KvmMode, explicit: boolean): boolean {
    switch (want) {
        case "none":
            return explicit || flavor !== "metal";
        case "nested":
            return flavor === "nested" || (explicit && flavor === "metal");
        case "metal":
            return flavor === "metal";
        default:
            return assertNever(want, "kvm mode");
    }
}

function describe(f: FlavorSpec): string {
    return `${f.name} (${f.arch}, ${f.vcpus} vCPUs, ${f.memoryGiB} GiB, kvm: ${f.kvm})`;
}

function listFlavors(flavors: FlavorSpec[]): string {
    return flavors.length > 0 ? flavors.map(describe).join(", ") : "none";
}

export function placeOpenStack(cfg: OpenStackConfig, lab: LabSpec): Placement {
    const problems: Problem[] = [...checkLab(cfg, lab), ...sshIngressProblems(lab), ...lab.nodes.flatMap((n) => metadataProblems(lab, n))];
    const machines: Record<string, MachineChoice> = {};
    for (const node of lab.nodes) {
        const result = node.machineType ? checkExplicit(cfg, node, node.machineType) : pickSmallest(cfg, node);
        if ("problem" in result) {
            problems.push(result.problem);
            continue;
        }
        const f = result.flavor;
        machines[node.name] = {
            machineType: f.name,
            reason: `${node.machineType ? `set in config (${node.configPath}.machineType)` : `smallest flavor with at least ${node.vcpus} vCPUs and ${node.memoryGiB} GiB`}: ${describe(f)} from ${FLAVORS}`,
            nestedVirtualization: node.kvm === "nested" && f.kvm === "nested",
            vcpus: f.vcpus,
            memoryGiB: f.memoryGiB,
        };
        if (f.kvm === "metal" && node.volumes.length > 0) {
            problems.push({
                path: `${node.configPath}.volumes`,
                message:
                    `node ${node.name} runs on bare-metal flavor ${f.name}, and Nova cannot attach volumes to bare-metal (Ironic) ` +
                    `instances (nova support matrix: attach-volume, ironic: missing); remove the volumes or use a flavor with kvm: nested`,
            });
        }
    }
    return { problems, machines };
}

/**
 * Every tag becomes server metadata (resources.ts, novaMetadata): what Nova would refuse is
 * refused here, naming the tag. nodeTags puts the lab's tags over the node's, and six
 * nixlab:* items (TAG_KEYS) over both.
 */
function metadataProblems(lab: LabSpec, node: NodeSpec): Problem[] {
    const tags = [
        ...Object.entries(node.tags)
            .filter(([k]) => !(k in lab.tags))
            .map(([key, value]) => ({ key, value, path: `${node.configPath}.tags.${key}` })),
        ...Object.entries(lab.tags).map(([key, value]) => ({ key, value, path: `${LAB_CONFIG_KEY}.tags.${key}` })),
    ];
    return novaMetadataProblems(tags, Object.keys(TAG_KEYS).length, node.configPath);
}

type FlavorResult = { flavor: FlavorSpec } | { problem: Problem };

function checkExplicit(cfg: OpenStackConfig, node: NodeSpec, name: string): FlavorResult {
    const at = `${node.configPath}.machineType`;
    const flavor = cfg.flavors.find((f) => f.name === name);
    if (!flavor) {
        return {
            problem: {
                path: at,
                message:
                    `node ${node.name}: flavor ${show(name)} is not described in ${FLAVORS}, so its architecture and KVM support ` +
                    `cannot be checked; add it there as ${name}: { vcpus, memoryGiB, arch, kvm } (described now: ${listFlavors(cfg.flavors)})`,
            },
        };
    }
    if (flavor.arch !== node.arch) {
        return {
            problem: {
                path: at,
                message: `node ${node.name}: flavor ${describe(flavor)} is ${flavor.arch} but the node's arch is ${node.arch}; choose an ${node.arch} flavor or change arch`,
            },
        };
    }
    if (!serves(flavor.kvm, node.kvm, true)) {
        return {
            problem: {
                path: at,
                message:
                    `node ${node.name}: flavor ${describe(flavor)} cannot give kvm: ${node.kvm}` +
                    (node.kvm === "metal" ? " (it is not a bare-metal flavor)" : " (its guests get no /dev/kvm)") +
                    `; choose a flavor with kvm: ${node.kvm === "metal" ? "metal" : "nested or metal"}, or change kvm`,
            },
        };
    }
    return { flavor };
}

/** For a nested node the catalog cannot serve: a fitting bare-metal flavor, if one is described. */
function metalHint(cfg: OpenStackConfig, node: NodeSpec): string {
    if (node.kvm !== "nested") return "";
    const metal = cfg.flavors.find((f) => f.arch === node.arch && f.kvm === "metal" && f.vcpus >= node.vcpus && f.memoryGiB >= node.memoryGiB);
    return metal ? `; bare-metal flavor ${metal.name} fits: set kvm: metal to use it` : "";
}

function pickSmallest(cfg: OpenStackConfig, node: NodeSpec): FlavorResult {
    const capable = cfg.flavors.filter((f) => f.arch === node.arch && serves(f.kvm, node.kvm, false));
    if (capable.length === 0) {
        return {
            problem: {
                path: `${node.configPath}.kvm`,
                message:
                    `node ${node.name}: none of the flavors in ${FLAVORS} is ${node.arch} with kvm: ${node.kvm} ` +
                    `(described: ${listFlavors(cfg.flavors)}); add one (openstack flavor list; kvm: metal for a bare-metal flavor), ` +
                    `or change arch/kvm${metalHint(cfg, node)}`,
            },
        };
    }
    // Flavors of equal size keep the order the stack file lists them in.
    const fitting = bySize(capable, (f) => f.vcpus >= node.vcpus && f.memoryGiB >= node.memoryGiB);
    if (fitting[0]) return { flavor: fitting[0] };
    const largest = [...capable].sort((a, b) => b.vcpus - a.vcpus || b.memoryGiB - a.memoryGiB)[0]!;
    return {
        problem: {
            path: `${node.configPath}.vcpus`,
            message:
                `node ${node.name}: no ${node.arch} flavor with kvm: ${node.kvm} in ${FLAVORS} has at least ${node.vcpus} vCPUs and ` +
                `${node.memoryGiB} GiB; the largest is ${describe(largest)}. Describe a bigger flavor there, or lower vcpus/memoryGiB${metalHint(cfg, node)}`,
        },
    };
}

function checkLab(cfg: OpenStackConfig, lab: LabSpec): Problem[] {
    const problems: Problem[] = [];
    if (lab.network.publicAddresses) {
        if (!cfg.floatingIpPool) {
            problems.push({
                path: `${OPENSTACK_CONFIG_KEY}.floatingIpPool`,
                message:
                    `is not set, but ${LAB_CONFIG_KEY}.network.publicAddresses is true and nodes get floating IPs from it; ` +
                    `set it to the external network's name (openstack network list --external)`,
            });
        }
        if (!cfg.externalNetworkId) {
            problems.push({
                path: `${OPENSTACK_CONFIG_KEY}.externalNetworkId`,
                message:
                    `is not set, but floating IPs (${LAB_CONFIG_KEY}.network.publicAddresses: true) only work behind a router ` +
                    `with an external gateway; set it to the external network's UUID (openstack network list --external)`,
            });
        }
    }
    lab.image.artifacts?.forEach((a, i) => {
        if (!(a.format in GLANCE_DISK_FORMATS)) {
            problems.push({
                path: `${LAB_CONFIG_KEY}.image.artifacts[${i}].format`,
                message: `Glance cannot boot ${show(a.format)} images; use qcow2 (qemu-img convert -O qcow2), raw, vhd or vmdk`,
            });
        }
    });
    return problems;
}
