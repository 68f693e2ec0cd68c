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
            return { startMs: Number(s) / 1000, endMs: Number(e) / 1000, code: Number(rc), args: args.filter((a, i) => !(i < 2 && (a === "-c" || a === URI))) };
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
    "version",
    "capabilities",
    "domcapabilities",
]);

export function writes(calls: VirshCall[]): VirshCall[] {
    return calls.filter((c) => {
        const sub = c.args[0] ?? "";
        if (!READ_ONLY.has(sub)) return true;
        return sub === "metadata" && c.args.some((a) => a === "--set" || a === "--remove");
    });
}

export interface EngineRun {
    seconds: number;
    startedMs: number;
    endedMs: number;
    report: { ok: boolean; error?: string; ops: { type: string; name: string; op: string; ms: number }[]; outputs: Record<string, unknown> };
    virsh: VirshCall[];
}

/** One engine run (`up` or `destroy`) in its own process, its virsh calls logged. */
export async function runEngine(action: "up" | "destroy", work: string, shimDir: string): Promise<EngineRun> {
    const virshLog = path.join(work, `virsh-${action}.log`);
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
    return { seconds: (endedMs - startedMs) / 1000, startedMs, endedMs, report, virsh: readVirshLog(virshLog) };
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
 * to the readiness check's end (the provider asks `virsh domuuid` right after it saw the
 * ready line); any virsh call other than the readiness polls (`domstate`) that runs in
 * that window is control-plane work and stays counted.
 */
export function controlPlane(run: EngineRun): ControlPlane {
    const boot: [number, number][] = [];
    for (const c of run.virsh) {
        if (c.args[0] !== "start") continue;
        const name = c.args[1];
        const ready = run.virsh.find((d) => d.args[0] === "domuuid" && d.args[1] === name && d.startMs >= c.endMs);
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
