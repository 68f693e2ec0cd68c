/**
 * The libvirt dynamic providers: real create/diff/update/delete against libvirtd.
 *
 * Why `virsh` (and genisoimage) through child_process rather than a libvirt binding:
 * virsh speaks every URI libvirt does, qemu+ssh included, with the user's own ssh config
 * and agent; it needs no native Node addon (which would have to be built for each Node
 * version and could not be captured by Pulumi's closure serializer anyway); and
 * `vol-upload` streams images over the same connection to a remote hypervisor, so nothing
 * but ssh is needed between the machine running Pulumi and the host.
 *
 * Rules this file obeys because Pulumi serializes the provider objects into state
 * (pulumi-notes.md): no runtime imports at module level (`require` inside functions),
 * every helper a method uses lives in this file, and no secret goes into `outs`
 * (user-data stays an input; only its hash is kept). Dynamic providers cannot `read`
 * (pulumi/pulumi#16175), so each `diff` asks libvirt whether the object still exists and
 * asks for a replacement when it does not: drift shows up in the next preview.
 *
 * Outputs are a contract across nixlab versions: Pulumi runs a changed provider against
 * the state an older one wrote (it does not replace resources when provider code
 * changes), so new code must read old outputs. Every physical name is fixed by config, so
 * every replacement is delete-before-replace.
 */
import type * as pulumiDynamic from "@pulumi/pulumi/dynamic";

type ResourceProvider = pulumiDynamic.ResourceProvider;
type DiffResult = pulumiDynamic.DiffResult;

// ---------------------------------------------------------------------------------------
// process helpers

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Runs a program without a shell. Never throws for a non-zero exit; see `must`. */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutSeconds?: number } = {}): Promise<RunResult> {
    const cp = require("child_process") as typeof import("child_process");
    return new Promise((resolve) => {
        const child = cp.execFile(
            cmd,
            args,
            {
                // English messages: "not found" detection below depends on them.
                env: { ...process.env, LC_ALL: "C", LANG: "C" },
                maxBuffer: 64 * 1024 * 1024,
                timeout: (opts.timeoutSeconds ?? 300) * 1000,
                killSignal: "SIGKILL",
            },
            (err, stdout, stderr) => {
                const e = err as (Error & { code?: number | string; killed?: boolean }) | null;
                if (e && typeof e.code === "string") {
                    // spawn failure: ENOENT means the program is not installed here
                    const why = e.code === "ENOENT" ? `${cmd} is not installed on this machine (or not on PATH)` : `${cmd}: ${e.message}`;
                    resolve({ code: 127, stdout: String(stdout), stderr: why });
                    return;
                }
                const timedOut = e?.killed ? `\n${cmd} killed after ${opts.timeoutSeconds ?? 300}s` : "";
                resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) + timedOut });
            },
        );
        if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
}

function describe(cmd: string, args: string[], r: RunResult): string {
    const msg = (r.stderr.trim() || r.stdout.trim()).replace(/\n+/g, " | ");
    return `\`${[cmd, ...args].join(" ")}\` failed (exit ${r.code}): ${msg}`;
}

export async function must(cmd: string, args: string[], opts: { input?: string; timeoutSeconds?: number } = {}): Promise<string> {
    const r = await run(cmd, args, opts);
    if (r.code !== 0) throw new Error(describe(cmd, args, r));
    return r.stdout;
}

export function virsh(uri: string, args: string[], opts: { timeoutSeconds?: number } = {}): Promise<RunResult> {
    return run("virsh", ["-c", uri, ...args], opts);
}

export async function mustVirsh(uri: string, args: string[], opts: { timeoutSeconds?: number } = {}): Promise<string> {
    const r = await virsh(uri, args, opts);
    if (r.code !== 0) throw new Error(describe("virsh", ["-c", uri, ...args], r));
    return r.stdout;
}

/** libvirt's "no such object" errors (VIR_ERR_NO_DOMAIN/NETWORK/STORAGE_POOL/STORAGE_VOL). */
export function isNotFound(r: RunResult): boolean {
    return r.code !== 0 && /(Domain|Network|Storage pool|Storage volume) not found|failed to get domain '/i.test(r.stderr);
}

