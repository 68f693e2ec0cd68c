/**
 * `npm run plan -- --stack <name> [--config-file <path>] [--json]`
 *
 * Shows what `pulumi preview` would create for a stack, with no Pulumi CLI, no cloud
 * credentials and no state: the program runs under the SDK's mock monitor in preview mode.
 * Values only known after deployment print as [unknown]; secrets as [secret].
 * Exit codes: 0 ok, 2 invalid configuration (message on stderr), 1 anything else.
 */
import { Command } from "commander";
import * as path from "node:path";
import { exitAfterFlush } from "../cli/exit";
import { knownStacks as stacksIn, readStackConfig, resolveStackFile, StackFileError } from "../cli/stackFiles";
import type { Backend } from "../components/backend";
import { loadProgramConfig, PROJECT } from "../components/config";
import { planLab } from "../components/lab";
import { ConfigError } from "../components/problems";
import type { LabSpec } from "../components/spec";
import { OFFLINE_PLAN_ENV } from "../images/build";
import { backendLoaders } from "../providers";
import { describeValue, DuplicateUrnError, programOutputs, runOffline, type RecordedResource, type ResourceOptionsView } from "./offline";
import { planInvokes } from "./planInvokes";

export const PROJECT_DIR = path.resolve(__dirname, "..");

export interface PlanJson {
    stack: string;
    /** What each node runs on, decided before any resource exists (what a reviewer pays for). */
    nodes: PlanNode[];
    /** Inputs as the engine gets them; options are the resource options that are set. */
    resources: { type: string; name: string; parent: string | null; inputs: unknown; options: ResourceOptionsView }[];
    outputs: Record<string, unknown>;
}

export interface PlanNode {
    name: string;
    machineType: string;
    /** What the machine type gives, which may exceed what the node asked for. */
    vcpus: number;
    memoryGiB: number;
    rootDiskGiB: number;
    /** Extra volumes, in the order they attach. */
    volumes: { name: string; sizeGiB: number }[];
    kvm: string;
    /** Why this machine type (catalog entry and its source, or "set in config"). */
    reason: string;
}

/**
 * The nodes' machines as the program chooses them: the same config reading and placement
 * (loadProgramConfig, planLab) the program runs before registering anything.
 * @param config full keys (`nixlab:lab`), values as the CLI passes them.
 */
export async function planNodes(config: Record<string, string>, stack: string): Promise<PlanNode[]> {
    const prefix = `${PROJECT}:`;
    const own = Object.fromEntries(Object.entries(config).flatMap(([k, v]) => (k.startsWith(prefix) ? [[k.slice(prefix.length), v]] : [])));
    const { spec, backend } = await loadProgramConfig(own, stack, backendLoaders);
    return nodesOf(spec, backend);
}

/** planNodes for a spec and backend already at hand. */
export function nodesOf(spec: LabSpec, backend: Backend): PlanNode[] {
    const machines = planLab(spec, backend).machines;
    return spec.nodes.map((n) => {
        const m = machines[n.name]!;
        return {
            name: n.name,
            machineType: m.machineType,
            vcpus: m.vcpus,
            memoryGiB: m.memoryGiB,
            rootDiskGiB: n.rootDiskGiB,
            volumes: n.volumes.map((v) => ({ name: v.name, sizeGiB: v.sizeGiB })),
            kvm: n.kvm,
            reason: m.reason,
        };
    });
}

/** One recorded registration as the plan shows it (secrets and unknowns marked). */
export function planResource(r: RecordedResource): PlanJson["resources"][number] {
    return { type: r.type, name: r.name, parent: r.parent ?? null, inputs: describeValue(r.inputs), options: r.options };
}

export { readStackConfig };

export function stackFile(stack: string): string {
    return path.join(PROJECT_DIR, "stacks", `Pulumi.${stack}.yaml`);
}

/** Loads index.ts: the module, whose exported function `programOutputs` runs. */
export type ProgramLoader = () => Promise<unknown>;

// import(), not require(): vitest can only load TypeScript through its own loader. The
// nixlab bin passes a require() loader instead (cli/main.ts).
const importProgram: ProgramLoader = async () => import("../index");

