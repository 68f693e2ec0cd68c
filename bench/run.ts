/**
 * `npm run bench`: how fast nixlab is where users wait, each row beside the limit measured
 * in the same run on the same machine. A benchmark, not a test: it prints numbers and the
 * targets of issue 11 beside them, and fails only when something could not be measured.
 *
 * Rows: offline plan per stack and for all; with root and the test libvirtd (the
 * real-libvirt suite's, test/libvirt/infra), a 1-node lab's `up` until ready against raw
 * QEMU booting the same image with the same seed, SSH banner times, control-plane time,
 * unchanged `up` and `destroy` for 1 and 8 nodes, and vagrant-libvirt's `vagrant up` of the
 * same node where installed (bench/vagrant.ts), against the same raw QEMU boot.
 *
 * package.json runs it under the shared libvirt lock (flock /tmp/nixlab-libvirt.lock), as
 * every real-libvirt run on a shared machine must.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describeMachine, type Machine } from "./machine";
import { benchPlans, REPO, stacks, type PlanTimes, type Timing } from "./plan";
import { BENCH_DIR, callName, controlPlane, must, runEngine, URI, virshShim, waitForBanner, within, writes, type ControlPlane, type EngineRun } from "./libvirt";
import { ensureNetns, rawBoot, type RawBoot } from "./qemu";
import { domainName, serialLogPath } from "../providers/libvirt/render";
import { parseLabConfig } from "../components/spec";
import { MANAGEMENT, VAGRANT_NAMES, vagrantAbsence, vagrantBoot, vagrantEnv, vagrantPrereqs, vagrantSeedFiles, writeSeedIso, type VagrantBoot } from "./vagrant";

const INFRA = path.join(REPO, "test", "libvirt", "infra");
const BENCH_NETNS = "nixlab-bench";
const SSH_PORT_1 = 2422;
const MARKER = "NIXLAB-READY";
const SERIAL_DIR = "/var/log/libvirt/qemu";

interface Row {
    what: string;
    nixlab: string;
    limit: string;
    ratio: string;
    target: string;
    met: string;
}

const rows: Row[] = [];
const notes: string[] = [];

function s(x: number | undefined): string {
    return x === undefined ? "-" : `${x.toFixed(2)} s`;
}

function row(what: string, nixlab: string, limit: string, ratio: string, target: string, met: boolean | undefined): void {
    rows.push({ what, nixlab, limit, ratio, target, met: met === undefined ? "" : met ? "yes" : "NO" });
}

function log(line: string): void {
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function script(name: string): string {
    const out = execFileSync(path.join(INFRA, name), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 * 1024 * 1024 });
    return out.trim().split("\n").pop() ?? "";
}

function sshKey(dir: string): void {
    if (fs.existsSync(path.join(dir, "user.pub"))) return;
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", path.join(dir, "user")]);
}

interface LabArgs {
    lab: string;
    work: string;
    fixtureDir: string;
    nodes: number;
    networkMode: "user" | "nat";
    cidr: string;
    memoryGiB: number;
    /** Kernel command line override (the 8-node lab boots guests that only sleep). */
    cmdline?: string;
}

/** The lab's `nixlab:lab` config (raw, as in a stack file). */
function labConfig(a: LabArgs): Record<string, unknown> {
    const image = JSON.parse(fs.readFileSync(path.join(a.fixtureDir, "image.json"), "utf8")) as { sha256: string; cmdline: string; bootMode: string };
    return {
        name: a.lab,
        owner: "bench@example.com",
        ttl: "2h",
        network: { cidr: a.cidr },
        user: { name: "lab", sshAuthorizedKeys: [fs.readFileSync(path.join(a.work, "user.pub"), "utf8").trim()] },
        image: {
            artifacts: [
                {
                    path: path.join(a.fixtureDir, "disk.qcow2"),
                    format: "qcow2",
                    arch: "x86_64",
                    bootMode: image.bootMode,
                    sha256: image.sha256,
                    kernel: path.join(a.fixtureDir, "vmlinuz"),
                    initrd: path.join(a.fixtureDir, "initrd.img"),
                    cmdline: a.cmdline ?? image.cmdline,
                },
            ],
        },
        defaults: { vcpus: 1, memoryGiB: a.memoryGiB, rootDiskGiB: 4, kvm: "none" },
        nodes: a.nodes === 1 ? [{ name: "solo" }] : { count: a.nodes, namePrefix: "node" },
    };
}