/** Runs virsh; "not found" counts as success (idempotent deletes). */
async function virshIgnoringMissing(uri: string, args: string[]): Promise<void> {
    const r = await virsh(uri, args);
    if (r.code !== 0 && !isNotFound(r)) throw new Error(describe("virsh", ["-c", uri, ...args], r));
}

function tmpDir(): string {
    const fs = require("fs") as typeof import("fs");
    const os = require("os") as typeof import("os");
    const path = require("path") as typeof import("path");
    return fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-libvirt-"));
}

function rmrf(dir: string): void {
    const fs = require("fs") as typeof import("fs");
    fs.rmSync(dir, { recursive: true, force: true });
}

function sha256(s: string): string {
    const crypto = require("crypto") as typeof import("crypto");
    return crypto.createHash("sha256").update(s).digest("hex");
}

function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

function sameJson(a: unknown, b: unknown): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
}

/** Property names whose values differ between old outputs and new inputs. */
function changedKeys<T extends object>(olds: T, news: T, keys: (keyof T)[]): string[] {
    return keys.filter((k) => !sameJson(olds[k], news[k])).map(String);
}

// ---------------------------------------------------------------------------------------
// volumes (shared)

async function volumeExists(uri: string, pool: string, name: string): Promise<boolean> {
    const r = await virsh(uri, ["vol-info", "--pool", pool, name]);
    if (r.code === 0) return true;
    if (isNotFound(r)) return false;
    throw new Error(describe("virsh", ["-c", uri, "vol-info", "--pool", pool, name], r));
}

async function deleteVolume(uri: string, pool: string, name: string): Promise<void> {
    await virshIgnoringMissing(uri, ["vol-delete", "--pool", pool, name]);
}

async function volumePath(uri: string, pool: string, name: string): Promise<string> {
    return (await mustVirsh(uri, ["vol-path", "--pool", pool, name])).trim();
}

/** Capacity (virtual size) and format as libvirt probed them. */
async function volumeFacts(uri: string, pool: string, name: string): Promise<{ capacityBytes: number; format: string }> {
    const xml = await mustVirsh(uri, ["vol-dumpxml", "--pool", pool, name]);
    const cap = /<capacity unit='bytes'>(\d+)<\/capacity>/.exec(xml);
    const fmt = /<format type='([^']+)'\/>/.exec(xml);
    return { capacityBytes: cap ? Number(cap[1]) : 0, format: fmt ? fmt[1]! : "raw" };
}

/** Creates a raw volume of the file's size and streams the file into it (works over qemu+ssh). */
async function uploadFile(uri: string, pool: string, name: string, file: string): Promise<void> {
    const fs = require("fs") as typeof import("fs");
    const size = fs.statSync(file).size;
    await mustVirsh(uri, ["vol-create-as", pool, name, `${size}B`, "--format", "raw"]);
    // Big images on slow links: no timeout but the connection's own.
    const up = await virsh(uri, ["vol-upload", "--sparse", "--pool", pool, name, file], { timeoutSeconds: 24 * 3600 });
    if (up.code !== 0) {
        await deleteVolume(uri, pool, name);
        throw new Error(describe("virsh", ["-c", uri, "vol-upload", "--pool", pool, name, file], up));
    }
}

// ---------------------------------------------------------------------------------------
// Pool: a dir pool per lab

export interface PoolInputs {
    uri: string;
    name: string;
    path: string;
}

