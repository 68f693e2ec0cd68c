import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { labImageArtifact } from "../images/build";
import type { Backend, BackendContext, LabNode, Placement } from "./backend";
import { Clock } from "./clock";
import { renderCloudConfig } from "./cloudinit";
import { placeLab } from "./config";
import { NodeAccess, renderAnsibleInventory, renderKnownHosts, renderSshConfig, sshCommand } from "./outputs";
import { ConfigError } from "./problems";
import { Arch, LabSpec, nodeAddress, ttlMillis } from "./spec";
import { labTags } from "./tags";

export interface LabArgs {
    /** The validated lab (see `parseLabConfig`). */
    spec: LabSpec;
    /** Where the lab runs. */
    backend: Backend;
    /** Stack name, for the `nixlab:stack` tag. @default - the current Pulumi stack */
    stack?: string;
    /** The checked placement from loadProgramConfig. @default - computed (and checked) here */
    placement?: Placement;
    /** Directory relative image paths and the flake are resolved against. @default - process.cwd() */
    projectDir?: string;
}

/** Per-node stack output. */
export interface NodeOutput {
    name: string;
    machineType: string;
    privateAddress: string;
    sshHost: string;
    sshPort: number;
    /** The lab user (`nixlab:lab.user.name`) to log in as. */
    user: string;
    /** `ssh -J` jump host, when the node is reachable only through one (absent otherwise). */
    proxyJump?: string;
    /** The same access as one paste-able command line (user, port and jump host included). */
    ssh: string;
    hostKeyFingerprints: { ed25519: string };
    ready: string;
}

/**
 * Everything that can be checked before a resource is registered: the backend's capability
 * check and machine choice, user-data sizes, and child names that config would make
 * collide. Throws one ConfigError with all problems.
 */
export function planLab(spec: LabSpec, backend: Backend): Placement {
    const { placement, problems } = placeLab(spec, backend);
    if (problems.length > 0) throw new ConfigError(problems);
    return placement;
}

/**
 * A lab: network → images → nodes (host keys, cloud-init, volumes) → outputs, through
 * whichever backend it is given. Nothing in here knows which cloud it is on.
 */
export class Lab extends pulumi.ComponentResource {
    declare readonly nodes: pulumi.Output<Record<string, NodeOutput>>;
    declare readonly sshConfig: pulumi.Output<string>;
    declare readonly knownHosts: pulumi.Output<string>;
    declare readonly ansibleInventory: pulumi.Output<string>;
    declare readonly expiresAt: pulumi.Output<string>;
    /** Private key authorized on every node (readiness checks, `nixlab ssh`). Secret. */
    declare readonly operatorPrivateKey: pulumi.Output<string>;

