/**
 * Turns a lab's image settings into the ImageArtifact a backend uploads, in one of two
 * ways:
 *
 * - `nixlab:lab.image.artifacts` has an entry for the arch (CI built it): use that file.
 *   Nothing runs.
 * - Otherwise, build with Nix: `nix build --json --no-link` of the stack's target in the
 *   images flake, then read `<store path>/nixlab-image.json`, which the flake writes
 *   from the image's own NixOS config (images/lib.nix).
 *
 * The artifact's hash is the store path's hash. It changes exactly when the NixOS
 * closure changes, and backends name uploads after it. The build is an invoke, so it
 * runs during `pulumi preview` as well. A preview therefore knows the store path and
 * shows an image replacement exactly when the closure changed, and an unchanged
 * config uploads nothing.
 */
import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { BackendKind } from "../components/backend";
import { ConfigError } from "../components/problems";
import { LAB_CONFIG_KEY, type Arch, type ImageArtifactSpec, type LabSpec } from "../components/spec";
import { IMAGE_TARGETS, NIX_SYSTEMS, type ImageArtifact } from "./artifact";
import { METADATA_FILE, parseImageMetadata, type ImageMetadata } from "./metadata";

export { METADATA_FILE, parseImageMetadata, type ImageMetadata } from "./metadata";

/** Set by `npm run plan` (offline plan): images that need a build are not built. */
export const OFFLINE_PLAN_ENV = "NIXLAB_OFFLINE_PLAN";

export interface LabImageArtifactArgs {
    /** Logical name of the image, for messages (e.g. `lab-image-x86_64`). */
    name: string;
    /** The Lab component; the build invoke runs with it as parent. */
    parent: pulumi.Resource;
    /** Picks the flake package (`IMAGE_TARGETS[backend].attr`) and its expected format. */
    backend: BackendKind;
    arch: Arch;
    /** The lab's image settings (flake, or prebuilt artifacts). */
    image: LabSpec["image"];
    /** Directory that relative artifact paths and a relative flake are resolved against. @default - process.cwd() */
    projectDir?: string;
}

/**
 * A failed image build step. It is a RunError so that the CLI prints the message alone,
 * without a JavaScript stack trace burying the command that failed.
 */
export class ImageBuildError extends pulumi.RunError {
    constructor(message: string) {
        super(message);
        this.name = "ImageBuildError";
        // The build fails inside an Output that several resources consume. The SDK prefixes
        // `error serializing property "<input>": ` onto the error's message for every input
        // that awaited it (runtime/rpc.js, serializeProperties), so under `pulumi preview` a
        // 2-node lab printed 'error serializing property "xml": error serializing property
        // "xml": nixlab: building ...' (test/pulumi-run.process.test.ts). The message already says
        // what failed and how to fix it: keep it as written.
        Object.defineProperty(this, "message", { get: () => message, set: () => undefined, enumerable: false, configurable: true });
    }
}

/**
 * The image for one arch of a lab on one backend.
 *
 * @throws ImageBuildError right away when an image must be built and `nix` is not on PATH.
 */
export function labImageArtifact(args: LabImageArtifactArgs): pulumi.Output<ImageArtifact> {
    const projectDir = args.projectDir ?? process.cwd();
    if (args.image.artifacts) {
        const index = args.image.artifacts.findIndex((a) => a.arch === args.arch);
        const spec = args.image.artifacts[index];
        if (!spec) {
            // parseLabConfig already refuses this; kept because a missing image would
            // otherwise surface as an obscure upload failure.
            throw new ConfigError([
                {
                    path: `${LAB_CONFIG_KEY}.image.artifacts`,
                    message: `has no ${args.arch} entry, but the lab has ${args.arch} nodes; add one, or remove artifacts to build images with Nix`,
                },
            ]);
        }
        return pulumi.output(prebuiltArtifact(spec, index, projectDir));
    }
    const build = nixBuildCommand({ flake: args.image.flake, backend: args.backend, arch: args.arch });
    if (process.env[OFFLINE_PLAN_ENV] === "1" && pulumi.runtime.isDryRun()) {
        // The offline plan runs where Nix may be missing or nixpkgs unreachable (a PR's
        // review job): the image is shown as not yet known, like any value computed at
        // deploy time, and everything named from its hash follows.
        return pulumi.output(pulumi.unknown) as unknown as pulumi.Output<ImageArtifact>;
    }
    requireNix(build, args);
    return pulumi.output(buildArtifact({ ...args, projectDir }));
}