export const poolProvider: ResourceProvider = {
    async create(inputs: PoolInputs) {
        const { uri, name, path } = inputs;
        await mustVirsh(uri, ["pool-define-as", name, "dir", "--target", path]);
        try {
            await mustVirsh(uri, ["pool-build", name]);
            await mustVirsh(uri, ["pool-start", name]);
            await mustVirsh(uri, ["pool-autostart", name]);
        } catch (e) {
            await virsh(uri, ["pool-destroy", name]);
            await virsh(uri, ["pool-undefine", name]);
            throw e;
        }
        return { id: name, outs: { uri, name, path } };
    },
    async diff(_id: string, olds: PoolInputs, news: PoolInputs): Promise<DiffResult> {
        const replaces = changedKeys(olds, news, ["uri", "name", "path"]);
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        const info = await virsh(news.uri, ["pool-info", news.name]);
        if (isNotFound(info)) return { changes: true, replaces: ["name"], deleteBeforeReplace: true };
        // Stopped behind our back (or after a host reboot without autostart): start it.
        return { changes: !/State:\s+running/.test(info.stdout), replaces: [] };
    },
    async update(_id: string, _olds: PoolInputs, news: PoolInputs) {
        await mustVirsh(news.uri, ["pool-start", news.name]);
        return { outs: news };
    },
    async delete(_id: string, props: PoolInputs) {
        const { uri, name } = props;
        const info = await virsh(uri, ["pool-info", name]);
        if (isNotFound(info)) return;
        if (!/State:\s+running/.test(info.stdout)) await virsh(uri, ["pool-start", name]);
        // Anything still in the lab's pool is the lab's (an upload interrupted mid-way, a
        // volume created behind the program's back): delete it so the directory goes too.
        await virsh(uri, ["pool-refresh", name]);
        const list = await virsh(uri, ["-q", "vol-list", "--pool", name]);
        for (const line of list.stdout.split("\n")) {
            const vol = line.trim().split(/\s+/)[0];
            if (vol) await deleteVolume(uri, name, vol);
        }
        await virsh(uri, ["pool-destroy", name]);
        const del = await virsh(uri, ["pool-delete", name]);
        if (del.code !== 0 && !/No such file or directory/.test(del.stderr)) {
            throw new Error(describe("virsh", ["-c", uri, "pool-delete", name], del));
        }
        await virshIgnoringMissing(uri, ["pool-undefine", name]);
    },
};

// ---------------------------------------------------------------------------------------
// Network: the lab's NAT network, with per-node DHCP/DNS entries kept by net-update

export interface NetworkHostEntry {
    mac: string;
    name: string;
    ip: string;
}

export interface NetworkInputs {
    uri: string;
    name: string;
    xml: string;
    hosts: NetworkHostEntry[];
}

export interface NetworkOutputs extends NetworkInputs {
    /** New on every create: running nodes must boot again to join a recreated bridge. */
    generation: string;
}

function hostXmls(h: NetworkHostEntry): { dhcp: string; dns: string } {
    const e = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/'/g, "&apos;");
    return {
        dhcp: `<host mac='${h.mac}' name='${e(h.name)}' ip='${h.ip}'/>`,
        dns: `<host ip='${h.ip}'><hostname>${e(h.name)}</hostname></host>`,
    };
}

async function networkState(uri: string, name: string): Promise<"missing" | "active" | "inactive"> {
    const r = await virsh(uri, ["net-info", name]);
    if (isNotFound(r)) return "missing";
    if (r.code !== 0) throw new Error(describe("virsh", ["-c", uri, "net-info", name], r));
    return /Active:\s+yes/.test(r.stdout) ? "active" : "inactive";
}

async function updateHosts(uri: string, name: string, remove: NetworkHostEntry[], add: NetworkHostEntry[], live: boolean): Promise<void> {
    const scope = live ? ["--live", "--config"] : ["--config"];
    for (const h of remove) {
        const x = hostXmls(h);
        await mustVirsh(uri, ["net-update", name, "delete", "ip-dhcp-host", x.dhcp, ...scope]);
        await mustVirsh(uri, ["net-update", name, "delete", "dns-host", x.dns, ...scope]);
    }
    for (const h of add) {
        const x = hostXmls(h);
        await mustVirsh(uri, ["net-update", name, "add-last", "ip-dhcp-host", x.dhcp, ...scope]);
        await mustVirsh(uri, ["net-update", name, "add-last", "dns-host", x.dns, ...scope]);
    }
}

