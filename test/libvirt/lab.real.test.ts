/**
 * The libvirt backend for real: a 2-node lab brought up through the nixlab program
 * (index.ts) with every libvirt resource really executed (test/libvirt/engine.ts), guests
 * under TCG in the private libvirtd of network namespace `nixlab-test`.
 *
 * Run with `npm run test:libvirt` (vitest.libvirt.config.mts), as root. All guest traffic
 * stays inside the namespace: ssh to the nodes runs under `ip netns exec`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { OpRecord, ProgramSpec, RunReport } from "./engine";
import { readState } from "./engine";
import { virsh } from "../../providers/libvirt/provider";
import { deleteLabByName, exec, fileLeftovers, sshTo, fixtureArtifact, leftovers, LOCAL_URI as URI, oneNodeLab, opLines, POOL_DIR, runEngine, saveAccess, T, virshNames } from "./support";

const LAB = "lvreal";
const CIDR_PREFIX = "10.213.8";
const WORK = path.join(os.tmpdir(), "nixlab-libvirt-real");
// User-mode networking lab: one node, SSH forwarded to the namespace's loopback.
const USER_LAB = "lvuser";
const USER_WORK = path.join(os.tmpdir(), "nixlab-libvirt-real-user");
const USER_SSH_PORT = 2322;

const timings: Record<string, number> = {};
let fixtureDir = "";
let netns = "nixlab-test";
let runNo = 0;

interface NodeOverrides {
    rootDiskGiB?: number;
    runcmd?: string[];
}

// Two TCG guests booting at once on 2 cores take longer than one after the other
// (measured here: ~210 s together, ~55 s each alone), so domains boot one at a time,
// as `pulumi up --parallel 1` would; everything else runs concurrently.
const SERIAL_TYPES = [`${T}Domain`];

function programSpec(nodes: Record<"node-1" | "node-2", NodeOverrides>): ProgramSpec {
    const lab = {
        name: LAB,
        owner: "ci@example.com",
        ttl: "2h",
        network: { cidr: `${CIDR_PREFIX}.0/24` },
        user: { name: "lab", sshAuthorizedKeys: [fs.readFileSync(path.join(WORK, "user.pub"), "utf8").trim()] },
        image: { artifacts: [fixtureArtifact(fixtureDir)] },
        // One vCPU each: two TCG guests on a 2-core host.
        defaults: { vcpus: 1, memoryGiB: 1, rootDiskGiB: 4, kvm: "none" },
        nodes: (["node-1", "node-2"] as const).map((name) => ({
            name,
            ...(nodes[name].rootDiskGiB ? { rootDiskGiB: nodes[name].rootDiskGiB } : {}),
            ...(nodes[name].runcmd ? { cloudInit: { runcmd: nodes[name].runcmd } } : {}),
        })),
    };
    return {
        stack: LAB,
        config: {
            "nixlab:backend": "libvirt",
            "nixlab:libvirt": JSON.stringify({ uri: URI, accelerator: "tcg", poolDir: POOL_DIR, readyTimeoutSeconds: 600 }),
            "nixlab:lab": JSON.stringify(lab),
        },
        serialTypes: SERIAL_TYPES,
    };
}

function userModeSpec(): ProgramSpec {
    const lab = oneNodeLab(USER_LAB, "10.213.9.0/24", WORK, fixtureDir);
    return {
        stack: USER_LAB,
        config: {
            "nixlab:backend": "libvirt",
            "nixlab:libvirt": JSON.stringify({ uri: URI, accelerator: "tcg", networkMode: "user", sshForwardBasePort: USER_SSH_PORT, readyTimeoutSeconds: 600 }),
            "nixlab:lab": JSON.stringify(lab),
        },
    };
}

/** One engine run in its own process (Pulumi's runtime is global to a process). */
async function engine(action: "up" | "destroy", label: string, work = WORK): Promise<RunReport> {
    runNo += 1;
    const logFile = path.join(work, `${String(runNo).padStart(2, "0")}-${label}.log`);
    const { report, seconds } = await runEngine({ action, label, work, logFile });
    timings[label] = seconds;
    return report;
}

