/**
 * Runs the nixlab program the way `pulumi preview` would, but under the SDK's mock
 * monitor: no CLI, no credentials, no cloud. Every resource registration is recorded with
 * its type, name, parent and inputs. This is the engine of `npm run plan` and of the unit
 * tests; the real-libvirt suite plugs a resource handler in that performs real CRUD.
 */
import * as pulumi from "@pulumi/pulumi";

/** Pulumi's wire marker for secret values as mocks receive them. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export interface RecordedResource {
    type: string;
    name: string;
    /** Name of the parent resource, if any (the root stack is not recorded). */
    parent?: string;
    custom: boolean;
    inputs: Record<string, unknown>;
    /** The resource options the engine would get (as the monitor request carries them). */
    options: ResourceOptionsView;
    /**
     * Per input, the resources its value came from (`<type> <name>`): what the engine would
     * re-plan when one of them is replaced. Not shown in plans (the inputs say it already).
     */
    inputDependencies: Record<string, string[]>;
    /** Filled in once the handler answered. */
    id?: string;
    state?: Record<string, unknown>;
}

/**
 * The options of one registration that decide what `up` does to a resource beyond its
 * inputs: how it is replaced, what is ignored, how long the engine waits, what keeps it.
 * Only options that are set appear (an empty object: all defaults), so a plan diff shows
 * exactly the options a change adds or removes.
 */
export interface ResourceOptionsView {
    /** Replace by deleting first (needed wherever the new one would collide with the old). */
    deleteBeforeReplace?: true;
    /** Input paths whose change replaces the resource, beyond the provider's own. */
    replaceOnChanges?: string[];
    /** Input paths whose drift or change `up` ignores. */
    ignoreChanges?: string[];
    /** Engine waits beyond the provider's defaults, e.g. `{ create: "45m" }`. */
    customTimeouts?: { create?: string; update?: string; delete?: string };
    protect?: true;
    retainOnDelete?: true;
    /**
     * Dependencies no input carries, as `<type> <name>`: the engine orders by them (and
     * by the inputs' own, which the inputs already show). The monitor request merges both
     * kinds; this is that list minus every input's dependencies, so a resource named both
     * in dependsOn and in an input appears only through the input.
     */
    dependsOn?: string[];
    /** Outputs the engine stores encrypted beyond those the provider marks secret. */
    additionalSecretOutputs?: string[];
}

/** The part of RegisterResourceRequest the offline run reads (names from resource_pb.d.ts). */
interface RegisterRequestLike {
    getParent(): string;
    getType(): string;
    getName(): string;
    getProtect(): boolean | undefined;
    getRetainondelete(): boolean | undefined;
    getDeletebeforereplace(): boolean;
    getReplaceonchangesList(): string[];
    getIgnorechangesList(): string[];
    getAdditionalsecretoutputsList(): string[];
    getDependenciesList(): string[];
    getPropertydependenciesMap(): { forEach(cb: (deps: { getUrnsList(): string[] }, key: string) => void): void };
    getCustomtimeouts(): { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined;
}

/** `urn:pulumi:<stack>::<project>::<qualified type>::<name>` → type (the last of the `$` chain) and name. */
function urnParts(urn: string): { type: string; name: string } {
    const parts = urn.split("::");
    return { type: parts[2]?.split("$").pop() ?? "", name: parts.slice(3).join("::") };
}

/** Reads the options off a monitor request; see ResourceOptionsView for what each means. */
export function optionsOfRequest(req: RegisterRequestLike): ResourceOptionsView {
    const out: ResourceOptionsView = {};
    if (req.getDeletebeforereplace()) out.deleteBeforeReplace = true;
    const list = (xs: string[]) => (xs.length > 0 ? [...xs] : undefined);
    const replaceOnChanges = list(req.getReplaceonchangesList());
    if (replaceOnChanges) out.replaceOnChanges = replaceOnChanges;
    const ignoreChanges = list(req.getIgnorechangesList());
    if (ignoreChanges) out.ignoreChanges = ignoreChanges;
    const t = req.getCustomtimeouts();
    if (t) {
        const timeouts = { create: t.getCreate(), update: t.getUpdate(), delete: t.getDelete() };
        const set = Object.fromEntries(Object.entries(timeouts).filter(([, v]) => v !== ""));
        if (Object.keys(set).length > 0) out.customTimeouts = set;
    }
    if (req.getProtect()) out.protect = true;
    if (req.getRetainondelete()) out.retainOnDelete = true;
    const viaInputs = new Set<string>();
    req.getPropertydependenciesMap().forEach((deps) => deps.getUrnsList().forEach((u) => viaInputs.add(u)));
    const explicit = req
        .getDependenciesList()
        .filter((u) => !viaInputs.has(u))
        .map((u) => {
            const { type, name } = urnParts(u);
            return `${type} ${name}`;
        })
        .sort();
    if (explicit.length > 0) out.dependsOn = explicit;
    const secrets = list(req.getAdditionalsecretoutputsList());
    if (secrets) out.additionalSecretOutputs = secrets;
    return out;
}

/** Per input property, the resources (`<type> <name>`) its value depends on. */
export function inputDependenciesOfRequest(req: RegisterRequestLike): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((deps, key) => {
        const urns = deps.getUrnsList();
        if (urns.length > 0) out[key] = urns.map((u) => {
            const { type, name } = urnParts(u);
            return `${type} ${name}`;
        }).sort();
    });
    return out;
}