export const networkProvider: ResourceProvider = {
    async create(inputs: NetworkInputs) {
        const fs = require("fs") as typeof import("fs");
        const { uri, name, xml, hosts } = inputs;
        const dir = tmpDir();
        try {
            fs.writeFileSync(`${dir}/network.xml`, xml);
            await mustVirsh(uri, ["net-define", `${dir}/network.xml`]);
        } finally {
            rmrf(dir);
        }
        try {
            await updateHosts(uri, name, [], hosts, false);
            await mustVirsh(uri, ["net-start", name]);
            await mustVirsh(uri, ["net-autostart", name]);
        } catch (e) {
            await virsh(uri, ["net-destroy", name]);
            await virsh(uri, ["net-undefine", name]);
            throw e;
        }
        const crypto = require("crypto") as typeof import("crypto");
        const outs: NetworkOutputs = { uri, name, xml, hosts, generation: crypto.randomUUID() };
        return { id: name, outs };
    },
    async diff(_id: string, olds: NetworkInputs, news: NetworkInputs): Promise<DiffResult> {
        const replaces = changedKeys(olds, news, ["uri", "name", "xml"]);
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        const state = await networkState(news.uri, news.name);
        if (state === "missing") return { changes: true, replaces: ["name"], deleteBeforeReplace: true };
        return { changes: state === "inactive" || !sameJson(olds.hosts, news.hosts), replaces: [] };
    },
    async update(_id: string, olds: NetworkOutputs, news: NetworkInputs) {
        const key = (h: NetworkHostEntry) => JSON.stringify(h);
        const oldKeys = new Set(olds.hosts.map(key));
        const newKeys = new Set(news.hosts.map(key));
        const active = (await networkState(news.uri, news.name)) === "active";
        await updateHosts(
            news.uri,
            news.name,
            olds.hosts.filter((h) => !newKeys.has(key(h))),
            news.hosts.filter((h) => !oldKeys.has(key(h))),
            active,
        );
        if (!active) await mustVirsh(news.uri, ["net-start", news.name]);
        const outs: NetworkOutputs = { ...news, generation: olds.generation };
        return { outs };
    },
    async delete(_id: string, props: NetworkInputs) {
        const state = await networkState(props.uri, props.name);
        if (state === "missing") return;
        if (state === "active") await mustVirsh(props.uri, ["net-destroy", props.name]);
        await virshIgnoringMissing(props.uri, ["net-undefine", props.name]);
    },
};

// ---------------------------------------------------------------------------------------
// ImageVolume: a file uploaded once into the pool (base image, kernel, initrd)

export interface ImageVolumeInputs {
    uri: string;
    pool: string;
    name: string;
    /** Local file to upload. */
    source: string;
    /** Content key; a new hash is a new image (replace). */
    contentHash: string;
    /** libvirt format the file must probe as (qcow2, raw, vmdk, vpc). */
    format: string;
}

export interface ImageVolumeOutputs extends ImageVolumeInputs {
    path: string;
    /** Virtual size: overlays on it must be at least this big. */
    capacityBytes: number;
}

export const imageVolumeProvider: ResourceProvider = {
    async create(inputs: ImageVolumeInputs) {
        const { uri, pool, name, source, format } = inputs;
        await uploadFile(uri, pool, name, source);
        const facts = await volumeFacts(uri, pool, name);
        if (facts.format !== format) {
            await deleteVolume(uri, pool, name);
            throw new Error(
                `${source} is a ${facts.format} file according to libvirt, but the image artifact says ${format}; ` +
                    "fix the artifact's format in nixlab:lab.image.artifacts (or the image build)",
            );
        }
        const outs: ImageVolumeOutputs = { ...inputs, path: await volumePath(uri, pool, name), capacityBytes: facts.capacityBytes };
        return { id: `${pool}/${name}`, outs };
    },
    async diff(_id: string, olds: ImageVolumeOutputs, news: ImageVolumeInputs): Promise<DiffResult> {
        const replaces = changedKeys(olds, news, ["uri", "pool", "name", "contentHash", "format"]);
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        if (!(await volumeExists(news.uri, news.pool, news.name))) return { changes: true, replaces: ["name"], deleteBeforeReplace: true };
        // A different local path to the same content changes nothing in libvirt.
        return { changes: false };
    },
    async delete(_id: string, props: ImageVolumeOutputs) {
        await deleteVolume(props.uri, props.pool, props.name);
    },
};

// ---------------------------------------------------------------------------------------
// Volume: a node's root overlay or an extra blank disk (qcow2)

export interface VolumeInputs {
    uri: string;
    pool: string;
    name: string;
    capacityBytes: number;
    /** The image a root disk is an overlay on. */
    backing?: { path: string; format: string; capacityBytes: number };
    /** Domain the volume is attached to: a grow of an attached disk is done live. */
    domain: string;
    /** Config key of the size, for messages (`nixlab:lab.nodes[0].rootDiskGiB`). */
    sizeKey: string;
}

export interface VolumeOutputs extends VolumeInputs {
    path: string;
    /** New on every create: the domain restarts when a disk it uses was recreated. */
    generation: string;
}

const GiB = 1024 ** 3;