function writeProgram(a: LabArgs): void {
    const lab = labConfig(a);
    const libvirt = { uri: URI, accelerator: "tcg", networkMode: a.networkMode, ...(a.networkMode === "user" ? { sshForwardBasePort: SSH_PORT_1 } : {}), readyTimeoutSeconds: 900,
        // 8 one-vCPU nodes on a 2-core bench host: the capacity check refuses that without an
        // explicit vCPU overcommit (the 8-node guests only run `sleep`, see stubReadiness).
        overcommit: { vcpus: Math.max(1, a.nodes) } };
    fs.writeFileSync(
        path.join(a.work, "program.json"),
        JSON.stringify({ stack: a.lab, config: { "nixlab:backend": "libvirt", "nixlab:libvirt": JSON.stringify(libvirt), "nixlab:lab": JSON.stringify(lab) } }, null, 2),
    );
}

/** Control plane, unchanged `up` (all `same`, no virsh writes) and `destroy` of an n-node lab, against issue 11's limits. */
function labRows(
    nodes: number,
    m: { controlPlane: ControlPlane; unchanged: EngineRun; destroy: EngineRun },
    limit: { controlPlane: number; unchanged: number; destroy?: number },
): void {
    const n = nodes === 1 ? "1 node" : `${nodes} nodes`;
    const cp = m.controlPlane;
    row(`control plane, ${n} (up minus guest boot wait)`, s(cp.seconds), `${cp.virshCalls} virsh calls, ${cp.virshSeconds.toFixed(2)} s in virsh`, "", `≤ ${limit.controlPlane} s`, cp.seconds <= limit.controlPlane);
    const w = writes(m.unchanged.virsh);
    const allSame = m.unchanged.report.ops.every((o) => o.op === "same");
    row(
        `unchanged up, ${n}`,
        s(m.unchanged.seconds),
        `${opSummary(m.unchanged)}; ${w.length} virsh writes${w.length ? ` (${w.map(callName).join(", ")})` : ""}`,
        "",
        `≤ ${limit.unchanged} s, all same, 0 writes`,
        m.unchanged.seconds <= limit.unchanged && allSame && w.length === 0,
    );
    const d = m.destroy;
    row(`destroy, ${n}`, s(d.seconds), `${d.report.ops.length} deletes`, "", limit.destroy ? `≤ ${limit.destroy} s` : "", limit.destroy ? d.seconds <= limit.destroy : undefined);
}

function opSummary(run: EngineRun): string {
    const counts = new Map<string, number>();
    for (const o of run.report.ops) counts.set(o.op, (counts.get(o.op) ?? 0) + 1);
    return [...counts].map(([op, n]) => `${n} ${op}`).join(", ");
}

/** Removes what a crashed earlier bench left (by name: every bench lab is `nixlab-bench*`). */
async function cleanupLeftovers(shimDir: string): Promise<void> {
    for (const lab of ["bench1", "bench8"]) {
        const work = path.join(BENCH_DIR, lab);
        if (fs.existsSync(path.join(work, "state.json"))) {
            log(`destroying ${lab} left by an earlier run`);
            await runEngine("destroy", work, shimDir).catch((e) => log(String(e)));
        }
        fs.rmSync(work, { recursive: true, force: true });
    }
}

/** Removes console logs an earlier, killed run of `lab` left (destroy removes its own). */
function removeLogs(lab: string): void {
    const prefix = domainName(lab, "");
    for (const f of fs.readdirSync(SERIAL_DIR).filter((f) => f.startsWith(prefix))) fs.rmSync(path.join(SERIAL_DIR, f), { force: true });
}

