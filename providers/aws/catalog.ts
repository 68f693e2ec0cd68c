/**
 * EC2 instance types nixlab chooses from, as data, with the source of each fact beside it.
 *
 * Sizes follow AWS's naming rule inside a family: `.medium` = 1 vCPU, `.large` = 2,
 * `.xlarge` = 4, `.Nxlarge` = 4N; memory is the family's fixed GiB per vCPU (C = 2,
 * M = 4, R = 8). Source: "Specifications for Amazon EC2 ... instances",
 * https://docs.aws.amazon.com/ec2/latest/instancetypes/co.md (compute optimized),
 * .../gp.md (general purpose), .../mo.md (memory optimized). Every name below is also a
 * value of the SDK's `aws.types.enums.ec2.InstanceType` (@pulumi/aws 7.48); a test
 * checks that, so a typo cannot reach a deployment.
 *
 * Order is the cost tie-break: when two types have the same vCPUs and memory, the earlier
 * one wins. Within a family the flex variant (cheaper on-demand list price) comes first;
 * among metal types of equal shape, the older generation (lower list price) comes first.
 *
 * `kvm: none` nodes (clients, load generators) are chosen only among the ordinary types
 * marked kvm: none (T3/C7i on x86_64, T4g/C7g/M7g/R7g on arm64), burstable T first: a
 * nested or metal type would cost more for a /dev/kvm the node does not use. An explicit
 * machineType may still name any type of the node's arch.
 *
 * Boot mode: x86_64 AMIs keep `legacy-bios` (the aws image target builds a BIOS image).
 * Every x86_64 type here boots it: Intel and AMD types boot Legacy BIOS by default, and
 * "All instances built on the AWS Nitro System" support UEFI in addition, "except bare
 * metal instances" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-boot.html,
 * "Default boot modes"; .../launch-instance-boot-mode.html, "Instance type"), so a
 * `uefi` AMI would not boot on the x86_64 .metal types below, and `uefi-preferred` needs
 * an image that boots both ways, which NixOS's amazon image is not (ec2.efi selects one
 * partition layout). C8i/M8i/R8i do support UEFI; nested virtualization sets no boot-mode
 * requirement (its only stated side effect: "Virtual Secure Mode (VSM) is automatically
 * disabled", EC2 API CpuOptionsRequest.NestedVirtualization). Graviton boots UEFI only.
 */
import type { Arch } from "../../components/spec";

/** What a type gives a node: a VM without KVM, KVM inside the VM, or the whole machine. */
export type AwsKvm = "none" | "nested" | "metal";

export interface AwsMachine {
    machineType: string;
    arch: Arch;
    vcpus: number;
    memoryGiB: number;
    kvm: AwsKvm;
    /** Where the facts come from. */
    source: string;
}

const NESTED_DOC = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/amazon-ec2-nested-virtualization.html";
const SPEC_DOC = "https://docs.aws.amazon.com/ec2/latest/instancetypes/";

/** Size suffix → vCPUs (AWS naming rule, see the file comment). */
const SIZES = {
    medium: 1,
    large: 2,
    xlarge: 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
    "24xlarge": 96,
    "32xlarge": 128,
    "48xlarge": 192,
    "96xlarge": 384,
} as const;
type Size = keyof typeof SIZES;

function family(name: string, arch: Arch, kvm: AwsKvm, gibPerVcpu: number, sizes: Size[], source: string): AwsMachine[] {
    return sizes.map((size) => ({
        machineType: `${name}.${size}`,
        arch,
        vcpus: SIZES[size],
        memoryGiB: SIZES[size] * gibPerVcpu,
        kvm,
        source,
    }));
}

const FLEX_SIZES: Size[] = ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"];
const GEN8I_SIZES: Size[] = [...FLEX_SIZES, "24xlarge", "32xlarge", "48xlarge", "96xlarge"];
const GRAVITON3_SIZES: Size[] = ["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"];

