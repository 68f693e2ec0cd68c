/**
 * Backend registry. A mapped type over BackendKind: adding a backend to BACKENDS does
 * not compile until it has a factory here.
 */
import type { BackendFactory, BackendKind } from "../components/backend";
import { factory as aws } from "./aws";
import { factory as azure } from "./azure";
import { factory as gcp } from "./gcp";
import { factory as libvirt } from "./libvirt";
import { factory as openstack } from "./openstack";

export const backendFactories: { [k in BackendKind]: BackendFactory } = { libvirt, aws, gcp, azure, openstack };
