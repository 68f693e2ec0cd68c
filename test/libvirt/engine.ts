/**
 * Test equipment, not a second engine: runs the nixlab program under the SDK's mock
 * monitor (scripts/offline.ts) with a `newResource` that really executes each resource's
 * provider — every dynamic provider (libvirt, the Clock) — the way the Pulumi engine
 * would: check, diff against the state of the last run, then create, update, replace
 * (delete, then create: every libvirt resource asks for deleteBeforeReplace) or nothing.
 * Dynamic providers run only inside Pulumi's own dynamic-provider host, in its own Node
 * process, from the serialized `__provider` text in the inputs/state (providerHost.ts),
 * never from the objects this process imported; state keeps that text like Pulumi's does,
 * and destroy deletes with the code that created each resource.
 * Two resources with one URN fail the run with the engine's own message (offline.ts).
 * The `command:local:run` invoke (the image build) runs the command for real, as the
 * command provider does (test/support/localCommand.ts), with this process's environment.
 * State is a JSON file between runs; `destroy` deletes each resource after its dependents,
 * independent ones at once (as `pulumi destroy` does).
 * `tls:index/privateKey:PrivateKey` gets real ed25519 keys from ssh-keygen.
 *
 * Pulumi's runtime is global to a process, so each run is its own process (tsx works too):
 *   node --require ./scripts/ts-hook.cjs test/libvirt/engine.ts up <workdir>   # reads <workdir>/program.json
 *   node --require ./scripts/ts-hook.cjs test/libvirt/engine.ts destroy <workdir>
 * Both write <workdir>/state.json as they go and <workdir>/last-run.json at the end.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runtime } from "@pulumi/pulumi";
import { duplicateUrnMessage, programOutputs, revealValue, runOffline, type ResourceHandlerArgs } from "../../scripts/offline";
import { runLocalCommand, type LocalRunInputs } from "../support/localCommand";
import { DynamicProviderHost, type ResourceRef } from "./providerHost";

export type Op = "create" | "update" | "replace" | "same" | "delete";

export interface OpRecord {
    type: string;
    name: string;
    op: Op;
    /** Why a replace happened (the diff's `replaces`). */
    replaces?: string[];
    ms: number;
}

export interface StateEntry {
    type: string;
    name: string;
    id: string;
    inputs: Record<string, unknown>;
    outs: Record<string, unknown>;
    /** Creation order: breaks ties when deleting. */
    seq: number;
    /** Keys of the resources this one depends on; destroy deletes dependents first. */
    deps: string[];
    /** The resource's URN, as the engine would name it. */
    urn?: string;
}

export interface EngineState {
    seq: number;
    resources: Record<string, StateEntry>;
}

export interface ProgramSpec {
    stack: string;
    /** Full config keys → values as the CLI passes them (JSON text for objects). */
    config: Record<string, string>;
    /** Program module, relative to the repository root. @default "index.ts" */
    program?: string;
    /**
     * Resource types whose operations run one at a time, like `pulumi up --parallel 1`
     * would run them. @default [] (everything concurrent, as the engine does)
     */
    serialTypes?: string[];
}

export interface RunReport {
    action: "up" | "destroy";
    ok: boolean;
    error?: string;
    ops: OpRecord[];
    outputs: Record<string, unknown>;
    seconds: number;
}

interface MonitorLike {
    registerResource(req: { getType(): string; getName(): string; getDependenciesList(): string[] }, cb: unknown): unknown;
}

/** `urn:pulumi:<stack>::<project>::<parent$type>::<name>` → our state key. */
function urnKey(urn: string): string {
    const parts = urn.split("::");
    const name = parts.slice(3).join("::");
    return keyOf(parts[2]!.split("$").pop()!, name);
}

const TLS_KEY = "tls:index/privateKey:PrivateKey";
/** Every `pulumi.dynamic.Resource` type starts with this (pulumi-nodejs is the dynamic provider's package). */
const DYNAMIC_PREFIX = "pulumi-nodejs:dynamic";
const REPO = path.resolve(__dirname, "..", "..");

export function readState(file: string): EngineState {
    if (!fs.existsSync(file)) return { seq: 0, resources: {} };
    return JSON.parse(fs.readFileSync(file, "utf8")) as EngineState;
}

function writeState(file: string, state: EngineState): void {
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
    fs.renameSync(`${file}.tmp`, file);
}

function keyOf(type: string, name: string): string {
    return `${type}::${name}`;
}

/**
 * Inputs as the engine hands them to the dynamic-provider host: secrets unwrapped (the
 * host does not accept secrets), the serialized provider (`__provider`) kept.
 */
