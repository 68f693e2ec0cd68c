/**
 * Helpers the GitHub workflows run (`npx tsx cli/ci.ts <command>`), kept here so they are
 * tested like the rest instead of living as shell in YAML:
 *
 *   matrix                      cloud stacks whose credentials the repository has, as JSON
 *   plan-diff --base D --head D per-stack diff of `npm run plan -- --json` outputs, as Markdown
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { parse } from "yaml";
import type { BackendKind } from "../components/backend";

/** The marker the plan workflow finds its own PR comment by. */
export const PLAN_COMMENT_MARKER = "<!-- nixlab-offline-plan -->";

// ------------------------------------------------------------------ matrix

/**
 * Which secret each cloud's preview job needs, named for the workflow's `HAS_<CLOUD>`
 * environment (job-level `if:` cannot read `secrets`, a step's environment can).
 */
export const CLOUD_SECRETS: { [k in Exclude<BackendKind, "libvirt">]: string } = {
    aws: "HAS_AWS",
    gcp: "HAS_GCP",
    azure: "HAS_AZURE",
    openstack: "HAS_OPENSTACK",
};

export interface PreviewTarget {
    stack: string;
    backend: Exclude<BackendKind, "libvirt">;
    /**
     * `pulumi preview` builds the lab's images with Nix (images/build.ts), so the runner
     * must build for the nodes' arch: an arm64 runner for all-aarch64 labs, x86_64 otherwise.
     */
    runner: "ubuntu-latest" | "ubuntu-24.04-arm";
    /** Mixed-arch lab: the x86_64 runner builds aarch64 images under QEMU. */
    emulate: boolean;
    /** For aws-actions/configure-aws-credentials, which wants a region of its own. */
    awsRegion?: string;
    /** For azure/login. */
    azureSubscriptionId?: string;
}

function backendOf(config: Record<string, unknown>): string {
    const b = config["nixlab:backend"];
    return typeof b === "string" ? b : "libvirt";
}

