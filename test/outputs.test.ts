import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { NodeAccess, renderAnsibleInventory, renderKnownHosts, renderSshConfig, sshCommand } from "../components/outputs";

const nodes: NodeAccess[] = [
    {
        name: "node-1",
        alias: "dev-node-1",
        user: "lab",
        host: "203.0.113.10",
        port: 22,
        privateAddress: "10.77.0.10",
        hostPublicKey: "ssh-ed25519 AAAAONE\n",
        hostKeyFingerprint: "SHA256:one",
        arch: "x86_64",
    },
    {
        name: "node-2",
        alias: "dev-node-2",
        user: "lab",
        host: "10.77.0.11",
        port: 2223,
        proxyJump: "ops@hv1.example.com",
        privateAddress: "10.77.0.11",
        hostPublicKey: "ssh-ed25519 AAAATWO",
        hostKeyFingerprint: "SHA256:two",
        arch: "aarch64",
    },
];

describe("paste-able outputs", () => {
    it("ssh commands pin the host key by alias and add port and jump only when needed", () => {
        expect(sshCommand("dev", nodes[0]!)).toBe(
            "ssh -o HostKeyAlias=dev-node-1 -o UserKnownHostsFile=~/.ssh/nixlab/dev.known_hosts -o StrictHostKeyChecking=yes lab@203.0.113.10",
        );
        expect(sshCommand("dev", nodes[1]!)).toBe(
            "ssh -o HostKeyAlias=dev-node-2 -o UserKnownHostsFile=~/.ssh/nixlab/dev.known_hosts -o StrictHostKeyChecking=yes -p 2223 -J ops@hv1.example.com lab@10.77.0.11",
        );
    });

    it("ssh_config has one strict Host block per node", () => {
        expect(renderSshConfig("dev", nodes)).toBe(
            [
                "# nixlab lab dev",
                "Host dev-node-1",
                "    HostName 203.0.113.10",
                "    Port 22",
                "    User lab",
                "    HostKeyAlias dev-node-1",
                "    UserKnownHostsFile ~/.ssh/nixlab/dev.known_hosts",
                "    StrictHostKeyChecking yes",
                "",
                "Host dev-node-2",
                "    HostName 10.77.0.11",
                "    Port 2223",
                "    User lab",
                "    HostKeyAlias dev-node-2",
                "    UserKnownHostsFile ~/.ssh/nixlab/dev.known_hosts",
                "    StrictHostKeyChecking yes",
                "    ProxyJump ops@hv1.example.com",
                "",
            ].join("\n"),
        );
    });

    it("known_hosts lines are keyed by the alias the ssh options use", () => {
        expect(renderKnownHosts(nodes)).toBe("dev-node-1 ssh-ed25519 AAAAONE\ndev-node-2 ssh-ed25519 AAAATWO\n");
    });

    it("the Ansible inventory uses NixOS's python and groups hosts by arch", () => {
        const inv = parse(renderAnsibleInventory("dev", nodes));
        expect(inv.all.vars).toEqual({
            ansible_user: "lab",
            ansible_python_interpreter: "/run/current-system/sw/bin/python3",
            nixlab_lab: "dev",
        });
        // One name for a node everywhere: the ssh_config Host, the known_hosts key, the inventory host.
        expect(Object.keys(inv.all.hosts)).toEqual(["dev-node-1", "dev-node-2"]);
        expect(Object.keys(inv.all.hosts)).toEqual([...renderSshConfig("dev", nodes).matchAll(/^Host (\S+)$/gm)].map((m) => m[1]));
        expect(Object.keys(inv.all.hosts)).toEqual(renderKnownHosts(nodes).trim().split("\n").map((l) => l.split(" ")[0]));
        expect(inv.all.hosts["dev-node-2"]).toEqual({
            ansible_host: "10.77.0.11",
            ansible_port: 2223,
            nixlab_node: "node-2",
            nixlab_private_address: "10.77.0.11",
            ansible_ssh_common_args:
                "-o HostKeyAlias=dev-node-2 -o UserKnownHostsFile=~/.ssh/nixlab/dev.known_hosts -o StrictHostKeyChecking=yes -o ProxyJump=ops@hv1.example.com",
        });
        expect(inv.all.children).toEqual({ x86_64: { hosts: { "dev-node-1": null } }, aarch64: { hosts: { "dev-node-2": null } } });
    });
});