/** Runs index.ts for a stack under mocks (preview mode) and returns the plan. Once per process. */
export async function planStack(stack: string, configFile?: string, loadProgram: ProgramLoader = importProgram): Promise<PlanJson> {
    const config = readStackConfig(configFile ?? stackFile(stack));
    process.env[OFFLINE_PLAN_ENV] = "1";
    const result = await runOffline({
        stack,
        config,
        preview: true,
        program: async () => programOutputs(await loadProgram()),
        calls: planInvokes,
    });
    return {
        stack,
        nodes: await planNodes(config, stack),
        // Registration order follows promise timing; sort so a plan diff shows only real changes.
        resources: [...result.resources].sort(byTypeAndName).map(planResource),
        outputs: result.outputs,
    };
}

function byTypeAndName(a: { type: string; name: string }, b: { type: string; name: string }): number {
    return a.name === b.name ? a.type.localeCompare(b.type) : a.name.localeCompare(b.name);
}

export function renderPlanText(plan: PlanJson): string {
    const children = new Map<string | null, PlanJson["resources"]>();
    for (const r of plan.resources) {
        const list = children.get(r.parent) ?? [];
        list.push(r);
        children.set(r.parent, list);
    }
    const lines = [`Stack ${plan.stack}: ${plan.resources.length} resources to create`];
    const walk = (parent: string | null, depth: number) => {
        for (const r of children.get(parent) ?? []) {
            const opts = renderOptions(r.options);
            lines.push(`${"    ".repeat(depth)}+ ${r.type}  ${r.name}${opts ? `  (${opts})` : ""}`);
            walk(r.name, depth + 1);
        }
    };
    walk(null, 1);
    lines.push("Nodes:", ...renderNodes(plan.nodes).map((l) => `    ${l}`));
    lines.push("Outputs:");
    for (const [k, v] of Object.entries(plan.outputs)) {
        const s = typeof v === "string" ? v : JSON.stringify(v, null, 2);
        lines.push(`    ${k}: ${s.includes("\n") ? `\n${indent(s, 8)}` : s}`);
    }
    return lines.join("\n") + "\n";
}

/** The options that change how `up` treats a resource, compactly: `delete-first, timeouts create 45m`. */
function renderOptions(o: ResourceOptionsView): string {
    const parts: string[] = [];
    if (o.deleteBeforeReplace) parts.push("delete-before-replace");
    if (o.replaceOnChanges) parts.push(`replace on ${o.replaceOnChanges.join(", ")}`);
    if (o.ignoreChanges) parts.push(`ignore ${o.ignoreChanges.join(", ")}`);
    if (o.customTimeouts) parts.push(`timeouts ${Object.entries(o.customTimeouts).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    if (o.protect) parts.push("protected");
    if (o.retainOnDelete) parts.push("retained on delete");
    return parts.join("; ");
}

/** One aligned row per node: machine type, vCPUs, memory, disks, kvm. */
export function renderNodes(nodes: PlanNode[]): string[] {
    const rows = nodes.map((n) => [
        n.name,
        n.machineType,
        `${n.vcpus} vCPUs`,
        `${n.memoryGiB} GiB memory`,
        [`root ${n.rootDiskGiB} GiB`, ...n.volumes.map((v) => `${v.name} ${v.sizeGiB} GiB`)].join(" + "),
        `kvm: ${n.kvm}`,
    ]);
    const widths = rows.reduce<number[]>((w, row) => row.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
    return rows.map((row) =>
        row
            .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!)))
            .join("  ")
            .trimEnd(),
    );
}

function indent(s: string, n: number): string {
    return s
        .trimEnd()
        .split("\n")
        .map((l) => " ".repeat(n) + l)
        .join("\n");
}

/** Every stack with a file in stacks/, sorted. */
export function knownStacks(): string[] {
    return stacksIn(path.join(PROJECT_DIR, "stacks"));
}

/** Plans one stack and reports a failure on `io.stderr`; returns the plan or the exit code. */
async function planOrReport(stack: string, file: string, label: string, io: PlanIo = process, loadProgram?: ProgramLoader): Promise<PlanJson | number> {
    try {
        return await planStack(stack, file, loadProgram);
    } catch (e) {
        if (e instanceof ConfigError) {
            io.stderr.write(label + e.message + "\n");
            return 2;
        }
        if (e instanceof StackFileError) {
            io.stderr.write(`${label}nixlab plan: ${e.message}\n`);
            return 2;
        }
        if (e instanceof DuplicateUrnError) {
            // What `pulumi up` would stop with; config validation should have caught it first.
            io.stderr.write(`${label}nixlab plan: ${e.message}\n`);
            return 1;
        }
        io.stderr.write(`${label}nixlab plan failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        return 1;
    }
}

