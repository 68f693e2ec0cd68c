/**
 * Azure VM sizes nixlab chooses from, as data. Every fact sits next to where it came from:
 * "ACD" is the MicrosoftDocs/azure-compute-docs repository (the source of
 * learn.microsoft.com/azure/virtual-machines), read in 2026. Each series page has a size
 * table (vCPUs, memory, max data disks) and a "Feature support" table; the
 * "Nested Virtualization" row is the only thing that says whether /dev/kvm can work in a
 * VM of that size. There is no API switch for it (unlike AWS/GCP): the size decides.
 *
 * Sizes outside this table are refused even when set explicitly (nixlab:lab...machineType),
 * because their nested-virtualization support could not be checked. Add a series here, with
 * its source, to use it.
 */
import type { Arch } from "../../components/spec";

export type AzureDiskController = "SCSI" | "NVMe";

export interface AzureSeries {
    /** Series name as the docs spell it. */
    series: string;
    arch: Arch;
    /** Feature support → "Nested Virtualization". */
    nestedVirtualization: boolean;
    /** Feature support → "Accelerated Networking": Required sizes fail to start without it. */
    acceleratedNetworking: "required" | "supported";
    /**
     * The disk interface the size offers the guest. v6 sizes are NVMe-only, so the VM must
     * ask for NVMe and the image must be marked NVMe-capable (gallery feature DiskControllerTypes).
     */
    diskController: AzureDiskController;
    /** Whether the size family supports Trusted Launch (ACD articles/virtual-machines/trusted-launch.md, "Virtual machines sizes"). */
    trustedLaunch: boolean;
    /** Where the facts above come from. */
    source: string;
    sizes: { name: string; vcpus: number; memoryGiB: number; maxDataDisks: number }[];
}

export interface AzureSize {
    name: string;
    vcpus: number;
    memoryGiB: number;
    maxDataDisks: number;
    series: AzureSeries;
}

const TRUSTED_LAUNCH_SOURCE = "ACD articles/virtual-machines/trusted-launch.md (Virtual machines sizes)";
const NVME_SOURCE = "ACD articles/virtual-machines/nvme-overview.md (\"For v6 ... you need to transition from SCSI to NVMe\")";

/**
 * In preference order: the first series that fits wins a tie on vCPUs and memory. Intel
 * Dsv5 comes first because it is the most widely available nested-capable size and keeps
 * the SCSI disk path every Azure Linux image supports; AMD Dasv5 and NVMe-only Dsv6 follow.
 * Nested virtualization on Azure is documented for Hyper-V as the L1 hypervisor; KVM in
 * these sizes relies on the same exposed VT-x/AMD-V.
 *
 * `kvm: none` nodes (clients, load generators) choose among every size of their arch, and
 * the burstable Bsv2 comes before all of them: its sizes are the cheapest general-purpose
 * x86_64 sizes (2 GiB per vCPU in the "ls" sizes) and it lacks only nested virtualization,
 * which such a node does not need. Dsv5 and the others stay choosable for shapes Bsv2 lacks
 * (more than 32 vCPUs or 4 GiB per vCPU). Bsv2 never serves kvm: nested (its Feature support
 * says "Nested Virtualization: Not Supported"), so nested choices are unchanged by it.
 */