export const volumeProvider: ResourceProvider = {
    async create(inputs: VolumeInputs) {
        const { uri, pool, name, capacityBytes, backing } = inputs;
        if (backing && capacityBytes < backing.capacityBytes) {
            throw new Error(
                `${inputs.sizeKey} is ${capacityBytes / GiB} GiB but the image's disk is ${Math.ceil(backing.capacityBytes / GiB)} GiB; ` +
                    `a node's root disk cannot be smaller than its image: set ${inputs.sizeKey} to at least ${Math.ceil(backing.capacityBytes / GiB)}`,
            );
        }
        const args = ["vol-create-as", pool, name, `${capacityBytes}B`, "--format", "qcow2"];
        // An overlay: creation time and space do not depend on the image's size.
        if (backing) args.push("--backing-vol", backing.path, "--backing-vol-format", backing.format);
        await mustVirsh(uri, args);
        const crypto = require("crypto") as typeof import("crypto");
        const outs: VolumeOutputs = { ...inputs, path: await volumePath(uri, pool, name), generation: crypto.randomUUID() };
        return { id: `${pool}/${name}`, outs };
    },
    async diff(_id: string, olds: VolumeOutputs, news: VolumeInputs): Promise<DiffResult> {
        const replaces = changedKeys(olds, news, ["uri", "pool", "name", "backing"]);
        // qcow2 cannot shrink safely: a smaller size is a new disk.
        if (typeof news.capacityBytes === "number" && news.capacityBytes < olds.capacityBytes) replaces.push("capacityBytes");
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        if (!(await volumeExists(news.uri, news.pool, news.name))) return { changes: true, replaces: ["name"], deleteBeforeReplace: true };
        return { changes: news.capacityBytes !== olds.capacityBytes || news.domain !== olds.domain || news.sizeKey !== olds.sizeKey, replaces: [] };
    },
    async update(_id: string, olds: VolumeOutputs, news: VolumeInputs) {
        if (news.capacityBytes > olds.capacityBytes) {
            const state = await virsh(news.uri, ["domstate", news.domain]);
            if (state.code === 0 && /running|paused/.test(state.stdout)) {
                // QEMU holds the image open and locked: only it can grow the disk; the guest
                // sees the new size at once (resize the filesystem inside, or reboot).
                await mustVirsh(news.uri, ["blockresize", news.domain, olds.path, `${news.capacityBytes}B`]);
            } else {
                await mustVirsh(news.uri, ["vol-resize", "--pool", news.pool, news.name, `${news.capacityBytes}B`]);
            }
        }
        const outs: VolumeOutputs = { ...news, path: olds.path, generation: olds.generation };
        return { outs };
    },
    async delete(_id: string, props: VolumeOutputs) {
        await deleteVolume(props.uri, props.pool, props.name);
    },
};

// ---------------------------------------------------------------------------------------
// SeedVolume: the NoCloud seed (ISO9660 labelled cidata)

export interface SeedVolumeInputs {
    uri: string;
    pool: string;
    name: string;
    /** Secret. Never copied into outputs; its hash is. */
    userData: string;
    networkConfig: string;
    vendorData: string;
    hostname: string;
    /** instance-id = prefix + hash of the seed's content, so cloud-init re-runs on any change. */
    instanceIdPrefix: string;
}

export interface SeedVolumeOutputs extends Omit<SeedVolumeInputs, "userData"> {
    userDataSha256: string;
    instanceId: string;
    path: string;
}

export function seedInstanceId(i: Pick<SeedVolumeInputs, "instanceIdPrefix" | "userData" | "networkConfig" | "vendorData">): string {
    return `${i.instanceIdPrefix}-${sha256([i.userData, i.networkConfig, i.vendorData].join("\0")).slice(0, 16)}`;
}

export function renderMetaData(instanceId: string, hostname: string): string {
    return `instance-id: ${instanceId}\nlocal-hostname: ${hostname}\n`;
}

