/**
 * An in-memory LabWorkspace for tests: stacks in a "backend", stack files beside them,
 * engine events it replays, and a log of every call. It keeps the real CLI's rules that
 * the commands depend on: a stack must exist before config/outputs/operations, and
 * `stack rm` refuses a stack that still has resources.
 */
import * as fs from "node:fs";
import type { EngineEvent, OpMap } from "@pulumi/pulumi/automation";
import type { ConfigMap, LabWorkspace, OutputMap, PreviewOutcome, RunHooks, StackInfo, UpOutcome } from "../../cli/workspace";

export type FakeMethod = "listStacks" | "ensureStack" | "getAllConfig" | "setConfig" | "removeConfig" | "outputs" | "createdAt" | "stateResources" | "preview" | "up" | "destroy" | "removeStack";

export interface FakeStack {
    /** Deployed resources; 0 = empty stack. */
    resourceCount: number;
    updateInProgress?: boolean;
    lastUpdate?: string;
    outputs: Record<string, unknown>;
    /** Output names the backend holds as secrets. */
    secretOutputs?: string[];
    createdAt?: string;
    /** What `pulumi stack export` would list: type token and outputs. */
    resources?: { type: string; outputs: Record<string, unknown> }[];
}

export interface FakeScript {
    /** Events replayed to onEvent, per operation. */
    events?: Partial<Record<"preview" | "up" | "destroy", EngineEvent[]>>;
    changeSummary?: OpMap;
    /** What a successful `up` leaves as outputs and resource count. */
    upResult?: { outputs: Record<string, unknown>; resourceCount: number };
    /** Method → error thrown when it is called for this stack. */
    fail?: Partial<Record<FakeMethod, Error>>;
}

export interface FakeCall {
    method: FakeMethod;
    stack?: string;
    args?: unknown[];
}

/** An error shaped like the Automation API's: named class, CLI stderr in the message. */
export function commandError(name: "CommandError" | "ConcurrentUpdateError" | "StackNotFoundError" | "StackAlreadyExistsError", stderr: string): Error {
    const e = new Error(`code: 255\n stdout: \n stderr: ${stderr}\n err?: Error: Command failed with exit code 255`);
    e.name = name;
    return e;
}

export class FakeWorkspace implements LabWorkspace {
    readonly calls: FakeCall[] = [];
    /** The backend's stacks. */
    readonly stacks = new Map<string, FakeStack>();
    /** stacks/Pulumi.<stack>.yaml: full key → value (structured values as JSON text). */
    readonly files = new Map<string, Record<string, string>>();
    readonly scripts = new Map<string, FakeScript>();
    /**
     * The policy pack config files' contents as preview/up saw them (parsed; undefined for a
     * path that does not exist), one entry per call: generated files are gone afterwards.
     */
    readonly policyConfigsSeen: unknown[][] = [];
    /** A failure for every call of a method, whatever the stack (e.g. no CLI). */
    failAll?: Partial<Record<FakeMethod, Error>>;
    /**
     * Called as each call starts, before it fails or answers: lets a test change the backend
     * between two reads, as another person or process would (an `up --ttl`, an update).
     */
    onCall?: (call: FakeCall, nth: number) => void;

    /** The harness sets it to the URL the command resolved, as the real workspace would be opened with. */
    constructor(public backendUrl = "file:///fake/.pulumi-state") {}

    addStack(name: string, stack: Partial<FakeStack> = {}, file?: Record<string, string>, script?: FakeScript): this {
        this.stacks.set(name, { resourceCount: 0, outputs: {}, ...stack });
        if (file) this.files.set(name, file);
        if (script) this.scripts.set(name, script);
        return this;
    }

    /** The calls made, as `method stack` strings, for exact-order assertions. */
    log(filter?: (c: FakeCall) => boolean): string[] {
        return this.calls.filter(filter ?? (() => true)).map((c) => (c.stack ? `${c.method} ${c.stack}` : c.method));
    }

    private enter(method: FakeMethod, stack?: string, ...args: unknown[]): void {
        const call = { method, stack, args };
        this.calls.push(call);
        this.onCall?.(call, this.calls.filter((c) => c.method === method && c.stack === stack).length);
        const err = this.failAll?.[method] ?? (stack ? this.scripts.get(stack)?.fail?.[method] : undefined);
        if (err) throw err;
    }

