/**
 * `nixlab ssh <stack> <node>`: ssh to a node with the lab's pinned host key. The stack's
 * `knownHosts` output is written where every other output expects it
 * (`~/.ssh/nixlab/<lab>.known_hosts`, see components/outputs.ts) and ssh is told to trust
 * nothing else for that node's alias, so a first connection is already verified.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { knownHostsPath } from "../components/outputs";
import type { OutputMap } from "./workspace";

/** The per-node stack output (components/lab.ts NodeOutput), as far as ssh needs it. */
export interface NodeAccessOutput {
    name: string;
    sshHost: string;
    sshPort: number;
    /** The full ssh command the program rendered; user and ProxyJump are read from it when not given separately. */
    ssh: string;
    user?: string;
    proxyJump?: string;
}

export interface SshTarget {
    lab: string;
    node: NodeAccessOutput;
    user: string;
    proxyJump?: string;
    knownHosts: string;
}

/** Absolute form of `~/...` paths from components/outputs.ts. */
export function expandHome(p: string, home: string): string {
    return p === "~" ? home : p.startsWith("~/") ? path.join(home, p.slice(2)) : p;
}

/**
 * Reads what ssh needs from a stack's outputs, or throws saying which output is missing.
 * `user`/`proxyJump` fall back to the program's own `ssh` command line
 * (components/outputs.ts sshCommand: options, then `user@host` last).
 */
export function sshTarget(stack: string, outputs: OutputMap, nodeName: string): SshTarget {
    const lab = outputs.labName?.value;
    const nodes = outputs.nodes?.value as Record<string, NodeAccessOutput> | undefined;
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
    const words = node.ssh.trim().split(/\s+/);
    const destination = words[words.length - 1] ?? "";
    const user = node.user ?? (destination.includes("@") ? destination.slice(0, destination.lastIndexOf("@")) : undefined);
    if (!user) throw new Error(`node ${nodeName} of stack ${stack} has no ssh user in its outputs; run \`nixlab up ${stack}\` to refresh them`);
    const jumpAt = words.indexOf("-J");
    const proxyJump = node.proxyJump ?? (jumpAt >= 0 ? words[jumpAt + 1] : undefined);
    return { lab, node, user, proxyJump, knownHosts };
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
    if (t.proxyJump) args.push("-J", t.proxyJump);
    // IdentitiesOnly: with an agent holding many keys, the server may cut us off
    // (MaxAuthTries) before the operator key is offered.
    if (opts.identityFile) args.push("-i", opts.identityFile, "-o", "IdentitiesOnly=yes");
    // OpenSSH reads options after the destination too, so `-- -L 8080:localhost:80` and
    // `-- uname -a` both work placed here.
    return [...args, `${t.user}@${t.node.sshHost}`, ...(opts.extra ?? [])];
}

/** Writes the lab's known_hosts where the outputs say it is; returns its absolute path. */
export function writeKnownHosts(t: SshTarget, home: string): string {
    const file = expandHome(knownHostsPath(t.lab), home);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, t.knownHosts.endsWith("\n") ? t.knownHosts : t.knownHosts + "\n", { mode: 0o644 });
    return file;
}
