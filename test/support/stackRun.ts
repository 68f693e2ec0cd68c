/**
 * Test equipment: runs a stack file's own config once under mocks (scripts/offline.ts),
 * made offline and deterministic the same way for every cloud: the image is a prebuilt
 * artifact written to a fresh fixture directory (no `nix build`), and expiresAt is fixed
 * so tags are known at preview time. Also the lookups, the provider recorder and the
 * plan-snapshot text the per-stack tests share. Pulumi's runtime is global: one run per
 * test file.
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, vi } from "vitest";
import { parse, stringify } from "yaml";
import type { BackendFactory } from "../../components/backend";
import { Lab } from "../../components/lab";
import { parseLabConfig, type ImageArtifactSpec } from "../../components/spec";
import { describeValue, programOutputs, runOffline, type CallHandler, type OfflineResult, type ResourceHandler } from "../../scripts/offline";
import { nodesOf, planNodes, planResource, PROJECT_DIR, readStackConfig, stackFile, type PlanJson, type PlanNode } from "../../scripts/plan";

// Parsed stack YAML and mock inputs, which tests read and edit freely.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = any;

/** The prebuilt image a run uses instead of a Nix build. */
export interface ArtifactFixture extends Omit<ImageArtifactSpec, "path"> {
    /** File name inside the run's fixture directory. */
    file: string;
    /**
     * The file's bytes. Offline only the path matters, unless the backend reads the file
     * (Azure checks the VHD footer: see `fixedVhd`). @default "not really a disk image"
     */
    content?: string | Buffer;
}

export interface StackRunOptions {
    /** stacks/Pulumi.<stack>.yaml, also the stack name the program sees unless `stackName` says otherwise. */
    stack: string;
    /** The stack name the program runs as (two stacks from one file). @default stack */
    stackName?: string;
    artifact: ArtifactFixture;
    /** nixlab:lab.expiresAt, so expiry tags are known in the plan. */
    expiresAt: string;
    /** "preview": computed outputs unknown; "up": resource handlers answer like the cloud. */
    mode: "preview" | "up";
    /**
     * What runs. "index": index.ts on the stack file rewritten with the artifact and expiry,
     * config passed as the CLI passes it (what `npm run plan` does). A backend factory: a
     * Lab built directly from the stack's nixlab:lab and the factory's own config block.
     */
    program: "index" | BackendFactory;
    /** Further changes to the stack's `config:` (after the artifact and expiry are set). */
    edit?: (config: Record<string, Any>) => void;
    resources?: ResourceHandler[];
    calls?: Record<string, CallHandler>;
}

export interface StackRun extends OfflineResult {
    stack: string;
    /** The fixture directory: holds the artifact (and the rewritten stack file). */
    dir: string;
    /** Absolute path of the artifact file. */
    artifactPath: string;
    /** The run as `npm run plan -- --json` shows it: inputs with secrets and unknowns marked. */
    plan: PlanJson;
}

