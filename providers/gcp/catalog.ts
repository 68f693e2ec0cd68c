/**
 * Compute Engine machine types nixlab chooses from, as data, with the source of each fact.
 *
 * Shapes (vCPUs, memory, boot disk types, CPU platforms) are Google's own table in the GKE
 * cluster-autoscaler's machine-type registry (`package machinetypes`, Google LLC 2026:
 * `NewMachineTypeInfo("n2-standard-4", 4, 16)`, `supportedBootDiskTypes`, ...), cited as
 * GKE_TABLE; they match https://cloud.google.com/compute/docs/general-purpose-machines.
 * Memory is in GB as Google writes it (binary: n2-standard-4 has 16384 MiB).
 *
 * Nested virtualization (NESTED_DOC): "Compute Engine adds Intel VT-x instructions to VMs";
 * "You can't use VMs powered by AMD and Arm processors. For VMs powered by Intel
 * processors, you can't use any of the memory-optimized machine series"; older text of the
 * page: "You cannot use E2 and N2D machine types. You must use Intel Haswell or later".
 * Hence N1 (with a Haswell minimum CPU platform: N1 spans Sandy Bridge to Skylake), N2 and
 * C3; never E2 (which silently lacks VMX), N2D, C2D, T2D or Arm.
 *
 * Order is the cost tie-break: GKE_TABLE prices N1 and N2 alike (0.031611 $/vCPU-h,
 * 0.004237 $/GB-h) and C3 higher (0.03398, 0.00456), so N1, N2, then C3.
 *
 * `kvm: none` nodes (clients, load generators) are chosen only among the ordinary types
 * marked kvm: none, E2 then N2D: E2 is the cheapest series (GKE_TABLE 0.021811 $/vCPU-h,
 * 0.002923 $/GB-h) and lacks VT-x, which such a node does not need; a nested or metal
 * type would cost more for nothing. An explicit machineType may still name any type.
 */
import type { Arch } from "../../components/spec";

export type GcpKvm = "none" | "nested" | "metal";

export interface GcpMachine {
    machineType: string;
    arch: Arch;
    vcpus: number;
    memoryGiB: number;
    kvm: GcpKvm;
    /** Boot and data disk type the series takes (metal and newer series: Hyperdisk only). */
    diskType: "pd-balanced" | "hyperdisk-balanced";
    /** NIC the series needs; undefined = Compute Engine's default (virtio-net). */
    nicType?: "GVNIC" | "IDPF";
    /** Set when nested virtualization needs a newer CPU than the series guarantees. */
    nestedMinCpuPlatform?: string;
    /** Metal hosts cannot live-migrate. */
    onHostMaintenance?: "TERMINATE";
    source: string;
}

const GKE_TABLE = "GKE cluster-autoscaler machinetypes table (Google LLC)";
const NESTED_DOC = "https://cloud.google.com/compute/docs/instances/nested-virtualization/overview";
const METAL_DOC = "https://cloud.google.com/compute/docs/instances/bare-metal-instances";

function series(
    prefix: string,
    gbPerVcpu: number,
    vcpus: number[],
    extra: Omit<GcpMachine, "machineType" | "vcpus" | "memoryGiB" | "arch" | "kvm" | "source">,
    source: string,
    kvm: GcpKvm = "nested",
): GcpMachine[] {
    return vcpus.map((n) => ({
        machineType: `${prefix}-${n}`,
        arch: "x86_64",
        vcpus: n,
        // n1-highcpu-2 has 1.8 GB: keep one decimal, as Google lists it.
        memoryGiB: Math.round(n * gbPerVcpu * 10) / 10,
        kvm,
        ...extra,
        source,
    }));
}

const N1_VCPUS = [2, 4, 8, 16, 32, 64, 96];
const N2_VCPUS = [2, 4, 8, 16, 32, 48, 64, 80, 96, 128];
const C3_VCPUS = [4, 8, 22, 44, 88, 176];
const n1 = { diskType: "pd-balanced", nestedMinCpuPlatform: "Intel Haswell" } as const;
const n2 = { diskType: "pd-balanced" } as const;
// Third-generation series (C3) use gVNIC only: https://cloud.google.com/compute/docs/networking/using-gvnic
const c3 = { diskType: "pd-balanced", nicType: "GVNIC" } as const;

const NESTED: GcpMachine[] = [
    { machineType: "n1-standard-1", arch: "x86_64", vcpus: 1, memoryGiB: 3.75, kvm: "nested", ...n1, source: `${GKE_TABLE} (N1); ${NESTED_DOC}` },
    ...series("n1-highcpu", 0.9, N1_VCPUS, n1, `${GKE_TABLE} (N1 highcpu); ${NESTED_DOC}`),
    ...series("n1-standard", 3.75, N1_VCPUS, n1, `${GKE_TABLE} (N1 standard); ${NESTED_DOC}`),
    ...series("n1-highmem", 6.5, N1_VCPUS, n1, `${GKE_TABLE} (N1 highmem); ${NESTED_DOC}`),
    ...series("n2-highcpu", 1, N2_VCPUS, n2, `${GKE_TABLE} (N2 highcpu); ${NESTED_DOC}`),
    ...series("n2-standard", 4, N2_VCPUS, n2, `${GKE_TABLE} (N2 standard); ${NESTED_DOC}`),
    // n2-highmem-128 has 864 GB, not 8 x 128: listed apart below.
    ...series("n2-highmem", 8, N2_VCPUS.slice(0, -1), n2, `${GKE_TABLE} (N2 highmem); ${NESTED_DOC}`),
    { machineType: "n2-highmem-128", arch: "x86_64", vcpus: 128, memoryGiB: 864, kvm: "nested", ...n2, source: `${GKE_TABLE} (N2 highmem); ${NESTED_DOC}` },
    ...series("c3-highcpu", 2, C3_VCPUS, c3, `${GKE_TABLE} (C3 highcpu); ${NESTED_DOC}`),
    ...series("c3-standard", 4, C3_VCPUS, c3, `${GKE_TABLE} (C3 standard); ${NESTED_DOC}`),
    ...series("c3-highmem", 8, C3_VCPUS, c3, `${GKE_TABLE} (C3 highmem); ${NESTED_DOC}`),
];

