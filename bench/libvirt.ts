/**
 * The libvirt rows of the bench: a lab brought up, left unchanged and destroyed through
 * the nixlab program with every libvirt resource really executed (test/libvirt/engine.ts,
 * the real-libvirt suite's harness), and the same image booted by raw QEMU as the limit.
 *
 * Every `virsh` the providers run goes through a logging shim on PATH, so the bench knows
 * when each domain was started and when its readiness was seen: control-plane time is the
 * run's wall time minus the time spent only waiting for guests to boot, and an unchanged
 * `up` is shown to write nothing.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO } from "./plan";

export const URI = "qemu:///system";
export const BENCH_DIR = "/tmp/nixlab-bench";
const HOOK = path.join(REPO, "scripts", "ts-hook.cjs");
const ENGINE = path.join(REPO, "test", "libvirt", "engine.ts");

export interface Exec {
    code: number;
    stdout: string;
    stderr: string;
}

export function exec(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Exec> {
    return new Promise((resolve) => {
        const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30 * 60_000);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code: code ?? 1, stdout, stderr });
        });
        child.on("error", (e) => {
            clearTimeout(timer);
            resolve({ code: 127, stdout, stderr: String(e) });
        });
    });
}

export async function must(cmd: string, args: string[]): Promise<string> {
    const r = await exec(cmd, args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
}

/** A `virsh` on PATH that logs `<start ms> <end ms> <exit> <args>` per call, then behaves as virsh. */
export function virshShim(dir: string, realVirsh: string): string {
    fs.mkdirSync(dir, { recursive: true });
    const shim = path.join(dir, "virsh");
    fs.writeFileSync(
        shim,
        [
            "#!/bin/bash",
            // EPOCHREALTIME: no fork per timestamp, so the shim costs ~1 ms per call.
            's=$EPOCHREALTIME',
            `${realVirsh} "$@"`,
            "rc=$?",
            'printf "%s %s %s %s\\n" "${s/./}" "${EPOCHREALTIME/./}" "$rc" "$*" >> "$NIXLAB_BENCH_VIRSH_LOG"',
            "exit $rc",
            "",
        ].join("\n"),
        { mode: 0o755 },
    );
    return dir;
}

export interface VirshCall {
    startMs: number;
    endMs: number;
    code: number;
    args: string[];
    /**
     * The subcommands the call ran, each as its words: one for a plain call, several for a
     * batch (`virsh -c <uri> 'cmd a; echo <mark>; cmd b'`, provider.ts's virshBatch).
     */
    commands: string[][];
}

export function readVirshLog(file: string): VirshCall[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => {
            const [s, e, rc, ...args] = l.split(" ");
            // microseconds → ms
            const rest = args.filter((a, i) => !(i < 2 && (a === "-c" || a === URI)));
            const commands = rest
                .join(" ")
                .split(";")
                .map((c) => c.trim().split(/\s+/).filter((w) => w !== ""))
                .filter((c) => c.length > 0 && c[0] !== "echo");
            return { startMs: Number(s) / 1000, endMs: Number(e) / 1000, code: Number(rc), args: rest, commands };
        });
}

/** virsh subcommands that only read. Anything else an unchanged `up` runs is a write. */
const READ_ONLY = new Set([
    "list",
    "dominfo",
    "domstate",
    "domuuid",
    "dumpxml",
    "domblklist",
    "domiflist",
    "metadata", // writes only with --set/--remove, checked below
    "net-list",
    "net-info",
    "net-dumpxml",
    "net-uuid",
    "pool-list",
    "pool-info",
    "pool-dumpxml",
    "pool-uuid",
    "vol-list",
    "vol-info",
    "vol-path",
    "vol-dumpxml",
    "vol-key",
    "version",
    "capabilities",
    "domcapabilities",
    // The capacity check's host CPUs and memory (capacity.ts): a read, like `version`.
    "nodeinfo",
]);

/** Whether one subcommand (its words) changes anything in libvirt. */
function isWrite(command: string[]): boolean {
    const sub = command[0] === "-q" ? (command[1] ?? "") : (command[0] ?? "");
    if (!READ_ONLY.has(sub)) return true;
    return sub === "metadata" && command.some((a) => a === "--set" || a === "--remove");
}