function providerInputs(inputs: Record<string, unknown>): Record<string, unknown> {
    return revealValue(inputs) as Record<string, unknown>;
}

function isDynamic(type: string): boolean {
    return type === DYNAMIC_PREFIX || type.startsWith(`${DYNAMIC_PREFIX}/`) || type.startsWith(`${DYNAMIC_PREFIX}:`);
}

/** What a host call names the resource by; state from before URNs were kept gets the stack-level form. */
function refOf(e: { type: string; name: string; urn?: string }, stack: string): ResourceRef {
    return { urn: e.urn ?? `urn:pulumi:${stack}::nixlab::${e.type}::${e.name}`, type: e.type, name: e.name };
}

/** Starts Pulumi's dynamic-provider host the way the CLI does: project directory, the CLI's environment. */
function startHost(): Promise<DynamicProviderHost> {
    return DynamicProviderHost.start({ projectDir: REPO, env: process.env, log });
}

function log(line: string): void {
    process.stdout.write(`[engine ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** A real ed25519 key, in the formats @pulumi/tls returns for PrivateKey. */
function sshKeygen(): Record<string, unknown> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-engine-key-"));
    try {
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", `${dir}/key`]);
        const [type, b64] = fs.readFileSync(`${dir}/key.pub`, "utf8").trim().split(/\s+/);
        const fp = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${dir}/key.pub`], { encoding: "utf8" }).split(/\s+/)[1];
        return {
            algorithm: "ED25519",
            privateKeyOpenssh: fs.readFileSync(`${dir}/key`, "utf8"),
            publicKeyOpenssh: `${type} ${b64}\n`,
            publicKeyFingerprintSha256: fp,
        };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

class Engine {
    readonly ops: OpRecord[] = [];
    readonly seen = new Set<string>();
    /** Dependencies per resource key, as the SDK sent them to the monitor. */
    readonly deps = new Map<string, string[]>();
    errors: string[] = [];
    /** Operations started and not yet finished: a failed run waits for them, as the engine does. */
    readonly inflight = new Set<Promise<unknown>>();

    /** Tail of the queue of serialized operations. */
    private queue: Promise<unknown> = Promise.resolve();

    constructor(
        readonly stateFile: string,
        readonly state: EngineState,
        /** Started on first use, as the CLI starts a provider plugin when a resource first needs it. */
        private readonly startHost: () => Promise<DynamicProviderHost>,
        readonly stack: string,
        readonly serialTypes: string[] = [],
    ) {}

    private hostStarted: Promise<DynamicProviderHost> | undefined;

    /**
     * The dynamic-provider host, started when the first dynamic resource needs it: the
     * Pulumi engine loads a provider plugin on the first registration that uses it, while
     * the program goes on loading and registering (not before the program runs).
     */
    private host(): Promise<DynamicProviderHost> {
        this.hostStarted ??= this.startHost();
        return this.hostStarted;
    }

    /** Stops the host if it was started (it may have failed to start; that is reported where it was needed). */
    async stopHost(): Promise<void> {
        const host = await this.hostStarted?.catch(() => undefined);
        await host?.stop();
    }

    private serialized<T>(type: string, fn: () => Promise<T>): Promise<T> {
        if (!this.serialTypes.includes(type)) return fn();
        const run = this.queue.then(fn, fn);
        this.queue = run.catch(() => undefined);
        return run;
    }

    private save(): void {
        writeState(this.stateFile, this.state);
    }

    private record(type: string, name: string, op: Op, started: number, replaces?: string[]): void {
        const rec: OpRecord = { type, name, op, ms: Date.now() - started, ...(replaces ? { replaces } : {}) };
        this.ops.push(rec);
        log(`${op.padEnd(7)} ${type} ${name}${replaces ? ` (replaces: ${replaces.join(", ")})` : ""} ${rec.ms}ms`);
    }

    private put(args: { type: string; name: string; urn?: string }, id: string, inputs: Record<string, unknown>, outs: Record<string, unknown>, seq?: number): void {
        const { type, name } = args;
        const key = keyOf(type, name);
        const urn = args.urn ?? this.state.resources[key]?.urn;
        this.state.resources[key] = { type, name, id, inputs, outs, seq: seq ?? ++this.state.seq, deps: this.deps.get(key) ?? [], ...(urn ? { urn } : {}) };
        this.save();
    }

