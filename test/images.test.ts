/**
 * The Nix side of the image pipeline, checked without nixpkgs (it cannot be fetched
 * where these tests run): every .nix file parses, the flake's targets are
 * IMAGE_TARGETS, and the flake's wiring (module per variant, nixlab-image.json) is
 * evaluated against a fake nixpkgs input and read back by the TypeScript parser that
 * the build step uses.
 *
 * Needs `nix-instantiate` (Debian: nix-bin). Evaluation uses the dummy:// store, so
 * nothing is written to /nix and no daemon is needed.
 */
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import type { BackendKind } from "../components/backend";
import type { Arch, BootMode } from "../components/spec";
import { IMAGE_TARGETS, NIX_SYSTEMS } from "../images/artifact";
import { METADATA_FILE, parseImageMetadata } from "../images/metadata";

const ROOT = path.resolve(__dirname, "..");
const IMAGES = path.join(ROOT, "images");
const FAKE_NIXPKGS = path.join(ROOT, "test/fixtures/images/fake-nixpkgs.nix");

/** Runs nix-instantiate; resolves to stdout, rejects with Nix's own error text. */
function nixInstantiate(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile("nix-instantiate", ["--store", "dummy://", ...args], { cwd: ROOT, encoding: "utf8" }, (err, stdout, stderr) => {
            if (!err) return resolve(stdout);
            // Only Nix's error, not Debian's "group 'nixbld' does not exist" warnings.
            const text = stderr
                .split("\n")
                .filter((l) => !l.includes("build-users-group"))
                .join("\n")
                .trim();
            reject(new Error(text || err.message));
        });
    });
}

async function nixEval<T>(expr: string): Promise<T> {
    return JSON.parse(await nixInstantiate(["--eval", "--json", "--strict", "-E", expr])) as T;
}

/**
 * Each nix-instantiate costs ~100 ms of startup (more on a busy machine), so every
 * evaluation starts at once in the first beforeAll and each test awaits its own. The
 * no-op catch only keeps a failure from being reported as unhandled before its test
 * awaits (and reports) it.
 */
function started<T>(p: Promise<T>): Promise<T> {
    p.catch(() => undefined);
    return p;
}

function nixFiles(dir: string): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile() && e.name.endsWith(".nix"))
        .map((e) => path.join(e.parentPath, e.name))
        .sort();
}

const rel = (p: string) => path.relative(ROOT, p);
// From the tables themselves rather than components/, which would load Pulumi (seconds).
const BACKENDS = Object.keys(IMAGE_TARGETS) as BackendKind[];
const ARCHES = Object.keys(NIX_SYSTEMS) as Arch[];
const SYSTEMS = ARCHES.map((a) => NIX_SYSTEMS[a]);
const ATTRS = BACKENDS.map((b) => IMAGE_TARGETS[b].attr);

interface TargetsNix {
    systems: string[];
    targets: Record<string, { format: string; variant: Record<string, string> }>;
}

interface FakePackage {
    name: string;
    json: string;
    script: string;
    nixlab: Record<string, string>;
    image: { filePath: string; hostPlatform: string; nixlabModules: string[] };
}

const NIX_FILES = [...nixFiles(IMAGES), ...nixFiles(path.join(ROOT, "test/fixtures/images"))];
let parsed: Map<string, Promise<string>>;
let targetsNix: Promise<TargetsNix>;
let efiTargets: Promise<string[]>;
let stubbedFlake: Promise<{ outputs: string[]; packages: Record<string, string[]>; modules: string[]; url: string }>;
let wiredFlake: Promise<{ placeholder: string; variants: TargetsNix["targets"]; packages: Record<string, Record<string, FakePackage>> }>;
let formatMismatch: Promise<unknown>;

