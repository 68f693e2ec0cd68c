/**
 * The Azure backend's pure parts: size choice and every refusal (exact texts), config
 * parsing, physical names, the VHD footer check, the VM security profile, and the page-blob
 * upload against a local fake of the Blob service.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, test } from "vitest";
import { planLab } from "../components/lab";
import { ConfigError } from "../components/problems";
import type { LabSpec } from "../components/spec";
import { azureBackend } from "../providers/azure";
import { findAzureSize, type AzureSeries } from "../providers/azure/catalog";
import { parseAzureConfig, type AzureConfig } from "../providers/azure/config";
import { galleryImageVersionName, galleryName, resourceGroupName, storageAccountName, vhdBlobName } from "../providers/azure/names";
import { blobRequest, pageBlobProvider, uploadPageBlob, type PageBlobOutputs } from "../providers/azure/pageblob";
import { placeAzure } from "../providers/azure/place";
import { checkAzureArtifact, sasExpiry, securityProfile } from "../providers/azure/resources";
import { vhdProblem } from "../providers/azure/vhd";
import { configErrorLines, minimalLab, problemLines } from "./support/problems";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ alice@laptop";
const SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590";
const CFG: AzureConfig = { subscriptionId: SUB, location: "westeurope", diskType: "Premium_LRS", encryptionAtHost: false };

const lab = (extra: Record<string, unknown>) => minimalLab(KEY, extra);

function problems(spec: LabSpec, catalog?: readonly AzureSeries[]): string[] {
    return problemLines(placeAzure(spec, catalog).problems);
}

const NESTED_X86 =
    "Dsv5 (Standard_D2s_v5 ... Standard_D96s_v5), Dasv5 (Standard_D2as_v5 ... Standard_D96as_v5), Dsv6 (Standard_D2s_v6 ... Standard_D192s_v6)";

describe("size choice", () => {
    test.each([
        { vcpus: 2, memoryGiB: 4, arch: "x86_64", kvm: "nested", size: "Standard_D2s_v5" },
        { vcpus: 4, memoryGiB: 16, arch: "x86_64", kvm: "nested", size: "Standard_D4s_v5" },
        { vcpus: 4, memoryGiB: 17, arch: "x86_64", kvm: "nested", size: "Standard_D8s_v5" },
        { vcpus: 128, memoryGiB: 8, arch: "x86_64", kvm: "nested", size: "Standard_D128s_v6" },
        // kvm: none: burstable Bsv2 first, D sizes past its shapes.
        { vcpus: 2, memoryGiB: 0.5, arch: "x86_64", kvm: "none", size: "Standard_B2ts_v2" },
        { vcpus: 2, memoryGiB: 4, arch: "x86_64", kvm: "none", size: "Standard_B2ls_v2" },
        { vcpus: 2, memoryGiB: 6, arch: "x86_64", kvm: "none", size: "Standard_B2s_v2" },
        { vcpus: 3, memoryGiB: 8, arch: "x86_64", kvm: "none", size: "Standard_B4ls_v2" },
        { vcpus: 4, memoryGiB: 16, arch: "x86_64", kvm: "none", size: "Standard_B4s_v2" },
        { vcpus: 16, memoryGiB: 100, arch: "x86_64", kvm: "none", size: "Standard_B32s_v2" },
        { vcpus: 48, memoryGiB: 100, arch: "x86_64", kvm: "none", size: "Standard_D48s_v5" },
        { vcpus: 128, memoryGiB: 8, arch: "x86_64", kvm: "none", size: "Standard_D128s_v6" },
        { vcpus: 2, memoryGiB: 4, arch: "aarch64", kvm: "none", size: "Standard_D2ps_v5" },
        // Dpsv5's largest has 208 GiB, so 256 GiB moves to Dpsv6.
        { vcpus: 64, memoryGiB: 256, arch: "aarch64", kvm: "none", size: "Standard_D64ps_v6" },
    ])("$vcpus vCPUs, $memoryGiB GiB, $arch, kvm: $kvm → $size", ({ size, ...node }) => {
        const placement = placeAzure(lab({ nodes: [{ name: "n", ...node }] }));
        expect(placement.problems).toEqual([]);
        expect(Object.keys(placement.machines)).toEqual(["n"]);
        expect(placement.machines.n!.machineType).toBe(size);
        expect(placement.machines.n!.nestedVirtualization).toBe(node.kvm === "nested");
    });

    it("says which catalog entry it used and where the fact comes from", () => {
        expect(placeAzure(lab({ nodes: [{ name: "n", vcpus: 4, memoryGiB: 16 }] })).machines.n).toEqual({
            machineType: "Standard_D4s_v5",
            reason:
                "smallest catalog size with at least 4 vCPUs and 16 GiB: Standard_D4s_v5 (Dsv5, x86_64, 4 vCPUs, 16 GiB, nested virtualization supported; " +
                "ACD articles/virtual-machines/sizes/general-purpose/dsv5-series.md (Nested Virtualization: Supported; Accelerated Networking: Required); " +
                "ACD articles/virtual-machines/trusted-launch.md (Virtual machines sizes): D-family)",
            nestedVirtualization: true,
            vcpus: 4,
            memoryGiB: 16,
        });
    });

    it("takes an explicit size (any case) over the catalog's pick, still checked", () => {
        const placement = placeAzure(lab({ nodes: [{ name: "n", vcpus: 2, machineType: "standard_d8as_v5" }] }));
        expect(placement.problems).toEqual([]);
        expect(placement.machines.n!.machineType).toBe("Standard_D8as_v5");
        expect(placement.machines.n!.reason).toMatch(/^set in config \(nixlab:lab\.nodes\[0\]\.machineType\): Standard_D8as_v5 \(Dasv5, x86_64, 8 vCPUs/);
    });

    it("gives every counted node its own choice", () => {
        const placement = placeAzure(lab({ nodes: { count: 3, vcpus: 8, memoryGiB: 32 } }));
        expect(placement.machines).toEqual({
            "node-1": expect.objectContaining({ machineType: "Standard_D8s_v5" }),
            "node-2": expect.objectContaining({ machineType: "Standard_D8s_v5" }),
            "node-3": expect.objectContaining({ machineType: "Standard_D8s_v5" }),
        });
    });
});

describe("refusals", () => {
    it("fails aarch64 with kvm: nested: no Arm64 size has nested virtualization", () => {
        expect(problems(lab({ nodes: [{ name: "arm", arch: "aarch64", kvm: "nested" }] }))).toEqual([
            "nixlab:lab.nodes[0].kvm: node arm: Azure has no Arm64 size with nested virtualization (Dpsv5 and Dpsv6 list " +
                '"Nested Virtualization: Not supported"), so aarch64 with kvm: nested cannot get /dev/kvm here. ' +
                `Use arch: x86_64 with kvm: nested on Azure (${NESTED_X86}), kvm: none for an Arm64 node without KVM, ` +
                "or kvm: metal on AWS (e.g. c7g.metal) or GCP (c4a-standard-96-metal)",
        ]);
    });

    it("fails aarch64 with kvm: metal, pointing at AWS and GCP Arm metal", () => {
        expect(problems(lab({ nodes: [{ name: "arm", arch: "aarch64", kvm: "metal" }] }))).toEqual([
            "nixlab:lab.nodes[0].kvm: node arm: kvm: metal is not available on Azure: every Azure VM size is virtual and " +
                "nixlab's Azure catalog has no bare-metal machine. Azure has no Arm64 size with nested virtualization either; " +
                "for bare metal use AWS (e.g. c7g.metal) or GCP (c4a-standard-96-metal)",
        ]);
    });

    it("fails x86_64 with kvm: metal, pointing at kvm: nested", () => {
        expect(problems(lab({ nodes: [{ name: "x", kvm: "metal" }] }))).toEqual([
            "nixlab:lab.nodes[0].kvm: node x: kvm: metal is not available on Azure: every Azure VM size is virtual and " +
                `nixlab's Azure catalog has no bare-metal machine. kvm: nested gives /dev/kvm on Azure with ${NESTED_X86}; ` +
                "for bare metal use AWS (e.g. m5.metal) or GCP (c3-standard-192-metal)",
        ]);
    });

    it("fails an explicit aarch64 size with kvm: nested before looking at the size", () => {
        expect(problems(lab({ nodes: [{ name: "arm", arch: "aarch64", kvm: "nested", machineType: "Standard_D4ps_v6" }] }))).toEqual([
            expect.stringMatching(/^nixlab:lab\.nodes\[0\]\.kvm: node arm: Azure has no Arm64 size with nested virtualization/),
        ]);
    });

    it("fails a size outside the catalog", () => {
        expect(problems(lab({ nodes: [{ name: "b", machineType: "Standard_B2s" }] }))).toEqual([
            'nixlab:lab.nodes[0].machineType: node b: "Standard_B2s" is not in nixlab\'s Azure size catalog (providers/azure/catalog.ts), ' +
                `so its architecture and nested-virtualization support cannot be checked. Use a size of ${NESTED_X86}, ` +
                "or add its series to the catalog with its source",
        ]);
    });

    it("fails an explicit size of the other architecture", () => {
        expect(problems(lab({ nodes: [{ name: "x", machineType: "Standard_D2ps_v5" }] }))).toEqual([
            "nixlab:lab.nodes[0].machineType: node x: Standard_D2ps_v5 is an aarch64 size but the node's arch is x86_64; " +
                `use a size of ${NESTED_X86}, or change arch`,
        ]);
    });

    it("fails an explicit size without nested virtualization for kvm: nested", () => {
        expect(problems(lab({ nodes: [{ name: "x", machineType: "Standard_B2s_v2" }] }))).toEqual([
            "nixlab:lab.nodes[0].machineType: node x: Standard_B2s_v2 (Bsv2) does not support nested virtualization (" +
                "ACD articles/virtual-machines/sizes/general-purpose/bsv2-series.md (Nested Virtualization: Not Supported; Accelerated Networking: Supported; Generation 2 VMs: Supported); " +
                "ACD articles/virtual-machines/trusted-launch.md (Virtual machines sizes): B-family); " +
                `kvm: nested needs a size of ${NESTED_X86}, or set kvm: none`,
        ]);
    });

    it("takes a B-series size set explicitly for kvm: none, without nested virtualization", () => {
        const placement = placeAzure(lab({ nodes: [{ name: "x", machineType: "standard_b2ls_v2", kvm: "none" }] }));
        expect(placement.problems).toEqual([]);
        expect(placement.machines.x).toMatchObject({ machineType: "Standard_B2ls_v2", nestedVirtualization: false, vcpus: 2, memoryGiB: 4 });
    });

    it("fails a request larger than any size, naming the largest", () => {
        expect(problems(lab({ nodes: [{ name: "big", vcpus: 200 }] }))).toEqual([
            "nixlab:lab.nodes[0].vcpus: node big: no Azure size in nixlab's catalog has at least 200 vCPUs and 4 GiB for x86_64 " +
                "with kvm: nested; the largest is Standard_D192s_v6 (192 vCPUs, 768 GiB). Lower vcpus/memoryGiB, or set machineType to a size you have checked",
        ]);
    });

    it("fails more volumes than the size attaches", () => {
        const volumes = [1, 2, 3, 4, 5].map((i) => ({ name: `v${i}`, sizeGiB: 10 }));
        expect(problems(lab({ nodes: [{ name: "d", volumes }] }))).toEqual([
            "nixlab:lab.nodes[0].volumes: node d has 5 volumes but Standard_D2s_v5 attaches at most 4 data disks; use fewer volumes or a larger size (machineType)",
        ]);
    });

    it("fails a user name Azure reserves", () => {
        expect(problems(lab({ user: { name: "admin", sshAuthorizedKeys: [KEY] }, nodes: { count: 1 } }))).toEqual([
            'nixlab:lab.user.name: "admin" is reserved on Azure (the API refuses it as the VM admin user); choose another name, e.g. "lab"',
        ]);
    });

    it("fails when no key is of a type Azure takes", () => {
        const ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAyI1T2pBi6BopJoy14++6p5QZ5cm2xcYSJ6jWE6nQ/DxEdSBnOOnqBbudUMWuVp8I1kqblg6nTVGNhEB1yxe9s= bob@host";
        expect(problems(lab({ user: { sshAuthorizedKeys: [ecdsa] }, nodes: { count: 1 } }))).toEqual([
            "nixlab:lab.user.sshAuthorizedKeys: Azure accepts only ssh-rsa and ssh-ed25519 keys for the VM's admin user (password login is off), " +
                "and none of the 1 key is of those types; add an ed25519 key (ssh-keygen -t ed25519)",
        ]);
    });

    it("fails tag names with characters Azure forbids, once per config path", () => {
        // Of Azure's forbidden characters, nixlab's own tag syntax admits only '/'.
        expect(problems(lab({ tags: { "team/kernel": "x" }, nodes: { count: 2, tags: { "ci/job": "y" } } }))).toEqual([
            'nixlab:lab.tags.team/kernel: Azure tag names cannot contain < > % & \\ ? or /, got "team/kernel"; rename the tag',
            'nixlab:lab.nodes.tags.ci/job: Azure tag names cannot contain < > % & \\ ? or /, got "ci/job"; rename the tag',
        ]);
    });

    it("fails prebuilt artifacts that are not UEFI VHDs", () => {
        const artifacts = [{ path: "/img/nixos.qcow2", format: "qcow2", arch: "x86_64", bootMode: "bios" }];
        expect(problems(lab({ image: { artifacts }, nodes: { count: 1 } }))).toEqual([
            'nixlab:lab.image.artifacts[0].format: Azure imports fixed-size VHD disks only, got "qcow2"; convert it (qemu-img convert -O vpc -o subformat=fixed,force_size) or build the azure image target',
            'nixlab:lab.image.artifacts[0].bootMode: nixlab boots Azure nodes as Hyper-V generation 2 (UEFI; Arm64 and v6 sizes have no generation 1), got "bios"; build the image with UEFI boot',
        ]);
    });

    it("stops the program with one ConfigError listing every problem", () => {
        const spec = lab({ nodes: [{ name: "arm", arch: "aarch64", kvm: "nested" }, { name: "x", kvm: "metal" }] });
        let error: unknown;
        try {
            planLab(spec, azureBackend(CFG));
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).message.split("\n").slice(0, 3)).toEqual([
            "nixlab: invalid stack configuration (2 problems):",
            expect.stringMatching(/^ {2}- nixlab:lab\.nodes\[0\]\.kvm: node arm: Azure has no Arm64 size with nested virtualization/),
            expect.stringMatching(/^ {2}- nixlab:lab\.nodes\[1\]\.kvm: node x: kvm: metal is not available on Azure/),
        ]);
    });
});

describe("nixlab:azure config", () => {
    it("applies defaults", () => {
        expect(parseAzureConfig({ subscriptionId: SUB, location: "westeurope" })).toEqual(CFG);
    });

    it.each([
        [undefined, ["nixlab:azure: is not set; nixlab:backend is azure, so add `nixlab:azure: { subscriptionId: <GUID>, location: westeurope }` to the stack file (copy stacks/Pulumi.azure-x86_64.yaml)"]],
        [
            { subscriptionId: "my-sub", location: "West Europe", zone: 1, region: "x" },
            [
                "nixlab:azure.region: unknown key; allowed here: `subscriptionId`, `location`, `zone`, `diskType`, `encryptionAtHost`",
                'nixlab:azure.subscriptionId: must be a subscription GUID like 00000000-0000-0000-0000-000000000000 (az account show --query id) (got "my-sub")',
                'nixlab:azure.location: must be an Azure region name like westeurope or eastus2 (lowercase, no spaces; az account list-locations -o table) (got "West Europe")',
                'nixlab:azure.zone: must be "1", "2" or "3" (quoted in YAML) (got 1)',
            ],
        ],
    ])("refuses %j", (raw, expected) => {
        expect(configErrorLines(() => parseAzureConfig(raw)).sort()).toEqual([...expected].sort());
    });
});

describe("physical names", () => {
    it("derives lab-wide names from the lab and the stack, so two stacks with one lab name never share a group", () => {
        expect(resourceGroupName("kvm-azure", "azure-x86_64")).toBe("nixlab-kvm-azure-f75251ca");
        expect(resourceGroupName("kvm-azure", "dev/azure-x86_64")).not.toBe(resourceGroupName("kvm-azure", "azure-x86_64"));
        // Longest lab name: within Azure's 90 characters for a resource group.
        expect(resourceGroupName("a".repeat(32), "org/project/stack").length).toBe(48);
        expect(galleryName("kvm-azure")).toBe("nixlab_kvm_azure");
        expect(vhdBlobName("aarch64", "0abc")).toBe("nixos-aarch64-0abc.vhd");
    });

    it("gives storage accounts a stable, globally-unique-shaped name", () => {
        const name = storageAccountName(SUB, "kvm-azure", "s1");
        expect(name).toMatch(/^nixlab[0-9a-f]{16}$/);
        expect(name).toBe(storageAccountName(SUB.toUpperCase(), "kvm-azure", "s1"));
        expect(name).not.toBe(storageAccountName(SUB, "other", "s1"));
        expect(name).not.toBe(storageAccountName(SUB, "kvm-azure", "s2"));
    });

    it("turns a content hash into a deterministic Major.Minor.Patch version", () => {
        const v = galleryImageVersionName("a".repeat(64));
        expect(v).toBe("268305743.242933963.115107267");
        expect(galleryImageVersionName("a".repeat(64))).toBe(v);
        for (const hash of ["0", "x5yb2pdkcwk5b6hwfbq6ij03mgwf0x3p", "f".repeat(64)]) {
            const parts = galleryImageVersionName(hash).split(".").map(Number);
            expect(parts).toHaveLength(3);
            for (const p of parts) expect(Number.isInteger(p) && p >= 0 && p < 2 ** 31).toBe(true);
        }
        expect(galleryImageVersionName("b".repeat(64))).not.toBe(v);
    });

    it("keeps SAS tokens valid for a week past the lab's expiry", () => {
        expect(sasExpiry("2026-11-24T18:00:00Z")).toBe("2026-12-01T18:00:00Z");
        expect(sasExpiry("2026-11-24T18:00:00.123Z")).toBe("2026-12-01T18:00:00Z");
        expect(() => sasExpiry(undefined)).toThrow("nixlab: lab expiry undefined is not a time");
    });
});

describe("VM security profile", () => {
    it("uses Trusted Launch with Secure Boot off where the size supports it", () => {
        expect(securityProfile(findAzureSize("Standard_D4s_v5")!, CFG)).toEqual({
            securityType: "TrustedLaunch",
            uefiSettings: { secureBootEnabled: false, vTpmEnabled: true },
        });
    });

    it("leaves sizes without Trusted Launch as Standard VMs", () => {
        expect(securityProfile(findAzureSize("Standard_D4ps_v5")!, CFG)).toBeUndefined();
        expect(securityProfile(findAzureSize("Standard_D4ps_v5")!, { ...CFG, encryptionAtHost: true })).toEqual({ encryptionAtHost: true });
    });
});

/** A fixed (type 2) or dynamic (3) VHD footer for a disk of `virtual` bytes, after `data` bytes. */
function writeVhd(file: string, virtual: number, type = 2, dataBytes = virtual): void {
    const footer = Buffer.alloc(512);
    footer.write("conectix", 0, "latin1");
    footer.writeBigUInt64BE(BigInt(virtual), 40);
    footer.writeBigUInt64BE(BigInt(virtual), 48);
    footer.writeUInt32BE(type, 60);
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(dataBytes), footer]));
}

