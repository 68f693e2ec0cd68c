/**
 * What `nixlab` knows about a lab stack, read only from the stack's own config and
 * outputs (never guessed from its name), and the pure decisions made from it: when a lab
 * expires, whether `gc` destroys it, what `up` writes as its expiry.
 */
import { DEFAULT_LAB_TTL, DEFAULT_TTL_BOUNDS, parseDuration, ttlProblem, type TtlBounds } from "../components/duration";
import { UsageError } from "./errors";
import type { ConfigMap, OutputMap, StackInfo } from "./workspace";

export const LAB_KEY = "nixlab:lab";
export const EXPIRES_AT_KEY = "nixlab:lab.expiresAt";
export const TTL_KEY = "nixlab:lab.ttl";
export const DEFAULT_TTL = DEFAULT_LAB_TTL;

/** The parts of `nixlab:lab` the command line reads. */
export interface LabConfigView {
    name?: string;
    owner?: string;
    ttl?: string;
    minTtl?: string;
    maxTtl?: string;
    expiresAt?: string;
    nodes?: unknown;
}

export type LabState = "running" | "expired" | "empty" | "updating" | "no-expiry" | "unreadable" | "bad-expiry";

export interface LabRow {
    stack: string;
    lab?: string;
    owner?: string;
    backend?: string;
    nodes?: number;
    createdAt?: string;
    expiresAt?: string;
    /** Where expiresAt came from: the deployed stack's output, or the stack config. */
    expirySource?: "output" | "config";
    /**
     * Expiry values that are set but are not a full ISO-8601 time with a zone
     * (`"12"` would otherwise parse as 2001-12-01), as `source value` for messages.
     */
    badExpiry?: string[];
    /** The stack reported an update in progress when it was listed. */
    updating?: boolean;
    /** Which reads failed: gc never destroys a stack it could not fully read. */
    unread?: ("config" | "outputs")[];
    state: LabState;
    /** Why the stack could not be read, if it could not. */
    error?: string;
}

/** Structured config arrives as JSON text; anything unparsable is treated as absent. */
export function labConfig(config: ConfigMap | undefined): LabConfigView | undefined {
    const raw = config?.[LAB_KEY]?.value;
    if (raw === undefined) return undefined;
    try {
        const v: unknown = JSON.parse(raw);
        return v && typeof v === "object" && !Array.isArray(v) ? (v as LabConfigView) : undefined;
    } catch {
        return undefined;
    }
}

function str(v: unknown): string | undefined {
    return typeof v === "string" && v.length > 0 ? v : undefined;
}

function output(outputs: OutputMap | undefined, key: string): unknown {
    return outputs?.[key]?.value;
}

/**
 * A full ISO-8601 / RFC 3339 date-time with a zone: `2026-11-24T18:00:00Z`,
 * `2026-11-24T19:00+01:00`. `Date.parse` alone accepts `"12"` (2001-12-01 in V8) and
 * zone-less times (read in whatever zone the machine running gc is in).
 */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/** A time is usable only if it is a full ISO-8601 time with a zone that names a real instant. */
export function validTime(s: string | undefined): string | undefined {
    if (s === undefined || !ISO_WITH_ZONE.test(s)) return undefined;
    const ms = Date.parse(s);
    if (!Number.isFinite(ms)) return undefined;
    // Date.parse rolls 2026-02-30 over to March; the calendar date must survive the round trip.
    const [y, mo, d] = s.slice(0, 10).split("-").map(Number);
    const day = new Date(Date.UTC(y!, mo! - 1, d!));
    return day.getUTCFullYear() === y && day.getUTCMonth() === mo! - 1 && day.getUTCDate() === d ? s : undefined;
}

/** The later of two times (either may be absent). */
function later(a: string | undefined, b: string | undefined): string | undefined {
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Date.parse(b) > Date.parse(a) ? b : a;
}

