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
 * Every libvirt resource runs on ONE provider object, `libvirtProvider` (at the end), which
 * dispatches on the `kind` input/output to the per-kind objects below: serialization is
 * paid per provider object (see libvirtProvider for the numbers and the upgrade rules).
 *
 * Outputs are a contract across nixlab versions: Pulumi runs a changed provider against
 * the state an older one wrote (it does not replace resources when provider code
 * changes), so new code must read old outputs. Every physical name is fixed by config, so
 * every replacement is delete-before-replace.
 */
import type * as pulumiDynamic from "@pulumi/pulumi/dynamic";
import type { Owner } from "./render";

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

/**
 * A private temp dir, named after this process so a later run can remove what a killed
 * one left (a seed's user-data holds the node's SSH host private key).
 */
function tmpDir(): string {
    const fs = require("fs") as typeof import("fs");
    const os = require("os") as typeof import("os");
    const path = require("path") as typeof import("path");
    sweepStaleTemp();
    return fs.mkdtempSync(path.join(os.tmpdir(), `nixlab-libvirt-${process.pid}-`));
}

/** Removes temp dirs of nixlab processes that no longer exist (killed before their `finally`). */
export function sweepStaleTemp(): void {
    const fs = require("fs") as typeof import("fs");
    const os = require("os") as typeof import("os");
    const path = require("path") as typeof import("path");
    let entries: string[] = [];
    try {
        entries = fs.readdirSync(os.tmpdir());
    } catch {
        return;
    }
    for (const e of entries) {
        const m = /^nixlab-libvirt-(\d+)-/.exec(e);
        if (!m || Number(m[1]) === process.pid) continue;
        try {
            process.kill(Number(m[1]), 0);
            continue; // still running
        } catch (err) {
            if ((err as { code?: string }).code !== "ESRCH") continue;
        }
        rmrf(path.join(os.tmpdir(), e));
    }
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
// identity: who made an object, and is it still the one this stack made

/** Same as render.ts's OWNER_URI (a test keeps them equal; this file imports nothing at runtime). */
export const OWNER_NS = "https://nixlab.dev/xmlns/libvirt/owner/1";

function unescapeXml(s: string): string {
    return s
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&quot;/g, '"')
        .replace(/&apos;/g, "'")
        .replace(/&amp;/g, "&");
}

/**
 * The owner stamped into a domain's or network's XML (`<metadata>`), whatever namespace
 * prefix libvirt wrote it back with. undefined when there is none.
 */
