/**
 * The libvirt providers' decisions (diff) and the virsh commands they run (update, delete,
 * create failures), against a scripted stand-in for `virsh` on PATH. The real-libvirt suite
 * (npm run test:libvirt) proves the commands work; this proves the logic picks the right
 * ones, fast, in `npm test`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
    DEFINE_NS,
    domainProvider,
    libvirtProvider,
    parseDefineStamp,
    removeIfStillOurs,
    withDefineStamp,
    networkProvider,
    poolProvider,
    seedVolumeProvider,
    volumeProvider,
    type DomainOutputs,
    type NetworkOutputs,
    type PoolOutputs,
    type SeedVolumeOutputs,
    type VolumeOutputs,
    withHosts,
} from "../providers/libvirt/provider";
import { renderNetworkXml, renderOwnerXml } from "../providers/libvirt/render";
import { DynamicProviderHost, type ResourceRef } from "./libvirt/providerHost";
import { tempDir } from "./support/tmp";

const WORK = tempDir("nixlab-fake-virsh-");
const RULES = path.join(WORK, "rules.json");
const LOG = path.join(WORK, "calls.log");
/** The last XML given to \`virsh define\`. */
const DEFINED = path.join(WORK, "defined.xml");
const U = "qemu:///system";

interface Rule {
    /** Regex over the arguments after `-c <uri>`, joined by spaces. */
    match: string;
    code?: number;
    /** "@defined": the last XML given to `virsh define`, as libvirt hands back a domain's own definition. */
    stdout?: string;
    stderr?: string;
}

const NOT_FOUND = {
    domain: "error: failed to get domain 'x'\n",
    network: "error: failed to get network 'x'\nerror: Network not found: no network with matching name 'x'\n",
    pool: "error: failed to get pool 'x'\nerror: Storage pool not found: no storage pool with matching name 'x'\n",
    vol: "error: failed to get vol 'x'\nerror: Storage volume not found: no storage vol with matching path 'x'\n",
};
/** What virsh prints when the connection drops mid-lookup: the same first line as "no such domain". */
const DROPPED = "error: failed to get domain 'x'\nerror: Cannot recv data: Connection reset by peer\n";

const SEP = "\x1f";

/** Answers by the first matching rule (exit 0, no output when none matches). */
function answer(rules: Rule[]): void {
    const esc = (s = "") => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
    fs.writeFileSync(RULES, rules.map((r) => [r.match, String(r.code ?? 0), esc(r.stdout), esc(r.stderr)].join(SEP) + "\n").join(""));
    fs.writeFileSync(LOG, "");
}

/**
 * Commands virsh was run with, without `-c <uri>`; one line per virsh process, a batch's
 * commands (provider.ts virshBatch) joined by " ; " without the echo marks between them.
 */
function calls(): string[] {
    return fs
        .readFileSync(LOG, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.replace(/; echo nixlab-mark-[0-9a-f]+; /g, " ; "));
}

/** The UUID and define stamp in the last XML given to `virsh define`. */
function definedIds(): { uuid: string; stamp: string } {
    const xml = fs.readFileSync(DEFINED, "utf8");
    return { uuid: /<uuid>([^<]+)<\/uuid>/.exec(xml)![1]!, stamp: parseDefineStamp(xml)! };
}

/** calls() with the define's temp file as <file> and the UUID a create chose as <uuid>. */
function definedCalls(): string[] {
    const { uuid } = definedIds();
    return calls().map((l) => l.replace(/^define \S+/, "define <file>").split(uuid).join("<uuid>"));
}

beforeAll(() => {
    fs.mkdirSync(path.join(WORK, "bin"));
    // sh, not node: a stand-in started hundreds of times must start fast.
    fs.writeFileSync(
        path.join(WORK, "bin", "virsh"),
        `#!/bin/sh
shift 2
printf '%s\\n' "$*" >>'${LOG}'
if [ "$1" = define ]; then cp "$2" '${DEFINED}'; fi
us="$(printf '\\037')"
# One command (its words joined by spaces): the first matching rule's answer.
one() {
    while IFS="$us" read -r re code out err; do
        if printf '%s' "$1" | grep -Eq -- "$re"; then
            if [ "$out" = @defined ]; then cat '${DEFINED}'; else printf '%b' "$out"; fi
            printf '%b' "$err" >&2
            return "$code"
        fi
    done <'${RULES}'
    return 0
}
# A command string as virsh runs it: command after command, on after a failure, the
# last command's status as the exit status; echo prints its words.
case "$*" in
*"; echo nixlab-mark-"*)
    rest="$*"
    rc=0
    while [ -n "$rest" ]; do
        cmd="\${rest%%; *}"
        if [ "$cmd" = "$rest" ]; then rest=""; else rest="\${rest#*; }"; fi
        case "$cmd" in
        "echo "*) printf '%s\\n' "\${cmd#echo }"; rc=0 ;;
        *) one "$cmd"; rc=$? ;;
        esac
    done
    exit "$rc" ;;
esac
one "$*"
exit $?
`,
        { mode: 0o755 },
    );
    // ssh to a qemu+ssh hypervisor: prints SSH_OUT, exits with the code in SSH_CODE.
    fs.writeFileSync(
        path.join(WORK, "bin", "ssh"),
        `#!/bin/sh
printf '%s\\n' "$*" >>'${SSH_LOG}'
cat '${SSH_OUT}'
cat '${SSH_ERR}' >&2
exit "$(cat '${SSH_CODE}')"
`,
        { mode: 0o755 },
    );
    process.env.PATH = `${path.join(WORK, "bin")}${path.delimiter}${process.env.PATH}`;
});

const SSH_LOG = path.join(WORK, "ssh.log");
const SSH_OUT = path.join(WORK, "ssh.out");
const SSH_CODE = path.join(WORK, "ssh.code");
const SSH_ERR = path.join(WORK, "ssh.err");

function sshAnswers(out: string, code: number, err = ""): void {
    fs.writeFileSync(SSH_OUT, out);
    fs.writeFileSync(SSH_ERR, err);
    fs.writeFileSync(SSH_CODE, String(code));
    fs.writeFileSync(SSH_LOG, "");
}

beforeEach(() => answer([]));