describe("fixed VHD check", () => {
    let dir: string;
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-azure-vhd-"));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("accepts a fixed VHD of whole MiB", () => {
        const f = path.join(dir, "ok.vhd");
        writeVhd(f, 2 * 1024 * 1024);
        expect(vhdProblem(f)).toBeUndefined();
    });

    it("names what is wrong with anything else", () => {
        const dynamic = path.join(dir, "dyn.vhd");
        writeVhd(dynamic, 1024 * 1024, 3);
        const odd = path.join(dir, "odd.vhd");
        writeVhd(odd, 1024 * 1024 + 512);
        const raw = path.join(dir, "disk.raw");
        fs.writeFileSync(raw, Buffer.alloc(4096));
        const cut = path.join(dir, "cut.vhd");
        writeVhd(cut, 2 * 1024 * 1024, 2, 1024 * 1024);
        expect(vhdProblem(dynamic)).toBe(`${dynamic} is a dynamic VHD; Azure needs a fixed one: qemu-img convert -O vpc -o subformat=fixed,force_size`);
        expect(vhdProblem(odd)).toBe(
            `${odd} has a virtual size of 1049088 bytes, not a whole number of MiB; Azure refuses it. Resize to a MiB multiple before converting (qemu-img resize)`,
        );
        expect(vhdProblem(raw)).toBe(`${raw} has no VHD footer (cookie "conectix"); Azure needs a fixed VHD: qemu-img convert -O vpc -o subformat=fixed,force_size`);
        expect(vhdProblem(cut)).toBe(`${cut} is 1049088 bytes but its footer says 2097152 + 512; the file is truncated or not a fixed VHD`);
    });

    it("refuses an artifact Azure cannot boot, with every reason", () => {
        const dynamic = path.join(dir, "dyn2.vhd");
        writeVhd(dynamic, 1024 * 1024, 3);
        expect(() => checkAzureArtifact({ path: dynamic, format: "vhd", arch: "aarch64", bootMode: "bios", hash: "h" }, "x86_64")).toThrow(
            `nixlab: the x86_64 image ${dynamic} cannot be used on Azure: it is built for aarch64, but the nodes using it are x86_64; ` +
                "it boots with bios; Azure nodes are Hyper-V generation 2 and need UEFI; " +
                `${dynamic} is a dynamic VHD; Azure needs a fixed one: qemu-img convert -O vpc -o subformat=fixed,force_size`,
        );
    });
});

