/**
 * Child names derived from config never meet (components/names.ts), checked three ways:
 * - the examples are refused at validation, naming both config paths;
 * - every backend's NamingScheme explains every resource its stack's plan registers, so a
 *   child added later without a scheme entry fails here;
 * - property-style: seeded random labs whose node and volume names are built from
 *   fragments that tend to meet, on every backend, run through the real program (the
 *   Lab component and the real backends, under the offline runner, which refuses duplicate
 *   URNs as the engine does, with the name check switched off): the check refuses a lab
 *   exactly when the program would register two resources with one URN, or (Azure) two
 *   disks with one name.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { BACKENDS, type Backend, type BackendFactory, type BackendKind } from "../components/backend";
import { Lab, planLab } from "../components/lab";
import type * as Names from "../components/names";
import { nameClaims, nameProblems } from "../components/names";
import { ConfigError } from "../components/problems";
import { parseLabConfig, type LabSpec } from "../components/spec";
import { OFFLINE_PLAN_ENV } from "../images/build";
import { backendLoaders } from "../providers";
import { revealValue, runOffline } from "../scripts/offline";
import { planInvokes } from "../scripts/planInvokes";
import { readStackConfig } from "../scripts/plan";

// The Lab component runs the check in planLab; the oracle run below needs the program as
// it would be without it. Everything else uses the real module.
const check = vi.hoisted(() => ({ enabled: true }));
vi.mock("../components/names", async (importOriginal) => {
    const real = await importOriginal<typeof Names>();
    return { ...real, nameProblems: (lab: LabSpec, scheme: Names.NamingScheme) => (check.enabled ? real.nameProblems(lab, scheme) : []) };
});

const ROOT = path.resolve(__dirname, "..");
const STACKS: Record<BackendKind, string> = {
    libvirt: "local",
    aws: "aws-x86_64",
    gcp: "gcp-x86_64",
    azure: "azure-x86_64",
    openstack: "openstack-x86_64",
};
const AZURE_DISK = "Azure managed disk in the lab's resource group";

function stackConfig(stack: string): Record<string, string> {
    return readStackConfig(path.join(ROOT, "stacks", `Pulumi.${stack}.yaml`));
}

// Every backend's factory, loaded (import()) before the first test: the tests below build
// backends synchronously, as the program does once its backend is loaded.
const factories = {} as Record<BackendKind, BackendFactory>;
beforeAll(async () => {
    for (const kind of BACKENDS) factories[kind] = await backendLoaders[kind]();
});

function backendOf(kind: BackendKind, stack = STACKS[kind]): Backend {
    return factories[kind].fromConfig(JSON.parse(stackConfig(stack)[`nixlab:${kind}`]!));
}

function labConfigOf(stack: string): Record<string, unknown> {
    return JSON.parse(stackConfig(stack)["nixlab:lab"]!) as Record<string, unknown>;
}

/** The stack's lab with other nodes; images come from the stack's flake (not built: see beforeAll). */
function labFor(kind: BackendKind, name: string, nodes: unknown): Record<string, unknown> {
    const base = labConfigOf(STACKS[kind]);
    return { ...base, name, defaults: { ...(base.defaults as object), arch: "x86_64", volumes: undefined }, nodes };
}

function problemsOf(kind: BackendKind, nodes: unknown): string[] {
    const spec = parseLabConfig(labFor(kind, "lab", nodes), "lab");
    try {
        planLab(spec, backendOf(kind));
        return [];
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        return e.problems.map((p) => `${p.path}: ${p.message}`);
    }
}

