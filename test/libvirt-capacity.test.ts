/**
 * libvirt placement compares the lab with the hypervisor before anything is created. The
 * hypervisor is a `virsh` shim (and a `df` shim) on PATH that answers as libvirt and
 * coreutils do, or fails as an unreachable libvirtd does.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseLabConfig } from "../components/spec";
import { LibvirtBackend } from "../providers/libvirt";
import { CAPACITY_CHECK_ENV, capacityProblems, checkCapacity, parseDf, parseNodeinfo, virshCapacityProbe } from "../providers/libvirt/capacity";
import { parseLibvirtConfig } from "../providers/libvirt/config";
import { placeLibvirt } from "../providers/libvirt/place";
import { configErrorLines } from "./support/problems";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v alice@laptop";
const GiB = 1024 ** 3;

function lab(nodes: unknown, extra: Record<string, unknown> = {}) {
    return parseLabConfig({ owner: "alice", user: { sshAuthorizedKeys: [KEY] }, nodes, ...extra }, "dev");
}

const NODEINFO = (cpus: number, memKiB: number) =>
    [
        "CPU model:           x86_64",
        `CPU(s):              ${cpus}`,
        "CPU frequency:       2596 MHz",
        "CPU socket(s):       1",
        "Core(s) per socket:  1",
        "Thread(s) per core:  1",
        "NUMA cell(s):        1",
        `Memory size:         ${memKiB} KiB`,
        "",
    ].join("\n");

let dir: string;
let savedPath: string | undefined;
let savedCheck: string | undefined;
beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-capacity-"));
    savedPath = process.env.PATH;
    savedCheck = process.env[CAPACITY_CHECK_ENV];
});
afterEach(() => {
    process.env.PATH = savedPath;
    if (savedCheck === undefined) delete process.env[CAPACITY_CHECK_ENV];
    else process.env[CAPACITY_CHECK_ENV] = savedCheck;
    fs.rmSync(dir, { recursive: true, force: true });
});

/** virsh and df shims: canned answers, every call logged. */
function shims(o: { cpus?: number; memKiB?: number; availBytes?: number; pools?: string[]; allocation?: number; virshFails?: string }): string {
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    const log = path.join(dir, "calls.log");
    const virsh = o.virshFails
        ? `#!/bin/sh\necho "virsh $*" >> ${log}\necho "${o.virshFails}" >&2\nexit 1\n`
        : [
              "#!/bin/sh",
              `echo "virsh $*" >> ${log}`,
              "one() {",
              'case "$1" in',
              `nodeinfo) cat <<'EOF'\n${NODEINFO(o.cpus ?? 8, o.memKiB ?? 32 * 1024 * 1024)}EOF\n;;`,
              `pool-list) printf '%s\\n' ${(o.pools ?? ["default"]).join(" ")} ;;`,
              // Like virsh: pool-info of a pool that is not there fails.
              `pool-info) case " ${(o.pools ?? ["default"]).join(" ")} " in *" $3 "*) printf 'Name:           %s\\nState:          running\\nCapacity:       1000000000000\\nAllocation:     ${o.allocation ?? 0}\\nAvailable:      1\\n' "$3" ;; *) echo "error: failed to get pool '$3'" >&2; return 1 ;; esac ;;`,
              'echo) shift; echo "$*" ;;',
              '*) echo "error: unexpected virsh call: $*" >&2; return 1 ;;',
              "esac",
              "}",
              'shift 2',
              // A command string (several commands, ';' between): each in turn, the last one's status.
              'case "$1" in *";"*) rest="$1"; rc=0; while [ -n "$rest" ]; do cmd="${rest%%; *}"; if [ "$cmd" = "$rest" ]; then rest=""; else rest="${rest#*; }"; fi; one $cmd; rc=$?; done; exit $rc ;; esac',
              'one "$@"',
          ].join("\n");
    fs.writeFileSync(path.join(bin, "virsh"), virsh, { mode: 0o755 });
    fs.writeFileSync(
        path.join(bin, "df"),
        `#!/bin/sh\necho "df $*" >> ${log}\necho "Filesystem       1-blocks        Used   Available Capacity Mounted on"\necho "/dev/vda1 1000000000000 1 ${o.availBytes ?? 1000 * GiB} 1% /"\n`,
        { mode: 0o755 },
    );
    process.env.PATH = `${bin}:${savedPath}`;
    delete process.env[CAPACITY_CHECK_ENV];
    return log;
}