export function parseOwner(xml: string): Owner | undefined {
    const md = /<metadata>([\s\S]*?)<\/metadata>/.exec(xml);
    if (!md) return undefined;
    for (const tag of md[1]!.match(/<([A-Za-z_][\w.-]*:)?owner\b[^>]*>/g) ?? []) {
        const attrs: Record<string, string> = {};
        for (const a of tag.matchAll(/([A-Za-z_][\w.:-]*)=(["'])([\s\S]*?)\2/g)) attrs[a[1]!] = unescapeXml(a[3]!);
        if (!Object.entries(attrs).some(([k, v]) => /^xmlns(:|$)/.test(k) && v === OWNER_NS)) continue;
        if (attrs.stack === undefined || attrs.lab === undefined) return undefined;
        return { stack: attrs.stack, lab: attrs.lab, ...(attrs.node !== undefined ? { node: attrs.node } : {}) };
    }
    return undefined;
}

export function sameOwner(a: Owner | undefined, b: Owner | undefined): boolean {
    return !!a && !!b && a.stack === b.stack && a.lab === b.lab && (a.node ?? "") === (b.node ?? "");
}

export function describeOwner(o: Owner | undefined): string {
    return o ? `stack ${o.stack}, lab ${o.lab}${o.node !== undefined ? `, node ${o.node}` : ""}` : "nobody nixlab knows (no nixlab owner stamp: made by hand, by another tool, or by an older nixlab)";
}

/** The error for an object of this name that another owner made. */
export function notOurs(what: string, uri: string, want: Owner, found: Owner | undefined): Error {
    const fix =
        found && found.stack !== want.stack && found.lab === want.lab
            ? `Two stacks cannot use lab name ${JSON.stringify(want.lab)} on one hypervisor: rename nixlab:lab.name in stack ${want.stack}, or destroy stack ${found.stack} first (nixlab destroy ${found.stack}).`
            : `Rename nixlab:lab.name, or remove ${what} yourself once you are sure nothing uses it.`;
    return new Error(
        `${what} already exists on ${uri} and is not this lab's: it belongs to ${describeOwner(found)}; this is ${describeOwner(want)}. ` +
            `nixlab never adopts, changes or deletes an object another owner made. ${fix}`,
    );
}

/** The error for a same-named object whose UUID is not the one this stack created. */
export function notTheSame(what: string, uri: string, recorded: string, found: string): Error {
    return new Error(
        `${what} on ${uri} has UUID ${found}, but this stack created UUID ${recorded}: the object was removed and another one made under ` +
            "its name outside this stack run. nixlab does not change or delete it. If it is an orphan of this stack, `nixlab cleanup <stack>` " +
            "lists and removes it; otherwise remove or rename it yourself, then run the command again.",
    );
}

type Kind = "domain" | "network" | "pool";

const KINDS: Record<Kind, { list: string[]; uuid: string; xml: string; label: string }> = {
    domain: { list: ["list", "--all", "--name"], uuid: "domuuid", xml: "dumpxml", label: "domain" },
    network: { list: ["net-list", "--all", "--name"], uuid: "net-uuid", xml: "net-dumpxml", label: "network" },
    pool: { list: ["pool-list", "--all", "--name"], uuid: "pool-uuid", xml: "pool-dumpxml", label: "storage pool" },
};

/** Names of every object of a kind (a failed listing throws: it proves nothing). */
export async function listNames(uri: string, kind: Kind): Promise<string[]> {
    return (await mustVirsh(uri, KINDS[kind].list))
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
}

export interface Identity {
    uuid: string;
    xml: string;
}

// ---------------------------------------------------------------------------------------
// batches: several virsh commands over one connection

/** Words virsh's command-string parser takes as they are: no quoting, no `;`, no spaces. */
const BATCH_WORD = /^[A-Za-z0-9_.,:/@+=%-]+$/;

export interface BatchResult {
    /** The exit status of the LAST command (virsh's rule for a command string). */
    code: number;
    /** Every failed command's message, unmarked. */
    stderr: string;
    /** Each command's stdout, in order; undefined when the marks did not come back as expected. */
    outputs: string[] | undefined;
}

/**
 * The command string for `commands` with `echo <mark>` between them, so stdout splits per
 * command and the last command's status stays virsh's exit status; undefined when an
 * argument would need quoting (the caller runs the commands one by one instead).
 */
export function batchScript(commands: string[][], mark: string): string | undefined {
    if (!commands.every((c) => c.length > 0 && c.every((w) => BATCH_WORD.test(w)))) return undefined;
    return commands.map((c) => c.join(" ")).join(`; echo ${mark}; `);
}

/** stdout of a batch → each command's output; undefined unless there is exactly one mark between each two. */
export function splitBatch(stdout: string, mark: string, n: number): string[] | undefined {
    const outputs: string[] = [];
    let cur: string[] = [];
    for (const line of stdout.split("\n")) {
        // A command whose output does not end in a newline leaves the mark at a line's end.
        if (line.endsWith(mark)) {
            cur.push(line.slice(0, -mark.length));
            outputs.push(cur.join("\n"));
            cur = [];
        } else cur.push(line);
    }
    outputs.push(cur.join("\n"));
    return outputs.length === n ? outputs : undefined;
}

/**
 * Several virsh commands in ONE virsh process. A virsh process costs ~50 ms here (process
 * start, connection, authentication) against about a millisecond per command on an open
 * connection, so a lookup of three commands in three processes was most of the time nixlab
 * spent in libvirt (issue 11's profile: 95 processes for a 1-node lab).
 *
 * virsh runs a `;`-separated command string command after command, goes on after a failed
 * one, and exits with the last command's status; error messages go to stderr unmarked. So
 * a batch proves only two things: the last command's success (exit 0), and everyone's
 * (exit 0 and nothing on stderr). Callers put the command whose status they need last (a
 * listing), batch only commands that read or are idempotent, and run the commands one by
 * one, with the usual error handling, whenever the batch did not plainly succeed.
 * undefined: an argument needs quoting; run them one by one.
 */
export async function virshBatch(uri: string, commands: string[][]): Promise<BatchResult | undefined> {
    const crypto = require("crypto") as typeof import("crypto");
    const mark = `nixlab-mark-${crypto.randomBytes(6).toString("hex")}`;
    const script = batchScript(commands, mark);
    if (script === undefined) return undefined;
    // Not -q: quiet virsh ends an `echo` without its newline.
    const r = await virsh(uri, [script]);
    return { code: r.code, stderr: r.stderr, outputs: splitBatch(r.stdout, mark, commands.length) };
}

/** Every command's output when every command of the batch succeeded; undefined otherwise. */
async function batchAllOk(uri: string, commands: string[][]): Promise<string[] | undefined> {
    const b = await virshBatch(uri, commands);
    return b && b.code === 0 && b.stderr.trim() === "" && b.outputs ? b.outputs : undefined;
}

function names(listing: string): string[] {
    return listing
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
}

export interface Lookup extends Identity {
    /** Output of each `also` command, in order. */
    also: string[];
}

/**
 * An object's UUID and XML (and the output of `also`, read-only commands about it), or
 * undefined only when a listing confirms that no object of that name exists. A failed
 * lookup of a listed object (or a failed listing) throws: virsh prints `failed to get
 * domain 'x'` for *any* failed lookup (no such domain, a dropped ssh connection, a
 * restarting libvirtd), so an error message never proves absence.
 *
 * One virsh process: UUID, XML, `also`, then the listing last, so the exit status is the
 * listing's. A listing without the name confirms absence; with it, every lookup must have
 * succeeded. Anything else is asked again one command at a time (identifyOneByOne), which
 * reports the failure as it is.
 */
export async function lookup(uri: string, kind: Kind, name: string, also: string[][] = []): Promise<Lookup | undefined> {
    const k = KINDS[kind];
    const b = await virshBatch(uri, [[k.uuid, name], [k.xml, name], ...also, k.list]);
    if (b && b.code === 0 && b.outputs) {
        const o = b.outputs;
        if (!names(o[o.length - 1]!).includes(name)) return undefined;
        const uuid = o[0]!.trim();
        if (b.stderr.trim() === "" && uuid !== "") return { uuid, xml: o[1]!, also: o.slice(2, 2 + also.length) };
    }
    const id = await identifyOneByOne(uri, kind, name);
    if (!id) return undefined;
    const rest: string[] = [];
    for (const c of also) rest.push(await mustVirsh(uri, c));
    return { ...id, also: rest };
}

/** lookup() without extra commands: UUID and XML, or undefined when a listing confirms absence. */
export async function identify(uri: string, kind: Kind, name: string): Promise<Identity | undefined> {
    const id = await lookup(uri, kind, name);
    return id && { uuid: id.uuid, xml: id.xml };
}

/** identify() one command per virsh process: what a batch falls back to, with the precise error. */
async function identifyOneByOne(uri: string, kind: Kind, name: string): Promise<Identity | undefined> {
    const k = KINDS[kind];
    const u = await virsh(uri, [k.uuid, name]);
    if (u.code !== 0) {
        if (!(await listNames(uri, kind)).includes(name)) return undefined;
        throw new Error(`${describe("virsh", ["-c", uri, k.uuid, name], u)}; ${k.label} ${name} is still listed, so it is not gone: the lookup itself failed (connection, daemon restart); try again`);
    }
    return { uuid: u.stdout.trim(), xml: await mustVirsh(uri, [k.xml, name]) };
}

// ---------------------------------------------------------------------------------------
// volumes (shared): a volume's identity is its pool's UUID plus its key (path)

/** Volumes in a pool: name → path (key). */
export async function volumeList(uri: string, pool: string): Promise<Map<string, string>> {
    return parseVolumeList(await mustVirsh(uri, ["-q", "vol-list", "--pool", pool]));
}

/** `virsh [-q] vol-list --pool p` → name → path (a dir pool's paths are absolute; the table's header is not a volume). */
function parseVolumeList(out: string): Map<string, string> {
    const vols = new Map<string, string>();
    for (const line of out.split("\n")) {
        if (/^\s*Name\s+Path\s*$/.test(line) || /^\s*-+\s*$/.test(line)) continue;
        const parts = line.trim().split(/\s+/);
        if (parts[0]) vols.set(parts[0], parts[parts.length - 1]!);
    }
    return vols;
}

/** Whether the volume exists; "no" only when listings confirm it (its pool, or the pool's volumes). */
async function volumeExists(uri: string, pool: string, name: string): Promise<boolean> {
    const r = await virsh(uri, ["vol-info", "--pool", pool, name]);
    if (r.code === 0) return true;
    if (!(await listNames(uri, "pool")).includes(pool)) return false;
    if ((await volumeList(uri, pool)).has(name)) {
        throw new Error(`${describe("virsh", ["-c", uri, "vol-info", "--pool", pool, name], r)}; volume ${name} is still listed in pool ${pool}, so it is not gone; try again`);
    }
    return false;
}

/**
 * Checks that the pool is still the one this stack created before anything in it is
 * touched. "missing" when a listing confirms the pool is gone. Old state without a
 * recorded pool UUID is not checked.
 */
async function checkPool(uri: string, pool: string, poolUuid: string | undefined): Promise<"ok" | "missing"> {
    if (!poolUuid) return (await listNames(uri, "pool")).includes(pool) ? "ok" : "missing";
    const id = await identify(uri, "pool", pool);
    if (!id) return "missing";
    if (id.uuid !== poolUuid) throw notTheSame(`storage pool ${pool}`, uri, poolUuid, id.uuid);
    return "ok";
}

async function deleteVolume(uri: string, pool: string, name: string): Promise<void> {
    if (await volumeExists(uri, pool, name)) await mustVirsh(uri, ["vol-delete", "--pool", pool, name]);
}

/**
 * checkPool and volumeExists in one virsh process: the pool's UUID, its volumes, and the
 * pool listing last (its status is the batch's). "missing" when the listing confirms the
 * pool is gone; otherwise the UUID is checked (throws if the pool is another one) and the
 * volume's presence read from the pool's volume listing. Whatever the batch does not prove
 * is asked again one command at a time, as checkPool and volumeExists ask it.
 */
async function poolAndVolume(uri: string, pool: string, poolUuid: string | undefined, name: string): Promise<"missing" | { volume: boolean }> {
    const b = await virshBatch(uri, [["pool-uuid", pool], ["vol-list", "--pool", pool], KINDS.pool.list]);
    if (b && b.code === 0 && b.outputs) {
        const [uuid, vols, pools] = b.outputs as [string, string, string];
        if (!names(pools).includes(pool)) return "missing";
        if (b.stderr.trim() === "" && uuid.trim() !== "") {
            if (poolUuid && uuid.trim() !== poolUuid) throw notTheSame(`storage pool ${pool}`, uri, poolUuid, uuid.trim());
            return { volume: parseVolumeList(vols).has(name) };
        }
    }
    if ((await checkPool(uri, pool, poolUuid)) === "missing") return "missing";
    return { volume: await volumeExists(uri, pool, name) };
}

/**
 * Before a create: the pool must be this stack's, and a volume of this name in it is an
 * orphan of an interrupted run of this lab (only the lab writes into its pool). Its
 * content is unknown (an upload may have been cut off), so it is deleted, never adopted.
 */
async function prepareVolumeSlot(uri: string, pool: string, poolUuid: string | undefined, name: string): Promise<void> {
    const found = await poolAndVolume(uri, pool, poolUuid, name);
    if (found === "missing") throw new Error(`storage pool ${pool} does not exist on ${uri}; run up again to recreate it`);
    if (found.volume) await mustVirsh(uri, ["vol-delete", "--pool", pool, name]);
}

async function volumePath(uri: string, pool: string, name: string): Promise<string> {
    return (await mustVirsh(uri, ["vol-path", "--pool", pool, name])).trim();
}

async function volumeKey(uri: string, pool: string, name: string): Promise<string> {
    return (await mustVirsh(uri, ["vol-key", "--pool", pool, name])).trim();
}

/** Creates a raw volume of the file's size and streams the file into it (works over qemu+ssh). */
async function uploadFile(uri: string, pool: string, name: string, file: string): Promise<void> {
    const fs = require("fs") as typeof import("fs");
    if (await copyIntoLocalPool(uri, pool, name, file)) return;
    const size = fs.statSync(file).size;
    await mustVirsh(uri, ["vol-create-as", pool, name, `${size}B`, "--format", "raw"]);
    // Big images on slow links: no timeout but the connection's own.
    const up = await virsh(uri, ["vol-upload", "--sparse", "--pool", pool, name, file], { timeoutSeconds: 24 * 3600 });
    if (up.code !== 0) {
        await virsh(uri, ["vol-delete", "--pool", pool, name]);
        throw new Error(describe("virsh", ["-c", uri, "vol-upload", "--pool", pool, name, file], up));
    }
}

/** A URI without a host: libvirtd on this machine, over its local socket. */
export function isLocalUri(uri: string): boolean {
    return /^[a-z][a-z0-9+.-]*:\/\/\//.test(uri);
}

/**
 * A file into a pool this machine can write itself: copied into the pool's directory
 * (a reflink where the filesystem has them) and the pool refreshed so libvirt probes it,
 * instead of `vol-upload` streaming every byte through libvirtd (343 MB for the fixture
 * image: seconds of CPU on a small host; issue 11). Only for a local URI whose pool
 * directory is here and writable by this process, and shows it is the lab's (its ownership
 * marker, which every lab pool holds, is in it): run as an ordinary user against
 * qemu:///system, or with libvirtd in another mount namespace, it is vol-upload as before.
 * The volume is then known by its pool and path exactly as an uploaded one (vol-dumpxml
 * after). false: not done (nothing left behind); the caller uploads.
 */
async function copyIntoLocalPool(uri: string, pool: string, name: string, file: string): Promise<boolean> {
    if (!isLocalUri(uri)) return false;
    const fs = require("fs") as typeof import("fs");
    const xml = await virsh(uri, ["pool-dumpxml", pool]);
    const escaped = xml.code === 0 ? /<target>\s*<path>([^<]+)<\/path>/.exec(xml.stdout)?.[1] : undefined;
    if (!escaped) return false;
    const dir = unescapeXml(escaped);
    const target = `${dir}/${name}`;
    try {
        fs.accessSync(dir, fs.constants.W_OK);
        if (!fs.existsSync(`${dir}/${POOL_MARKER}`)) return false;
    } catch {
        return false;
    }
    try {
        // As libvirt makes pool volumes: 0600 (a seed holds the node's SSH host key), the
        // file never readable by others, not even while it is being written.
        fs.writeFileSync(target, "", { mode: 0o600, flag: "wx" });
        fs.copyFileSync(file, target, fs.constants.COPYFILE_FICLONE);
        fs.chmodSync(target, 0o600);
    } catch {
        fs.rmSync(target, { force: true });
        return false;
    }
    // A pool refresh is refused while a volume of the pool is being built (an overlay's
    // qemu-img create): try again shortly; if it stays refused, upload instead.
    for (let i = 0; i < 40; i++) {
        const r = await virsh(uri, ["pool-refresh", pool]);
        if (r.code === 0) return true;
        if (!/asynchronous jobs running/.test(r.stderr)) break;
        await sleep(250);
    }
    fs.rmSync(target, { force: true });
    return false;
}

/**
 * Names of the volumes a lab creates in its pool (render.ts `volumeNames`; a test keeps
 * them in step) plus the pool's ownership marker. Destroy deletes these and nothing else.
 */
export function isLabVolume(name: string): boolean {
    return name === POOL_MARKER || /^(nixlab-(base|kernel|initrd)-[0-9a-f]{16}|[a-z][a-z0-9-]*\.(root\.qcow2|cidata\.iso|vol-[a-z0-9-]+\.qcow2))$/.test(name);
}

// ---------------------------------------------------------------------------------------
// Pool: a dir pool per lab, its directory marked with the lab's owner

/** The ownership marker in a lab's pool directory (a volume, so it is read and written over any URI). */
export const POOL_MARKER = ".nixlab-owner";

export interface PoolInputs {
    uri: string;
    name: string;
    path: string;
    /** Written into the directory's marker; a directory is used only when new or marked for this owner. */
    owner: Owner;
}

export interface PoolOutputs extends PoolInputs {
    uuid: string;
}

/** The owner a pool directory's marker names; undefined without a (readable) marker. */
export async function readPoolMarker(uri: string, pool: string): Promise<Owner | undefined> {
    const fs = require("fs") as typeof import("fs");
    const dir = tmpDir();
    try {
        const r = await virsh(uri, ["vol-download", "--pool", pool, POOL_MARKER, `${dir}/marker`]);
        if (r.code !== 0) return undefined;
        const o = JSON.parse(fs.readFileSync(`${dir}/marker`, "utf8")) as Partial<Owner>;
        return typeof o.stack === "string" && typeof o.lab === "string" ? { stack: o.stack, lab: o.lab } : undefined;
    } catch {
        return undefined;
    } finally {
        rmrf(dir);
    }
}

function markerJson(owner: Owner): string {
    return JSON.stringify({ nixlab: "pool-owner/1", stack: owner.stack, lab: owner.lab }) + "\n";
}

async function writePoolMarker(uri: string, pool: string, owner: Owner): Promise<void> {
    const fs = require("fs") as typeof import("fs");
    const dir = tmpDir();
    try {
        fs.writeFileSync(`${dir}/marker`, markerJson(owner));
        await uploadFile(uri, pool, POOL_MARKER, `${dir}/marker`);
    } finally {
        rmrf(dir);
    }
}

/**
 * A pool whose directory pool-build has just made (the start before found none, so there
 * is nothing in it to check): builds and starts it, writes the ownership marker, sets
 * autostart, and returns the pool's UUID. The upload, the autostart and the UUID share one
 * virsh process (each can be repeated), and so do build and start; whatever a batch does
 * not prove is done again one command at a time.
 */
async function makeNewPoolDir(uri: string, name: string, owner: Owner): Promise<string> {
    const fs = require("fs") as typeof import("fs");
    if (!(await batchAllOk(uri, [["pool-build", name], ["pool-start", name]])) && !(await poolRunning(uri, name))) {
        await mustVirsh(uri, ["pool-build", name]);
        await mustVirsh(uri, ["pool-start", name]);
    }
    const dir = tmpDir();
    try {
        const file = `${dir}/marker`;
        fs.writeFileSync(file, markerJson(owner));
        await mustVirsh(uri, ["vol-create-as", name, POOL_MARKER, `${fs.statSync(file).size}B`, "--format", "raw"]);
        const upload = ["vol-upload", "--sparse", "--pool", name, POOL_MARKER, file];
        const out = await batchAllOk(uri, [upload, ["pool-autostart", name], ["pool-uuid", name]]);
        if (out && out[2]!.trim() !== "") return out[2]!.trim();
        const up = await virsh(uri, upload);
        if (up.code !== 0) {
            await virsh(uri, ["vol-delete", "--pool", name, POOL_MARKER]);
            throw new Error(describe("virsh", ["-c", uri, ...upload], up));
        }
        return await autostartAndUuid(uri, "pool", name);
    } finally {
        rmrf(dir);
    }
}

/**
 * A running pool's directory may hold only nothing, or this owner's marker (plus what the
 * lab itself writes). Anything else: the directory is not this lab's to use.
 */
async function claimPoolDir(uri: string, name: string, path: string, owner: Owner, what: string, opts: { refresh: boolean }): Promise<void> {
    // A pool we just started was scanned by its start; one that was running already may not
    // have seen what was written into its directory since.
    const vols = [...(opts.refresh ? await refreshedVolumes(uri, name) : await volumeList(uri, name)).keys()];
    const marker = vols.includes(POOL_MARKER) ? await readPoolMarker(uri, name) : undefined;
    if (marker) {
        if (marker.stack === owner.stack && marker.lab === owner.lab) return;
        throw notOurs(what, uri, owner, marker);
    }
    if (vols.length > 0) {
        const shown = vols.slice(0, 5).join(", ") + (vols.length > 5 ? `, ... (${vols.length} in all)` : "");
        throw new Error(
            `pool directory ${path} (nixlab:libvirt.poolDir) already exists on ${uri} and holds files without this lab's ownership marker (${shown}); ` +
                `nixlab makes a lab's pool only in a new directory or one marked for it (${POOL_MARKER} naming stack ${owner.stack}, lab ${owner.lab}), ` +
                "and never deletes files it did not create. Move those files away, or set nixlab:libvirt.poolDir to another directory.",
        );
    }
    await writePoolMarker(uri, name, owner);
}

async function poolRunning(uri: string, name: string): Promise<boolean> {
    return isPoolRunning(await mustVirsh(uri, ["pool-info", name]));
}

function isPoolRunning(poolInfo: string): boolean {
    return /State:\s+running/.test(poolInfo);
}

/** pool-refresh, then the pool's volumes: one virsh process when both succeed (both only read the directory). */
async function refreshedVolumes(uri: string, name: string): Promise<Map<string, string>> {
    const out = await batchAllOk(uri, [["pool-refresh", name], ["vol-list", "--pool", name]]);
    if (out) return parseVolumeList(out[1]!);
    await mustVirsh(uri, ["pool-refresh", name]);
    return volumeList(uri, name);
}

/** `<x>-autostart` then `<x>-uuid` (autostart is idempotent): one virsh process when both succeed. */
async function autostartAndUuid(uri: string, kind: "pool" | "network", name: string): Promise<string> {
    const [autostart, uuid] = kind === "pool" ? ["pool-autostart", "pool-uuid"] : ["net-autostart", "net-uuid"];
    const out = await batchAllOk(uri, [[autostart, name], [uuid, name]]);
    if (out && out[1]!.trim() !== "") return out[1]!.trim();
    await mustVirsh(uri, [autostart, name]);
    return (await mustVirsh(uri, [uuid, name])).trim();
}

export const poolProvider: ResourceProvider = {
    async create(inputs: PoolInputs) {
        const { uri, name, path, owner } = inputs;
        const existing = await identify(uri, "pool", name);
        if (existing) {
            // A pool of this name already: this lab's own from an interrupted run (its
            // directory carries our marker), or someone else's, which is left as it is.
            const target = /<path>([^<]*)<\/path>/.exec(existing.xml)?.[1];
            if (target !== path) throw notOurs(`storage pool ${name}${target ? ` (directory ${target})` : ""}`, uri, owner, undefined);
            const wasRunning = await poolRunning(uri, name);
            if (!wasRunning) await mustVirsh(uri, ["pool-start", name]);
            try {
                await claimPoolDir(uri, name, path, owner, `storage pool ${name} (directory ${path})`, { refresh: wasRunning });
            } catch (e) {
                if (!wasRunning) await virsh(uri, ["pool-destroy", name]);
                throw e;
            }
            await mustVirsh(uri, ["pool-autostart", name]);
            const outs: PoolOutputs = { ...inputs, uuid: existing.uuid };
            return { id: name, outs };
        }
        await mustVirsh(uri, ["pool-define-as", name, "dir", "--target", path]);
        let uuid: string;
        try {
            // Started without a build first: success means the directory already existed.
            const start = await virsh(uri, ["pool-start", name]);
            if (start.code !== 0) {
                if (!/No such file or directory/.test(start.stderr)) throw new Error(describe("virsh", ["-c", uri, "pool-start", name], start));
                uuid = await makeNewPoolDir(uri, name, owner);
            } else {
                // pool-start scanned the directory: no refresh before looking at what it holds.
                await claimPoolDir(uri, name, path, owner, `pool directory ${path} (nixlab:libvirt.poolDir)`, { refresh: false });
                uuid = await autostartAndUuid(uri, "pool", name);
            }
        } catch (e) {
            // Undo the definition only: a directory that existed keeps everything in it.
            await virsh(uri, ["pool-destroy", name]);
            await virsh(uri, ["pool-undefine", name]);
            throw e;
        }
        const outs: PoolOutputs = { ...inputs, uuid };
        return { id: name, outs };
    },
    async diff(_id: string, olds: PoolOutputs, news: PoolInputs): Promise<DiffResult> {
        const replaces = changedKeys(olds, news as PoolOutputs, ["uri", "name", "path"]);
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        const id = await lookup(news.uri, "pool", news.name, [["pool-info", news.name]]);
        if (!id) return { changes: true, replaces: ["name"], deleteBeforeReplace: true };
        if (olds.uuid && id.uuid !== olds.uuid) throw notTheSame(`storage pool ${news.name}`, news.uri, olds.uuid, id.uuid);
        // Stopped behind our back (or after a host reboot without autostart): start it.
        // Old state without a UUID or owner: record them.
        return { changes: !isPoolRunning(id.also[0]!) || !olds.uuid || !sameJson(olds.owner, news.owner), replaces: [] };
    },
    async update(_id: string, olds: PoolOutputs, news: PoolInputs) {
        const id = await identify(news.uri, "pool", news.name);
        if (!id) throw new Error(`storage pool ${news.name} disappeared from ${news.uri} during the update; run up again to recreate it`);
        if (olds.uuid && id.uuid !== olds.uuid) throw notTheSame(`storage pool ${news.name}`, news.uri, olds.uuid, id.uuid);
        if (!(await poolRunning(news.uri, news.name))) await mustVirsh(news.uri, ["pool-start", news.name]);
        const outs: PoolOutputs = { ...news, uuid: id.uuid };
        return { outs };
    },
    async delete(_id: string, props: PoolOutputs) {
        const { uri, name } = props;
        const id = await lookup(uri, "pool", name, [["pool-info", name]]);
        if (!id) return;
        if (props.uuid && id.uuid !== props.uuid) throw notTheSame(`storage pool ${name}`, uri, props.uuid, id.uuid);
        if (!isPoolRunning(id.also[0]!)) await mustVirsh(uri, ["pool-start", name]);
        // What the lab made (an upload cut off by a killed run included) goes; other files
        // stay, and so does the directory holding them.
        const vols = [...(await refreshedVolumes(uri, name)).keys()];
        for (const vol of vols.filter(isLabVolume)) await mustVirsh(uri, ["vol-delete", "--pool", name, vol]);
        const foreign = vols.filter((v) => !isLabVolume(v));
        await mustVirsh(uri, ["pool-destroy", name]);
        if (foreign.length === 0) {
            const del = await virsh(uri, ["pool-delete", name]);
            if (del.code !== 0 && !/No such file or directory/.test(del.stderr)) throw new Error(describe("virsh", ["-c", uri, "pool-delete", name], del));
        }
        await mustVirsh(uri, ["pool-undefine", name]);
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
    /** Carries the owner in `<metadata>`. */
    xml: string;
    hosts: NetworkHostEntry[];
}

export interface NetworkOutputs extends NetworkInputs {
    /** New on every create: running nodes must boot again to join a recreated bridge. */
    generation: string;
    uuid: string;
}

function hostXmls(h: NetworkHostEntry): { dhcp: string; dns: string } {
    const e = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/'/g, "&apos;");
    return {
        dhcp: `<host mac='${h.mac}' name='${e(h.name)}' ip='${h.ip}'/>`,
        dns: `<host ip='${h.ip}'><hostname>${e(h.name)}</hostname></host>`,
    };
}

export async function networkActive(uri: string, name: string): Promise<boolean> {
    return isNetworkActive(await mustVirsh(uri, ["net-info", name]));
}

function isNetworkActive(netInfo: string): boolean {
    return /Active:\s+yes/.test(netInfo);
}

/**
 * The network as this stack made it and whether it is active (one virsh process), or
 * undefined when a listing confirms it is gone.
 */
async function ourNetwork(uri: string, name: string, uuid: string | undefined): Promise<(Identity & { active: boolean }) | undefined> {
    const id = await lookup(uri, "network", name, [["net-info", name]]);
    if (id && uuid && id.uuid !== uuid) throw notTheSame(`network ${name}`, uri, uuid, id.uuid);
    return id && { uuid: id.uuid, xml: id.xml, active: isNetworkActive(id.also[0]!) };
}

/**
 * The network XML with the host entries in its `<dhcp>` and `<dns>`, as `net-update
 * add-last` would leave them (same elements, same order): a new network is defined with
 * them instead of two net-update processes per node (16 for an 8-node lab, ~1 s). undefined
 * when the XML does not have the shape renderNetworkXml gives (then net-update adds them).
 */
export function withHosts(xml: string, hosts: NetworkHostEntry[]): string | undefined {
    if (hosts.length === 0) return xml;
    const dhcpEnd = xml.indexOf("</dhcp>");
    const dns = /<dns enable='yes'\/>/;
    if (dhcpEnd < 0 || xml.indexOf("</dhcp>", dhcpEnd + 1) >= 0 || !dns.test(xml) || /<host[\s>]/.test(xml)) return undefined;
    const x = hosts.map(hostXmls);
    const lineStart = xml.lastIndexOf("\n", dhcpEnd) + 1;
    const withDhcp = `${xml.slice(0, lineStart)}${x.map((h) => `      ${h.dhcp}\n`).join("")}${xml.slice(lineStart)}`;
    return withDhcp.replace(dns, `<dns enable='yes'>\n${x.map((h) => `    ${h.dns}\n`).join("")}  </dns>`);
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
        const owner = parseOwner(xml);
        if (!owner) throw new Error(`network ${name}: the XML carries no nixlab owner in <metadata> (a bug in nixlab's rendering)`);
        const existing = await ourNetwork(uri, name, undefined);
        if (existing) {
            const found = parseOwner(existing.xml);
            if (!sameOwner(found, owner)) throw notOurs(`network ${name}`, uri, owner, found);
            // This lab's own orphan (an interrupted run): its host entries are in an unknown
            // state, so it is made again; nodes on it restart through `generation`.
            if (existing.active) await mustVirsh(uri, ["net-destroy", name]);
            await mustVirsh(uri, ["net-undefine", name]);
        }
        const defined = withHosts(xml, hosts);
        const dir = tmpDir();
        try {
            fs.writeFileSync(`${dir}/network.xml`, defined ?? xml);
            await mustVirsh(uri, ["net-define", `${dir}/network.xml`]);
        } finally {
            rmrf(dir);
        }
        let uuid: string;
        try {
            if (defined === undefined) await updateHosts(uri, name, [], hosts, false);
            await mustVirsh(uri, ["net-start", name]);
            uuid = await autostartAndUuid(uri, "network", name);
        } catch (e) {
            await virsh(uri, ["net-destroy", name]);
            await virsh(uri, ["net-undefine", name]);
            throw e;
        }
        const crypto = require("crypto") as typeof import("crypto");
        const outs: NetworkOutputs = { uri, name, xml, hosts, generation: crypto.randomUUID(), uuid };
        return { id: name, outs };
    },
    async diff(_id: string, olds: NetworkOutputs, news: NetworkInputs): Promise<DiffResult> {
        const replaces = changedKeys(olds, news as NetworkOutputs, ["uri", "name", "xml"]);
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        const id = await ourNetwork(news.uri, news.name, olds.uuid);
        if (!id) return { changes: true, replaces: ["name"], deleteBeforeReplace: true };
        return { changes: !id.active || !sameJson(olds.hosts, news.hosts), replaces: [] };
    },
    async update(_id: string, olds: NetworkOutputs, news: NetworkInputs) {
        const id = await ourNetwork(news.uri, news.name, olds.uuid);
        if (!id) throw new Error(`network ${news.name} disappeared from ${news.uri} during the update; run up again to recreate it`);
        const key = (h: NetworkHostEntry) => JSON.stringify(h);
        const oldKeys = new Set(olds.hosts.map(key));
        const newKeys = new Set(news.hosts.map(key));
        const active = id.active;
        await updateHosts(
            news.uri,
            news.name,
            olds.hosts.filter((h) => !newKeys.has(key(h))),
            news.hosts.filter((h) => !oldKeys.has(key(h))),
            active,
        );
        if (!active) await mustVirsh(news.uri, ["net-start", news.name]);
        const outs: NetworkOutputs = { ...news, generation: olds.generation, uuid: id.uuid };
        return { outs };
    },
    async delete(_id: string, props: NetworkOutputs) {
        const id = await ourNetwork(props.uri, props.name, props.uuid);
        if (!id) return;
        if (id.active) await mustVirsh(props.uri, ["net-destroy", props.name]);
        await mustVirsh(props.uri, ["net-undefine", props.name]);
    },
};

// ---------------------------------------------------------------------------------------
// ImageVolume: a file uploaded once into the pool (base image, kernel, initrd)

/** What every volume resource gets: where it lives, and the pool UUID it must still be in. */
interface VolumeLocation {
    uri: string;
    pool: string;
    /** The Pool resource's UUID: nothing is created in or deleted from a pool that is not it. Absent in old state. */
    poolUuid?: string;
    name: string;
}

/** Volume identity as recorded at create. */
interface VolumeIdentity {
    path: string;
    /** libvirt's volume key (the path, for dir pools). */
    key?: string;
}

/**
 * The diff every volume shares: moved (another URI, pool or name) is a replacement; a
 * pool that is not the one this stack made fails; a volume confirmed gone is recreated.
 * undefined: the volume is there, decide the rest per type.
 */
async function volumeDiff(olds: VolumeLocation, news: VolumeLocation, more: string[]): Promise<DiffResult | undefined> {
    const replaces = changedKeys(olds, news, ["uri", "pool", "name"]);
    // A new pool (recreated) holds none of the old volumes. Old state recorded no UUID.
    if (olds.poolUuid && news.poolUuid && olds.poolUuid !== news.poolUuid) replaces.push("poolUuid");
    replaces.push(...more);
    if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
    const found = await poolAndVolume(news.uri, news.pool, olds.poolUuid, news.name);
    if (found === "missing" || !found.volume) return { changes: true, replaces: ["name"], deleteBeforeReplace: true };
    return undefined;
}

/** Deletes the volume if its pool is still the one this stack made (gone pool: gone volume). */
async function deleteOurVolume(v: VolumeLocation): Promise<void> {
    const found = await poolAndVolume(v.uri, v.pool, v.poolUuid, v.name);
    if (found !== "missing" && found.volume) await mustVirsh(v.uri, ["vol-delete", "--pool", v.pool, v.name]);
}

/**
 * A volume's identity (path and key) and what libvirt probed (capacity, format), from one
 * `vol-dumpxml` instead of vol-path, vol-key and vol-dumpxml: the first `<path>` and
 * `<format>` are the target's (a backing store's come after it).
 */
async function volumeFactsAndIdentity(uri: string, pool: string, name: string): Promise<VolumeIdentity & { capacityBytes: number; format: string }> {
    const xml = await mustVirsh(uri, ["vol-dumpxml", "--pool", pool, name]);
    const target = /<target>([\s\S]*?)<\/target>/.exec(xml)?.[1] ?? "";
    const path = /<path>([^<]*)<\/path>/.exec(target)?.[1];
    const key = /<key>([^<]*)<\/key>/.exec(xml)?.[1];
    const cap = /<capacity unit='bytes'>(\d+)<\/capacity>/.exec(xml);
    const fmt = /<format type='([^']+)'\/>/.exec(target);
    // A volume XML without them is not one libvirt writes; ask the one-value commands.
    const id = path && key ? { path: unescapeXml(path), key: unescapeXml(key) } : { path: await volumePath(uri, pool, name), key: await volumeKey(uri, pool, name) };
    return { ...id, capacityBytes: cap ? Number(cap[1]) : 0, format: fmt ? fmt[1]! : "raw" };
}

export interface ImageVolumeInputs extends VolumeLocation {
    /** Local file to upload. */
    source: string;
    /** Content key; a new hash is a new image (replace). */
    contentHash: string;
    /** libvirt format the file must probe as (qcow2, raw, vmdk, vpc). */
    format: string;
}

export interface ImageVolumeOutputs extends ImageVolumeInputs, VolumeIdentity {
    /** Virtual size: overlays on it must be at least this big. */
    capacityBytes: number;
}

export const imageVolumeProvider: ResourceProvider = {
    async create(inputs: ImageVolumeInputs) {
        const { uri, pool, name, source, format } = inputs;
        await prepareVolumeSlot(uri, pool, inputs.poolUuid, name);
        await uploadFile(uri, pool, name, source);
        const facts = await volumeFactsAndIdentity(uri, pool, name);
        if (facts.format !== format) {
            await deleteVolume(uri, pool, name);
            throw new Error(
                `${source} is a ${facts.format} file according to libvirt, but the image artifact says ${format}; ` +
                    "fix the artifact's format in nixlab:lab.image.artifacts (or the image build)",
            );
        }
        const outs: ImageVolumeOutputs = { ...inputs, path: facts.path, key: facts.key, capacityBytes: facts.capacityBytes };
        return { id: `${pool}/${name}`, outs };
    },
    async diff(_id: string, olds: ImageVolumeOutputs, news: ImageVolumeInputs): Promise<DiffResult> {
        const d = await volumeDiff(olds, news, changedKeys(olds, news as ImageVolumeOutputs, ["contentHash", "format"]));
        // A different local path to the same content changes nothing in libvirt.
        return d ?? { changes: false };
    },
    async delete(_id: string, props: ImageVolumeOutputs) {
        await deleteOurVolume(props);
    },
};

// ---------------------------------------------------------------------------------------
// Volume: a node's root overlay or an extra blank disk (qcow2)

export interface VolumeInputs extends VolumeLocation {
    capacityBytes: number;
    /** The image a root disk is an overlay on. */
    backing?: { path: string; format: string; capacityBytes: number };
    /** Domain the volume is attached to: a grow of an attached disk is done live. */
    domain: string;
    /** Config key of the size, for messages (`nixlab:lab.nodes[0].rootDiskGiB`). */
    sizeKey: string;
}

export interface VolumeOutputs extends VolumeInputs, VolumeIdentity {
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
        await prepareVolumeSlot(uri, pool, inputs.poolUuid, name);
        const args = ["vol-create-as", pool, name, `${capacityBytes}B`, "--format", "qcow2"];
        // An overlay: creation time and space do not depend on the image's size.
        if (backing) args.push("--backing-vol", backing.path, "--backing-vol-format", backing.format);
        await mustVirsh(uri, args);
        const crypto = require("crypto") as typeof import("crypto");
        const { path, key } = await volumeFactsAndIdentity(uri, pool, name);
        const outs: VolumeOutputs = { ...inputs, path, key, generation: crypto.randomUUID() };
        return { id: `${pool}/${name}`, outs };
    },
    async diff(_id: string, olds: VolumeOutputs, news: VolumeInputs): Promise<DiffResult> {
        const more = changedKeys(olds, news as VolumeOutputs, ["backing"]);
        // qcow2 cannot shrink safely: a smaller size is a new disk.
        if (typeof news.capacityBytes === "number" && news.capacityBytes < olds.capacityBytes) more.push("capacityBytes");
        const d = await volumeDiff(olds, news, more);
        if (d) return d;
        const changes = news.capacityBytes !== olds.capacityBytes || news.domain !== olds.domain || news.sizeKey !== olds.sizeKey || news.poolUuid !== olds.poolUuid;
        return { changes, replaces: [] };
    },
    async update(_id: string, olds: VolumeOutputs, news: VolumeInputs) {
        if ((await checkPool(news.uri, news.pool, olds.poolUuid)) === "missing") throw new Error(`storage pool ${news.pool} disappeared from ${news.uri}; run up again`);
        if (news.capacityBytes > olds.capacityBytes) {
            const state = await mustVirsh(news.uri, ["domstate", news.domain]).catch(async (e: unknown) => {
                // Not defined (yet, or any more) is "at rest"; a failed lookup of a listed domain is not.
                if ((await listNames(news.uri, "domain")).includes(news.domain)) throw e;
                return "undefined";
            });
            if (/running|paused/.test(state)) {
                // QEMU holds the image open and locked: only it can grow the disk; the guest
                // sees the new size at once (resize the filesystem inside, or reboot).
                await mustVirsh(news.uri, ["blockresize", news.domain, olds.path, `${news.capacityBytes}B`]);
            } else {
                await mustVirsh(news.uri, ["vol-resize", "--pool", news.pool, news.name, `${news.capacityBytes}B`]);
            }
        }
        const outs: VolumeOutputs = { ...news, path: olds.path, key: olds.key, generation: olds.generation };
        return { outs };
    },
    async delete(_id: string, props: VolumeOutputs) {
        await deleteOurVolume(props);
    },
};

// ---------------------------------------------------------------------------------------
// SeedVolume: the NoCloud seed (ISO9660 labelled cidata)

export interface SeedVolumeInputs extends VolumeLocation {
    /** Secret. Never copied into outputs; its hash is. */
    userData: string;
    networkConfig: string;
    vendorData: string;
    hostname: string;
    /** instance-id = prefix + hash of the seed's content, so cloud-init re-runs on any change. */
    instanceIdPrefix: string;
}

export interface SeedVolumeOutputs extends Omit<SeedVolumeInputs, "userData">, VolumeIdentity {
    userDataSha256: string;
    instanceId: string;
}

export function seedInstanceId(i: Pick<SeedVolumeInputs, "instanceIdPrefix" | "userData" | "networkConfig" | "vendorData">): string {
    return `${i.instanceIdPrefix}-${sha256([i.userData, i.networkConfig, i.vendorData].join("\0")).slice(0, 16)}`;
}

export function renderMetaData(instanceId: string, hostname: string): string {
    return `instance-id: ${instanceId}\nlocal-hostname: ${hostname}\n`;
}

/** genisoimage (Debian, cdrkit on NixOS), else mkisofs, else xorriso's mkisofs mode. */
export async function makeIso(dir: string, out: string, files: string[]): Promise<void> {
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
        await prepareVolumeSlot(uri, pool, inputs.poolUuid, name);
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
            // A copy takes the source's mode (copyIntoLocalPool): the seed is for root's eyes only.
            fs.chmodSync(`${dir}/seed.iso`, 0o600);
            await uploadFile(uri, pool, name, `${dir}/seed.iso`);
        } finally {
            rmrf(dir);
        }
        const { userData: _secret, ...rest } = inputs;
        const { path, key } = await volumeFactsAndIdentity(uri, pool, name);
        const outs: SeedVolumeOutputs = { ...rest, userDataSha256: sha256(inputs.userData), instanceId, path, key };
        return { id: `${pool}/${name}`, outs };
    },
    async diff(_id: string, olds: SeedVolumeOutputs, news: SeedVolumeInputs): Promise<DiffResult> {
        const more = changedKeys(olds, news as unknown as SeedVolumeOutputs, ["networkConfig", "vendorData", "hostname", "instanceIdPrefix"]);
        if (sha256(news.userData) !== olds.userDataSha256) more.push("userData");
        return (await volumeDiff(olds, news, more)) ?? { changes: false };
    },
    async delete(_id: string, props: SeedVolumeOutputs) {
        // The seed holds the node's SSH host private key: the volume goes, and so does any
        // temp copy a killed run left on this machine.
        sweepStaleTemp();
        await deleteOurVolume(props);
    },
};