describe("page blob upload", () => {
    const requests: { method: string; url: string; headers: http.IncomingHttpHeaders; length: number }[] = [];
    const blobs = new Map<string, Buffer>();
    let failNext = 0;
    let server: http.Server;
    let base: string;
    let dir: string;

    beforeAll(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-azure-blob-"));
        // A minimal Blob service: Put Blob (PageBlob), Put Page, Delete Blob.
        server = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                const body = Buffer.concat(chunks);
                const url = new URL(req.url!, "http://x");
                requests.push({ method: req.method!, url: req.url!, headers: req.headers, length: body.length });
                if (failNext > 0) {
                    failNext--;
                    res.writeHead(503).end("busy");
                    return;
                }
                if (url.searchParams.get("sig") !== "s3cret") return void res.writeHead(403).end("AuthenticationFailed");
                const key = url.pathname;
                if (req.method === "PUT" && url.searchParams.get("comp") === "page") {
                    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers["x-ms-range"]));
                    const blob = blobs.get(key);
                    if (!m || !blob || req.headers["x-ms-page-write"] !== "update") return void res.writeHead(400).end();
                    body.copy(blob, Number(m[1]));
                    return void res.writeHead(201).end();
                }
                if (req.method === "PUT") {
                    if (req.headers["x-ms-blob-type"] !== "PageBlob") return void res.writeHead(400).end("not a page blob");
                    blobs.set(key, Buffer.alloc(Number(req.headers["x-ms-blob-content-length"])));
                    return void res.writeHead(201).end();
                }
                if (req.method === "DELETE") {
                    const had = blobs.delete(key);
                    return void res.writeHead(had ? 202 : 404).end();
                }
                res.writeHead(405).end();
            });
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => {
        server.close();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("creates a page blob and sends only the 4 MiB ranges that hold data", async () => {
        const MiB = 1024 * 1024;
        const file = path.join(dir, "disk.vhd");
        const data = Buffer.alloc(10 * MiB + 512);
        data.write("boot", 100);
        data.write("tail", 9 * MiB);
        data.write("conectix", 10 * MiB);
        fs.writeFileSync(file, data);
        requests.length = 0;
        const inputs = { url: `${base}/vhds/nixos.vhd`, sas: "sv=2021&sig=s3cret", path: file, hash: "h1" };
        const outs = await uploadPageBlob(inputs);
        expect(outs).toEqual({ ...inputs, sizeBytes: 10 * MiB + 512, uploadedBytes: 4 * MiB + (2 * MiB + 512) });
        expect(blobs.get("/vhds/nixos.vhd")!.equals(data)).toBe(true);
        const create = requests[0]!;
        expect(create.method).toBe("PUT");
        expect(create.url).toBe("/vhds/nixos.vhd?sv=2021&sig=s3cret");
        expect(create.headers["x-ms-blob-content-length"]).toBe(String(10 * MiB + 512));
        // Offsets 0 and 8 MiB hold data; the range at 4 MiB is zeros and is skipped.
        expect(requests.slice(1).map((r) => r.headers["x-ms-range"]).sort()).toEqual([`bytes=0-${4 * MiB - 1}`, `bytes=${8 * MiB}-${10 * MiB + 511}`]);
        expect(requests.slice(1).every((r) => r.url === "/vhds/nixos.vhd?comp=page&sv=2021&sig=s3cret")).toBe(true);
    });

    it("retries a busy service and reports a refusal without the SAS", async () => {
        const file = path.join(dir, "small.vhd");
        fs.writeFileSync(file, Buffer.alloc(1024, 1));
        failNext = 1;
        await expect(uploadPageBlob({ url: `${base}/vhds/small.vhd`, sas: "sig=s3cret", path: file, hash: "h" })).resolves.toMatchObject({ uploadedBytes: 1024 });
        await expect(uploadPageBlob({ url: `${base}/vhds/small.vhd`, sas: "sig=wrong", path: file, hash: "h" })).rejects.toThrow(
            "nixlab: PUT /vhds/small.vhd? failed with HTTP 403: AuthenticationFailed",
        );
        fs.writeFileSync(file, Buffer.alloc(1000));
        await expect(uploadPageBlob({ url: `${base}/vhds/odd.vhd`, sas: "sig=s3cret", path: file, hash: "h" })).rejects.toThrow(
            `nixlab: ${file} is 1000 bytes; page blobs need a multiple of 512 (is it a fixed VHD?)`,
        );
    });

    it("deletes, treating an already-missing blob as deleted", async () => {
        const props = { url: `${base}/vhds/nixos.vhd`, sas: "sig=s3cret", path: "/x", hash: "h1", sizeBytes: 0, uploadedBytes: 0 };
        await pageBlobProvider.delete!("id", props);
        expect(blobs.has("/vhds/nixos.vhd")).toBe(false);
        await expect(pageBlobProvider.delete!("id", props)).resolves.toBeUndefined();
        expect(await blobRequest("DELETE", props, "", {})).toBe(404);
    });

    it("replaces on new content, updates in place for a new SAS or path", async () => {
        const olds: PageBlobOutputs = { url: "u", sas: "a", path: "/p", hash: "h", sizeBytes: 1, uploadedBytes: 1 };
        const diff = pageBlobProvider.diff!;
        expect(await diff("id", olds, { url: "u", sas: "a", path: "/p", hash: "h" })).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
        expect(await diff("id", olds, { url: "u2", sas: "a", path: "/p", hash: "h2" })).toEqual({ changes: true, replaces: ["url", "hash"], deleteBeforeReplace: false });
        expect(await diff("id", olds, { url: "u", sas: "b", path: "/q", hash: "h" })).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
        expect(await pageBlobProvider.update!("id", olds, { url: "u", sas: "b", path: "/q", hash: "h" })).toEqual({ outs: { ...olds, sas: "b", path: "/q" } });
    });
});