/** genisoimage (Debian, cdrkit on NixOS), else mkisofs, else xorriso's mkisofs mode. */
async function makeIso(dir: string, out: string, files: string[]): Promise<void> {
    const args = ["-quiet", "-output", out, "-volid", "cidata", "-joliet", "-rock", ...files.map((f) => `${dir}/${f}`)];
    const tried: string[] = [];
    for (const [cmd, pre] of [
        ["genisoimage", []],
        ["mkisofs", []],
        ["xorriso", ["-as", "mkisofs"]],
    ] as [string, string[]][]) {
        const r = await run(cmd, [...pre, ...args]);
        if (r.code === 0) return;
        if (r.code !== 127) throw new Error(describe(cmd, [...pre, ...args], r));
        tried.push(cmd);
    }
    throw new Error(`no ISO9660 tool found (tried ${tried.join(", ")}); install genisoimage (Debian: apt install genisoimage; NixOS: cdrkit)`);
}

export const seedVolumeProvider: ResourceProvider = {
    async create(inputs: SeedVolumeInputs) {
        const fs = require("fs") as typeof import("fs");
        const { uri, pool, name } = inputs;
        const instanceId = seedInstanceId(inputs);
        const dir = tmpDir();
        try {
            const files: Record<string, string> = {
                "user-data": inputs.userData,
                "meta-data": renderMetaData(instanceId, inputs.hostname),
                "network-config": inputs.networkConfig,
                "vendor-data": inputs.vendorData,
            };
            for (const [f, content] of Object.entries(files)) fs.writeFileSync(`${dir}/${f}`, content, { mode: 0o600 });
            await makeIso(dir, `${dir}/seed.iso`, Object.keys(files));
            await uploadFile(uri, pool, name, `${dir}/seed.iso`);
        } finally {
            rmrf(dir);
        }
        const { userData: _secret, ...rest } = inputs;
        const outs: SeedVolumeOutputs = { ...rest, userDataSha256: sha256(inputs.userData), instanceId, path: await volumePath(uri, pool, name) };
        return { id: `${pool}/${name}`, outs };
    },
    async diff(_id: string, olds: SeedVolumeOutputs, news: SeedVolumeInputs): Promise<DiffResult> {
        const replaces = changedKeys(olds, news as unknown as SeedVolumeOutputs, ["uri", "pool", "name", "networkConfig", "vendorData", "hostname", "instanceIdPrefix"]);
        if (sha256(news.userData) !== olds.userDataSha256) replaces.push("userData");
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        if (!(await volumeExists(news.uri, news.pool, news.name))) return { changes: true, replaces: ["name"], deleteBeforeReplace: true };
        return { changes: false };
    },
    async delete(_id: string, props: SeedVolumeOutputs) {
        await deleteVolume(props.uri, props.pool, props.name);
    },
};

// ---------------------------------------------------------------------------------------
// Domain: the node

export interface DomainInputs {
    uri: string;
    name: string;
    /** Full domain XML without metadata. */
    xml: string;
    /** Lab tags, kept in the domain's <metadata> (set live: no restart for a tag change). */
    tagsXml: string;
    metadataUri: string;
    serialLog: string;
    /** ssh arguments reaching the hypervisor (`[-p, 22, user@host]`); empty when local. */
    hypervisorSsh: string[];
    /** The URI's `?command=` (libvirt's ssh program), when it names one. @default "ssh" */
    hypervisorSshCommand?: string;
    nodeName: string;
    /** "none" | "nested": whether readiness fails on kvm=missing. */
    kvm: string;
    readyMarker: string;
    readyTimeoutSeconds: number;
    /** Generations of the disks and network; a change means: boot again on the new ones. */
    restartOn: string[];
}

export interface DomainOutputs extends DomainInputs {
    uuid: string;
    /** The readiness line seen on the serial console at the last (re)start. */
    ready: string;
}

function stripTerminal(s: string): string {
    // eslint-disable-next-line no-control-regex
    return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
}

/**
 * The serial log as far as it is written ("" before QEMU opened it). virtlogd writes it
 * root-only (0600), so a user who runs Pulumi without root (in the libvirt group, or
 * through qemu+ssh as a non-root user) falls back to `sudo -n cat`; if that is not allowed
 * either, readiness fails at once with what to do instead of timing out blind.
 */
