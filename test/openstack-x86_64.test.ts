/**
 * `npm run plan -- --stack openstack-x86_64`, in-process: the real program on the real
 * stack file under mocks in preview mode, with a prebuilt qcow2 instead of a Nix build and a
 * fixed expiry. Asserts the graph, the flavor and boot volume, the image and its
 * properties, tags on every taggable resource, the security group rules, the user-data
 * field, and keeps a snapshot.
 */
import { stackId } from "../components/names";
import { describe, expect, it } from "vitest";
import { QCOW2_MAGIC, ofType, oneOf, planInputs as inputs, planSnapshot, providerRecorder, useStackRun } from "./support/stackRun";

const STACK = "openstack-x86_64";
/** The stack id in every OpenStack name (components/names.ts). */
const SID = stackId(STACK);
const SHA = "7e".repeat(32);
const EXPIRES = "2026-11-24T18:00:00Z";
const LAB_TAGS = { "nixlab:lab": "kvm-os", "nixlab:owner": "alice@example.com", "nixlab:stack": STACK, "nixlab:expires-at": EXPIRES };
const LAB_TAG_LIST = ["nixlab:expires-at=2026-11-24T18:00:00Z", "nixlab:lab=kvm-os", "nixlab:owner=alice@example.com", "nixlab:stack=openstack-x86_64"];
/** Sorted like providers/openstack/tags.ts: expires-at, kvm, lab, node, owner, stack. */
const nodeTagList = (node: string) => [LAB_TAG_LIST[0]!, "nixlab:kvm=nested", LAB_TAG_LIST[1]!, `nixlab:node=${node}`, ...LAB_TAG_LIST.slice(2)];

const providers = providerRecorder();

const run = useStackRun({
    stack: STACK,
    // Only the path matters offline: the upload is what the provider does at `up`.
    artifact: { file: "nixos-x86_64.qcow2", content: QCOW2_MAGIC, format: "qcow2", arch: "x86_64", bootMode: "bios", sha256: SHA },
    expiresAt: EXPIRES,
    mode: "preview",
    program: "index",
    calls: {},
    resources: [providers.handler],
});

const byType = (t: string) => ofType(run.plan.resources, t);
const one = (t: string, name: string) => inputs(oneOf(run.plan.resources, t, name));

