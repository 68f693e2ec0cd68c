/**
 * The libvirt providers' decisions (diff) and the virsh commands they run (update, delete,
 * create failures), against a scripted stand-in for `virsh` on PATH. The real-libvirt suite
 * (npm run test:libvirt) proves the commands work; this proves the logic picks the right
 * ones, fast, in `npm test`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
    domainProvider,
    networkProvider,
    poolProvider,
    seedVolumeProvider,
    volumeProvider,
    type DomainOutputs,
    type NetworkOutputs,
    type SeedVolumeOutputs,
    type VolumeOutputs,
} from "../providers/libvirt/provider";

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-fake-virsh-"));
const RULES = path.join(WORK, "rules.json");
const LOG = path.join(WORK, "calls.log");
const U = "qemu:///system";

interface Rule {
    /** Regex over the arguments after `-c <uri>`, joined by spaces. */
    match: string;
    code?: number;
    stdout?: string;
    stderr?: string;
}

const NOT_FOUND = { domain: "error: failed to get domain 'x'\n", pool: "error: failed to get pool 'x'\nerror: Storage pool not found: no storage pool with matching name 'x'\n" };

const SEP = "\x1f";

/** Answers by the first matching rule (exit 0, no output when none matches). */
function answer(rules: Rule[]): void {
    const esc = (s = "") => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
    fs.writeFileSync(RULES, rules.map((r) => [r.match, String(r.code ?? 0), esc(r.stdout), esc(r.stderr)].join(SEP) + "\n").join(""));
    fs.writeFileSync(LOG, "");
}

/** Commands virsh was run with, without `-c <uri>`. */
function calls(): string[] {
    return fs
        .readFileSync(LOG, "utf8")
        .split("\n")
        .filter((l) => l !== "");
}

beforeAll(() => {
    fs.mkdirSync(path.join(WORK, "bin"));
    // sh, not node: a stand-in started hundreds of times must start fast.
    fs.writeFileSync(
        path.join(WORK, "bin", "virsh"),
        `#!/bin/sh
shift 2
printf '%s\\n' "$*" >>'${LOG}'
joined="$*"
IFS="$(printf '\\037')"
while read -r re code out err; do
    if printf '%s' "$joined" | grep -Eq -- "$re"; then
        printf '%b' "$out"
        printf '%b' "$err" >&2
        exit "$code"
    fi
done <'${RULES}'
exit 0
`,
        { mode: 0o755 },
    );
    // ssh to a qemu+ssh hypervisor: prints SSH_OUT, exits with the code in SSH_CODE.
    fs.writeFileSync(
        path.join(WORK, "bin", "ssh"),
        `#!/bin/sh
printf '%s\\n' "$*" >>'${SSH_LOG}'
cat '${SSH_OUT}'
exit "$(cat '${SSH_CODE}')"
`,
        { mode: 0o755 },
    );
    process.env.PATH = `${path.join(WORK, "bin")}${path.delimiter}${process.env.PATH}`;
});

const SSH_LOG = path.join(WORK, "ssh.log");
const SSH_OUT = path.join(WORK, "ssh.out");
const SSH_CODE = path.join(WORK, "ssh.code");

function sshAnswers(out: string, code: number): void {
    fs.writeFileSync(SSH_OUT, out);
    fs.writeFileSync(SSH_CODE, String(code));
    fs.writeFileSync(SSH_LOG, "");
}

beforeEach(() => answer([]));

