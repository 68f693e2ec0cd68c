/**
 * The image build step (images/build.ts) under Pulumi mocks: the exact command it runs
 * for each stack, how the command's output becomes the ImageArtifact, the prebuilt
 * artifacts path where nothing runs, and every way it refuses to go on.
 *
 * Mocks run in preview mode on purpose: the build is an invoke so that previews know
 * the store path, and an artifact that only resolved during `up` would time out here.
 * The call mock fails on any token but command:local:run.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import type { BackendKind } from "../components/backend";
import type { Arch, BootMode, ImageArtifactSpec, ImageFormat } from "../components/spec";
import { IMAGE_TARGETS, NIX_SYSTEMS, type ImageArtifact } from "../images/artifact";
import type * as Build from "../images/build";

type Call = pulumi.runtime.MockCallArgs;

const calls: Call[] = [];
let respond: (call: Call) => Record<string, unknown>;

let build: typeof Build;
let parent: pulumi.ComponentResource;
let tmp: string;
let storeDir: string;
const savedPath = process.env.PATH;
const savedStoreDir = process.env.NIX_STORE_DIR;

const PROJECT = "/srv/lab";
const BACKENDS = Object.keys(IMAGE_TARGETS) as BackendKind[];
const ARCHES = Object.keys(NIX_SYSTEMS) as Arch[];

beforeAll(async () => {
    pulumi.runtime.setMocks(
        {
            newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
            call: (args) => {
                calls.push(args);
                if (args.token !== "command:local:run") throw new Error(`Mock not implemented: ${args.token}`);
                return respond(args);
            },
        },
        "nixlab",
        "test",
        true,
    );
    build = await import("../images/build");
    parent = new pulumi.ComponentResource("nixlab:test:Parent", "lab");

    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-images-build-"));
    storeDir = path.join(tmp, "store");
    fs.mkdirSync(storeDir);
    // The build step only checks that `nix` is on PATH; the invoke itself is mocked.
    const bin = path.join(tmp, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "nix"), "#!/bin/sh\nexit 99\n", { mode: 0o755 });
    process.env.PATH = [bin, savedPath].join(path.delimiter);
});

afterAll(() => {
    process.env.PATH = savedPath;
    if (savedStoreDir === undefined) delete process.env.NIX_STORE_DIR;
    else process.env.NIX_STORE_DIR = savedStoreDir;
    fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
    calls.length = 0;
    respond = () => {
        throw new Error("this test expected no command to run");
    };
});

/** An Output's value; fails instead of hanging when it never becomes known. */
function settle<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the Output never became known")), 3000);
        o.apply((v) => {
            clearTimeout(timer);
            resolve(v);
            return v;
        });
    });
}

/** A 32-character hash in Nix's base32 alphabet, stable per seed. */
function fakeHash(seed: string): string {
    const alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
    return [...createHash("sha256").update(seed).digest("hex").slice(0, 32)].map((c) => alphabet[parseInt(c, 16)]).join("");
}

interface FakeBuild {
    storePath: string;
    hash: string;
    file: string;
}

/**
 * Lays out what `nix build` of a flake package leaves in the store: the disk image
 * and nixlab-image.json, as images/flake.nix writes them. `metadata` overrides fields.
 */
function fakeBuild(backend: BackendKind, arch: Arch, metadata: Record<string, unknown> = {}, seed = ""): FakeBuild {
    const target = IMAGE_TARGETS[backend];
    const system = NIX_SYSTEMS[arch];
    const hash = fakeHash(`${backend}-${arch}-${seed}-${JSON.stringify(metadata)}`);
    const storePath = path.join(storeDir, `${hash}-nixlab-image-${target.attr}-${system}`);
    fs.mkdirSync(storePath, { recursive: true });
    const file = path.join(storePath, `nixos-image-${system}.${target.format}`);
    fs.writeFileSync(file, "disk");
    const doc = { arch, bootMode: "uefi", file, format: target.format, target: target.attr, ...metadata };
    fs.writeFileSync(path.join(storePath, "nixlab-image.json"), `${JSON.stringify(doc)}\n`);
    return { storePath, hash, file };
}

