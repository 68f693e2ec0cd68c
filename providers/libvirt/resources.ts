/**
 * The libvirt resources as Pulumi sees them: thin `pulumi.dynamic.Resource` classes over
 * the providers in ./provider (type tokens `pulumi-nodejs:dynamic/nixlab-libvirt:<Type>`).
 * Every computed output is declared as an `undefined` input, or the SDK would not expose it.
 */
import * as pulumi from "@pulumi/pulumi";
import {
    domainProvider,
    imageVolumeProvider,
    networkProvider,
    poolProvider,
    seedVolumeProvider,
    volumeProvider,
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
        super(poolProvider, name, { ...args, uuid: undefined }, opts, MODULE, "Pool");
    }
}

export class Network extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly generation: pulumi.Output<string>;
    constructor(name: string, args: Args<NetworkInputs>, opts?: pulumi.CustomResourceOptions) {
        super(networkProvider, name, { ...args, generation: undefined, uuid: undefined }, opts, MODULE, "Network");
    }
}

export class ImageVolume extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly path: pulumi.Output<string>;
    declare readonly format: pulumi.Output<string>;
    declare readonly capacityBytes: pulumi.Output<number>;
    constructor(name: string, args: Args<ImageVolumeInputs>, opts?: pulumi.CustomResourceOptions) {
        super(imageVolumeProvider, name, { ...args, path: undefined, key: undefined, capacityBytes: undefined }, opts, MODULE, "ImageVolume");
    }
}

export class Volume extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly path: pulumi.Output<string>;
    declare readonly generation: pulumi.Output<string>;
    constructor(name: string, args: Args<VolumeInputs>, opts?: pulumi.CustomResourceOptions) {
        super(volumeProvider, name, { ...args, path: undefined, key: undefined, generation: undefined }, opts, MODULE, "Volume");
    }
}

export class SeedVolume extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly path: pulumi.Output<string>;
    declare readonly instanceId: pulumi.Output<string>;
    constructor(name: string, args: Args<SeedVolumeInputs>, opts?: pulumi.CustomResourceOptions) {
        super(
            seedVolumeProvider,
            name,
            { ...args, userDataSha256: undefined, instanceId: undefined, path: undefined, key: undefined },
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
        super(domainProvider, name, { ...args, uuid: undefined, ready: undefined, lastBoot: undefined }, opts, MODULE, "Domain");
    }
}

/**
 * Provider objects by type token. Test equipment (the real-libvirt engine harness) runs
 * them directly instead of evaluating the serialized `__provider` text.
 */
export const dynamicProviders: Record<string, pulumi.dynamic.ResourceProvider> = {
    [`pulumi-nodejs:dynamic/${MODULE}:Pool`]: poolProvider,
    [`pulumi-nodejs:dynamic/${MODULE}:Network`]: networkProvider,
    [`pulumi-nodejs:dynamic/${MODULE}:ImageVolume`]: imageVolumeProvider,
    [`pulumi-nodejs:dynamic/${MODULE}:Volume`]: volumeProvider,
    [`pulumi-nodejs:dynamic/${MODULE}:SeedVolume`]: seedVolumeProvider,
    [`pulumi-nodejs:dynamic/${MODULE}:Domain`]: domainProvider,
};