    constructor(name: string, args: LabArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nixlab:index:Lab", name, {}, opts);
        const { spec, backend } = args;
        const stack = args.stack ?? pulumi.getStack();
        const placement = args.placement ?? planLab(spec, backend);

        const expiresAt: pulumi.Output<string> = spec.expiresAt
            ? pulumi.output(spec.expiresAt)
            : new Clock(`${name}-clock`, { ttlMillis: ttlMillis(spec.ttl) }, { parent: this }).expiresAt;
        const ctx: BackendContext = { parent: this, lab: spec, stack, tags: labTags(spec, stack, expiresAt) };

        const operatorKey = new tls.PrivateKey(`${name}-operator-key`, { algorithm: "ED25519" }, { parent: this });
        const operatorPrivateKey = pulumi.secret(operatorKey.privateKeyOpenssh);

        const network = backend.createNetwork(ctx, `${name}-net`);

        const arches = [...new Set(spec.nodes.map((n) => n.arch))].sort();
        const images = new Map<Arch, unknown>();
        for (const arch of arches) {
            const artifact = labImageArtifact({
                name: `${name}-image-${arch}`,
                parent: this,
                backend: backend.kind,
                arch,
                image: spec.image,
                projectDir: args.projectDir,
            });
            images.set(arch, backend.createImage(ctx, `${name}-image-${arch}`, { arch, artifact, network }));
        }

        const built: { spec: (typeof spec.nodes)[number]; node: LabNode; hostKey: tls.PrivateKey }[] = [];
        for (const node of spec.nodes) {
            const nodeName = `${name}-${node.name}`;
            // One host key per node, generated here so known_hosts is known before boot.
            const hostKey = new tls.PrivateKey(`${nodeName}-host-ed25519`, { algorithm: "ED25519" }, { parent: this });
            const userData = pulumi.secret(
                pulumi
                    .all([hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh, operatorKey.publicKeyOpenssh])
                    .apply(([hostPrivateKey, hostPublicKey, operatorPublicKey]) =>
                        renderCloudConfig({ lab: spec, node, keys: { hostPrivateKey, hostPublicKey, operatorPublicKey } }),
                    ),
            );
            const volumes = node.volumes.map((volume, volumeIndex) =>
                backend.createVolume(ctx, `${nodeName}-${volume.name}`, { node, volume, volumeIndex, network }),
            );
            const labNode = backend.createNode(ctx, nodeName, {
                node,
                machine: placement.machines[node.name]!,
                userData,
                privateAddress: nodeAddress(spec, node),
                image: images.get(node.arch),
                network,
                volumes,
                operatorPrivateKey,
                hostPublicKey: hostKey.publicKeyOpenssh,
            });
            built.push({ spec: node, node: labNode, hostKey });
        }

        const access = pulumi.all(
            built.map(({ spec: n, node, hostKey }) =>
                pulumi
                    .all([
                        node.sshHost,
                        node.sshPort,
                        node.sshProxyJump ?? pulumi.output(undefined),
                        node.privateAddress,
                        hostKey.publicKeyOpenssh,
                        hostKey.publicKeyFingerprintSha256,
                    ])
                    .apply(
                        ([host, port, proxyJump, privateAddress, hostPublicKey, hostKeyFingerprint]): NodeAccess => ({
                            name: n.name,
                            alias: `${spec.name}-${n.name}`,
                            user: spec.user.name,
                            host,
                            port,
                            proxyJump: proxyJump ?? undefined,
                            privateAddress,
                            hostPublicKey,
                            hostKeyFingerprint,
                            arch: n.arch,
                        }),
                    ),
            ),
        );

        this.nodes = pulumi.all([access, pulumi.all(built.map((b) => b.node.ready))]).apply(([nodes, ready]) => {
            const out: Record<string, NodeOutput> = {};
            nodes.forEach((n, i) => {
                out[n.name] = {
                    name: n.name,
                    machineType: placement.machines[n.name]!.machineType,
                    privateAddress: n.privateAddress,
                    sshHost: n.host,
                    sshPort: n.port,
                    user: n.user,
                    // Key left out when there is no jump host (as sshCommand leaves out -J), so
                    // the stack output has no null field.
                    ...(n.proxyJump ? { proxyJump: n.proxyJump } : {}),
                    ssh: sshCommand(spec.name, n),
                    hostKeyFingerprints: { ed25519: n.hostKeyFingerprint },
                    ready: ready[i]!,
                };
            });
            return out;
        });
        this.sshConfig = access.apply((nodes) => renderSshConfig(spec.name, nodes));
        this.knownHosts = access.apply((nodes) => renderKnownHosts(nodes));
        this.ansibleInventory = access.apply((nodes) => renderAnsibleInventory(spec.name, nodes));
        this.expiresAt = expiresAt;
        this.operatorPrivateKey = operatorPrivateKey;

        this.registerOutputs({
            nodes: this.nodes,
            sshConfig: this.sshConfig,
            knownHosts: this.knownHosts,
            ansibleInventory: this.ansibleInventory,
            expiresAt: this.expiresAt,
        });
    }
}
