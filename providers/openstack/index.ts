/**
 * The OpenStack backend: a network, subnet, router and security group per lab, a Glance
 * image per architecture, and instances on flavors the stack file describes (bare-metal
 * flavors for kvm: metal). See config.ts for why the flavor catalog is configuration.
 */
import type * as images from "@pulumi/openstack/images";
import type { Backend, BackendFactory } from "../../components/backend";
import type { NamingScheme } from "../../components/names";
import { OPENSTACK_CONFIG_KEY, parseOpenStackConfig, type OpenStackConfig } from "./config";
import { placeOpenStack } from "./place";
import {
    createOpenStackImage,
    createOpenStackNetwork,
    createOpenStackNode,
    createOpenStackVolume,
    type OpenStackNet,
    type OpenStackVolume,
} from "./resources";

/**
 * Nova's server schema limits `user_data` to 65535 characters *after* base64
 * (nova/api/openstack/compute/schemas/servers.py: format base64, maxLength 65535), which
 * leaves 3 * floor(65535 / 4) bytes of cloud-config.
 */
export const OPENSTACK_USER_DATA_LIMIT_BYTES = 3 * Math.floor(65535 / 4);

/**
 * Child names on OpenStack (resources.ts). OpenStack does not require unique physical names, so only URNs can meet.
 * Checked against what the program registers by test/names.test.ts.
 */
export const OPENSTACK_NAMING: NamingScheme = {
    lab: [
        { namespace: "pulumi:providers:openstack", suffix: "-net-provider" },
        { namespace: "openstack:networking/network:Network", suffix: "-net" },
        { namespace: "openstack:networking/subnet:Subnet", suffix: "-net-subnet" },
        { namespace: "openstack:networking/secGroup:SecGroup", suffix: "-net-secgroup" },
        { namespace: "openstack:networking/secGroupRule:SecGroupRule", suffix: "-net-internal" },
        { namespace: "openstack:networking/secGroupRule:SecGroupRule", suffix: "-net-ssh-{index}" },
        { namespace: "openstack:networking/secGroupRule:SecGroupRule", suffix: "-net-egress" },
        { namespace: "openstack:networking/router:Router", suffix: "-net-router" },
        { namespace: "openstack:networking/routerInterface:RouterInterface", suffix: "-net-router-interface" },
        { namespace: "openstack:images/image:Image", suffix: "-image-{arch}" },
    ],
    node: [
        { namespace: "openstack:compute/instance:Instance", suffix: "" },
        { namespace: "openstack:networking/port:Port", suffix: "-port" },
        { namespace: "openstack:networking/floatingIp:FloatingIp", suffix: "-fip" },
        { namespace: "openstack:networking/floatingIpAssociate:FloatingIpAssociate", suffix: "-fip-associate" },
        { namespace: "command:remote:Command", suffix: "-ready" },
    ],
    volume: [
        { namespace: "openstack:blockstorage/volume:Volume", suffix: "" },
        { namespace: "openstack:compute/volumeAttach:VolumeAttach", suffix: "-attach" },
    ],
};

export function openstackBackend(cfg: OpenStackConfig): Backend<OpenStackNet, images.Image, OpenStackVolume> {
    return {
        kind: "openstack",
        naming: OPENSTACK_NAMING,
        userDataLimitBytes: OPENSTACK_USER_DATA_LIMIT_BYTES,
        place: (lab) => placeOpenStack(cfg, lab),
        createNetwork: (ctx, name) => createOpenStackNetwork(cfg, ctx, name),
        createImage: (ctx, name, args) => createOpenStackImage(cfg, ctx, name, args),
        createVolume: (ctx, name, args) => createOpenStackVolume(cfg, ctx, name, args),
        createNode: (ctx, name, args) => createOpenStackNode(cfg, ctx, name, args),
    };
}

export const factory: BackendFactory = {
    kind: "openstack",
    configKey: OPENSTACK_CONFIG_KEY,
    fromConfig: (raw) => openstackBackend(parseOpenStackConfig(raw)),
};