/** Appends a ready line to each node's serial log once its domain runs (the 8-node lab's guests only sleep). */
function stubReadiness(lab: string, nodes: string[]): () => void {
    const done = new Set<string>();
    const timer = setInterval(() => {
        for (const n of nodes) {
            // The provider's own path function: a copy of the naming went stale once (issue 10
            // renamed domains to nixlab-<lab>.<node>) and the 8-node up then waited forever.
            const file = serialLogPath(SERIAL_DIR, lab, n);
            if (done.has(n) || !fs.existsSync(file)) continue;
            fs.appendFileSync(file, `\n${MARKER} node=${n} kvm=ok cloud-init-rc=0 (bench stub)\n`);
            done.add(n);
        }
    }, 50);
    return () => clearInterval(timer);
}

interface VagrantRun {
    boot: VagrantBoot;
    /** The seed the vagrant guest booted (raw QEMU boots it too when only the vagrant rows run). */
    seedIso: string;
}

/**
 * The vagrant-libvirt peer: the 1-node lab's node booted by `vagrant up` with nixlab's
 * user-data and vendor-data for it, or why that cannot run here.
 */
async function runVagrant(netns: string, one: LabArgs): Promise<VagrantRun | { absent: string }> {
    const work = path.join(BENCH_DIR, "vagrant");
    // No VAGRANT_CWD yet: vagrant refuses to start in a project dir that does not exist.
    const { VAGRANT_CWD: _cwd, ...env } = vagrantEnv(work);
    const prereqs = await vagrantPrereqs(one.fixtureDir, env);
    const absent = vagrantAbsence(prereqs);
    if (absent) return { absent };
    const spec = parseLabConfig(labConfig(one), one.lab);
    const node = spec.nodes[0]!;
    const seedDir = path.join(BENCH_DIR, "vagrant-seed");
    fs.rmSync(seedDir, { recursive: true, force: true });
    fs.mkdirSync(seedDir, { recursive: true });
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", path.join(seedDir, "host")]);
    const keys = {
        hostPrivateKey: fs.readFileSync(path.join(seedDir, "host"), "utf8"),
        hostPublicKey: fs.readFileSync(path.join(seedDir, "host.pub"), "utf8").trim(),
        operatorPublicKey: fs.readFileSync(path.join(one.work, "user.pub"), "utf8").trim(),
    };
    fs.rmSync(path.join(seedDir, "host"));
    fs.rmSync(path.join(seedDir, "host.pub"));
    const seedIso = await writeSeedIso(seedDir, vagrantSeedFiles({ lab: spec, node, keys, mac: MANAGEMENT.mac }));
    // The seed holds the guest's SSH host key: gone with a failed run too (callers remove it after use).
    const boot = await vagrantBoot(
        {
            uri: URI,
            netns,
            work,
            fixtureDir: one.fixtureDir,
            cmdline: one.cmdline!,
            seedIso,
            privateKey: path.join(one.work, "user"),
            user: spec.user.name,
            serialLog: path.join(SERIAL_DIR, `${VAGRANT_NAMES.domain}.serial.log`),
            marker: MARKER,
            memoryMiB: one.memoryGiB * 1024,
            rootDiskGiB: 4,
            timeoutSeconds: 1800,
            log,
        },
        prereqs,
    ).catch((e: unknown) => {
        fs.rmSync(seedDir, { recursive: true, force: true });
        throw e;
    });
    log(`vagrant: "Machine booted and ready!" at ${boot.sshReadySeconds.toFixed(2)} s, ready line at ${s(boot.readyLineSeconds)}, exit at ${boot.exitSeconds.toFixed(2)} s`);
    return { boot, seedIso };
}

