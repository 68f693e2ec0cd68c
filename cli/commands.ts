/**
 * What each `nixlab` command does, written against the LabWorkspace seam and injected
 * streams/clock/prompt so tests drive them with a fake workspace. Commander wiring is in
 * cli/main.ts; nothing here parses arguments.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseDuration, TTL_CEILING, TTL_FLOOR } from "../components/duration";
import { CREDENTIALS, explainError, UsageError } from "./errors";
import { StackFileError } from "./stackFiles";
import { DEFAULT_GC_GRACE, EXPIRES_AT_KEY, TTL_KEY, gcDecision, labConfig, labRow, planExpiry, relative, shortTime, type ExpiryPlan, type LabConfigView, type LabRow } from "./labs";
import { policyRun, type PolicyOptions, type PolicyRun } from "./policyConfig";
import { describeChanges, Progress, type OutStream } from "./progress";
import { sshArgs, sshTarget, writeKnownHosts } from "./ssh";
import { table } from "./table";
import type { ConfigMap, LabWorkspace, OutputMap, RunHooks, StackInfo } from "./workspace";

export interface CliDeps {
    stdout: OutStream;
    stderr: OutStream;
    env: NodeJS.ProcessEnv;
    now: () => Date;
    projectDir: string;
    homeDir: string;
    openWorkspace: (backendUrl: string) => Promise<LabWorkspace>;
    /** Asks a yes/no question; undefined when there is no terminal to ask on. */
    confirm?: (question: string) => Promise<boolean>;
    /** Runs ssh with these arguments, attached to the terminal; resolves to its exit code. */
    runSsh: (args: string[]) => Promise<number>;
    /**
     * Reads stacks/Pulumi.<stack>.yaml (cli/stackFiles.ts), throwing StackFileError when it
     * is missing or not valid YAML: checked before the Pulumi CLI is involved at all.
     */
    readStackFile: (stack: string) => Record<string, string>;
    /** `nixlab plan`: the offline plan (scripts/plan.ts runPlan); resolves to the exit code. */
    plan: (opts: { stack: string; configFile?: string; json?: boolean }) => Promise<number>;
}

export type { PolicyOptions } from "./policyConfig";

