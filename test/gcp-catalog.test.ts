/**
 * The GCP backend's pure parts: the machine-type catalog, placement (choice and
 * refusals, with their exact messages), the label mapping and `nixlab:gcp` parsing.
 */
import { describe, expect, it } from "vitest";
import { planLab } from "../components/lab";
import { factory } from "../providers/gcp";
import { GCP_CATALOG } from "../providers/gcp/catalog";
import { parseGcpConfig } from "../providers/gcp/config";
import { gcpExpiresAt, gcpLabels } from "../providers/gcp/labels";
import { placeGcp } from "../providers/gcp/placement";
import { configErrorLines, minimalLab, problemLines } from "./support/problems";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v alice@laptop";
const NESTED_DOC = "https://cloud.google.com/compute/docs/instances/nested-virtualization/overview";
const INSTEAD_NESTED = "use one of n1-standard-1, n1-highcpu-2, n2-highcpu-2, n1-standard-2 (smallest first), or remove machineType to choose by vcpus/memoryGiB";
const INSTEAD_METAL = "use one of c3-highcpu-192-metal, c3-standard-192-metal, c3-highmem-192-metal (smallest first), or remove machineType to choose by vcpus/memoryGiB";

const lab = (extra: Record<string, unknown>) => minimalLab(KEY, extra);

function problems(extra: Record<string, unknown>): string[] {
    return problemLines(placeGcp(lab(extra)).problems);
}

const configProblems = (raw: unknown) => configErrorLines(() => parseGcpConfig(raw));

describe("GCP catalog", () => {
    it("has each type once, only Intel series for nested (never E2/N2D/AMD/Arm), only E2/N2D for none, metal only for -metal types", () => {
        const names = GCP_CATALOG.map((m) => m.machineType);
        expect(new Set(names).size).toBe(names.length);
        for (const m of GCP_CATALOG) {
            expect(m.arch).toBe("x86_64");
            if (m.kvm === "nested") expect(m.machineType).toMatch(/^(n1|n2|c3)-(standard|highcpu|highmem)-\d+$/);
            if (m.kvm === "none") expect(m.machineType).toMatch(/^(e2-(small|medium|(standard|highcpu|highmem)-\d+)|n2d-standard-\d+)$/);
            expect(m.kvm === "metal").toBe(m.machineType.endsWith("-metal"));
        }
    });

    it("gives bare metal Hyperdisk, one IDPF NIC and no live migration; C3 VMs gVNIC; N1 a Haswell floor for nested", () => {
        for (const m of GCP_CATALOG) {
            if (m.kvm === "metal") expect(m).toMatchObject({ diskType: "hyperdisk-balanced", nicType: "IDPF", onHostMaintenance: "TERMINATE" });
            else expect(m.diskType).toBe("pd-balanced");
            if (m.machineType.startsWith("c3-") && m.kvm === "nested") expect(m.nicType).toBe("GVNIC");
            expect(m.nestedMinCpuPlatform).toBe(m.machineType.startsWith("n1-") ? "Intel Haswell" : undefined);
        }
    });

    it("keeps Google's shapes (spot checks against the GKE machine-type table)", () => {
        const shape = (t: string) => GCP_CATALOG.find((m) => m.machineType === t);
        expect(shape("n1-highcpu-2")).toMatchObject({ vcpus: 2, memoryGiB: 1.8 });
        expect(shape("n1-standard-96")).toMatchObject({ vcpus: 96, memoryGiB: 360 });
        expect(shape("n2-highmem-128")).toMatchObject({ vcpus: 128, memoryGiB: 864 });
        expect(shape("c3-highmem-176")).toMatchObject({ vcpus: 176, memoryGiB: 1408 });
        expect(shape("c3-standard-192-metal")).toMatchObject({ vcpus: 192, memoryGiB: 768 });
        // Shared-core E2 counts as GKE's table counts it: one core, whatever the API shows.
        expect(shape("e2-small")).toMatchObject({ vcpus: 1, memoryGiB: 2, kvm: "none" });
        expect(shape("e2-medium")).toMatchObject({ vcpus: 1, memoryGiB: 4, kvm: "none" });
        expect(shape("e2-highcpu-32")).toMatchObject({ vcpus: 32, memoryGiB: 32, kvm: "none" });
        expect(shape("e2-highmem-16")).toMatchObject({ vcpus: 16, memoryGiB: 128, kvm: "none" });
        expect(shape("e2-highmem-32")).toBeUndefined();
        expect(shape("n2d-standard-224")).toMatchObject({ vcpus: 224, memoryGiB: 896, kvm: "none" });
    });
});

