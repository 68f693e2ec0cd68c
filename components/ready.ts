/**
 * "Ready means ready": a node counts as up when cloud-init has finished and, where the
 * node asked for KVM, /dev/kvm exists. Cloud backends check it over SSH with the lab's
 * operator key; the check re-runs only when the node is replaced (triggers).
 */
import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { READY_MARKER } from "./cloudinit";
import type { Problem } from "./problems";
import type { LabSpec, NodeSpec } from "./spec";

/** The remote script. `cloud-init status --wait` exits 0 when done, 2 when done with recoverable errors. */
export function readinessScript(node: NodeSpec): string {
    const kvm =
        node.kvm === "none"
            ? 'kvm=not-required'
            : 'if [ -c /dev/kvm ]; then kvm=ok; else echo "node ' +
              node.name +
              ': /dev/kvm missing although kvm: ' +
              node.kvm +
              ' was asked for; check the machine type" >&2; exit 3; fi';
    return [
        "set -u",
        "rc=0; cloud-init status --wait >/dev/null 2>&1 || rc=$?",
        'if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then cloud-init status --long >&2; exit 1; fi',
        kvm,
        `echo "${READY_MARKER} node=${node.name} kvm=$kvm cloud-init-rc=$rc"`,
    ].join("\n");
}

export interface SshReadinessArgs {
    node: NodeSpec;
    host: pulumi.Input<string>;
    port?: pulumi.Input<number>;
    user: string;
    privateKey: pulumi.Input<string>;
    /** Re-run the check when these change (the instance id). */
    triggers: pulumi.Input<unknown>[];
    /** A bastion to hop through, when the node has no reachable address of its own. */
    proxy?: { host: pulumi.Input<string>; user?: pulumi.Input<string>; port?: pulumi.Input<number> };
}

export function sshReadiness(name: string, args: SshReadinessArgs, opts: pulumi.CustomResourceOptions): pulumi.Output<string> {
    // Loaded here, not at the top: placement code imports this module for
    // sshIngressProblems, and a libvirt stack never needs the command SDK (issue 11).
    const { remote } = require("@pulumi/command") as typeof command;
    const check = new remote.Command(
        name,
        {
            connection: {
                host: args.host,
                port: args.port ?? 22,
                user: args.user,
                privateKey: args.privateKey,
                // A fresh VM takes a while to start sshd: ~10 minutes of retries (defaults are
                // 10 attempts, which a slow first boot with a big image can exhaust). Bare-metal
                // hosts run minutes of firmware POST first: ~30 minutes for them.
                dialErrorLimit: args.node.kvm === "metal" ? 180 : 60,
                perDialTimeout: 10,
                ...(args.proxy
                    ? { proxy: { host: args.proxy.host, user: args.proxy.user, port: args.proxy.port ?? 22, privateKey: args.privateKey } }
                    : {}),
            },
            create: readinessScript(args.node),
            triggers: args.triggers,
        },
        opts,
    );
    return check.stdout.apply((s) => s.trim());
}

/**
 * For backends that check readiness over SSH from where Pulumi runs, which is never inside
 * a lab's new, isolated network: with no ingress CIDR, `up` could only time out.
 */
export function sshIngressProblems(lab: LabSpec): Problem[] {
    if (lab.network.sshIngressCidrs.length > 0) return [];
    return [
        {
            path: "nixlab:lab.network.sshIngressCidrs",
            message:
                "is empty, so nothing outside the lab can reach SSH and `up` would wait for readiness until it times out; " +
                "add the address Pulumi runs from, e.g. [203.0.113.7/32]",
        },
    ];
}