/** Exit codes: 0 done, 1 failed, 2 the command was used wrongly (nothing was changed). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export class Cli {
    constructor(
        private readonly deps: CliDeps,
        private readonly backendUrl: string,
    ) {}

    private out(s = ""): void {
        this.deps.stdout.write(s + "\n");
    }

    private err(s: string): void {
        this.deps.stderr.write(s + "\n");
    }

    private hooks(policy: PolicyRun, progress: Progress): RunHooks {
        return { onEvent: progress.onEvent, ...policy.hooks };
    }

    /** Runs a command body and turns any failure into advice and an exit code. */
    async guard(ctx: { stack?: string; backendKind?: string }, body: () => Promise<number>): Promise<number> {
        try {
            return await body();
        } catch (e) {
            if (e instanceof UsageError || e instanceof StackFileError) {
                this.err(`nixlab: ${e.message}`);
                return EXIT.usage;
            }
            const x = explainError(e, { backendUrl: this.backendUrl, projectDir: this.deps.projectDir, ...ctx });
            this.err(`nixlab: ${x.message}`);
            return EXIT.failed;
        }
    }

    private async ask(question: string, yes: boolean | undefined): Promise<boolean> {
        if (yes) return true;
        if (!this.deps.confirm) throw new UsageError(`${question.replace(/\?.*$/, "?")} needs a yes: there is no terminal to ask on, so pass --yes`);
        return this.deps.confirm(question);
    }

    // ---------------------------------------------------------------- up

    async up(stack: string, opts: { ttl?: string; yes?: boolean } & PolicyOptions): Promise<number> {
        const now = this.deps.now();
        // Reject a bad --ttl and a missing or broken stack file before anything touches the
        // backend (the lab's own minTtl/maxTtl are applied once its config is read).
        if (opts.ttl !== undefined) planExpiry({ minTtl: TTL_FLOOR, maxTtl: TTL_CEILING }, opts.ttl, now);
        this.deps.readStackFile(stack);
        const ws = await this.deps.openWorkspace(this.backendUrl);
        const created = await ws.ensureStack(stack);
        const config = await ws.getAllConfig(stack);
        const lab = labConfig(config);
        if (!lab) {
            if (created) await ws.removeStack(stack);
            throw new UsageError(
                `stack ${stack} has no nixlab:lab config. Create stacks/Pulumi.${stack}.yaml (copy stacks/Pulumi.local.yaml) with nixlab:backend and nixlab:lab, then run \`nixlab up ${stack}\` again.`,
            );
        }
        const backendKind = config["nixlab:backend"]?.value;
        const expiry = planExpiry(lab, opts.ttl, now);
        let policy: PolicyRun;
        try {
            policy = policyRun(this.deps.projectDir, opts, config);
        } catch (e) {
            if (created) await ws.removeStack(stack);
            throw e;
        }
        try {
            return await this.deploy(ws, stack, { now, created, lab, backendKind, expiry, yes: opts.yes, policy });
        } finally {
            policy.cleanup();
        }
    }

    /** `up` once the stack, its config and the policy run are known: preview, ask, deploy. */
    private async deploy(
        ws: LabWorkspace,
        stack: string,
        a: { now: Date; created: boolean; lab: LabConfigView; backendKind?: string; expiry: ExpiryPlan; yes?: boolean; policy: PolicyRun },
    ): Promise<number> {
        const { now, created, lab, backendKind, expiry } = a;
        const restore = await this.writeExpiry(ws, stack, lab, expiry.writes);
        // Nothing deployed: leave the stack file and the backend as they were.
        const undo = async () => {
            await restore();
            if (created) await ws.removeStack(stack);
        };
        try {
            this.out(`Lab ${lab.name ?? stack} (stack ${stack}, ${backendKind ?? "libvirt"}) expires ${shortTime(expiry.expiresAt)} (${relative(Date.parse(expiry.expiresAt) - now.getTime())}): ${expiry.reason}`);
            this.out(`Previewing ${stack} on ${ws.backendUrl} ...`);
            const preview = new Progress(this.deps.stdout, "preview", { now: () => this.deps.now().getTime() });
            let planned;
            try {
                planned = await ws.preview(stack, this.hooks(a.policy, preview));
            } finally {
                preview.finish();
            }
            const changes = describeChanges(planned.changeSummary, "plan");
            this.out(`Plan: ${changes}`);
            if (changes === "no changes") {
                this.out("Nothing to deploy.");
                await this.printAccess(stack, await ws.outputs(stack));
                return EXIT.ok;
            }
            if (!(await this.ask(`Deploy ${stack}? [y/N] `, a.yes))) {
                await undo();
                this.out("Cancelled; nothing was deployed.");
                return EXIT.failed;
            }
        } catch (e) {
            await undo();
            throw e;
        }
        this.out(`Deploying ${stack} ...`);
        const update = new Progress(this.deps.stdout, "update", { now: () => this.deps.now().getTime() });
        let result;
        try {
            result = await ws.up(stack, this.hooks(a.policy, update));
        } finally {
            update.finish();
        }
        this.out(`Done: ${describeChanges(result.resourceChanges ?? update.changes, "done")}`);
        await this.printAccess(stack, result.outputs);
        return EXIT.ok;
    }

    /** Writes the expiry keys; returns how to put the previous values back. */
    private async writeExpiry(ws: LabWorkspace, stack: string, lab: ReturnType<typeof labConfig>, writes: { key: string; value: string }[]): Promise<() => Promise<void>> {
        const before: Record<string, string | undefined> = { [TTL_KEY]: lab?.ttl, [EXPIRES_AT_KEY]: lab?.expiresAt };
        for (const w of writes) await ws.setConfig(stack, w.key, w.value, { path: true });
        return async () => {
            for (const w of writes) {
                const old = before[w.key];
                if (old === undefined) await ws.removeConfig(stack, w.key, { path: true });
                else await ws.setConfig(stack, w.key, old, { path: true });
            }
        };
    }

    private async printAccess(stack: string, outputs: OutputMap): Promise<void> {
        const lab = outputs.labName?.value as string | undefined;
        const nodes = (outputs.nodes?.value ?? {}) as Record<string, { name: string; machineType?: string; ssh?: string; privateAddress?: string; ready?: string }>;
        const expiresAt = outputs.expiresAt?.value as string | undefined;
        const now = this.deps.now();
        this.out("");
        this.out(`Lab ${lab ?? stack} is up${expiresAt ? `; it expires ${shortTime(expiresAt)} (${relative(Date.parse(expiresAt) - now.getTime())})` : ""}.`);
        const names = Object.keys(nodes).sort();
        if (names.length === 0) {
            this.out("It has no nodes in its outputs.");
            return;
        }
        this.out(
            table(
                ["NODE", "MACHINE", "ADDRESS", "CONNECT"],
                names.map((n) => [n, nodes[n]!.machineType ?? "-", nodes[n]!.privateAddress ?? "-", `nixlab ssh ${stack} ${n}`]),
            ),
        );
        this.out("");
        this.out("Plain ssh (after `nixlab ssh` has written the lab's known_hosts once):");
        for (const n of names) if (nodes[n]!.ssh) this.out(`  ${nodes[n]!.ssh}`);
        // One file per lab, rewritten (never appended: a second `up` would duplicate the Host
        // blocks), read through one Include line at the top of ~/.ssh/config (README).
        this.out(`ssh_config for all nodes: pulumi stack output sshConfig --stack ${stack} > ~/.ssh/nixlab/${lab ?? stack}.config`);
        this.out(`  (once: put \`Include ~/.ssh/nixlab/*.config\` at the top of ~/.ssh/config)`);
        this.out(`When done: nixlab destroy ${stack}   (otherwise \`nixlab gc\` destroys it after it expires)`);
    }

    // ---------------------------------------------------------------- preview

    async preview(stack: string, opts: { json?: boolean } & PolicyOptions): Promise<number> {
        this.deps.readStackFile(stack);
        const ws = await this.deps.openWorkspace(this.backendUrl);
        // `pulumi preview` needs the stack to exist; one created only for this is removed again.
        const created = await ws.ensureStack(stack);
        const progress = new Progress(this.deps.stdout, "preview", { quiet: opts.json });
        let policy: PolicyRun | undefined;
        try {
            // The stack's config only matters to the policy pack (OpenStack flavors).
            const config = opts.policy || opts.policyConfig ? await ws.getAllConfig(stack) : {};
            policy = policyRun(this.deps.projectDir, opts, config);
            if (!opts.json) this.out(`Previewing ${stack} on ${ws.backendUrl} ...`);
            const result = await ws.preview(stack, this.hooks(policy, progress));
            progress.finish();
            if (opts.json) {
                this.out(
                    JSON.stringify(
                        {
                            stack,
                            backendUrl: ws.backendUrl,
                            changeSummary: result.changeSummary,
                            steps: progress.steps,
                            diagnostics: progress.diagnostics,
                            policyViolations: progress.violations,
                        },
                        null,
                        2,
                    ),
                );
            } else {
                this.out(`Plan: ${describeChanges(result.changeSummary, "plan")}`);
            }
            return progress.violations.some((v) => v.level === "mandatory") ? EXIT.failed : EXIT.ok;
        } finally {
            progress.finish();
            policy?.cleanup();
            if (created) await ws.removeStack(stack);
        }
    }

    // ---------------------------------------------------------------- destroy

    async destroy(stack: string, opts: { keepStack?: boolean; yes?: boolean }): Promise<number> {
        const ws = await this.deps.openWorkspace(this.backendUrl);
        const outputs = await ws.outputs(stack);
        const lab = (outputs.labName?.value as string | undefined) ?? stack;
        if (!(await this.ask(`Destroy lab ${lab} (stack ${stack}) and everything in it? [y/N] `, opts.yes))) {
            this.out("Cancelled; nothing was destroyed.");
            return EXIT.failed;
        }
        await this.destroyStack(ws, stack, { keepStack: opts.keepStack, quiet: false });
        this.out(opts.keepStack ? `Destroyed lab ${lab}; the empty stack ${stack} is kept.` : `Destroyed lab ${lab} and removed stack ${stack} from ${ws.backendUrl}.`);
        return EXIT.ok;
    }

    /** destroy → forget the expiry (the next `up` starts a fresh clock) → remove the stack. */
    private async destroyStack(ws: LabWorkspace, stack: string, opts: { keepStack?: boolean; quiet: boolean }): Promise<void> {
        const progress = new Progress(this.deps.stdout, "destroy", { quiet: opts.quiet, now: () => this.deps.now().getTime() });
        try {
            await ws.destroy(stack, { onEvent: progress.onEvent });
        } finally {
            progress.finish();
        }
        const config = await ws.getAllConfig(stack).catch((): ConfigMap => ({}));
        if (labConfig(config)?.expiresAt !== undefined) await ws.removeConfig(stack, EXPIRES_AT_KEY, { path: true });
        if (!opts.keepStack) await ws.removeStack(stack);
    }

    // ---------------------------------------------------------------- list / gc

    /** Reads every stack; a stack that cannot be read becomes a row with its error. */
    private async rows(ws: LabWorkspace, withCreated: boolean): Promise<LabRow[]> {
        const stacks = await ws.listStacks();
        const now = this.deps.now();
        const read = async (summary: StackInfo): Promise<LabRow> => {
            const errors: string[] = [];
            const attempt = <T>(p: Promise<T>): Promise<T | undefined> =>
                p.catch((e: unknown) => {
                    errors.push(firstLine(explainError(e, { backendUrl: this.backendUrl, projectDir: this.deps.projectDir, stack: summary.name }).message));
                    return undefined;
                });
            const [config, outputs, createdAt] = await Promise.all([
                attempt(ws.getAllConfig(summary.name)),
                attempt(ws.outputs(summary.name)),
                withCreated ? attempt(ws.createdAt(summary.name)) : Promise.resolve(undefined),
            ]);
            const unread = [...(config === undefined ? (["config"] as const) : []), ...(outputs === undefined ? (["outputs"] as const) : [])];
            return labRow({ summary, config, outputs, createdAt, unread, error: errors.length ? [...new Set(errors)].join("; ") : undefined }, now);
        };
        // A few at a time: each read is a CLI process.
        const out: LabRow[] = [];
        for (let i = 0; i < stacks.length; i += 4) out.push(...(await Promise.all(stacks.slice(i, i + 4).map(read))));
        return out.sort((a, b) => a.stack.localeCompare(b.stack));
    }

    async list(opts: { json?: boolean }): Promise<number> {
        const ws = await this.deps.openWorkspace(this.backendUrl);
        const rows = await this.rows(ws, true);
        if (opts.json) {
            this.out(JSON.stringify(rows, null, 2));
            return EXIT.ok;
        }
        if (rows.length === 0) {
            this.out(`No labs in ${ws.backendUrl}. Start one: nixlab up <stack>`);
            return EXIT.ok;
        }
        const now = this.deps.now();
        this.out(
            table(
                ["STACK", "LAB", "OWNER", "BACKEND", "NODES", "CREATED", "EXPIRES", "STATE"],
                rows.map((r) => [
                    r.stack,
                    r.lab ?? "-",
                    r.owner ?? "-",
                    r.backend ?? "-",
                    r.nodes === undefined ? "-" : String(r.nodes),
                    shortTime(r.createdAt),
                    r.expiresAt ? `${shortTime(r.expiresAt)} (${relative(Date.parse(r.expiresAt) - now.getTime())})` : "-",
                    r.state,
                ]),
            ),
        );
        for (const r of rows) if (r.error) this.err(`${r.stack}: ${r.error}`);
        return EXIT.ok;
    }

    async gc(opts: { dryRun?: boolean; grace?: string }): Promise<number> {
        const grace = opts.grace ?? DEFAULT_GC_GRACE;
        const graceMs = parseDuration(grace);
        if (graceMs === undefined) throw new UsageError(`--grace ${JSON.stringify(grace)} is not a duration; use minutes, hours or days like 0m, 15m or 1h`);
        const ws = await this.deps.openWorkspace(this.backendUrl);
        const now = this.deps.now();
        const decisions = (await this.rows(ws, false)).map((r) => gcDecision(r, now, graceMs));
        const results: { row: LabRow; result: string; failed: boolean }[] = [];
        for (const d of decisions) {
            if (d.action === "skip") {
                results.push({ row: d.row, result: d.reason, failed: false });
                continue;
            }
            const expired = `expired ${relative(Date.parse(d.row.expiresAt!) - now.getTime())}`;
            if (opts.dryRun) {
                results.push({ row: d.row, result: `would destroy (${expired})`, failed: false });
                continue;
            }
            // The listing may be minutes old by now (each destroy takes a while): someone may
            // have extended the lab or started an update since. Decide again from fresh reads.
            const again = await this.recheck(ws, d.row, graceMs);
            if (again) {
                results.push({ row: d.row, result: again, failed: false });
                continue;
            }
            this.out(`Destroying ${d.row.stack} (lab ${d.row.lab ?? "-"}, owner ${d.row.owner ?? "-"}, ${expired}) ...`);
            try {
                await this.destroyStack(ws, d.row.stack, { quiet: false });
                results.push({ row: d.row, result: `destroyed, stack removed (${expired})`, failed: false });
            } catch (e) {
                const x = explainError(e, { backendUrl: this.backendUrl, projectDir: this.deps.projectDir, stack: d.row.stack, backendKind: d.row.backend });
                this.err(`nixlab gc: ${d.row.stack}: ${x.message}`);
                results.push({ row: d.row, result: `FAILED: ${firstLine(x.message)}`, failed: true });
            }
        }
        this.out(`${opts.dryRun ? "gc dry run" : "gc"} on ${ws.backendUrl} at ${now.toISOString()}:`);
        this.out(
            results.length === 0
                ? "  no lab stacks"
                : table(
                      ["STACK", "LAB", "OWNER", "EXPIRES", "RESULT"],
                      results.map(({ row, result }) => [row.stack, row.lab ?? "-", row.owner ?? "-", shortTime(row.expiresAt), result]),
                  ),
        );
        const failed = results.filter((r) => r.failed).length;
        const destroyed = results.filter((r) => r.result.startsWith("destroyed")).length;
        const would = results.filter((r) => r.result.startsWith("would destroy")).length;
        this.out(
            opts.dryRun
                ? `${would} of ${results.length} stacks would be destroyed; nothing was changed.`
                : `${destroyed} destroyed, ${failed} failed, ${results.length - destroyed - failed} left alone.`,
        );
        return failed > 0 ? EXIT.failed : EXIT.ok;
    }

    /**
     * Reads the stack again just before gc destroys it. Returns why it must be left alone
     * (an update started, a read failed, the expiry moved later, it is no longer due), or
     * undefined when it is still due.
     */
    private async recheck(ws: LabWorkspace, seen: LabRow, graceMs: number): Promise<string | undefined> {
        const stack = seen.stack;
        try {
            const summary = (await ws.listStacks()).find((s) => s.name === stack);
            if (!summary) return "the stack disappeared before gc got to it, skipped";
            const errors: string[] = [];
            const unread: ("config" | "outputs")[] = [];
            const attempt = <T>(what: "config" | "outputs", p: Promise<T>): Promise<T | undefined> =>
                p.catch((e: unknown) => {
                    unread.push(what);
                    errors.push(firstLine(explainError(e, { backendUrl: this.backendUrl, projectDir: this.deps.projectDir, stack }).message));
                    return undefined;
                });
            const [config, outputs] = await Promise.all([attempt("config", ws.getAllConfig(stack)), attempt("outputs", ws.outputs(stack))]);
            const now = this.deps.now();
            const fresh = labRow({ summary, config, outputs, unread, error: errors.length ? errors.join("; ") : undefined }, now);
            if (fresh.expiresAt && seen.expiresAt && Date.parse(fresh.expiresAt) > Date.parse(seen.expiresAt)) {
                return `expiry moved to ${shortTime(fresh.expiresAt)} since gc read it, skipped`;
            }
            const d = gcDecision(fresh, now, graceMs);
            return d.action === "skip" ? `${d.reason} (on re-reading it before destroying)` : undefined;
        } catch (e) {
            return `could not re-read the stack before destroying, skipped (${firstLine(explainError(e, { backendUrl: this.backendUrl, projectDir: this.deps.projectDir, stack }).message)})`;
        }
    }

    // ---------------------------------------------------------------- cleanup

    /**
     * libvirt objects stamped for this stack that its state does not know (left by a killed
     * `up`), listed and, unless a dry run, removed. Clouds need none of this: their
     * resources carry the nixlab:stack tag, and Pulumi records them before they exist.
     */
    async cleanup(stack: string, opts: { dryRun?: boolean; yes?: boolean }): Promise<number> {
        const ws = await this.deps.openWorkspace(this.backendUrl);
        const config = await ws.getAllConfig(stack);
        const backend = config["nixlab:backend"]?.value ?? "libvirt";
        if (backend !== "libvirt") {
            throw new UsageError(
                `nixlab cleanup finds libvirt objects a stack's state does not know; stack ${stack} uses the ${backend} backend, whose resources are recorded before they exist ` +
                    "(find strays by their nixlab:stack tag in the cloud's console)",
            );
        }
        // Loaded here: the rest of the CLI never needs the libvirt provider code.
        const { parseLibvirtConfig } = await import("../providers/libvirt/config");
        const { findOrphans, knownFromState, programStackName, removalOrder, removeOrphan } = await import("../providers/libvirt/cleanup");
        const raw = config["nixlab:libvirt"]?.value;
        const { uri } = parseLibvirtConfig(raw === undefined ? undefined : JSON.parse(raw));
        const owner = programStackName(stack);
        const orphans = removalOrder(await findOrphans(uri, owner, knownFromState(await ws.stateResources(stack))));
        if (orphans.length === 0) {
            this.out(`Nothing to clean up: no object on ${uri} is stamped for stack ${owner} outside its state.`);
            return EXIT.ok;
        }
        const count = `${orphans.length} object${orphans.length === 1 ? "" : "s"}`;
        this.out(`Objects on ${uri} stamped for stack ${owner} that its state does not know:`);
        this.out(table(["KIND", "NAME", "UUID / PATH", "OWNER"], orphans.map((o) => [o.kind, o.pool ? `${o.pool}/${o.name}` : o.name, o.uuid ?? o.path ?? "-", `lab ${o.owner.lab}${o.owner.node ? `, node ${o.owner.node}` : ""}`])));
        if (opts.dryRun) {
            this.out(`Dry run: ${count} would be removed; nothing was changed.`);
            return EXIT.ok;
        }
        if (!(await this.ask(`Remove ${count} from ${uri}? [y/N] `, opts.yes))) {
            this.out("Cancelled; nothing was removed.");
            return EXIT.failed;
        }
        for (const o of orphans) {
            await removeOrphan(uri, o);
            this.out(`removed ${o.kind} ${o.pool ? `${o.pool}/${o.name}` : o.name}`);
        }
        this.out(`Removed ${count}.`);
        return EXIT.ok;
    }

    // ---------------------------------------------------------------- ssh

    async ssh(stack: string, node: string, opts: { operatorKey?: boolean; extra: string[] }): Promise<number> {
        const ws = await this.deps.openWorkspace(this.backendUrl);
        const outputs = await ws.outputs(stack);
        const target = sshTarget(stack, outputs, node);
        const knownHostsFile = writeKnownHosts(target, this.deps.homeDir);
        let keyDir: string | undefined;
        try {
            let identityFile: string | undefined;
            if (opts.operatorKey) {
                const key = outputs.operatorPrivateKey?.value;
                if (typeof key !== "string") throw new Error(`stack ${stack} has no operatorPrivateKey output; log in with your own key (drop --operator-key)`);
                // A private directory, removed when ssh exits: the key never outlives the session.
                keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-ssh-"));
                identityFile = path.join(keyDir, "operator");
                fs.writeFileSync(identityFile, key.endsWith("\n") ? key : key + "\n", { mode: 0o600 });
            }
            return await this.deps.runSsh(sshArgs(target, knownHostsFile, { identityFile, extra: opts.extra }));
        } finally {
            if (keyDir) fs.rmSync(keyDir, { recursive: true, force: true });
        }
    }
}

function firstLine(s: string): string {
    return s.split("\n")[0] ?? s;
}

/** For `nixlab --help`: where credentials come from, per backend. */
export function credentialsHelp(): string {
    return Object.entries(CREDENTIALS)
        .map(([k, v]) => `  ${k.padEnd(10)}${v.fix}`)
        .join("\n");
}
