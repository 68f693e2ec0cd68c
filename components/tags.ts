import * as pulumi from "@pulumi/pulumi";
import type { LabSpec, NodeSpec } from "./spec";

export const TAG_KEYS = {
    lab: "nixlab:lab",
    owner: "nixlab:owner",
    stack: "nixlab:stack",
    expiresAt: "nixlab:expires-at",
    /** Per-node resources only (nodeTags). */
    node: "nixlab:node",
    /**
     * Per-node resources only: the KVM mode the node asked for (none | nested | metal), so
     * the policy pack can check a machine type against the request on every cloud.
     */
    kvm: "nixlab:kvm",
} as const;

/**
 * A tag map as resources take it: every key a plain string, every value a plain string
 * except `nixlab:expires-at`, which comes from the Clock and is unknown until the lab's
 * first deployment. Kept a plain object (not one Output of the whole map) so a preview,
 * `npm run plan` and a PR reviewer see every other tag; one unknown value would otherwise
 * make the whole map `[unknown]`.
 */
export type Tags = Record<string, pulumi.Input<string>>;

/**
 * The one function that computes a lab's tags. The nixlab:* keys win over user tags of
 * the same name so `nixlab gc` and the policy pack can trust them.
 */
export function labTags(lab: LabSpec, stack: string, expiresAt: pulumi.Input<string>): Tags {
    return {
        ...lab.tags,
        [TAG_KEYS.lab]: lab.name,
        [TAG_KEYS.owner]: lab.owner,
        [TAG_KEYS.stack]: stack,
        [TAG_KEYS.expiresAt]: expiresAt,
    };
}

/** Lab tags plus a node's own tags, its name and KVM mode (node tags cannot override nixlab:*). */
export function nodeTags(tags: Tags, node: NodeSpec): Tags {
    return { ...node.tags, ...tags, [TAG_KEYS.node]: node.name, [TAG_KEYS.kvm]: node.kvm };
}

/**
 * The tags a provider applies by default (AWS defaultTags, GCP defaultLabels): all but the
 * expiry. Provider inputs travel as one JSON string, so a single unknown value would make
 * the provider's whole configuration unknown at preview; every taggable resource carries
 * the expiry in its own tags instead (the policy pack checks that it does).
 */
export function providerDefaultTags(tags: Tags): Tags {
    const { [TAG_KEYS.expiresAt]: _expiry, ...rest } = tags;
    return rest;
}

/**
 * Rewrites each tag's key and value (a cloud's own label rules), value by value: plain
 * values stay plain, so only a value that is unknown at preview shows as unknown.
 */
export function mapTags(tags: Tags, key: (k: string) => string, value: (v: string) => string): Tags {
    const out: Tags = {};
    for (const [k, v] of Object.entries(tags)) out[key(k)] = typeof v === "string" ? value(v) : pulumi.output(v).apply(value);
    return out;
}
