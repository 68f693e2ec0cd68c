/**
 * The libvirt backend's failure paths for real (issue 10, items 1-6 and 8): one 1-node NAT
 * lab on the test libvirtd, taken through faults one after the other, each followed by a
 * check of what libvirt and the host hold:
 *
 *   - the engine SIGKILLed between a volume upload and its `vol-dumpxml`, then `nixlab
 *     cleanup`'s search finds and removes the unrecorded volume;
 *   - the engine SIGKILLed while Domain.create waits for readiness, then `up` adopts the
 *     node (same UUID: its metadata names this stack, lab and node) and completes;
 *   - a second stack with the same lab name, and a lab whose pool directory holds someone
 *     else's file: refused, nothing of the first lab (or the file) touched;
 *   - a `virsh` that fails lookups the way a dropped connection does: no replace, no forget;
 *   - vCPUs and memory changed on the running lab: updated in place under the same UUID,
 *     seen inside the guest;
 *   - destroy: no libvirt object, pool directory, serial log or temp file left;
 *   - a second lab: only the engine SIGKILLed while Domain.create waits, its provider host
 *     left alive (a `pulumi up` killed while its plugin lives on); the user cleans up and
 *     runs up again; the orphaned create, let go only then, fails and leaves the new
 *     run's node alone (same UUID, running), and destroy leaves nothing.
 *
 * Faults come from a `virsh` shim first on the engine's PATH (support.ts writeVirshShim).
 * One lab serves every step (TCG boots are the cost); each step states what it starts from.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ProgramSpec, RunReport } from "./engine";
import { readState } from "./engine";
import { findOrphans, knownFromState, removalOrder, removeOrphan } from "../../providers/libvirt/cleanup";
import { virsh } from "../../providers/libvirt/provider";
import {
    armFault,
    deleteLabByName,
    disarmFault,
    exec,
    fileLeftovers,
    leftovers,
    LOCAL_URI as URI,
    oneNodeLab,
    opLines,
    POOL_DIR,
    runEngine,
    runEngineRaw,
    saveAccess,
    sshTo,
    T,
    virshNames,
    writeVirshShim,
} from "./support";

const LAB = "lvfault";
const DOMAIN = `nixlab-${LAB}.solo`;
const ADDRESS = "10.213.11.10";
const WORK = path.join(os.tmpdir(), "nixlab-libvirt-real-faults");
/** A second stack with the same lab name. */
const OTHER_WORK = path.join(os.tmpdir(), "nixlab-libvirt-real-faults-other");
/** A lab whose pool directory already holds a file nixlab did not make. */
const DIR_LAB = "lvfaultdir";
const DIR_WORK = path.join(os.tmpdir(), "nixlab-libvirt-real-faults-dir");
/** A lab whose first `up` is killed while its provider host lives on. */
const ORPHAN_LAB = "lvorphan";
const ORPHAN_DOMAIN = `nixlab-${ORPHAN_LAB}.solo`;
const ORPHAN_WORK = path.join(os.tmpdir(), "nixlab-libvirt-real-faults-orphan");
const ORPHAN_SHIM = path.join(ORPHAN_WORK, "shim");
const ORPHAN_TMP = path.join(ORPHAN_WORK, "tmp");
const SHIM = path.join(WORK, "shim");
/** The engine's TMPDIR: seed content is written there, so leftovers there are checked exactly. */
const TMP = path.join(WORK, "tmp");

let fixtureDir = "";
let netns = "nixlab-test";
let runNo = 0;
/** The orphaned dynamic-provider host, killed at the end of its test (or in afterAll). */
let orphanHost: number | undefined;
const timings: Record<string, number> = {};

function spec(stack: string, lab: string, node: { vcpus?: number; memoryGiB?: number } = {}, cidr = "10.213.11.0/24", readyTimeoutSeconds = 600): ProgramSpec {
    const l = oneNodeLab(lab, cidr, WORK, fixtureDir);
    return {
        stack,
        config: {
            "nixlab:backend": "libvirt",
            "nixlab:libvirt": JSON.stringify({ uri: URI, accelerator: "tcg", poolDir: POOL_DIR, readyTimeoutSeconds }),
            "nixlab:lab": JSON.stringify({ ...l, nodes: [{ name: "solo", ...node }] }),
        },
    };
}

