/**
 * The libvirt backend against a remote hypervisor for real (`qemu+ssh://`): an sshd on the
 * loopback of network namespace `nixlab-test` stands in for the hypervisor host, in front
 * of the same private libvirtd the other real tests use. A 1-node lab goes up through it:
 * images streamed with `virsh vol-upload` over ssh, readiness read from the serial log
 * over ssh, and the node reached with `ssh -J` through that sshd.
 *
 * Everything that talks to 127.0.0.1 (the engine's virsh and ssh, the test's ssh) runs
 * under `ip netns exec`, so it is the namespace's loopback, never the machine's.
 *
 * Nothing outside temp dirs is changed: sshd gets a temp config, host key and
 * authorized_keys (`-f`/`-o`), and the client side gets its identity through the URI's
 * `?keyfile=` and its pinned known_hosts through `?command=` (an ssh wrapper with `-F`):
 * libvirt's ssh transport ignores `?known_hosts=` (libssh/libssh2 transports only), and
 * `?no_verify=1` would prove nothing about host keys. Needs /usr/sbin/sshd (Debian
 * openssh-server).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ProgramSpec, RunReport } from "./engine";
import { readState } from "./engine";
import { deleteLabByName, exec, fileLeftovers, leftovers, oneNodeLab, opLines, POOL_DIR, runEngine, runEngineRaw, saveAccess } from "./support";

const LAB = "lvremote";
const ADDRESS = "10.213.10.10";
const SERIAL_LOG = `/var/log/libvirt/qemu/nixlab-${LAB}.solo.serial.log`;
const WORK = path.join(os.tmpdir(), "nixlab-libvirt-real-remote");
const SSHD = "/usr/sbin/sshd";
/** sshd's privilege-separation directory; made here (and removed again) when missing. */
const PRIVSEP_DIR = "/run/sshd";

let fixtureDir = "";
let netns = "nixlab-test";
/** Temp dir of the stand-in hypervisor's sshd and the client's keys (under /run: sshd's StrictModes rejects world-writable /tmp in a key's path). */
let sshDir = "";
let sshPort = 0;
let madePrivsepDir = false;
const timings: Record<string, number> = {};