describe("Pool", () => {
    const pool = { uri: U, name: "nixlab-dev", path: "/var/lib/libvirt/nixlab/dev" };

    it("replaces a pool deleted behind the program's back", async () => {
        answer([{ match: "^pool-info", code: 1, stderr: NOT_FOUND.pool }]);
        expect(await poolProvider.diff!("nixlab-dev", pool, pool)).toEqual({ changes: true, replaces: ["name"], deleteBeforeReplace: true });
    });

    it("starts a stopped pool, leaves a running one alone", async () => {
        answer([{ match: "^pool-info", stdout: "Name: nixlab-dev\nState:          inactive\n" }]);
        expect(await poolProvider.diff!("nixlab-dev", pool, pool)).toEqual({ changes: true, replaces: [] });
        answer([{ match: "^pool-info", stdout: "Name: nixlab-dev\nState:          running\n" }]);
        expect(await poolProvider.diff!("nixlab-dev", pool, pool)).toEqual({ changes: false, replaces: [] });
        expect(calls()).toEqual(["pool-info nixlab-dev"]);
    });

    it("a new path is a new pool, decided without asking libvirt", async () => {
        expect(await poolProvider.diff!("nixlab-dev", pool, { ...pool, path: "/srv/dev" })).toEqual({ changes: true, replaces: ["path"], deleteBeforeReplace: true });
        expect(calls()).toEqual([]);
    });

    it("delete empties the pool, then removes its directory and definition", async () => {
        answer([
            { match: "^pool-info", stdout: "State:          running\n" },
            { match: "^-q vol-list", stdout: " node-1.root.qcow2   /p/node-1.root.qcow2\n stray   /p/stray\n\n" },
        ]);
        await poolProvider.delete!("nixlab-dev", pool);
        expect(calls()).toEqual([
            "pool-info nixlab-dev",
            "pool-refresh nixlab-dev",
            "-q vol-list --pool nixlab-dev",
            "vol-delete --pool nixlab-dev node-1.root.qcow2",
            "vol-delete --pool nixlab-dev stray",
            "pool-destroy nixlab-dev",
            "pool-delete nixlab-dev",
            "pool-undefine nixlab-dev",
        ]);
    });

    it("delete of a pool that is already gone succeeds", async () => {
        answer([{ match: "^pool-info", code: 1, stderr: NOT_FOUND.pool }]);
        await poolProvider.delete!("nixlab-dev", pool);
        expect(calls()).toEqual(["pool-info nixlab-dev"]);
    });

    it("create undoes a half-made pool when a step fails", async () => {
        answer([{ match: "^pool-build", code: 1, stderr: "error: cannot create directory: Permission denied\n" }]);
        await expect(poolProvider.create(pool)).rejects.toThrow(
            "`virsh -c qemu:///system pool-build nixlab-dev` failed (exit 1): error: cannot create directory: Permission denied",
        );
        expect(calls()).toEqual([
            "pool-define-as nixlab-dev dir --target /var/lib/libvirt/nixlab/dev",
            "pool-build nixlab-dev",
            "pool-destroy nixlab-dev",
            "pool-undefine nixlab-dev",
        ]);
    });
});

describe("Network", () => {
    const a = { mac: "52:54:00:00:00:0a", name: "a", ip: "10.77.0.10" };
    const b = { mac: "52:54:00:00:00:0b", name: "b", ip: "10.77.0.11" };
    const c = { mac: "52:54:00:00:00:0c", name: "c", ip: "10.77.0.12" };
    const olds: NetworkOutputs = { uri: U, name: "nixlab-dev", xml: "<network/>", hosts: [a, b], generation: "g1" };

    it("a node added or removed is an update of the running network, not a replacement", async () => {
        answer([{ match: "^net-info", stdout: "Active:         yes\n" }]);
        expect(await networkProvider.diff!("nixlab-dev", olds, { ...olds, hosts: [b, c] })).toEqual({ changes: true, replaces: [] });
        answer([{ match: "^net-info", stdout: "Active:         yes\n" }]);
        const r = await networkProvider.update!("nixlab-dev", olds, { uri: U, name: "nixlab-dev", xml: "<network/>", hosts: [b, c] });
        expect(r.outs).toEqual({ uri: U, name: "nixlab-dev", xml: "<network/>", hosts: [b, c], generation: "g1" });
        expect(calls()).toEqual([
            "net-info nixlab-dev",
            "net-update nixlab-dev delete ip-dhcp-host <host mac='52:54:00:00:00:0a' name='a' ip='10.77.0.10'/> --live --config",
            "net-update nixlab-dev delete dns-host <host ip='10.77.0.10'><hostname>a</hostname></host> --live --config",
            "net-update nixlab-dev add-last ip-dhcp-host <host mac='52:54:00:00:00:0c' name='c' ip='10.77.0.12'/> --live --config",
            "net-update nixlab-dev add-last dns-host <host ip='10.77.0.12'><hostname>c</hostname></host> --live --config",
        ]);
    });

    it("new XML replaces the network", async () => {
        expect(await networkProvider.diff!("nixlab-dev", olds, { ...olds, xml: "<network><x/></network>" })).toEqual({
            changes: true,
            replaces: ["xml"],
            deleteBeforeReplace: true,
        });
    });

    it("an unchanged, running network is left alone", async () => {
        answer([{ match: "^net-info", stdout: "Active:         yes\n" }]);
        expect(await networkProvider.diff!("nixlab-dev", olds, { uri: U, name: "nixlab-dev", xml: "<network/>", hosts: [a, b] })).toEqual({ changes: false, replaces: [] });
    });
});