function writeProgram(s: ProgramSpec, work = WORK): void {
    fs.mkdirSync(work, { recursive: true });
    fs.writeFileSync(path.join(work, "program.json"), JSON.stringify(s, null, 2));
}

const env = () => ({ PATH: `${SHIM}:${process.env.PATH}`, TMPDIR: TMP });

function logFile(label: string, work = WORK): string {
    runNo += 1;
    return path.join(work, `${String(runNo).padStart(2, "0")}-${label}.log`);
}

async function engine(action: "up" | "destroy", label: string, work = WORK): Promise<RunReport> {
    const { report, seconds } = await runEngine({ action, label, work, logFile: logFile(label, work), env: env() });
    timings[label] = seconds;
    return report;
}

/** An engine run that must not succeed: killed by the shim, or failing. */
async function engineFails(action: "up" | "destroy", label: string, work = WORK) {
    const r = await runEngineRaw({ action, label, work, logFile: logFile(label, work), env: env() });
    timings[label] = r.seconds;
    expect(r.report?.ok, `${label} was expected to fail; log tail:\n${r.log.slice(-3000)}`).not.toBe(true);
    return r;
}

function state(work = WORK) {
    return readState(path.join(work, "state.json"));
}

function stateNames(work = WORK): string[] {
    return Object.values(state(work).resources)
        .map((e) => `${e.type.replace(T, "").replace("pulumi-nodejs:dynamic/", "")} ${e.name}`)
        .sort();
}

function known(work = WORK) {
    return knownFromState(Object.values(state(work).resources).map((e) => ({ type: e.type, outputs: e.outs })));
}