/** The vagrant rows (under the raw-QEMU rows), against the raw QEMU boot of the same run. */
function vagrantRows(v: VagrantRun | { absent: string }, raw: RawBoot | undefined, netns: string, rawSeed: string): void {
    if ("absent" in v) {
        notes.push(`vagrant-libvirt rows absent: ${v.absent}`);
        return;
    }
    const b = v.boot;
    const ratio = (x: number | undefined, y: number | undefined) => (x !== undefined && y ? `${(x / y).toFixed(2)}×` : "-");
    row("peer: vagrant up until ready line (vagrant-libvirt)", s(b.readyLineSeconds), `${s(raw?.readySeconds)} raw QEMU`, ratio(b.readyLineSeconds, raw?.readySeconds), "", undefined);
    row(
        "peer: vagrant up to SSH-ready (vagrant-libvirt)",
        s(b.sshReadySeconds),
        `${s(raw?.bannerSeconds)} raw QEMU banner; "Machine booted and ready!", vagrant exits at ${s(b.exitSeconds)}`,
        ratio(b.sshReadySeconds, raw?.bannerSeconds),
        "",
        undefined,
    );
    notes.push(
        `vagrant-libvirt ${b.pluginVersion} (${b.vagrantVersion}): \`vagrant up\` of a box packed from the fixture (added from a local file under a private VAGRANT_HOME), ` +
            `same kernel, initrd and command line, q35, TCG, 1 vCPU, 1 GiB, run in netns ${netns} against ${URI}, its own pool and management network ${MANAGEMENT.cidr}; ` +
            `timed from its start to the ready line on the serial console and to its "Machine booted and ready!" (SSH login done); its time includes uploading the box image into the pool, as nixlab's up includes its image upload. ` +
            `Seed: nixlab's user-data and vendor-data for the node with a DHCP network-config (vagrant finds the guest by its lease); raw QEMU here booted ${rawSeed}.`,
    );
}

