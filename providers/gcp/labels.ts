/**
 * GCP labels from nixlab tags. Label keys and values may hold only lowercase letters,
 * digits, '_' and '-' (keys must start with a letter), at most 63 characters each
 * (https://cloud.google.com/compute/docs/labeling-resources#requirements), so tags like
 * `nixlab:expires-at: 2026-11-24T18:00:00.000Z` cannot be used as they are. This is the
 * one mapping, applied to provider default labels and resource labels alike:
 *
 * - key: lowercased; every other character becomes '-' (`nixlab:lab` → `nixlab-lab`);
 *   a key not starting with a letter gets a `t-` prefix; cut to 63.
 * - value: lowercased; every other character becomes '_'
 *   (`alice@example.com` → `alice_example_com`,
 *   `2026-11-24T18:00:00.000Z` → `2026-11-24t18_00_00_000z`); cut to 63.
 *
 * `gcpExpiresAt` reverses the value mapping for the expiry label, for tools that read it.
 */
import { mapTags, type Tags } from "../../components/tags";

const MAX = 63;

export function gcpLabelKey(key: string): string {
    const k = key.toLowerCase().replace(/[^a-z0-9_-]/g, "-");
    return (/^[a-z]/.test(k) ? k : `t-${k}`).slice(0, MAX);
}

export function gcpLabelValue(value: string): string {
    return value.toLowerCase().replace(/[^a-z0-9_-]/g, "_").slice(0, MAX);
}

export function gcpLabels(tags: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(tags)) out[gcpLabelKey(k)] = gcpLabelValue(v);
    return out;
}

/** gcpLabels value by value, so labels other than the expiry stay known at preview. */
export function gcpLabelsOf(tags: Tags): Tags {
    return mapTags(tags, gcpLabelKey, gcpLabelValue);
}

/** `2026-11-24t18_00_00_000z` → `2026-11-24T18:00:00.000Z` (the expires-at label back to RFC 3339). */
export function gcpExpiresAt(label: string): string {
    const m = /^(\d{4}-\d{2}-\d{2})t(\d{2})_(\d{2})_(\d{2})(?:_(\d+))?z$/.exec(label);
    if (!m) throw new Error(`not a nixlab expires-at label: ${JSON.stringify(label)}`);
    return `${m[1]}T${m[2]}:${m[3]}:${m[4]}${m[5] ? `.${m[5]}` : ""}Z`;
}