// Nested virtualization on virtual instances: "Nested virtualization is currently supported
// on C8i, M8i, and R8i instances" (NESTED_DOC, Feb 2026); the SDK's CpuOptions doc adds "and
// their flex variants", and `describe-instance-types --filters
// Name=processor-info.supported-features,Values=nested-virtualization` lists the flex sizes.
// Turned on per instance with cpuOptions.nestedVirtualization = "enabled" (@pulumi/aws 7.48
// types/input.d.ts, InstanceCpuOptions). Intel only: "No Graviton, no AMD".
const nestedSource = (fam: string) => `${NESTED_DOC} (${fam}); sizes ${SPEC_DOC}`;
const NESTED_X86: AwsMachine[] = [
    ...interleave(
        family("c8i-flex", "x86_64", "nested", 2, FLEX_SIZES, nestedSource("C8i flex") + "co.md"),
        family("c8i", "x86_64", "nested", 2, GEN8I_SIZES, nestedSource("C8i") + "co.md"),
    ),
    ...interleave(
        family("m8i-flex", "x86_64", "nested", 4, FLEX_SIZES, nestedSource("M8i flex") + "gp.md"),
        family("m8i", "x86_64", "nested", 4, GEN8I_SIZES, nestedSource("M8i") + "gp.md"),
    ),
    ...interleave(
        family("r8i-flex", "x86_64", "nested", 8, FLEX_SIZES, nestedSource("R8i flex") + "mo.md"),
        family("r8i", "x86_64", "nested", 8, GEN8I_SIZES, nestedSource("R8i") + "mo.md"),
    ),
];

/** Flex first at each size, so a tie between equal shapes goes to the cheaper flex type. */
function interleave(flex: AwsMachine[], full: AwsMachine[]): AwsMachine[] {
    const byType = new Map(flex.map((m) => [m.machineType.replace("-flex", ""), m]));
    return full.flatMap((m) => {
        const f = byType.get(m.machineType);
        return f ? [f, m] : [m];
    });
}

// Bare metal: the instance owns the host's CPU, so /dev/kvm works with no option at all.
// vCPU counts of c5/c5n/m5/a1/c6g .metal were downloaded from DescribeInstanceTypes into
// eksctl-io/eksctl pkg/nodebootstrap/reserved_data.go; memory and the rest from SPEC_DOC.
const METAL_X86: AwsMachine[] = [
    { machineType: "m5zn.metal", arch: "x86_64", vcpus: 48, memoryGiB: 192, kvm: "metal", source: `${SPEC_DOC}gp.md (M5zn)` },
    { machineType: "c5n.metal", arch: "x86_64", vcpus: 72, memoryGiB: 192, kvm: "metal", source: `${SPEC_DOC}co.md (C5n: "c5n.metal 72 192")` },
    { machineType: "c5.metal", arch: "x86_64", vcpus: 96, memoryGiB: 192, kvm: "metal", source: `${SPEC_DOC}co.md (C5: "c5.metal 96 192")` },
    { machineType: "c7i.metal-24xl", arch: "x86_64", vcpus: 96, memoryGiB: 192, kvm: "metal", source: `${SPEC_DOC}co.md (C7i)` },
    { machineType: "m5.metal", arch: "x86_64", vcpus: 96, memoryGiB: 384, kvm: "metal", source: `${SPEC_DOC}gp.md (M5)` },
    { machineType: "m7i.metal-24xl", arch: "x86_64", vcpus: 96, memoryGiB: 384, kvm: "metal", source: `${SPEC_DOC}gp.md (M7i)` },
    { machineType: "c6i.metal", arch: "x86_64", vcpus: 128, memoryGiB: 256, kvm: "metal", source: `${SPEC_DOC}co.md (C6i)` },
    { machineType: "m6i.metal", arch: "x86_64", vcpus: 128, memoryGiB: 512, kvm: "metal", source: `${SPEC_DOC}gp.md (M6i)` },
    { machineType: "c7i.metal-48xl", arch: "x86_64", vcpus: 192, memoryGiB: 384, kvm: "metal", source: `${SPEC_DOC}co.md (C7i)` },
    { machineType: "c8i.metal-48xl", arch: "x86_64", vcpus: 192, memoryGiB: 384, kvm: "metal", source: `${SPEC_DOC}co.md (C8i)` },
    { machineType: "m7i.metal-48xl", arch: "x86_64", vcpus: 192, memoryGiB: 768, kvm: "metal", source: `${SPEC_DOC}gp.md (M7i)` },
    { machineType: "m8i.metal-48xl", arch: "x86_64", vcpus: 192, memoryGiB: 768, kvm: "metal", source: `${SPEC_DOC}gp.md (M8i)` },
];

