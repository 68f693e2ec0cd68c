/**
 * Offline plan timings: the command `npm run plan` runs (package.json), per stack, as a
 * fresh process each time, the way a user and the plan workflow run it.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { nodeScriptArgs } from "../scripts/npmScript";
import { knownStacks } from "../scripts/plan";

export const REPO = path.resolve(__dirname, "..");

export function planCommand(): string[] {
    return [process.execPath, ...nodeScriptArgs("plan")];
}

/** The stacks the bench plans: every file in stacks/. */
export const stacks = knownStacks;

export interface Timing {
    /** Wall-clock seconds. */
    seconds: number;
    /** CPU seconds (user + system) of the process: what a busy machine does not inflate. */
    cpuSeconds: number;
}

/**
 * One run of the plan command with `args`, timed by GNU time (wall and the child's CPU);
 * throws with its stderr when it fails.
 */
export function timePlan(args: string[]): Timing {
    const [cmd, ...rest] = planCommand();
    const out = path.join(fs.mkdtempSync("/tmp/nixlab-bench-time-"), "time");
    const r = spawnSync("/usr/bin/time", ["-f", "%e %U %S", "-o", out, cmd!, ...rest, ...args], { cwd: REPO, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`plan ${args.join(" ")} failed (exit ${r.status}): ${r.stderr}`);
    const [wall, user, sys] = fs.readFileSync(out, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
    return { seconds: wall!, cpuSeconds: user! + sys! };
}

export interface PlanTimes {
    /** Median (by wall time) of `runs` plans per stack. */
    perStack: Record<string, Timing>;
    /** One plan of every stack, one process after another (what the plan workflow does). */
    oneByOne: Timing;
    /** `npm run plan -- --all`: every stack in one process. */
    all: Timing;
    runs: number;
}

export function benchPlans(runs = 3): PlanTimes {
    const names = stacks();
    // The first plan after a change fills the transform and bytecode caches; users pay it
    // once per edit, not per plan, so it is not counted.
    timePlan(["--stack", names[0]!]);
    const perStack: Record<string, Timing> = {};
    for (const s of names) {
        const times = Array.from({ length: runs }, () => timePlan(["--stack", s])).sort((a, b) => a.seconds - b.seconds);
        perStack[s] = times[Math.floor(times.length / 2)]!;
    }
    const oneByOne = names.map((s) => timePlan(["--stack", s])).reduce((a, b) => ({ seconds: a.seconds + b.seconds, cpuSeconds: a.cpuSeconds + b.cpuSeconds }));
    return { perStack, oneByOne, all: timePlan(["--all"]), runs };
}
