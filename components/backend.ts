/**
 * The one small interface every backend implements. `components/` only talks to this;
 * everything cloud-specific lives behind it in `providers/<backend>/`.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ImageArtifact } from "../images/artifact";
import type { Problem } from "./problems";
import type { Arch, LabSpec, NodeSpec, VolumeSpec } from "./spec";

export const BACKENDS = ["libvirt", "aws", "gcp", "azure", "openstack"] as const;
export type BackendKind = (typeof BACKENDS)[number];

/** What every backend call gets: where to hang children and what to tag them with. */
export interface BackendContext {
    /** The Lab component; parent of every child. */
    parent: pulumi.Resource;
    lab: LabSpec;
    /** Stack name (`nixlab:stack` tag, names). */
    stack: string;
    /**
     * `nixlab:lab`, `nixlab:owner`, `nixlab:stack`, `nixlab:expires-at` plus the lab's own
     * tags, computed once by `labTags`. Backends whose clouds forbid ':' in keys (GCP
     * labels) map them with their own function, never drop them.
     */
    tags: pulumi.Output<Record<string, string>>;
}

/** The machine a node resolves to on a backend, decided before any resource exists. */
export interface MachineChoice {
    /** Instance type / machine type / VM size / flavor / QEMU machine type (q35, virt) for libvirt. */
    machineType: string;
    /** Why this one: catalog entry and its source, or "set in config". */
    reason: string;
    /** Backend-specific knobs the choice implies (e.g. nested virtualization CPU option). */
    nestedVirtualization: boolean;
    /** vCPUs the machine type gives (for libvirt: the node's own request). */
    vcpus: number;
    /** Memory the machine type gives, in GiB (GCP's catalog says GB and means GiB). */
    memoryGiB: number;
}

export interface Placement {
    problems: Problem[];
    /** Keyed by node name; complete when `problems` is empty. */
    machines: Record<string, MachineChoice>;
}

export interface VolumeArgs<Net> {
    node: NodeSpec;
    volume: VolumeSpec;
    /** Position among the node's volumes; device naming on some clouds depends on it. */
    volumeIndex: number;
    network: Net;
}

export interface NodeArgs<Net, Img, Vol> {
    node: NodeSpec;
    machine: MachineChoice;
    /** Rendered `#cloud-config`; a secret because it holds the node's SSH host private keys. */
    userData: pulumi.Output<string>;
    /** Fixed private address inside the lab network (`.10 + index`). */
    privateAddress: string;
    image: Img;
    network: Net;
    volumes: Vol[];
    /** Program-generated key the backend may use to check readiness over SSH. */
    operatorPrivateKey: pulumi.Output<string>;
}

/** What the Lab needs back from a node. */
export interface LabNode {
    /** The main resource (VM/instance/domain): dependencies hang on it. */
    resource: pulumi.Resource;
    /** Where a person's `ssh` connects to. */
    sshHost: pulumi.Output<string>;
    sshPort: pulumi.Output<number>;
    /** Extra ssh options needed to reach the node (e.g. ProxyJump for a remote hypervisor). */
    sshProxyJump?: pulumi.Output<string | undefined>;
    privateAddress: pulumi.Output<string>;
    /** Resolves once cloud-init has finished (and /dev/kvm is usable where asked for). */
    ready: pulumi.Output<string>;
}

export interface Backend<Net = unknown, Img = unknown, Vol = unknown> {
    readonly kind: BackendKind;
    /** Largest user-data the backend accepts, in bytes, before any encoding. */
    readonly userDataLimitBytes: number;
    /**
     * Capability check and machine choice for every node. Refuses impossible specs
     * (e.g. aarch64 + nested where the cloud has no such machine) before anything is
     * registered; each problem names the key path and what would work.
     */
    place(lab: LabSpec): Placement;
    /** First call: explicit provider instances and the lab's isolated network. */
    createNetwork(ctx: BackendContext, name: string): Net;
    /** A bootable image from a built artifact; physical names derive from `artifact.hash`. */
    createImage(ctx: BackendContext, name: string, args: { arch: Arch; artifact: pulumi.Output<ImageArtifact>; network: Net }): Img;
    createVolume(ctx: BackendContext, name: string, args: VolumeArgs<Net>): Vol;
    createNode(ctx: BackendContext, name: string, args: NodeArgs<Net, Img, Vol>): LabNode;
}

/** Each backend's entry point: parses its own config key, then builds the Backend. */
export interface BackendFactory {
    readonly kind: BackendKind;
    /** e.g. `nixlab:aws`; errors in it name paths under this key. */
    readonly configKey: string;
    /** Validates the backend's config (throws ConfigError with every problem). */
    fromConfig(raw: unknown): Backend;
}

/** Compile-time exhaustiveness for switches over closed unions. */
export function assertNever(x: never, what: string): never {
    throw new Error(`unhandled ${what}: ${String(x)}`);
}