beforeAll(() => {
    try {
        execFileSync("nix-instantiate", ["--version"], { stdio: "ignore" });
    } catch {
        throw new Error(
            "nix-instantiate is not on PATH. These tests need it to parse and evaluate images/*.nix: " +
                "install Nix, or on Debian/Ubuntu `apt-get install nix-bin`.",
        );
    }
    parsed = new Map(NIX_FILES.map((f) => [f, started(nixInstantiate(["--parse", f]))]));

    // `nix-instantiate --eval --json --strict images/targets.nix`, as an expression.
    targetsNix = started(nixEval(`import ${IMAGES}/targets.nix`));
    efiTargets = started(nixEval(`(import ${IMAGES}/lib.nix).efiTargets`));

    // The real flake with a nixpkgs stub that throws when touched: package names must
    // come from targets.nix alone, which keeps the test honest without nixpkgs.
    stubbedFlake = started(
        nixEval(`
            let
              flake = import ${IMAGES}/flake.nix;
              nixpkgs = { lib = throw "stub nixpkgs.lib"; legacyPackages = throw "stub"; };
              out = flake.outputs { self = out; inherit nixpkgs; };
            in {
              outputs = builtins.attrNames out;
              packages = builtins.mapAttrs (system: ps: builtins.attrNames ps) out.packages;
              modules = builtins.attrNames out.nixosModules;
              url = flake.inputs.nixpkgs.url;
            }`),
    );

    // The real flake against test/fixtures/images/fake-nixpkgs.nix.
    wiredFlake = started(
        nixEval(`
            let
              flake = import ${IMAGES}/flake.nix;
              out = flake.outputs { self = out; nixpkgs = import ${FAKE_NIXPKGS}; };
            in {
              placeholder = builtins.placeholder "out";
              variants = (import ${IMAGES}/targets.nix).targets;
              inherit (out) packages;
            }`),
    );

    formatMismatch = started(
        nixEval(`(import ${IMAGES}/lib.nix).imageMetadata {
            target = "aws"; system = "x86_64-linux";
            config = { image.extension = "qcow2"; ec2.efi = false; };
        }`),
    );
});

describe("every .nix file parses", () => {
    const files = NIX_FILES;

    test("there are Nix files to check", () => {
        expect(files.map(rel)).toEqual(
            expect.arrayContaining([
                "images/flake.nix",
                "images/lib.nix",
                "images/targets.nix",
                "images/modules/base.nix",
                ...ATTRS.map((t) => `images/modules/${t}.nix`),
            ]),
        );
    });

    // One row per file, so a syntax error names its file.
    test.each(files.map((f) => [rel(f), f]))("%s", async (_name, file) => {
        await parsed.get(file);
    });
});

describe("targets.nix is the TypeScript target table", () => {
    test("the same targets with the same formats", async () => {
        const spec = await targetsNix;
        const fromNix = Object.fromEntries(Object.entries(spec.targets).map(([name, t]) => [name, t.format]));
        const fromTs = Object.fromEntries(BACKENDS.map((b) => [IMAGE_TARGETS[b].attr, IMAGE_TARGETS[b].format]));
        expect(fromNix).toEqual(fromTs);
    });

    test("the same systems, each with a nixpkgs image variant for every target", async () => {
        const s = await targetsNix;
        expect([...s.systems].sort()).toEqual([...SYSTEMS].sort());
        for (const [name, t] of Object.entries(s.targets)) {
            expect(Object.keys(t.variant).sort(), `variants of ${name}`).toEqual([...SYSTEMS].sort());
        }
    });

    test("lib.nix knows where every target keeps its boot mode", async () => {
        expect(await efiTargets).toEqual([...ATTRS].sort());
    });
});

