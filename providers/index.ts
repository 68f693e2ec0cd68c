/**
 * Backend registry. A mapped type over BackendKind: adding a backend to BACKENDS does
 * not compile until it has a loader here.
 *
 * Loaders, not imports: a backend's code, and with it its cloud SDK, loads only when a
 * stack chooses that backend. Each SDK is hundreds of modules (@pulumi/aws ~300,
 * @pulumi/gcp ~160) and loading all four cost every stack, libvirt included, seconds
 * before its first resource (issue 11). `import()`, which every loader this project runs
 * under keeps lazy: Pulumi's ts-node and tsc (CommonJS) compile it to a deferred
 * `require`, scripts/ts-hook.cjs (esbuild) likewise, and vitest loads it on demand, so a
 * test file pays only for the SDKs of the backends it uses.
 */
import type { BackendFactory, BackendKind } from "../components/backend";

export type BackendLoader = () => Promise<BackendFactory>;

export const backendLoaders: { [k in BackendKind]: BackendLoader } = {
    libvirt: async () => (await import("./libvirt")).factory,
    aws: async () => (await import("./aws")).factory,
    gcp: async () => (await import("./gcp")).factory,
    azure: async () => (await import("./azure")).factory,
    openstack: async () => (await import("./openstack")).factory,
};