describe("Pool", () => {
    const owner = { stack: "dev", lab: "dev" };
    const pool: PoolOutputs = { uri: U, name: "nixlab-dev", path: "/var/lib/libvirt/nixlab/dev", owner, uuid: "p1" };
    const { uuid: _u, ...inputs } = pool;
    const listed = { match: "^pool-list --all --name", stdout: "default\nnixlab-dev\n\n" };
    const ours = [
        { match: "^pool-uuid", stdout: "p1\n" },
        { match: "^pool-dumpxml", stdout: "<pool type='dir'><target><path>/var/lib/libvirt/nixlab/dev</path></target></pool>\n" },
        listed,
    ];

    it("replaces a pool a listing confirms gone", async () => {
        answer([{ match: "^pool-(uuid|dumpxml|info)", code: 1, stderr: NOT_FOUND.pool }, { match: "^pool-list", stdout: "default\n" }]);
        expect(await poolProvider.diff!("nixlab-dev", pool, inputs)).toEqual({ changes: true, replaces: ["name"], deleteBeforeReplace: true });
        // One virsh process: the lookups, then the listing, whose status is virsh's.
        expect(calls()).toEqual(["pool-uuid nixlab-dev ; pool-dumpxml nixlab-dev ; pool-info nixlab-dev ; pool-list --all --name"]);
    });

    it("a pool of that name with another UUID fails loudly and is neither replaced nor deleted", async () => {
        answer([{ match: "^pool-uuid", stdout: "p2\n" }, listed]);
        const msg =
            "storage pool nixlab-dev on qemu:///system has UUID p2, but this stack created UUID p1: the object was removed and another one made under its name " +
            "outside this stack run. nixlab does not change or delete it.";
        await expect(poolProvider.diff!("nixlab-dev", pool, inputs)).rejects.toThrow(msg);
        await expect(poolProvider.delete!("nixlab-dev", pool)).rejects.toThrow(msg);
        expect(calls().filter((c) => /^(pool-destroy|pool-delete|pool-undefine|vol-delete)/.test(c))).toEqual([]);
    });

    it("starts a stopped pool, leaves a running one alone", async () => {
        answer([...ours, { match: "^pool-info", stdout: "Name: nixlab-dev\nState:          inactive\n" }]);
        expect(await poolProvider.diff!("nixlab-dev", pool, inputs)).toEqual({ changes: true, replaces: [] });
        answer([...ours, { match: "^pool-info", stdout: "Name: nixlab-dev\nState:          running\n" }]);
        expect(await poolProvider.diff!("nixlab-dev", pool, inputs)).toEqual({ changes: false, replaces: [] });
        expect(calls()).toEqual(["pool-uuid nixlab-dev ; pool-dumpxml nixlab-dev ; pool-info nixlab-dev ; pool-list --all --name"]);
    });

    it("a new path is a new pool, decided without asking libvirt", async () => {
        expect(await poolProvider.diff!("nixlab-dev", pool, { ...inputs, path: "/srv/dev" })).toEqual({ changes: true, replaces: ["path"], deleteBeforeReplace: true });
        expect(calls()).toEqual([]);
    });

    it("delete removes the lab's volumes and marker; other files stay, and so does their directory", async () => {
        answer([
            ...ours,
            { match: "^pool-info", stdout: "State:          running\n" },
            { match: "^vol-list", stdout: " Name   Path\n--------------\n node-1.root.qcow2   /p/node-1.root.qcow2\n .nixlab-owner   /p/.nixlab-owner\n notes.txt   /p/notes.txt\n\n" },
        ]);
        await poolProvider.delete!("nixlab-dev", pool);
        expect(calls()).toEqual([
            "pool-uuid nixlab-dev ; pool-dumpxml nixlab-dev ; pool-info nixlab-dev ; pool-list --all --name",
            "pool-refresh nixlab-dev ; vol-list --pool nixlab-dev",
            "vol-delete --pool nixlab-dev node-1.root.qcow2",
            "vol-delete --pool nixlab-dev .nixlab-owner",
            "pool-destroy nixlab-dev",
            "pool-undefine nixlab-dev",
        ]);
    });

    it("delete of a pool holding only what the lab made removes its directory too", async () => {
        answer([...ours, { match: "^pool-info", stdout: "State:          running\n" }, { match: "^vol-list", stdout: " nixlab-base-0123456789abcdef   /p/b\n" }]);
        await poolProvider.delete!("nixlab-dev", pool);
        expect(calls().slice(-4)).toEqual(["vol-delete --pool nixlab-dev nixlab-base-0123456789abcdef", "pool-destroy nixlab-dev", "pool-delete nixlab-dev", "pool-undefine nixlab-dev"]);
    });

    it("delete of a pool a listing confirms gone succeeds", async () => {
        answer([{ match: "^pool-(uuid|dumpxml|info)", code: 1, stderr: NOT_FOUND.pool }, { match: "^pool-list", stdout: "" }]);
        await poolProvider.delete!("nixlab-dev", pool);
        expect(calls()).toEqual(["pool-uuid nixlab-dev ; pool-dumpxml nixlab-dev ; pool-info nixlab-dev ; pool-list --all --name"]);
    });

    it("create in a directory holding someone else's files is refused; only the new definition is undone", async () => {
        answer([
            { match: "^pool-(uuid|dumpxml)", code: 1, stderr: NOT_FOUND.pool },
            { match: "^pool-list", stdout: "" },
            { match: "^-q vol-list", stdout: " notes.txt   /var/lib/libvirt/nixlab/dev/notes.txt\n" },
        ]);
        await expect(poolProvider.create(inputs)).rejects.toThrow(
            "pool directory /var/lib/libvirt/nixlab/dev (nixlab:libvirt.poolDir) already exists on qemu:///system and holds files without this lab's ownership marker (notes.txt); " +
                "nixlab makes a lab's pool only in a new directory or one marked for it (.nixlab-owner naming stack dev, lab dev), and never deletes files it did not create. " +
                "Move those files away, or set nixlab:libvirt.poolDir to another directory.",
        );
        expect(calls()).toEqual([
            "pool-uuid nixlab-dev ; pool-dumpxml nixlab-dev ; pool-list --all --name",
            "pool-define-as nixlab-dev dir --target /var/lib/libvirt/nixlab/dev",
            // The start scanned the directory: no pool-refresh before the listing.
            "pool-start nixlab-dev",
            "-q vol-list --pool nixlab-dev",
            "pool-destroy nixlab-dev",
            "pool-undefine nixlab-dev",
        ]);
    });

    it("create undoes a half-made pool when a step fails", async () => {
        answer([
            { match: "^pool-(uuid|dumpxml)", code: 1, stderr: NOT_FOUND.pool },
            { match: "^pool-list", stdout: "" },
            { match: "^pool-start", code: 1, stderr: "error: cannot open directory '/var/lib/libvirt/nixlab/dev': Permission denied\n" },
        ]);
        await expect(poolProvider.create(inputs)).rejects.toThrow(
            "`virsh -c qemu:///system pool-start nixlab-dev` failed (exit 1): error: cannot open directory '/var/lib/libvirt/nixlab/dev': Permission denied",
        );
        expect(calls().slice(1)).toEqual(["pool-define-as nixlab-dev dir --target /var/lib/libvirt/nixlab/dev", "pool-start nixlab-dev", "pool-destroy nixlab-dev", "pool-undefine nixlab-dev"]);
    });
});

