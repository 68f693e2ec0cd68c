/**
 * Physical Azure names. Explicit and deterministic (no autonaming suffixes), so the portal
 * and `az` output read like the stack file, and an image keyed by content keeps its name.
 */
import { createHash } from "node:crypto";
import { stackId } from "../../components/names";
import type { Arch } from "../../components/spec";

function sha256Hex(s: string): string {
    return createHash("sha256").update(s).digest("hex");
}

/**
 * Everything of a lab lives in this group, so deleting it leaves nothing behind. Group names
 * are unique per subscription: the stack id keeps two stacks with the same lab name apart
 * (and with them every name inside the group). At most 7 + 32 + 1 + 8 = 48 of Azure's 90.
 */
export function resourceGroupName(lab: string, stack: string): string {
    return `nixlab-${lab}-${stackId(stack)}`;
}

/**
 * Storage account names are global across Azure, 3-24 characters of a-z0-9. A hash of
 * subscription, stack and lab keeps it unique per lab and stack and stable across runs:
 * "nixlab" + 16 hex = 22.
 */
export function storageAccountName(subscriptionId: string, lab: string, stack: string): string {
    return `nixlab${sha256Hex(`${subscriptionId.toLowerCase()}/${stack}/${lab}`).slice(0, 16)}`;
}

/** Gallery names allow letters, digits, '.' and '_' (no '-'), unique per subscription. */
export function galleryName(lab: string): string {
    return `nixlab_${lab.replace(/-/g, "_")}`;
}

/** One image definition per architecture; versions under it are keyed by content. */
export function galleryImageName(arch: Arch): string {
    return `nixos-${arch}`;
}

export function vhdBlobName(arch: Arch, hash: string): string {
    return `nixos-${arch}-${hash}.vhd`;
}

/**
 * Gallery image versions must be named `Major.Minor.Patch`, each a 32-bit integer. The
 * content hash becomes three 28-bit numbers taken from sha256(hash): 84 bits, the same
 * hash always gives the same version, a different image a different one (ordering between
 * versions means nothing here; VMs name their version explicitly).
 */
export function galleryImageVersionName(hash: string): string {
    const h = sha256Hex(hash);
    return [0, 7, 14].map((i) => parseInt(h.slice(i, i + 7), 16)).join(".");
}