async function benchLibvirt(machine: Machine, only: string | undefined): Promise<void> {
    log("starting the test libvirtd (if needed) and the fixture image (cached)");
    const netns = script("start-libvirtd.sh") || "nixlab-test";
    const fixtureDir = process.env.NIXLAB_FIXTURE_DIR ?? script("build-fixture-image.sh");
    const image = JSON.parse(fs.readFileSync(path.join(fixtureDir, "image.json"), "utf8")) as { cmdline: string };
    // Both sides boot with no_timer_check: under TCG on a busy host the kernel's IO-APIC
    // timer check can fail and panic ("IO-APIC + timer doesn't work!"), seen here at a load
    // average of 30. Same kernel arguments for nixlab and raw QEMU.
    const cmdline = `${image.cmdline} no_timer_check`;
    const shimDir = virshShim(path.join(BENCH_DIR, "shim"), (await must("bash", ["-c", "command -v virsh"])).trim());
    await cleanupLeftovers(shimDir);
    await ensureNetns(BENCH_NETNS);

    // ---- 1 node, user-mode networking: up until ready, and SSH banner
    const one: LabArgs = { lab: "bench1", work: path.join(BENCH_DIR, "bench1"), fixtureDir, nodes: 1, networkMode: "user", cidr: "10.213.20.0/24", memoryGiB: 1, cmdline };
    fs.mkdirSync(one.work, { recursive: true });
    sshKey(one.work);
    if (only === "vagrant") {
        // The vagrant rows alone, against raw QEMU booting vagrant's seed (its DHCP network-config
        // works on QEMU's user-mode network too) with the same MAC.
        log("vagrant-libvirt: vagrant up until ready");
        const v = await runVagrant(netns, one);
        let raw: RawBoot | undefined;
        if (!("absent" in v)) {
            log("raw QEMU: the same image and vagrant's seed until the ready line");
            raw = await rawBoot({
                netns: BENCH_NETNS,
                work: path.join(BENCH_DIR, "raw"),
                fixtureDir,
                cmdline,
                seedIso: v.seedIso,
                rootDiskGiB: 4,
                memoryMiB: 1024,
                netdev: `user,id=nixnet0,hostfwd=tcp:127.0.0.1:${SSH_PORT_1}-:22`,
                mac: MANAGEMENT.mac,
                sshPort: SSH_PORT_1,
                node: "solo",
                marker: MARKER,
                timeoutSeconds: 900,
            }).finally(() => fs.rmSync(path.dirname(v.seedIso), { recursive: true, force: true }));
            log(`raw QEMU: ready in ${raw.readySeconds.toFixed(2)} s`);
        }
        vagrantRows(v, raw, netns, "the same seed as vagrant (user-mode NIC, same MAC)");
        notes.push("NIXLAB_BENCH_ONLY=vagrant: only the vagrant-libvirt rows and their raw-QEMU comparison ran.");
        return;
    }
    writeProgram(one);
    removeLogs("bench1");
    log("1-node lab: up until ready (TCG guest boot)");
    const banner1 = waitForBanner(netns, SSH_PORT_1, 20 * 60_000);
    const up1 = await runEngine("up", one.work, shimDir);
    const banner1At = await within(banner1.done, 120_000);
    banner1.stop();
    const cp1 = controlPlane(up1);
    log(`1-node up: ${up1.seconds.toFixed(2)} s (${opSummary(up1)})`);

    // The seed and NIC nixlab made, for raw QEMU's equivalent boot.
    const state = JSON.parse(fs.readFileSync(path.join(one.work, "state.json"), "utf8")) as {
        resources: Record<string, { type: string; outs: Record<string, unknown> }>;
    };
    const seed = Object.values(state.resources).find((r) => r.type.endsWith(":SeedVolume"))!;
    const domain = Object.values(state.resources).find((r) => r.type.endsWith(":Domain"))!;
    const seedCopy = path.join(BENCH_DIR, "raw", "seed.iso");
    fs.mkdirSync(path.dirname(seedCopy), { recursive: true });
    fs.copyFileSync(String(seed.outs.path), seedCopy);
    const xml = String(domain.outs.xml);
    const netdev = /<qemu:arg value='(user,[^']+)'\/>/.exec(xml)![1]!.replace(/&amp;/g, "&");
    const mac = /mac=([0-9a-f:]{17})/.exec(xml)![1]!;

    log("1-node lab: unchanged up");
    const same1 = await runEngine("up", one.work, shimDir);
    log("1-node lab: destroy");
    const destroy1 = await runEngine("destroy", one.work, shimDir);

    row("1-node up until ready (cloud-init done)", s(up1.seconds), "", "", "", undefined);
    const upRow = rows.length - 1;
    labRows(1, { controlPlane: cp1, unchanged: same1, destroy: destroy1 }, { controlPlane: 1.5, unchanged: 2.5 });
    log("raw QEMU: the same image and seed until the ready line");
    const raw: RawBoot = await rawBoot({
        netns: BENCH_NETNS,
        work: path.join(BENCH_DIR, "raw"),
        fixtureDir,
        cmdline,
        seedIso: seedCopy,
        rootDiskGiB: 4,
        memoryMiB: 1024,
        netdev,
        mac,
        sshPort: SSH_PORT_1,
        node: "solo",
        marker: MARKER,
        timeoutSeconds: 900,
    });
    log(`raw QEMU: ready in ${raw.readySeconds.toFixed(2)} s`);

    const ratio = up1.seconds / raw.readySeconds;
    rows[upRow] = { what: rows[upRow]!.what, nixlab: s(up1.seconds), limit: `${s(raw.readySeconds)} raw QEMU`, ratio: `${ratio.toFixed(2)}×`, target: "≤ 1.10×", met: ratio <= 1.1 ? "yes" : "NO" };
    const b1 = banner1At === undefined ? undefined : (banner1At - up1.startedMs) / 1000;
    row("1-node SSH banner from start", s(b1), `${s(raw.bannerSeconds)} raw QEMU`, b1 && raw.bannerSeconds ? `${(b1 / raw.bannerSeconds).toFixed(2)}×` : "-", "", undefined);

    // ---- the vagrant-libvirt peer, the same node booted by `vagrant up`
    log("vagrant-libvirt: vagrant up until ready");
    const vagrant = await runVagrant(netns, one);
    if (!("absent" in vagrant)) fs.rmSync(path.dirname(vagrant.seedIso), { recursive: true, force: true });
    vagrantRows(vagrant, raw, netns, "the seed nixlab made (static address on the user-mode NIC)");

    // ---- 8 nodes, NAT network: control plane, unchanged up, destroy
    const eight: LabArgs = {
        lab: "bench8",
        work: path.join(BENCH_DIR, "bench8"),
        fixtureDir,
        nodes: 8,
        networkMode: "nat",
        cidr: "10.213.21.0/24",
        memoryGiB: 0.5,
        // The guests boot the fixture's kernel and then only sleep (no cloud-init), and the
        // bench writes each node's ready line: eight TCG boots on a small host would take
        // many minutes and measure QEMU, which the 1-node rows already do.
        cmdline: `${cmdline} init=/bin/sleep -- infinity`,
    };
    fs.mkdirSync(eight.work, { recursive: true });
    sshKey(eight.work);
    writeProgram(eight);
    const names = Array.from({ length: 8 }, (_, i) => `node-${i + 1}`);
    removeLogs("bench8");
    log("8-node lab: up (readiness stubbed)");
    const stop = stubReadiness("bench8", names);
    let up8: EngineRun;
    try {
        up8 = await runEngine("up", eight.work, shimDir);
    } finally {
        stop();
    }
    const cp8: ControlPlane = controlPlane(up8);
    log("8-node lab: unchanged up");
    const same8 = await runEngine("up", eight.work, shimDir);
    log("8-node lab: destroy");
    const destroy8 = await runEngine("destroy", eight.work, shimDir);
    labRows(8, { controlPlane: cp8, unchanged: same8, destroy: destroy8 }, { controlPlane: 3, unchanged: 4, destroy: 5 });
    notes.push(
        `control plane = the up's wall time (process start to exit) minus the time it only waited for guests: ` +
            `${cp1.bootWaitSeconds.toFixed(2)} s (1 node), ${cp8.bootWaitSeconds.toFixed(2)} s (8 nodes).`,
        "8-node lab: guests boot the fixture kernel with init=/bin/sleep and the bench writes their ready lines; the real boot is the 1-node row.",
        `1-node lab: QEMU user-mode networking (as raw QEMU), SSH forwarded to 127.0.0.1:${SSH_PORT_1} in netns ${netns}; raw QEMU in netns ${BENCH_NETNS}.`,
    );
    void machine;
}