function writeProgram(spec: ProgramSpec, work = WORK): void {
    fs.writeFileSync(path.join(work, "program.json"), JSON.stringify(spec, null, 2));
}

const RESOURCES = [
    "Domain lvreal-node-1",
    "Domain lvreal-node-2",
    "ImageVolume lvreal-image-x86_64",
    "ImageVolume lvreal-image-x86_64-initrd",
    "ImageVolume lvreal-image-x86_64-kernel",
    "Network lvreal-net",
    "Pool lvreal-net-pool",
    "SeedVolume lvreal-node-1-cidata",
    "SeedVolume lvreal-node-2-cidata",
    "Volume lvreal-node-1-root",
    "Volume lvreal-node-2-root",
    "nixlab:Clock lvreal-clock",
    "tls:index/privateKey:PrivateKey lvreal-node-1-host-ed25519",
    "tls:index/privateKey:PrivateKey lvreal-node-2-host-ed25519",
    "tls:index/privateKey:PrivateKey lvreal-operator-key",
];

/** The expected op list: `op` for all, except the given resources. */
function expectOps(ops: OpRecord[], op: string, except: Record<string, string> = {}): void {
    expect(opLines(ops)).toEqual(RESOURCES.map((r) => `${r} ${except[r] ?? op}`).sort());
}

const ADDRESS = { "node-1": `${CIDR_PREFIX}.10`, "node-2": `${CIDR_PREFIX}.11` } as const;

/**
 * ssh to a node from inside the namespace with the program's operator key, checking the
 * host key against the lab's `knownHosts` output (StrictHostKeyChecking=yes): it passes
 * only if the host key the program generated was installed by cloud-init.
 */
async function ssh(node: keyof typeof ADDRESS, command: string): Promise<string> {
    return sshTo(netns, { work: WORK, alias: `${LAB}-${node}`, host: ADDRESS[node], port: 22 }, command);
}

/** Removes what a crashed earlier run may have left: through its state, then by name. */
async function cleanLeftovers(lab: string, work: string): Promise<void> {
    fs.mkdirSync(work, { recursive: true });
    for (const f of fs.readdirSync(work)) if (f.endsWith(".log")) fs.rmSync(path.join(work, f));
    if (fs.existsSync(path.join(work, "state.json"))) await engine("destroy", `cleanup-old-${lab}`, work);
    fs.rmSync(path.join(work, "state.json"), { force: true });
    await deleteLabByName(lab);
}

