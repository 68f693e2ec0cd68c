/**
 * Lab lifetimes: the `90m` / `8h` / `3d` grammar and the bounds every lifetime is held to.
 * One module for the program (components/spec.ts) and the CLI (cli/labs.ts); it imports
 * nothing, so `nixlab --help` does not pay for loading @pulumi/pulumi.
 */

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * `15m` → milliseconds; `0m` is 0. undefined when malformed. At most 9 digits, so the
 * result is always a safe integer (a 99999999d ttl is then refused by the bounds below,
 * never a RangeError from `new Date` at `up`).
 */
export function parseDuration(s: string): number | undefined {
    const m = /^(\d{1,9})([mhd])$/.exec(s);
    if (!m) return undefined;
    return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** `nixlab:lab.ttl` when none is set. */
export const DEFAULT_LAB_TTL = "8h";

/** How short and how long a lab may live unless `nixlab:lab.minTtl` / `maxTtl` widen it. */
export const TTL_DEFAULT_MIN = "10m";
export const TTL_DEFAULT_MAX = "30d";
/** What minTtl / maxTtl themselves may be widened to: shorter is a typo, longer is not a lab. */
export const TTL_FLOOR = "1m";
export const TTL_CEILING = "365d";

export interface TtlBounds {
    min: string;
    max: string;
}

export const DEFAULT_TTL_BOUNDS: TtlBounds = { min: TTL_DEFAULT_MIN, max: TTL_DEFAULT_MAX };

/**
 * Why `ttl` is not an acceptable lifetime within `bounds`, or undefined when it is.
 * `widen` names the setting that moves the bounds, for the message.
 */
export function ttlProblem(ttl: string, bounds: TtlBounds = DEFAULT_TTL_BOUNDS, widen = "nixlab:lab.minTtl / maxTtl"): string | undefined {
    const ms = parseDuration(ttl);
    if (ms === undefined) return "must be a duration like 90m, 8h or 3d (minutes, hours or days)";
    const min = parseDuration(bounds.min)!;
    const max = parseDuration(bounds.max)!;
    if (ms < min) return `is shorter than the minimum lab lifetime ${bounds.min}; use at least ${bounds.min} (or lower the minimum with ${widen})`;
    if (ms > max) return `is longer than the maximum lab lifetime ${bounds.max}; use at most ${bounds.max} (or raise the maximum with ${widen}, up to ${TTL_CEILING})`;
    return undefined;
}