function nodeCount(outputs: OutputMap | undefined, lab: LabConfigView | undefined): number | undefined {
    const nodes = output(outputs, "nodes");
    if (nodes && typeof nodes === "object") return Object.keys(nodes).length;
    const cfg = lab?.nodes;
    if (Array.isArray(cfg)) return cfg.length;
    if (cfg && typeof cfg === "object" && typeof (cfg as { count?: unknown }).count === "number") return (cfg as { count: number }).count;
    return undefined;
}

export interface LabSources {
    summary: StackInfo;
    config?: ConfigMap;
    outputs?: OutputMap;
    createdAt?: string;
    /** Set when config or outputs could not be read. */
    error?: string;
    /** Which of config and outputs could not be read. */
    unread?: ("config" | "outputs")[];
}

/**
 * One stack's row. The expiry is the LATER of the deployed output `expiresAt` and
 * `nixlab:lab.expiresAt` in config: `nixlab up --ttl` writes the config before the update
 * that changes the output, and a lab someone just extended must never be destroyed
 * because one of the two still holds the old time.
 */
export function labRow(src: LabSources, now: Date): LabRow {
    const lab = labConfig(src.config);
    const rawOutput = str(output(src.outputs, "expiresAt"));
    const rawConfig = str(lab?.expiresAt);
    const fromOutput = validTime(rawOutput);
    const fromConfig = validTime(rawConfig);
    const expiresAt = later(fromOutput, fromConfig);
    const badExpiry = [
        ...(rawOutput !== undefined && !fromOutput ? [`output expiresAt ${JSON.stringify(rawOutput)}`] : []),
        ...(rawConfig !== undefined && !fromConfig ? [`${EXPIRES_AT_KEY} ${JSON.stringify(rawConfig)}`] : []),
    ];
    const row: LabRow = {
        stack: src.summary.name,
        lab: str(output(src.outputs, "labName")) ?? str(lab?.name),
        owner: str(output(src.outputs, "owner")) ?? str(lab?.owner),
        backend: str(output(src.outputs, "backendKind")) ?? str(src.config?.["nixlab:backend"]?.value),
        nodes: nodeCount(src.outputs, lab),
        createdAt: src.createdAt,
        expiresAt,
        expirySource: expiresAt === undefined ? undefined : expiresAt === fromOutput ? "output" : "config",
        ...(badExpiry.length > 0 ? { badExpiry } : {}),
        ...(src.summary.updateInProgress ? { updating: true } : {}),
        ...(src.unread && src.unread.length > 0 ? { unread: src.unread } : {}),
        state: "running",
        error: src.error,
    };
    row.state = stateOf(row, src.summary, now);
    return row;
}

function stateOf(row: LabRow, summary: StackInfo, now: Date): LabState {
    if (summary.updateInProgress) return "updating";
    if (row.badExpiry) return "bad-expiry";
    if (row.expiresAt && Date.parse(row.expiresAt) <= now.getTime()) return "expired";
    if (row.error && !row.expiresAt) return "unreadable";
    if (summary.resourceCount === 0) return "empty";
    if (!row.expiresAt) return "no-expiry";
    return "running";
}

export type GcDecision =
    | { action: "destroy"; row: LabRow }
    | { action: "skip"; row: LabRow; reason: string };

/** How long after its expiry gc waits before destroying a lab: time to notice and extend it. */
export const DEFAULT_GC_GRACE = "15m";

/**
 * `gc` destroys exactly the stacks whose known expiry plus the grace period has passed and
 * that it could read completely; everything else says why not. Each rule errs on the side
 * of keeping a lab: a lab left running costs money, a lab destroyed by mistake costs work.
 */
export function gcDecision(row: LabRow, now: Date, graceMs: number = parseDuration(DEFAULT_GC_GRACE)!): GcDecision {
    if (row.updating) return { action: "skip", row, reason: "an update is in progress, skipped" };
    if (row.unread) {
        return { action: "skip", row, reason: `could not read its ${row.unread.join(" and ")}, skipped${row.error ? ` (${row.error})` : ""}` };
    }
    if (row.badExpiry) {
        return { action: "skip", row, reason: `${row.badExpiry.join(" and ")} is not an ISO-8601 time with a zone (like 2026-11-24T18:00:00Z), skipped` };
    }
    if (!row.expiresAt) return { action: "skip", row, reason: "no expiry, skipped" };
    const left = Date.parse(row.expiresAt) - now.getTime();
    if (left > 0) return { action: "skip", row, reason: `not expired (expires ${relative(left)})` };
    if (left + graceMs > 0) return { action: "skip", row, reason: `expired ${relative(left)}, in the grace period (destroyed ${relative(left + graceMs)})` };
    return { action: "destroy", row };
}

