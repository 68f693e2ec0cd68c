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
 *   - destroy: no libvirt object, pool directory, serial log or temp file left.
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
const SHIM = path.join(WORK, "shim");
/** The engine's TMPDIR: seed content is written there, so leftovers there are checked exactly. */
const TMP = path.join(WORK, "tmp");

let fixtureDir = "";
let netns = "nixlab-test";
let runNo = 0;
const timings: Record<string, number> = {};

function spec(stack: string, lab: string, node: { vcpus?: number; memoryGiB?: number } = {}, cidr = "10.213.11.0/24"): ProgramSpec {
    const l = oneNodeLab(lab, cidr, WORK, fixtureDir);
    return {
        stack,
        config: {
            "nixlab:backend": "libvirt",
            "nixlab:libvirt": JSON.stringify({ uri: URI, accelerator: "tcg", poolDir: POOL_DIR, readyTimeoutSeconds: 600 }),
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
        armFault(SHIM, { action: "kill", re: `domstate ${DOMAIN.replace(".", "\\.")}$` });
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
});