describe("Volume", () => {
    const olds: VolumeOutputs = {
        uri: U,
        pool: "nixlab-dev",
        name: "node-1.root.qcow2",
        capacityBytes: 20 * 1024 ** 3,
        backing: { path: "/p/base", format: "qcow2", capacityBytes: 2 * 1024 ** 3 },
        domain: "nixlab-dev-node-1",
        sizeKey: "nixlab:lab.nodes[0].rootDiskGiB",
        path: "/p/node-1.root.qcow2",
        generation: "g1",
    };
    const { path: _p, generation: _g, ...inputs } = olds;

    it("growing is an update; shrinking is a new disk", async () => {
        expect(await volumeProvider.diff!("v", olds, { ...inputs, capacityBytes: 30 * 1024 ** 3 })).toEqual({ changes: true, replaces: [] });
        expect(await volumeProvider.diff!("v", olds, { ...inputs, capacityBytes: 10 * 1024 ** 3 })).toEqual({
            changes: true,
            replaces: ["capacityBytes"],
            deleteBeforeReplace: true,
        });
    });

    it("a new image under the overlay is a new disk", async () => {
        expect(await volumeProvider.diff!("v", olds, { ...inputs, backing: { ...inputs.backing!, path: "/p/base2" } })).toEqual({
            changes: true,
            replaces: ["backing"],
            deleteBeforeReplace: true,
        });
    });

    it("a volume deleted behind the program's back is replaced", async () => {
        answer([{ match: "^vol-info", code: 1, stderr: "error: failed to get vol 'x'\nerror: Storage volume not found: no storage vol with matching path 'x'\n" }]);
        expect(await volumeProvider.diff!("v", olds, inputs)).toEqual({ changes: true, replaces: ["name"], deleteBeforeReplace: true });
    });

    it("grows a disk in use through QEMU (blockresize), a disk at rest with vol-resize", async () => {
        answer([{ match: "^domstate", stdout: "running\n\n" }]);
        const r = await volumeProvider.update!("v", olds, { ...inputs, capacityBytes: 30 * 1024 ** 3 });
        expect(calls()).toEqual(["domstate nixlab-dev-node-1", `blockresize nixlab-dev-node-1 /p/node-1.root.qcow2 ${30 * 1024 ** 3}B`]);
        expect(r.outs).toEqual({ ...olds, capacityBytes: 30 * 1024 ** 3 });
        answer([{ match: "^domstate", stdout: "shut off\n\n" }]);
        await volumeProvider.update!("v", olds, { ...inputs, capacityBytes: 30 * 1024 ** 3 });
        expect(calls()).toEqual(["domstate nixlab-dev-node-1", `vol-resize --pool nixlab-dev node-1.root.qcow2 ${30 * 1024 ** 3}B`]);
    });

    it("creates an overlay backed by the image", async () => {
        answer([{ match: "^vol-path", stdout: "/p/node-1.root.qcow2\n" }]);
        const r = await volumeProvider.create(inputs);
        expect(calls()).toEqual([
            `vol-create-as nixlab-dev node-1.root.qcow2 ${20 * 1024 ** 3}B --format qcow2 --backing-vol /p/base --backing-vol-format qcow2`,
            "vol-path --pool nixlab-dev node-1.root.qcow2",
        ]);
        expect(r.outs).toMatchObject({ path: "/p/node-1.root.qcow2", generation: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    });

    it("delete of a volume (or pool) that is gone succeeds", async () => {
        answer([{ match: "^vol-delete", code: 1, stderr: NOT_FOUND.pool }]);
        await volumeProvider.delete!("v", olds);
        expect(calls()).toEqual(["vol-delete --pool nixlab-dev node-1.root.qcow2"]);
    });
});

describe("SeedVolume", () => {
    const olds: SeedVolumeOutputs = {
        uri: U,
        pool: "nixlab-dev",
        name: "node-1.cidata.iso",
        networkConfig: "version: 2\n",
        vendorData: "#!/bin/sh\n",
        hostname: "node-1",
        instanceIdPrefix: "nixlab-dev-node-1",
        // sha256("#cloud-config\n")
        userDataSha256: "88c95955b024402aa9572b663f7eeb134f01343bb92af27b50e97e72b22c565f",
        instanceId: "nixlab-dev-node-1-x",
        path: "/p/node-1.cidata.iso",
    };

    it("new user-data is a new seed (compared by hash: the secret never lands in outputs)", async () => {
        const { userDataSha256: _h, instanceId: _i, path: _p, ...rest } = olds;
        expect(await seedVolumeProvider.diff!("s", olds, { ...rest, userData: "#cloud-config\nhostname: x\n" })).toEqual({
            changes: true,
            replaces: ["userData"],
            deleteBeforeReplace: true,
        });
    });

    it("the same user-data on an existing seed is no change", async () => {
        const { userDataSha256: _h, instanceId: _i, path: _p, ...rest } = olds;
        expect(await seedVolumeProvider.diff!("s", olds, { ...rest, userData: "#cloud-config\n" })).toEqual({ changes: false });
        expect(calls()).toEqual(["vol-info --pool nixlab-dev node-1.cidata.iso"]);
    });
});

describe("Domain", () => {
    const log = path.join(WORK, "serial.log");
    const olds: DomainOutputs = {
        uri: U,
        name: "nixlab-dev-node-1",
        xml: "<domain/>",
        tagsXml: "<tags/>",
        metadataUri: "https://nixlab.dev/xmlns/libvirt/tags/1",
        serialLog: log,
        hypervisorSsh: [],
        nodeName: "node-1",
        kvm: "none",
        readyMarker: "NIXLAB-READY",
        readyTimeoutSeconds: 10,
        restartOn: ["g1"],
        uuid: "u1",
        ready: "NIXLAB-READY node=node-1 kvm=ok",
    };
    const { uuid: _u, ready: _r, ...inputs } = olds;
    const running = [
        { match: "^domuuid", stdout: "u1\n" },
        { match: "^domstate", stdout: "running\n" },
    ];

    it("unchanged and running: nothing to do", async () => {
        answer(running);
        expect(await domainProvider.diff!("d", olds, inputs)).toEqual({ changes: false, replaces: [] });
    });

    it("undefined behind the program's back, or redefined by someone else: replaced", async () => {
        answer([{ match: "^domuuid", code: 1, stderr: NOT_FOUND.domain }]);
        expect(await domainProvider.diff!("d", olds, inputs)).toEqual({ changes: true, replaces: ["uuid"], deleteBeforeReplace: true });
        answer([{ match: "^domuuid", stdout: "u2\n" }]);
        expect(await domainProvider.diff!("d", olds, inputs)).toEqual({ changes: true, replaces: ["uuid"], deleteBeforeReplace: true });
    });

    it("a tag change is applied live, without a reboot", async () => {
        answer(running);
        const news = { ...inputs, tagsXml: "<tags><tag key='a'>b</tag></tags>" };
        expect(await domainProvider.diff!("d", olds, news)).toEqual({ changes: true, replaces: [] });
        answer(running);
        const r = await domainProvider.update!("d", olds, news);
        expect(calls()).toEqual([
            "domstate nixlab-dev-node-1",
            `metadata nixlab-dev-node-1 https://nixlab.dev/xmlns/libvirt/tags/1 --key nixlab --set <tags><tag key='a'>b</tag></tags> --config --live`,
        ]);
        expect(r.outs).toEqual({ ...olds, tagsXml: news.tagsXml });
    });

    it("a recreated disk reboots the node and waits for its readiness line again", async () => {
        fs.writeFileSync(log, "booting\r\nNIXLAB-READY node=node-1 kvm=ok\r\n");
        answer(running);
        const news = { ...inputs, restartOn: ["g2"] };
        expect(await domainProvider.diff!("d", olds, news)).toEqual({ changes: true, replaces: [] });
        answer(running);
        const r = await domainProvider.update!("d", olds, news);
        expect(calls()).toEqual(["domstate nixlab-dev-node-1", "destroy nixlab-dev-node-1", "start nixlab-dev-node-1"]);
        expect(r.outs).toEqual({ ...olds, restartOn: ["g2"] });
    });

    it("a stopped node is started", async () => {
        fs.writeFileSync(log, "NIXLAB-READY node=node-1 kvm=ok\n");
        answer([{ match: "^domuuid", stdout: "u1\n" }, { match: "^domstate", stdout: "shut off\n" }]);
        expect(await domainProvider.diff!("d", olds, inputs)).toEqual({ changes: true, replaces: [] });
        await domainProvider.update!("d", olds, inputs);
        expect(calls()).toEqual(["domuuid nixlab-dev-node-1", "domstate nixlab-dev-node-1", "domstate nixlab-dev-node-1", "start nixlab-dev-node-1"]);
    });

    it("a node that stops before it is ready fails the create and leaves no domain behind", async () => {
        fs.writeFileSync(log, "Kernel panic - not syncing: VFS: Unable to mount root fs\r\n");
        answer([{ match: "^domstate", stdout: "shut off\n" }]);
        await expect(domainProvider.create(inputs)).rejects.toThrow(
            `domain nixlab-dev-node-1 stopped (shut off) before cloud-init finished; last console lines (${log}):\nKernel panic - not syncing: VFS: Unable to mount root fs\n`,
        );
        const cmds = calls();
        expect(cmds[0]).toMatch(/^define \/.*\/domain\.xml$/);
        expect(cmds.slice(1)).toEqual([
            `metadata nixlab-dev-node-1 https://nixlab.dev/xmlns/libvirt/tags/1 --key nixlab --set <tags/> --config`,
            "start nixlab-dev-node-1",
            "domstate nixlab-dev-node-1",
            "destroy nixlab-dev-node-1",
            "undefine nixlab-dev-node-1 --nvram",
        ]);
    });

    it("a node without /dev/kvm fails readiness when it asked for KVM", async () => {
        fs.writeFileSync(log, "NIXLAB-READY node=node-1 kvm=missing\r\n");
        answer([]);
        await expect(domainProvider.create({ ...inputs, kvm: "nested" })).rejects.toThrow(
            "node node-1 booted but has no /dev/kvm although kvm: nested was asked for. Enable nested virtualization on the hypervisor",
        );
    });

    it("on a remote hypervisor, reads the serial log over ssh (sudo -n when the user cannot)", async () => {
        sshAnswers("NIXLAB-READY node=node-1 kvm=ok\r\n", 0);
        const r = await domainProvider.create({ ...inputs, hypervisorSsh: ["-p", "2200", "alice@hv"], serialLog: "/var/log/libvirt/qemu/it's.log" });
        expect(r.outs).toMatchObject({ ready: "NIXLAB-READY node=node-1 kvm=ok" });
        expect(fs.readFileSync(SSH_LOG, "utf8")).toBe(
            "-o BatchMode=yes -p 2200 alice@hv if [ ! -e '/var/log/libvirt/qemu/it'\\''s.log' ]; then exit 0; fi; " +
                "cat '/var/log/libvirt/qemu/it'\\''s.log' 2>/dev/null || sudo -n cat '/var/log/libvirt/qemu/it'\\''s.log'\n",
        );
    });

    it("says what to do when the serial log is root-only, instead of timing out", async () => {
        sshAnswers("", 1);
        fs.writeFileSync(SSH_OUT, "");
        await expect(domainProvider.create({ ...inputs, hypervisorSsh: ["alice@hv"] })).rejects.toThrow(
            `cannot read node node-1's serial log ${log} on the hypervisor (ssh alice@hv): virtlogd writes it for root only, and readiness is read from it (permission denied). ` +
                "Run Pulumi as root, connect as root (qemu+ssh://root@host/system), or allow this user `sudo -n cat` on nixlab:libvirt.serialLogDir",
        );
    });

    it("delete is idempotent", async () => {
        answer([{ match: ".", code: 1, stderr: NOT_FOUND.domain }]);
        await domainProvider.delete!("d", olds);
        expect(calls()).toEqual(["destroy nixlab-dev-node-1", "undefine nixlab-dev-node-1 --nvram"]);
    });
});