/** Runs the stack once under mocks; the caller removes `dir` when done (see `useStackRun`). */
export async function runStackWithArtifact(opts: StackRunOptions): Promise<StackRun> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nixlab-${opts.stack}-${opts.mode}-`));
    const { file, content, ...artifact } = opts.artifact;
    const artifactPath = path.join(dir, file);
    fs.writeFileSync(artifactPath, content ?? "not really a disk image");

    const config = (parse(fs.readFileSync(stackFile(opts.stack), "utf8")) as { config: Record<string, Any> }).config;
    config["nixlab:lab"].image = { artifacts: [{ path: artifactPath, ...artifact }] };
    config["nixlab:lab"].expiresAt = opts.expiresAt;
    opts.edit?.(config);

    const common = { stack: opts.stackName ?? opts.stack, preview: opts.mode === "preview", resources: opts.resources, calls: opts.calls };
    // The program refuses an expiresAt that has passed; run it at a fixed time one hour
    // before the fixed expiry so the run means the same whenever the suite runs.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.parse(opts.expiresAt) - 3_600_000 });
    try {
        return await runProgram(opts, config, common, dir, artifactPath);
    } finally {
        vi.useRealTimers();
    }
}

async function runProgram(
    opts: StackRunOptions,
    config: Record<string, Any>,
    common: { stack: string; preview: boolean; resources?: ResourceHandler[]; calls?: Record<string, CallHandler> },
    dir: string,
    artifactPath: string,
): Promise<StackRun> {
    const stackName = opts.stackName ?? opts.stack;
    let result: OfflineResult;
    let nodes: PlanNode[];
    if (opts.program === "index") {
        const rewritten = path.join(dir, `Pulumi.${opts.stack}.yaml`);
        fs.writeFileSync(rewritten, stringify({ config }));
        const cliConfig = readStackConfig(rewritten);
        result = await runOffline({
            ...common,
            config: cliConfig,
            // What scripts/plan.ts planStack() runs, but with this run's mode, handlers and
            // invokes, and the raw inputs kept (planStack returns the described plan only).
            program: async () => programOutputs(await import("../../index")),
        });
        nodes = await planNodes(cliConfig, stackName);
    } else {
        const factory = opts.program;
        nodes = nodesOf(parseLabConfig(config["nixlab:lab"], stackName), factory.fromConfig(config[factory.configKey]));
        result = await runOffline({
            ...common,
            config: {},
            program: async () => {
                const spec = parseLabConfig(config["nixlab:lab"], stackName);
                const lab = new Lab(spec.name, { spec, backend: factory.fromConfig(config[factory.configKey]), stack: stackName, projectDir: PROJECT_DIR });
                return { nodes: lab.nodes };
            },
        });
    }
    const plan: PlanJson = { stack: stackName, nodes, resources: result.resources.map(planResource), outputs: result.outputs };
    return { ...result, stack: stackName, dir, artifactPath, plan };
}

/**
 * The test file's one run: registers it in beforeAll and the removal of its fixtures in
 * afterAll. The object returned is filled in once the run is done, so read it in tests
 * and later hooks only.
 */
export function useStackRun(opts: StackRunOptions): StackRun {
    const run = {} as StackRun;
    beforeAll(async () => {
        Object.assign(run, await runStackWithArtifact(opts));
    });
    afterAll(() => {
        if (run.dir) fs.rmSync(run.dir, { recursive: true, force: true });
    });
    return run;
}

/** A fixed VHD (footer type 2) of `bytes` (a whole number of MiB, as Azure requires). */
export function fixedVhd(bytes = 1024 * 1024): Buffer {
    const footer = Buffer.alloc(512);
    footer.write("conectix", 0, "latin1");
    footer.writeBigUInt64BE(BigInt(bytes), 48);
    footer.writeUInt32BE(2, 60);
    return Buffer.concat([Buffer.alloc(bytes), footer]);
}

/** A qcow2 file's magic: enough for the backends, which only pass the path on offline. */
export const QCOW2_MAGIC = Buffer.from("QFI\xfb", "latin1");

type Named = { type: string; name: string };

/** The one resource of `type` named `name`; fails unless there is exactly one. */
export function oneOf<R extends Named>(resources: readonly R[], type: string, name: string): R {
    const found = resources.filter((r) => r.type === type && r.name === name);
    expect(found, `${type} ${name}`).toHaveLength(1);
    return found[0]!;
}

export function ofType<R extends Named>(resources: readonly R[], type: string): R[] {
    return resources.filter((r) => r.type === type);
}

/** Notes the provider reference each registration carries (the mock API passes it along). */
export function providerRecorder(): { handler: ResourceHandler; of(r: Named): string | undefined } {
    const seen = new Map<string, string | undefined>();
    return {
        handler: (args) => {
            seen.set(`${args.type}::${args.name}`, args.provider);
            return undefined;
        },
        of: (r) => seen.get(`${r.type}::${r.name}`),
    };
}

export type PlanResource = PlanJson["resources"][number];

/** A plan resource's inputs, for property access in assertions. */
export const planInputs = (r: PlanResource): Any => r.inputs;

/** File assets arrive with their path as a Promise; the snapshot shows the path itself. */
async function withAssetPaths(v: unknown): Promise<unknown> {
    if (v instanceof pulumi.asset.FileAsset) return { fileAsset: await v.path };
    if (Array.isArray(v)) return Promise.all(v.map(withAssetPaths));
    if (v && typeof v === "object") {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) out[k] = await withAssetPaths(x);
        return out;
    }
    return v;
}

/**
 * The text of a reviewed plan snapshot: every registration sorted by type, then name, its
 * inputs as the plan shows them, and the fixture directory (a fresh temporary directory
 * per run) written as `fixturesAs`, the placeholder that stack's snapshot file uses.
 */
export async function planSnapshot(run: StackRun, fixturesAs: string): Promise<string> {
    const sorted = [...run.resources].sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
    const plan = {
        stack: run.stack,
        nodes: run.plan.nodes,
        resources: await Promise.all(
            sorted.map(async (r) => ({
                type: r.type,
                name: r.name,
                parent: r.parent ?? null,
                inputs: describeValue(await withAssetPaths(r.inputs)),
                options: r.options,
            })),
        ),
    };
    return JSON.stringify(plan, null, 2).replaceAll(run.dir, fixturesAs) + "\n";
}
