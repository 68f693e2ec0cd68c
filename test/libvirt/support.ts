/**
 * What the real-libvirt test files share: running the engine in its own process, the
 * fixture image as an artifact, a one-node lab, the access files a test ssh needs, and
 * what libvirt still holds (leftovers) or held from a crashed run (cleanup by name).
 */
import { execFile } from "node:child_process";
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

export function exec(cmd: string, args: string[], timeoutMs = 60_000): Promise<ExecResult> {
    return new Promise((resolve) => {
        execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
            resolve({ code, stdout: String(stdout), stderr: String(stderr) });
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
export async function runEngine(args: {
    action: "up" | "destroy";
    label: string;
    work: string;
    logFile: string;
    prefix?: string[];
}): Promise<{ report: RunReport; seconds: number }> {
    const started = Date.now();
    // The project's own TypeScript hook, not tsx: ~1 s less per engine run (issue 11).
    const argv = [...(args.prefix ?? []), process.execPath, "--require", path.join(REPO, "scripts", "ts-hook.cjs"), path.join(__dirname, "engine.ts"), args.action, args.work];
    const r = await exec(argv[0]!, argv.slice(1), 25 * 60_000);
    fs.writeFileSync(args.logFile, r.stdout + r.stderr);
    const reportFile = path.join(args.work, "last-run.json");
    const report = fs.existsSync(reportFile) ? (JSON.parse(fs.readFileSync(reportFile, "utf8")) as RunReport) : undefined;
    fs.rmSync(reportFile, { force: true });
    if (!report || !report.ok) {
        throw new Error(
            `engine ${args.action} (${args.label}) failed: ${report?.error ?? `no report, exit ${r.code}`}\n--- log ${args.logFile} (tail) ---\n${(r.stdout + r.stderr).slice(-6000)}`,
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

/** Deletes a lab's domains, network and pool by name over the local socket. */
export async function deleteLabByName(lab: string): Promise<void> {
    for (const d of (await virshNames(["list", "--all", "--name"])).filter((n) => n.startsWith(`nixlab-${lab}-`))) {
        await domainProvider.delete!(d, { uri: LOCAL_URI, name: d });
    }
    await networkProvider.delete!(`nixlab-${lab}`, { uri: LOCAL_URI, name: `nixlab-${lab}` });
    await poolProvider.delete!(`nixlab-${lab}`, { uri: LOCAL_URI, name: `nixlab-${lab}` });
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
