/**
 * What the real-libvirt test files share: running the engine in its own process, the
 * fixture image as an artifact, a one-node lab, the access files a test ssh needs, and
 * what libvirt still holds (leftovers) or held from a crashed run (cleanup by name).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "vitest";
import { domainProvider, networkProvider, poolProvider, virsh } from "../../providers/libvirt/provider";
import type { OpRecord, RunReport } from "./engine";
import { readState } from "./engine";

export const REPO = path.resolve(__dirname, "..", "..");
/** The test libvirtd's own socket (remote tests reach the same daemon over ssh). */
export const LOCAL_URI = "qemu:///system";
export const POOL_DIR = "/var/lib/libvirt/nixlab";
export const T = "pulumi-nodejs:dynamic/nixlab-libvirt:";

export interface ExecResult {
    code: number;
    stdout: string;
    stderr: string;
}

export function exec(
    cmd: string,
    args: string[],
    timeoutMs = 60_000,
    opts: { env?: NodeJS.ProcessEnv; detached?: boolean } = {},
): Promise<ExecResult & { signal?: string }> {
    return new Promise((resolve) => {
        // spawn, not execFile: execFile drops `detached`. Detached = its own process group,
        // so a fault shim can SIGKILL the whole engine and everything it started.
        const child = spawn(cmd, args, { env: opts.env ?? process.env, detached: opts.detached ?? false, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("error", (e) => {
            clearTimeout(timer);
            resolve({ code: 127, stdout, stderr: stderr + String(e) });
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve({ code: code ?? 1, stdout, stderr, ...(signal ? { signal } : {}) });
        });
    });
}

/** The debootstrap fixture (infra/build-fixture-image.sh) as `nixlab:lab.image.artifacts[0]`. */
export function fixtureArtifact(fixtureDir: string) {
    const image = JSON.parse(fs.readFileSync(path.join(fixtureDir, "image.json"), "utf8")) as {
        sha256: string;
        cmdline: string;
        bootMode: "bios" | "uefi";
    };
    return {
        path: path.join(fixtureDir, "disk.qcow2"),
        format: "qcow2",
        arch: "x86_64",
        bootMode: image.bootMode,
        sha256: image.sha256,
        kernel: path.join(fixtureDir, "vmlinuz"),
        initrd: path.join(fixtureDir, "initrd.img"),
        cmdline: image.cmdline,
    };
}

/** `nixlab:lab` for one small TCG node named `solo`, logging in with `<work>/user.pub`. */
export function oneNodeLab(name: string, cidr: string, work: string, fixtureDir: string) {
    return {
        name,
        owner: "ci@example.com",
        ttl: "2h",
        network: { cidr },
        user: { name: "lab", sshAuthorizedKeys: [fs.readFileSync(path.join(work, "user.pub"), "utf8").trim()] },
        image: { artifacts: [fixtureArtifact(fixtureDir)] },
        defaults: { vcpus: 1, memoryGiB: 1, rootDiskGiB: 4, kvm: "none" },
        nodes: [{ name: "solo" }],
    };
}

/**
 * One engine run in its own process (Pulumi's runtime is global to a process), its output
 * kept in `logFile`. `prefix` runs it under another command (e.g. `ip netns exec`).
 */
export interface EngineRunArgs {
    action: "up" | "destroy";
    label: string;
    work: string;
    logFile: string;
    prefix?: string[];
    /** Extra environment (a fault shim first on PATH, TMPDIR). */
    env?: Record<string, string>;
}

/** An engine run that may fail or be killed: its exit, signal, report (if it wrote one) and log. */
export async function runEngineRaw(args: EngineRunArgs): Promise<{ code: number; signal?: string; report?: RunReport; log: string; seconds: number }> {
    const started = Date.now();
    // The project's own TypeScript hook, not tsx: ~1 s less per engine run (issue 11).
    const argv = [...(args.prefix ?? []), process.execPath, "--require", path.join(REPO, "scripts", "ts-hook.cjs"), path.join(__dirname, "engine.ts"), args.action, args.work];
    const reportFile = path.join(args.work, "last-run.json");
    fs.rmSync(reportFile, { force: true });
    const r = await exec(argv[0]!, argv.slice(1), 25 * 60_000, { env: { ...process.env, ...args.env }, detached: true });
    fs.writeFileSync(args.logFile, r.stdout + r.stderr);
    const report = fs.existsSync(reportFile) ? (JSON.parse(fs.readFileSync(reportFile, "utf8")) as RunReport) : undefined;
    fs.rmSync(reportFile, { force: true });
    return { code: r.code, signal: r.signal, report, log: r.stdout + r.stderr, seconds: (Date.now() - started) / 1000 };
}

export async function runEngine(args: EngineRunArgs): Promise<{ report: RunReport; seconds: number }> {
    const started = Date.now();
    const r = await runEngineRaw(args);
    const report = r.report;
    if (!report || !report.ok) {
        throw new Error(
            `engine ${args.action} (${args.label}) failed: ${report?.error ?? `no report, exit ${r.code}${r.signal ? ` (${r.signal})` : ""}`}\n--- log ${args.logFile} (tail) ---\n${r.log.slice(-6000)}`,
        );
    }
    return { report, seconds: (Date.now() - started) / 1000 };
}

/** `type name op` lines, sorted: the whole plan of a run in one comparable value. */
export function opLines(ops: OpRecord[]): string[] {
    return ops.map((o) => `${o.type.replace(T, "").replace("pulumi-nodejs:dynamic/", "")} ${o.name} ${o.op}`).sort();
}

export async function virshNames(args: string[]): Promise<string[]> {
    const r = await virsh(LOCAL_URI, args);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
}

/** Names of libvirt objects left behind (infra/smoke-boot.sh's own may exist while it runs alongside). */
export async function leftovers(prefix = "nixlab-"): Promise<string[]> {
    return [
        ...(await virshNames(["list", "--all", "--name"])),
        ...(await virshNames(["net-list", "--all", "--name"])),
        ...(await virshNames(["pool-list", "--all", "--name"])),
    ].filter((n) => n.startsWith(prefix) && !n.startsWith("nixlab-smoke"));
}

/**
 * Deletes a lab's domains (`nixlab-<lab>.<node>`, and the older `nixlab-<lab>-<node>`),
 * serial logs, network and pool by name over the local socket: test equipment for what a
 * crashed earlier run left, so no identity is checked.
 */
export async function deleteLabByName(lab: string): Promise<void> {
    for (const d of (await virshNames(["list", "--all", "--name"])).filter((n) => n.startsWith(`nixlab-${lab}.`) || n.startsWith(`nixlab-${lab}-`))) {
        await domainProvider.delete!(d, { uri: LOCAL_URI, name: d, serialLog: `${SERIAL_LOG_DIR}/${d}.serial.log`, hypervisorSsh: [], nodeName: d });
    }
    await networkProvider.delete!(`nixlab-${lab}`, { uri: LOCAL_URI, name: `nixlab-${lab}` });
    await poolProvider.delete!(`nixlab-${lab}`, { uri: LOCAL_URI, name: `nixlab-${lab}` });
    for (const f of fs.existsSync(SERIAL_LOG_DIR) ? fs.readdirSync(SERIAL_LOG_DIR) : []) {
        if (f.startsWith(`nixlab-${lab}.`) || f.startsWith(`nixlab-${lab}-`)) fs.rmSync(path.join(SERIAL_LOG_DIR, f), { force: true });
    }
}

export const SERIAL_LOG_DIR = "/var/log/libvirt/qemu";

/**
 * Files a lab may leave on the host: its pool directory, serial logs (and rotated copies)
 * and, under `tmpDir` (the engine's TMPDIR), temp dirs with seed content. Empty when
 * destroy left nothing.
 */
export function fileLeftovers(lab: string, tmpDir?: string): string[] {
    const found: string[] = [];
    if (fs.existsSync(path.join(POOL_DIR, lab))) found.push(path.join(POOL_DIR, lab));
    for (const f of fs.existsSync(SERIAL_LOG_DIR) ? fs.readdirSync(SERIAL_LOG_DIR) : []) {
        if (f.startsWith(`nixlab-${lab}.`) || f.startsWith(`nixlab-${lab}-`)) found.push(path.join(SERIAL_LOG_DIR, f));
    }
    if (tmpDir && fs.existsSync(tmpDir)) for (const f of fs.readdirSync(tmpDir)) if (f.startsWith("nixlab-")) found.push(path.join(tmpDir, f));
    return found;
}

/**
 * ssh to a node from inside the namespace with the program's operator key, checking the
 * host key against the lab's `knownHosts` output (StrictHostKeyChecking=yes): it passes
 * only if the host key the program generated was installed by cloud-init.
 */
export async function sshTo(netns: string, to: { work: string; alias: string; host: string; port: number }, command: string): Promise<string> {
    const args = [
        "netns", "exec", netns, "ssh",
        "-i", path.join(to.work, "operator.key"),
        "-p", String(to.port),
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", `UserKnownHostsFile=${path.join(to.work, "known_hosts")}`,
        "-o", `HostKeyAlias=${to.alias}`,
        "-o", "ConnectTimeout=10",
        "-o", "LogLevel=ERROR",
        `lab@${to.host}`,
        command,
    ];
    let last: ExecResult = { code: -1, stdout: "", stderr: "" };
    // sshd may still be settling when the readiness line appears (after a restart under TCG
    // on a busy host it refused connections for over 30 s): retried for up to 5 minutes, so
    // a slow machine does not fail the test; a wrong host key fails at once.
    const deadline = Date.now() + 5 * 60_000;
    do {
        last = await exec("ip", args, 60_000);
        if (last.code === 0) return last.stdout.trim();
        if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(last.stderr)) break;
        await new Promise((r) => setTimeout(r, 5000));
    } while (Date.now() < deadline);
    throw new Error(`ssh ${to.alias} ${JSON.stringify(command)} failed (exit ${last.code}): ${last.stderr.trim()}`);
}

/**
 * A `virsh` stand-in first on PATH: runs the real one, except for the calls a fault file
 * names (`<dir>/fault`: action, first call number, how many calls, regex over the
 * arguments, stderr text). `kill` SIGKILLs the caller's whole process group (the engine
 * and everything it started, run detached); `fail` prints the text and exits 1 without
 * asking libvirt, as virsh does when its connection drops; `orphan` SIGKILLs only the
 * engine (the parent of the dynamic-provider host that runs virsh), as a killed `pulumi
 * up` whose plugin lives on, writes the host's pid to `<dir>/host.pid`, and holds the
 * call until `<dir>/release` exists (then runs it for real) or the host's own timeout on
 * the call ends it. With `trace`, every call's
 * start and end (exit code) go to `<dir>/calls.log`.
 */
export function writeVirshShim(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const real = ["/usr/bin/virsh", "/usr/local/bin/virsh", "/bin/virsh"].find((p) => fs.existsSync(p)) ?? "/usr/bin/virsh";
    fs.writeFileSync(
        path.join(dir, "virsh"),
        `#!/bin/sh
if [ -f '${dir}/fault' ]; then
    { read -r action; read -r first; read -r times; read -r re; read -r text; } <'${dir}/fault'
    # Each command of a batch (provider.ts virshBatch: 'a; echo <mark>; b') on its own line:
    # a fault on any of them fails the whole process, as a dropped connection would.
    if printf '%s\\n' "$*" | sed 's/; /\\n/g' | grep -Eq -- "$re"; then
        exec 9>'${dir}/count.lock'
        flock 9
        n=$(( $(cat '${dir}/count' 2>/dev/null || echo 0) + 1 ))
        echo "$n" >'${dir}/count'
        flock -u 9
        if [ "$n" -ge "$first" ] && [ "$n" -lt $((first + times)) ]; then
            printf '%s\\n' "$n $*" >>'${dir}/faults.log'
            case "$action" in
                kill) /bin/kill -KILL -- "-$(ps -o pgid= -p $$ | tr -d ' ')" ;;
                fail) printf '%b\\n' "$text" >&2; exit 1 ;;
                orphan)
                    echo "$PPID" >'${dir}/host.pid'
                    /bin/kill -KILL "$(ps -o ppid= -p "$PPID" | tr -d ' ')"
                    # Held until the release. The host gives up on a call after its own
                    # timeout (300 s: it SIGKILLs this shell); the caller's checks must hold either way.
                    while [ ! -f '${dir}/release' ]; do sleep 1; done ;;
            esac
        fi
    fi
fi
if [ -f '${dir}/trace' ]; then
    printf '%s start %s\\n' "$$" "$*" >>'${dir}/calls.log'
    ${real} "$@"
    rc=$?
    printf '%s end %s\\n' "$$" "$rc" >>'${dir}/calls.log'
    exit "$rc"
fi
exec ${real} "$@"
`,
        { mode: 0o755 },
    );
}

/** Arms the shim: the `first`..`first+times-1`-th calls matching `re` get the fault. */
export function armFault(dir: string, f: { action: "kill" | "fail" | "orphan"; re: string; first?: number; times?: number; text?: string; trace?: boolean }): void {
    for (const file of ["count", "faults.log", "host.pid", "release", "calls.log", "trace"]) fs.rmSync(path.join(dir, file), { force: true });
    if (f.trace) fs.writeFileSync(path.join(dir, "trace"), "");
    fs.writeFileSync(path.join(dir, "fault"), [f.action, String(f.first ?? 1), String(f.times ?? 1), f.re, f.text ?? ""].join("\n") + "\n");
}

export function disarmFault(dir: string): string[] {
    fs.rmSync(path.join(dir, "fault"), { force: true });
    const log = path.join(dir, "faults.log");
    return fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter((l) => l !== "") : [];
}

/**
 * Writes `<work>/known_hosts` (the lab's `knownHosts` output) and `<work>/operator.key`,
 * taken from the state because the secret output is masked.
 */
export function saveAccess(report: RunReport, lab: string, work: string): void {
    fs.writeFileSync(path.join(work, "known_hosts"), String(report.outputs.knownHosts));
    const state = readState(path.join(work, "state.json"));
    const key = Object.values(state.resources).find((e) => e.name === `${lab}-operator-key`);
    fs.writeFileSync(path.join(work, "operator.key"), String(key?.outs.privateKeyOpenssh), { mode: 0o600 });
}