describe("Network", () => {
    const a = { mac: "52:54:00:00:00:0a", name: "a", ip: "10.77.0.10" };
    const b = { mac: "52:54:00:00:00:0b", name: "b", ip: "10.77.0.11" };
    const c = { mac: "52:54:00:00:00:0c", name: "c", ip: "10.77.0.12" };
    const xml = (stack: string) => `<network>\n  <name>nixlab-dev</name>\n  <metadata>\n    ${renderOwnerXml({ stack, lab: "dev" })}\n  </metadata>\n</network>\n`;
    const olds: NetworkOutputs = { uri: U, name: "nixlab-dev", xml: xml("dev"), hosts: [a, b], generation: "g1", uuid: "n1" };
    const { generation: _g, uuid: _u, ...inputs } = olds;
    const listed = { match: "^net-list --all --name", stdout: "default\nnixlab-dev\n\n" };
    const ours = [
        { match: "^net-uuid", stdout: "n1\n" },
        { match: "^net-dumpxml", stdout: xml("dev") },
        { match: "^net-info", stdout: "Active:         yes\n" },
        listed,
    ];
    const lookup = "net-uuid nixlab-dev ; net-dumpxml nixlab-dev ; net-info nixlab-dev ; net-list --all --name";

    it("a node added or removed is an update of the running network, not a replacement", async () => {
        answer(ours);
        expect(await networkProvider.diff!("nixlab-dev", olds, { ...inputs, hosts: [b, c] })).toEqual({ changes: true, replaces: [] });
        answer(ours);
        const r = await networkProvider.update!("nixlab-dev", olds, { ...inputs, hosts: [b, c] });
        expect(r.outs).toEqual({ ...olds, hosts: [b, c] });
        expect(calls()).toEqual([
            lookup,
            "net-update nixlab-dev delete ip-dhcp-host <host mac='52:54:00:00:00:0a' name='a' ip='10.77.0.10'/> --live --config",
            "net-update nixlab-dev delete dns-host <host ip='10.77.0.10'><hostname>a</hostname></host> --live --config",
            "net-update nixlab-dev add-last ip-dhcp-host <host mac='52:54:00:00:00:0c' name='c' ip='10.77.0.12'/> --live --config",
            "net-update nixlab-dev add-last dns-host <host ip='10.77.0.12'><hostname>c</hostname></host> --live --config",
        ]);
    });

    it("new XML replaces the network", async () => {
        expect(await networkProvider.diff!("nixlab-dev", olds, { ...inputs, xml: "<network><x/></network>" })).toEqual({
            changes: true,
            replaces: ["xml"],
            deleteBeforeReplace: true,
        });
    });

    it("an unchanged, running network is left alone", async () => {
        answer(ours);
        expect(await networkProvider.diff!("nixlab-dev", olds, inputs)).toEqual({ changes: false, replaces: [] });
    });

    it("create refuses another stack's network of the same name and changes nothing", async () => {
        answer([{ match: "^net-uuid", stdout: "n9\n" }, { match: "^net-dumpxml", stdout: xml("prod") }, listed]);
        await expect(networkProvider.create(inputs)).rejects.toThrow(
            "network nixlab-dev already exists on qemu:///system and is not this lab's: it belongs to stack prod, lab dev; this is stack dev, lab dev. " +
                'nixlab never adopts, changes or deletes an object another owner made. Two stacks cannot use lab name "dev" on one hypervisor: ' +
                "rename nixlab:lab.name in stack dev, or destroy stack prod first (nixlab destroy prod).",
        );
        expect(calls()).toEqual([lookup]);
    });

    it("create makes its own orphan (same stack and lab) again", async () => {
        answer([{ match: "^net-uuid", stdout: "n9\n" }, { match: "^net-dumpxml", stdout: xml("dev") }, { match: "^net-info", stdout: "Active:         yes\n" }, listed]);
        const r = await networkProvider.create({ ...inputs, hosts: [] });
        expect(calls().map((l) => l.replace(/\/tmp\/\S+/, "<file>"))).toEqual([
            lookup,
            "net-destroy nixlab-dev",
            "net-undefine nixlab-dev",
            "net-define <file>",
            "net-start nixlab-dev",
            "net-autostart nixlab-dev ; net-uuid nixlab-dev",
        ]);
        expect(r.outs).toMatchObject({ uuid: "n9" });
    });

    it("create defines the network with its nodes' DHCP and DNS entries: no net-update per node", async () => {
        const rendered = renderNetworkXml({ lab: "dev", cidr: "10.77.0.0/24", owner: { stack: "dev", lab: "dev" } });
        // Not listed: absent, whatever the lookups said.
        answer([{ match: "^net-uuid", stdout: "n5\n" }, { match: "^net-(dumpxml|info)", code: 1, stderr: NOT_FOUND.network }, { match: "^net-list", stdout: "default\n" }]);
        const r = await networkProvider.create({ ...inputs, xml: rendered, hosts: [a, b] });
        const defined = calls().map((l) => l.replace(/\/tmp\/\S+/, "<file>"));
        expect(defined).toEqual([lookup, "net-define <file>", "net-start nixlab-dev", "net-autostart nixlab-dev ; net-uuid nixlab-dev"]);
        // What net-update add-last would have left in the definition, in the same order.
        expect(withHosts(rendered, [a, b])).toBe(
            rendered
                .replace(
                    "    </dhcp>",
                    "      <host mac='52:54:00:00:00:0a' name='a' ip='10.77.0.10'/>\n      <host mac='52:54:00:00:00:0b' name='b' ip='10.77.0.11'/>\n    </dhcp>",
                )
                .replace("  <dns enable='yes'/>", "  <dns enable='yes'>\n    <host ip='10.77.0.10'><hostname>a</hostname></host>\n    <host ip='10.77.0.11'><hostname>b</hostname></host>\n  </dns>"),
        );
        expect(r.outs).toMatchObject({ hosts: [a, b], xml: rendered, uuid: "n5" });
        // XML not in renderNetworkXml's shape: the entries go in with net-update, as before.
        expect(withHosts("<network><name>x</name></network>", [a])).toBeUndefined();
    });

    it("delete of a network that another one replaced fails loudly and deletes nothing", async () => {
        answer([{ match: "^net-uuid", stdout: "n2\n" }, listed]);
        await expect(networkProvider.delete!("nixlab-dev", olds)).rejects.toThrow("network nixlab-dev on qemu:///system has UUID n2, but this stack created UUID n1");
        expect(calls()).toEqual([lookup]);
    });
});