// Graviton: no nested virtualization on virtual instances (NESTED_DOC lists Intel types
// only), so KVM on arm64 means a .metal type. All Graviton types boot UEFI only.
const METAL_ARM: AwsMachine[] = [
    // Graviton1 (Cortex-A72, Armv8.0: KVM works, but without VHE).
    { machineType: "a1.metal", arch: "aarch64", vcpus: 16, memoryGiB: 32, kvm: "metal", source: `${SPEC_DOC}gp.md (A1); eksctl reserved_data.go` },
    { machineType: "c6g.metal", arch: "aarch64", vcpus: 64, memoryGiB: 128, kvm: "metal", source: `${SPEC_DOC}co.md (C6g)` },
    { machineType: "c7g.metal", arch: "aarch64", vcpus: 64, memoryGiB: 128, kvm: "metal", source: `${SPEC_DOC}co.md (C7g)` },
    { machineType: "m6g.metal", arch: "aarch64", vcpus: 64, memoryGiB: 256, kvm: "metal", source: `${SPEC_DOC}gp.md (M6g)` },
    { machineType: "m7g.metal", arch: "aarch64", vcpus: 64, memoryGiB: 256, kvm: "metal", source: `${SPEC_DOC}gp.md (M7g)` },
    { machineType: "r7g.metal", arch: "aarch64", vcpus: 64, memoryGiB: 512, kvm: "metal", source: `${SPEC_DOC}mo.md (R7g)` },
    { machineType: "c8g.metal-24xl", arch: "aarch64", vcpus: 96, memoryGiB: 192, kvm: "metal", source: `${SPEC_DOC}co.md (C8g)` },
    { machineType: "m8g.metal-24xl", arch: "aarch64", vcpus: 96, memoryGiB: 384, kvm: "metal", source: `${SPEC_DOC}gp.md (M8g)` },
    { machineType: "c8g.metal-48xl", arch: "aarch64", vcpus: 192, memoryGiB: 384, kvm: "metal", source: `${SPEC_DOC}co.md (C8g)` },
    { machineType: "m8g.metal-48xl", arch: "aarch64", vcpus: 192, memoryGiB: 768, kvm: "metal", source: `${SPEC_DOC}gp.md (M8g)` },
];

// Ordinary x86_64 VMs for nodes that need no /dev/kvm (kvm: none). T3: burstable,
// "t3.micro 2 vCPUs 1 GiB ... t3.2xlarge 8 32" (SPEC_DOC gp.md, T3); C7i: 2 GiB per vCPU (co.md).
const T_SIZES = [
    ["micro", 2, 1],
    ["small", 2, 2],
    ["medium", 2, 4],
    ["large", 2, 8],
    ["xlarge", 4, 16],
    ["2xlarge", 8, 32],
] as const;
function burstable(name: string, arch: Arch, source: string): AwsMachine[] {
    return T_SIZES.map(([size, vcpus, memoryGiB]) => ({ machineType: `${name}.${size}`, arch, vcpus, memoryGiB, kvm: "none", source }));
}
const VM_X86: AwsMachine[] = [
    ...burstable("t3", "x86_64", `${SPEC_DOC}gp.md (T3)`),
    ...family("c7i", "x86_64", "none", 2, ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"], `${SPEC_DOC}co.md (C7i)`),
];

// Plain Graviton VMs for arm64 nodes that need no /dev/kvm (kvm: none): T4g (burstable,
// the T3 shapes, SPEC_DOC gp.md), then Graviton3.
const VM_ARM: AwsMachine[] = [
    ...burstable("t4g", "aarch64", `${SPEC_DOC}gp.md (T4g)`),
    ...family("c7g", "aarch64", "none", 2, GRAVITON3_SIZES, `${SPEC_DOC}co.md (C7g)`),
    ...family("m7g", "aarch64", "none", 4, GRAVITON3_SIZES, `${SPEC_DOC}gp.md (M7g)`),
    ...family("r7g", "aarch64", "none", 8, GRAVITON3_SIZES, `${SPEC_DOC}mo.md (R7g)`),
];

export const AWS_CATALOG: readonly AwsMachine[] = [...VM_X86, ...NESTED_X86, ...METAL_X86, ...VM_ARM, ...METAL_ARM];

/**
 * Whether a type gives what a node asked for. A `kvm: none` node may run on anything of its
 * arch; `nested` needs a type AWS enables nested virtualization on; `metal` needs metal.
 * A metal type does not count as `nested`: asking for nested and paying for a whole host by
 * surprise is worse than a clear refusal that names the metal alternative.
 */
export function provides(machine: AwsMachine, kvm: AwsKvm): boolean {
    return kvm === "none" || machine.kvm === kvm;
}

/** What placement chooses from on its own: exactly the node's kvm mode (see the file comment). */
export function choosable(machine: AwsMachine, kvm: AwsKvm): boolean {
    return machine.kvm === kvm;
}