export interface ResourceHandlerArgs extends pulumi.runtime.MockResourceArgs {
    /** Name of the parent resource (the mock API alone does not say). */
    parent?: string;
    /** The registration's resource options. */
    options: ResourceOptionsView;
    /** The URN the Pulumi engine gives this resource (see `resourceUrn`). */
    urn: string;
    preview: boolean;
}

/** Answers one registration; return undefined to fall through to the default. */
export type ResourceHandler = (
    args: ResourceHandlerArgs,
) => { id: string | undefined; state: Record<string, unknown> } | undefined | Promise<{ id: string | undefined; state: Record<string, unknown> } | undefined>;

export type CallHandler = (args: pulumi.runtime.MockCallArgs) => Record<string, unknown> | Promise<Record<string, unknown>>;

export interface OfflineOptions {
    stack: string;
    /** Full keys (`nixlab:lab`), values as the CLI passes them (JSON text for objects). */
    config: Record<string, string>;
    /** true: like `pulumi preview` (computed outputs unknown). false: like `up` with fakes. */
    preview: boolean;
    /** Loads the program; its module exports become the stack outputs. */
    program: () => Promise<Record<string, unknown>>;
    /** Per-registration behaviour; the first handler returning a result wins. */
    resources?: ResourceHandler[];
    /** Invoke handlers by token; any other invoke fails the run (no silent fakes). */
    calls?: Record<string, CallHandler>;
    project?: string;
    /**
     * "fail" (default): a second resource with one URN fails its registration and the run,
     * as in the engine. "record": let it through (as the SDK's mock monitor does) and list
     * it in the result, for tests that study which programs would break.
     */
    duplicateUrns?: "fail" | "record";
}

export interface OfflineResult {
    resources: RecordedResource[];
    /** URNs registered more than once (only with `duplicateUrns: "record"`; otherwise the run fails). */
    duplicateUrns: string[];
    /** Stack outputs; unknown values are `pulumi.unknown`-free: see `describeValue`. */
    outputs: Record<string, unknown>;
}

const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

/**
 * The URN the Pulumi engine gives a resource: `urn:pulumi:<stack>::<project>::<qualified
 * type>::<name>`, where the qualified type is the parent's qualified type, `$`, and the
 * resource's own type, except under the root stack, whose type is left out (pulumi/pulumi
 * sdk/go/common/resource/urn.go NewURN). The mock monitor builds its URNs differently
 * (the parent's last type only, the stack's included), so this is computed here.
 */