/** Stack names from stacks/Pulumi.<name>.yaml, sorted. */
export function stackNames(stacksDir: string): string[] {
    if (!fs.existsSync(stacksDir)) return [];
    return fs
        .readdirSync(stacksDir)
        .map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

function readConfig(stacksDir: string, stack: string): Record<string, unknown> {
    const file = ["yaml", "yml"].map((e) => path.join(stacksDir, `Pulumi.${stack}.${e}`)).find((f) => fs.existsSync(f))!;
    const doc = (parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    return doc.config ?? {};
}

/**
 * The arches a lab's nodes use, with nixlab's defaults (components/spec.ts: a node's arch,
 * else `defaults.arch`, else x86_64). Read leniently: an invalid lab is the plan job's
 * finding, not the matrix's.
 */
export function labArches(lab: unknown): Set<string> {
    const l = (lab ?? {}) as { defaults?: { arch?: unknown }; nodes?: unknown };
    const fallback = typeof l.defaults?.arch === "string" ? l.defaults.arch : "x86_64";
    const of = (n: unknown) => {
        const a = (n as { arch?: unknown } | undefined)?.arch;
        return typeof a === "string" ? a : fallback;
    };
    return new Set(Array.isArray(l.nodes) ? l.nodes.map(of) : [of(l.nodes)]);
}

/**
 * Every cloud stack whose credentials are present (`HAS_AWS=true` ...). libvirt stacks need
 * a hypervisor, not a secret, and are covered by the offline plan only.
 */
export function previewTargets(stacksDir: string, env: NodeJS.ProcessEnv): PreviewTarget[] {
    const out: PreviewTarget[] = [];
    for (const stack of stackNames(stacksDir)) {
        const config = readConfig(stacksDir, stack);
        const backend = backendOf(config);
        if (!(backend in CLOUD_SECRETS)) continue;
        const kind = backend as PreviewTarget["backend"];
        if (env[CLOUD_SECRETS[kind]] !== "true") continue;
        const own = (config[`nixlab:${kind}`] ?? {}) as Record<string, unknown>;
        const arches = labArches(config["nixlab:lab"]);
        const armOnly = arches.size === 1 && arches.has("aarch64");
        const t: PreviewTarget = { stack, backend: kind, runner: armOnly ? "ubuntu-24.04-arm" : "ubuntu-latest", emulate: arches.size > 1 };
        if (kind === "aws" && typeof own.region === "string") t.awsRegion = own.region;
        if (kind === "azure" && typeof own.subscriptionId === "string") t.azureSubscriptionId = own.subscriptionId;
        out.push(t);
    }
    return out;
}

// ------------------------------------------------------------------ plan-diff

interface PlanResource {
    type: string;
    name: string;
    parent: string | null;
    inputs: unknown;
}

interface PlanJson {
    stack: string;
    resources: PlanResource[];
    outputs: Record<string, unknown>;
}

/** One side of a stack: its plan, the error that stopped it, or nothing (no such stack). */
export type PlanSide = { plan: PlanJson } | { error: string } | undefined;

/** Reads `<dir>/<stack>.json`, or `<dir>/<stack>.failed` (the plan's stderr) when it failed. */
export function readPlans(dir: string): Map<string, PlanSide> {
    const out = new Map<string, PlanSide>();
    if (!fs.existsSync(dir)) return out;
    for (const f of fs.readdirSync(dir).sort()) {
        const failed = /^(.+)\.failed$/.exec(f)?.[1];
        if (failed) {
            out.set(failed, { error: fs.readFileSync(path.join(dir, f), "utf8").trim() || "plan failed with no message" });
            continue;
        }
        const ok = /^(.+)\.json$/.exec(f)?.[1];
        if (ok && !out.has(ok)) {
            try {
                out.set(ok, { plan: JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as PlanJson });
            } catch (e) {
                out.set(ok, { error: `unreadable plan output: ${(e as Error).message}` });
            }
        }
    }
    return out;
}

/** `a.b[0].c: "x" → "y"` lines for every leaf that differs. */
export function valueChanges(before: unknown, after: unknown, at = ""): string[] {
    if (JSON.stringify(before) === JSON.stringify(after)) return [];
    const bothObjects = before && after && typeof before === "object" && typeof after === "object" && Array.isArray(before) === Array.isArray(after);
    if (!bothObjects) return [`${at || "(value)"}: ${show(before)} → ${show(after)}`];
    const keys = Array.isArray(before)
        ? [...Array(Math.max(before.length, (after as unknown[]).length)).keys()]
        : [...new Set([...Object.keys(before as object), ...Object.keys(after as object)])].sort();
    return keys.flatMap((k) =>
        valueChanges(
            (before as Record<string | number, unknown>)[k],
            (after as Record<string | number, unknown>)[k],
            typeof k === "number" ? `${at}[${k}]` : at ? `${at}.${k}` : k,
        ),
    );
}

function show(v: unknown): string {
    if (v === undefined) return "(none)";
    const s = JSON.stringify(v);
    return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

export interface StackDiff {
    stack: string;
    status: "unchanged" | "changed" | "new stack" | "removed stack" | "head plan failed" | "base plan failed";
    added: string[];
    removed: string[];
    changed: { resource: string; changes: string[] }[];
    outputs: string[];
    error?: string;
    baseCount?: number;
    headCount?: number;
}

const key = (r: PlanResource) => `${r.type}  ${r.name}`;

export function diffStack(stack: string, base: PlanSide, head: PlanSide): StackDiff {
    const d: StackDiff = { stack, status: "unchanged", added: [], removed: [], changed: [], outputs: [] };
    if (head && "error" in head) return { ...d, status: "head plan failed", error: head.error };
    if (!head) return { ...d, status: "removed stack" };
    d.headCount = head.plan.resources.length;
    const baseRes = new Map<string, PlanResource>();
    if (base && "plan" in base) {
        d.baseCount = base.plan.resources.length;
        for (const r of base.plan.resources) baseRes.set(key(r), r);
    }
    const headRes = new Map(head.plan.resources.map((r) => [key(r), r]));
    for (const [k, r] of headRes) {
        const b = baseRes.get(k);
        if (!b) d.added.push(k);
        else {
            const changes = [...valueChanges(b.inputs, r.inputs), ...(b.parent !== r.parent ? [`(parent): ${show(b.parent)} → ${show(r.parent)}`] : [])];
            if (changes.length > 0) d.changed.push({ resource: k, changes });
        }
    }
    for (const k of baseRes.keys()) if (!headRes.has(k)) d.removed.push(k);
    if (base && "plan" in base) d.outputs = valueChanges(base.plan.outputs, head.plan.outputs);
    d.status = !base ? "new stack" : "error" in base ? "base plan failed" : d.added.length + d.removed.length + d.changed.length + d.outputs.length > 0 ? "changed" : "unchanged";
    if (base && "error" in base) d.error = base.error;
    return d;
}

function counts(d: StackDiff): string {
    return `+${d.added.length} ~${d.changed.length} -${d.removed.length}`;
}

/** The PR comment: a summary table, then a collapsible diff per stack that has one. */
export function renderPlanDiff(base: Map<string, PlanSide>, head: Map<string, PlanSide>, ctx: { baseRef: string; headRef: string }): { markdown: string; diffs: StackDiff[] } {
    const stacks = [...new Set([...base.keys(), ...head.keys()])].sort();
    const diffs = stacks.map((s) => diffStack(s, base.get(s), head.get(s)));
    const lines = [
        PLAN_COMMENT_MARKER,
        "### nixlab offline plan",
        `What \`pulumi preview\` would register for every stack in \`stacks/\`, computed offline (\`npm run plan\`, no cloud credentials), ${ctx.headRef} against ${ctx.baseRef}.`,
        "",
    ];
    if (diffs.length === 0) {
        lines.push("No stacks in `stacks/`.");
        return { markdown: lines.join("\n") + "\n", diffs };
    }
    lines.push("| stack | resources (base → head) | change |", "|---|---|---|");
    for (const d of diffs) {
        const n = `${d.baseCount ?? "-"} → ${d.headCount ?? "-"}`;
        const what = d.status === "changed" ? counts(d) + (d.outputs.length ? `, ${d.outputs.length} output change(s)` : "") : d.status === "new stack" ? `new stack (${d.added.length} resources)` : d.status;
        lines.push(`| \`${d.stack}\` | ${n} | ${d.status === "head plan failed" ? "**head plan failed**" : what} |`);
    }
    for (const d of diffs) {
        if (d.status === "unchanged" || d.status === "removed stack") continue;
        const body: string[] = [];
        if (d.error) body.push(...d.error.split("\n").slice(0, 40).map((l) => `! ${l}`));
        for (const k of d.added) body.push(`+ ${k}`);
        for (const c of d.changed) body.push(`~ ${c.resource}`, ...c.changes.slice(0, 30).map((x) => `    ${x}`), ...(c.changes.length > 30 ? [`    ... ${c.changes.length - 30} more`] : []));
        for (const k of d.removed) body.push(`- ${k}`);
        if (d.outputs.length) body.push("~ outputs", ...d.outputs.map((x) => `    ${x}`));
        lines.push("", `<details${d.status === "head plan failed" ? " open" : ""}><summary><code>${d.stack}</code>: ${d.status === "changed" ? counts(d) : d.status}</summary>`, "", "```diff", ...body, "```", "</details>");
    }
    // GitHub rejects comments over 65536 characters.
    let markdown = lines.join("\n") + "\n";
    if (markdown.length > 60_000) markdown = markdown.slice(0, 60_000) + "\n\n... (truncated; run `npm run plan -- --stack <stack> --json` locally for the whole plan)\n";
    return { markdown, diffs };
}

// ------------------------------------------------------------------ entry

export async function ciMain(argv: string[], io: { stdout: (s: string) => void; env: NodeJS.ProcessEnv; cwd: string }): Promise<number> {
    let code = 0;
    const program = new Command().name("ci").exitOverride();
    program
        .command("matrix")
        .description("print the preview matrix (JSON) for cloud stacks with credentials")
        .option("--stacks <dir>", "stack files", "stacks")
        .action((opts: { stacks: string }) => {
            io.stdout(JSON.stringify(previewTargets(path.resolve(io.cwd, opts.stacks), io.env)) + "\n");
        });
    program
        .command("plan-diff")
        .description("render the per-stack plan diff as Markdown; exit 1 if a head plan failed")
        .requiredOption("--base <dir>", "plans of the base branch")
        .requiredOption("--head <dir>", "plans of the pull request")
        .option("--base-ref <ref>", "base label", "the base branch")
        .option("--head-ref <ref>", "head label", "this pull request")
        .action((opts: { base: string; head: string; baseRef: string; headRef: string }) => {
            const r = renderPlanDiff(readPlans(path.resolve(io.cwd, opts.base)), readPlans(path.resolve(io.cwd, opts.head)), opts);
            io.stdout(r.markdown);
            if (r.diffs.some((d) => d.status === "head plan failed")) code = 1;
        });
    try {
        await program.parseAsync(argv, { from: "user" });
    } catch (e) {
        return (e as { exitCode?: number }).exitCode === 0 ? 0 : 2;
    }
    return code;
}

if (require.main === module) {
    void ciMain(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), env: process.env, cwd: process.cwd() }).then((c) => {
        process.exitCode = c;
    });
}
