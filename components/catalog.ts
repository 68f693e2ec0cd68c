/**
 * Machine catalogs as data: what every cloud's placement shares. A catalog entry says what
 * a machine type has (arch, vCPUs, memory, the KVM it gives) and where that fact comes from;
 * the cloud decides which entries serve a node, this picks among them.
 */
import type { MachineChoice } from "./backend";
import type { Problem } from "./problems";
import type { NodeSpec } from "./spec";

export interface Sized {
    vcpus: number;
    memoryGiB: number;
}

export interface SizedMachine extends Sized {
    machineType: string;
    /** Where the entry's facts come from. */
    source: string;
}

/** The entries `keep` accepts, smallest first (vCPUs, then memory); ties keep catalog order. */
export function bySize<M extends Sized>(entries: readonly M[], keep: (m: M) => boolean): M[] {
    return entries
        .map((m, order) => ({ m, order }))
        .filter(({ m }) => keep(m))
        .sort((a, b) => a.m.vcpus - b.m.vcpus || a.m.memoryGiB - b.m.memoryGiB || a.order - b.order)
        .map(({ m }) => m);
}

/** A few alternatives for a message, smallest first. */
export function suggest(machines: readonly SizedMachine[], count = 4): string {
    return machines
        .slice(0, count)
        .map((m) => m.machineType)
        .join(", ");
}

/**
 * The smallest of `fits` (already filtered to the node's arch and kvm, smallest first) that
 * holds the node's vCPUs and memory, or a problem naming the largest there is.
 */
export function smallestFitting(
    fits: readonly SizedMachine[],
    node: NodeSpec,
    where: { cloud: string; memoryUnit: "GiB" | "GB" },
): { choice?: MachineChoice; problem?: Problem } {
    const pick = fits.find((m) => m.vcpus >= node.vcpus && m.memoryGiB >= node.memoryGiB);
    if (!pick) {
        const largest = [...fits].sort((a, b) => b.vcpus - a.vcpus || b.memoryGiB - a.memoryGiB)[0]!;
        return {
            problem: {
                path: `${node.configPath}.vcpus`,
                message:
                    `node ${node.name} asks for ${node.vcpus} vCPUs and ${node.memoryGiB} GiB, more than any ${node.arch} type with kvm: ${node.kvm} in the ${where.cloud} catalog; ` +
                    `the largest is ${largest.machineType} (${largest.vcpus} vCPUs, ${largest.memoryGiB} ${where.memoryUnit}). Lower vcpus/memoryGiB`,
            },
        };
    }
    return {
        choice: {
            machineType: pick.machineType,
            reason: `smallest ${node.arch} type with kvm: ${node.kvm} for ${node.vcpus} vCPUs/${node.memoryGiB} GiB (${pick.vcpus} vCPUs, ${pick.memoryGiB} ${where.memoryUnit}; ${pick.source})`,
            nestedVirtualization: node.kvm === "nested",
            vcpus: pick.vcpus,
            memoryGiB: pick.memoryGiB,
        },
    };
}
