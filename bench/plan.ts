/**
 * Offline plan timings: the command `npm run plan` runs (package.json), per stack, as a
 * fresh process each time, the way a user and the plan workflow run it.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const REPO = path.resolve(__dirname, "..");

export function planCommand(): string[] {
    const script = (JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { scripts: { plan: string } }).scripts.plan;
    const [cmd, ...args] = script.split(" ");
    if (cmd !== "node") throw new Error(`package.json scripts.plan must start with node: ${script}`);
    return [process.execPath, ...args];
}

export function stacks(): string[] {
    return fs
        .readdirSync(path.join(REPO, "stacks"))
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => !!s)
        .sort();
}

/** Seconds for one plan of `stack`; throws with its stderr when it fails. */
export function timePlan(stack: string): number {
    const [cmd, ...args] = planCommand();
    const started = process.hrtime.bigint();
    const r = spawnSync(cmd!, [...args, "--stack", stack], { cwd: REPO, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (r.status !== 0) throw new Error(`plan of ${stack} failed (exit ${r.status}): ${r.stderr}`);
    return seconds;
}

export interface PlanTimes {
    /** Median of `runs` plans per stack. */
    perStack: Record<string, number>;
    /** One plan of every stack, one after another (what the plan workflow does). */
    allSeconds: number;
    runs: number;
}

export function benchPlans(runs = 3): PlanTimes {
    const names = stacks();
    // The first plan after a change fills the transform and bytecode caches; users pay it
    // once per edit, not per plan, so it is not counted.
    timePlan(names[0]!);
    const perStack: Record<string, number> = {};
    for (const s of names) {
        const times = Array.from({ length: runs }, () => timePlan(s)).sort((a, b) => a - b);
        perStack[s] = times[Math.floor(times.length / 2)]!;
    }
    const started = process.hrtime.bigint();
    for (const s of names) timePlan(s);
    return { perStack, allSeconds: Number(process.hrtime.bigint() - started) / 1e9, runs };
}