describe("GCP placement", () => {
    it.each([
        [{ vcpus: 2, memoryGiB: 4 }, "n1-standard-2", true],
        [{ vcpus: 4, memoryGiB: 16 }, "n2-standard-4", true],
        [{ vcpus: 4, memoryGiB: 8 }, "c3-highcpu-4", true],
        [{ vcpus: 8, memoryGiB: 64 }, "n2-highmem-8", true],
        // kvm: none picks among E2 then N2D only, never a nested or metal type.
        [{ vcpus: 2, memoryGiB: 4, kvm: "none" }, "e2-standard-2", false],
        [{ vcpus: 1, memoryGiB: 0.5, kvm: "none" }, "e2-small", false],
        [{ vcpus: 1, memoryGiB: 3, kvm: "none" }, "e2-medium", false],
        [{ vcpus: 2, memoryGiB: 2, kvm: "none" }, "e2-highcpu-2", false],
        [{ vcpus: 4, memoryGiB: 20, kvm: "none" }, "e2-highmem-4", false],
        [{ vcpus: 8, memoryGiB: 20, kvm: "none" }, "e2-standard-8", false],
        [{ vcpus: 32, memoryGiB: 16, kvm: "none" }, "e2-highcpu-32", false],
        [{ vcpus: 16, memoryGiB: 200, kvm: "none" }, "n2d-standard-64", false],
        [{ vcpus: 40, memoryGiB: 8, kvm: "none" }, "n2d-standard-48", false],
        [{ vcpus: 200, memoryGiB: 800, kvm: "none" }, "n2d-standard-224", false],
        [{ vcpus: 1, memoryGiB: 1, kvm: "metal" }, "c3-highcpu-192-metal", false],
        [{ vcpus: 1, memoryGiB: 600, kvm: "metal" }, "c3-standard-192-metal", false],
    ])("picks the smallest fitting type for %j: %s", (node, type, nested) => {
        const p = placeGcp(lab({ nodes: [{ name: "n", ...node }] }));
        expect(p.problems).toEqual([]);
        expect(p.machines.n).toMatchObject({ machineType: type, nestedVirtualization: nested });
    });

    it("fails aarch64 + nested for the cloud's reason, naming what works", () => {
        expect(problems({ image: { flake: "./images" }, nodes: [{ name: "arm", arch: "aarch64", kvm: "nested" }] })).toEqual([
            `nixlab:lab.nodes[0].kvm: kvm: nested is impossible for aarch64 on GCP: nested virtualization exists only on Intel VMs ("You can't use VMs powered by AMD and Arm processors", ${NESTED_DOC}). ` +
                "What works: arch: x86_64 on GCP (n1-standard-1, n1-highcpu-2, n2-highcpu-2, n1-standard-2), or the aws backend for aarch64 with kvm: metal (Graviton .metal)",
        ]);
    });

    it("fails aarch64 + metal, because no ARM64 image can be uploaded", () => {
        expect(problems({ nodes: [{ name: "arm", arch: "aarch64", kvm: "metal" }] })).toEqual([
            "nixlab:lab.nodes[0].arch: aarch64 is not supported on GCP by nixlab: Arm machines (e.g. c4a-standard-96-metal, c4a-highmem-96-metal) boot only images marked ARM64, " +
                "and gcp.compute.Image in @pulumi/gcp 9.37 cannot set an image's architecture. " +
                "What works: arch: x86_64 on GCP (c3-highcpu-192-metal, c3-standard-192-metal, c3-highmem-192-metal), or the aws backend for aarch64 with kvm: metal (Graviton .metal)",
        ]);
    });

    it("fails E2/N2D (no VT-x) for kvm: nested or metal, and types outside the catalog", () => {
        expect(
            problems({
                nodes: [
                    { name: "a", machineType: "e2-standard-4" },
                    { name: "b", machineType: "n2d-standard-4", kvm: "metal" },
                    { name: "c", machineType: "t2d-standard-4", kvm: "none" },
                ],
            }),
        ).toEqual([
            `nixlab:lab.nodes[0].machineType: e2-standard-4 has no /dev/kvm (E2 VMs have no VT-x, whatever the CPU underneath, ${NESTED_DOC}); it gives kvm: none, not nested (set kvm: none to keep it); ${INSTEAD_NESTED}`,
            `nixlab:lab.nodes[1].machineType: n2d-standard-4 has no /dev/kvm (nested virtualization is Intel-only; N2D is AMD, ${NESTED_DOC}); it gives kvm: none, not metal (set kvm: none to keep it); ${INSTEAD_METAL}`,
            'nixlab:lab.nodes[2].machineType: "t2d-standard-4" is not in the GCP catalog (providers/gcp/catalog.ts: E2 and N2D for kvm: none; N1, N2, C3 and C3 bare metal), ' +
                "so nixlab cannot vouch that it gives x86_64 with kvm: none; use one of e2-small, e2-medium, e2-highcpu-2, e2-standard-2 (smallest first), or remove machineType to choose by vcpus/memoryGiB",
        ]);
    });

    it("takes any catalog type for an explicit kvm: none machineType, without nested virtualization", () => {
        const p = placeGcp(lab({ nodes: [{ name: "a", machineType: "n2d-standard-4", kvm: "none" }, { name: "b", machineType: "n2-standard-8", kvm: "none" }] }));
        expect(p.problems).toEqual([]);
        expect(p.machines.a).toMatchObject({ machineType: "n2d-standard-4", nestedVirtualization: false, vcpus: 4, memoryGiB: 16 });
        expect(p.machines.b).toMatchObject({ machineType: "n2-standard-8", nestedVirtualization: false, vcpus: 8, memoryGiB: 32 });
    });

    it("fails aarch64 + none (no ARM64 image), pointing at x86_64 kvm: none types", () => {
        expect(problems({ nodes: [{ name: "arm", arch: "aarch64", kvm: "none" }] })).toEqual([
            "nixlab:lab.nodes[0].arch: aarch64 is not supported on GCP by nixlab: Arm machines (e.g. c4a-standard-96-metal, c4a-highmem-96-metal) boot only images marked ARM64, " +
                "and gcp.compute.Image in @pulumi/gcp 9.37 cannot set an image's architecture. " +
                "What works: arch: x86_64 on GCP (e2-small, e2-medium, e2-highcpu-2, e2-standard-2), or the aws backend for aarch64 with kvm: metal (Graviton .metal)",
        ]);
    });

    it("fails an explicit type that gives the wrong kvm mode", () => {
        expect(
            problems({
                nodes: [
                    { name: "a", machineType: "c3-highcpu-192-metal", kvm: "nested" },
                    { name: "b", machineType: "n2-standard-4", kvm: "metal" },
                ],
            }),
        ).toEqual([
            `nixlab:lab.nodes[0].machineType: c3-highcpu-192-metal is bare metal, which gives kvm: metal, not nested (set kvm: metal to keep it); ${INSTEAD_NESTED}`,
            `nixlab:lab.nodes[1].machineType: n2-standard-4 is a VM; it gives kvm: nested, not metal (set kvm: nested to keep it); ${INSTEAD_METAL}`,
        ]);
    });

    it("takes an explicit type that fits", () => {
        const p = placeGcp(lab({ nodes: [{ name: "n", machineType: "c3-standard-8" }] }));
        expect(p.problems).toEqual([]);
        expect(p.machines.n).toMatchObject({ machineType: "c3-standard-8", nestedVirtualization: true });
    });

    it("fails a size no type has", () => {
        expect(problems({ nodes: [{ name: "big", vcpus: 200, memoryGiB: 800 }] })).toEqual([
            "nixlab:lab.nodes[0].vcpus: node big asks for 200 vCPUs and 800 GiB, more than any x86_64 type with kvm: nested in the GCP catalog; " +
                "the largest is c3-highmem-176 (176 vCPUs, 1408 GB). Lower vcpus/memoryGiB",
        ]);
    });

    it("fails artifacts that are not a tar.gz and labs nobody can reach", () => {
        expect(
            problems({
                network: { sshIngressCidrs: [] },
                image: { artifacts: [{ path: "x.qcow2", format: "qcow2", arch: "x86_64", bootMode: "bios" }] },
                nodes: { count: 1 },
            }),
        ).toEqual([
            'nixlab:lab.image.artifacts[0].format: format "qcow2" cannot become a Compute Engine image; it takes a tar.gz holding disk.raw (build the gcp image target)',
            "nixlab:lab.network.sshIngressCidrs: is empty, so nothing outside the lab can reach SSH and `up` would wait for readiness until it times out; add the address Pulumi runs from, e.g. [203.0.113.7/32]",
        ]);
    });

    it("fails user-data over 256 KiB (one metadata value) before anything is registered", () => {
        const backend = factory.fromConfig({ project: "my-kvm-lab" });
        expect(backend.userDataLimitBytes).toBe(262144);
        const spec = lab({ nodes: [{ name: "fat", cloudInit: { writeFiles: [{ path: "/etc/big", content: "x".repeat(270000) }] } }] });
        expect(() => planLab(spec, backend)).toThrow(/- nixlab:lab\.nodes\[0\]\.cloudInit: user-data for node fat renders to about \d+ bytes; gcp accepts at most 262144\./);
    });
});