    async step(args: ResourceHandlerArgs): Promise<{ id: string; state: Record<string, unknown> } | undefined> {
        if (args.custom === false) return undefined; // components: nothing to execute
        const key = keyOf(args.type, args.name);
        // offline.ts refuses a second registration of one URN before it gets here; one state
        // entry per type and name is this harness's own rule on top (its state is keyed so).
        if (this.seen.has(key)) {
            const msg = duplicateUrnMessage(args.urn);
            this.errors.push(msg);
            throw new Error(msg);
        }
        this.seen.add(key);
        const op =
            args.type === TLS_KEY
                ? Promise.resolve().then(() => this.tls(args))
                : isDynamic(args.type)
                  ? this.serialized(args.type, () => this.dynamic(args))
                  : Promise.reject(new Error(`engine harness: no real implementation for ${args.type}; only dynamic providers and tls keys run here`));
        this.inflight.add(op);
        try {
            return await op;
        } catch (e) {
            const msg = `${args.type} ${args.name}: ${e instanceof Error ? e.message : String(e)}`;
            this.errors.push(msg);
            log(`FAILED  ${msg}`);
            throw e;
        }
    }

    private tls(args: ResourceHandlerArgs): { id: string; state: Record<string, unknown> } {
        const started = Date.now();
        const inputs = providerInputs(args.inputs);
        const prev = this.state.resources[keyOf(args.type, args.name)];
        if (prev && JSON.stringify(prev.inputs) === JSON.stringify(inputs)) {
            this.record(args.type, args.name, "same", started);
            return { id: prev.id, state: prev.outs };
        }
        const outs = sshKeygen();
        const id = String(outs.publicKeyFingerprintSha256);
        this.put(args, id, inputs, outs);
        this.record(args.type, args.name, prev ? "replace" : "create", started);
        return { id, state: outs };
    }