describe("the flake", () => {
    test("outputs packages.<system>.<target> for exactly NIX_SYSTEMS x IMAGE_TARGETS", async () => {
        const out = await stubbedFlake;
        expect(Object.keys(out.packages).sort()).toEqual([...SYSTEMS].sort());
        for (const system of SYSTEMS) expect(out.packages[system]).toEqual([...ATTRS].sort());
        expect(out.outputs).toEqual(["nixosModules", "packages"]);
        expect(out.modules).toEqual(["base", ...ATTRS].sort());
        expect(out.url).toBe("github:NixOS/nixpkgs/nixos-25.11");
    });

    describe("wiring, evaluated against a fake nixpkgs", () => {
        let wired: Awaited<typeof wiredFlake>;
        beforeAll(async () => {
            wired = await wiredFlake;
        });

        // What each target boots, given the options the fake (like nixos-25.11 plus
        // images/modules/*.nix) sets: ec2.efi and openstack.efi default to aarch64 only,
        // gcp.nix and azure.nix choose UEFI everywhere, libvirt uses "qemu" on x86_64.
        const BOOT: Record<string, Record<Arch, BootMode>> = {
            libvirt: { x86_64: "bios", aarch64: "uefi" },
            aws: { x86_64: "bios", aarch64: "uefi" },
            gcp: { x86_64: "uefi", aarch64: "uefi" },
            azure: { x86_64: "uefi", aarch64: "uefi" },
            openstack: { x86_64: "bios", aarch64: "uefi" },
        };
        const cases = BACKENDS.flatMap((backend) => ARCHES.map((arch) => [backend, arch] as const));

        test.each(cases)("%s %s: base module plus the target's module, on the target's variant", (backend, arch) => {
            const system = NIX_SYSTEMS[arch];
            const attr = IMAGE_TARGETS[backend].attr;
            const pkg = wired.packages[system]![attr]!;
            expect(pkg.name).toBe(`nixlab-image-${attr}-${system}`);
            expect(pkg.image.hostPlatform).toBe(system);
            expect(pkg.image.nixlabModules).toEqual([path.join(IMAGES, "modules/base.nix"), path.join(IMAGES, `modules/${attr}.nix`)]);
            expect(pkg.image.filePath).toContain(`-${wired.variants[attr]!.variant[system]}-`);
        });

        test.each(cases)("%s %s: nixlab-image.json is what the build step reads", (backend, arch) => {
            const system = NIX_SYSTEMS[arch];
            const target = IMAGE_TARGETS[backend];
            const pkg = wired.packages[system]![target.attr]!;
            const fileName = path.basename(pkg.image.filePath);
            // At build time Nix replaces the placeholder with $out.
            const out = `/nix/store/${"a".repeat(32)}-${pkg.name}`;
            const metadata = parseImageMetadata(pkg.json.split(wired.placeholder).join(out), `${out}/${METADATA_FILE}`);
            expect(metadata).toEqual({
                file: `${out}/${fileName}`,
                format: target.format,
                arch,
                bootMode: BOOT[backend]![arch],
                target: target.attr,
            });
            // The file named in the JSON is the nixpkgs image, linked into $out.
            expect(pkg.script).toContain(`ln -s /nix/store/${"0".repeat(32)}-`);
            expect(pkg.script).toContain(`/${pkg.image.filePath} $out/${fileName}\n`);
            expect(pkg.script).toContain(`"$json" > $out/${METADATA_FILE}`);
        });
    });

    test("fails evaluation when a nixpkgs builder produces another format than targets.nix promises", async () => {
        await expect(
            formatMismatch,
        ).rejects.toThrow(/target aws on x86_64-linux: nixpkgs variant "amazon" produces \*\.qcow2 \(format qcow2\) but targets\.nix and IMAGE_TARGETS expect vhd/);
    });

    test("flake.lock pins the nixpkgs input by rev and narHash (lock version 7)", () => {
        const lock = JSON.parse(fs.readFileSync(path.join(IMAGES, "flake.lock"), "utf8"));
        expect(lock.version).toBe(7);
        expect(lock.root).toBe("root");
        expect(lock.nodes.root).toEqual({ inputs: { nixpkgs: "nixpkgs" } });
        const node = lock.nodes.nixpkgs;
        expect(node.locked).toEqual({
            lastModified: expect.any(Number),
            narHash: expect.stringMatching(/^sha256-[A-Za-z0-9+/]{43}=$/),
            owner: "NixOS",
            repo: "nixpkgs",
            rev: expect.stringMatching(/^[0-9a-f]{40}$/),
            type: "github",
        });
        // `original` must be the flake.nix input exactly, or Nix re-locks on first use.
        expect(node.original).toEqual({ owner: "NixOS", ref: "nixos-25.11", repo: "nixpkgs", type: "github" });
    });
});