describe("the issue's examples are refused at validation, naming both paths", () => {
    it("node a with volume b-scratch beside node a-b with volume scratch", () => {
        const nodes = [
            { name: "a", volumes: [{ name: "b-scratch", sizeGiB: 1 }] },
            { name: "a-b", volumes: [{ name: "scratch", sizeGiB: 1 }] },
        ];
        for (const kind of ["libvirt", "aws", "gcp", "openstack"] as const) {
            const type = {
                libvirt: "pulumi-nodejs:dynamic/nixlab-libvirt:Volume",
                aws: "aws:ebs/volume:Volume",
                gcp: "gcp:compute/disk:Disk",
                openstack: "openstack:blockstorage/volume:Volume",
            }[kind];
            expect(problemsOf(kind, nodes)[0]).toBe(
                `nixlab:lab.nodes[1].volumes[0].name: volume scratch of node a-b would be named "lab-a-b-scratch" (a ${type} resource), ` +
                    `the name volume b-scratch of node a already has (nixlab:lab.nodes[0].volumes[0].name); Pulumi would stop the update with "Duplicate resource URN". ` +
                    "Node and volume names are joined with '-', so different ones can spell the same name: rename one of them",
            );
        }
        // On Azure the same pair also meets as disk names, and as attachments nowhere else.
        expect(problemsOf("azure", nodes)).toEqual([
            `nixlab:lab.nodes[1].volumes[0].name: volume scratch of node a-b would be named "lab-a-b-scratch" (a azure-native:compute:Disk resource), ` +
                `the name volume b-scratch of node a already has (nixlab:lab.nodes[0].volumes[0].name); Pulumi would stop the update with "Duplicate resource URN". ` +
                "Node and volume names are joined with '-', so different ones can spell the same name: rename one of them",
        ]);
    });

    it("a libvirt volume named root takes the root disk's name", () => {
        expect(problemsOf("libvirt", [{ name: "a", volumes: [{ name: "root", sizeGiB: 1 }] }])).toEqual([
            `nixlab:lab.nodes[0].volumes[0].name: volume root of node a would be named "lab-a-root" (a pulumi-nodejs:dynamic/nixlab-libvirt:Volume resource), ` +
                `the name the root disk of node a already has (nixlab:lab.nodes[0].name); Pulumi would stop the update with "Duplicate resource URN". ` +
                "Node and volume names are joined with '-', so different ones can spell the same name: rename one of them",
        ]);
        // Elsewhere `root` is an ordinary volume name.
        for (const kind of ["aws", "gcp", "azure", "openstack"] as const) expect(problemsOf(kind, [{ name: "a", volumes: [{ name: "root", sizeGiB: 1 }] }])).toEqual([]);
    });

    it("counted nodes and defaults.volumes are named by their own paths", () => {
        expect(problemsOf("libvirt", { count: 2, namePrefix: "n", volumes: [{ name: "root", sizeGiB: 1 }] })).toEqual(
            [1, 2].map(
                (i) =>
                    `nixlab:lab.nodes.volumes[0].name: volume root of node n-${i} would be named "lab-n-${i}-root" (a pulumi-nodejs:dynamic/nixlab-libvirt:Volume resource), ` +
                    `the name the root disk of node n-${i} already has (nixlab:lab.nodes.namePrefix); Pulumi would stop the update with "Duplicate resource URN". ` +
                    "Node and volume names are joined with '-', so different ones can spell the same name: rename one of them",
            ),
        );
        const spec = parseLabConfig({ ...labFor("libvirt", "lab", [{ name: "a" }]), defaults: { volumes: [{ name: "root", sizeGiB: 1 }] } }, "lab");
        expect(nameProblems(spec, backendOf("libvirt").naming).map((p) => p.path)).toEqual(["nixlab:lab.defaults.volumes[0].name"]);
    });

    it("Azure: a volume named os, or one spelling another node's OS disk, meets the OS disk's name", () => {
        expect(problemsOf("azure", [{ name: "a", volumes: [{ name: "os", sizeGiB: 1 }] }])).toEqual([
            `nixlab:lab.nodes[0].volumes[0].name: volume os of node a would be named "a-os" (an ${AZURE_DISK}), ` +
                "the name the OS disk of node a already has (nixlab:lab.nodes[0].name); the cloud refuses a second one with that name. " +
                "Node and volume names are joined with '-', so different ones can spell the same name: rename one of them",
        ]);
        expect(problemsOf("azure", [{ name: "a", volumes: [{ name: "b-os", sizeGiB: 1 }] }, { name: "a-b" }])).toEqual([
            `nixlab:lab.nodes[1].name: the OS disk of node a-b would be named "a-b-os" (an ${AZURE_DISK}), ` +
                "the name volume b-os of node a already has (nixlab:lab.nodes[0].volumes[0].name); the cloud refuses a second one with that name. " +
                "Node and volume names are joined with '-', so different ones can spell the same name: rename one of them",
        ]);
    });

    it("names that do not meet pass: node a-b with volume c beside node a with volume b", () => {
        for (const kind of Object.keys(STACKS) as BackendKind[]) {
            expect(problemsOf(kind, [{ name: "a", volumes: [{ name: "b", sizeGiB: 1 }] }, { name: "a-b", volumes: [{ name: "c", sizeGiB: 1 }] }])).toEqual([]);
        }
    });
});