async function mustExec(cmd: string, args: string[]): Promise<string> {
    const r = await exec(cmd, args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
}

function inNetns(args: string[]): string[] {
    return ["netns", "exec", netns, ...args];
}

function remoteUri(): string {
    return `qemu+ssh://root@127.0.0.1:${sshPort}/system?keyfile=${sshDir}/client&command=${sshDir}/ssh`;
}

/** A port nothing listens on in the namespace: bind port 0 there and read what the kernel chose. */
async function freePort(): Promise<number> {
    const js = "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})";
    return Number((await mustExec("ip", inNetns([process.execPath, "-e", js]))).trim());
}

function sshdPid(): number | undefined {
    try {
        const pid = Number(fs.readFileSync(path.join(sshDir, "sshd.pid"), "utf8").trim());
        return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "sshd" ? pid : undefined;
    } catch {
        return undefined;
    }
}

/** The stand-in hypervisor: sshd on the namespace's 127.0.0.1:<free port>, root by key only. */
async function startSshd(): Promise<void> {
    if (!fs.existsSync(SSHD)) throw new Error(`${SSHD} is missing: the remote-hypervisor test needs Debian's openssh-server (apt-get install openssh-server)`);
    sshDir = fs.mkdtempSync("/run/nixlab-remote-sshd-");
    const d = sshDir;
    for (const key of ["host", "client"]) await mustExec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `nixlab-remote-${key}`, "-f", `${d}/${key}`]);
    fs.copyFileSync(`${d}/client.pub`, `${d}/authorized_keys`);
    if (!fs.existsSync(PRIVSEP_DIR)) {
        fs.mkdirSync(PRIVSEP_DIR, { mode: 0o755 });
        madePrivsepDir = true;
    }
    sshPort = await freePort();
    const hostKey = fs.readFileSync(`${d}/host.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    // Pinned: only this sshd's host key is trusted for [127.0.0.1]:port.
    fs.writeFileSync(`${d}/known_hosts`, `[127.0.0.1]:${sshPort} ${hostKey}\n`);
    // What virsh's ssh and the backend's ssh see: host-key policy only; the identity comes from ?keyfile=.
    fs.writeFileSync(`${d}/ssh_config`, `StrictHostKeyChecking yes\nUserKnownHostsFile ${d}/known_hosts\nBatchMode yes\n`);
    // The `?command=` wrapper: records each invocation (who used the remote path, and for what).
    // With ${d}/deny-log-reads present it answers serial-log reads the way ssh does when the key is refused (a real fault, not a stub of readiness).
    fs.writeFileSync(
        `${d}/ssh`,
        `#!/bin/sh\nprintf '%s\\n' "$*" >> ${d}/ssh.log\n` +
            `case "$*" in *"cat '"*) if [ -f ${d}/deny-log-reads ]; then echo "root@127.0.0.1: Permission denied (publickey)." >&2; exit 255; fi;; esac\n` +
            `exec ssh -F ${d}/ssh_config "$@"\n`,
        { mode: 0o755 },
    );
    // The test's own `ssh -J`: the jump hop reads only -F, so the identity goes in there too.
    fs.writeFileSync(`${d}/jump_config`, `Host 127.0.0.1\n    IdentityFile ${d}/client\n    IdentitiesOnly yes\n    UserKnownHostsFile ${d}/known_hosts\n    StrictHostKeyChecking yes\n    BatchMode yes\n`);
    fs.writeFileSync(`${d}/sshd_config`, "");
    await mustExec("ip", inNetns([
        SSHD, "-f", `${d}/sshd_config`, "-E", `${d}/sshd.log`,
        "-o", "ListenAddress=127.0.0.1",
        "-o", `Port=${sshPort}`,
        "-o", "PermitRootLogin=prohibit-password",
        "-o", `PidFile=${d}/sshd.pid`,
        "-o", `HostKey=${d}/host`,
        "-o", `AuthorizedKeysFile=${d}/authorized_keys`,
        "-o", "PasswordAuthentication=no",
        "-o", "KbdInteractiveAuthentication=no",
        "-o", "UsePAM=no",
    ]));
    for (let i = 0; i < 50 && !sshdPid(); i++) await new Promise((r) => setTimeout(r, 100));
    if (!sshdPid()) throw new Error(`sshd did not start: ${fs.readFileSync(`${d}/sshd.log`, "utf8")}`);
}

async function stopSshd(): Promise<void> {
    const pid = sshDir ? sshdPid() : undefined;
    if (pid) {
        process.kill(pid, "SIGTERM");
        for (let i = 0; i < 50 && sshdPid(); i++) await new Promise((r) => setTimeout(r, 100));
    }
    if (sshDir) fs.rmSync(sshDir, { recursive: true, force: true });
    if (madePrivsepDir) fs.rmSync(PRIVSEP_DIR, { recursive: true, force: true });
}

function programSpec(): ProgramSpec {
    const lab = oneNodeLab(LAB, "10.213.10.0/24", WORK, fixtureDir);
    return {
        stack: LAB,
        config: {
            "nixlab:backend": "libvirt",
            "nixlab:libvirt": JSON.stringify({ uri: remoteUri(), accelerator: "tcg", poolDir: POOL_DIR, readyTimeoutSeconds: 600 }),
            "nixlab:lab": JSON.stringify(lab),
        },
    };
}

/** One engine run in its own process, inside the namespace (127.0.0.1 is the stand-in hypervisor there). */
async function engine(action: "up" | "destroy", label: string): Promise<RunReport> {
    const { report, seconds } = await runEngine({ action, label, work: WORK, logFile: path.join(WORK, `${label}.log`), prefix: ["ip", ...inNetns([])] });
    timings[label] = seconds;
    return report;
}