describe("Volume", () => {
    const olds: VolumeOutputs = {
        uri: U,
        pool: "nixlab-dev",
        poolUuid: "p1",
        name: "node-1.root.qcow2",
        capacityBytes: 20 * 1024 ** 3,
        backing: { path: "/p/base", format: "qcow2", capacityBytes: 2 * 1024 ** 3 },
        domain: "nixlab-dev.node-1",
        sizeKey: "nixlab:lab.nodes[0].rootDiskGiB",
        path: "/p/node-1.root.qcow2",
        key: "/p/node-1.root.qcow2",
        generation: "g1",
    };
    const { path: _p, key: _k, generation: _g, ...inputs } = olds;
    const poolListed = { match: "^pool-list --all --name", stdout: "default\nnixlab-dev\n\n" };
    const withVolume = { match: "^(-q )?vol-list", stdout: " node-1.root.qcow2   /p/node-1.root.qcow2\n\n" };
    const pool = [{ match: "^pool-uuid", stdout: "p1\n" }, poolListed, withVolume];
    const gone = [{ match: "^pool-uuid", stdout: "p1\n" }, poolListed, { match: "^(-q )?vol-list", stdout: "" }];
    /** The pool's UUID, its volumes and the pool listing: one virsh process. */
    const check = "pool-uuid nixlab-dev ; vol-list --pool nixlab-dev ; pool-list --all --name";

    it("growing is an update; shrinking is a new disk", async () => {
        answer(pool);
        expect(await volumeProvider.diff!("v", olds, { ...inputs, capacityBytes: 30 * 1024 ** 3 })).toEqual({ changes: true, replaces: [] });
        expect(await volumeProvider.diff!("v", olds, { ...inputs, capacityBytes: 10 * 1024 ** 3 })).toEqual({
            changes: true,
            replaces: ["capacityBytes"],
            deleteBeforeReplace: true,
        });
    });

    it("a new image under the overlay, or a recreated pool, is a new disk", async () => {
        expect(await volumeProvider.diff!("v", olds, { ...inputs, backing: { ...inputs.backing!, path: "/p/base2" } })).toEqual({
            changes: true,
            replaces: ["backing"],
            deleteBeforeReplace: true,
        });
        expect(await volumeProvider.diff!("v", olds, { ...inputs, poolUuid: "p2" })).toEqual({ changes: true, replaces: ["poolUuid"], deleteBeforeReplace: true });
        expect(calls()).toEqual([]);
    });

    it("a volume a listing confirms gone is replaced", async () => {
        answer(gone);
        expect(await volumeProvider.diff!("v", olds, inputs)).toEqual({ changes: true, replaces: ["name"], deleteBeforeReplace: true });
        expect(calls()).toEqual([check]);
    });

    it("a failed volume listing proves nothing: asked again one command at a time, and a volume still listed then is not gone", async () => {
        answer([
            { match: "^pool-uuid", stdout: "p1\n" },
            poolListed,
            { match: "^vol-list", code: 1, stderr: "error: Cannot recv data: Connection reset by peer\n" },
            { match: "^vol-info", code: 1, stderr: "error: Cannot recv data: Connection reset by peer\n" },
            { match: "^-q vol-list", stdout: " node-1.root.qcow2 /p/node-1.root.qcow2\n" },
            { match: "^pool-dumpxml", stdout: "<pool/>\n" },
        ]);
        await expect(volumeProvider.diff!("v", olds, inputs)).rejects.toThrow("volume node-1.root.qcow2 is still listed in pool nixlab-dev, so it is not gone; try again");
        expect(calls()).toEqual([
            check,
            "pool-uuid nixlab-dev ; pool-dumpxml nixlab-dev ; pool-list --all --name",
            "vol-info --pool nixlab-dev node-1.root.qcow2",
            "pool-list --all --name",
            "-q vol-list --pool nixlab-dev",
        ]);
    });

    it("in a pool that is not the one this stack made: fails loudly, touches nothing", async () => {
        answer([{ match: "^pool-uuid", stdout: "p9\n" }, poolListed, withVolume]);
        await expect(volumeProvider.diff!("v", olds, inputs)).rejects.toThrow("storage pool nixlab-dev on qemu:///system has UUID p9, but this stack created UUID p1");
        await expect(volumeProvider.delete!("v", olds)).rejects.toThrow("has UUID p9");
        await expect(volumeProvider.create(inputs)).rejects.toThrow("has UUID p9");
        expect(calls().filter((c) => /^vol-(delete|create)/.test(c))).toEqual([]);
    });

    it("grows a disk in use through QEMU (blockresize), a disk at rest with vol-resize", async () => {
        answer([...pool, { match: "^domstate", stdout: "running\n\n" }, { match: "^pool-dumpxml", stdout: "<pool/>\n" }]);
        const r = await volumeProvider.update!("v", olds, { ...inputs, capacityBytes: 30 * 1024 ** 3 });
        expect(calls()).toEqual([
            "pool-uuid nixlab-dev ; pool-dumpxml nixlab-dev ; pool-list --all --name",
            "domstate nixlab-dev.node-1",
            `blockresize nixlab-dev.node-1 /p/node-1.root.qcow2 ${30 * 1024 ** 3}B`,
        ]);
        expect(r.outs).toEqual({ ...olds, capacityBytes: 30 * 1024 ** 3 });
        answer([...pool, { match: "^domstate", stdout: "shut off\n\n" }, { match: "^pool-dumpxml", stdout: "<pool/>\n" }]);
        await volumeProvider.update!("v", olds, { ...inputs, capacityBytes: 30 * 1024 ** 3 });
        expect(calls().slice(1)).toEqual(["domstate nixlab-dev.node-1", `vol-resize --pool nixlab-dev node-1.root.qcow2 ${30 * 1024 ** 3}B`]);
    });

    it("creates an overlay backed by the image, after removing an unrecorded one a killed run left", async () => {
        const volXml =
            "<volume type='file'>\n  <name>node-1.root.qcow2</name>\n  <key>/p/node-1.root.qcow2</key>\n  <capacity unit='bytes'>21474836480</capacity>\n" +
            "  <target>\n    <path>/p/node-1.root.qcow2</path>\n    <format type='qcow2'/>\n  </target>\n" +
            "  <backingStore>\n    <path>/p/base</path>\n    <format type='qcow2'/>\n  </backingStore>\n</volume>\n";
        answer([...pool, { match: "^vol-dumpxml", stdout: volXml }]);
        const r = await volumeProvider.create(inputs);
        expect(calls()).toEqual([
            check,
            "vol-delete --pool nixlab-dev node-1.root.qcow2",
            `vol-create-as nixlab-dev node-1.root.qcow2 ${20 * 1024 ** 3}B --format qcow2 --backing-vol /p/base --backing-vol-format qcow2`,
            // Path and key from the volume's XML: the target's, not the backing store's.
            "vol-dumpxml --pool nixlab-dev node-1.root.qcow2",
        ]);
        expect(r.outs).toMatchObject({ path: "/p/node-1.root.qcow2", key: "/p/node-1.root.qcow2", generation: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    });

    it("delete of a volume a listing confirms gone succeeds; so does one whose pool is gone", async () => {
        answer(gone);
        await volumeProvider.delete!("v", olds);
        expect(calls()).toEqual([check]);
        answer([{ match: "^(pool-uuid|vol-list)", code: 1, stderr: NOT_FOUND.pool }, { match: "^pool-list", stdout: "" }]);
        await volumeProvider.delete!("v", olds);
        expect(calls()).toEqual([check]);
    });
});

describe("SeedVolume", () => {
    const olds: SeedVolumeOutputs = {
        uri: U,
        pool: "nixlab-dev",
        poolUuid: "p1",
        name: "node-1.cidata.iso",
        networkConfig: "version: 2\n",
        vendorData: "#!/bin/sh\n",
        hostname: "node-1",
        instanceIdPrefix: "nixlab-dev.node-1",
        // sha256("#cloud-config\n")
        userDataSha256: "88c95955b024402aa9572b663f7eeb134f01343bb92af27b50e97e72b22c565f",
        instanceId: "nixlab-dev.node-1-x",
        path: "/p/node-1.cidata.iso",
        key: "/p/node-1.cidata.iso",
    };
    const { userDataSha256: _h, instanceId: _i, path: _p, key: _k, ...rest } = olds;
    const seedPool = [
        { match: "^pool-uuid", stdout: "p1\n" },
        { match: "^vol-list", stdout: " Name   Path\n------------\n node-1.cidata.iso   /p/node-1.cidata.iso\n\n" },
        { match: "^pool-list", stdout: "nixlab-dev\n\n" },
    ];

    it("new user-data is a new seed (compared by hash: the secret never lands in outputs)", async () => {
        expect(await seedVolumeProvider.diff!("s", olds, { ...rest, userData: "#cloud-config\nhostname: x\n" })).toEqual({
            changes: true,
            replaces: ["userData"],
            deleteBeforeReplace: true,
        });
    });

    it("the same user-data on an existing seed is no change", async () => {
        answer(seedPool);
        expect(await seedVolumeProvider.diff!("s", olds, { ...rest, userData: "#cloud-config\n" })).toEqual({ changes: false });
        expect(calls()).toEqual(["pool-uuid nixlab-dev ; vol-list --pool nixlab-dev ; pool-list --all --name"]);
    });

    it("into a local pool directory this process can write: copied there 0600 and the pool refreshed, no vol-upload; elsewhere uploaded", async () => {
        const poolDir = fs.mkdtempSync(path.join(WORK, "pool-"));
        fs.writeFileSync(path.join(poolDir, ".nixlab-owner"), "{}\n");
        const volXml = `<volume type='file'>\n  <name>node-1.cidata.iso</name>\n  <key>${poolDir}/node-1.cidata.iso</key>\n  <target>\n    <path>${poolDir}/node-1.cidata.iso</path>\n    <format type='iso'/>\n  </target>\n</volume>\n`;
        const rules = [...seedPool.filter((r) => r.match !== "^vol-list"), { match: "^vol-list", stdout: "" }, { match: "^pool-dumpxml", stdout: `<pool type='dir'>\n  <target>\n    <path>${poolDir}</path>\n  </target>\n</pool>\n` }, { match: "^vol-dumpxml", stdout: volXml }];
        answer(rules);
        const inputs = { ...rest, userData: "#cloud-config\n" };
        const r = await seedVolumeProvider.create(inputs);
        expect(calls()).toEqual([
            "pool-uuid nixlab-dev ; vol-list --pool nixlab-dev ; pool-list --all --name",
            "pool-dumpxml nixlab-dev",
            "pool-refresh nixlab-dev",
            "vol-dumpxml --pool nixlab-dev node-1.cidata.iso",
        ]);
        const copied = path.join(poolDir, "node-1.cidata.iso");
        expect(fs.statSync(copied).mode & 0o777).toBe(0o600);
        expect(fs.readFileSync(copied).subarray(32769, 32774).toString()).toBe("CD001");
        expect(r.outs).toMatchObject({ path: copied, key: copied });
        // Without the pool's ownership marker in it, the directory is not shown to be the pool's: uploaded.
        fs.rmSync(copied);
        fs.rmSync(path.join(poolDir, ".nixlab-owner"));
        answer(rules);
        await seedVolumeProvider.create(inputs);
        expect(calls().map((l) => l.replace(/ \/\S+\/seed.iso$/, " <file>")).slice(1)).toEqual([
            "pool-dumpxml nixlab-dev",
            expect.stringMatching(/^vol-create-as nixlab-dev node-1.cidata.iso \d+B --format raw$/),
            "vol-upload --sparse --pool nixlab-dev node-1.cidata.iso <file>",
            "vol-dumpxml --pool nixlab-dev node-1.cidata.iso",
        ]);
        expect(fs.existsSync(copied)).toBe(false);
    });

    it("delete removes temp dirs with seed content that a killed run left", async () => {
        // A pid that cannot be running: above the kernel's pid_max.
        const stale = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-libvirt-99999999-"));
        fs.writeFileSync(path.join(stale, "user-data"), "#cloud-config\n");
        const live = fs.mkdtempSync(path.join(os.tmpdir(), `nixlab-libvirt-${process.pid}-`));
        answer(seedPool);
        await seedVolumeProvider.delete!("s", olds);
        expect(fs.existsSync(stale)).toBe(false);
        expect(fs.existsSync(live)).toBe(true);
        fs.rmSync(live, { recursive: true });
        expect(calls()).toEqual(["pool-uuid nixlab-dev ; vol-list --pool nixlab-dev ; pool-list --all --name", "vol-delete --pool nixlab-dev node-1.cidata.iso"]);
    });
});

describe("Domain", () => {
    const log = path.join(WORK, "nixlab-dev.node-1.serial.log");
    const owned = (stack: string) => `<domain type='qemu'>\n  <name>nixlab-dev.node-1</name>\n  <metadata>\n    ${renderOwnerXml({ stack, lab: "dev", node: "node-1" })}\n  </metadata>\n  <memory unit='MiB'>1024</memory>\n  <vcpu placement='static'>1</vcpu>\n</domain>\n`;
    const olds: DomainOutputs = {
        uri: U,
        name: "nixlab-dev.node-1",
        xml: owned("dev"),
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
        lastBoot: "created",
    };
    const { uuid: _u, ready: _r, lastBoot: _l, ...inputs } = olds;
    const listed = { match: "^list --all --name", stdout: "other\nnixlab-dev.node-1\n\n" };
    const running = [
        { match: "^domuuid", stdout: "u1\n" },
        { match: "^dumpxml", stdout: owned("dev") },
        { match: "^domstate", stdout: "running\n" },
        listed,
    ];
    /** UUID, XML and state of the domain, then the listing (whose status is virsh's): one process. */
    const lookup = "domuuid nixlab-dev.node-1 ; dumpxml nixlab-dev.node-1 ; domstate nixlab-dev.node-1 ; list --all --name";
    /** The same before a create, without the state. */
    const lookupForCreate = "domuuid nixlab-dev.node-1 ; dumpxml nixlab-dev.node-1 ; list --all --name";
    const absent = [
        { match: "^domuuid", code: 1, stderr: NOT_FOUND.domain },
        { match: "^list --all --name", stdout: "other\n\n" },
    ];

    it("unchanged and running: nothing to do", async () => {
        answer(running);
        expect(await domainProvider.diff!("d", olds, inputs)).toEqual({ changes: false, replaces: [] });
    });

    it("undefined behind the program's back (a listing confirms it): replaced", async () => {
        answer(absent);
        expect(await domainProvider.diff!("d", olds, inputs)).toEqual({ changes: true, replaces: ["uuid"], deleteBeforeReplace: true });
        expect(calls()).toEqual([lookup]);
    });

    it("a failed lookup of a listed domain (dropped connection): neither replaced nor deleted nor forgotten", async () => {
        answer([{ match: "^domuuid", code: 1, stderr: DROPPED }, { match: "^list --all --name", stdout: "nixlab-dev.node-1\n\n" }]);
        const msg =
            "`virsh -c qemu:///system domuuid nixlab-dev.node-1` failed (exit 1): error: failed to get domain 'x' | error: Cannot recv data: Connection reset by peer; " +
            "domain nixlab-dev.node-1 is still listed, so it is not gone: the lookup itself failed (connection, daemon restart); try again";
        await expect(domainProvider.diff!("d", olds, inputs)).rejects.toThrow(msg);
        await expect(domainProvider.delete!("d", olds)).rejects.toThrow(msg);
        expect(calls().filter((c) => /^(destroy|undefine)/.test(c))).toEqual([]);
    });

    it("a failed listing proves nothing either", async () => {
        answer([{ match: "^domuuid", code: 1, stderr: DROPPED }, { match: "^list", code: 1, stderr: "error: failed to connect to the hypervisor\n" }]);
        await expect(domainProvider.diff!("d", olds, inputs)).rejects.toThrow("`virsh -c qemu:///system list --all --name` failed (exit 1): error: failed to connect to the hypervisor");
    });

    it("redefined by someone else (another UUID): fails loudly, never changed or deleted", async () => {
        answer([{ match: "^domuuid", stdout: "u2\n" }, { match: "^dumpxml", stdout: owned("dev") }, listed]);
        const msg = "domain nixlab-dev.node-1 on qemu:///system has UUID u2, but this stack created UUID u1";
        await expect(domainProvider.diff!("d", olds, inputs)).rejects.toThrow(msg);
        await expect(domainProvider.update!("d", olds, inputs)).rejects.toThrow(msg);
        await expect(domainProvider.delete!("d", olds)).rejects.toThrow(msg);
        expect(calls().filter((c) => !/^(domuuid|dumpxml)/.test(c))).toEqual([]);
    });

    it("create refuses another stack's domain of the same name and changes nothing", async () => {
        answer([{ match: "^domuuid", stdout: "u9\n" }, { match: "^dumpxml", stdout: owned("prod") }, listed]);
        await expect(domainProvider.create(inputs)).rejects.toThrow(
            "domain nixlab-dev.node-1 already exists on qemu:///system and is not this lab's: it belongs to stack prod, lab dev, node node-1; " +
                "this is stack dev, lab dev, node node-1. nixlab never adopts, changes or deletes an object another owner made.",
        );
        answer([{ match: "^domuuid", stdout: "u9\n" }, { match: "^dumpxml", stdout: "<domain><name>nixlab-dev.node-1</name></domain>" }, listed]);
        await expect(domainProvider.create(inputs)).rejects.toThrow(
            "it belongs to nobody nixlab knows (no nixlab owner stamp: made by hand, by another tool, or by an older nixlab); this is stack dev, lab dev, node node-1.",
        );
        expect(calls()).toEqual([lookupForCreate]);
    });

    it("create adopts its own node left by a killed run: same UUID, booted again", async () => {
        fs.writeFileSync(log, "NIXLAB-READY node=node-1 kvm=ok\n");
        answer([{ match: "^domuuid", stdout: "u9\n" }, { match: "^dumpxml --inactive u9$", stdout: "@defined" }, { match: "^dumpxml", stdout: owned("dev") }, listed]);
        const r = await domainProvider.create(inputs);
        // Redefined (with this create's stamp) before it is stopped: an earlier run's create
        // still waiting on it sees the stamp change before it can see the node stop.
        expect(calls().map((l) => l.replace(/^define \S+/, "define <file>"))).toEqual([
            lookupForCreate,
            "define <file>",
            "destroy u9",
            `metadata u9 https://nixlab.dev/xmlns/libvirt/tags/1 --key nixlab --set <tags/> --config`,
            "start u9",
            "dumpxml --inactive u9",
        ]);
        expect(fs.readFileSync(DEFINED, "utf8")).toContain("  <name>nixlab-dev.node-1</name>\n  <uuid>u9</uuid>\n");
        expect(fs.readFileSync(DEFINED, "utf8")).toContain(`  <metadata>\n    ${renderOwnerXml({ stack: "dev", lab: "dev", node: "node-1" })}\n    <nixlab-define:define xmlns:nixlab-define='${DEFINE_NS}' id='${definedIds().stamp}'/>\n  </metadata>\n`);
        expect(r.outs).toMatchObject({ uuid: "u9", lastBoot: "adopted" });
    });

    it("a tag change is applied live, without a reboot", async () => {
        answer(running);
        const news = { ...inputs, tagsXml: "<tags><tag key='a'>b</tag></tags>" };
        expect(await domainProvider.diff!("d", olds, news)).toEqual({ changes: true, replaces: [] });
        answer(running);
        const r = await domainProvider.update!("d", olds, news);
        expect(calls()).toEqual([
            lookup,
            `metadata u1 https://nixlab.dev/xmlns/libvirt/tags/1 --key nixlab --set <tags><tag key='a'>b</tag></tags> --config --live`,
        ]);
        expect(r.outs).toEqual({ ...olds, tagsXml: news.tagsXml });
    });

    it("more vCPUs and memory: redefined under the same UUID, restarted, and the reason recorded", async () => {
        fs.writeFileSync(log, "NIXLAB-READY node=node-1 kvm=ok\n");
        const news = { ...inputs, xml: olds.xml.replace(">1</vcpu>", ">2</vcpu>").replace(">1024</memory>", ">1536</memory>") };
        answer([{ match: "^dumpxml --inactive u1$", stdout: "@defined" }, ...running]);
        const r = await domainProvider.update!("d", olds, news);
        expect(calls().map((l) => l.replace(/^define \S+/, "define <file>"))).toEqual([
            lookup,
            "define <file>",
            `metadata u1 https://nixlab.dev/xmlns/libvirt/tags/1 --key nixlab --set <tags/> --config`,
            "destroy u1",
            "start u1",
            "dumpxml --inactive u1",
        ]);
        expect(fs.readFileSync(DEFINED, "utf8")).toBe(withDefineStamp(news.xml.replace("</name>\n", "</name>\n  <uuid>u1</uuid>\n"), definedIds().stamp));
        expect(r.outs).toMatchObject({ uuid: "u1", lastBoot: "restarted: vcpus 1 -> 2; memory (MiB) 1024 -> 1536" });
    });

    it("a recreated disk reboots the node and waits for its readiness line again", async () => {
        fs.writeFileSync(log, "booting\r\nNIXLAB-READY node=node-1 kvm=ok\r\n");
        answer(running);
        const news = { ...inputs, restartOn: ["g2"] };
        expect(await domainProvider.diff!("d", olds, news)).toEqual({ changes: true, replaces: [] });
        answer(running);
        const r = await domainProvider.update!("d", olds, news);
        // Not redefined: the UUID alone says it is still the node (no stamp to compare).
        expect(calls()).toEqual([lookup, "destroy u1", "start u1", "dumpxml --inactive u1"]);
        expect(r.outs).toEqual({ ...olds, restartOn: ["g2"], lastBoot: "restarted: a disk or the network was recreated" });
    });

    it("a stopped node is started; a failed domstate is not 'stopped'", async () => {
        fs.writeFileSync(log, "NIXLAB-READY node=node-1 kvm=ok\n");
        answer([running[0]!, running[1]!, { match: "^domstate", stdout: "shut off\n" }, listed]);
        expect(await domainProvider.diff!("d", olds, inputs)).toEqual({ changes: true, replaces: [] });
        await domainProvider.update!("d", olds, inputs);
        expect(calls().slice(1)).toEqual([lookup, "start u1", "dumpxml --inactive u1"]);
        // The batch cannot say which lookup failed: asked again one at a time, the failed domstate throws.
        answer([running[0]!, running[1]!, { match: "^domstate", code: 1, stderr: DROPPED }, listed]);
        await expect(domainProvider.diff!("d", olds, inputs)).rejects.toThrow("domstate nixlab-dev.node-1` failed (exit 1)");
        expect(calls()).toEqual([lookup, "domuuid nixlab-dev.node-1", "dumpxml nixlab-dev.node-1", "domstate nixlab-dev.node-1"]);
    });

    it("a node that stops before it is ready fails the create and leaves no domain behind", async () => {
        fs.writeFileSync(log, "Kernel panic - not syncing: VFS: Unable to mount root fs\r\n");
        answer([...absent, { match: "^domstate", stdout: "shut off\n" }, { match: "^dumpxml --inactive", stdout: "@defined" }]);
        await expect(domainProvider.create(inputs)).rejects.toThrow(
            `domain nixlab-dev.node-1 stopped (shut off) before cloud-init finished; last console lines (${log}):\nKernel panic - not syncing: VFS: Unable to mount root fs\n`,
        );
        // A UUID of its own from the define on; the undo checks it (and the stamp) first.
        expect(definedIds().uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(definedCalls()).toEqual([
            lookupForCreate,
            "define <file>",
            `metadata <uuid> https://nixlab.dev/xmlns/libvirt/tags/1 --key nixlab --set <tags/> --config`,
            "start <uuid>",
            "domstate <uuid>",
            "dumpxml --inactive <uuid>",
            "dumpxml --inactive <uuid>",
            "destroy <uuid>",
            "undefine <uuid> --nvram",
        ]);
    });

    describe("a create undoes only the domain it defined (a killed `up` whose provider plugin lived on)", () => {
        const U1 = "0b1f6a52-8d9e-4c1a-9f3e-2a7d5c4b3e10";
        const target = { uri: U, name: "nixlab-dev.node-1", uuid: U1, stamp: "s-ours" };
        const stamped = (stamp: string) => withDefineStamp(owned("dev").replace("</name>\n", `</name>\n  <uuid>${U1}</uuid>\n`), stamp);
        const goneUuid = [
            { match: `^dumpxml --inactive ${U1}$`, code: 1, stderr: NOT_FOUND.domain },
            { match: "^list --all --uuid$", stdout: "9c2e0d41-5b7a-4e8f-8a61-3f0c2d9e7b55\n\n" },
        ];

        it("still its UUID with its stamp: stopped and undefined by UUID", async () => {
            answer([{ match: `^dumpxml --inactive ${U1}$`, stdout: stamped("s-ours") }]);
            expect(await removeIfStillOurs(target)).toBeUndefined();
            expect(calls()).toEqual([`dumpxml --inactive ${U1}`, `destroy ${U1}`, `undefine ${U1} --nvram`]);
        });

        it("the name now belongs to another UUID: nothing done, and says whose it is", async () => {
            answer([...goneUuid, { match: "^domuuid nixlab-dev.node-1$", stdout: "9c2e0d41-5b7a-4e8f-8a61-3f0c2d9e7b55\n" }]);
            expect(await removeIfStillOurs(target)).toBe(
                `domain nixlab-dev.node-1 (UUID ${U1}) is gone and the name now belongs to another domain (UUID 9c2e0d41-5b7a-4e8f-8a61-3f0c2d9e7b55)`,
            );
            expect(calls()).toEqual([`dumpxml --inactive ${U1}`, "list --all --uuid", "domuuid nixlab-dev.node-1"]);
        });

        it("gone (no domain has the UUID or the name): nothing done", async () => {
            answer([...goneUuid, { match: "^domuuid", code: 1, stderr: NOT_FOUND.domain }]);
            expect(await removeIfStillOurs(target)).toBe(`domain nixlab-dev.node-1 (UUID ${U1}) is gone`);
            expect(calls()).toEqual([`dumpxml --inactive ${U1}`, "list --all --uuid", "domuuid nixlab-dev.node-1"]);
        });

        it("same UUID, another run's stamp (that run adopted the node): nothing done", async () => {
            answer([{ match: `^dumpxml --inactive ${U1}$`, stdout: stamped("s-other") }]);
            expect(await removeIfStillOurs(target)).toBe(`domain nixlab-dev.node-1 (UUID ${U1}) was defined again by another run of this stack (it adopted the node)`);
            expect(calls()).toEqual([`dumpxml --inactive ${U1}`]);
        });

        it("a failed lookup of a UUID still listed proves nothing: throws, nothing done", async () => {
            answer([{ match: "^dumpxml --inactive", code: 1, stderr: DROPPED }, { match: "^list --all --uuid$", stdout: `${U1}\n\n` }]);
            await expect(removeIfStillOurs(target)).rejects.toThrow(
                `\`virsh -c qemu:///system dumpxml --inactive ${U1}\` failed (exit 1): error: failed to get domain 'x' | error: Cannot recv data: Connection reset by peer; ` +
                    `domain UUID ${U1} is still listed, so it is not gone: the lookup itself failed (connection, daemon restart); try again`,
            );
            expect(calls()).toEqual([`dumpxml --inactive ${U1}`, "list --all --uuid"]);
        });

        it("its domain removed while it waits: the create fails saying so, and destroys or undefines nothing", async () => {
            fs.writeFileSync(log, "");
            answer([
                ...absent,
                { match: "^domstate", code: 1, stderr: NOT_FOUND.domain },
                { match: "^dumpxml --inactive", code: 1, stderr: NOT_FOUND.domain },
                { match: "^list --all --uuid$", stdout: "\n" },
            ]);
            const err = await domainProvider.create({ ...inputs, readyTimeoutSeconds: 600 }).then(
                () => new Error("the create succeeded"),
                (e: Error) => e,
            );
            expect(err.message).toBe(
                `node node-1: domain nixlab-dev.node-1 (UUID ${definedIds().uuid}) is gone on qemu:///system: it was removed or replaced behind this run's back while this run was still working on it ` +
                    "(by `nixlab cleanup`, by hand, or by another `up` of this stack, e.g. after a killed `pulumi up` whose provider plugin lived on). This run leaves that domain alone. Run up again.",
            );
            expect(definedCalls().filter((c) => /^(destroy|undefine|start|define|metadata)/.test(c))).toEqual([
                "define <file>",
                `metadata <uuid> https://nixlab.dev/xmlns/libvirt/tags/1 --key nixlab --set <tags/> --config`,
                "start <uuid>",
            ]);
        });

        it("the readiness line on the console is another run's node of this name: the create fails and undoes nothing", async () => {
            fs.writeFileSync(log, "NIXLAB-READY node=node-1 kvm=ok\r\n");
            answer([...absent, { match: "^dumpxml --inactive", stdout: stamped("s-other") }]);
            await expect(domainProvider.create(inputs)).rejects.toThrow(/^node node-1: domain nixlab-dev\.node-1 \(UUID [0-9a-f-]{36}\) was defined again by another run of this stack \(it adopted the node\) on qemu:\/\/\/system: /);
            expect(calls().filter((c) => /^(destroy|undefine)/.test(c))).toEqual([]);
        });
    });

    it("a node without /dev/kvm fails readiness when it asked for KVM", async () => {
        fs.writeFileSync(log, "NIXLAB-READY node=node-1 kvm=missing\r\n");
        answer(absent);
        await expect(domainProvider.create({ ...inputs, kvm: "nested" })).rejects.toThrow(
            "node node-1 booted but has no /dev/kvm although kvm: nested was asked for. Enable nested virtualization on the hypervisor",
        );
    });

    it("on a remote hypervisor, reads the serial log over ssh (sudo -n when the user cannot)", async () => {
        sshAnswers("NIXLAB-READY node=node-1 kvm=ok\r\n", 0);
        answer([...absent, { match: "^dumpxml --inactive", stdout: "@defined" }]);
        const r = await domainProvider.create({ ...inputs, hypervisorSsh: ["-p", "2200", "alice@hv"], serialLog: "/var/log/libvirt/qemu/it's.log" });
        expect(r.outs).toMatchObject({ uuid: definedIds().uuid, ready: "NIXLAB-READY node=node-1 kvm=ok", lastBoot: "created" });
        expect(definedCalls().slice(-2)).toEqual(["start <uuid>", "dumpxml --inactive <uuid>"]);
        expect(fs.readFileSync(SSH_LOG, "utf8")).toBe(
            "-o BatchMode=yes -p 2200 alice@hv if [ ! -e '/var/log/libvirt/qemu/it'\\''s.log' ]; then exit 0; fi; " +
                "cat '/var/log/libvirt/qemu/it'\\''s.log' 2>/dev/null || sudo -n cat '/var/log/libvirt/qemu/it'\\''s.log'\n",
        );
    });

    it("ssh to the hypervisor failing (exit 255) is reported with ssh's words after a few tries, not after the readiness timeout", async () => {
        sshAnswers("", 255, "alice@hv: Permission denied (publickey).\n");
        answer([...absent, { match: "^domstate", stdout: "running\n" }, { match: "^dumpxml --inactive", stdout: "@defined" }]);
        await expect(domainProvider.create({ ...inputs, readyTimeoutSeconds: 600, hypervisorSsh: ["alice@hv"] })).rejects.toThrow(
            `node node-1: cannot read its serial log ${log} on the hypervisor (ssh alice@hv): ssh failed (exit 255) 3 times in a row: ` +
                "alice@hv: Permission denied (publickey). Exit 255 is ssh itself failing (authentication, host key, connection refused), not the node;",
        );
        // Three reads (two polls apart), not 300 over the 600 s timeout.
        expect(fs.readFileSync(SSH_LOG, "utf8").split("\n").filter((l) => l !== "")).toHaveLength(3);
        // ...and the half-made domain is gone again.
        expect(definedCalls().slice(-3)).toEqual(["dumpxml --inactive <uuid>", "destroy <uuid>", "undefine <uuid> --nvram"]);
    });

    it("says what to do when the serial log is root-only, instead of timing out", async () => {
        sshAnswers("", 1);
        answer(absent);
        await expect(domainProvider.create({ ...inputs, hypervisorSsh: ["alice@hv"] })).rejects.toThrow(
            `cannot read node node-1's serial log ${log} on the hypervisor (ssh alice@hv): virtlogd writes it for root only, and readiness is read from it (permission denied). ` +
                "Run Pulumi as root, connect as root (qemu+ssh://root@host/system), or allow this user `sudo -n cat` on nixlab:libvirt.serialLogDir",
        );
    });

    it("delete stops and undefines the node, then removes its serial log (and libvirt's QEMU log) with rotated copies", async () => {
        fs.writeFileSync(log, "console\n");
        fs.writeFileSync(`${log}.0`, "older console\n");
        fs.writeFileSync(`${log}.keep`, "not a rotation\n");
        answer(running);
        await domainProvider.delete!("d", olds);
        // By the UUID it just checked: never a node made under this name since.
        expect(calls()).toEqual([lookup, "destroy u1", "undefine u1 --nvram"]);
        expect([fs.existsSync(log), fs.existsSync(`${log}.0`), fs.existsSync(`${log}.keep`)]).toEqual([false, false, true]);
        fs.rmSync(`${log}.keep`);
    });

    it("delete of a node a listing confirms gone still removes its serial log; on a remote hypervisor over ssh", async () => {
        fs.writeFileSync(log, "console\n");
        answer(absent);
        await domainProvider.delete!("d", olds);
        expect(calls()).toEqual([lookup]);
        expect(fs.existsSync(log)).toBe(false);
        sshAnswers("", 0);
        answer(absent);
        await domainProvider.delete!("d", { ...olds, hypervisorSsh: ["-p", "2200", "alice@hv"], serialLog: "/var/log/libvirt/qemu/x.log" });
        expect(fs.readFileSync(SSH_LOG, "utf8")).toBe(
            "-o BatchMode=yes -p 2200 alice@hv rm -f -- '/var/log/libvirt/qemu/x.log' '/var/log/libvirt/qemu/x.log'.[0-9]* " +
                "'/var/log/libvirt/qemu/nixlab-dev.node-1.log' '/var/log/libvirt/qemu/nixlab-dev.node-1.log'.[0-9]* 2>/dev/null || " +
                "sudo -n rm -f -- '/var/log/libvirt/qemu/x.log' '/var/log/libvirt/qemu/x.log'.[0-9]* " +
                "'/var/log/libvirt/qemu/nixlab-dev.node-1.log' '/var/log/libvirt/qemu/nixlab-dev.node-1.log'.[0-9]*\n",
        );
    });
});

describe("upgrade from per-kind providers: state without `kind`, through Pulumi's dynamic-provider host", () => {
    // Before one provider served every libvirt kind, each resource's `__provider` held its
    // kind's own object (poolProvider, networkProvider, ...), serialized as
    // pulumi.dynamic.Resource does it, and its outputs had no `kind`. The host runs check,
    // diff, create and update with the NEW inputs' text, delete with the text in the outputs.
    const serialize = async (p: unknown) => (await pulumi.runtime.serializeFunction(() => p, { allowSecrets: true })).text;
    const ROOT = path.resolve(__dirname, "..");
    const T = "pulumi-nodejs:dynamic/nixlab-libvirt:";
    const ref = (type: string, name: string): ResourceRef => ({ urn: `urn:pulumi:dev::nixlab::nixlab:index:Lab$${T}${type}::${name}`, type: `${T}${type}`, name });
    const owner = { stack: "dev", lab: "dev" };
    const pool: PoolOutputs = { uri: U, name: "nixlab-dev", path: "/var/lib/libvirt/nixlab/dev", owner, uuid: "p1" };
    const { uuid: _pu, ...poolInputs } = pool;
    const poolOurs = [
        { match: "^pool-uuid", stdout: "p1\n" },
        { match: "^pool-dumpxml", stdout: "<pool type='dir'><target><path>/var/lib/libvirt/nixlab/dev</path></target></pool>\n" },
        { match: "^pool-info", stdout: "State:          running\n" },
        { match: "^pool-list --all --name", stdout: "nixlab-dev\n\n" },
    ];
    const a = { mac: "52:54:00:00:00:0a", name: "a", ip: "10.77.0.10" };
    const b = { mac: "52:54:00:00:00:0b", name: "b", ip: "10.77.0.11" };
    const netXml = `<network>\n  <name>nixlab-dev</name>\n  <metadata>\n    ${renderOwnerXml(owner)}\n  </metadata>\n</network>\n`;
    const net: NetworkOutputs = { uri: U, name: "nixlab-dev", xml: netXml, hosts: [a], generation: "g1", uuid: "n1" };
    const { generation: _ng, uuid: _nu, ...netInputs } = net;
    const netOurs = [
        { match: "^net-uuid", stdout: "n1\n" },
        { match: "^net-dumpxml", stdout: netXml },
        { match: "^net-info", stdout: "Active:         yes\n" },
        { match: "^net-list --all --name", stdout: "nixlab-dev\n\n" },
    ];
    const netLookup = "net-uuid nixlab-dev ; net-dumpxml nixlab-dev ; net-info nixlab-dev ; net-list --all --name";
    const hostLog: string[] = [];
    let host: DynamicProviderHost;
    let old: { pool: string; network: string };
    let text: string;

    beforeAll(async () => {
        old = { pool: await serialize(poolProvider), network: await serialize(networkProvider) };
        text = await serialize(libvirtProvider);
        // process.env.PATH has the stand-in virsh first (set above): the host inherits it.
        host = await DynamicProviderHost.start({ projectDir: ROOT, env: process.env, log: (l) => hostLog.push(l) });
    }, 60_000);
    afterAll(async () => host?.stop());

    it("an unchanged resource from old state is the same: check passes, diff reports no change", async () => {
        answer(poolOurs);
        const news = { ...poolInputs, kind: "Pool", __provider: text };
        expect(await host.check(ref("Pool", "dev-net-pool"), { ...poolInputs, __provider: old.pool }, news)).toEqual({ inputs: news, failures: [] });
        expect(await host.diff(ref("Pool", "dev-net-pool"), "nixlab-dev", { ...pool, __provider: old.pool }, news, { ...poolInputs, __provider: old.pool })).toEqual({
            changes: false,
            replaces: [],
            deleteBeforeReplace: false,
        });
        expect(calls()).toEqual(["pool-uuid nixlab-dev ; pool-dumpxml nixlab-dev ; pool-info nixlab-dev ; pool-list --all --name"]);
    });

    it("destroy of an unchanged resource runs the per-kind code stored in its outputs", async () => {
        answer([...poolOurs, { match: "^(-q )?vol-list", stdout: " .nixlab-owner   /p/.nixlab-owner\n" }]);
        await host.delete(ref("Pool", "dev-net-pool"), "nixlab-dev", { ...pool, __provider: old.pool }, { ...poolInputs, __provider: old.pool });
        expect(calls().slice(-4)).toEqual(["vol-delete --pool nixlab-dev .nixlab-owner", "pool-destroy nixlab-dev", "pool-delete nixlab-dev", "pool-undefine nixlab-dev"]);
        // The same outputs under the new code would have been refused: no kind to dispatch on.
        answer(poolOurs);
        await expect(host.delete(ref("Pool", "dev-net-pool"), "nixlab-dev", { ...pool, __provider: text }, poolInputs)).rejects.toThrow(
            'libvirt resource nixlab-dev: its outputs in state hold nixlab\'s one-provider code but kind is missing; nixlab\'s libvirt provider handles kind "Pool", "Network", "ImageVolume", "Volume", "SeedVolume", "Domain"',
        );
        expect(calls()).toEqual([]);
    });

    it("an old resource updated by the new code gets kind in its outputs, and destroy then dispatches on them", async () => {
        const olds = { ...net, __provider: old.network };
        const oldInputs = { ...netInputs, __provider: old.network };
        const news = { ...netInputs, hosts: [a, b], kind: "Network", __provider: text };
        const r = ref("Network", "dev-net");
        answer(netOurs);
        expect(await host.diff(r, "nixlab-dev", olds, news, oldInputs)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
        answer(netOurs);
        const outs = await host.update(r, "nixlab-dev", olds, news, oldInputs);
        expect(outs).toEqual({ ...net, hosts: [a, b], kind: "Network", __provider: text });
        expect(calls()).toEqual([
            netLookup,
            "net-update nixlab-dev add-last ip-dhcp-host <host mac='52:54:00:00:00:0b' name='b' ip='10.77.0.11'/> --live --config",
            "net-update nixlab-dev add-last dns-host <host ip='10.77.0.11'><hostname>b</hostname></host> --live --config",
        ]);
        answer(netOurs);
        await host.delete(r, "nixlab-dev", outs, news);
        expect(calls()).toEqual([netLookup, "net-destroy nixlab-dev", "net-undefine nixlab-dev"]);
    });

    it("a change of kind is a replacement decided without libvirt, never an update", async () => {
        const olds = { ...pool, kind: "Volume", __provider: text };
        const news = { ...poolInputs, kind: "Pool", __provider: text };
        expect(await host.diff(ref("Pool", "dev-net-pool"), "nixlab-dev", olds, news, olds)).toEqual({ changes: true, replaces: ["kind"], deleteBeforeReplace: true });
        await expect(host.update(ref("Pool", "dev-net-pool"), "nixlab-dev", olds, news, olds)).rejects.toThrow(
            'libvirt resource nixlab-dev: kind "Volume" cannot become "Pool" in place; it must be replaced (its diff asks for that)',
        );
        expect(calls()).toEqual([]);
    });

    it("check refuses a missing or unknown kind, naming the property and what is allowed", async () => {
        const allowed = 'nixlab\'s libvirt provider handles kind "Pool", "Network", "ImageVolume", "Volume", "SeedVolume", "Domain"';
        const hint = " (set by each resource class in providers/libvirt/resources.ts; a pulumi.dynamic.Resource made on this provider by hand must set it too)";
        expect((await host.check(ref("Pool", "p"), {}, { ...poolInputs, __provider: text })).failures).toEqual([{ property: "kind", reason: `kind is missing; ${allowed}${hint}` }]);
        expect((await host.check(ref("Pool", "p"), {}, { ...poolInputs, kind: "Bridge", __provider: text })).failures).toEqual([
            { property: "kind", reason: `kind is "Bridge"; ${allowed}${hint}` },
        ]);
    });

    it("a kind without in-place updates (ImageVolume, SeedVolume) refuses one instead of losing its outputs", async () => {
        for (const kind of ["ImageVolume", "SeedVolume"]) {
            await expect(libvirtProvider.update!("p/v", { kind }, { kind })).rejects.toThrow(
                `libvirt ${kind} p/v: a ${kind} is never updated in place (a bug in nixlab: its diff asked for an update)`,
            );
        }
        expect(calls()).toEqual([]);
    });
});
