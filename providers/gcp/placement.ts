/**
 * The GCP capability check: each node's arch/kvm/size (or explicit machineType) becomes a
 * machine type from the catalog, or a Problem saying why not and what would work. Pure.
 */
import { bySize, smallestFitting, suggest } from "../../components/catalog";
import type { MachineChoice, Placement } from "../../components/backend";
import { sshIngressProblems } from "../../components/ready";
import type { Problem } from "../../components/problems";
import { show } from "../../components/problems";
import type { ImageArtifactSpec, LabSpec, NodeSpec } from "../../components/spec";
import { GCP_ARM_METAL, GCP_CATALOG, GcpMachine, choosable, provides } from "./catalog";

const NESTED_DOC = "https://cloud.google.com/compute/docs/instances/nested-virtualization/overview";

export function findMachine(machineType: string): GcpMachine | undefined {
    return GCP_CATALOG.find((m) => m.machineType === machineType);
}

/** Types of the node's arch placement picks from for its kvm mode, smallest first (vCPUs, memory, catalog order). */
export function candidates(node: Pick<NodeSpec, "arch" | "kvm">): GcpMachine[] {
    return bySize(GCP_CATALOG, (m) => m.arch === node.arch && choosable(m, node.kvm));
}

/** The machine a node gets; the volume and node code need its disk/NIC needs too. */
export function machineOf(choice: MachineChoice): GcpMachine {
    const m = findMachine(choice.machineType);
    if (!m) throw new Error(`nixlab: ${choice.machineType} is not in the GCP catalog; place() should have refused it`);
    return m;
}

/**
 * The machine a node resolves to, without the checks (place() has done them): what the
 * volume code needs to pick a disk type the node's machine can attach.
 */
export function resolveMachine(node: NodeSpec): GcpMachine | undefined {
    if (node.machineType !== undefined) return findMachine(node.machineType);
    return candidates(node).find((m) => m.vcpus >= node.vcpus && m.memoryGiB >= node.memoryGiB);
}

/**
 * aarch64 on GCP. Nested is refused for the cloud's own reason. Metal and none are refused
 * for a tooling reason: an Arm VM or bare-metal host boots only from an image marked
 * ARM64, and gcp.compute.Image (@pulumi/gcp 9.37, like terraform-provider-google's
 * google_compute_image) has no `architecture` argument, so nixlab cannot upload one.
 */
function armProblem(node: NodeSpec): Problem {
    const x86 = candidates({ arch: "x86_64", kvm: node.kvm });
    const why =
        node.kvm === "nested"
            ? `kvm: nested is impossible for aarch64 on GCP: nested virtualization exists only on Intel VMs ("You can't use VMs powered by AMD and Arm processors", ${NESTED_DOC})`
            : `aarch64 is not supported on GCP by nixlab: Arm machines (e.g. ${GCP_ARM_METAL.join(", ")}) boot only images marked ARM64, and gcp.compute.Image in @pulumi/gcp 9.37 cannot set an image's architecture`;
    return {
        path: `${node.configPath}.${node.kvm === "nested" ? "kvm" : "arch"}`,
        message: `${why}. What works: arch: x86_64 on GCP (${suggest(x86)}), or the aws backend for aarch64 with kvm: metal (Graviton .metal)`,
    };
}

function choose(node: NodeSpec): { choice?: MachineChoice; problem?: Problem } {
    if (node.arch === "aarch64") return { problem: armProblem(node) };
    const fits = candidates(node);
    if (node.machineType !== undefined) return explicit(node, fits);
    return smallestFitting(fits, node, { cloud: "GCP", memoryUnit: "GB" });
}

function explicit(node: NodeSpec, fits: GcpMachine[]): { choice?: MachineChoice; problem?: Problem } {
    const type = node.machineType!;
    const path = `${node.configPath}.machineType`;
    const known = findMachine(type);
    const instead = `use one of ${suggest(fits)} (smallest first), or remove machineType to choose by vcpus/memoryGiB`;
    if (!known) {
        return {
            problem: {
                path,
                message: `${show(type)} is not in the GCP catalog (providers/gcp/catalog.ts: E2 and N2D for kvm: none; N1, N2, C3 and C3 bare metal), so nixlab cannot vouch that it gives ${node.arch} with kvm: ${node.kvm}; ${instead}`,
            },
        };
    }
    if (!provides(known, node.kvm)) {
        const what =
            known.kvm === "metal"
                ? `${type} is bare metal, which gives kvm: metal, not nested (set kvm: metal to keep it)`
                : known.kvm === "none"
                  ? `${type} has no /dev/kvm (${/^e2-/.test(type) ? "E2 VMs have no VT-x, whatever the CPU underneath" : "nested virtualization is Intel-only; N2D is AMD"}, ${NESTED_DOC}); it gives kvm: none, not ${node.kvm} (set kvm: none to keep it)`
                  : `${type} is a VM; it gives kvm: nested, not metal (set kvm: nested to keep it)`;
        return { problem: { path, message: `${what}; ${instead}` } };
    }
    return {
        choice: {
            machineType: type,
            reason: `set in config (${path}); ${known.vcpus} vCPUs, ${known.memoryGiB} GB, kvm: ${known.kvm} (${known.source})`,
            nestedVirtualization: node.kvm === "nested",
            vcpus: known.vcpus,
            memoryGiB: known.memoryGiB,
        },
    };
}

/** Compute Engine imports only a gzipped tar holding disk.raw (images/create-delete-deprecate-private-images). */
export function artifactProblem(a: Pick<ImageArtifactSpec, "format">): string | undefined {
    if (a.format !== "tar.gz") {
        return `format ${show(a.format)} cannot become a Compute Engine image; it takes a tar.gz holding disk.raw (build the gcp image target)`;
    }
    return undefined;
}

export function artifactProblems(artifacts: ImageArtifactSpec[] | undefined): Problem[] {
    return (artifacts ?? []).flatMap((a, i) => {
        const msg = artifactProblem(a);
        return msg ? [{ path: `nixlab:lab.image.artifacts[${i}].format`, message: msg }] : [];
    });
}

export function placeGcp(lab: LabSpec): Placement {
    const problems: Problem[] = [];
    const machines: Record<string, MachineChoice> = {};
    for (const node of lab.nodes) {
        const { choice, problem } = choose(node);
        if (problem) problems.push(problem);
        if (choice) machines[node.name] = choice;
    }
    problems.push(...artifactProblems(lab.image.artifacts), ...sshIngressProblems(lab));
    return { problems, machines };
}