/**
 * `8h` → milliseconds, or undefined when it is not a duration nixlab accepts. Same grammar
 * as `nixlab:lab.ttl` (components/duration.ts, shared with components/spec.ts).
 */
export function parseTtl(ttl: string): number | undefined {
    const ms = parseDuration(ttl);
    return ms !== undefined && ms > 0 ? ms : undefined;
}

/** The lab's own lifetime bounds (nixlab:lab.minTtl / maxTtl), else the defaults. */
function boundsOf(lab: LabConfigView): TtlBounds {
    return { min: str(lab.minTtl) ?? DEFAULT_TTL_BOUNDS.min, max: str(lab.maxTtl) ?? DEFAULT_TTL_BOUNDS.max };
}

export interface ExpiryPlan {
    expiresAt: string;
    /** Config keys to write (path form), in order. Empty when the current expiry stands. */
    writes: { key: string; value: string }[];
    reason: string;
}

/**
 * What `nixlab up` does about expiry. `--ttl` always restarts the clock from now; without
 * it a live lab keeps its expiry (an `up` to change a node does not extend the lab), and a
 * new or expired one gets now + its configured ttl.
 */
export function planExpiry(lab: LabConfigView, ttlFlag: string | undefined, now: Date): ExpiryPlan {
    const bounds = boundsOf(lab);
    const widen = `${LAB_KEY}.minTtl / maxTtl in the stack file`;
    if (ttlFlag !== undefined) {
        const bad = ttlProblem(ttlFlag, bounds, widen);
        if (bad) throw new UsageError(`--ttl ${JSON.stringify(ttlFlag)} ${bad}`);
        const ms = parseTtl(ttlFlag)!;
        const expiresAt = new Date(now.getTime() + ms).toISOString();
        return {
            expiresAt,
            writes: [
                { key: TTL_KEY, value: ttlFlag },
                { key: EXPIRES_AT_KEY, value: expiresAt },
            ],
            reason: `--ttl ${ttlFlag}`,
        };
    }
    const current = validTime(str(lab.expiresAt));
    if (current && Date.parse(current) > now.getTime()) {
        return { expiresAt: current, writes: [], reason: `keeps ${EXPIRES_AT_KEY} (pass --ttl to extend)` };
    }
    const ttl = str(lab.ttl) ?? DEFAULT_TTL;
    const bad = ttlProblem(ttl, bounds, widen);
    if (bad) throw new UsageError(`${TTL_KEY} ${JSON.stringify(ttl)} ${bad}`);
    const ms = parseTtl(ttl)!;
    const expiresAt = new Date(now.getTime() + ms).toISOString();
    return { expiresAt, writes: [{ key: EXPIRES_AT_KEY, value: expiresAt }], reason: `${TTL_KEY} ${ttl}` };
}

/** `in 3h 5m` / `2d 1h ago`: coarse on purpose, labs live hours to days. */
export function relative(ms: number): string {
    const abs = Math.abs(ms);
    const d = Math.floor(abs / 86_400_000);
    const h = Math.floor((abs % 86_400_000) / 3_600_000);
    const m = Math.floor((abs % 3_600_000) / 60_000);
    const text = d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m`;
    return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** `2026-11-24 18:00Z`: minutes are enough and the Z keeps it unambiguous in a table. */
export function shortTime(iso: string | undefined): string {
    if (!iso || !Number.isFinite(Date.parse(iso))) return "-";
    return new Date(iso).toISOString().slice(0, 16).replace("T", " ") + "Z";
}
