import { createHash } from "node:crypto";
/**
 * Every name a lab's children get is built from config values: `<lab>-<node>`,
 * `<lab>-<node>-<volume>`, plus fixed suffixes per backend. Joined with '-', different
 * config can spell the same name: node `a` with volume `b-scratch` and node `a-b` with
 * volume `scratch` both give `<lab>-a-b-scratch`; a libvirt volume named `root` gives the
 * root disk's `<lab>-<node>-root`. Pulumi then stops the update halfway with
 * "Duplicate resource URN" (URNs are unique per type and name), or a cloud refuses a
 * second object with one physical name. This module models each backend's names as data
 * (its NamingScheme) and refuses such config before anything is registered, naming both
 * config paths. test/names.test.ts checks the schemes against what the programs register.
 */
import type { Problem } from "./problems";
import { show } from "./problems";
import { LAB_CONFIG_KEY, type Arch, type LabSpec } from "./spec";

/** A child name: a namespace where names must be unique, and what follows the base name. */
export interface ChildName {
    /**
     * A Pulumi type token (the engine's URNs are unique per type and name: every child of
     * the Lab has the same parent), or, for physical names a cloud keeps unique, a
     * description of that namespace in words (e.g. "Azure managed disk in the lab's resource group").
     */
    namespace: string;
    /** Appended to the base name with nothing in between: "" for the base itself, else "-root" etc. */
    suffix: string;
    /** For physical names only: built from the node/volume names without the lab's name in front. */
    withoutLab?: boolean;
    /** What the child is when it is not the node or volume itself, e.g. "root disk". */
    role?: string;
}

/**
 * A backend's child names. Bases: `<lab>` for `lab`, `<lab>-<node>` for `node`,
 * `<lab>-<node>-<volume>` for `volume`. A lab suffix may hold `{arch}` (each arch the lab's
 * nodes use) or `{index}` (0, 1, ... per `network.sshIngressCidrs` entry: one rule each).
 */
export interface NamingScheme {
    lab: ChildName[];
    node: ChildName[];
    volume: ChildName[];
}

const TLS_KEY = "tls:index/privateKey:PrivateKey";

/** What the Lab component itself registers on every backend (components/lab.ts). */
export const LAB_NAMING: NamingScheme = {
    lab: [
        { namespace: "pulumi-nodejs:dynamic/nixlab:Clock", suffix: "-clock" },
        { namespace: TLS_KEY, suffix: "-operator-key" },
    ],
    node: [{ namespace: TLS_KEY, suffix: "-host-ed25519" }],
    volume: [],
};

/** One name claimed by config, and the config path it comes from. */
export interface NameClaim {
    namespace: string;
    name: string;
    /** The config path that makes this name, e.g. `nixlab:lab.nodes[1].volumes[0].name`. */
    path: string;
    /** What it is, for messages: "volume scratch of node a". */
    what: string;
}

/** Where a node's name comes from in config. */
function nodeNamePath(lab: LabSpec, index: number): string {
    const node = lab.nodes[index]!;
    // Counted nodes are `<namePrefix>-<n>`; their configPath is `nixlab:lab.nodes`.
    return node.configPath === `${LAB_CONFIG_KEY}.nodes` ? `${LAB_CONFIG_KEY}.nodes.namePrefix` : `${node.configPath}.name`;
}