function planRows(p: PlanTimes): void {
    const t = (x: Timing) => `${s(x.seconds)} (CPU ${x.cpuSeconds.toFixed(2)} s)`;
    for (const [stack, x] of Object.entries(p.perStack)) row(`offline plan, ${stack}`, t(x), "", "", "≤ 1.5 s", x.seconds <= 1.5);
    const n = Object.keys(p.perStack).length;
    row(`offline plan, all ${n} stacks, one process each`, t(p.oneByOne), "", "", "≤ 8 s", p.oneByOne.seconds <= 8);
    row(`offline plan, all ${n} stacks, --all (one process)`, t(p.all), "", "", "≤ 8 s", p.all.seconds <= 8);
    notes.push(`offline plan: \`npm run plan\`'s command, a fresh process per plan, median of ${p.runs} per stack, caches warm; CPU = user + system of the process.`);
}

function render(machine: Machine): string {
    const head = ["what", "nixlab", "limit / detail", "ratio", "target", "met"];
    const cells = rows.map((r) => [r.what, r.nixlab, r.limit, r.ratio, r.target, r.met]);
    const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
    return [
        `nixlab bench, ${machine.date}`,
        `machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.kernel}, ${machine.qemu}, ${machine.libvirt}, guests ${machine.accel}, load average at start ${machine.loadAverage}`,
        "",
        line(head),
        `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
        ...cells.map(line),
        "",
        ...notes.map((n) => `- ${n}`),
        "",
    ].join("\n");
}

async function main(): Promise<void> {
    const machine = describeMachine(URI);
    // NIXLAB_BENCH_ONLY=plan|libvirt|vagrant runs one part (while working on it); default
    // all. `vagrant`: only the vagrant-libvirt rows and the raw QEMU boot they compare with.
    const only = process.env.NIXLAB_BENCH_ONLY;
    const parts = ["plan", "libvirt", "vagrant"];
    if (only !== undefined && !parts.includes(only)) throw new Error(`NIXLAB_BENCH_ONLY=${only}: expected one of ${parts.join(", ")} (or unset for all)`);
    if (only === undefined || only === "plan") {
        log(`offline plans of ${stacks().length} stacks`);
        planRows(benchPlans(3));
    }
    if (only === "plan") notes.push("libvirt rows absent: NIXLAB_BENCH_ONLY=plan.");
    else if (process.getuid?.() !== 0) notes.push("libvirt rows absent: the bench runs its labs through the test libvirtd, which needs root.");
    else await benchLibvirt(machine, only);
    process.stdout.write(render(machine));
}

main().catch((e) => {
    process.stdout.write(render(describeMachine(URI)));
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
});
