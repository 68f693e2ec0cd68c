/**
 * Backend registry. A mapped type over BackendKind: adding a backend to BACKENDS does
 * not compile until it has a loader here.
 *
 * Loaders, not imports: a backend's code, and with it its cloud SDK, loads only when a
 * stack chooses that backend. Each SDK is hundreds of modules (@pulumi/aws ~300,
 * @pulumi/gcp ~160) and loading all four cost every stack, libvirt included, seconds
 * before its first resource (issue 11). `require` keeps the program synchronous, as
 * `pulumi up` runs it (ts-node's CommonJS hook); under vitest, which cannot `require`
 * TypeScript, vitest.config.mts turns these into static imports.
 */
import type { BackendFactory, BackendKind } from "../components/backend";

export type BackendLoader = () => BackendFactory;

export const backendLoaders: { [k in BackendKind]: BackendLoader } = {
    libvirt: () => (require("./libvirt") as typeof import("./libvirt")).factory,
    aws: () => (require("./aws") as typeof import("./aws")).factory,
    gcp: () => (require("./gcp") as typeof import("./gcp")).factory,
    azure: () => (require("./azure") as typeof import("./azure")).factory,
    openstack: () => (require("./openstack") as typeof import("./openstack")).factory,
};