const RESOURCES = [
    "Domain lvremote-solo",
    "ImageVolume lvremote-image-x86_64",
    "ImageVolume lvremote-image-x86_64-initrd",
    "ImageVolume lvremote-image-x86_64-kernel",
    "Network lvremote-net",
    "Pool lvremote-net-pool",
    "SeedVolume lvremote-solo-cidata",
    "Volume lvremote-solo-root",
    "nixlab:Clock lvremote-clock",
    "tls:index/privateKey:PrivateKey lvremote-operator-key",
    "tls:index/privateKey:PrivateKey lvremote-solo-host-ed25519",
];

/** What an earlier crashed run may have left, by name over the local socket (its state names a dead sshd's port). */
async function cleanLeftovers(): Promise<void> {
    fs.mkdirSync(WORK, { recursive: true });
    for (const f of ["state.json", "last-run.json"]) fs.rmSync(path.join(WORK, f), { force: true });
    await deleteLabByName(LAB);
}

describe.runIf(process.env.NIXLAB_LIBVIRT_REAL === "1")("libvirt backend on a remote hypervisor (qemu+ssh, TCG)", () => {
    const suiteStarted = Date.now();

    beforeAll(async () => {
        fixtureDir = inject("fixtureDir");
        netns = inject("netns");
        await cleanLeftovers();
        if (!fs.existsSync(path.join(WORK, "user.pub"))) {
            await mustExec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nixlab-remote-test", "-f", path.join(WORK, "user")]);
        }
        await startSshd();
    });

    afterAll(async () => {
        // A failed step must not leave the lab to the next file's leftover checks.
        await deleteLabByName(LAB).catch((e: unknown) => process.stderr.write(`[libvirt remote] cleanup of ${LAB} failed: ${String(e)}\n`));
        await stopSshd();
        timings.total = (Date.now() - suiteStarted) / 1000;
        process.stderr.write(`[libvirt remote] timings (s): ${JSON.stringify(timings)}\n`);
    });

    it("brings up a 1-node lab through qemu+ssh://root@127.0.0.1:<port>/system, reaches the node with ssh -J, destroys it", async () => {
        // The stand-in hypervisor answers virsh over ssh with the pinned host key.
        const version = await exec("ip", inNetns(["virsh", "-c", remoteUri(), "version"]));
        expect(version.code, version.stderr).toBe(0);
        // ...and only because of it: without the wrapper's known_hosts, ssh refuses the host.
        const unpinned = await exec("ip", inNetns(["virsh", "-c", `${remoteUri().replace(/&command=.*$/, "")}&no_tty=1`, "version"]));
        expect(unpinned.code).not.toBe(0);
        expect(unpinned.stderr).toContain("Host key verification failed");

        fs.writeFileSync(path.join(WORK, "program.json"), JSON.stringify(programSpec(), null, 2));
        // ssh refusing the serial-log reads (exit 255): reported with ssh's own words after
        // three tries, and the half-made node removed, instead of a readiness timeout.
        fs.writeFileSync(`${sshDir}/deny-log-reads`, "");
        const denied = await runEngineRaw({ action: "up", label: "remote-up-ssh-denied", work: WORK, logFile: path.join(WORK, "remote-up-ssh-denied.log"), prefix: ["ip", ...inNetns([])] });
        timings["remote-up-ssh-denied"] = denied.seconds;
        fs.rmSync(`${sshDir}/deny-log-reads`);
        expect(denied.report?.ok).toBe(false);
        expect(denied.report?.error).toContain(
            `node solo: cannot read its serial log ${SERIAL_LOG} on the hypervisor (${sshDir}/ssh -p ${sshPort} -i ${sshDir}/client -- root@127.0.0.1): ` +
                "ssh failed (exit 255) 3 times in a row: root@127.0.0.1: Permission denied (publickey). Exit 255 is ssh itself failing",
        );
        expect(fs.readFileSync(`${sshDir}/ssh.log`, "utf8").split("\n").filter((c) => c.includes(`cat '${SERIAL_LOG}'`))).toHaveLength(3);
        expect(await leftovers(`nixlab-${LAB}.`)).toEqual([]);

        const up = await engine("up", "remote-up");
        expect(opLines(up.ops)).toEqual(RESOURCES.map((r) => `${r} ${r.startsWith("Domain ") ? "create" : "same"}`).sort());

        const jump = `root@127.0.0.1:${sshPort}`;
        const solo = (up.outputs.nodes as Record<string, Record<string, unknown>>).solo!;
        expect(solo).toMatchObject({ sshHost: ADDRESS, sshPort: 22, proxyJump: jump, privateAddress: ADDRESS });
        expect(solo.ready).toMatch(/^NIXLAB-READY node=solo kvm=(ok|missing)$/);
        expect(String(solo.ssh)).toContain(`-J ${jump}`);
        expect(String(up.outputs.sshConfig)).toContain(`    ProxyJump ${jump}`);
        // The domain was told to read its serial log over ssh through the URI's command and key...
        const state = readState(path.join(WORK, "state.json"));
        const dom = Object.values(state.resources).find((e) => e.name === `${LAB}-solo`)!;
        expect(dom.inputs).toMatchObject({
            uri: remoteUri(),
            // `--` before the host: a URI host starting with `-` is refused, and ssh never reads one as an option.
            hypervisorSsh: ["-p", String(sshPort), "-i", `${sshDir}/client`, "--", "root@127.0.0.1"],
            hypervisorSshCommand: `${sshDir}/ssh`,
        });
        // ...and did: the wrapper saw libvirt's connections and the backend's log reads.
        const calls = fs.readFileSync(`${sshDir}/ssh.log`, "utf8").split("\n");
        expect(calls.filter((c) => c.includes(`cat '${SERIAL_LOG}'`)).length).toBeGreaterThan(0);
        expect(calls.filter((c) => /virt-ssh-helper|libvirt-sock/.test(c)).length).toBeGreaterThan(0);
        expect(fs.readFileSync(SERIAL_LOG, "latin1")).toMatch(/NIXLAB-READY node=solo kvm=(ok|missing)/);

        // ssh to the node through the jump host, checking the node's key against the lab's knownHosts.
        saveAccess(up, LAB, WORK);
        const sshArgs = inNetns([
            "ssh", "-F", `${sshDir}/jump_config`,
            "-J", jump,
            "-i", path.join(WORK, "operator.key"),
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", `UserKnownHostsFile=${path.join(WORK, "known_hosts")}`,
            "-o", `HostKeyAlias=${LAB}-solo`,
            "-o", "ConnectTimeout=10",
            "-o", "LogLevel=ERROR",
            `lab@${ADDRESS}`,
            "cloud-init status; hostname",
        ]);
        let hop = { code: -1, stdout: "", stderr: "" };
        // sshd may still be settling when the readiness line appears: a few bounded retries.
        for (let i = 0; i < 6; i++) {
            hop = await exec("ip", sshArgs);
            if (hop.code === 0 || /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(hop.stderr)) break;
            await new Promise((r) => setTimeout(r, 5000));
        }
        expect(hop, hop.stderr).toMatchObject({ code: 0, stdout: "status: done\nsolo\n" });
        // The hop really went through the stand-in hypervisor's sshd (a forwarding request to the node).
        expect(fs.readFileSync(`${sshDir}/sshd.log`, "utf8")).toMatch(new RegExp(`Accepted publickey for root from 127\\.0\\.0\\.1`));

        const down = await engine("destroy", "remote-destroy");
        expect(opLines(down.ops)).toEqual(RESOURCES.map((r) => `${r} delete`).sort());
        expect(await leftovers()).toEqual([]);
        // The serial log went too, removed over ssh.
        expect(fileLeftovers(LAB)).toEqual([]);
        expect(fs.readFileSync(`${sshDir}/ssh.log`, "utf8")).toContain(`rm -f -- '${SERIAL_LOG}'`);
        expect(readState(path.join(WORK, "state.json")).resources).toEqual({});
    });
});