// Ordinary VMs for nodes that need no /dev/kvm (kvm: none). E2 shapes are GKE_TABLE's
// (`NewMachineTypeInfo("e2-medium", 1, 4)`, `("e2-small", 1, 2)`, e2-standard 4 GB/vCPU,
// e2-highcpu 1, e2-highmem 8 up to 16 vCPUs). The shared-core e2-small and e2-medium show
// 2 vCPUs in the machine-types API but get one vCPU's worth of time; GKE_TABLE counts them
// as 1 core, and so does nixlab, so a node asking for 2 vCPUs never lands on a fraction
// (https://cloud.google.com/compute/docs/general-purpose-machines#sharedcore). e2-micro
// (a quarter vCPU, 1 GB) is left out: too little for a NixOS node. N2D standard (AMD,
// 4 GB/vCPU, up to 224 vCPUs) covers sizes past E2's 32 vCPUs (U: N2D shapes from
// https://cloud.google.com/compute/docs/general-purpose-machines#n2d_machines, not checked
// against GKE_TABLE).
const E2_VCPUS = [2, 4, 8, 16, 32];
const N2D_VCPUS = [2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224];
const e2 = { diskType: "pd-balanced" } as const;
const GP_DOC = "https://cloud.google.com/compute/docs/general-purpose-machines";
const VM_X86: GcpMachine[] = [
    { machineType: "e2-small", arch: "x86_64", vcpus: 1, memoryGiB: 2, kvm: "none", ...e2, source: `${GKE_TABLE} (E2 shared-core); ${GP_DOC}` },
    { machineType: "e2-medium", arch: "x86_64", vcpus: 1, memoryGiB: 4, kvm: "none", ...e2, source: `${GKE_TABLE} (E2 shared-core); ${GP_DOC}` },
    ...series("e2-highcpu", 1, E2_VCPUS, e2, `${GKE_TABLE} (E2 highcpu); ${GP_DOC}`, "none"),
    ...series("e2-standard", 4, E2_VCPUS, e2, `${GKE_TABLE} (E2 standard); ${GP_DOC}`, "none"),
    ...series("e2-highmem", 8, E2_VCPUS.slice(0, -1), e2, `${GKE_TABLE} (E2 highmem); ${GP_DOC}`, "none"),
    ...series("n2d-standard", 4, N2D_VCPUS, e2, `${GP_DOC} (N2D standard) (U)`, "none"),
];

// Bare metal: machine types ending in -metal (METAL_DOC). C3 metal takes Hyperdisk only,
// has one IDPF NIC (https://cloud.google.com/compute/docs/networking/using-idpf) and no
// live migration; Google's own image tests run it with onHostMaintenance TERMINATE.
const metal = { diskType: "hyperdisk-balanced", nicType: "IDPF", onHostMaintenance: "TERMINATE" } as const;
const METAL: GcpMachine[] = [
    { machineType: "c3-highcpu-192-metal", arch: "x86_64", vcpus: 192, memoryGiB: 512, kvm: "metal", ...metal, source: `${GKE_TABLE} (C3 bare metal); ${METAL_DOC}` },
    { machineType: "c3-standard-192-metal", arch: "x86_64", vcpus: 192, memoryGiB: 768, kvm: "metal", ...metal, source: `${GKE_TABLE} (C3 bare metal); ${METAL_DOC}` },
    { machineType: "c3-highmem-192-metal", arch: "x86_64", vcpus: 192, memoryGiB: 1536, kvm: "metal", ...metal, source: `${GKE_TABLE} (C3 bare metal); ${METAL_DOC}` },
];

export const GCP_CATALOG: readonly GcpMachine[] = [...VM_X86, ...NESTED, ...METAL];

/**
 * Arm bare metal that exists on Compute Engine but that nixlab cannot use yet (see
 * placement.ts): `NewMachineTypeInfo("c4a-standard-96-metal", 96, 384)` and
 * `("c4a-highmem-96-metal", 96, 768)`, Hyperdisk Balanced boot only (GKE_TABLE).
 */
export const GCP_ARM_METAL = ["c4a-standard-96-metal", "c4a-highmem-96-metal"] as const;

/** `none` runs anywhere of its arch; `nested` and `metal` need exactly that capability. */
export function provides(machine: GcpMachine, kvm: GcpKvm): boolean {
    return kvm === "none" || machine.kvm === kvm;
}

/** What placement chooses from on its own: exactly the node's kvm mode (see the file comment). */
export function choosable(machine: GcpMachine, kvm: GcpKvm): boolean {
    return machine.kvm === kvm;
}