/** The one command the build step runs: `nix build` of the stack's flake package. */
export function nixBuildCommand(args: { flake: string; backend: BackendKind; arch: Arch }): string {
    const installable = `${args.flake}#packages.${NIX_SYSTEMS[args.arch]}.${IMAGE_TARGETS[args.backend].attr}`;
    // The feature flags make it work on a stock Nix install, where flakes are still
    // experimental; on installs that enable them already they change nothing.
    // --no-link: no `result` symlink left in the project. --json, not --print-out-paths:
    // the latter only exists since Nix 2.9 (Debian 12 ships 2.8), while `--json` prints
    // `[{"drvPath":…,"outputs":{"out":"/nix/store/…"}}]` from Nix 2.4 to today.
    return `nix --extra-experimental-features 'nix-command flakes' build --no-link --json ${shellQuote(installable)}`;
}

/**
 * Runs the build (an invoke, so also during preview) and turns its output into the
 * artifact. Exported for tests: it rejects with ImageBuildError, where the Output from
 * labImageArtifact would leave a test waiting forever.
 */
export async function buildArtifact(args: LabImageArtifactArgs & { projectDir: string }): Promise<ImageArtifact> {
    const cmd = nixBuildCommand({ flake: args.image.flake, backend: args.backend, arch: args.arch });
    // command.local.run is the invoke that command.local.runOutput wraps
    // (runOutput = output(args).apply(run)); the Promise form is used so a failure can be
    // caught and reported with the command and its directory.
    let stdout: string;
    try {
        // Loaded only when an image is really built: stacks with prebuilt artifacts and the
        // offline plan never need the command SDK (issue 11).
        const { local } = require("@pulumi/command") as typeof command;
        const result = await local.run({ command: cmd, dir: args.projectDir }, { parent: args.parent });
        stdout = result.stdout ?? "";
    } catch (err) {
        throw new ImageBuildError(
            `nixlab: building the ${args.arch} image for the ${args.backend} backend (${args.name}) failed.\n` +
                `  command: ${cmd}\n` +
                `  in: ${args.projectDir}\n` +
                `  ${indent(errorText(err) || "(the command provider gave no error text)")}\n` +
                "  Run the command yourself to see the whole build log. To use an image built elsewhere, set " +
                `${LAB_CONFIG_KEY}.image.artifacts (images/README.md).`,
        );
    }
    const { storePath, hash } = parseBuildOutput(stdout, cmd);
    const metadata = await readMetadata(storePath, cmd);
    checkMetadata(metadata, { storePath, backend: args.backend, arch: args.arch, command: cmd });
    return {
        path: metadata.file,
        format: metadata.format,
        arch: metadata.arch,
        bootMode: metadata.bootMode,
        hash,
        ...(metadata.kernel !== undefined ? { kernel: metadata.kernel } : {}),
        ...(metadata.initrd !== undefined ? { initrd: metadata.initrd } : {}),
        ...(metadata.cmdline !== undefined ? { cmdline: metadata.cmdline } : {}),
    };
}

/**
 * A file given in config: the hash is its `sha256` if set, else the Nix store hash if
 * it lives in the store, else the sha256 of its bytes, read here (at deploy time).
 */