    private seePolicyConfigs(hooks: RunHooks): void {
        if (hooks.policyPackConfigs) {
            this.policyConfigsSeen.push(hooks.policyPackConfigs.map((f) => (fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")) as unknown) : undefined)));
        }
    }

    private need(stack: string): FakeStack {
        const s = this.stacks.get(stack);
        if (!s) throw commandError("StackNotFoundError", `error: no stack named '${stack}' found`);
        return s;
    }

    private replay(stack: string, op: "preview" | "up" | "destroy", hooks: RunHooks): void {
        for (const e of this.scripts.get(stack)?.events?.[op] ?? []) hooks.onEvent?.(e);
    }

    async listStacks(): Promise<StackInfo[]> {
        this.enter("listStacks");
        return [...this.stacks.entries()].map(([name, s]) => ({
            name,
            resourceCount: s.resourceCount,
            updateInProgress: s.updateInProgress,
            lastUpdate: s.lastUpdate,
        }));
    }

    async ensureStack(stack: string): Promise<boolean> {
        this.enter("ensureStack", stack);
        if (this.stacks.has(stack)) return false;
        this.stacks.set(stack, { resourceCount: 0, outputs: {} });
        return true;
    }

    async getAllConfig(stack: string): Promise<ConfigMap> {
        this.enter("getAllConfig", stack);
        this.need(stack);
        const out: ConfigMap = {};
        for (const [k, v] of Object.entries(this.files.get(stack) ?? {})) out[k] = { value: v, secret: false };
        return out;
    }

    async setConfig(stack: string, key: string, value: string, opts?: { path?: boolean; secret?: boolean }): Promise<void> {
        this.enter("setConfig", stack, key, value, opts);
        this.need(stack);
        const file = this.files.get(stack) ?? {};
        this.files.set(stack, file);
        if (!opts?.path) {
            file[key] = value;
            return;
        }
        const [root, field] = splitPath(key);
        const obj = file[root] ? (JSON.parse(file[root]!) as Record<string, unknown>) : {};
        obj[field] = value;
        file[root] = JSON.stringify(obj);
    }

    async removeConfig(stack: string, key: string, opts?: { path?: boolean }): Promise<void> {
        this.enter("removeConfig", stack, key, opts);
        this.need(stack);
        const file = this.files.get(stack) ?? {};
        if (!opts?.path) {
            delete file[key];
            return;
        }
        const [root, field] = splitPath(key);
        if (!file[root]) return;
        const obj = JSON.parse(file[root]!) as Record<string, unknown>;
        delete obj[field];
        file[root] = JSON.stringify(obj);
    }

    async outputs(stack: string): Promise<OutputMap> {
        this.enter("outputs", stack);
        const s = this.need(stack);
        const out: OutputMap = {};
        for (const [k, v] of Object.entries(s.outputs)) out[k] = { value: v, secret: s.secretOutputs?.includes(k) ?? false };
        return out;
    }

    async createdAt(stack: string): Promise<string | undefined> {
        this.enter("createdAt", stack);
        return this.need(stack).createdAt;
    }

    async stateResources(stack: string): Promise<{ type: string; outputs: Record<string, unknown> }[]> {
        this.enter("stateResources", stack);
        return this.need(stack).resources ?? [];
    }

    async preview(stack: string, hooks: RunHooks): Promise<PreviewOutcome> {
        this.enter("preview", stack, hooks.policyPacks, hooks.policyPackConfigs);
        this.seePolicyConfigs(hooks);
        this.need(stack);
        this.replay(stack, "preview", hooks);
        return { changeSummary: this.scripts.get(stack)?.changeSummary ?? {} };
    }

    async up(stack: string, hooks: RunHooks): Promise<UpOutcome> {
        this.enter("up", stack, hooks.policyPacks, hooks.policyPackConfigs);
        this.seePolicyConfigs(hooks);
        const s = this.need(stack);
        this.replay(stack, "up", hooks);
        const result = this.scripts.get(stack)?.upResult ?? { outputs: {}, resourceCount: 0 };
        s.outputs = result.outputs;
        s.resourceCount = result.resourceCount;
        const out: OutputMap = {};
        for (const [k, v] of Object.entries(s.outputs)) out[k] = { value: v, secret: false };
        return { outputs: out, resourceChanges: this.scripts.get(stack)?.changeSummary };
    }

    async destroy(stack: string, hooks: RunHooks): Promise<void> {
        this.enter("destroy", stack);
        const s = this.need(stack);
        this.replay(stack, "destroy", hooks);
        s.outputs = {};
        s.resourceCount = 0;
    }

    async removeStack(stack: string): Promise<void> {
        this.enter("removeStack", stack);
        const s = this.need(stack);
        if (s.resourceCount > 0) {
            throw commandError("CommandError", `error: '${stack}' still has resources; removal rejected. Possible actions:\n- Make sure that '${stack}' is the stack that you want to destroy\n- Run \`pulumi destroy\` to delete the resources, then run \`pulumi stack rm\``);
        }
        this.stacks.delete(stack);
    }
}

function splitPath(key: string): [string, string] {
    const dot = key.indexOf(".", key.indexOf(":"));
    if (dot < 0) throw new Error(`fake workspace: ${key} is not a path key`);
    return [key.slice(0, dot), key.slice(dot + 1)];
}