describe("each backend's NamingScheme explains every resource its stack registers", () => {
    const plans = fs.readdirSync(path.join(__dirname, "__snapshots__")).filter((f) => /^plan-.+\.json$/.test(f));

    it("covers every stack's plan snapshot", () => {
        expect(plans.map((f) => f.replace(/^plan-|\.json$/g, "")).sort()).toEqual(
            fs
                .readdirSync(path.join(ROOT, "stacks"))
                .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
                .filter(Boolean)
                .sort(),
        );
    });

    for (const file of plans) {
        const stack = file.replace(/^plan-|\.json$/g, "");
        it(stack, () => {
            const config = stackConfig(stack);
            const kind = (config["nixlab:backend"] ?? "libvirt") as BackendKind;
            const spec = parseLabConfig(JSON.parse(config["nixlab:lab"]!), stack);
            const claims = new Set(nameClaims(spec, backendOf(kind, stack).naming).map((c) => `${c.namespace} ${c.name}`));
            const plan = JSON.parse(fs.readFileSync(path.join(__dirname, "__snapshots__", file), "utf8")) as { resources: { type: string; name: string }[] };
            const registered = plan.resources.filter((r) => r.type !== "nixlab:index:Lab").map((r) => `${r.type} ${r.name}`);
            expect(registered.length).toBeGreaterThan(10);
            expect(registered.filter((r) => !claims.has(r))).toEqual([]);
        });
    }
});

// ---- property-style: the check against the real program -------------------------------

/** mulberry32: a small seeded generator, so a failure reproduces. */
function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// Fragments that are other children's suffixes on some backend, or each other's parts.
const FRAGMENTS = ["a", "b", "root", "os", "cidata", "scratch"];

/**
 * Random nodes and volumes; most samples also get a splice, node X beside node X-f where
 * X has volume f-g and X-f a volume that is g (the names meet) or something else.
 */
function sampleNodes(next: () => number, plant?: "meet" | "apart"): unknown {
    const pick = <T>(xs: T[]) => xs[Math.floor(next() * xs.length)]!;
    const name = () => Array.from({ length: 1 + Math.floor(next() * 2) }, () => pick(FRAGMENTS)).join("-");
    const volumes = () => [...new Set(Array.from({ length: Math.floor(next() * 3) }, name))].map((n) => ({ name: n, sizeGiB: 1 }));
    if (plant === "apart") return [{ name: name() }];
    if (!plant && next() < 0.15) return { count: 1 + Math.floor(next() * 3), namePrefix: name(), volumes: volumes() };
    const nodes = [...new Set(Array.from({ length: 1 + Math.floor(next() * 2) }, name))].map((n) => ({ name: n, volumes: volumes() }));
    if (plant === "meet" || next() < 0.75) {
        const x = nodes[0]!;
        const [f, g] = [name(), name()];
        if (!nodes.some((n) => n.name === `${x.name}-${f}`)) {
            if (!x.volumes.some((v) => v.name === `${f}-${g}`)) x.volumes.push({ name: `${f}-${g}`, sizeGiB: 1 });
            nodes.push({ name: `${x.name}-${f}`, volumes: [{ name: plant === "meet" || next() < 0.6 ? g : name(), sizeGiB: 1 }] });
        }
    }
    return nodes;
}

