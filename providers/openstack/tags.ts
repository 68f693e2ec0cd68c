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

export interface TagListRules {
    maxLength: number;
    forbidden: RegExp;
    maxCount?: number;
}

export const NEUTRON_TAGS: TagListRules = { maxLength: 255, forbidden: /,/ };
export const NOVA_TAGS: TagListRules = { maxLength: 60, forbidden: /[,/]/, maxCount: 50 };
export const GLANCE_TAGS: TagListRules = { maxLength: 255, forbidden: /,/ };

/** `key=value` strings the service accepts, sorted so plans are stable; nixlab:* keys win the count limit. */
export function tagList(tags: Record<string, string>, rules: TagListRules): string[] {
    const fits = Object.entries(tags)
        .map(([k, v]) => ({ k, tag: `${k}=${v}` }))
        .filter(({ tag }) => tag.length <= rules.maxLength && !rules.forbidden.test(tag))
        .sort((a, b) => Number(!a.k.startsWith("nixlab:")) - Number(!b.k.startsWith("nixlab:")) || a.tag.localeCompare(b.tag))
        .map(({ tag }) => tag);
    return rules.maxCount === undefined ? fits : fits.slice(0, rules.maxCount);
}

export function tagListOutput(tags: pulumi.Output<Record<string, string>>, rules: TagListRules): pulumi.Output<string[]> {
    return tags.apply((t) => tagList(t, rules));
}