describe("GCP labels", () => {
    it("maps the nixlab tags to valid label keys and values", () => {
        expect(
            gcpLabels({
                "nixlab:lab": "kvm-gce",
                "nixlab:owner": "Alice@Example.com",
                "nixlab:stack": "org/proj/gcp-x86_64",
                "nixlab:expires-at": "2026-11-24T18:00:00.000Z",
                "9lives": "x".repeat(70),
            }),
        ).toEqual({
            "nixlab-lab": "kvm-gce",
            "nixlab-owner": "alice_example_com",
            "nixlab-stack": "org_proj_gcp-x86_64",
            "nixlab-expires-at": "2026-11-24t18_00_00_000z",
            "t-9lives": "x".repeat(63),
        });
    });

    it("reads the expiry label back as RFC 3339", () => {
        expect(gcpExpiresAt("2026-11-24t18_00_00_000z")).toBe("2026-11-24T18:00:00.000Z");
        expect(gcpExpiresAt("2026-11-24t18_00_00z")).toBe("2026-11-24T18:00:00Z");
        expect(() => gcpExpiresAt("tomorrow")).toThrow('not a nixlab expires-at label: "tomorrow"');
    });
});

describe("nixlab:gcp", () => {
    it("defaults region to us-central1 and zone to <region>-b", () => {
        expect(parseGcpConfig({ project: "my-kvm-lab" })).toEqual({ project: "my-kvm-lab", region: "us-central1", zone: "us-central1-b" });
        expect(parseGcpConfig({ project: "my-kvm-lab", region: "europe-west1" }).zone).toBe("europe-west1-b");
    });

    it("fails when absent, naming what to add", () => {
        expect(configProblems(undefined)).toEqual([
            "nixlab:gcp: is not set; nixlab:backend is gcp, so add `nixlab:gcp: { project: <project id> }` (copy stacks/Pulumi.gcp-x86_64.yaml)",
        ]);
    });

    it("fails bad values and unknown keys with their paths", () => {
        expect(configProblems({ project: "My Project", zone: "b", credentials: "x" })).toEqual([
            'nixlab:gcp.project: must be a project ID: 6-30 of a-z 0-9 -, starting with a letter, like my-kvm-lab (got "My Project")',
            'nixlab:gcp.zone: must be a zone like us-central1-b (got "b")',
            "nixlab:gcp.credentials: unknown key; allowed here: `project`, `region`, `zone`",
        ]);
    });

    it("fails a zone outside the region", () => {
        expect(configProblems({ project: "my-kvm-lab", region: "europe-west4", zone: "us-central1-b" })).toEqual([
            'nixlab:gcp.zone: "us-central1-b" is not in region "europe-west4"; use a zone of that region such as europe-west4-b, or change region',
        ]);
    });
});
