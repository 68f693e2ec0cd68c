/**
 * Records when a lab was first created, so `nixlab:expires-at` is stable across `up`s
 * (computing it from Date.now() in the program would retag every resource on every run).
 * A dynamic provider because no packaged provider offers a static timestamp without a
 * plugin download; it holds no secrets and talks to nothing.
 */
import * as pulumi from "@pulumi/pulumi";

export interface ClockInputs {
    /** Lifetime in milliseconds from creation. */
    ttlMillis: number;
}

interface ClockOutputs extends ClockInputs {
    createdAt: string;
    expiresAt: string;
}

// Methods use only their arguments and globals: the object is serialized into state.
export const clockProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ClockInputs): Promise<pulumi.dynamic.CreateResult<ClockOutputs>> {
        const createdAt = new Date().toISOString();
        const expiresAt = new Date(Date.parse(createdAt) + inputs.ttlMillis).toISOString();
        return { id: createdAt, outs: { ttlMillis: inputs.ttlMillis, createdAt, expiresAt } };
    },
    async diff(_id: string, olds: ClockOutputs, news: ClockInputs): Promise<pulumi.dynamic.DiffResult> {
        const changed = olds.ttlMillis !== news.ttlMillis;
        return { changes: changed, replaces: [], stables: ["createdAt"] };
    },
    async update(_id: string, olds: ClockOutputs, news: ClockInputs): Promise<pulumi.dynamic.UpdateResult<ClockOutputs>> {
        // A new ttl counts from the original creation, like `nixlab up --ttl` on a running lab.
        const expiresAt = new Date(Date.parse(olds.createdAt) + news.ttlMillis).toISOString();
        return { outs: { ttlMillis: news.ttlMillis, createdAt: olds.createdAt, expiresAt } };
    },
};

export class Clock extends pulumi.dynamic.Resource {
    declare readonly createdAt: pulumi.Output<string>;
    declare readonly expiresAt: pulumi.Output<string>;
    constructor(name: string, args: { ttlMillis: pulumi.Input<number> }, opts?: pulumi.CustomResourceOptions) {
        super(clockProvider, name, { ...args, createdAt: undefined, expiresAt: undefined }, opts, "nixlab", "Clock");
    }
}