// ---------------------------------------------------------------------------------------
// Domain: the node

export interface DomainInputs {
    uri: string;
    name: string;
    /** Full domain XML with the owner in `<metadata>`, without `<uuid>` (kept by libvirt) or tags. */
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
    /** Why the node last booted: "created", "adopted", or the changes that needed a restart. */
    lastBoot?: string;
}

function stripTerminal(s: string): string {
    // eslint-disable-next-line no-control-regex
    return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
}

function shellQuote(s: string): string {
    return `'${s.replace(/'/g, "'\\''")}'`;
}

/** ssh to the hypervisor the way libvirt does for this URI. */
function hypervisorSsh(d: Pick<DomainInputs, "hypervisorSsh" | "hypervisorSshCommand">, script: string): Promise<RunResult> {
    return run(d.hypervisorSshCommand ?? "ssh", ["-o", "BatchMode=yes", ...d.hypervisorSsh, script], { timeoutSeconds: 60 });
}

/**
 * The serial log as far as it is written ("" before QEMU opened it). virtlogd writes it
 * root-only (0600), so a user who runs Pulumi without root (in the libvirt group, or
 * through qemu+ssh as a non-root user) falls back to `sudo -n cat`; if that is not allowed
 * either, readiness fails at once with what to do instead of timing out blind.
 * `sshFailed`: ssh itself failed (exit 255) with this stderr; the caller decides how often
 * that may happen.
 */
