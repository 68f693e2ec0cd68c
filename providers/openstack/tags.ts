/**
 * nixlab's key/value tags on OpenStack, where each service tags differently:
 *
 * | Resource                                        | Field      | Rules                                       |
 * |-------------------------------------------------|------------|---------------------------------------------|
 * | networking Network, Subnet, Router, SecGroup,   | `tags`     | strings ≤ 255 chars; commas break tag       |
 * | Port, FloatingIp                                |            | filters (neutron/extensions/tagging.py      |
 * |                                                 |            | MAX_TAG_LEN; admin/ops-resource-tags.rst)   |
 * | compute Instance                                | `tags`     | ≤ 60 chars, no '/' or ',', ≤ 50 per server  |
 * |                                                 | `metadata` | keys `^[a-zA-Z0-9-_:. ]{1,255}$`, values    |
 * |                                                 |            | ≤ 255, ≤ 128 items (quota metadata_items):  |
 * |                                                 |            | every tag, keys mapped (novaMetadata)       |
 * | images Image                                    | `tags`     | strings ≤ 255 chars                         |
 * | blockstorage Volume                             | `metadata` | key/value (Cinder volumes have no tags)     |
 * | SecGroupRule, RouterInterface,                  | —          | the provider exposes no tags: they are      |
 * | FloatingIpAssociate, VolumeAttach               |            | associations owned by tagged resources      |
 *
 * List tags are `key=value`. A tag that breaks a service's rules (a long owner in a
 * 60-character Nova tag) is left out of that list only; the instance's metadata still holds it.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Tags } from "../../components/tags";
import { show, type Problem } from "../../components/problems";

export interface TagListRules {
    maxLength: number;
    forbidden: RegExp;
    maxCount?: number;
}

export const NEUTRON_TAGS: TagListRules = { maxLength: 255, forbidden: /,/ };
export const NOVA_TAGS: TagListRules = { maxLength: 60, forbidden: /[,/]/, maxCount: 50 };
export const GLANCE_TAGS: TagListRules = { maxLength: 255, forbidden: /,/ };

/** `key=value` strings the service accepts, sorted by key so plans are stable; nixlab:* keys win the count limit. */
export function tagList(tags: Record<string, string>, rules: TagListRules): string[] {
    return tagListOf(tags, rules) as string[];
}

/**
 * tagList for a Tags map, element by element: a tag whose value is unknown at preview (the
 * expiry) is one unknown element, the others stay readable. Such a value is the Clock's
 * RFC 3339 timestamp (`nixlab:expires-at=2026-11-24T18:00:00.000Z`, 42 characters, no ','
 * or '/'), which fits every service's rules, so it is kept without being seen.
 */
export function tagListOf(tags: Tags, rules: TagListRules): pulumi.Input<string>[] {
    const fits = Object.entries(tags)
        .filter(([k, v]) => typeof v !== "string" || fitsRules(`${k}=${v}`, rules))
        .sort(([a], [b]) => Number(!a.startsWith("nixlab:")) - Number(!b.startsWith("nixlab:")) || a.localeCompare(b))
        .map(([k, v]) => (typeof v === "string" ? `${k}=${v}` : pulumi.interpolate`${k}=${v}`));
    return rules.maxCount === undefined ? fits : fits.slice(0, rules.maxCount);
}

function fitsRules(tag: string, rules: TagListRules): boolean {
    return tag.length <= rules.maxLength && !rules.forbidden.test(tag);
}

/**
 * Nova's server metadata rules (nova/api/validation/parameter_types.py, `metadata`:
 * keys match `^[a-zA-Z0-9-_:. ]{1,255}$`, values are strings of at most 255 characters;
 * the default `metadata_items` quota allows 128 items per server).
 */
export const NOVA_METADATA_KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/;
export const NOVA_METADATA_VALUE_MAX = 255;
export const NOVA_METADATA_MAX_ITEMS = 128;

/**
 * A tag key as Nova metadata takes it: each character Nova refuses (of the characters a
 * nixlab tag key may hold: / = + @) becomes '_'. `team/owner` → `team_owner`.
 */
export function novaMetadataKey(key: string): string {
    return key.replace(/[^a-zA-Z0-9\-_:. ]/g, "_");
}

/** Every tag as server metadata, keys mapped; checkNovaMetadata has refused what cannot be. */
export function novaMetadata<V>(tags: Record<string, V>): Record<string, V> {
    return Object.fromEntries(Object.entries(tags).map(([k, v]) => [novaMetadataKey(k), v]));
}

/**
 * Plan-time check of the tags a node's server metadata will hold: two keys that map to one
 * Nova key, values past Nova's length, more items than the default quota.
 * @param tags the node's tags with the key path each came from (lab tags and node tags)
 * @param reserved how many nixlab:* items the program adds (they always fit Nova's rules)
 */
export function novaMetadataProblems(tags: { key: string; value: string; path: string }[], reserved: number, nodePath: string): Problem[] {
    const problems: Problem[] = [];
    const seen = new Map<string, { key: string; path: string }>();
    for (const t of tags) {
        const mapped = novaMetadataKey(t.key);
        const other = seen.get(mapped);
        if (other && other.key !== t.key) {
            problems.push({
                path: t.path,
                message:
                    `tag key ${show(t.key)} and ${show(other.key)} (${other.path}) both become the Nova metadata key ${show(mapped)} ` +
                    `(Nova allows only ${NOVA_METADATA_KEY.source} in keys; others become '_'); rename one of them`,
            });
        }
        seen.set(mapped, { key: t.key, path: t.path });
        if (t.value.length > NOVA_METADATA_VALUE_MAX) {
            problems.push({
                path: t.path,
                message: `is ${t.value.length} characters; Nova server metadata values hold at most ${NOVA_METADATA_VALUE_MAX}: shorten it`,
            });
        }
    }
    const count = seen.size + reserved;
    if (count > NOVA_METADATA_MAX_ITEMS) {
        problems.push({
            path: `${nodePath}.tags`,
            message: `the node would carry ${count} server metadata items (${reserved} of them nixlab:*), more than Nova's default quota of ${NOVA_METADATA_MAX_ITEMS} (metadata_items); use fewer tags`,
        });
    }
    return problems;
}