describe.runIf(process.env.NIXLAB_LIBVIRT_REAL === "1")("libvirt backend against a real libvirtd (TCG)", () => {
    const suiteStarted = Date.now();

    beforeAll(async () => {
        fixtureDir = inject("fixtureDir");
        netns = inject("netns");
        await cleanLeftovers(LAB, WORK);
        await cleanLeftovers(USER_LAB, USER_WORK);
        if (!fs.existsSync(path.join(WORK, "user.pub"))) {
            const r = await exec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nixlab-real-test", "-f", path.join(WORK, "user")]);
            expect(r.code, r.stderr).toBe(0);
        }
    });

    afterAll(() => {
        timings.total = (Date.now() - suiteStarted) / 1000;
        process.stderr.write(`[libvirt real] timings (s): ${JSON.stringify(timings)}\n`);
    });

    it("brings up a 2-node lab: every resource created, both nodes ready", async () => {
        writeProgram(programSpec({ "node-1": {}, "node-2": {} }));
        const report = await engine("up", "up-1");
        expectOps(report.ops, "create");
        saveAccess(report, LAB, WORK);

        const nodes = report.outputs.nodes as Record<string, { ready: string; sshHost: string; sshPort: number; machineType: string }>;
        expect(Object.keys(nodes).sort()).toEqual(["node-1", "node-2"]);
        for (const n of ["node-1", "node-2"] as const) {
            expect(nodes[n]).toMatchObject({ sshHost: ADDRESS[n], sshPort: 22, machineType: "q35" });
            // TCG may or may not emulate SVM/VMX; kvm: none nodes do not care which.
            expect(nodes[n]!.ready).toMatch(new RegExp(`^NIXLAB-READY node=${n} kvm=(ok|missing)$`));
        }
        expect(await virshNames(["list", "--name"])).toEqual(expect.arrayContaining([`nixlab-${LAB}.node-1`, `nixlab-${LAB}.node-2`]));
        expect((await virshNames(["-q", "vol-list", "--pool", `nixlab-${LAB}`])).map((l) => l.split(/\s+/)[0]).sort()).toEqual(
            [
                // The pool directory's ownership marker (stack and lab).
                ".nixlab-owner",
                "node-1.cidata.iso",
                "node-1.root.qcow2",
                "node-2.cidata.iso",
                "node-2.root.qcow2",
                expect.stringMatching(/^nixlab-base-[0-9a-f]{16}$/),
                expect.stringMatching(/^nixlab-initrd-[0-9a-f]{16}$/),
                expect.stringMatching(/^nixlab-kernel-[0-9a-f]{16}$/),
            ].sort(),
        );
        const tags = await virsh(URI, ["metadata", `nixlab-${LAB}.node-1`, "https://nixlab.dev/xmlns/libvirt/tags/1"]);
        expect(tags.stdout).toContain(`<tag key="nixlab:lab">${LAB}</tag>`);
        expect(tags.stdout).toContain(`<tag key="nixlab:node">node-1</tag>`);
        expect(tags.stdout).toMatch(/<tag key="nixlab:expires-at">\d{4}-\d\d-\d\dT/);
    });

    it("cloud-init ran on both nodes: readiness line on each serial log, `cloud-init status` done over ssh", async () => {
        for (const n of ["node-1", "node-2"] as const) {
            const log = fs.readFileSync(`/var/log/libvirt/qemu/nixlab-${LAB}.${n}.serial.log`, "latin1");
            expect(log).toMatch(new RegExp(`NIXLAB-READY node=${n} kvm=(ok|missing)`));
            expect(await ssh(n, "cloud-init status")).toBe("status: done");
            expect(await ssh(n, "hostname")).toBe(n);
        }
        // The lab network: node-1 reaches node-2's sshd at its fixed address.
        expect(await ssh("node-1", `timeout 5 bash -c '</dev/tcp/${ADDRESS["node-2"]}/22' && echo reachable`)).toBe("reachable");
    });

    it("a second up with unchanged config changes nothing", async () => {
        const report = await engine("up", "up-2-unchanged");
        expectOps(report.ops, "same");
    });

    it("growing a node's root disk updates only that volume, live", async () => {
        writeProgram(programSpec({ "node-1": { rootDiskGiB: 5 }, "node-2": {} }));
        const report = await engine("up", "up-3-resize");
        expectOps(report.ops, "same", { "Volume lvreal-node-1-root": "update" });
        expect(await ssh("node-1", "lsblk -bdno SIZE /dev/vda")).toBe(String(5 * 1024 ** 3));
    });

    it("changing a node's cloud-init replaces its seed and reboots only that node", async () => {
        writeProgram(programSpec({ "node-1": { rootDiskGiB: 5 }, "node-2": { runcmd: ["echo changed > /var/tmp/nixlab-changed"] } }));
        const report = await engine("up", "up-4-cloudinit");
        expectOps(report.ops, "same", { "SeedVolume lvreal-node-2-cidata": "replace", "Domain lvreal-node-2": "update" });
        expect(report.ops.find((o) => o.name === `${LAB}-node-2-cidata`)?.replaces).toEqual(["userData"]);
        expect(await ssh("node-2", "cat /var/tmp/nixlab-changed; cloud-init status")).toBe("changed\nstatus: done");
    });

    it("a node deleted behind the program's back is detected and recreated on its disk", async () => {
        const dom = `nixlab-${LAB}.node-1`;
        expect((await virsh(URI, ["destroy", dom])).code).toBe(0);
        expect((await virsh(URI, ["undefine", dom])).code).toBe(0);
        const report = await engine("up", "up-5-drift");
        expectOps(report.ops, "same", { "Domain lvreal-node-1": "replace" });
        expect(report.ops.find((o) => o.name === `${LAB}-node-1`)?.replaces).toEqual(["uuid"]);
        expect(await virshNames(["list", "--name"])).toContain(dom);
        // Same disk (still grown), same host key, cloud-init not re-run.
        expect(await ssh("node-1", "lsblk -bdno SIZE /dev/vda; cloud-init status")).toBe(`${5 * 1024 ** 3}\nstatus: done`);
    });

    it("destroy leaves no domain, volume, pool or network", async () => {
        const report = await engine("destroy", "destroy");
        expectOps(report.ops, "delete");
        // Dependents first: each domain before its disks, every volume before the pool.
        const at = (name: string) => report.ops.findIndex((o) => o.name === name);
        for (const n of ["node-1", "node-2"]) {
            expect(at(`${LAB}-${n}`)).toBeLessThan(at(`${LAB}-${n}-root`));
            expect(at(`${LAB}-${n}`)).toBeLessThan(at(`${LAB}-${n}-cidata`));
        }
        const pool = at(`${LAB}-net-pool`);
        expect(report.ops.filter((o) => /Volume$/.test(o.type)).every((o) => at(o.name) < pool)).toBe(true);
        expect(await leftovers()).toEqual([]);
        // Files too: the pool directory, both serial logs.
        expect(fileLeftovers(LAB)).toEqual([]);
        expect(readState(path.join(WORK, "state.json")).resources).toEqual({});
    });

    it("user-mode networking (no bridge): a node reached through a loopback port forward, then destroyed", async () => {
        writeProgram(userModeSpec(), USER_WORK);
        const up = await engine("up", "user-mode-up", USER_WORK);
        expect(opLines(up.ops)).toEqual(
            [
                "Domain lvuser-solo create",
                "ImageVolume lvuser-image-x86_64 create",
                "ImageVolume lvuser-image-x86_64-initrd create",
                "ImageVolume lvuser-image-x86_64-kernel create",
                "Pool lvuser-net-pool create",
                "SeedVolume lvuser-solo-cidata create",
                "Volume lvuser-solo-root create",
                "nixlab:Clock lvuser-clock create",
                "tls:index/privateKey:PrivateKey lvuser-operator-key create",
                "tls:index/privateKey:PrivateKey lvuser-solo-host-ed25519 create",
            ].sort(),
        );
        expect((up.outputs.nodes as Record<string, unknown>).solo).toMatchObject({ sshHost: "127.0.0.1", sshPort: USER_SSH_PORT, privateAddress: "10.213.9.10" });
        // No libvirt network: nothing on the host but the QEMU process.
        expect(await virshNames(["net-list", "--all", "--name"])).not.toContain(`nixlab-${USER_LAB}`);
        saveAccess(up, USER_LAB, USER_WORK);
        const to = { work: USER_WORK, alias: `${USER_LAB}-solo`, host: "127.0.0.1", port: USER_SSH_PORT };
        expect(await sshTo(netns, to, "cloud-init status; ip -4 -o addr show scope global | awk '{print $4}'; ip route show default | cut -d' ' -f1-3")).toBe(
            "status: done\n10.213.9.10/24\ndefault via 10.213.9.1",
        );
        const down = await engine("destroy", "user-mode-destroy", USER_WORK);
        expect(down.ops).toHaveLength(10);
        expect(await leftovers(`nixlab-${USER_LAB}`)).toEqual([]);
        expect(fileLeftovers(USER_LAB)).toEqual([]);
    });
});