async function readSerialLog(d: DomainInputs): Promise<{ log: string } | { sshFailed: string }> {
    if (d.hypervisorSsh.length === 0) {
        const fs = require("fs") as typeof import("fs");
        try {
            return { log: fs.readFileSync(d.serialLog, "latin1") };
        } catch (e) {
            const code = (e as { code?: string }).code;
            if (code === "ENOENT") return { log: "" };
            if (code !== "EACCES") throw e;
        }
        const r = await run("sudo", ["-n", "cat", d.serialLog], { timeoutSeconds: 60 });
        if (r.code === 0) return { log: r.stdout };
        throw new Error(unreadableLog(d, r.stderr.trim()));
    }
    const quoted = shellQuote(d.serialLog);
    const r = await hypervisorSsh(d, `if [ ! -e ${quoted} ]; then exit 0; fi; cat ${quoted} 2>/dev/null || sudo -n cat ${quoted}`);
    if (r.code === 0) return { log: r.stdout };
    if (r.code === 255) return { sshFailed: r.stderr.trim() };
    throw new Error(unreadableLog(d, r.stderr.trim()));
}

function unreadableLog(d: DomainInputs, detail: string): string {
    return (
        `cannot read node ${d.nodeName}'s serial log ${d.serialLog} on ${where(d)}: virtlogd writes it for root only, ` +
        `and readiness is read from it (${detail || "permission denied"}). Run Pulumi as root, connect as root ` +
        `(qemu+ssh://root@host/system), or allow this user \`sudo -n cat\` on nixlab:libvirt.serialLogDir`
    );
}