export const AZURE_SERIES: readonly AzureSeries[] = [
    {
        series: "Bsv2",
        arch: "x86_64",
        nestedVirtualization: false,
        acceleratedNetworking: "supported",
        diskController: "SCSI",
        trustedLaunch: true,
        source: `ACD articles/virtual-machines/sizes/general-purpose/bsv2-series.md (Nested Virtualization: Not Supported; Accelerated Networking: Supported; Generation 2 VMs: Supported); ${TRUSTED_LAUNCH_SOURCE}: B-family`,
        sizes: [
            { name: "Standard_B2ts_v2", vcpus: 2, memoryGiB: 1, maxDataDisks: 4 },
            { name: "Standard_B2ls_v2", vcpus: 2, memoryGiB: 4, maxDataDisks: 4 },
            { name: "Standard_B2s_v2", vcpus: 2, memoryGiB: 8, maxDataDisks: 4 },
            { name: "Standard_B4ls_v2", vcpus: 4, memoryGiB: 8, maxDataDisks: 8 },
            { name: "Standard_B4s_v2", vcpus: 4, memoryGiB: 16, maxDataDisks: 8 },
            { name: "Standard_B8ls_v2", vcpus: 8, memoryGiB: 16, maxDataDisks: 16 },
            { name: "Standard_B8s_v2", vcpus: 8, memoryGiB: 32, maxDataDisks: 16 },
            { name: "Standard_B16ls_v2", vcpus: 16, memoryGiB: 32, maxDataDisks: 32 },
            { name: "Standard_B16s_v2", vcpus: 16, memoryGiB: 64, maxDataDisks: 32 },
            { name: "Standard_B32ls_v2", vcpus: 32, memoryGiB: 64, maxDataDisks: 32 },
            { name: "Standard_B32s_v2", vcpus: 32, memoryGiB: 128, maxDataDisks: 32 },
        ],
    },
    {
        series: "Dsv5",
        arch: "x86_64",
        nestedVirtualization: true,
        acceleratedNetworking: "required",
        diskController: "SCSI",
        trustedLaunch: true,
        source: `ACD articles/virtual-machines/sizes/general-purpose/dsv5-series.md (Nested Virtualization: Supported; Accelerated Networking: Required); ${TRUSTED_LAUNCH_SOURCE}: D-family`,
        sizes: [
            { name: "Standard_D2s_v5", vcpus: 2, memoryGiB: 8, maxDataDisks: 4 },
            { name: "Standard_D4s_v5", vcpus: 4, memoryGiB: 16, maxDataDisks: 8 },
            { name: "Standard_D8s_v5", vcpus: 8, memoryGiB: 32, maxDataDisks: 16 },
            { name: "Standard_D16s_v5", vcpus: 16, memoryGiB: 64, maxDataDisks: 32 },
            { name: "Standard_D32s_v5", vcpus: 32, memoryGiB: 128, maxDataDisks: 32 },
            { name: "Standard_D48s_v5", vcpus: 48, memoryGiB: 192, maxDataDisks: 32 },
            { name: "Standard_D64s_v5", vcpus: 64, memoryGiB: 256, maxDataDisks: 32 },
            { name: "Standard_D96s_v5", vcpus: 96, memoryGiB: 384, maxDataDisks: 32 },
        ],
    },
    {
        series: "Dasv5",
        arch: "x86_64",
        nestedVirtualization: true,
        acceleratedNetworking: "supported",
        diskController: "SCSI",
        trustedLaunch: true,
        source: `ACD articles/virtual-machines/sizes/general-purpose/dasv5-series.md (Nested Virtualization: Supported; Accelerated Networking: Supported); ${TRUSTED_LAUNCH_SOURCE}: D-family`,
        sizes: [
            { name: "Standard_D2as_v5", vcpus: 2, memoryGiB: 8, maxDataDisks: 4 },
            { name: "Standard_D4as_v5", vcpus: 4, memoryGiB: 16, maxDataDisks: 8 },
            { name: "Standard_D8as_v5", vcpus: 8, memoryGiB: 32, maxDataDisks: 16 },
            { name: "Standard_D16as_v5", vcpus: 16, memoryGiB: 64, maxDataDisks: 32 },
            { name: "Standard_D32as_v5", vcpus: 32, memoryGiB: 128, maxDataDisks: 32 },
            { name: "Standard_D48as_v5", vcpus: 48, memoryGiB: 192, maxDataDisks: 32 },
            { name: "Standard_D64as_v5", vcpus: 64, memoryGiB: 256, maxDataDisks: 32 },
            { name: "Standard_D96as_v5", vcpus: 96, memoryGiB: 384, maxDataDisks: 32 },
        ],
    },
    {
        series: "Dsv6",
        arch: "x86_64",
        nestedVirtualization: true,
        acceleratedNetworking: "supported",
        diskController: "NVMe",
        trustedLaunch: true,
        source: `ACD articles/virtual-machines/sizes/general-purpose/dsv6-series.md (Nested Virtualization: Supported; Generation 1 VMs: Not Supported); ${NVME_SOURCE}; ${TRUSTED_LAUNCH_SOURCE}: D-family`,
        sizes: [
            { name: "Standard_D2s_v6", vcpus: 2, memoryGiB: 8, maxDataDisks: 8 },
            { name: "Standard_D4s_v6", vcpus: 4, memoryGiB: 16, maxDataDisks: 12 },
            { name: "Standard_D8s_v6", vcpus: 8, memoryGiB: 32, maxDataDisks: 24 },
            { name: "Standard_D16s_v6", vcpus: 16, memoryGiB: 64, maxDataDisks: 48 },
            { name: "Standard_D32s_v6", vcpus: 32, memoryGiB: 128, maxDataDisks: 64 },
            { name: "Standard_D48s_v6", vcpus: 48, memoryGiB: 192, maxDataDisks: 64 },
            { name: "Standard_D64s_v6", vcpus: 64, memoryGiB: 256, maxDataDisks: 64 },
            { name: "Standard_D96s_v6", vcpus: 96, memoryGiB: 384, maxDataDisks: 64 },
            { name: "Standard_D128s_v6", vcpus: 128, memoryGiB: 512, maxDataDisks: 64 },
            { name: "Standard_D192s_v6", vcpus: 192, memoryGiB: 768, maxDataDisks: 64 },
        ],
    },
    {
        series: "Dpsv5",
        arch: "aarch64",
        nestedVirtualization: false,
        acceleratedNetworking: "supported",
        diskController: "SCSI",
        // Listed under "Currently not supported size families".
        trustedLaunch: false,
        source: `ACD articles/virtual-machines/sizes/general-purpose/dpsv5-series.md (Nested Virtualization: Not supported; Generation 2 only); ${TRUSTED_LAUNCH_SOURCE}: Dpsv5 not supported`,
        sizes: [
            { name: "Standard_D2ps_v5", vcpus: 2, memoryGiB: 8, maxDataDisks: 4 },
            { name: "Standard_D4ps_v5", vcpus: 4, memoryGiB: 16, maxDataDisks: 8 },
            { name: "Standard_D8ps_v5", vcpus: 8, memoryGiB: 32, maxDataDisks: 16 },
            { name: "Standard_D16ps_v5", vcpus: 16, memoryGiB: 64, maxDataDisks: 32 },
            { name: "Standard_D32ps_v5", vcpus: 32, memoryGiB: 128, maxDataDisks: 32 },
            { name: "Standard_D48ps_v5", vcpus: 48, memoryGiB: 192, maxDataDisks: 32 },
            { name: "Standard_D64ps_v5", vcpus: 64, memoryGiB: 208, maxDataDisks: 32 },
        ],
    },
    {
        series: "Dpsv6",
        arch: "aarch64",
        nestedVirtualization: false,
        acceleratedNetworking: "required",
        diskController: "NVMe",
        trustedLaunch: true,
        source: `ACD articles/virtual-machines/sizes/general-purpose/dpsv6-series.md (Nested Virtualization: Not supported; "Accelerated networking is required"); ${NVME_SOURCE}; ${TRUSTED_LAUNCH_SOURCE}: Dpsv6 supported`,
        sizes: [
            { name: "Standard_D2ps_v6", vcpus: 2, memoryGiB: 8, maxDataDisks: 8 },
            { name: "Standard_D4ps_v6", vcpus: 4, memoryGiB: 16, maxDataDisks: 12 },
            { name: "Standard_D8ps_v6", vcpus: 8, memoryGiB: 32, maxDataDisks: 24 },
            { name: "Standard_D16ps_v6", vcpus: 16, memoryGiB: 64, maxDataDisks: 48 },
            { name: "Standard_D32ps_v6", vcpus: 32, memoryGiB: 128, maxDataDisks: 64 },
            { name: "Standard_D48ps_v6", vcpus: 48, memoryGiB: 192, maxDataDisks: 64 },
            { name: "Standard_D64ps_v6", vcpus: 64, memoryGiB: 256, maxDataDisks: 64 },
            { name: "Standard_D96ps_v6", vcpus: 96, memoryGiB: 384, maxDataDisks: 64 },
        ],
    },
];

/** Every size, in preference order within equal vCPU/memory. */
export const AZURE_SIZES: readonly AzureSize[] = AZURE_SERIES.flatMap((series) => series.sizes.map((s) => ({ ...s, series })));

export function findAzureSize(name: string): AzureSize | undefined {
    const lower = name.toLowerCase();
    // Azure size names are case-insensitive in the API; compare the same way.
    return AZURE_SIZES.find((s) => s.name.toLowerCase() === lower);
}