/** What `nix build --json` prints for one package with one output (Nix 2.8, as measured here). */
function nixJson(storePath: string): string {
    return JSON.stringify([{ drvPath: `${storePath}.drv`, outputs: { out: storePath } }]);
}

function builtBy(fake: FakeBuild): (call: Call) => Record<string, unknown> {
    return () => ({ stdout: nixJson(fake.storePath), stderr: "" });
}

const args = (backend: BackendKind, arch: Arch, over: Partial<Build.LabImageArtifactArgs> = {}): Build.LabImageArtifactArgs => ({
    name: `lab-image-${arch}`,
    parent,
    backend,
    arch,
    image: { flake: "./images" },
    projectDir: PROJECT,
    ...over,
});

describe("building with nix", () => {
    // Written out, not computed: this table is the contract with the flake's attribute
    // paths (packages.<system>.<target>) that users and CI also type.
    const COMMANDS: Record<BackendKind, Record<Arch, string>> = {
        libvirt: {
            x86_64: "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.x86_64-linux.libvirt'",
            aarch64: "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.aarch64-linux.libvirt'",
        },
        aws: {
            x86_64: "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.x86_64-linux.aws'",
            aarch64: "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.aarch64-linux.aws'",
        },
        gcp: {
            x86_64: "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.x86_64-linux.gcp'",
            aarch64: "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.aarch64-linux.gcp'",
        },
        azure: {
            x86_64: "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.x86_64-linux.azure'",
            aarch64: "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.aarch64-linux.azure'",
        },
        openstack: {
            x86_64: "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.x86_64-linux.openstack'",
            aarch64: "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.aarch64-linux.openstack'",
        },
    };
    const FORMATS: Record<BackendKind, ImageFormat> = { libvirt: "qcow2", aws: "vhd", gcp: "tar.gz", azure: "vhd", openstack: "qcow2" };
    const cases = BACKENDS.flatMap((backend) => ARCHES.map((arch) => [backend, arch] as const));

    test.each(cases)("%s %s: one `nix build` of the stack's package; its store path becomes the artifact", async (backend, arch) => {
        const fake = fakeBuild(backend, arch, { bootMode: arch === "aarch64" ? "uefi" : "bios" });
        respond = builtBy(fake);

        const artifact = await settle(build.labImageArtifact(args(backend, arch)));

        expect(calls.map((c) => [c.token, c.inputs])).toEqual([["command:local:run", { command: COMMANDS[backend][arch], dir: PROJECT }]]);
        expect(artifact).toEqual<ImageArtifact>({
            path: fake.file,
            format: FORMATS[backend],
            arch,
            bootMode: arch === "aarch64" ? "uefi" : "bios",
            hash: fake.hash,
        });
    });

    test("the hash is the store path's hash: a rebuilt closure is a new image, an unchanged one is not", async () => {
        const before = fakeBuild("aws", "x86_64", {}, "closure-1");
        const after = fakeBuild("aws", "x86_64", {}, "closure-2");
        respond = builtBy(before);
        const a1 = await settle(build.labImageArtifact(args("aws", "x86_64")));
        const a2 = await settle(build.labImageArtifact(args("aws", "x86_64")));
        respond = builtBy(after);
        const a3 = await settle(build.labImageArtifact(args("aws", "x86_64")));
        expect(a1.hash).toBe(before.hash);
        expect(a2.hash).toBe(a1.hash);
        expect(a3.hash).toBe(after.hash);
        expect(a3.hash).not.toBe(a1.hash);
    });

    test("a flake from config is quoted for the shell; the project directory defaults to the working directory", async () => {
        respond = builtBy(fakeBuild("libvirt", "x86_64"));
        await settle(
            build.labImageArtifact(args("libvirt", "x86_64", { image: { flake: "github:me/lab's-images?dir=images" }, projectDir: undefined })),
        );
        expect(calls.map((c) => c.inputs)).toEqual([
            {
                command:
                    "nix --extra-experimental-features 'nix-command flakes' build --no-link --json 'github:me/lab'\\''s-images?dir=images#packages.x86_64-linux.libvirt'",
                dir: process.cwd(),
            },
        ]);
    });

    test("reads the store path from Nix's JSON whatever Nix writes to stderr", async () => {
        const fake = fakeBuild("gcp", "aarch64");
        respond = () => ({ stdout: nixJson(fake.storePath), stderr: "warning: Git tree is dirty\n" });
        expect((await settle(build.labImageArtifact(args("gcp", "aarch64")))).hash).toBe(fake.hash);
    });

    test("a built image that boots its own kernel hands kernel, initrd and cmdline on", async () => {
        const fake = fakeBuild("libvirt", "x86_64", {}, "kernel");
        for (const f of ["vmlinuz", "initrd.img"]) fs.writeFileSync(path.join(fake.storePath, f), f);
        const doc = JSON.parse(fs.readFileSync(path.join(fake.storePath, "nixlab-image.json"), "utf8")) as Record<string, unknown>;
        const boot = { kernel: path.join(fake.storePath, "vmlinuz"), initrd: path.join(fake.storePath, "initrd.img"), cmdline: "root=/dev/vda console=ttyS0" };
        fs.writeFileSync(path.join(fake.storePath, "nixlab-image.json"), JSON.stringify({ ...doc, ...boot }));
        respond = builtBy(fake);
        expect(await settle(build.labImageArtifact(args("libvirt", "x86_64")))).toEqual({
            path: fake.file,
            format: "qcow2",
            arch: "x86_64",
            bootMode: "uefi",
            hash: fake.hash,
            ...boot,
        });
    });

    test("parses `nix build --json` as Nix 2.8 and current Nix print it", () => {
        const out = "/nix/store/00wrzajrqc4cvyh65xqh2fpwn4bgkxn9-nixlab-image-libvirt-x86_64-linux";
        // Nix 2.8 (Debian 12), recorded here:
        const v28 = `[{"drvPath":"/nix/store/8928ss6s1axjz4jv8ajnygwbxhcnc9rv-nixlab-image-libvirt-x86_64-linux.drv","outputs":{"out":"${out}"}}]`;
        // Nix 2.2x adds build times:
        const current = `[{"drvPath":"/nix/store/8928ss6s1axjz4jv8ajnygwbxhcnc9rv-x.drv","outputs":{"out":"${out}"},"startTime":1764625000,"stopTime":1764625042}]\n`;
        for (const stdout of [v28, current]) {
            expect(build.parseBuildOutput(stdout, "nix build")).toEqual({ storePath: out, hash: "00wrzajrqc4cvyh65xqh2fpwn4bgkxn9" });
        }
    });
});