function where(d: Pick<DomainInputs, "hypervisorSsh" | "hypervisorSshCommand">): string {
    return d.hypervisorSsh.length === 0 ? "this machine" : `the hypervisor (${d.hypervisorSshCommand ?? "ssh"} ${d.hypervisorSsh.join(" ")})`;
}

/**
 * Consecutive ssh failures (exit 255) tolerated while polling a remote serial log: a blip
 * passes, while a refused key, a changed host key or a closed port is reported within
 * seconds instead of after the whole readiness timeout.
 */
export const SSH_FAILURES_MAX = 3;

/**
 * libvirt's own log of a system domain (QEMU's command line and stderr), which libvirt
 * keeps after the domain is undefined. undefined for session URIs (a per-user directory).
 */
export function qemuLogPath(uri: string, name: string): string | undefined {
    return /^qemu(\+[a-z]+)?:\/\/[^/]*\/system(\?|$)/.test(uri) ? `/var/log/libvirt/qemu/${name}.log` : undefined;
}

/**
 * Removes a node's log files (its serial log, libvirt's QEMU log) and their rotated
 * copies (`<log>.0`, `.1`, ...): console output is the lab's, and destroy leaves nothing
 * behind. Over ssh on a remote hypervisor, with `sudo -n` where the user is not root.
 */