describe("capacity: the numbers", () => {
    const cfg = parseLibvirtConfig({ poolDir: "/srv/pools" });
    const host = { cpus: 4, memoryBytes: 16 * GiB, diskFreeBytes: 100 * GiB, poolAllocationBytes: 0 };

    it("fits a lab within the host and refuses each resource it exceeds, with the numbers", () => {
        expect(capacityProblems(lab({ count: 2 }), cfg, host)).toEqual([]);
        expect(capacityProblems(lab({ count: 3, vcpus: 2, memoryGiB: 6, rootDiskGiB: 30, volumes: [{ name: "data", sizeGiB: 10 }] }), cfg, host)).toEqual([
            {
                path: "nixlab:lab.nodes",
                message:
                    "ask for 6 vCPUs in total, but the hypervisor (qemu:///system) has 4 CPUs; make the lab smaller, use a bigger hypervisor, or allow overcommit explicitly with nixlab:libvirt.overcommit.vcpus",
            },
            {
                path: "nixlab:lab.nodes",
                message:
                    "ask for 18 GiB of memory in total, but the hypervisor (qemu:///system) has 16 GiB; make the lab smaller, use a bigger hypervisor, or allow overcommit explicitly with nixlab:libvirt.overcommit.memory",
            },
            {
                path: "nixlab:lab.nodes",
                message:
                    "ask for 120 GiB of disks (root disks and volumes, full size), but /srv/pools/dev on the hypervisor (qemu:///system) has 100 GiB available; make the lab smaller, use a bigger hypervisor, or allow overcommit explicitly with nixlab:libvirt.overcommit.disk, or point nixlab:libvirt.poolDir at a bigger filesystem",
            },
        ]);
    });

    it("overcommits only as far as nixlab:libvirt.overcommit says", () => {
        const big = lab({ count: 3, vcpus: 2, memoryGiB: 6, rootDiskGiB: 40 });
        const over = parseLibvirtConfig({ poolDir: "/srv/pools", overcommit: { vcpus: 1.5, memory: 1.25, disk: 1.2 } });
        expect(capacityProblems(big, over, host)).toEqual([]);
        const notEnough = parseLibvirtConfig({ poolDir: "/srv/pools", overcommit: { vcpus: 1.25 } });
        expect(capacityProblems(big, notEnough, host).map((p) => p.message.split(";")[0])).toEqual([
            "ask for 6 vCPUs in total, but the hypervisor (qemu:///system) has 4 CPUs (× overcommit 1.25 = 5)",
            "ask for 18 GiB of memory in total, but the hypervisor (qemu:///system) has 16 GiB",
            "ask for 120 GiB of disks (root disks and volumes, full size), but /srv/pools/dev on the hypervisor (qemu:///system) has 100 GiB available",
        ]);
        expect(configErrorLines(() => parseLibvirtConfig({ overcommit: { memory: 0.5, cpu: 2 } })).sort()).toEqual([
            "nixlab:libvirt.overcommit.cpu: unknown key; allowed here: `vcpus`, `memory`, `disk`",
            "nixlab:libvirt.overcommit.memory: must be at least 1 (got 0.5)",
        ]);
    });

    it("counts the lab's existing pool as space it already has (an `up` of a running lab)", () => {
        const l = lab({ count: 2, rootDiskGiB: 60 });
        expect(capacityProblems(l, cfg, host)).toHaveLength(1);
        expect(capacityProblems(l, cfg, { ...host, poolAllocationBytes: 30 * GiB })).toEqual([]);
    });

    it("reads virsh nodeinfo and df output as the tools print it", () => {
        expect(parseNodeinfo(NODEINFO(2, 24576000))).toEqual({ cpus: 2, memoryBytes: 24576000 * 1024 });
        expect(() => parseNodeinfo("error: failed to connect")).toThrow("virsh nodeinfo printed no CPU(s)/Memory size lines");
        expect(parseDf("Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/sda1 100 40 60 40% /\n")).toBe(60);
    });
});