    private async dynamic(args: ResourceHandlerArgs): Promise<{ id: string; state: Record<string, unknown> }> {
        const started = Date.now();
        const key = keyOf(args.type, args.name);
        const ref: ResourceRef = { urn: args.urn, type: args.type, name: args.name };
        const prev = this.state.resources[key];
        // The engine's order of calls on the provider: Check(old inputs, new inputs), then
        // Create, or Diff(old outputs, checked inputs) and Update / Delete+Create.
        const host = await this.host();
        const checked = await host.check(ref, prev?.inputs ?? {}, providerInputs(args.inputs));
        if (checked.failures.length > 0) {
            throw new Error(`check failed: ${checked.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
        }
        const inputs = checked.inputs;
        const create = async (op: Op, replaces?: string[]) => {
            const r = await host.create(ref, inputs);
            this.put(args, r.id, inputs, r.outs);
            this.record(args.type, args.name, op, started, replaces);
            return { id: r.id, state: r.outs };
        };
        if (!prev) return create("create");
        const diff = await host.diff(ref, prev.id, prev.outs, inputs, prev.inputs);
        // DIFF_UNKNOWN (no diff method): the engine compares inputs itself.
        const changes = diff.changes ?? JSON.stringify(prev.inputs) !== JSON.stringify(inputs);
        if (diff.replaces.length > 0) {
            await host.delete(refOf(prev, this.stack), prev.id, prev.outs, prev.inputs);
            delete this.state.resources[key];
            this.save();
            return create("replace", diff.replaces);
        }
        if (changes) {
            const outs = await host.update(ref, prev.id, prev.outs, inputs, prev.inputs);
            this.put(args, prev.id, inputs, outs, prev.seq);
            this.record(args.type, args.name, "update", started);
            return { id: prev.id, state: outs };
        }
        // Same: the new inputs and dependencies are recorded, the outputs kept.
        this.put(args, prev.id, inputs, prev.outs, prev.seq);
        this.record(args.type, args.name, "same", started);
        return { id: prev.id, state: prev.outs };
    }

    /**
     * Deletes the given entries, each after everything that depends on it. Entries nothing
     * left depends on are deleted together, as `pulumi destroy` runs independent deletes in
     * parallel (an 8-node lab's domains at once, then their disks, then pool and network).
     * A failure ends the run once the deletes already running have finished; what is left
     * stays in state.
     */
    async deleteAll(entries: StateEntry[]): Promise<void> {
        const left = new Map(entries.map((e) => [keyOf(e.type, e.name), e]));
        while (left.size > 0) {
            const needed = new Set([...left.values()].flatMap((e) => e.deps ?? []));
            let free = [...left.entries()].filter(([k]) => !needed.has(k));
            // A cycle cannot come from a Pulumi program; fall back to creation order anyway.
            if (free.length === 0) free = [[...left.entries()].sort((a, b) => b[1].seq - a[1].seq)[0]!];
            for (const [k] of free) left.delete(k);
            const results = await Promise.allSettled(free.map(([, e]) => this.deleteOne(e)));
            const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
            if (failed) throw failed.reason;
        }
    }

    private async deleteOne(e: StateEntry): Promise<void> {
        const started = Date.now();
        // With the code in state, as the engine does: the program may have changed since.
        if (isDynamic(e.type)) await (await this.host()).delete(refOf(e, this.stack), e.id, e.outs, e.inputs);
        delete this.state.resources[keyOf(e.type, e.name)];
        this.save();
        this.record(e.type, e.name, "delete", started);
    }
}

export async function up(workdir: string): Promise<RunReport> {
    const started = Date.now();
    const spec = JSON.parse(fs.readFileSync(path.join(workdir, "program.json"), "utf8")) as ProgramSpec;
    const stateFile = path.join(workdir, "state.json");
    const engine = new Engine(stateFile, readState(stateFile), startHost, spec.stack, spec.serialTypes);
    const programPath = path.join(REPO, spec.program ?? "index.ts");
    // Runs inside runOffline, after it installed the mock monitor: note each resource's
    // dependencies on the way to the monitor, as the engine's state would hold them.
    const program = async () => {
        const monitor = (runtime as unknown as { getMonitor(): MonitorLike }).getMonitor();
        const register = monitor.registerResource.bind(monitor);
        monitor.registerResource = (req, cb) => {
            engine.deps.set(keyOf(req.getType(), req.getName()), req.getDependenciesList().map(urnKey));
            return register(req, cb);
        };
        // As Pulumi's runner takes it: index.ts exports a function, called here (programOutputs).
        return programOutputs(require(programPath));
    };
    let outputs: Record<string, unknown> = {};
    let error: string | undefined;
    try {
        const result = await runOffline({
            stack: spec.stack,
            config: spec.config,
            preview: false,
            program,
            resources: [(a) => engine.step(a)],
            // The image build (images/build.ts) runs for real, as the command provider runs it.
            calls: { "command:local:run": (a) => runLocalCommand(a.inputs as LocalRunInputs) },
        });
        outputs = result.outputs;
        // Resources the program no longer declares: gone from config, so delete them.
        const stale = Object.entries(engine.state.resources)
            .filter(([k]) => !engine.seen.has(k))
            .map(([, e]) => e);
        if (engine.errors.length === 0) await engine.deleteAll(stale);
    } catch (e) {
        error = e instanceof Error ? e.message : String(e);
    }
    // One failure ends the program, not the operations already running (a create half
    // done would otherwise be cut off and left unrecorded): let them finish and record.
    await Promise.allSettled([...engine.inflight]);
    await engine.stopHost();
    if (engine.errors.length > 0) error = engine.errors.join("\n");
    return { action: "up", ok: error === undefined, error, ops: engine.ops, outputs, seconds: (Date.now() - started) / 1000 };
}

export async function destroy(workdir: string): Promise<RunReport> {
    const started = Date.now();
    const stateFile = path.join(workdir, "state.json");
    const specFile = path.join(workdir, "program.json");
    const stack = fs.existsSync(specFile) ? (JSON.parse(fs.readFileSync(specFile, "utf8")) as ProgramSpec).stack : "unknown";
    const engine = new Engine(stateFile, readState(stateFile), startHost, stack);
    let error: string | undefined;
    try {
        await engine.deleteAll(Object.values(engine.state.resources));
    } catch (e) {
        error = e instanceof Error ? e.message : String(e);
    } finally {
        await engine.stopHost();
    }
    return { action: "destroy", ok: error === undefined, error, ops: engine.ops, outputs: {}, seconds: (Date.now() - started) / 1000 };
}

async function main(): Promise<void> {
    // A resource that fails to register rejects promises nobody awaits (its outputs, its
    // dependents' inputs). The engine reports the failure and lets the run finish, as
    // `pulumi up` does; Node would otherwise end the process before the report is written.
    process.on("unhandledRejection", (e) => log(`(failure already reported) ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`));
    const [action, workdir] = process.argv.slice(2);
    if ((action !== "up" && action !== "destroy") || !workdir) {
        process.stderr.write("usage: tsx test/libvirt/engine.ts up|destroy <workdir>\n");
        process.exit(2);
    }
    const report = action === "up" ? await up(workdir) : await destroy(workdir);
    fs.writeFileSync(path.join(workdir, "last-run.json"), JSON.stringify(report, null, 2));
    log(`${action} ${report.ok ? "ok" : `FAILED: ${report.error}`} in ${report.seconds.toFixed(1)}s`);
    // Pulumi's runtime may keep handles open after the program: exit explicitly.
    process.exit(report.ok ? 0 : 1);
}

if (require.main === module) {
    void main();
}