export async function removeNodeLogs(d: Pick<DomainInputs, "hypervisorSsh" | "hypervisorSshCommand" | "nodeName">, files: string[]): Promise<void> {
    if (d.hypervisorSsh.length === 0) {
        const fs = require("fs") as typeof import("fs");
        const path = require("path") as typeof import("path");
        for (const file of files) {
            const dir = path.dirname(file);
            const base = path.basename(file);
            let names: string[];
            try {
                names = fs.readdirSync(dir).filter((n) => n === base || (n.startsWith(`${base}.`) && /^\d+$/.test(n.slice(base.length + 1))));
            } catch (e) {
                if ((e as { code?: string }).code === "ENOENT") continue;
                throw e;
            }
            for (const n of names) {
                try {
                    fs.rmSync(path.join(dir, n), { force: true });
                } catch (e) {
                    if ((e as { code?: string }).code !== "EACCES" && (e as { code?: string }).code !== "EPERM") throw e;
                    const r = await run("sudo", ["-n", "rm", "-f", "--", path.join(dir, n)], { timeoutSeconds: 60 });
                    if (r.code !== 0) throw new Error(`cannot remove node ${d.nodeName}'s log ${path.join(dir, n)} on this machine: ${r.stderr.trim()}`);
                }
            }
        }
        return;
    }
    const globs = files.map((f) => `${shellQuote(f)} ${shellQuote(f)}.[0-9]*`).join(" ");
    const r = await hypervisorSsh(d, `rm -f -- ${globs} 2>/dev/null || sudo -n rm -f -- ${globs}`);
    if (r.code !== 0) throw new Error(`cannot remove node ${d.nodeName}'s logs ${files.join(", ")} on ${where(d)} (exit ${r.code}): ${r.stderr.trim()}`);
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
 * the domain stops or ssh to the hypervisor keeps failing, and with the console's tail on
 * timeout.
 */
async function waitReady(d: DomainInputs, target: DefinedDomain): Promise<string> {
    const deadline = Date.now() + d.readyTimeoutSeconds * 1000;
    // A local log is a file read: look every 250 ms, so `up` returns within a quarter second
    // of the guest being ready (2 s polls cost 1 s per node on average; issue 11). Over ssh
    // each look is a connection, so every 2 s. `virsh domstate` (a process and a libvirt
    // call) only every 2 s either way.
    const pollMs = d.hypervisorSsh.length === 0 ? 250 : 2000;
    let nextStateCheck = 0;
    let log = "";
    let sshFailures = 0;
    for (;;) {
        const read = await readSerialLog(d);
        if ("sshFailed" in read) {
            sshFailures += 1;
            if (sshFailures >= SSH_FAILURES_MAX) {
                throw new Error(
                    `node ${d.nodeName}: cannot read its serial log ${d.serialLog} on ${where(d)}: ssh failed (exit 255) ${sshFailures} times in a row: ` +
                        `${read.sshFailed.replace(/\.$/, "") || "no message"}. Exit 255 is ssh itself failing (authentication, host key, connection refused), not the node; ` +
                        "fix ssh to the hypervisor for the URI's user, port, keyfile and command (libvirt connects the same way), then run up again",
                );
            }
        } else {
            sshFailures = 0;
            log = read.log;
        }
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
            // By UUID: the domain of this name may by now be another run's (see DefinedDomain).
            const state = await virsh(d.uri, ["domstate", target.uuid]);
            if (state.code !== 0 || !/running/.test(state.stdout)) {
                // Gone or taken over: say so, not "stopped". A lookup that itself fails
                // (connection) proves nothing either way: keep polling, as for a failed domstate.
                const lost = await lostDomain(target).catch(() => undefined);
                if (lost) throw lostError(d, lost);
                if (state.code === 0) {
                    throw new Error(`domain ${d.name} stopped (${state.stdout.trim()}) before cloud-init finished; last console lines (${d.serialLog}):\n${logTail(log)}`);
                }
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

/** domstate as a fact (read in ourDomain, where a failed lookup throws: it is not "stopped"). */
function isRunningState(domstate: string): boolean {
    return /running|paused|in shutdown/.test(domstate);
}

/** The XML with libvirt's `<uuid>` after `<name>`, so a redefinition updates this domain instead of being refused. */
export function withUuid(xml: string, uuid: string | undefined): string {
    if (!uuid || /<uuid>/.test(xml)) return xml;
    return xml.replace(/(<\/name>\n?)/, `$1  <uuid>${uuid}</uuid>\n`);
}

/** Namespace of the define stamp: which operation last defined a domain. */
export const DEFINE_NS = "https://nixlab.dev/xmlns/libvirt/define/1";

/**
 * The XML with a define stamp in its `<metadata>`: a random id per create (and per
 * redefining update), written by the same `virsh define`, so there is no moment at which
 * the domain carries another operation's stamp.
 */
export function withDefineStamp(xml: string, stamp: string): string {
    if (!/<\/metadata>/.test(xml)) throw new Error("domain XML without <metadata>: nowhere to put the define stamp (a bug in nixlab's rendering)");
    return xml.replace(/([ \t]*)<\/metadata>/, `$1  <nixlab-define:define xmlns:nixlab-define='${DEFINE_NS}' id='${stamp}'/>\n$1</metadata>`);
}

/** The define stamp in a domain's XML, whatever prefix libvirt wrote it back with; undefined when there is none. */
export function parseDefineStamp(xml: string): string | undefined {
    const md = /<metadata>([\s\S]*?)<\/metadata>/.exec(xml);
    for (const tag of md?.[1]!.match(/<([A-Za-z_][\w.-]*:)?define\b[^>]*>/g) ?? []) {
        const attrs: Record<string, string> = {};
        for (const a of tag.matchAll(/([A-Za-z_][\w.:-]*)=(["'])([\s\S]*?)\2/g)) attrs[a[1]!] = unescapeXml(a[3]!);
        if (Object.entries(attrs).some(([k, v]) => /^xmlns(:|$)/.test(k) && v === DEFINE_NS)) return attrs.id;
    }
    return undefined;
}

/**
 * The one domain an operation (a create, an update) defined, and may touch from then on.
 * A `pulumi up` can be killed while its provider plugin lives on (plugins are child
 * processes without parent-death handling: double Ctrl-C, a cancelled CI job, the OOM
 * killer), so a create may still be waiting for readiness while the user cleans up and
 * runs `up` again, which makes a domain of the same name. Everything such an operation
 * does after its define goes by UUID (virsh takes one wherever it takes a name) and, for
 * what undoes or reports, checks the define stamp too: another run that adopts the node
 * keeps its UUID but redefines it with its own stamp.
 */
export interface DefinedDomain {
    uri: string;
    name: string;
    uuid: string;
    /** This operation's define stamp; undefined: the UUID alone is checked (an update that did not redefine). */
    stamp?: string;
}

/** Every domain's UUID (a failed listing throws: it proves nothing). */
export async function listDomainUuids(uri: string): Promise<string[]> {
    return names(await mustVirsh(uri, ["list", "--all", "--uuid"]));
}

/**
 * undefined while the domain is still the one this operation defined (its UUID, its
 * stamp); otherwise what happened to it, for the error. A failed lookup of a UUID that is
 * still listed throws: it proves nothing.
 */
export async function lostDomain(t: DefinedDomain): Promise<string | undefined> {
    const x = await virsh(t.uri, ["dumpxml", "--inactive", t.uuid]);
    if (x.code === 0) {
        const stamp = parseDefineStamp(x.stdout);
        if (t.stamp === undefined || stamp === t.stamp) return undefined;
        return `domain ${t.name} (UUID ${t.uuid}) was defined again by another run of this stack (it adopted the node)`;
    }
    if ((await listDomainUuids(t.uri)).includes(t.uuid)) {
        throw new Error(`${describe("virsh", ["-c", t.uri, "dumpxml", "--inactive", t.uuid], x)}; domain UUID ${t.uuid} is still listed, so it is not gone: the lookup itself failed (connection, daemon restart); try again`);
    }
    const now = await virsh(t.uri, ["domuuid", t.name]);
    const holder = now.code === 0 ? ` and the name now belongs to another domain (UUID ${now.stdout.trim()})` : "";
    return `domain ${t.name} (UUID ${t.uuid}) is gone${holder}`;
}

function lostError(d: Pick<DomainInputs, "nodeName" | "uri">, lost: string): Error {
    return new Error(
        `node ${d.nodeName}: ${lost} on ${d.uri}: it was removed or replaced behind this run's back while this run was still working on it ` +
            "(by `nixlab cleanup`, by hand, or by another `up` of this stack, e.g. after a killed `pulumi up` whose provider plugin lived on). " +
            "This run leaves that domain alone. Run up again.",
    );
}

/**
 * Undoes a failed create: removes the domain only while it is still the one this create
 * defined. undefined when it removed it; otherwise why it did nothing (gone already, or
 * another run's now).
 */
export async function removeIfStillOurs(t: DefinedDomain): Promise<string | undefined> {
    const lost = await lostDomain(t);
    if (lost) return lost;
    await removeDomain(t.uri, t.uuid);
    return undefined;
}

async function defineDomain(d: DomainInputs, uuid: string, stamp: string): Promise<void> {
    const fs = require("fs") as typeof import("fs");
    const dir = tmpDir();
    try {
        fs.writeFileSync(`${dir}/domain.xml`, withDefineStamp(withUuid(d.xml, uuid), stamp));
        await mustVirsh(d.uri, ["define", `${dir}/domain.xml`]);
    } finally {
        rmrf(dir);
    }
}

async function setTags(d: DomainInputs, ref: string, live: boolean): Promise<void> {
    await mustVirsh(d.uri, ["metadata", ref, d.metadataUri, "--key", "nixlab", "--set", d.tagsXml, "--config", ...(live ? ["--live"] : [])]);
}

/** Power off: a lab node holds nothing that must survive a hard stop, and ACPI shutdown under TCG takes minutes. `ref`: a name or a UUID. */
async function stopDomain(uri: string, ref: string): Promise<void> {
    const r = await virsh(uri, ["destroy", ref]);
    if (r.code !== 0 && !/not running/.test(r.stderr)) throw new Error(describe("virsh", ["-c", uri, "destroy", ref], r));
}

/** Stops and undefines a domain whose identity the caller has checked. `ref`: its UUID (or a name). */
export async function removeDomain(uri: string, ref: string): Promise<void> {
    await stopDomain(uri, ref);
    const r = await virsh(uri, ["undefine", ref, "--nvram"]);
    if (r.code === 0) return;
    // BIOS domains have no NVRAM; older libvirt rejects the flag for them.
    await mustVirsh(uri, ["undefine", ref]);
}

/** Boots the domain the operation defined and waits for readiness; fails if by then the domain is not that one. */
async function bootAndWait(d: DomainInputs, target: DefinedDomain): Promise<string> {
    await mustVirsh(d.uri, ["start", target.uuid]);
    const ready = await waitReady(d, target);
    // The serial log is found by name: the line may be another run's node of this name.
    const lost = await lostDomain(target);
    if (lost) throw lostError(d, lost);
    return ready;
}

/**
 * The domain as this stack made it and whether it runs (one virsh process); undefined only
 * when a listing confirms it is gone.
 */
async function ourDomain(uri: string, name: string, uuid: string | undefined): Promise<(Identity & { running: boolean }) | undefined> {
    const id = await lookup(uri, "domain", name, [["domstate", name]]);
    if (id && uuid && id.uuid !== uuid) throw notTheSame(`domain ${name}`, uri, uuid, id.uuid);
    return id && { uuid: id.uuid, xml: id.xml, running: isRunningState(id.also[0]!) };
}

/**
 * What a new definition changes that only a restart applies (libvirt applies a
 * redefinition at the next boot): vCPUs, memory, machine type, firmware, kernel, initrd
 * and cmdline, disks, NIC. Tags never need one (set live).
 */
export function restartReasons(oldXml: string, newXml: string): string[] {
    const one = (xml: string, re: RegExp) => re.exec(xml)?.[1];
    const all = (xml: string, re: RegExp) => [...xml.matchAll(re)].map((m) => m[1]).join(",");
    const facets: [string, (x: string) => string | undefined][] = [
        ["vcpus", (x) => one(x, /<vcpu[^>]*>(\d+)<\/vcpu>/)],
        ["memory (MiB)", (x) => one(x, /<memory unit='MiB'>(\d+)<\/memory>/)],
        ["machine type", (x) => one(x, /<type [^>]*machine='([^']*)'/)],
        ["kernel", (x) => one(x, /<kernel>([^<]*)<\/kernel>/)],
        ["initrd", (x) => one(x, /<initrd>([^<]*)<\/initrd>/)],
        ["kernel cmdline", (x) => one(x, /<cmdline>([^<]*)<\/cmdline>/)],
        ["firmware", (x) => all(x, /<(?:loader|nvram|os firmware)[^>]*>([^<]*)/g)],
        ["cpu", (x) => one(x, /(<cpu [^>]*>)/)],
        ["disks", (x) => all(x, /<source file='([^']*)'/g)],
        ["nic", (x) => all(x, /<mac address='([^']*)'/g) + all(x, /<qemu:arg value='([^']*)'/g)],
    ];
    const reasons: string[] = [];
    for (const [what, get] of facets) {
        const a = get(oldXml) ?? "";
        const b = get(newXml) ?? "";
        if (a !== b) reasons.push(what === "vcpus" || what === "memory (MiB)" ? `${what} ${a} -> ${b}` : what);
    }
    if (reasons.length === 0 && oldXml !== newXml) reasons.push("domain XML");
    return reasons;
}

export const domainProvider: ResourceProvider = {
    async create(inputs: DomainInputs) {
        const crypto = require("crypto") as typeof import("crypto");
        const { uri, name } = inputs;
        const owner = parseOwner(inputs.xml);
        if (!owner) throw new Error(`domain ${name}: the XML carries no nixlab owner in <metadata> (a bug in nixlab's rendering)`);
        const existing = await identify(uri, "domain", name);
        if (existing) {
            const found = parseOwner(existing.xml);
            if (!sameOwner(found, owner)) throw notOurs(`domain ${name}`, uri, owner, found);
        }
        // This node, left by an interrupted run, is adopted under its own UUID; a new one
        // gets a UUID chosen here, so the create knows its domain from the define on.
        const target: DefinedDomain = { uri, name, uuid: existing?.uuid ?? crypto.randomUUID(), stamp: crypto.randomUUID() };
        // Defined (stamped) before it is stopped: an earlier run's create that still waits
        // on it sees the new stamp before it can see the node stop, and leaves it alone.
        await defineDomain(inputs, target.uuid, target.stamp!);
        let ready: string;
        try {
            if (existing) await stopDomain(uri, target.uuid);
            await setTags(inputs, target.uuid, false);
            ready = await bootAndWait(inputs, target);
        } catch (e) {
            // A create either succeeds or leaves nothing behind (the serial log stays for
            // diagnosis) -- but only its own domain: never one another run made meanwhile.
            let leftAlone: string | undefined;
            try {
                leftAlone = await removeIfStillOurs(target);
            } catch (undo) {
                throw new Error(`${e instanceof Error ? e.message : String(e)}\n(and undoing the create failed, so domain ${name} (UUID ${target.uuid}) may be left: ${undo instanceof Error ? undo.message : String(undo)})`);
            }
            if (leftAlone && e instanceof Error && !e.message.includes(leftAlone)) e.message += `\n(domain ${name} was not removed: ${leftAlone}; it is not this run's any more)`;
            throw e;
        }
        const outs: DomainOutputs = { ...inputs, uuid: target.uuid, ready, lastBoot: existing ? "adopted" : "created" };
        return { id: name, outs };
    },
    async diff(_id: string, olds: DomainOutputs, news: DomainInputs): Promise<DiffResult> {
        const replaces = changedKeys(olds, news as DomainOutputs, ["uri", "name"]);
        if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };
        // Confirmed gone (undefined behind the program's back): made again on its disks.
        const id = await ourDomain(news.uri, news.name, olds.uuid);
        if (!id) return { changes: true, replaces: ["uuid"], deleteBeforeReplace: true };
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
        return { changes: changed.length > 0 || !id.running, replaces: [] };
    },
    async update(_id: string, olds: DomainOutputs, news: DomainInputs) {
        const crypto = require("crypto") as typeof import("crypto");
        const id = await ourDomain(news.uri, news.name, olds.uuid);
        if (!id) throw new Error(`domain ${news.name} disappeared from ${news.uri} during the update; run up again to recreate it`);
        // From here on by UUID (DefinedDomain): a long restart must not act on a domain
        // another run made under this name meanwhile.
        const target: DefinedDomain = { uri: news.uri, name: news.name, uuid: id.uuid };
        const running = id.running;
        const redefine = olds.xml !== news.xml;
        const reasons = [
            ...(redefine ? restartReasons(olds.xml, news.xml) : []),
            ...(!sameJson(olds.restartOn, news.restartOn) ? ["a disk or the network was recreated"] : []),
            ...(!running ? ["it was not running"] : []),
        ];
        // Keeps the UUID: without it libvirt refuses a definition of an existing name.
        if (redefine) {
            target.stamp = crypto.randomUUID();
            await defineDomain(news, target.uuid, target.stamp);
        }
        if (redefine || olds.tagsXml !== news.tagsXml || olds.metadataUri !== news.metadataUri) await setTags(news, target.uuid, running && reasons.length === 0);
        let ready = olds.ready;
        if (reasons.length > 0) {
            if (running) await stopDomain(news.uri, target.uuid);
            ready = await bootAndWait(news, target);
        }
        const outs: DomainOutputs = { ...news, uuid: id.uuid, ready, lastBoot: reasons.length > 0 ? `restarted: ${reasons.join("; ")}` : olds.lastBoot };
        return { outs };
    },
    async delete(_id: string, props: DomainOutputs) {
        // By the UUID just checked: never a domain made under this name since.
        const id = await ourDomain(props.uri, props.name, props.uuid);
        if (id) await removeDomain(props.uri, id.uuid);
        const qemuLog = qemuLogPath(props.uri, props.name);
        await removeNodeLogs(props, [props.serialLog, ...(qemuLog ? [qemuLog] : [])]);
    },
};

// ---------------------------------------------------------------------------------------
// One provider object for every libvirt resource

/**
 * The libvirt resource kinds, each named as its type token ends
 * (`pulumi-nodejs:dynamic/nixlab-libvirt:<kind>`), carried as the `kind` input and output.
 */
export const LIBVIRT_KINDS = ["Pool", "Network", "ImageVolume", "Volume", "SeedVolume", "Domain"] as const;
export type LibvirtKind = (typeof LIBVIRT_KINDS)[number];

/** The per-kind implementation. */
function implementationOf(kind: LibvirtKind): ResourceProvider {
    switch (kind) {
        case "Pool":
            return poolProvider;
        case "Network":
            return networkProvider;
        case "ImageVolume":
            return imageVolumeProvider;
        case "Volume":
            return volumeProvider;
        case "SeedVolume":
            return seedVolumeProvider;
        case "Domain":
            return domainProvider;
        default: {
            const unknown: never = kind;
            throw new Error(`no libvirt provider for kind ${JSON.stringify(unknown)}`);
        }
    }
}

function isLibvirtKind(k: unknown): k is LibvirtKind {
    return typeof k === "string" && (LIBVIRT_KINDS as readonly string[]).includes(k);
}

/** Why `kind` is unusable, for a check failure or an error. */
function kindProblem(k: unknown): string {
    return (
        `kind is ${k === undefined ? "missing" : JSON.stringify(k)}; nixlab's libvirt provider handles kind ${LIBVIRT_KINDS.map((x) => JSON.stringify(x)).join(", ")} ` +
        "(set by each resource class in providers/libvirt/resources.ts; a pulumi.dynamic.Resource made on this provider by hand must set it too)"
    );
}

function kindOf(props: { kind?: unknown }, what: string): LibvirtKind {
    if (isLibvirtKind(props.kind)) return props.kind;
    throw new Error(`${what}: ${kindProblem(props.kind)}`);
}

/**
 * Every libvirt resource runs on this ONE provider object, told apart by its `kind`
 * input/output, because serialization is paid per provider object: pulumi.dynamic.Resource
 * caches `__provider` text per object (a WeakMap in @pulumi/pulumi/dynamic), and closure
 * serialization parses every function it reaches with TypeScript. Six objects walked the
 * shared helpers (virsh, XML, identity checks) six times: 548 ms of serializeFunction for
 * six texts of 15–32 K chars, against 293 ms for one text of 65 K chars holding them all;
 * closure serialization was ~0.7 s of a 1.7 s offline plan (issue 11). The dynamic-provider
 * host then also evaluates one text per run instead of six. The price: every libvirt
 * resource's `__provider` in state is the whole 70 K chars instead of its kind's 15–32 K
 * (measured 70,034 chars; a 2-node lab's state ~0.55 MB larger).
 *
 * State written before this (per-kind objects, no `kind`) stays usable, because of which
 * code the host runs for which call (pulumi/pulumi sdk/nodejs/cmd/dynamic-provider):
 * - check, diff, create and update run the `__provider` of the NEW inputs (this object),
 *   so they dispatch on the new inputs' kind. Old outputs without `kind` are of that kind:
 *   each type token belongs to one resource class, and the type is part of the URN.
 * - delete and read run the `__provider` stored in the OUTPUTS: old outputs keep the old
 *   per-kind code (an unchanged resource keeps its outputs, text included: SameStep.Apply,
 *   "Retain the ID and outputs", in pulumi/pulumi pkg/resource/deploy/step.go), and outputs
 *   this object wrote always carry `kind` (create and update add it), so delete dispatches
 *   on the outputs.
 * A change of kind is never an update: diff asks for a replacement, update refuses.
 */
export const libvirtProvider: ResourceProvider = {
    async check(_olds: Record<string, unknown>, news: Record<string, unknown>) {
        return { inputs: news, failures: isLibvirtKind(news.kind) ? [] : [{ property: "kind", reason: kindProblem(news.kind) }] };
    },
    async create(inputs: { kind?: unknown; name?: unknown }) {
        const kind = kindOf(inputs, `libvirt resource ${String(inputs.name)}`);
        const r = await implementationOf(kind).create(inputs);
        return { id: r.id, outs: { ...r.outs, kind } };
    },
    async diff(id: string, olds: { kind?: unknown }, news: { kind?: unknown }): Promise<DiffResult> {
        const kind = kindOf(news, `libvirt resource ${id}`);
        if (olds.kind !== undefined && olds.kind !== kind) return { changes: true, replaces: ["kind"], deleteBeforeReplace: true };
        return implementationOf(kind).diff!(id, olds, news);
    },
    async update(id: string, olds: { kind?: unknown }, news: { kind?: unknown }) {
        const kind = kindOf(news, `libvirt resource ${id}`);
        if (olds.kind !== undefined && olds.kind !== kind) {
            throw new Error(`libvirt resource ${id}: kind ${JSON.stringify(olds.kind)} cannot become ${JSON.stringify(kind)} in place; it must be replaced (its diff asks for that)`);
        }
        const impl = implementationOf(kind);
        // ImageVolume and SeedVolume have no update: their diffs report a replacement or no change.
        if (!impl.update) throw new Error(`libvirt ${kind} ${id}: a ${kind} is never updated in place (a bug in nixlab: its diff asked for an update)`);
        const r = await impl.update(id, olds, news);
        return { outs: { ...r.outs, kind } };
    },
    async delete(id: string, props: { kind?: unknown }) {
        if (!isLibvirtKind(props.kind)) {
            // Outputs this provider wrote carry `kind`; outputs without it keep the old per-kind code.
            throw new Error(
                `libvirt resource ${id}: its outputs in state hold nixlab's one-provider code but ${kindProblem(props.kind)}. ` +
                    "The state was edited by hand: set the resource's outputs.kind to the name its type ends with (pulumi stack export, edit, pulumi stack import), then destroy again",
            );
        }
        await implementationOf(props.kind).delete!(id, props);
    },
};
