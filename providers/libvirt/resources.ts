/**
 * The libvirt resources as Pulumi sees them: thin `pulumi.dynamic.Resource` classes over
 * ONE provider object, ./provider's `libvirtProvider` (type tokens
 * `pulumi-nodejs:dynamic/nixlab-libvirt:<Type>`). Each class sets the `kind` input (its
 * type name) that the provider dispatches on: the SDK serializes a provider once per
 * object, and one object instead of six saves ~0.25 s of every run (see libvirtProvider).
 * Every computed output is declared as an `undefined` input, or the SDK would not expose it.
 */
import * as pulumi from "@pulumi/pulumi";
import {
    LIBVIRT_KINDS,
    libvirtProvider,
    type LibvirtKind,
    type DomainInputs,
    type ImageVolumeInputs,
    type NetworkInputs,
    type PoolInputs,
    type SeedVolumeInputs,
    type VolumeInputs,
} from "./provider";

export const MODULE = "nixlab-libvirt";

type Args<T> = { [K in keyof T]: pulumi.Input<T[K]> };

export class Pool extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly path: pulumi.Output<string>;
    /** libvirt's UUID of the pool: every volume checks it before touching the pool. */
    declare readonly uuid: pulumi.Output<string>;
    constructor(name: string, args: Args<PoolInputs>, opts?: pulumi.CustomResourceOptions) {
        super(libvirtProvider, name, { ...args, kind: "Pool" satisfies LibvirtKind, uuid: undefined }, opts, MODULE, "Pool");
    }
}

export class Network extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly generation: pulumi.Output<string>;
    constructor(name: string, args: Args<NetworkInputs>, opts?: pulumi.CustomResourceOptions) {
        super(libvirtProvider, name, { ...args, kind: "Network" satisfies LibvirtKind, generation: undefined, uuid: undefined }, opts, MODULE, "Network");
    }
}

export class ImageVolume extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly path: pulumi.Output<string>;
    declare readonly format: pulumi.Output<string>;
    declare readonly capacityBytes: pulumi.Output<number>;
    constructor(name: string, args: Args<ImageVolumeInputs>, opts?: pulumi.CustomResourceOptions) {
        super(libvirtProvider, name, { ...args, kind: "ImageVolume" satisfies LibvirtKind, path: undefined, key: undefined, capacityBytes: undefined }, opts, MODULE, "ImageVolume");
    }
}

export class Volume extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly path: pulumi.Output<string>;
    declare readonly generation: pulumi.Output<string>;
    constructor(name: string, args: Args<VolumeInputs>, opts?: pulumi.CustomResourceOptions) {
        super(libvirtProvider, name, { ...args, kind: "Volume" satisfies LibvirtKind, path: undefined, key: undefined, generation: undefined }, opts, MODULE, "Volume");
    }
}

export class SeedVolume extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly path: pulumi.Output<string>;
    declare readonly instanceId: pulumi.Output<string>;
    constructor(name: string, args: Args<SeedVolumeInputs>, opts?: pulumi.CustomResourceOptions) {
        super(
            libvirtProvider,
            name,
            { ...args, kind: "SeedVolume" satisfies LibvirtKind, userDataSha256: undefined, instanceId: undefined, path: undefined, key: undefined },
            // user-data carries the node's SSH host private key.
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["userData"] }),
            MODULE,
            "SeedVolume",
        );
    }
}

export class Domain extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly uuid: pulumi.Output<string>;
    /** The NIXLAB-READY line seen on the console when the node last booted. */
    declare readonly ready: pulumi.Output<string>;
    constructor(name: string, args: Args<DomainInputs>, opts?: pulumi.CustomResourceOptions) {
        super(libvirtProvider, name, { ...args, kind: "Domain" satisfies LibvirtKind, uuid: undefined, ready: undefined, lastBoot: undefined }, opts, MODULE, "Domain");
    }
}

/**
 * The provider by type token: the same object for every libvirt type (the `kind` input
 * tells them apart). Test equipment may run it directly instead of evaluating the
 * serialized `__provider` text.
 */
export const dynamicProviders: Record<string, pulumi.dynamic.ResourceProvider> = Object.fromEntries(
    LIBVIRT_KINDS.map((kind) => [`pulumi-nodejs:dynamic/${MODULE}:${kind}`, libvirtProvider]),
);
