/**
 * Does the lab fit on the hypervisor? Compared before anything is created: the lab's total
 * vCPUs and memory with `virsh nodeinfo`, and its disks with the free space of the
 * filesystem holding the pool directory (`df` there, over the URI's own ssh for a remote
 * host). Nothing is overcommitted unless `nixlab:libvirt.overcommit` says so: a lab that
 * does not fit otherwise boots into swapping, OOM kills or a full disk hours later.
 *
 * Disk sizes are the virtual sizes of the qcow2 overlays and volumes: they start thin but
 * a lab that fills them must not take the host's disk down with it. The base image,
 * shared by the nodes, is not counted.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { LAB_CONFIG_KEY, type LabSpec } from "../../components/spec";
import type { Problem } from "../../components/problems";
import { CONFIG_KEY, hypervisorSshFor, type LibvirtConfig } from "./config";
import { batchScript, splitBatch } from "./provider";
import { labResourceName, poolPath } from "./render";

const GiB = 1024 ** 3;

/** What the hypervisor has, as read from it. */
export interface HostCapacity {
    cpus: number;
    memoryBytes: number;
    /** Free bytes on the filesystem that will hold the lab's pool. */
    diskFreeBytes: number;
    /** Bytes already allocated in this lab's pool (an `up` of a lab that exists): they count as free for it. */
    poolAllocationBytes: number;
}

/** What the lab asks for. */
export interface LabDemand {
    vcpus: number;
    memoryBytes: number;
    diskBytes: number;
}

export function labDemand(lab: LabSpec): LabDemand {
    let vcpus = 0;
    let memoryGiB = 0;
    let diskGiB = 0;
    for (const n of lab.nodes) {
        vcpus += n.vcpus;
        memoryGiB += n.memoryGiB;
        diskGiB += n.rootDiskGiB + n.volumes.reduce((s, v) => s + v.sizeGiB, 0);
    }
    return { vcpus, memoryBytes: memoryGiB * GiB, diskBytes: diskGiB * GiB };
}

const gib = (bytes: number) => `${Number((bytes / GiB).toFixed(1))} GiB`;

/** The numbers, compared; a problem per resource that does not fit. */
export function capacityProblems(lab: LabSpec, cfg: LibvirtConfig, host: HostCapacity): Problem[] {
    const want = labDemand(lab);
    const { vcpus: cpuRatio, memory: memRatio, disk: diskRatio } = cfg.overcommit;
    const where = `the hypervisor (${cfg.uri})`;
    const how = (key: string) => `make the lab smaller, use a bigger hypervisor, or allow overcommit explicitly with ${CONFIG_KEY}.overcommit.${key}`;
    const problems: Problem[] = [];
    const cpuLimit = host.cpus * cpuRatio;
    if (want.vcpus > cpuLimit) {
        problems.push({
            path: `${LAB_CONFIG_KEY}.nodes`,
            message: `ask for ${want.vcpus} vCPUs in total, but ${where} has ${host.cpus} CPUs${cpuRatio !== 1 ? ` (× overcommit ${cpuRatio} = ${cpuLimit})` : ""}; ${how("vcpus")}`,
        });
    }
    const memLimit = host.memoryBytes * memRatio;
    if (want.memoryBytes > memLimit) {
        problems.push({
            path: `${LAB_CONFIG_KEY}.nodes`,
            message: `ask for ${gib(want.memoryBytes)} of memory in total, but ${where} has ${gib(host.memoryBytes)}${memRatio !== 1 ? ` (× overcommit ${memRatio} = ${gib(memLimit)})` : ""}; ${how("memory")}`,
        });
    }
    const available = host.diskFreeBytes + host.poolAllocationBytes;
    const diskLimit = available * diskRatio;
    if (want.diskBytes > diskLimit) {
        problems.push({
            path: `${LAB_CONFIG_KEY}.nodes`,
            message:
                `ask for ${gib(want.diskBytes)} of disks (root disks and volumes, full size), but ${poolPath(cfg.poolDir, lab.name)} on ${where} has ${gib(available)} available` +
                `${diskRatio !== 1 ? ` (× overcommit ${diskRatio} = ${gib(diskLimit)})` : ""}; ${how("disk")}, or point ${CONFIG_KEY}.poolDir at a bigger filesystem`,
        });
    }
    return problems;
}

/** How placement reads the hypervisor; tests hand in their own. */
export type CapacityProbe = (lab: LabSpec, cfg: LibvirtConfig) => HostCapacity;

function run(cmd: string, args: string[]): string {
    try {
        return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
    } catch (e) {
        const err = e as { stderr?: string; code?: string; message: string };
        const why = err.code === "ENOENT" ? `${cmd} is not installed` : (err.stderr?.trim() || err.message).split("\n").slice(-3).join(" ");
        throw new Error(`${[cmd, ...args].join(" ")}: ${why}`);
    }
}