describe("fails with a message that names what to fix", () => {
    test("nix is not on PATH: stops before running anything, naming the command, how to install Nix and image.artifacts", () => {
        const empty = fs.mkdtempSync(path.join(tmp, "no-nix-"));
        process.env.PATH = empty;
        try {
            expect(() => build.labImageArtifact(args("azure", "aarch64"))).toThrow(
                "nixlab: the aarch64 image for the azure backend (lab-image-aarch64) has to be built, but `nix` is not on PATH.\n" +
                    "  The build step would run: nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.aarch64-linux.azure'\n" +
                    "  Install Nix (https://nixos.org/download) and run again, or build the image elsewhere (CI) and set nixlab:lab.image.artifacts to the built file (images/README.md).",
            );
        } finally {
            process.env.PATH = [path.join(tmp, "bin"), savedPath].join(path.delimiter);
        }
        expect(calls).toEqual([]);
    });

    test("the build fails: names the command, its directory and Nix's error", async () => {
        respond = () => {
            // The engine reports a failed invoke as a gRPC error whose `details` carry the
            // provider's message, and the SDK rethrows `new Error(err.details)`.
            const details = "exit status 1: error: flake 'path:/srv/lab/images' does not provide attribute 'packages.x86_64-linux.openstack'";
            throw Object.assign(new Error(details), { details });
        };
        const err = await build.buildArtifact({ ...args("openstack", "x86_64"), projectDir: PROJECT }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(build.ImageBuildError);
        const message = (err as Error).message;
        expect(message).toMatch(/^nixlab: building the x86_64 image for the openstack backend \(lab-image-x86_64\) failed\.\n/);
        expect(message).toContain(
            "\n  command: nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.x86_64-linux.openstack'\n  in: /srv/lab\n",
        );
        expect(message).toContain("does not provide attribute 'packages.x86_64-linux.openstack'");
        expect(message).toContain("set nixlab:lab.image.artifacts (images/README.md)");
        expect(calls.map((c) => c.token)).toEqual(["command:local:run"]);
    });

    const refused = async (backend: BackendKind, arch: Arch, stdout: string) => {
        respond = () => ({ stdout, stderr: "" });
        const err = await build.buildArtifact({ ...args(backend, arch), projectDir: PROJECT }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(build.ImageBuildError);
        return (err as Error).message;
    };

    test("the image has another format than the backend uploads", async () => {
        const fake = fakeBuild("aws", "x86_64", { format: "qcow2" });
        expect(await refused("aws", "x86_64", nixJson(fake.storePath))).toBe(
            "nixlab: the image built by\n" +
                "  nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.x86_64-linux.aws'\n" +
                `is not usable for this stack (${fake.storePath}/nixlab-image.json):\n` +
                "  - its format is qcow2, but the aws backend uploads vhd images (IMAGE_TARGETS in images/artifact.ts); the flake and IMAGE_TARGETS disagree, and test/images.test.ts should say where",
        );
    });

    test("the image is for another arch or target", async () => {
        const fake = fakeBuild("gcp", "aarch64", { arch: "x86_64", target: "azure" });
        const message = await refused("gcp", "aarch64", nixJson(fake.storePath));
        expect(message).toContain('\n  - it describes target "azure", but the gcp backend builds packages.aarch64-linux.gcp');
        expect(message).toContain("\n  - its arch is x86_64, but aarch64-linux images must be aarch64");
    });

    test("the disk image is outside the store path, or missing", async () => {
        const outside = fakeBuild("libvirt", "x86_64", { file: "/etc/passwd" });
        expect(await refused("libvirt", "x86_64", nixJson(outside.storePath))).toContain(`\n  - its file /etc/passwd is not inside ${outside.storePath}`);
        const gone = fakeBuild("libvirt", "aarch64");
        fs.rmSync(gone.file);
        expect(await refused("libvirt", "aarch64", nixJson(gone.storePath))).toContain(`\n  - its file ${gone.file} does not exist`);
    });

    test("boot files outside the store path, missing, or an initrd without a kernel", async () => {
        const fake = fakeBuild("libvirt", "x86_64", { kernel: "/boot/vmlinuz", cmdline: "quiet" }, "bad-kernel");
        expect(await refused("libvirt", "x86_64", nixJson(fake.storePath))).toContain(`\n  - its kernel /boot/vmlinuz is not inside ${fake.storePath}`);
        const gone = fakeBuild("libvirt", "x86_64", {}, "gone-initrd");
        const doc = JSON.parse(fs.readFileSync(path.join(gone.storePath, "nixlab-image.json"), "utf8")) as Record<string, unknown>;
        fs.writeFileSync(path.join(gone.storePath, "nixlab-image.json"), JSON.stringify({ ...doc, kernel: gone.file, initrd: `${gone.storePath}/initrd.img` }));
        expect(await refused("libvirt", "x86_64", nixJson(gone.storePath))).toContain(`\n  - its initrd ${gone.storePath}/initrd.img does not exist`);
        const orphan = fakeBuild("libvirt", "x86_64", { initrd: "/nix/store/x/initrd", cmdline: 7 }, "orphan");
        expect(await refused("libvirt", "x86_64", nixJson(orphan.storePath))).toBe(
            `nixlab: ${orphan.storePath}/nixlab-image.json is not a nixlab image description:\n` +
                '  - "cmdline" is 7, expected a kernel command line\n' +
                '  - "initrd"/"cmdline" are given without "kernel"; direct kernel boot needs the kernel',
        );
    });

    test("nixlab-image.json is missing, not JSON, or not a description", async () => {
        const none = path.join(storeDir, `${fakeHash("none")}-not-an-image`);
        fs.mkdirSync(none);
        expect(await refused("aws", "aarch64", nixJson(none))).toMatch(
            new RegExp(`^nixlab: nix .*\\nbuilt ${none}, which has no readable nixlab-image\\.json \\(ENOENT.*\\)\\. Is the flake a nixlab images flake \\(images/flake\\.nix\\)\\?$`),
        );

        const garbled = fakeBuild("aws", "aarch64", {}, "garbled");
        fs.writeFileSync(path.join(garbled.storePath, "nixlab-image.json"), "{");
        expect(await refused("aws", "aarch64", nixJson(garbled.storePath))).toMatch(
            new RegExp(`^nixlab: ${garbled.storePath}/nixlab-image\\.json is not valid JSON \\(`),
        );

        const wrong = fakeBuild("aws", "aarch64", { format: "iso", bootMode: 1, file: "disk.vhd", target: "" });
        expect(await refused("aws", "aarch64", nixJson(wrong.storePath))).toBe(
            `nixlab: ${wrong.storePath}/nixlab-image.json is not a nixlab image description:\n` +
                '  - "file" is "disk.vhd", expected an absolute path\n' +
                '  - "format" is "iso", expected one of qcow2, raw, vhd, vmdk, tar.gz\n' +
                '  - "bootMode" is 1, expected one of uefi, bios\n' +
                '  - "target" is "", expected a target name',
        );
    });

    test("the command printed no build result, several, or no store path", async () => {
        const a = fakeBuild("azure", "x86_64", {}, "a");
        const b = fakeBuild("azure", "x86_64", {}, "b");
        const head = "nixlab: expected the JSON of one built package with one output (/nix/store/<hash>-<name>) on the standard output of\n  nix ";
        const empty = await refused("azure", "x86_64", "");
        expect(empty.startsWith(head)).toBe(true);
        expect(empty).toContain("\nit is not JSON (");
        // What --print-out-paths printed (Nix >= 2.9): not what the build step asks for any more.
        expect(await refused("azure", "x86_64", `${a.storePath}\n`)).toContain(`it is not JSON (`);
        expect(await refused("azure", "x86_64", JSON.stringify([{ outputs: { out: a.storePath } }, { outputs: { out: b.storePath } }]))).toContain(
            "it is not a list of exactly one build result; got: ",
        );
        expect(await refused("azure", "x86_64", JSON.stringify([{ outputs: { out: a.storePath, dev: b.storePath } }]))).toContain(
            "the package has 2 outputs, not one store path",
        );
        expect(await refused("azure", "x86_64", JSON.stringify([{ drvPath: "/nix/store/x.drv" }]))).toContain('the build result has no "outputs"');
        expect(await refused("azure", "x86_64", JSON.stringify([{ outputs: { out: "/tmp/not-a-store-path" } }]))).toContain(
            '"/tmp/not-a-store-path" is not a store path; got: ',
        );
    });
});

describe("prebuilt artifacts (nixlab:lab.image.artifacts)", () => {
    const spec = (over: Partial<ImageArtifactSpec>): ImageArtifactSpec => ({
        path: "disk.qcow2",
        format: "qcow2",
        arch: "x86_64",
        bootMode: "bios" as BootMode,
        ...over,
    });

    test("uses the entry for the arch, paths resolved against the project directory, and runs nothing", async () => {
        const project = fs.mkdtempSync(path.join(tmp, "project-"));
        fs.mkdirSync(path.join(project, "out"));
        for (const f of ["out/x86.qcow2", "out/arm.qcow2", "out/vmlinuz", "out/initrd"]) fs.writeFileSync(path.join(project, f), f);
        const sha = "ab".repeat(32);
        const artifact = await settle(
            build.labImageArtifact(
                args("libvirt", "aarch64", {
                    projectDir: project,
                    image: {
                        flake: "./images",
                        artifacts: [
                            spec({ path: "out/x86.qcow2" }),
                            spec({
                                path: "out/arm.qcow2",
                                arch: "aarch64",
                                bootMode: "uefi",
                                sha256: sha,
                                kernel: "out/vmlinuz",
                                initrd: "out/initrd",
                                cmdline: "console=ttyAMA0",
                            }),
                        ],
                    },
                }),
            ),
        );
        expect(artifact).toEqual<ImageArtifact>({
            path: path.join(project, "out/arm.qcow2"),
            format: "qcow2",
            arch: "aarch64",
            bootMode: "uefi",
            hash: sha,
            kernel: path.join(project, "out/vmlinuz"),
            initrd: path.join(project, "out/initrd"),
            cmdline: "console=ttyAMA0",
        });
        expect(calls).toEqual([]);
    });

    test("without sha256: a file in the Nix store is named by its store hash, also through a `result` symlink", async () => {
        // The fake store stands in for /nix/store, which tests cannot write to.
        process.env.NIX_STORE_DIR = storeDir;
        try {
            const fake = fakeBuild("openstack", "x86_64", {}, "prebuilt");
            const project = fs.mkdtempSync(path.join(tmp, "ci-"));
            fs.symlinkSync(fake.storePath, path.join(project, "result"));
            const direct = await build.prebuiltArtifact(spec({ path: fake.file }), 0, project);
            const viaLink = await build.prebuiltArtifact(spec({ path: `result/${path.basename(fake.file)}` }), 0, project);
            expect(direct.hash).toBe(fake.hash);
            expect(viaLink.hash).toBe(fake.hash);
            expect(viaLink.path).toBe(path.join(project, "result", path.basename(fake.file)));
        } finally {
            delete process.env.NIX_STORE_DIR;
        }
    });

    test("without sha256, outside the store: the sha256 of the file's bytes", async () => {
        const project = fs.mkdtempSync(path.join(tmp, "plain-"));
        fs.writeFileSync(path.join(project, "disk.qcow2"), "not really a disk");
        const artifact = await build.prebuiltArtifact(spec({}), 0, project);
        expect(artifact.hash).toBe(createHash("sha256").update("not really a disk").digest("hex"));
    });

    test("a missing file is a config error at its key path", async () => {
        const project = fs.mkdtempSync(path.join(tmp, "missing-"));
        await expect(build.prebuiltArtifact(spec({ path: "gone.qcow2" }), 2, project)).rejects.toThrow(
            "nixlab: invalid stack configuration (1 problem):\n" +
                `  - nixlab:lab.image.artifacts[2].path: "gone.qcow2" is not a file (looked for ${path.join(project, "gone.qcow2")}); relative paths are resolved against the project directory`,
        );
        fs.writeFileSync(path.join(project, "disk.qcow2"), "x");
        await expect(build.prebuiltArtifact(spec({ kernel: "vmlinuz" }), 0, project)).rejects.toThrow(
            '  - nixlab:lab.image.artifacts[0].kernel: "vmlinuz" is not a file',
        );
    });

    test("no entry for the arch is refused before anything runs", () => {
        expect(() =>
            build.labImageArtifact(args("aws", "aarch64", { image: { flake: "./images", artifacts: [spec({ path: "x86.vhd", format: "vhd" })] } })),
        ).toThrow("  - nixlab:lab.image.artifacts: has no aarch64 entry, but the lab has aarch64 nodes; add one, or remove artifacts to build images with Nix");
        expect(calls).toEqual([]);
    });
});

describe("store hashes", () => {
    test.each([
        ["/nix/store/0c6kzph7l0dcbvhv3fd3d0cfqh2n8hm0-nixlab-image-aws-x86_64-linux", "0c6kzph7l0dcbvhv3fd3d0cfqh2n8hm0"],
        ["/nix/store/0c6kzph7l0dcbvhv3fd3d0cfqh2n8hm0-x/", "0c6kzph7l0dcbvhv3fd3d0cfqh2n8hm0"],
        // 'e', 'o', 't' and 'u' are not in Nix's base32 alphabet.
        ["/nix/store/ec6kzph7l0dcbvhv3fd3d0cfqh2n8hm0-x", undefined],
        ["/nix/store/0c6kzph7l0dcbvhv3fd3d0cfqh2n8hm-short", undefined],
        ["/tmp/whatever", undefined],
    ])("storePathHash(%s) = %s", (p, hash) => {
        expect(build.storePathHash(p)).toBe(hash);
    });

    test("nixStoreHash finds the store path a file lives in", () => {
        expect(build.nixStoreHash("/nix/store/0c6kzph7l0dcbvhv3fd3d0cfqh2n8hm0-img/nixos.vhd")).toBe("0c6kzph7l0dcbvhv3fd3d0cfqh2n8hm0");
        expect(build.nixStoreHash("/nix/store")).toBeUndefined();
        expect(build.nixStoreHash("/nix/storefront/0c6kzph7l0dcbvhv3fd3d0cfqh2n8hm0-img/x")).toBeUndefined();
        expect(build.nixStoreHash("/var/lib/images/nixos.vhd")).toBeUndefined();
    });
});