/** Calls that ran at least one subcommand that writes. */
export function writes(calls: VirshCall[]): VirshCall[] {
    return calls.filter((c) => c.commands.some(isWrite));
}

/** The subcommand a call is counted under: its own, or `a+b` for a batch. */
export function callName(c: VirshCall): string {
    const name = (cmd: string[]) => (cmd[0] === "-q" ? (cmd[1] ?? "") : (cmd[0] ?? ""));
    return c.commands.length === 1 ? name(c.commands[0]!) : `batch(${c.commands.map(name).join("+")})`;
}

/**
 * Where a run's virsh time went, per subcommand: calls, seconds in them (summed, so
 * concurrent calls count each), and the run's first and last call against its start and end
 * (what the engine spends before and after libvirt: process start, program, provider host).
 */
export function virshSummary(run: Pick<EngineRun, "virsh" | "startedMs" | "endedMs">): string {
    const per = new Map<string, { n: number; ms: number; failed: number }>();
    for (const c of run.virsh) {
        const k = callName(c);
        const e = per.get(k) ?? { n: 0, ms: 0, failed: 0 };
        e.n += 1;
        e.ms += c.endMs - c.startMs;
        if (c.code !== 0) e.failed += 1;
        per.set(k, e);
    }
    const total = run.virsh.reduce((s, c) => s + (c.endMs - c.startMs), 0);
    const first = run.virsh.length ? Math.min(...run.virsh.map((c) => c.startMs)) : run.endedMs;
    const last = run.virsh.length ? Math.max(...run.virsh.map((c) => c.endMs)) : run.endedMs;
    const lines = [...per]
        .sort((a, b) => b[1].ms - a[1].ms)
        .map(([k, e]) => `  ${k.padEnd(40)} ${String(e.n).padStart(4)} calls ${(e.ms / 1000).toFixed(2).padStart(7)} s${e.failed ? ` (${e.failed} failed)` : ""}`);
    return [
        `${run.virsh.length} virsh calls, ${(total / 1000).toFixed(2)} s in virsh (summed); process start → first call ${((first - run.startedMs) / 1000).toFixed(2)} s, last call → exit ${((run.endedMs - last) / 1000).toFixed(2)} s`,
        ...lines,
    ].join("\n");
}

export interface EngineRun {
    seconds: number;
    startedMs: number;
    endedMs: number;
    report: { ok: boolean; error?: string; ops: { type: string; name: string; op: string; ms: number }[]; outputs: Record<string, unknown> };
    virsh: VirshCall[];
}

/** Runs of this bench so far: numbers each run's logs, so a later run does not overwrite them. */
let runs = 0;

/**
 * One engine run (`up` or `destroy`) in its own process, its virsh calls logged to
 * `<work>/virsh-<n>-<action>.log` (kept after the bench) and summarized on stderr.
 */
export async function runEngine(action: "up" | "destroy", work: string, shimDir: string): Promise<EngineRun> {
    runs += 1;
    const virshLog = path.join(work, `virsh-${runs}-${action}.log`);
    fs.rmSync(virshLog, { force: true });
    fs.rmSync(path.join(work, "last-run.json"), { force: true });
    const startedMs = Date.now();
    const r = await exec(process.execPath, ["--require", HOOK, ENGINE, action, work], {
        env: { ...process.env, PATH: `${shimDir}:${process.env.PATH}`, NIXLAB_BENCH_VIRSH_LOG: virshLog },
    });
    const endedMs = Date.now();
    fs.writeFileSync(path.join(work, `engine-${action}-${startedMs}.log`), r.stdout + r.stderr);
    const reportFile = path.join(work, "last-run.json");
    const report = fs.existsSync(reportFile) ? (JSON.parse(fs.readFileSync(reportFile, "utf8")) as EngineRun["report"]) : undefined;
    if (!report?.ok) throw new Error(`engine ${action} in ${work} failed: ${report?.error ?? `exit ${r.code}`}\n${(r.stdout + r.stderr).slice(-4000)}`);
    const run: EngineRun = { seconds: (endedMs - startedMs) / 1000, startedMs, endedMs, report, virsh: readVirshLog(virshLog) };
    process.stderr.write(`[bench] ${path.basename(work)} ${action} #${runs} (${run.seconds.toFixed(2)} s, log ${virshLog}): ${virshSummary(run)}\n`);
    return run;
}