async function readSerialLog(d: DomainInputs): Promise<string> {
    const quoted = `'${d.serialLog.replace(/'/g, "'\\''")}'`;
    if (d.hypervisorSsh.length === 0) {
        const fs = require("fs") as typeof import("fs");
        try {
            return fs.readFileSync(d.serialLog, "latin1");
        } catch (e) {
            const code = (e as { code?: string }).code;
            if (code === "ENOENT") return "";
            if (code !== "EACCES") throw e;
        }
        const r = await run("sudo", ["-n", "cat", d.serialLog], { timeoutSeconds: 60 });
        if (r.code === 0) return r.stdout;
        throw new Error(unreadableLog(d, r.stderr.trim()));
    }
    const script = `if [ ! -e ${quoted} ]; then exit 0; fi; cat ${quoted} 2>/dev/null || sudo -n cat ${quoted}`;
    const r = await run(d.hypervisorSshCommand ?? "ssh", ["-o", "BatchMode=yes", ...d.hypervisorSsh, script], { timeoutSeconds: 60 });
    if (r.code === 0) return r.stdout;
    // 255: ssh itself failed (network blip): try again on the next poll.
    if (r.code === 255) return "";
    throw new Error(unreadableLog(d, r.stderr.trim()));
}

function unreadableLog(d: DomainInputs, detail: string): string {
    const where = d.hypervisorSsh.length === 0 ? "this machine" : `the hypervisor (${d.hypervisorSshCommand ?? "ssh"} ${d.hypervisorSsh.join(" ")})`;
    return (
        `cannot read node ${d.nodeName}'s serial log ${d.serialLog} on ${where}: virtlogd writes it for root only, ` +
        `and readiness is read from it (${detail || "permission denied"}). Run Pulumi as root, connect as root ` +
        `(qemu+ssh://root@host/system), or allow this user \`sudo -n cat\` on nixlab:libvirt.serialLogDir`
    );
}

function logTail(log: string, lines = 40): string {
    const all = stripTerminal(log).split("\n");
    return all.slice(-lines).join("\n");
}

/** The marker line for this node, if the log has one. */
export function findReadyLine(log: string, marker: string, node: string): string | undefined {
    const re = new RegExp(`${marker} node=${node.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} kvm=(ok|missing)\\b[^\\n]*`);
    const m = re.exec(stripTerminal(log));
    return m ? m[0].trim() : undefined;
}

/**
 * Waits for the node's readiness line on its serial console (written by the lab's runcmd
 * on first boot and by the backend's per-boot script on later boots). Fails early when
 * the domain stops, and with the console's tail on timeout.
 */
async function waitReady(d: DomainInputs): Promise<string> {
    const deadline = Date.now() + d.readyTimeoutSeconds * 1000;
    // A local log is a file read: look every 250 ms, so `up` returns within a quarter second
    // of the guest being ready (2 s polls cost 1 s per node on average; issue 11). Over ssh
    // each look is a connection, so every 2 s. `virsh domstate` (a process and a libvirt
    // call) only every 2 s either way.
    const pollMs = d.hypervisorSsh.length === 0 ? 250 : 2000;
    let nextStateCheck = 0;
    for (;;) {
        const log = await readSerialLog(d);
        const line = findReadyLine(log, d.readyMarker, d.nodeName);
        if (line) {
            if (d.kvm !== "none" && / kvm=missing\b/.test(line)) {
                throw new Error(
                    `node ${d.nodeName} booted but has no /dev/kvm although kvm: ${d.kvm} was asked for. ` +
                        "Enable nested virtualization on the hypervisor (options kvm_intel nested=1 or kvm_amd nested=1, then reload the module) " +
                        `or set kvm: none for this node. Console: ${d.serialLog}`,
                );
            }
            return line;
        }
        if (Date.now() >= nextStateCheck) {
            nextStateCheck = Date.now() + 2000;
            const state = await virsh(d.uri, ["domstate", d.name]);
            if (state.code === 0 && !/running/.test(state.stdout)) {
                throw new Error(`domain ${d.name} stopped (${state.stdout.trim()}) before cloud-init finished; last console lines (${d.serialLog}):\n${logTail(log)}`);
            }
        }
        if (Date.now() > deadline) {
            throw new Error(
                `node ${d.nodeName}: no "${d.readyMarker}" line on the serial console after ${d.readyTimeoutSeconds}s ` +
                    `(nixlab:libvirt.readyTimeoutSeconds); cloud-init did not finish. Last console lines (${d.serialLog}):\n${logTail(log)}`,
            );
        }
        await sleep(pollMs);
    }
}

