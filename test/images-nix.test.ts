/**
 * The image build step with the real Nix (Debian's nix-bin 2.8 here): images/build.ts's
 * own command, run as the command provider runs it, builds test/fixtures/nix-image (a
 * nixpkgs-free flake wrapping a tiny fixture) and the artifact comes from what Nix
 * printed and the nixlab-image.json it built. Test-only Nix settings travel in NIX_CONFIG
 * (test/support/nixTest.ts); the command is the one users get. With
 * `--print-out-paths` (before this test existed) Nix 2.8 stopped with
 * "unrecognised flag '--print-out-paths'".
 */
import * as pulumi from "@pulumi/pulumi";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type * as Build from "../images/build";
import { runLocalCommand, type LocalRunInputs } from "./support/localCommand";
import { prepareNixImageFlake } from "./support/nixTest";

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-images-nix-"));
const FIXTURE = path.join(WORK, "fixture");
const commands: LocalRunInputs[] = [];
let build: typeof Build;
let parent: pulumi.ComponentResource;
let flakeDir: string;
const savedNixConfig = process.env.NIX_CONFIG;

beforeAll(async () => {
    fs.mkdirSync(FIXTURE);
    // A new fixture every run, so the builder really runs (an unchanged one is a cache hit).
    const nonce = randomUUID();
    fs.writeFileSync(path.join(FIXTURE, "disk.qcow2"), `disk ${nonce}`);
    fs.writeFileSync(path.join(FIXTURE, "vmlinuz"), "kernel");
    fs.writeFileSync(path.join(FIXTURE, "initrd.img"), "initrd");
    fs.writeFileSync(
        path.join(FIXTURE, "image.json"),
        JSON.stringify({ format: "qcow2", arch: "x86_64", bootMode: "bios", disk: "disk.qcow2", kernel: "vmlinuz", initrd: "initrd.img", cmdline: "root=/dev/vda console=ttyS0", nonce }),
    );
    const prepared = prepareNixImageFlake(WORK, FIXTURE);
    flakeDir = prepared.flakeDir;
    // The command provider runs commands with the CLI's environment.
    process.env.NIX_CONFIG = prepared.nixConfig;
    pulumi.runtime.setMocks(
        {
            newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
            call: (args) => {
                if (args.token !== "command:local:run") throw new Error(`Mock not implemented: ${args.token}`);
                commands.push(args.inputs as LocalRunInputs);
                return runLocalCommand(args.inputs as LocalRunInputs);
            },
        },
        "nixlab",
        "nix",
        false,
    );
    build = await import("../images/build");
    parent = new pulumi.ComponentResource("nixlab:test:Parent", "lab");
}, 600_000);

afterAll(() => {
    if (savedNixConfig === undefined) delete process.env.NIX_CONFIG;
    else process.env.NIX_CONFIG = savedNixConfig;
    fs.rmSync(WORK, { recursive: true, force: true });
});

it("builds the flake with the command users get and turns Nix's output into the artifact", async () => {
    const artifact = await build.buildArtifact({
        name: "lab-image-x86_64",
        parent,
        backend: "libvirt",
        arch: "x86_64",
        image: { flake: flakeDir },
        projectDir: WORK,
    });
    expect(commands).toEqual([
        {
            command: `nix --extra-experimental-features 'nix-command flakes' build --no-link --json '${flakeDir}#packages.x86_64-linux.libvirt'`,
            dir: WORK,
        },
    ]);
    const storeDir = path.resolve(process.env.NIX_STORE_DIR ?? "/nix/store");
    const storePath = path.dirname(artifact.path);
    expect(path.dirname(storePath)).toBe(storeDir);
    expect(path.basename(storePath)).toBe(`${artifact.hash}-nixlab-image-libvirt-x86_64-linux`);
    expect(artifact).toEqual({
        path: `${storePath}/disk.qcow2`,
        format: "qcow2",
        arch: "x86_64",
        bootMode: "bios",
        hash: artifact.hash,
        kernel: `${storePath}/vmlinuz`,
        initrd: `${storePath}/initrd.img`,
        cmdline: "root=/dev/vda console=ttyS0",
    });
    expect(artifact.hash).toMatch(/^[0-9a-df-np-sv-z]{32}$/);
    // The files are the fixture's, through the store.
    expect(fs.readFileSync(artifact.path, "utf8")).toBe(fs.readFileSync(path.join(FIXTURE, "disk.qcow2"), "utf8"));
    expect(fs.readFileSync(artifact.kernel!, "utf8")).toBe("kernel");
    // Nix locked the fixture input in the copy's lock file, never in the repository.
    expect(Object.keys((JSON.parse(fs.readFileSync(path.join(flakeDir, "flake.lock"), "utf8")) as { nodes: object }).nodes).sort()).toEqual(["fixture", "root"]);
}, 600_000);