/** Every name the lab's config gives its children under `scheme` (the Lab's own included). */
export function nameClaims(lab: LabSpec, scheme: NamingScheme): NameClaim[] {
    const schemes = [LAB_NAMING, scheme];
    const claims: NameClaim[] = [];
    const base = (withoutLab: boolean | undefined, rest: string) => (withoutLab ? rest : `${lab.name}-${rest}`);
    const arches = [...new Set<Arch>(lab.nodes.map((n) => n.arch))].sort();
    for (const s of schemes) {
        for (const c of s.lab) {
            const names = c.suffix.includes("{arch}")
                ? arches.map((a) => ({ name: `${lab.name}${c.suffix.replace("{arch}", a)}`, what: `the lab's ${a} image` }))
                : c.suffix.includes("{index}")
                  ? lab.network.sshIngressCidrs.map((_, i) => ({ name: `${lab.name}${c.suffix.replace("{index}", String(i))}`, what: "the lab's network" }))
                  : [{ name: `${lab.name}${c.suffix}`, what: "the lab itself" }];
            for (const n of names) claims.push({ namespace: c.namespace, name: n.name, path: `${LAB_CONFIG_KEY}.name`, what: n.what });
        }
    }
    lab.nodes.forEach((node, i) => {
        for (const s of schemes) {
            for (const c of s.node) {
                claims.push({
                    namespace: c.namespace,
                    name: base(c.withoutLab, `${node.name}${c.suffix}`),
                    path: nodeNamePath(lab, i),
                    what: c.role ? `the ${c.role} of node ${node.name}` : `node ${node.name}`,
                });
            }
            node.volumes.forEach((v, vi) => {
                for (const c of s.volume) {
                    claims.push({
                        namespace: c.namespace,
                        name: base(c.withoutLab, `${node.name}-${v.name}${c.suffix}`),
                        path: `${node.volumesConfigPath}[${vi}].name`,
                        what: c.role ? `the ${c.role} of volume ${v.name} of node ${node.name}` : `volume ${v.name} of node ${node.name}`,
                    });
                }
            });
        }
    });
    return claims;
}

/**
 * One problem per name that two different config values produce in one namespace. A
 * volume list shared by nodes (counted nodes, `defaults.volumes`) has one path for many
 * nodes; the message says which nodes.
 */
export function nameProblems(lab: LabSpec, scheme: NamingScheme): Problem[] {
    const first = new Map<string, NameClaim>();
    const problems: Problem[] = [];
    const reported = new Set<string>();
    for (const c of nameClaims(lab, scheme)) {
        const key = `${c.namespace}\u0000${c.name}`;
        const prev = first.get(key);
        if (!prev) {
            first.set(key, c);
            continue;
        }
        // The same pair of config values clashes once per namespace it shares: say it once.
        const pair = `${prev.path}\u0000${prev.what}\u0000${c.path}\u0000${c.what}`;
        if (reported.has(pair)) continue;
        reported.add(pair);
        const urn = c.namespace.includes(":");
        problems.push({
            path: c.path,
            message:
                `${c.what} would be named ${show(c.name)} (${urn ? `a ${c.namespace} resource` : `an ${c.namespace}`}), ` +
                `the name ${prev.what} already has (${prev.path}); ` +
                (urn ? `Pulumi would stop the update with "Duplicate resource URN"` : "the cloud refuses a second one with that name") +
                ". Node and volume names are joined with '-', so different ones can spell the same name: rename one of them",
        });
    }
    return problems;
}

// What makes a physical name unique to one stack (issue 9, item 8): two stacks may run labs of
// the same name in one account/project; every name a cloud keys by carries the stack id.

/** Hex digits of the stack id: 2^32 stacks before two share one by chance. */
export const STACK_ID_LENGTH = 8;

/**
 * A short, stable id of the stack: hex of sha256 over the fully qualified stack name as
 * the program sees it (`pulumi.getStack()`), so it is the same on every `up` of a stack and
 * differs between stacks. Lowercase hex suits every cloud's name rules.
 */
export function stackId(stack: string): string {
    return createHash("sha256").update(`nixlab-stack:${stack}`).digest("hex").slice(0, STACK_ID_LENGTH);
}

/**
 * `${prefix}${stem}-${suffix}` in at most `max` characters: the stem (the free-form part,
 * e.g. a lab name) is cut, and trailing '-' dropped, so that the prefix and the unique
 * suffix always survive whole. Throws if even an empty stem cannot fit (a programming error).
 */
export function fitName(prefix: string, stem: string, suffix: string, max: number): string {
    const room = max - prefix.length - suffix.length - 1;
    if (room < 1) throw new Error(`nixlab: name ${prefix}…-${suffix} cannot fit ${max} characters`);
    const cut = stem.length > room ? stem.slice(0, room).replace(/-+$/, "") : stem;
    return `${prefix}${cut}-${suffix}`;
}