export interface PlanOptions {
    stack: string;
    configFile?: string;
    json?: boolean;
}

export interface PlanIo {
    stdout: { write(s: string): unknown };
    stderr: { write(s: string): unknown };
}

/**
 * `npm run plan -- --stack` and `nixlab plan`: checks the stack file, plans, prints. Exit
 * codes: 0 planned, 2 the stack file or its config is wrong (what and where on stderr), 1
 * anything else.
 */
export async function runPlan(opts: PlanOptions, io: PlanIo, loadProgram?: ProgramLoader): Promise<number> {
    let file: string;
    try {
        file = resolveStackFile(PROJECT_DIR, opts.stack, opts.configFile);
    } catch (e) {
        if (!(e instanceof StackFileError)) throw e;
        io.stderr.write(`nixlab plan: ${e.message}\n`);
        return 2;
    }
    const plan = await planOrReport(opts.stack, file, "", io, loadProgram);
    if (typeof plan === "number") return plan;
    io.stdout.write(opts.json ? JSON.stringify(plan, null, 2) + "\n" : renderPlanText(plan));
    return 0;
}

async function main(argv: string[]): Promise<number> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tooOld = (require(path.join(PROJECT_DIR, "cli", "engines.js")) as { nodeVersionProblem(): string | undefined }).nodeVersionProblem();
    if (tooOld) {
        process.stderr.write(tooOld + "\n");
        return 1;
    }
    const program = new Command()
        .name("npm run plan --")
        .description("Offline preview of a nixlab stack: no Pulumi CLI, no credentials (also: nixlab plan <stack>)")
        .option("--stack <name>", "stack name (reads stacks/Pulumi.<name>.yaml)")
        .option("--all", "plan every stack in stacks/, in one process (each exactly as planned alone)", false)
        .option("--config-file <path>", "stack config file to read instead of stacks/Pulumi.<stack>.yaml")
        .option("--json", "print the plan as JSON (with --all: one object, keyed by stack)", false)
        .exitOverride();
    try {
        program.parse(argv, { from: "node" });
    } catch (e) {
        const code = (e as { exitCode?: number }).exitCode;
        return code === 0 ? 0 : 2;
    }
    const opts = program.opts<{ stack?: string; all: boolean; configFile?: string; json: boolean }>();
    if (opts.all === (opts.stack !== undefined) || (opts.all && opts.configFile)) {
        process.stderr.write("nixlab plan: pass either --stack <name> (optionally with --config-file <path>) or --all\n");
        return 2;
    }
    if (opts.all) return planAll(opts.json);
    return runPlan({ stack: opts.stack!, configFile: opts.configFile, json: opts.json }, process);
}

/**
 * Every stack in one process: the process start, @pulumi/pulumi and the dynamic providers'
 * closure serialization are paid once instead of per stack (issue 11: seven stacks took
 * ~3.7 s of CPU this way against ~10 s as seven processes). Pulumi's mock runtime is
 * reset by each run, and index.ts's exported function runs once per stack. A failing stack is reported and the others are still planned; the exit code is
 * the worst one.
 */
async function planAll(json: boolean): Promise<number> {
    let code = 0;
    const plans: Record<string, PlanJson> = {};
    for (const stack of knownStacks()) {
        const plan = await planOrReport(stack, stackFile(stack), `stack ${stack}: `);
        if (typeof plan === "number") {
            code = Math.max(code, plan);
            continue;
        }
        plans[stack] = plan;
        if (!json) process.stdout.write(renderPlanText(plan) + "\n");
    }
    if (json) process.stdout.write(JSON.stringify(plans, null, 2) + "\n");
    return code;
}

if (require.main === module) {
    main(process.argv).then(
        (code) => exitAfterFlush(code),
        (e) => {
            process.stderr.write(String(e) + "\n");
            return exitAfterFlush(1);
        },
    );
}
