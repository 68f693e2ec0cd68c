/**
 * nixlab's key/value tags on OpenStack, where each service tags differently:
 *
 * | Resource                                        | Field      | Rules                                       |
 * |-------------------------------------------------|------------|---------------------------------------------|
 * | networking Network, Subnet, Router, SecGroup,   | `tags`     | strings ≤ 255 chars; commas break tag       |
 * | Port, FloatingIp                                |            | filters (neutron/extensions/tagging.py      |
 * |                                                 |            | MAX_TAG_LEN; admin/ops-resource-tags.rst)   |
 * | compute Instance                                | `tags`     | ≤ 60 chars, no '/' or ',', ≤ 50 per server  |
 * |                                                 | `metadata` | key/value ≤ 255 each: every tag, always     |
 * |                                                 |            | (nova api-ref os-server-tags, servers schema)|
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