async function domainUuid(uri: string, name: string): Promise<string | undefined> {
    const r = await virsh(uri, ["domuuid", name]);
    if (isNotFound(r)) return undefined;
    if (r.code !== 0) throw new Error(describe("virsh", ["-c", uri, "domuuid", name], r));
    return r.stdout.trim();
}

async function isRunning(uri: string, name: string): Promise<boolean> {
    const r = await virsh(uri, ["domstate", name]);
    return r.code === 0 && /running|paused|in shutdown/.test(r.stdout);
}

async function defineDomain(d: DomainInputs): Promise<void> {
    const fs = require("fs") as typeof import("fs");
    const dir = tmpDir();
    try {
        fs.writeFileSync(`${dir}/domain.xml`, d.xml);
        await mustVirsh(d.uri, ["define", `${dir}/domain.xml`]);
    } finally {
        rmrf(dir);
    }
}

async function setTags(d: DomainInputs, live: boolean): Promise<void> {
    await mustVirsh(d.uri, ["metadata", d.name, d.metadataUri, "--key", "nixlab", "--set", d.tagsXml, "--config", ...(live ? ["--live"] : [])]);
}

/** Power off: a lab node holds nothing that must survive a hard stop, and ACPI shutdown under TCG takes minutes. */
async function stopDomain(uri: string, name: string): Promise<void> {
    const r = await virsh(uri, ["destroy", name]);
    if (r.code !== 0 && !isNotFound(r) && !/not running/.test(r.stderr)) throw new Error(describe("virsh", ["-c", uri, "destroy", name], r));
}

async function removeDomain(uri: string, name: string): Promise<void> {
    await stopDomain(uri, name);
    const r = await virsh(uri, ["undefine", name, "--nvram"]);
    if (r.code === 0 || isNotFound(r)) return;
    // BIOS domains have no NVRAM; older libvirt rejects the flag for them.
    await virshIgnoringMissing(uri, ["undefine", name]);
}

async function bootAndWait(d: DomainInputs): Promise<string> {
    await mustVirsh(d.uri, ["start", d.name]);
    return waitReady(d);
}

export const domainProvider: ResourceProvider = {
    async create(inputs: DomainInputs) {
        await defineDomain(inputs);
        let ready: string;
        try {
            await setTags(inputs, false);
            ready = await bootAndWait(inputs);
        } catch (e) {
            // A create either succeeds or leaves nothing behind; the serial log stays for diagnosis.
            await removeDomain(inputs.uri, inputs.name);
            throw e;
        }
        const uuid = (await domainUuid(inputs.uri, inputs.name)) ?? "";
        const outs: DomainOutputs = { ...inputs, uuid, ready };
        return { id: inputs.name, outs };
    },
    async diff(_id: string, olds: DomainOutputs, news: DomainInputs): Promise<DiffResult> {
        const replaces = changedKeys(olds, news as DomainOutputs, ["uri", "name"]);
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        const uuid = await domainUuid(news.uri, news.name);
        // Gone, or undefined and defined again by someone else: not the node we made.
        if (uuid !== olds.uuid) return { changes: true, replaces: ["uuid"], deleteBeforeReplace: true };
        const changed = changedKeys(olds, news as DomainOutputs, [
            "xml",
            "tagsXml",
            "metadataUri",
            "serialLog",
            "hypervisorSsh",
            "hypervisorSshCommand",
            "nodeName",
            "kvm",
            "readyMarker",
            "restartOn",
        ]);
        return { changes: changed.length > 0 || !(await isRunning(news.uri, news.name)), replaces: [] };
    },
    async update(_id: string, olds: DomainOutputs, news: DomainInputs) {
        const running = await isRunning(news.uri, news.name);
        const redefine = olds.xml !== news.xml;
        const reboot = redefine || !sameJson(olds.restartOn, news.restartOn) || !running;
        if (redefine) await defineDomain(news);
        if (redefine || olds.tagsXml !== news.tagsXml || olds.metadataUri !== news.metadataUri) await setTags(news, running && !reboot);
        let ready = olds.ready;
        if (reboot) {
            if (running) await stopDomain(news.uri, news.name);
            ready = await bootAndWait(news);
        }
        const outs: DomainOutputs = { ...news, uuid: olds.uuid, ready };
        return { outs };
    },
    async delete(_id: string, props: DomainOutputs) {
        await removeDomain(props.uri, props.name);
    },
};
