/**
 * What a person pastes: ssh commands, an ssh_config snippet, known_hosts and an Ansible
 * inventory. Pure functions over resolved node facts, so they are unit-tested directly.
 */
import { stringify } from "yaml";

export interface NodeAccess {
    name: string;
    /** The lab-wide unique host alias, `<lab>-<node>`. */
    alias: string;
    user: string;
    host: string;
    port: number;
    proxyJump?: string;
    privateAddress: string;
    hostPublicKey: string;
    hostKeyFingerprint: string;
    arch: string;
}

/**
 * Where the lab's known_hosts is expected. Keyed by HostKeyAlias, so it stays right when
 * a node's address or forwarded port changes; `nixlab ssh` writes it there.
 */
export function knownHostsPath(lab: string): string {
    return `~/.ssh/nixlab/${lab}.known_hosts`;
}

function sshOptions(lab: string, n: NodeAccess): string[] {
    const opts = [
        `-o HostKeyAlias=${n.alias}`,
        `-o UserKnownHostsFile=${knownHostsPath(lab)}`,
        "-o StrictHostKeyChecking=yes",
    ];
    if (n.port !== 22) opts.push(`-p ${n.port}`);
    if (n.proxyJump) opts.push(`-J ${n.proxyJump}`);
    return opts;
}

export function sshCommand(lab: string, n: NodeAccess): string {
    return ["ssh", ...sshOptions(lab, n), `${n.user}@${n.host}`].join(" ");
}

export function renderSshConfig(lab: string, nodes: NodeAccess[]): string {
    const blocks = nodes.map((n) => {
        const lines = [
            `Host ${n.alias}`,
            `    HostName ${n.host}`,
            `    Port ${n.port}`,
            `    User ${n.user}`,
            `    HostKeyAlias ${n.alias}`,
            `    UserKnownHostsFile ${knownHostsPath(lab)}`,
            "    StrictHostKeyChecking yes",
        ];
        if (n.proxyJump) lines.push(`    ProxyJump ${n.proxyJump}`);
        return lines.join("\n");
    });
    return `# nixlab lab ${lab}\n${blocks.join("\n\n")}\n`;
}

export function renderKnownHosts(nodes: NodeAccess[]): string {
    return nodes.map((n) => `${n.alias} ${n.hostPublicKey.trim()}`).join("\n") + "\n";
}

export function renderAnsibleInventory(lab: string, nodes: NodeAccess[]): string {
    const hosts: Record<string, Record<string, unknown>> = {};
    const byArch: Record<string, { hosts: Record<string, null> }> = {};
    for (const n of nodes) {
        // Keyed by the ssh alias (`<lab>-<node>`), the name ssh_config and known_hosts use,
        // so `ssh dev-node-1` and `ansible dev-node-1` reach the same machine.
        hosts[n.alias] = {
            ansible_host: n.host,
            ansible_port: n.port,
            nixlab_node: n.name,
            nixlab_private_address: n.privateAddress,
            ansible_ssh_common_args: [
                `-o HostKeyAlias=${n.alias}`,
                `-o UserKnownHostsFile=${knownHostsPath(lab)}`,
                "-o StrictHostKeyChecking=yes",
                ...(n.proxyJump ? [`-o ProxyJump=${n.proxyJump}`] : []),
            ].join(" "),
        };
        (byArch[n.arch] ??= { hosts: {} }).hosts[n.alias] = null;
    }
    const inventory = {
        all: {
            vars: {
                ansible_user: nodes[0]?.user ?? "lab",
                // NixOS has no /usr/bin/python3; Ansible's interpreter discovery warns
                // or guesses wrong without this.
                ansible_python_interpreter: "/run/current-system/sw/bin/python3",
                nixlab_lab: lab,
            },
            hosts,
            children: byArch,
        },
    };
    return stringify(inventory, { lineWidth: 0 });
}