export async function prebuiltArtifact(spec: ImageArtifactSpec, index: number, projectDir: string): Promise<ImageArtifact> {
    const at = `${LAB_CONFIG_KEY}.image.artifacts[${index}]`;
    const file = path.resolve(projectDir, spec.path);
    await requireFile(file, `${at}.path`, spec.path);
    const kernel = spec.kernel === undefined ? undefined : path.resolve(projectDir, spec.kernel);
    const initrd = spec.initrd === undefined ? undefined : path.resolve(projectDir, spec.initrd);
    if (kernel) await requireFile(kernel, `${at}.kernel`, spec.kernel!);
    if (initrd) await requireFile(initrd, `${at}.initrd`, spec.initrd!);
    const hash = spec.sha256 ?? nixStoreHash(file) ?? nixStoreHash(await fs.promises.realpath(file)) ?? (await sha256File(file));
    return {
        path: file,
        format: spec.format,
        arch: spec.arch,
        bootMode: spec.bootMode,
        hash,
        ...(kernel ? { kernel } : {}),
        ...(initrd ? { initrd } : {}),
        ...(spec.cmdline !== undefined ? { cmdline: spec.cmdline } : {}),
    };
}

// Nix's base32 alphabet: 0-9 and a-z without e, o, t, u.
const STORE_NAME = /^([0-9a-df-np-sv-z]{32})-[^/]+$/;

/** The hash part of a store path (`/nix/store/<hash>-<name>`), or undefined if it is not one. */
export function storePathHash(storePath: string): string | undefined {
    return STORE_NAME.exec(path.basename(storePath))?.[1];
}

/**
 * The store hash of a file inside the Nix store (`/nix/store/<hash>-name/sub/file`), or
 * undefined outside it. NIX_STORE_DIR moves the store, as it does for Nix itself.
 */
export function nixStoreHash(file: string): string | undefined {
    const storeDir = path.resolve(process.env.NIX_STORE_DIR ?? "/nix/store");
    const rel = path.relative(storeDir, path.resolve(file));
    if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return undefined;
    const top = rel.split(path.sep)[0]!;
    return STORE_NAME.exec(top)?.[1];
}

/** sha256 of a file in hex, streamed: disk images are gigabytes. */
export function sha256File(file: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const hash = createHash("sha256");
        fs.createReadStream(file)
            .on("error", reject)
            .on("data", (chunk) => hash.update(chunk))
            .on("end", () => resolve(hash.digest("hex")));
    });
}

/** Checks that a built image is the one this stack asked for, and that its file is there. */
export function checkMetadata(
    metadata: ImageMetadata,
    want: { storePath: string; backend: BackendKind; arch: Arch; command: string },
): void {
    const source = path.join(want.storePath, METADATA_FILE);
    const target = IMAGE_TARGETS[want.backend];
    const system = NIX_SYSTEMS[want.arch];
    const problems: string[] = [];
    if (metadata.target !== target.attr) {
        problems.push(`it describes target "${metadata.target}", but the ${want.backend} backend builds packages.${system}.${target.attr}`);
    }
    if (metadata.format !== target.format) {
        problems.push(
            `its format is ${metadata.format}, but the ${want.backend} backend uploads ${target.format} images ` +
                "(IMAGE_TARGETS in images/artifact.ts); the flake and IMAGE_TARGETS disagree, and test/images.test.ts should say where",
        );
    }
    if (metadata.arch !== want.arch) {
        problems.push(`its arch is ${metadata.arch}, but ${system} images must be ${want.arch}`);
    }
    const files: [string, string | undefined][] = [
        ["file", metadata.file],
        ["kernel", metadata.kernel],
        ["initrd", metadata.initrd],
    ];
    for (const [what, file] of files) {
        if (file === undefined) continue;
        const inside = path.relative(want.storePath, file);
        if (inside === "" || inside.startsWith("..") || path.isAbsolute(inside)) {
            problems.push(`its ${what} ${file} is not inside ${want.storePath}`);
        } else if (!fs.existsSync(file)) {
            problems.push(`its ${what} ${file} does not exist`);
        }
    }
    if (problems.length > 0) {
        throw new ImageBuildError(
            `nixlab: the image built by\n  ${want.command}\nis not usable for this stack (${source}):\n` +
                problems.map((p) => `  - ${p}`).join("\n"),
        );
    }
}