/** Total length of a union of intervals. */
function unionMs(intervals: [number, number][]): number {
    const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
    let total = 0;
    let cur: [number, number] | undefined;
    for (const iv of sorted) {
        if (!cur || iv[0] > cur[1]) {
            if (cur) total += cur[1] - cur[0];
            cur = [iv[0], iv[1]];
        } else cur[1] = Math.max(cur[1], iv[1]);
    }
    if (cur) total += cur[1] - cur[0];
    return total;
}

export interface ControlPlane {
    seconds: number;
    /** Time only waiting for guests (removed from `seconds`). */
    bootWaitSeconds: number;
    virshCalls: number;
    virshSeconds: number;
}

/**
 * Control-plane time of an `up`: its wall time minus the time during which it was only
 * waiting for guests to boot. A guest's boot wait runs from the end of its `virsh start`
 * to the readiness check's end (the provider checks the domain is still its own, `virsh
 * dumpxml --inactive <uuid>`, right after it saw the ready line; older providers asked
 * `virsh domuuid <name>`); any virsh call other than the readiness polls (`domstate`) that
 * runs in that window is control-plane work and stays counted.
 */
export function controlPlane(run: EngineRun): ControlPlane {
    const boot: [number, number][] = [];
    for (const c of run.virsh) {
        if (c.args[0] !== "start") continue;
        const ref = c.args[1];
        const ready = run.virsh.find(
            (d) => d.startMs >= c.endMs && ((d.args[0] === "domuuid" && d.args[1] === ref) || (d.args[0] === "dumpxml" && d.args[1] === "--inactive" && d.args[2] === ref)),
        );
        boot.push([c.endMs, ready ? ready.startMs : run.endedMs]);
    }
    const work = run.virsh.filter((c) => c.args[0] !== "domstate").map((c): [number, number] => [c.startMs, c.endMs]);
    // Boot-only time = |boot ∪ work| − |work| (the part of the boot windows no work overlaps).
    const bootOnly = unionMs([...boot, ...work]) - unionMs(work);
    return {
        seconds: run.seconds - bootOnly / 1000,
        bootWaitSeconds: bootOnly / 1000,
        virshCalls: run.virsh.length,
        virshSeconds: run.virsh.reduce((s, c) => s + (c.endMs - c.startMs), 0) / 1000,
    };
}

/**
 * Resolves with the epoch ms at which an SSH server first answered with its banner on
 * 127.0.0.1:<port> inside network namespace `netns` (polling every 100 ms).
 */
export function waitForBanner(netns: string, port: number, timeoutMs: number): { done: Promise<number | undefined>; stop: () => void } {
    const script = [
        `end=$(( $(date +%s) + ${Math.ceil(timeoutMs / 1000)} ))`,
        'while [ "$(date +%s)" -lt "$end" ]; do',
        `  if b=$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && head -c 7 <&3' 2>/dev/null) && [ "$b" = SSH-2.0 ]; then`,
        '    echo "${EPOCHREALTIME/./}"; exit 0',
        "  fi",
        "  sleep 0.1",
        "done",
        "exit 1",
    ].join("\n");
    const child = spawn("ip", ["netns", "exec", netns, "bash", "-c", script], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const done = new Promise<number | undefined>((resolve) => child.on("close", (code) => resolve(code === 0 ? Number(out.trim()) / 1000 : undefined)));
    return { done, stop: () => child.kill("SIGKILL") };
}

/**
 * `p`, or undefined after `ms`. The timer is cleared when `p` settles: a pending one kept
 * the bench process (and so the shared libvirt lock) alive for its whole length.
 */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
        return await Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
    } finally {
        clearTimeout(timer);
    }
}
