/**
 * `nixlab cleanup <stack>` for libvirt: objects stamped for a stack that its state does
 * not know. A killed `up` (or a crashed Pulumi) can leave a domain, network, pool or
 * volume that was made but never recorded; the next `up` adopts what it will create again
 * (same stack, lab and node), and this finds the rest, or all of it when the stack is not
 * brought up again.
 *
 * What counts as the stack's: domains and networks whose `<metadata>` owner names the
 * stack; pools whose directory marker names it; volumes with the lab's volume names in a
 * pool the state knows. What the state knows: the UUIDs of its Domain, Network and Pool
 * resources and the keys (paths) of its volumes. Every object is identified again right
 * before it is removed, and left alone if its UUID changed since it was listed.
 */
import {
    identify,
    isLabVolume,
    listNames,
    mustVirsh,
    networkActive,
    parseOwner,
    poolProvider,
    POOL_MARKER,
    readPoolMarker,
    removeDomain,
    removeNodeLogs,
    qemuLogPath,
    virsh,
    volumeList,
    type Identity,
    type PoolOutputs,
} from "./provider";
import { hypervisorSshFor } from "./config";
import type { Owner } from "./render";
import { PREFIX } from "./render";

export type OrphanKind = "domain" | "network" | "pool" | "volume";

export interface Orphan {
    kind: OrphanKind;
    name: string;
    /** Domains, networks, pools. */
    uuid?: string;
    /** Volumes: the pool they are in, and their key (path). */
    pool?: string;
    path?: string;
    /** Domains: the serial log file from their XML, removed with them. */
    serialLog?: string;
    owner: Owner;
}

/** What a stack's state holds: UUIDs of domains, networks and pools; keys/paths of volumes. */
export interface KnownObjects {
    uuids: Set<string>;
    volumePaths: Set<string>;
}

const LIBVIRT_TYPE = /^pulumi-nodejs:dynamic\/nixlab-libvirt:(Pool|Network|Domain|ImageVolume|Volume|SeedVolume)$/;

/** Reads the known set from state resources (`pulumi stack export` or the test engine's state). */
export function knownFromState(resources: { type: string; outputs: Record<string, unknown> }[]): KnownObjects {
    const known: KnownObjects = { uuids: new Set(), volumePaths: new Set() };
    for (const r of resources) {
        const m = LIBVIRT_TYPE.exec(r.type);
        if (!m) continue;
        const o = r.outputs;
        if (/Volume$/.test(m[1]!)) {
            for (const k of ["path", "key"]) if (typeof o[k] === "string") known.volumePaths.add(o[k] as string);
        } else if (typeof o.uuid === "string" && o.uuid !== "") {
            known.uuids.add(o.uuid);
        }
    }
    return known;
}

/** The Pulumi stack name the program saw: `org/project/dev` is stack `dev`. */
export function programStackName(stack: string): string {
    return stack.split("/").pop()!;
}

/**
 * identify() for a listing: other labs on the host come and go while we look, so an
 * object that vanished between the listing and the lookup is skipped, not an error.
 */
async function lookAt(uri: string, kind: "domain" | "network" | "pool", name: string): Promise<Identity | undefined> {
    try {
        return await identify(uri, kind, name);
    } catch (e) {
        if (!(await listNames(uri, kind)).includes(name)) return undefined;
        throw e;
    }
}

/** Every object on the hypervisor stamped for `stack` that `known` does not hold. */
export async function findOrphans(uri: string, stack: string, known: KnownObjects): Promise<Orphan[]> {
    const orphans: Orphan[] = [];
    for (const kind of ["domain", "network"] as const) {
        for (const name of (await listNames(uri, kind)).filter((n) => n.startsWith(`${PREFIX}-`))) {
            const id = await lookAt(uri, kind, name);
            const owner = id && parseOwner(id.xml);
            if (!id || !owner || owner.stack !== stack || known.uuids.has(id.uuid)) continue;
            const log = kind === "domain" ? /<log file='([^']+)'/.exec(id.xml)?.[1] : undefined;
            orphans.push({ kind, name, uuid: id.uuid, owner, ...(log ? { serialLog: log } : {}) });
        }
    }
    for (const name of (await listNames(uri, "pool")).filter((n) => n.startsWith(`${PREFIX}-`))) {
        const id = await lookAt(uri, "pool", name);
        if (!id) continue;
        // A stopped pool's directory cannot be read without starting it: not ours to start.
        if (!/State:\s+running/.test(await mustVirsh(uri, ["pool-info", name]))) continue;
        await mustVirsh(uri, ["pool-refresh", name]);
        const vols = await volumeList(uri, name);
        if (known.uuids.has(id.uuid)) {
            const marker = await readPoolMarker(uri, name);
            for (const [vol, path] of vols) {
                if (vol === POOL_MARKER || !isLabVolume(vol) || known.volumePaths.has(path)) continue;
                orphans.push({ kind: "volume", name: vol, pool: name, path, owner: marker ?? { stack, lab: name.slice(PREFIX.length + 1) } });
            }
            continue;
        }
        const marker = vols.has(POOL_MARKER) ? await readPoolMarker(uri, name) : undefined;
        if (marker && marker.stack === stack) orphans.push({ kind: "pool", name, uuid: id.uuid, owner: marker });
    }
    return orphans;
}

/**
 * Removes one orphan, after checking it is still the object that was listed. Domains go
 * with their serial log; pools with the volumes the lab made (other files stay).
 */
export async function removeOrphan(uri: string, o: Orphan): Promise<void> {
    const ssh = hypervisorSshFor(uri);
    switch (o.kind) {
        case "domain": {
            const id = await identify(uri, "domain", o.name);
            // By UUID: a node made under this name since the listing is not touched.
            if (id && id.uuid === o.uuid) await removeDomain(uri, o.uuid);
            const qemuLog = qemuLogPath(uri, o.name);
            const files = [...(o.serialLog ? [o.serialLog] : []), ...(qemuLog ? [qemuLog] : [])];
            await removeNodeLogs({ hypervisorSsh: ssh?.args ?? [], hypervisorSshCommand: ssh?.command, nodeName: o.owner.node ?? o.name }, files);
            return;
        }
        case "network": {
            const id = await identify(uri, "network", o.name);
            if (!id || id.uuid !== o.uuid) return;
            if (await networkActive(uri, o.name)) await mustVirsh(uri, ["net-destroy", o.name]);
            await mustVirsh(uri, ["net-undefine", o.name]);
            return;
        }
        case "pool": {
            const props: PoolOutputs = { uri, name: o.name, path: "", owner: o.owner, uuid: o.uuid! };
            await poolProvider.delete!(o.name, props);
            return;
        }
        case "volume": {
            const vols = await volumeList(uri, o.pool!);
            if (vols.get(o.name) !== o.path) return;
            const r = await virsh(uri, ["vol-delete", "--pool", o.pool!, o.name]);
            if (r.code !== 0) throw new Error(`cannot remove volume ${o.name} from pool ${o.pool}: ${r.stderr.trim()}`);
            return;
        }
    }
}

/** Removal order: domains before the disks and networks they use, pools last. */
export function removalOrder(orphans: Orphan[]): Orphan[] {
    const rank: Record<OrphanKind, number> = { domain: 0, volume: 1, network: 2, pool: 3 };
    return [...orphans].sort((a, b) => rank[a.kind] - rank[b.kind] || a.name.localeCompare(b.name));
}