/** The one store path in `nix build --json` output: `[{"drvPath": …, "outputs": {"out": "/nix/store/<hash>-<name>"}}]`. */
export function parseBuildOutput(stdout: string, cmd: string): { storePath: string; hash: string } {
    const fail = (why: string): never => {
        throw new ImageBuildError(
            `nixlab: expected the JSON of one built package with one output (/nix/store/<hash>-<name>) on the standard output of\n  ${cmd}\n` +
                `${why}; got: ${JSON.stringify(stdout.slice(0, 500))}`,
        );
    };
    let doc: unknown;
    try {
        doc = JSON.parse(stdout);
    } catch (err) {
        return fail(`it is not JSON (${errorText(err)})`);
    }
    if (!Array.isArray(doc) || doc.length !== 1) return fail(`it is not a list of exactly one build result`);
    const outputs = (doc[0] as { outputs?: unknown } | null)?.outputs;
    if (!outputs || typeof outputs !== "object") return fail(`the build result has no "outputs"`);
    const paths = Object.values(outputs as Record<string, unknown>);
    const only = paths[0];
    if (paths.length !== 1 || typeof only !== "string") return fail(`the package has ${paths.length} outputs, not one store path`);
    const hash = storePathHash(only);
    if (hash === undefined || !path.isAbsolute(only)) return fail(`${JSON.stringify(only)} is not a store path`);
    return { storePath: only, hash };
}

async function readMetadata(storePath: string, cmd: string): Promise<ImageMetadata> {
    const source = path.join(storePath, METADATA_FILE);
    let text: string;
    try {
        text = await fs.promises.readFile(source, "utf8");
    } catch (err) {
        throw new ImageBuildError(
            `nixlab: ${cmd}\nbuilt ${storePath}, which has no readable ${METADATA_FILE} (${errorText(err)}). ` +
                "Is the flake a nixlab images flake (images/flake.nix)?",
        );
    }
    try {
        return parseImageMetadata(text, source);
    } catch (err) {
        throw new ImageBuildError(errorText(err));
    }
}

function requireNix(build: string, args: LabImageArtifactArgs): void {
    if (onPath("nix")) return;
    throw new ImageBuildError(
        `nixlab: the ${args.arch} image for the ${args.backend} backend (${args.name}) has to be built, but \`nix\` is not on PATH.\n` +
            `  The build step would run: ${build}\n` +
            "  Install Nix (https://nixos.org/download) and run again, or build the image elsewhere (CI) and set " +
            `${LAB_CONFIG_KEY}.image.artifacts to the built file (images/README.md).`,
    );
}

/** True when an executable `name` is in one of PATH's directories. */
function onPath(name: string): boolean {
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        if (dir === "") continue;
        try {
            const file = path.join(dir, name);
            fs.accessSync(file, fs.constants.X_OK);
            if (fs.statSync(file).isFile()) return true;
        } catch {
            // not here; keep looking
        }
    }
    return false;
}

async function requireFile(file: string, configPath: string, given: string): Promise<void> {
    try {
        const st = await fs.promises.stat(file);
        if (st.isFile()) return;
    } catch {
        // reported below
    }
    throw new ConfigError([
        {
            path: configPath,
            message: `${JSON.stringify(given)} is not a file (looked for ${file}); relative paths are resolved against the project directory`,
        },
    ]);
}

/** POSIX shell single-quoting: the flake reference comes from stack config. */
function shellQuote(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

function errorText(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
}

function indent(s: string): string {
    return s.trim().split("\n").join("\n  ");
}
