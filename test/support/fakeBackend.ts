/**
 * Test equipment: a backend that registers plain custom resources, so the Lab's own
 * behaviour (names, parents, keys, cloud-init, outputs) is tested apart from any cloud.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Backend, BackendContext, LabNode, NodeArgs, Placement, VolumeArgs } from "../../components/backend";
import type { ImageArtifact } from "../../images/artifact";
import type { Arch, LabSpec } from "../../components/spec";

class Thing extends pulumi.CustomResource {
    declare readonly address: pulumi.Output<string>;
    constructor(type: string, name: string, props: Record<string, unknown>, opts: pulumi.CustomResourceOptions) {
        super(`nixlab-test:index:${type}`, name, { address: undefined, ...props }, opts);
    }
}

export interface FakeBackendOptions {
    userDataLimitBytes?: number;
    refuse?: (lab: LabSpec) => Placement["problems"];
}

export function fakeBackend(opts: FakeBackendOptions = {}): Backend<Thing, Thing, Thing> {
    return {
        kind: "libvirt",
        userDataLimitBytes: opts.userDataLimitBytes ?? 65536,
        naming: {
            lab: [
                { namespace: "nixlab-test:index:Network", suffix: "-net" },
                { namespace: "nixlab-test:index:Image", suffix: "-image-{arch}" },
            ],
            node: [{ namespace: "nixlab-test:index:Node", suffix: "" }],
            volume: [{ namespace: "nixlab-test:index:Volume", suffix: "" }],
        },
        place(lab: LabSpec): Placement {
            return {
                problems: opts.refuse?.(lab) ?? [],
                machines: Object.fromEntries(
                    lab.nodes.map((n) => [n.name, { machineType: `fake-${n.vcpus}x${n.memoryGiB}`, reason: "test", nestedVirtualization: n.kvm === "nested", vcpus: n.vcpus, memoryGiB: n.memoryGiB }]),
                ),
            };
        },
        createNetwork(ctx: BackendContext, name: string) {
            return new Thing("Network", name, { cidr: ctx.lab.network.cidr, tags: ctx.tags }, { parent: ctx.parent });
        },
        createImage(ctx: BackendContext, name: string, args: { arch: Arch; artifact: pulumi.Output<ImageArtifact>; network: Thing }) {
            return new Thing("Image", name, { arch: args.arch, artifact: args.artifact, tags: ctx.tags }, { parent: ctx.parent });
        },
        createVolume(ctx: BackendContext, name: string, args: VolumeArgs<Thing>) {
            return new Thing("Volume", name, { sizeGiB: args.volume.sizeGiB, tags: ctx.tags }, { parent: ctx.parent });
        },
        createNode(ctx: BackendContext, name: string, args: NodeArgs<Thing, Thing, Thing>): LabNode {
            const vm = new Thing(
                "Node",
                name,
                {
                    machineType: args.machine.machineType,
                    userData: args.userData,
                    privateAddress: args.privateAddress,
                    image: args.image.id,
                    volumes: args.volumes.map((v) => v.id),
                    tags: ctx.tags,
                },
                { parent: ctx.parent },
            );
            return {
                resource: vm,
                sshHost: vm.address,
                sshPort: pulumi.output(22),
                privateAddress: pulumi.output(args.privateAddress),
                ready: vm.id.apply((id) => `NIXLAB-READY ${id}`),
            };
        },
    };
}