/** `virsh nodeinfo`: "CPU(s): 8", "Memory size: 32768000 KiB". */
export function parseNodeinfo(out: string): { cpus: number; memoryBytes: number } {
    const cpus = /^CPU\(s\):\s+(\d+)\s*$/m.exec(out);
    const mem = /^Memory size:\s+(\d+)\s+KiB\s*$/m.exec(out);
    if (!cpus || !mem) throw new Error(`virsh nodeinfo printed no CPU(s)/Memory size lines: ${JSON.stringify(out.slice(0, 200))}`);
    return { cpus: Number(cpus[1]), memoryBytes: Number(mem[1]) * 1024 };
}

/** `df -P -B1` output → available bytes of its one filesystem line. */
export function parseDf(out: string): number {
    const line = out.trim().split("\n").pop() ?? "";
    const cols = line.split(/\s+/);
    const avail = Number(cols[3]);
    if (cols.length < 6 || !Number.isFinite(avail)) throw new Error(`df printed no filesystem line: ${JSON.stringify(out.slice(0, 200))}`);
    return avail;
}

const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * nodeinfo, the lab pool's allocation and the pool listing in ONE virsh process (a process
 * is ~50 ms of the `up` before anything is created; issue 11), the listing last so virsh's
 * exit status is the listing's (provider.ts virshBatch). undefined when the batch does not
 * prove all three: the caller asks one command at a time.
 */
function batchedVirsh(uri: string, pool: string): { nodeinfo: string; pools: string[]; poolInfo: string } | undefined {
    const mark = `nixlab-mark-${randomBytes(6).toString("hex")}`;
    const script = batchScript([["nodeinfo"], ["pool-info", "--bytes", pool], ["pool-list", "--all", "--name"]], mark);
    if (script === undefined) return undefined;
    const r = spawnSync("virsh", ["-c", uri, script], { encoding: "utf8", timeout: 60_000 });
    const out = r.status === 0 ? splitBatch(r.stdout, mark, 3) : undefined;
    if (!out) return undefined;
    const pools = out[2]!.split("\n").map((s) => s.trim());
    // A listed pool whose info failed (or nodeinfo failed): not proven, ask again.
    if ((pools.includes(pool) && !/^Allocation:\s+\d+/m.test(out[1]!)) || !/^CPU\(s\):/m.test(out[0]!)) return undefined;
    return { nodeinfo: out[0]!, pools, poolInfo: out[1]! };
}

/** The real probe: virsh for CPUs, memory and the pool; df where the pool goes. */
export const virshCapacityProbe: CapacityProbe = (lab, cfg) => {
    const pool = labResourceName(lab.name);
    const batch = batchedVirsh(cfg.uri, pool);
    const node = parseNodeinfo(batch?.nodeinfo ?? run("virsh", ["-c", cfg.uri, "nodeinfo"]));
    // The pool directory may not exist yet: df the nearest directory that does.
    const script = `d=${shQuote(poolPath(cfg.poolDir, lab.name))}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -P -B1 "$d"`;
    const ssh = hypervisorSshFor(cfg.uri);
    const dfOut = ssh ? run(ssh.command, ["-o", "BatchMode=yes", ...ssh.args, script]) : run("sh", ["-c", script]);
    let poolAllocationBytes = 0;
    const pools = batch?.pools ?? run("virsh", ["-c", cfg.uri, "pool-list", "--all", "--name"]).split("\n").map((s) => s.trim());
    if (pools.includes(pool)) {
        const info = batch?.poolInfo ?? run("virsh", ["-c", cfg.uri, "pool-info", "--bytes", pool]);
        poolAllocationBytes = Number(/^Allocation:\s+(\d+)/m.exec(info)?.[1] ?? 0);
    }
    return { ...node, diskFreeBytes: parseDf(dfOut), poolAllocationBytes };
};

/** Set to "off" to skip the check (offline runs, test suites that never reach a hypervisor). */
export const CAPACITY_CHECK_ENV = "NIXLAB_CAPACITY_CHECK";

export type CapacityOutcome = { problems: Problem[]; note?: string };

/**
 * The check as placement runs it. An unreachable hypervisor is a note during a preview
 * (a PR's preview may run where the hypervisor is not reachable) and a problem for an
 * `up`, which would fail creating the first object anyway, later and less clearly.
 */
export function checkCapacity(lab: LabSpec, cfg: LibvirtConfig, probe: CapacityProbe, opts: { dryRun: boolean; env: NodeJS.ProcessEnv }): CapacityOutcome {
    if (opts.env[CAPACITY_CHECK_ENV] === "off") return { problems: [], note: `capacity of ${cfg.uri} not checked (${CAPACITY_CHECK_ENV}=off)` };
    let host: HostCapacity;
    try {
        host = probe(lab, cfg);
    } catch (e) {
        const why = (e as Error).message;
        if (opts.dryRun) return { problems: [], note: `capacity of ${cfg.uri} not checked, the hypervisor could not be read: ${why}` };
        return {
            problems: [
                {
                    path: `${CONFIG_KEY}.uri`,
                    message: `cannot read the hypervisor's capacity before creating the lab: ${why}; check that \`virsh -c ${cfg.uri} nodeinfo\` works from here`,
                },
            ],
        };
    }
    return { problems: capacityProblems(lab, cfg, host) };
}