export function resourceUrn(stack: string, project: string, parentUrn: string | undefined, type: string, name: string): string {
    const parentType = parentUrn ? parentUrn.split("::")[2] : undefined;
    const qualified = parentType && parentType !== ROOT_STACK_TYPE ? `${parentType}$${type}` : type;
    return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/** The engine's own error for a second resource with a URN already registered (diag code 2001). */
export function duplicateUrnMessage(urn: string): string {
    return `Duplicate resource URN '${urn}'; try giving it a unique name`;
}

/** Raised when the program registered two resources with one URN, as `pulumi up` would fail. */
export class DuplicateUrnError extends Error {
    constructor(readonly urns: string[]) {
        super(urns.map(duplicateUrnMessage).join("\n"));
        this.name = "DuplicateUrnError";
    }
}

/** The URN the SDK's mock monitor hands back (runtime/mocks.js newUrn): the parent's last type only. */
function mockUrn(stack: string, project: string, parentUrn: string | undefined, type: string, name: string): string {
    const qualified = parentUrn ? `${parentUrn.split("::")[2]!.split("$").pop()}$${type}` : type;
    return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/**
 * The stack outputs of a loaded program module, taken the way Pulumi's Node.js runner
 * takes them (sdk/nodejs/cmd/run/run.ts): an exported function is called and its result
 * awaited; anything else is the outputs itself. `loaded` is what `require` returns, or an
 * `import()` namespace, whose `default` is a CommonJS module's `module.exports`.
 */
export async function programOutputs(loaded: unknown): Promise<Record<string, unknown>> {
    let exported = loaded;
    if (typeof exported === "object" && exported !== null && typeof (exported as { default?: unknown }).default === "function") {
        exported = (exported as { default: unknown }).default;
    }
    const outputs = await (typeof exported === "function" ? (exported as () => unknown)() : exported);
    return { ...((outputs ?? {}) as Record<string, unknown>) };
}

/** Runs the program once under mocks. Call once per process (Pulumi's runtime is global). */
export async function runOffline(opts: OfflineOptions): Promise<OfflineResult> {
    const recorded: RecordedResource[] = [];
    const parents = new Map<string, string>();
    const options = new Map<string, ResourceOptionsView>();
    const project = opts.project ?? "nixlab";
    /** Engine-style URNs by `type::name`, in registration order (the mock API does not pass them). */
    const urns = new Map<string, string[]>();
    const registered = new Set<string>();
    const duplicates: string[] = [];
    /** Mock monitor URN (what the SDK sees as a parent) → engine URN. */
    const engineUrns = new Map<string, string>();
    const inputDeps = new Map<string, Record<string, string[]>>();
    const handlers = opts.resources ?? [];
    const calls = opts.calls ?? {};

    const mocks: pulumi.runtime.Mocks = {
        async newResource(args) {
            const key = `${args.type}::${args.name}`;
            const parent = parents.get(key);
            const urn = urns.get(key)?.shift() ?? resourceUrn(opts.stack, project, undefined, args.type, args.name);
            const rec: RecordedResource = {
                type: args.type,
                name: args.name,
                parent,
                custom: args.custom ?? true,
                inputs: args.inputs,
                options: options.get(key) ?? {},
                inputDependencies: inputDeps.get(key) ?? {},
            };
            recorded.push(rec);
            for (const h of handlers) {
                const r = await h({ ...args, parent, options: rec.options, urn, preview: opts.preview });
                if (r) {
                    rec.id = r.id;
                    rec.state = r.state;
                    return { id: r.id, state: r.state };
                }
            }
            // Like a preview of a create: what was given is known, the rest is computed.
            const id = opts.preview ? undefined : `${args.name}-id`;
            rec.id = id;
            rec.state = args.inputs;
            return { id, state: args.inputs };
        },
        async call(args) {
            const h = calls[args.token];
            if (!h) throw new Error(`offline run: no mock for invoke ${args.token} (inputs ${JSON.stringify(args.inputs)})`);
            return h(args);
        },
    };

    await pulumi.runtime.setMocks(mocks, project, opts.stack, opts.preview);
    pulumi.runtime.setAllConfig(opts.config);
    // The mock API hides parents and resource options; the monitor request carries them,
    // so note them on the way (the mock monitor then calls newResource with this request).
    const monitor = (pulumi.runtime as unknown as { getMonitor(): MonitorLike }).getMonitor();
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => {
        const key = `${req.getType()}::${req.getName()}`;
        const parentUrn = req.getParent();
        // The engine refuses a second resource with a URN it has seen in this run: the
        // registration fails and so does the update. The mock monitor would accept it.
        const parentEngineUrn = parentUrn ? (engineUrns.get(parentUrn) ?? parentUrn) : undefined;
        const urn = resourceUrn(opts.stack, project, parentEngineUrn, req.getType(), req.getName());
        if (registered.has(urn)) {
            duplicates.push(urn);
            if (opts.duplicateUrns !== "record") {
                (cb as (err: Error | null, resp?: unknown) => void)(new Error(duplicateUrnMessage(urn)));
                return;
            }
        }
        registered.add(urn);
        engineUrns.set(mockUrn(opts.stack, project, parentUrn, req.getType(), req.getName()), urn);
        urns.set(key, [...(urns.get(key) ?? []), urn]);
        if (parentUrn) {
            const parent = urnParts(parentUrn);
            if (parent.type !== "pulumi:pulumi:Stack") parents.set(key, parent.name);
        }
        options.set(key, optionsOfRequest(req));
        inputDeps.set(key, inputDependenciesOfRequest(req));
        return register(req, cb);
    };

    // runInPulumiStack resolves the stack's outputs as one object, which a single unknown
    // makes wholly unknown in preview; keep the program's exports to resolve one by one.
    let exported: Record<string, unknown> = {};
    // A duplicate URN ends the run with the engine's message, whatever the failed
    // registration did to the program's own promises meanwhile.
    const refuseDuplicates = () => {
        if (duplicates.length > 0 && opts.duplicateUrns !== "record") throw new DuplicateUrnError(duplicates);
    };
    const resolved: Record<string, unknown> = {};
    try {
        await pulumi.runtime.runInPulumiStack(async () => {
            exported = (await opts.program()) ?? {};
            return exported;
        });
        refuseDuplicates();
        for (const [k, v] of Object.entries(exported)) resolved[k] = await resolveDeep(v);
        // Registrations made from inside applies may still be in flight: drain the RPC queue.
        await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    } catch (e) {
        refuseDuplicates();
        throw e;
    }
    refuseDuplicates();
    return { resources: recorded.filter((r) => r.type !== "pulumi:pulumi:Stack"), duplicateUrns: duplicates, outputs: resolved };
}

interface MonitorLike {
    registerResource(req: RegisterRequestLike, cb: unknown): unknown;
}

/** Marks for values a plan cannot show. */
export const UNKNOWN = "[unknown]";
export const SECRET = "[secret]";

type OutputInternals = { isKnown: Promise<boolean>; isSecret: Promise<boolean>; promise(): Promise<unknown> };

/** Resolves Outputs without hanging on unknowns; secrets become `[secret]`. */
async function resolveDeep(v: unknown): Promise<unknown> {
    if (pulumi.Output.isInstance(v)) {
        const o = v as unknown as OutputInternals;
        if (await o.isSecret) return SECRET;
        if (!(await o.isKnown)) return UNKNOWN;
        return resolveDeep(await o.promise());
    }
    if (pulumi.isUnknown(v)) return UNKNOWN;
    if (Array.isArray(v)) return Promise.all(v.map(resolveDeep));
    if (v && typeof v === "object") {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) out[k] = await resolveDeep(x);
        return out;
    }
    return v;
}

/**
 * A plain-JSON view of mock inputs: secrets → `[secret]`, unknowns → `[unknown]`, the
 * dynamic providers' serialized code (`__provider`) dropped (it is noise in a review).
 */
export function describeValue(v: unknown): unknown {
    if (pulumi.isUnknown(v)) return UNKNOWN;
    if (Array.isArray(v)) return v.map(describeValue);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o[SECRET_SIG] === SECRET_VALUE) return SECRET;
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(o)) {
            if (k === "__provider") continue;
            out[k] = describeValue(x);
        }
        return out;
    }
    return v;
}

/** Unwraps secret markers (tests that need to read a secret input's value). */
export function revealValue(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(revealValue);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o[SECRET_SIG] === SECRET_VALUE) return revealValue(o.value);
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(o)) out[k] = revealValue(x);
        return out;
    }
    return v;
}