async function uuidOf(kind: "domuuid" | "net-uuid" | "pool-uuid", name: string): Promise<string> {
    const r = await virsh(URI, [kind, name]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
}

async function domstate(): Promise<string> {
    return (await virsh(URI, ["domstate", DOMAIN])).stdout.trim();
}

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Lines in the orphaned host's call trace so far. */
function orphanTraceLines(): string[] {
    const log = path.join(ORPHAN_SHIM, "calls.log");
    return (fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "").split("\n").filter((l) => l !== "");
}

/**
 * The calls the orphaned provider host made (through its traced shim) after the first
 * `skip` trace lines, once they have stopped: every call started has ended and none
 * started for `quietMs` (a call the host's timeout killed leaves no end line, and no start
 * line either: the shell logs a call's start only after the hold). Its create's result
 * goes to the dead engine, so an end of activity is all there is to see.
 */
async function orphanCallsWhenQuiet(skip: number, quietMs = 20_000, maxMs = 10 * 60_000): Promise<string[]> {
    const log = path.join(ORPHAN_SHIM, "calls.log");
    const started = Date.now();
    let last = Date.now();
    let lastSize = -1;
    for (;;) {
        const text = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
        if (text.length !== lastSize) {
            lastSize = text.length;
            last = Date.now();
        }
        const lines = text.split("\n").filter((l) => l !== "").slice(skip);
        const open = lines.filter((l) => / start /.test(l)).length - lines.filter((l) => / end /.test(l)).length;
        if (lines.length > 0 && open === 0 && Date.now() - last >= quietMs) return lines.filter((l) => / start /.test(l)).map((l) => l.replace(/^\d+ start -c \S+ /, ""));
        if (Date.now() - started > maxMs) throw new Error(`the orphaned provider host kept calling virsh for ${maxMs / 60_000} min:\n${text.slice(-3000)}`);
        await sleep(1000);
    }
}

async function ssh(command: string): Promise<string> {
    return sshTo(netns, { work: WORK, alias: `${LAB}-solo`, host: ADDRESS, port: 22 }, command);
}

describe.runIf(process.env.NIXLAB_LIBVIRT_REAL === "1")("libvirt failure paths against a real libvirtd (TCG)", () => {
    const started = Date.now();

    beforeAll(async () => {
        fixtureDir = inject("fixtureDir");
        netns = inject("netns");
        for (const [lab, work] of [
            [LAB, WORK],
            [LAB, OTHER_WORK],
            [DIR_LAB, DIR_WORK],
            [ORPHAN_LAB, ORPHAN_WORK],
        ] as const) {
            fs.mkdirSync(work, { recursive: true });
            for (const f of fs.readdirSync(work)) if (f.endsWith(".log") || f === "state.json") fs.rmSync(path.join(work, f));
            await deleteLabByName(lab);
        }
        fs.rmSync(path.join(POOL_DIR, DIR_LAB), { recursive: true, force: true });
        fs.rmSync(TMP, { recursive: true, force: true });
        fs.mkdirSync(TMP);
        writeVirshShim(SHIM);
        disarmFault(SHIM);
        if (!fs.existsSync(path.join(WORK, "user.pub"))) {
            const r = await exec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nixlab-faults-test", "-f", path.join(WORK, "user")]);
            expect(r.code, r.stderr).toBe(0);
        }
    });

    afterAll(() => {
        // A failed step must not leave the orphaned provider host polling.
        if (orphanHost !== undefined && alive(orphanHost)) process.kill(orphanHost, "SIGKILL");
        if (fs.existsSync(ORPHAN_SHIM)) fs.writeFileSync(path.join(ORPHAN_SHIM, "release"), "");
        timings.total = (Date.now() - started) / 1000;
        process.stderr.write(`[libvirt faults] timings (s): ${JSON.stringify(timings)}\n`);
    });

    it("killed between a volume upload and its vol-dumpxml: the unrecorded volume is found for cleanup and removed", async () => {
        writeProgram(spec(LAB, LAB));
        armFault(SHIM, { action: "kill", re: `vol-dumpxml --pool nixlab-${LAB} nixlab-base-` });
        const killed = await engineFails("up", "up-killed-after-upload");
        expect(disarmFault(SHIM)).toHaveLength(1);
        expect(killed.signal ?? killed.code).not.toBe(0);
        expect(killed.report).toBeUndefined();
        expect(stateNames()).not.toContain(`ImageVolume ${LAB}-image-x86_64`);
        // The image is in the pool, uploaded but never recorded.
        const orphans = await findOrphans(URI, LAB, known());
        expect(orphans.filter((o) => o.kind === "volume").map((o) => o.name)).toEqual(expect.arrayContaining([expect.stringMatching(/^nixlab-base-[0-9a-f]{16}$/)]));
        // Whatever else was cut off mid-way is this lab's and unrecorded too.
        for (const o of orphans) expect(o.owner).toMatchObject({ stack: LAB, lab: LAB });
        for (const o of removalOrder(orphans)) await removeOrphan(URI, o);
        expect(await findOrphans(URI, LAB, known())).toEqual([]);
    });

    it("killed while Domain.create waits for readiness: the next up adopts the node under its UUID and completes", async () => {
        // The readiness wait's first domstate (by the UUID the create chose).
        armFault(SHIM, { action: "kill", re: " domstate [0-9a-f-]{36}$" });
        await engineFails("up", "up-killed-in-readiness");
        expect(disarmFault(SHIM)).toHaveLength(1);
        expect(stateNames()).not.toContain(`Domain ${LAB}-solo`);
        const orphanUuid = await uuidOf("domuuid", DOMAIN);
        // What `nixlab cleanup --dry-run` would list: exactly the node.
        const orphans = await findOrphans(URI, LAB, known());
        expect(orphans.map((o) => `${o.kind} ${o.name} ${o.uuid}`)).toEqual([`domain ${DOMAIN} ${orphanUuid}`]);
        expect(orphans[0]!.owner).toEqual({ stack: LAB, lab: LAB, node: "solo" });

        const up = await engine("up", "up-after-kills");
        expect(opLines(up.ops).filter((l) => !l.endsWith(" same"))).toEqual([`Domain ${LAB}-solo create`]);
        expect(await uuidOf("domuuid", DOMAIN)).toBe(orphanUuid);
        const dom = Object.values(state().resources).find((e) => e.name === `${LAB}-solo`)!;
        expect(dom.outs).toMatchObject({ uuid: orphanUuid, lastBoot: "adopted" });
        saveAccess(up, LAB, WORK);
        expect(await ssh("cloud-init status; nproc")).toBe("status: done\n1");
        expect(await findOrphans(URI, LAB, known())).toEqual([]);
        // The owner stamp as libvirt keeps it.
        const md = await virsh(URI, ["metadata", DOMAIN, "https://nixlab.dev/xmlns/libvirt/owner/1"]);
        expect(md.stdout).toMatch(/stack="lvfault" lab="lvfault" node="solo"/);
    });

    it("a second stack with the same lab name is refused and changes nothing of the first", async () => {
        const before = {
            domain: await uuidOf("domuuid", DOMAIN),
            network: await uuidOf("net-uuid", `nixlab-${LAB}`),
            pool: await uuidOf("pool-uuid", `nixlab-${LAB}`),
            volumes: fs.readdirSync(path.join(POOL_DIR, LAB)).sort(),
        };
        writeProgram(spec(`${LAB}-other`, LAB), OTHER_WORK);
        fs.copyFileSync(path.join(WORK, "user.pub"), path.join(OTHER_WORK, "user.pub"));
        const r = await engineFails("up", "other-stack-up", OTHER_WORK);
        const error = r.report?.error ?? "";
        const refusal =
            `already exists on ${URI} and is not this lab's: it belongs to stack ${LAB}, lab ${LAB}; this is stack ${LAB}-other, lab ${LAB}. ` +
            `nixlab never adopts, changes or deletes an object another owner made. Two stacks cannot use lab name "${LAB}" on one hypervisor: ` +
            `rename nixlab:lab.name in stack ${LAB}-other, or destroy stack ${LAB} first (nixlab destroy ${LAB}).`;
        // The pool and the network are both refused (each failure is the whole of a line).
        const lines = error.split("\n");
        expect(error).not.toBe("");
        for (const line of lines) {
            expect(line).toMatch(new RegExp(`^${T}(Pool ${LAB}-net-pool: storage pool nixlab-${LAB} \\(directory ${POOL_DIR}/${LAB}\\)|Network ${LAB}-net: network nixlab-${LAB}) `));
            expect(line.endsWith(refusal), line).toBe(true);
        }
        // Nothing of libvirt's was made (or recorded) for the second stack.
        expect(Object.values(state(OTHER_WORK).resources).filter((e) => e.type.startsWith(T))).toEqual([]);
        expect({
            domain: await uuidOf("domuuid", DOMAIN),
            network: await uuidOf("net-uuid", `nixlab-${LAB}`),
            pool: await uuidOf("pool-uuid", `nixlab-${LAB}`),
            volumes: fs.readdirSync(path.join(POOL_DIR, LAB)).sort(),
        }).toEqual(before);
        expect(await domstate()).toBe("running");
        await engine("destroy", "other-stack-destroy", OTHER_WORK);
        expect(await uuidOf("domuuid", DOMAIN)).toBe(before.domain);
    });

    it("a pool directory holding someone else's file is refused, and the file stays", async () => {
        const dir = path.join(POOL_DIR, DIR_LAB);
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, "notes.txt"), "not nixlab's\n");
        writeProgram(spec(DIR_LAB, DIR_LAB, {}, "10.213.12.0/24"), DIR_WORK);
        fs.copyFileSync(path.join(WORK, "user.pub"), path.join(DIR_WORK, "user.pub"));
        const r = await engineFails("up", "foreign-dir-up", DIR_WORK);
        expect(r.report?.error).toContain(
            `pool directory ${dir} (nixlab:libvirt.poolDir) already exists on ${URI} and holds files without this lab's ownership marker (notes.txt); ` +
                `nixlab makes a lab's pool only in a new directory or one marked for it (.nixlab-owner naming stack ${DIR_LAB}, lab ${DIR_LAB}), ` +
                "and never deletes files it did not create. Move those files away, or set nixlab:libvirt.poolDir to another directory.",
        );
        expect(fs.readdirSync(dir)).toEqual(["notes.txt"]);
        expect(fs.readFileSync(path.join(dir, "notes.txt"), "utf8")).toBe("not nixlab's\n");
        expect(await virshNames(["pool-list", "--all", "--name"])).not.toContain(`nixlab-${DIR_LAB}`);
        await engine("destroy", "foreign-dir-destroy", DIR_WORK);
        expect(await leftovers(`nixlab-${DIR_LAB}`)).toEqual([]);
        fs.rmSync(dir, { recursive: true });
    });

    it("a virsh lookup failing like a dropped connection: diff neither replaces the node nor destroy forgets it", async () => {
        const uuid = await uuidOf("domuuid", DOMAIN);
        const lookupFailed = `error: failed to get domain '${DOMAIN}'\\nerror: Cannot recv data: Connection reset by peer`;
        const dom = DOMAIN.replace(".", "\\.");
        // Twice: the batched lookup fails, and so does the lookup asked again on its own.
        armFault(SHIM, { action: "fail", re: `domuuid ${dom}$`, times: 2, text: lookupFailed });
        const up = await engineFails("up", "up-lookup-fails");
        expect(disarmFault(SHIM)).toHaveLength(2);
        expect(up.report?.error).toContain(`domain ${DOMAIN} is still listed, so it is not gone: the lookup itself failed (connection, daemon restart); try again`);
        expect(up.report?.ops.filter((o) => o.op === "replace" || o.op === "delete")).toEqual([]);
        expect(await uuidOf("domuuid", DOMAIN)).toBe(uuid);
        expect(await domstate()).toBe("running");

        // Every call about the node fails for a while: destroy must fail, not drop it from state.
        armFault(SHIM, { action: "fail", re: `(domuuid|dumpxml|destroy|undefine) ${dom}( |$)`, times: 10, text: lookupFailed });
        const down = await engineFails("destroy", "destroy-lookup-fails");
        expect(disarmFault(SHIM).length).toBeGreaterThan(0);
        expect(down.report?.error).toContain("is still listed, so it is not gone");
        expect(stateNames()).toContain(`Domain ${LAB}-solo`);
        expect(await uuidOf("domuuid", DOMAIN)).toBe(uuid);
        expect(await domstate()).toBe("running");
        // The destroy got as far as the node and stopped there: bring the rest back.
        const again = await engine("up", "up-after-lookup-faults");
        expect(await uuidOf("domuuid", DOMAIN)).toBe(uuid);
        expect(again.ops.filter((o) => o.op === "replace" || o.op === "delete")).toEqual([]);
    });

    it("vCPUs and memory changed on the running lab: updated in place under the same UUID, seen inside the guest", async () => {
        const uuid = await uuidOf("domuuid", DOMAIN);
        writeProgram(spec(LAB, LAB, { vcpus: 2, memoryGiB: 1.5 }));
        const up = await engine("up", "up-resize-node");
        expect(opLines(up.ops).filter((l) => !l.endsWith(" same"))).toEqual([`Domain ${LAB}-solo update`]);
        expect(await uuidOf("domuuid", DOMAIN)).toBe(uuid);
        const dom = Object.values(state().resources).find((e) => e.name === `${LAB}-solo`)!;
        expect(dom.outs.lastBoot).toBe("restarted: vcpus 1 -> 2; memory (MiB) 1024 -> 1536");
        const [nproc, memKiB] = (await ssh("nproc; awk '/^MemTotal:/ {print $2}' /proc/meminfo")).split("\n");
        expect(nproc).toBe("2");
        // MemTotal is RAM less what the kernel keeps for itself: well above 1 GiB, at most 1.5.
        expect(Number(memKiB)).toBeGreaterThan(1.25 * 1024 * 1024);
        expect(Number(memKiB)).toBeLessThanOrEqual(1.5 * 1024 * 1024);
    });

    it("destroy leaves nothing: no domain, network, pool, volume, pool directory, serial log or temp file", async () => {
        expect(fs.existsSync(`/var/log/libvirt/qemu/${DOMAIN}.serial.log`)).toBe(true);
        const down = await engine("destroy", "destroy");
        expect(down.ops.every((o) => o.op === "delete")).toBe(true);
        expect(await leftovers(`nixlab-${LAB}`)).toEqual([]);
        expect(fileLeftovers(LAB, TMP)).toEqual([]);
        expect(state().resources).toEqual({});
        expect(await findOrphans(URI, LAB, known())).toEqual([]);
    });

    it("up killed while its provider host lives on: after cleanup and a new up, the orphaned create fails and leaves the new node alone", async () => {
        fs.mkdirSync(ORPHAN_TMP, { recursive: true });
        fs.copyFileSync(path.join(WORK, "user.pub"), path.join(ORPHAN_WORK, "user.pub"));
        writeVirshShim(ORPHAN_SHIM);
        const orphanEnv = { PATH: `${ORPHAN_SHIM}:${process.env.PATH}`, TMPDIR: ORPHAN_TMP };
        // The first up waits for readiness at most 10 s (the least allowed), so once let go
        // its create fails: the case whose undo destroyed the next run's nodes by name.
        writeProgram(spec(ORPHAN_LAB, ORPHAN_LAB, {}, "10.213.13.0/24", 10), ORPHAN_WORK);
        armFault(ORPHAN_SHIM, { action: "orphan", re: " domstate [0-9a-f-]{36}$", trace: true });
        const killed = await runEngineRaw({ action: "up", label: "orphan-up-killed", work: ORPHAN_WORK, logFile: logFile("orphan-up-killed", ORPHAN_WORK), env: orphanEnv });
        timings["orphan-up-killed"] = killed.seconds;
        expect(killed.signal, killed.log.slice(-3000)).toBe("SIGKILL");
        expect(killed.report).toBeUndefined();
        orphanHost = Number(fs.readFileSync(path.join(ORPHAN_SHIM, "host.pid"), "utf8"));
        // Its calls before this point are the first run's own: counted out below.
        const before = orphanTraceLines().length;
        expect(alive(orphanHost)).toBe(true);
        // Its create is in the readiness wait (held in its first domstate) on the node it defined.
        expect(stateNames(ORPHAN_WORK)).not.toContain(`Domain ${ORPHAN_LAB}-solo`);
        const orphanUuid = await uuidOf("domuuid", ORPHAN_DOMAIN);

        // The user cleans up what the killed run left unrecorded (nixlab cleanup's code)...
        const orphans = await findOrphans(URI, ORPHAN_LAB, known(ORPHAN_WORK));
        expect(orphans.map((o) => `${o.kind} ${o.name} ${o.uuid}`)).toEqual([`domain ${ORPHAN_DOMAIN} ${orphanUuid}`]);
        for (const o of removalOrder(orphans)) await removeOrphan(URI, o);
        // ...and runs up again (with the usual timeout), which makes the node anew.
        writeProgram(spec(ORPHAN_LAB, ORPHAN_LAB, {}, "10.213.13.0/24"), ORPHAN_WORK);
        const again = await runEngine({ action: "up", label: "orphan-up-again", work: ORPHAN_WORK, logFile: logFile("orphan-up-again", ORPHAN_WORK), env: { PATH: process.env.PATH!, TMPDIR: ORPHAN_TMP } });
        timings["orphan-up-again"] = again.seconds;
        expect(opLines(again.report.ops).filter((l) => !l.endsWith(" same"))).toEqual([`Domain ${ORPHAN_LAB}-solo create`]);
        const uuid = await uuidOf("domuuid", ORPHAN_DOMAIN);
        expect(uuid).not.toBe(orphanUuid);
        expect((await virsh(URI, ["domstate", ORPHAN_DOMAIN])).stdout.trim()).toBe("running");

        // Only now does the orphaned create go on, its readiness timeout long passed (unless
        // the host's own 300 s timeout on the held call ended the hold earlier: then it went
        // on in the middle of the above, and what it did is judged the same way).
        fs.writeFileSync(path.join(ORPHAN_SHIM, "release"), "");
        const calls = await orphanCallsWhenQuiet(before);
        expect(disarmFault(ORPHAN_SHIM)).toHaveLength(1);
        expect(alive(orphanHost)).toBe(true);
        process.kill(orphanHost, "SIGKILL");
        while (alive(orphanHost)) await sleep(100);
        // It went on, and neither stopped nor undefined (nor started, nor defined) anything.
        expect(calls.length).toBeGreaterThan(0);
        expect(calls.filter((c) => /^(destroy|undefine|start|define|metadata|shutdown|reset|reboot)\b/.test(c))).toEqual([]);
        // The new run's node: still defined, running, the same UUID; its state says so too.
        expect(await uuidOf("domuuid", ORPHAN_DOMAIN)).toBe(uuid);
        expect((await virsh(URI, ["domstate", ORPHAN_DOMAIN])).stdout.trim()).toBe("running");
        const dom = Object.values(state(ORPHAN_WORK).resources).find((e) => e.name === `${ORPHAN_LAB}-solo`)!;
        expect(dom.outs).toMatchObject({ uuid, lastBoot: "created" });

        const down = await runEngine({ action: "destroy", label: "orphan-destroy", work: ORPHAN_WORK, logFile: logFile("orphan-destroy", ORPHAN_WORK), env: { PATH: process.env.PATH!, TMPDIR: ORPHAN_TMP } });
        expect(down.report.ops.every((o) => o.op === "delete")).toBe(true);
        expect(await leftovers(`nixlab-${ORPHAN_LAB}`)).toEqual([]);
        expect(fileLeftovers(ORPHAN_LAB, ORPHAN_TMP)).toEqual([]);
        expect(state(ORPHAN_WORK).resources).toEqual({});
        expect(await findOrphans(URI, ORPHAN_LAB, known(ORPHAN_WORK))).toEqual([]);
    });
});
