/**
 * The AWS capability check: turns each node's arch/kvm/size (or its explicit machineType)
 * into an instance type from the catalog, or a Problem that says why not and what would
 * work. Pure; registers nothing.
 */
import { bySize, smallestFitting, suggest } from "../../components/catalog";
import type { MachineChoice, Placement } from "../../components/backend";
import { sshIngressProblems } from "../../components/ready";
import type { Problem } from "../../components/problems";
import { show } from "../../components/problems";
import type { ImageArtifactSpec, LabSpec, NodeSpec } from "../../components/spec";
import { AWS_CATALOG, AwsMachine, choosable, provides } from "./catalog";

const NESTED_DOC = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/amazon-ec2-nested-virtualization.html";

/** Formats accepted by ebs.SnapshotImport (SDK DiskImageFormat enum: VMDK, RAW, VHD). */
export const AWS_IMAGE_FORMATS = { vhd: "VHD", vmdk: "VMDK", raw: "RAW" } as const;

export function findMachine(machineType: string): AwsMachine | undefined {
    return AWS_CATALOG.find((m) => m.machineType === machineType);
}

/** Types of the node's arch placement picks from for its kvm mode, smallest first (vCPUs, memory, catalog order). */
export function candidates(node: Pick<NodeSpec, "arch" | "kvm">): AwsMachine[] {
    return bySize(AWS_CATALOG, (m) => m.arch === node.arch && choosable(m, node.kvm));
}

function choose(node: NodeSpec): { choice?: MachineChoice; problem?: Problem } {
    const fits = candidates(node);
    if (fits.length === 0) return { problem: capabilityProblem(node) };
    if (node.machineType !== undefined) return explicit(node, fits);
    return smallestFitting(fits, node, { cloud: "AWS", memoryUnit: "GiB" });
}

/** An explicit type overrides the sizing but must still be known and give the arch and kvm asked for. */
function explicit(node: NodeSpec, fits: AwsMachine[]): { choice?: MachineChoice; problem?: Problem } {
    const type = node.machineType!;
    const path = `${node.configPath}.machineType`;
    const known = findMachine(type);
    const instead = `use one of ${suggest(fits)} (smallest first), or remove machineType to choose by vcpus/memoryGiB`;
    if (!known) {
        return {
            problem: {
                path,
                message: `${show(type)} is not in the AWS catalog (providers/aws/catalog.ts), so nixlab cannot tell whether it gives ${node.arch} with kvm: ${node.kvm}; ${instead}`,
            },
        };
    }
    if (known.arch !== node.arch) {
        return { problem: { path, message: `${type} is an ${known.arch} type but node ${node.name} is ${node.arch}; ${instead}` } };
    }
    if (!provides(known, node.kvm)) {
        const what =
            known.kvm === "metal"
                ? `${type} is bare metal, which gives kvm: metal, not nested (set kvm: metal to keep it)`
                : known.kvm === "nested"
                  ? `${type} is a virtual instance; it gives kvm: nested, not metal (set kvm: nested to keep it)`
                  : `${type} has no /dev/kvm (AWS enables nested virtualization only on C8i/M8i/R8i, ${NESTED_DOC})`;
        return { problem: { path, message: `${what}; ${instead}` } };
    }
    return {
        choice: {
            machineType: type,
            reason: `set in config (${path}); ${known.vcpus} vCPUs, ${known.memoryGiB} GiB, kvm: ${known.kvm} (${known.source})`,
            nestedVirtualization: node.kvm === "nested",
            vcpus: known.vcpus,
            memoryGiB: known.memoryGiB,
        },
    };
}

/** The arch/kvm combination itself is impossible on AWS; say why and what works. */
function capabilityProblem(node: NodeSpec): Problem {
    const metal = candidates({ arch: node.arch, kvm: "metal" });
    const x86Nested = candidates({ arch: "x86_64", kvm: "nested" });
    // The only empty combination in the catalog is aarch64 + nested.
    return {
        path: `${node.configPath}.kvm`,
        message:
            `kvm: ${node.kvm} is impossible for ${node.arch} on AWS: Graviton (arm64) instances have no nested virtualization; ` +
            `AWS offers it only on Intel C8i/M8i/R8i (${NESTED_DOC}). ` +
            `What works: kvm: metal with ${suggest(metal)}, or arch: x86_64 with kvm: nested on ${suggest(x86Nested)}`,
    };
}

/** Prebuilt artifacts are plain config, so their problems are found before anything runs. */
export function artifactProblems(artifacts: ImageArtifactSpec[] | undefined): Problem[] {
    return (artifacts ?? []).flatMap((a, i) => {
        const p = artifactProblem(a);
        return p ? [{ path: `nixlab:lab.image.artifacts[${i}].${p.field}`, message: p.message }] : [];
    });
}

/** Shared by the config check and the check on built artifacts (createImage). */
export function artifactProblem(
    a: Pick<ImageArtifactSpec, "format" | "arch" | "bootMode">,
): { field: "format" | "bootMode"; message: string } | undefined {
    if (!(a.format in AWS_IMAGE_FORMATS)) {
        return {
            field: "format",
            message: `${show(a.format)} cannot be imported into EBS; ebs.SnapshotImport takes ${Object.keys(AWS_IMAGE_FORMATS).join(", ")} (build the aws image target, which makes a VHD)`,
        };
    }
    if (a.arch === "aarch64" && a.bootMode !== "uefi") {
        return {
            field: "bootMode",
            message: `${show(a.bootMode)} cannot boot an aarch64 image on AWS: Graviton instances boot UEFI only; build it with UEFI (ec2.efi, the default on aarch64)`,
        };
    }
    return undefined;
}

/** EC2's recommended data-volume device names, /dev/sdf to /dev/sdp. */
export const DATA_DEVICE_LETTERS = "fghijklmnop";

export function placeAws(lab: LabSpec): Placement {
    const problems: Problem[] = [];
    const machines: Record<string, MachineChoice> = {};
    for (const node of lab.nodes) {
        const { choice, problem } = choose(node);
        if (problem) problems.push(problem);
        if (choice) machines[node.name] = choice;
        if (node.volumes.length > DATA_DEVICE_LETTERS.length) {
            problems.push({
                path: `${node.configPath}.volumes`,
                message: `node ${node.name} has ${node.volumes.length} extra volumes; nixlab attaches at most ${DATA_DEVICE_LETTERS.length} on AWS (/dev/sdf to /dev/sdp). Use fewer, larger volumes`,
            });
        }
    }
    problems.push(...artifactProblems(lab.image.artifacts), ...sshIngressProblems(lab));
    return { problems, machines };
}