interface Sample {
    kind: BackendKind;
    lab: string;
    spec: LabSpec;
    refused: boolean;
}

const SAMPLES_PER_BACKEND = 6;
const samples: Sample[] = [];
/** What the program registered (the monitor accepted), and the URNs it registered twice. */
const oracle: { duplicates: string[]; registered: { type: string; name: string; parent?: string; inputs: Record<string, unknown> }[] } = {
    duplicates: [],
    registered: [],
};

beforeAll(async () => {
    const next = rng(20261201);
    for (const kind of Object.keys(STACKS) as BackendKind[]) {
        for (let i = 0; i < SAMPLES_PER_BACKEND; i++) {
            // Lab names `<kind>x<i>y`: no lab's names can run into another's.
            const lab = `${kind.slice(0, 3)}x${i}y`;
            // The first two of each backend are planted (one lab whose names meet, one whose
            // cannot), so both outcomes are always among the random rest.
            const spec = parseLabConfig(labFor(kind, lab, sampleNodes(next, i === 0 ? "meet" : i === 1 ? "apart" : undefined)), lab);
            samples.push({ kind, lab, spec, refused: nameProblems(spec, backendOf(kind).naming).length > 0 });
        }
    }
    check.enabled = false;
    // As in `npm run plan`: images that need a Nix build stay unknown in a preview.
    process.env[OFFLINE_PLAN_ENV] = "1";
    const result = await runOffline({
        stack: "names",
        config: {},
        preview: true,
        program: async () => {
            for (const s of samples) new Lab(s.lab, { spec: s.spec, backend: backendOf(s.kind), stack: "names" });
            return {};
        },
        resources: [
            (a) => {
                oracle.registered.push({ type: a.type, name: a.name, parent: a.parent, inputs: a.inputs });
                return undefined;
            },
        ],
        calls: planInvokes,
        duplicateUrns: "record",
    });
    oracle.duplicates = result.duplicateUrns;
    check.enabled = true;
}, 600_000);

describe("property: the check refuses exactly the labs the program would break", () => {
    it("the samples hold both kinds of lab on every backend", () => {
        for (const kind of Object.keys(STACKS)) {
            const mine = samples.filter((s) => s.kind === kind);
            expect(mine.filter((s) => s.refused).length, kind).toBeGreaterThanOrEqual(1);
            expect(mine.filter((s) => !s.refused).length, kind).toBeGreaterThanOrEqual(1);
        }
    });

    it("a lab is refused exactly when the program registers a duplicate URN or a duplicate Azure disk name", () => {
        const urnLabs = new Set(oracle.duplicates.map((u) => u.split("::").pop()!.split("-")[0]!));
        const azureDiskLabs = new Set<string>();
        {
            // Disk names Azure would see, per lab: data disks' diskName and each VM's OS disk.
            const seen = new Map<string, string>();
            for (const r of oracle.registered) {
                const inputs = revealValue(r.inputs) as Record<string, unknown>;
                const disk =
                    r.type === "azure-native:compute:Disk"
                        ? inputs.diskName
                        : r.type === "azure-native:compute:VirtualMachine"
                          ? ((inputs.storageProfile as { osDisk?: { name?: unknown } } | undefined)?.osDisk?.name)
                          : undefined;
                if (typeof disk !== "string") continue;
                const key = `${r.parent} ${disk}`;
                if (seen.has(key)) azureDiskLabs.add(r.parent!);
                seen.set(key, r.name);
            }
        }
        const broken = samples.filter((s) => urnLabs.has(s.lab) || azureDiskLabs.has(s.lab)).map((s) => s.lab);
        expect(oracle.duplicates.length).toBeGreaterThan(0);
        expect(samples.filter((s) => s.refused).map((s) => s.lab)).toEqual(broken);
    });
});