describe("capacity: placement against a virsh shim", () => {
    it("refuses a lab bigger than the hypervisor before anything is created, reading only", () => {
        const log = shims({ cpus: 2, memKiB: 8 * 1024 * 1024, availBytes: 500 * GiB });
        const backend = new LibvirtBackend(parseLibvirtConfig({ poolDir: path.join(dir, "pools") }));
        const placement = backend.place(lab({ count: 2, vcpus: 2, memoryGiB: 4, kvm: "nested" }));
        expect(placement.problems.map((p) => p.message.split(";")[0])).toEqual(["ask for 4 vCPUs in total, but the hypervisor (qemu:///system) has 2 CPUs"]);
        // Read-only calls, and df where the pool will go (its nearest existing parent).
        // One virsh process: nodeinfo, the lab pool's allocation, the pool listing last.
        expect(fs.readFileSync(log, "utf8").replace(/nixlab-mark-[0-9a-f]+/g, "<mark>")).toBe(
            `virsh -c qemu:///system nodeinfo; echo <mark>; pool-info --bytes nixlab-dev; echo <mark>; pool-list --all --name\ndf -P -B1 ${dir}\n`,
        );
        expect(fs.existsSync(path.join(dir, "pools"))).toBe(false);
        expect(backend.place(lab({ count: 1, vcpus: 2, memoryGiB: 4 })).problems).toEqual([]);
    });

    it("reads the lab's own pool allocation when the pool exists", () => {
        const log = shims({ availBytes: 10 * GiB, pools: ["default", "nixlab-dev"], allocation: 30 * GiB });
        const probe = virshCapacityProbe(lab({ count: 2 }), parseLibvirtConfig({ poolDir: dir }));
        expect(probe).toEqual({ cpus: 8, memoryBytes: 32 * GiB, diskFreeBytes: 10 * GiB, poolAllocationBytes: 30 * GiB });
        expect(fs.readFileSync(log, "utf8")).toContain("pool-info --bytes nixlab-dev; echo nixlab-mark-");
        expect(fs.readFileSync(log, "utf8").split("\n").filter((l) => l.startsWith("virsh"))).toHaveLength(1);
    });

    it("an unreachable hypervisor is a note in preview and a problem for up", () => {
        shims({ virshFails: "error: failed to connect to the hypervisor" });
        const l = lab({ count: 1 });
        const cfg = parseLibvirtConfig({ poolDir: dir });
        const preview = checkCapacity(l, cfg, virshCapacityProbe, { dryRun: true, env: {} });
        expect(preview).toEqual({
            problems: [],
            note: "capacity of qemu:///system not checked, the hypervisor could not be read: virsh -c qemu:///system nodeinfo: error: failed to connect to the hypervisor",
        });
        expect(checkCapacity(l, cfg, virshCapacityProbe, { dryRun: false, env: {} }).problems).toEqual([
            {
                path: "nixlab:libvirt.uri",
                message:
                    "cannot read the hypervisor's capacity before creating the lab: virsh -c qemu:///system nodeinfo: error: failed to connect to the hypervisor; check that `virsh -c qemu:///system nodeinfo` works from here",
            },
        ]);
        expect(checkCapacity(l, cfg, virshCapacityProbe, { dryRun: false, env: { [CAPACITY_CHECK_ENV]: "off" } }).problems).toEqual([]);
    });

    it("reads a remote hypervisor's disk through the URI's own ssh", () => {
        const log = shims({ cpus: 4 });
        fs.writeFileSync(path.join(dir, "bin", "myssh"), `#!/bin/sh\necho "myssh $*" >> ${path.join(dir, "calls.log")}\necho "F 1 2 3 4 5"\necho "/dev/x 100 1 ${100 * GiB} 1% /"\n`, { mode: 0o755 });
        const probe = virshCapacityProbe(lab({ count: 1 }), parseLibvirtConfig({ uri: "qemu+ssh://ops@hv1/system?command=myssh", poolDir: "/srv/it's" }));
        expect(probe.diskFreeBytes).toBe(100 * GiB);
        expect(fs.readFileSync(log, "utf8")).toContain(
            `myssh -o BatchMode=yes -- ops@hv1 d='/srv/it'\\''s/dev'; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -P -B1 "$d"\n`,
        );
    });
});

describe("limits that bite before any heavy work", () => {
    it("caps a named node list like a counted one, with one problem for 10,000 nodes", () => {
        const many = Array.from({ length: 10_000 }, (_, i) => ({ name: `n${i}`, colour: "x" }));
        expect(configErrorLines(() => lab(many))).toEqual(["nixlab:lab.nodes: lists 10000 nodes; a lab has at most 64 (split it into several labs)"]);
        expect(configErrorLines(() => lab(Array.from({ length: 65 }, (_, i) => ({ name: `n${i}` }))))).toEqual([
            "nixlab:lab.nodes: lists 65 nodes; a lab has at most 64 (split it into several labs)",
        ]);
        expect(lab(Array.from({ length: 64 }, (_, i) => ({ name: `n${i}` }))).nodes).toHaveLength(64);
        expect(configErrorLines(() => lab({ count: 65 }))).toHaveLength(1);
    });

    it("keeps every user-mode forwarded port within 65535", () => {
        const full = lab({ count: 64, kvm: "none" }, { network: { cidr: "10.77.0.0/24" } });
        const top = parseLibvirtConfig({ networkMode: "user", sshForwardBasePort: 65471 });
        expect(placeLibvirt(full, top).problems).toEqual([]);
        expect(Math.max(...full.nodes.map((n) => top.sshForwardBasePort + n.index))).toBe(65534);
        // However the config got there (a schema bound loosened later), placement checks it.
        expect(placeLibvirt(full, { ...top, sshForwardBasePort: 65500 }).problems).toEqual([
            { path: "nixlab:libvirt.sshForwardBasePort", message: "65500 + 64 nodes would forward up to port 65563, past 65535; use a base of at most 65472" },
        ]);
    });
});
