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
 * The one function that computes a lab's tags. The nixlab:* keys win over user tags of
 * the same name so `nixlab gc` and the policy pack can trust them.
 */
export function labTags(lab: LabSpec, stack: string, expiresAt: pulumi.Input<string>): pulumi.Output<Record<string, string>> {
    return pulumi.output(expiresAt).apply((exp): Record<string, string> => ({
        ...lab.tags,
        [TAG_KEYS.lab]: lab.name,
        [TAG_KEYS.owner]: lab.owner,
        [TAG_KEYS.stack]: stack,
        [TAG_KEYS.expiresAt]: exp,
    }));
}

/** Lab tags plus a node's own tags, its name and KVM mode (node tags cannot override nixlab:*). */
export function nodeTags(tags: pulumi.Output<Record<string, string>>, node: NodeSpec): pulumi.Output<Record<string, string>> {
    return tags.apply((t): Record<string, string> => ({ ...node.tags, ...t, [TAG_KEYS.node]: node.name, [TAG_KEYS.kvm]: node.kvm }));
}