describe("openstack-x86_64 plan", () => {
    it("shows the whole graph, each resource once, under the Lab", () => {
        const perNode = (n: string) => [
            `command:remote:Command kvm-os-${n}-ready`,
            `openstack:blockstorage/volume:Volume kvm-os-${n}-scratch`,
            `openstack:compute/instance:Instance kvm-os-${n}`,
            `openstack:compute/volumeAttach:VolumeAttach kvm-os-${n}-scratch-attach`,
            `openstack:networking/floatingIp:FloatingIp kvm-os-${n}-fip`,
            `openstack:networking/floatingIpAssociate:FloatingIpAssociate kvm-os-${n}-fip-associate`,
            `openstack:networking/port:Port kvm-os-${n}-port`,
            `tls:index/privateKey:PrivateKey kvm-os-${n}-host-ed25519`,
        ];
        expect(run.plan.resources.map((r) => `${r.type} ${r.name}`).sort()).toEqual(
            [
                "nixlab:index:Lab kvm-os",
                "pulumi:providers:openstack kvm-os-net-provider",
                "tls:index/privateKey:PrivateKey kvm-os-operator-key",
                "openstack:networking/network:Network kvm-os-net",
                "openstack:networking/subnet:Subnet kvm-os-net-subnet",
                "openstack:networking/router:Router kvm-os-net-router",
                "openstack:networking/routerInterface:RouterInterface kvm-os-net-router-interface",
                "openstack:networking/secGroup:SecGroup kvm-os-net-secgroup",
                "openstack:networking/secGroupRule:SecGroupRule kvm-os-net-ssh-0",
                "openstack:networking/secGroupRule:SecGroupRule kvm-os-net-internal",
                "openstack:networking/secGroupRule:SecGroupRule kvm-os-net-egress",
                "openstack:images/image:Image kvm-os-image-x86_64",
                ...perNode("node-1"),
                ...perNode("node-2"),
            ].sort(),
        );
        for (const r of run.plan.resources) expect(r.parent, r.name).toBe(r.type === "nixlab:index:Lab" ? null : "kvm-os");
    });

    it("creates every openstack resource through the explicit provider, no other through it", () => {
        const explicit = `urn:pulumi:${STACK}::nixlab::nixlab:index:Lab$pulumi:providers:openstack::kvm-os-net-provider::`;
        const cloud = run.plan.resources.filter((r) => r.type.startsWith("openstack:"));
        expect(cloud).toHaveLength(21);
        for (const r of cloud) expect(providers.of(r), r.name).toContain(explicit);
        for (const r of run.plan.resources.filter((r) => !r.type.startsWith("openstack:"))) expect(providers.of(r) ?? "", r.name).not.toContain("providers:openstack");
    });

    it("configures the explicit provider from nixlab:openstack only", () => {
        expect(one("pulumi:providers:openstack", "kvm-os-net-provider")).toEqual({ cloud: "mycloud", region: "RegionOne" });
    });

    it("boots each node on kvm.large from a 40 GiB volume of the image, with a config drive and user-data", () => {
        for (const [i, node] of ["node-1", "node-2"].entries()) {
            const vm = one("openstack:compute/instance:Instance", `kvm-os-${node}`);
            expect(vm).toEqual({
                name: `kvm-os-${SID}-${node}`,
                flavorName: "kvm.large",
                blockDevices: [{ sourceType: "image", uuid: "[unknown]", destinationType: "volume", volumeSize: 40, bootIndex: 0, deleteOnTermination: true }],
                networks: [{ port: "[unknown]" }],
                configDrive: true,
                userData: "[secret]",
                metadata: { ...LAB_TAGS, "nixlab:node": node, "nixlab:kvm": "nested" },
                tags: nodeTagList(node),
            });
            expect(one("openstack:networking/port:Port", `kvm-os-${node}-port`)).toEqual({
                name: `kvm-os-${SID}-${node}`,
                networkId: "[unknown]",
                fixedIps: [{ subnetId: "[unknown]", ipAddress: `10.80.0.${10 + i}` }],
                securityGroupIds: ["[unknown]"],
                adminStateUp: true,
                tags: nodeTagList(node),
            });
            expect(one("openstack:blockstorage/volume:Volume", `kvm-os-${node}-scratch`)).toEqual({
                name: `kvm-os-${SID}-${node}-scratch`,
                description: `nixlab lab kvm-os, node ${node}`,
                size: 50,
                enableOnlineResize: true,
                metadata: { ...LAB_TAGS, "nixlab:node": node, "nixlab:kvm": "nested" },
            });
            expect(one("openstack:compute/volumeAttach:VolumeAttach", `kvm-os-${node}-scratch-attach`)).toEqual({ instanceId: "[unknown]", volumeId: "[unknown]" });
            expect(one("openstack:networking/floatingIp:FloatingIp", `kvm-os-${node}-fip`)).toEqual({
                pool: "public",
                description: `nixlab lab kvm-os, node ${node}`,
                tags: nodeTagList(node),
            });
        }
    });

    it("uploads the image by content with disk format and boot properties", () => {
        expect(one("openstack:images/image:Image", "kvm-os-image-x86_64")).toEqual({
            name: `nixlab-kvm-os-${SID}-nixos-x86_64-${SHA.slice(0, 16)}`,
            localFilePath: run.artifactPath,
            diskFormat: "qcow2",
            containerFormat: "bare",
            visibility: "private",
            properties: { architecture: "x86_64", hw_machine_type: "q35", os_type: "linux", os_distro: "nixos", nixlab_image_hash: SHA },
            tags: LAB_TAG_LIST,
        });
    });

    it("isolates the lab: own network and router, SSH from the configured CIDRs only", () => {
        expect(one("openstack:networking/network:Network", "kvm-os-net")).toEqual({ name: `nixlab-kvm-os-${SID}`, adminStateUp: true, portSecurityEnabled: true, tags: LAB_TAG_LIST });
        expect(one("openstack:networking/subnet:Subnet", "kvm-os-net-subnet")).toEqual({
            name: `nixlab-kvm-os-${SID}`,
            networkId: "[unknown]",
            cidr: "10.80.0.0/24",
            ipVersion: 4,
            enableDhcp: true,
            gatewayIp: "10.80.0.1",
            allocationPools: [{ start: "10.80.0.2", end: "10.80.0.9" }],
            tags: LAB_TAG_LIST,
        });
        expect(one("openstack:networking/router:Router", "kvm-os-net-router")).toEqual({
            name: `nixlab-kvm-os-${SID}`,
            adminStateUp: true,
            externalNetworkId: "2d3c1f4e-8b7a-4c6d-9e0f-1a2b3c4d5e6f",
            tags: LAB_TAG_LIST,
        });
        expect(one("openstack:networking/secGroup:SecGroup", "kvm-os-net-secgroup")).toMatchObject({ deleteDefaultRules: true, tags: LAB_TAG_LIST });
        const rules = byType("openstack:networking/secGroupRule:SecGroupRule").map((r) => ({ name: r.name, ...inputs(r) }));
        expect(rules.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
            { name: "kvm-os-net-egress", description: "Outbound traffic", direction: "egress", ethertype: "IPv4", securityGroupId: "[unknown]" },
            {
                name: "kvm-os-net-internal",
                description: "Any traffic between the lab's nodes",
                direction: "ingress",
                ethertype: "IPv4",
                remoteIpPrefix: "10.80.0.0/24",
                securityGroupId: "[unknown]",
            },
            {
                name: "kvm-os-net-ssh-0",
                description: "SSH from 203.0.113.7/32 (nixlab:lab.network.sshIngressCidrs[0])",
                direction: "ingress",
                ethertype: "IPv4",
                protocol: "tcp",
                portRangeMin: 22,
                portRangeMax: 22,
                remoteIpPrefix: "203.0.113.7/32",
                securityGroupId: "[unknown]",
            },
        ]);
    });

    it("tags every taggable resource, and every resource type is classified", () => {
        const labTagged = [
            "openstack:networking/network:Network",
            "openstack:networking/subnet:Subnet",
            "openstack:networking/router:Router",
            "openstack:networking/secGroup:SecGroup",
            "openstack:images/image:Image",
        ];
        const nodeTagged = ["openstack:networking/port:Port", "openstack:networking/floatingIp:FloatingIp", "openstack:compute/instance:Instance"];
        const nodeMetadata = ["openstack:blockstorage/volume:Volume", "openstack:compute/instance:Instance"];
        const untaggable = [
            "openstack:networking/secGroupRule:SecGroupRule",
            "openstack:networking/routerInterface:RouterInterface",
            "openstack:networking/floatingIpAssociate:FloatingIpAssociate",
            "openstack:compute/volumeAttach:VolumeAttach",
            "pulumi:providers:openstack",
            "nixlab:index:Lab",
            "tls:index/privateKey:PrivateKey",
            "command:remote:Command",
        ];
        expect([...new Set(run.plan.resources.map((r) => r.type))].sort()).toEqual([...new Set([...labTagged, ...nodeTagged, ...nodeMetadata, ...untaggable])].sort());
        for (const t of labTagged) for (const r of byType(t)) expect(inputs(r).tags, r.name).toEqual(LAB_TAG_LIST);
        const nodeOf = (name: string) => /kvm-os-(node-\d)/.exec(name)![1]!;
        for (const t of nodeTagged) for (const r of byType(t)) expect(inputs(r).tags, r.name).toEqual(nodeTagList(nodeOf(r.name)));
        for (const t of nodeMetadata) for (const r of byType(t)) expect(inputs(r).metadata, r.name).toEqual({ ...LAB_TAGS, "nixlab:node": nodeOf(r.name), "nixlab:kvm": "nested" });
        for (const t of untaggable) for (const r of byType(t)) expect([inputs(r).tags, inputs(r).metadata], r.name).toEqual([undefined, undefined]);
    });

    it("matches the plan snapshot", async () => {
        await expect(await planSnapshot(run, "<fixtures>")).toMatchFileSnapshot("__snapshots__/plan-openstack-x86_64.json");
    });
});
