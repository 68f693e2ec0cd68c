/**
 * `nixlab ssh <stack> <node>`: ssh to a node with the lab's pinned host key. The stack's
 * `knownHosts` output is written where every other output expects it
 * (`~/.ssh/nixlab/<lab>.known_hosts`, see components/outputs.ts) and ssh is told to trust
 * nothing else for that node's alias, so a first connection is already verified.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { knownHostsPath } from "../components/outputs";
import type { NodeOutput } from "../components/lab";
import type { OutputMap } from "./workspace";

/** The per-node stack output (components/lab.ts NodeOutput), as far as ssh needs it. */
export type NodeAccessOutput = Pick<NodeOutput, "name" | "sshHost" | "sshPort" | "user" | "proxyJump">;

export interface SshTarget {
    lab: string;
    node: NodeAccessOutput;
    knownHosts: string;
}

/** Absolute form of `~/...` paths from components/outputs.ts. */
export function expandHome(p: string, home: string): string {
    return p === "~" ? home : p.startsWith("~/") ? path.join(home, p.slice(2)) : p;
}

/**
 * Reads what ssh needs from a stack's outputs, or throws saying which output is missing.
 * User and jump host are the node output's own fields, never parsed out of its `ssh`
 * command line; outputs written before those fields existed are refreshed by `nixlab up`.
 */
export function sshTarget(stack: string, outputs: OutputMap, nodeName: string): SshTarget {
    const lab = outputs.labName?.value;
    const nodes = outputs.nodes?.value as Record<string, Partial<NodeAccessOutput>> | undefined;
    const knownHosts = outputs.knownHosts?.value;
    if (typeof lab !== "string" || !nodes || typeof nodes !== "object" || typeof knownHosts !== "string") {
        throw new Error(
            `stack ${stack} has no labName/nodes/knownHosts outputs: it has not been deployed by nixlab yet (or its last update failed). Run \`nixlab up ${stack}\`.`,
        );
    }
    const node = nodes[nodeName];
    if (!node) {
        const names = Object.keys(nodes).sort();
        throw new Error(`lab ${lab} (stack ${stack}) has no node ${JSON.stringify(nodeName)}; its nodes are: ${names.join(", ") || "none"}`);
    }
    const { sshHost, sshPort, user, proxyJump } = node;
    // ssh would read a destination starting with "-" as an option (`-oProxyCommand=...`);
    // `--` cannot be used here because options after the destination must still work.
    for (const [k, v] of Object.entries({ sshHost, user, proxyJump })) {
        if (typeof v === "string" && v.startsWith("-")) throw new Error(`node ${nodeName} of stack ${stack} has ${k} ${JSON.stringify(v)} in its outputs, which ssh would read as an option; refusing to run ssh`);
    }
    if (!sshHost || sshPort === undefined || !user) {
        const missing = Object.entries({ sshHost, sshPort, user }).filter(([, v]) => v === undefined || v === "").map(([k]) => k);
        throw new Error(
            `node ${nodeName} of stack ${stack} has no ${missing.join("/")} in its outputs (written by an older nixlab); ` +
                `run \`nixlab up ${stack}\` to refresh them`,
        );
    }
    return { lab, node: { name: node.name ?? nodeName, sshHost, sshPort, user, ...(proxyJump ? { proxyJump } : {}) }, knownHosts };
}

/** ssh's arguments: pinned host key by alias, port, jump host, then the user's extra args. */
export function sshArgs(t: SshTarget, knownHostsFile: string, opts: { identityFile?: string; extra?: string[] } = {}): string[] {
    const args = [
        "-o",
        `HostKeyAlias=${t.lab}-${t.node.name}`,
        "-o",
        `UserKnownHostsFile=${knownHostsFile}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-p",
        String(t.node.sshPort),
    ];
    if (t.node.proxyJump) args.push("-J", t.node.proxyJump);
    // IdentitiesOnly: with an agent holding many keys, the server may cut us off
    // (MaxAuthTries) before the operator key is offered.
    if (opts.identityFile) args.push("-i", opts.identityFile, "-o", "IdentitiesOnly=yes");
    // OpenSSH reads options after the destination too, so `-- -L 8080:localhost:80` and
    // `-- uname -a` both work placed here.
    return [...args, `${t.node.user}@${t.node.sshHost}`, ...(opts.extra ?? [])];
}

/** Writes the lab's known_hosts where the outputs say it is; returns its absolute path. */
export function writeKnownHosts(t: SshTarget, home: string): string {
    const file = expandHome(knownHostsPath(t.lab), home);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, t.knownHosts.endsWith("\n") ? t.knownHosts : t.knownHosts + "\n", { mode: 0o644 });
    return file;
}
