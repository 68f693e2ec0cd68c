/**
 * The policy pack against resources captured from the offline plans of every stack in
 * stacks/ (test/fixtures/policy/<stack>.json, made by test/fixtures/policy/capture.sh with
 * `npm run plan -- --json` and the expiry `nixlab up` sets): each policy passes every
 * resource of every plan, and fails a minimally changed copy of a real resource for each
 * thing it guards.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { PolicyProviderResource, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { openstackFlavorKvm } from "../cli/policyConfig";
import type { ConfigMap } from "../cli/workspace";
import { awsImdsV2, diskEncryption, expiryTag, fromGcpLabel, kvmMachineType, noWorldSsh, policies, TAGGABLE } from "../policy/policies";

interface PlanResource {
    type: string;
    name: string;
    parent: string | null;
    inputs: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const FIXTURES = path.join(__dirname, "fixtures", "policy");
const CLOUDS = ["aws-x86_64", "aws-arm64", "gcp-x86_64", "azure-x86_64", "openstack-x86_64", "openstack-arm64"] as const;
const plans = Object.fromEntries(
    CLOUDS.map((c) => [c, (JSON.parse(fs.readFileSync(path.join(FIXTURES, `${c}.json`), "utf8")) as { resources: PlanResource[] }).resources]),
) as Record<(typeof CLOUDS)[number], PlanResource[]>;

/** The pack config `nixlab --policy` derives from a stack file (cli/policyConfig.ts): the KVM policy's openstackFlavors. */
function kvmConfigOf(stack: (typeof CLOUDS)[number]): { openstackFlavors?: Record<string, string> } {
    const doc = parse(fs.readFileSync(path.join(__dirname, "..", "stacks", `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
    const config: ConfigMap = Object.fromEntries(
        Object.entries(doc.config).map(([k, v]) => [k, { value: typeof v === "string" ? v : JSON.stringify(v) }]),
    );
    const openstackFlavors = openstackFlavorKvm(config);
    return openstackFlavors ? { openstackFlavors } : {};
}

function find(cloud: (typeof CLOUDS)[number], name: string): PlanResource {
    const r = plans[cloud].find((x) => x.name === name);
    if (!r) throw new Error(`no ${name} in the ${cloud} capture`);
    return structuredClone(r);
}

/** The explicit provider a plan's resources use, as the analyzer hands it over. */
function providerFor(r: PlanResource, all: PlanResource[]): PolicyProviderResource | undefined {
    const pkg = r.type.split(":")[0];
    const p = all.find((x) => x.type === `pulumi:providers:${pkg}`);
    return p ? { type: p.type, name: p.name, urn: `urn:pulumi:t::nixlab::${p.type}::${p.name}`, props: p.inputs } : undefined;
}

class NotApplicable extends Error {}

/** Runs one policy on one resource like @pulumi/policy's analyzer does; returns the violations. */
async function violations(policy: ResourceValidationPolicy, r: PlanResource, opts: { config?: object; provider?: PolicyProviderResource | null; all?: PlanResource[] } = {}): Promise<string[]> {
    const out: string[] = [];
    const args: ResourceValidationArgs = {
        type: r.type,
        props: r.inputs,
        urn: `urn:pulumi:t::nixlab::${r.type}::${r.name}`,
        name: r.name,
        opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
        provider: opts.provider === null ? undefined : (opts.provider ?? providerFor(r, opts.all ?? [])),
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        // The engine passes the pack config as given (defaults may be absent): an empty object.
        getConfig: <T extends object>() => (opts.config ?? {}) as T,
        notApplicable: (reason?: string) => {
            throw new NotApplicable(reason);
        },
    };
    const fns = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
    for (const fn of fns) await fn(args, (m) => out.push(m));
    return out;
}

describe("every policy passes the captured plans as they are", () => {
    it.each(CLOUDS)("%s: no violations from any policy", async (cloud) => {
        const found: string[] = [];
        for (const r of plans[cloud]) {
            for (const p of policies) {
                for (const v of await violations(p, r, { all: plans[cloud] })) found.push(`${p.name} ${r.name}: ${v}`);
            }
        }
        expect(found).toEqual([]);
    });

    it.each(CLOUDS)("%s: the KVM policy passes with the pack config nixlab derives from the stack file", async (cloud) => {
        const config = kvmConfigOf(cloud);
        expect(Object.keys(config)).toEqual(cloud.startsWith("openstack") ? ["openstackFlavors"] : []);
        const found: string[] = [];
        for (const r of plans[cloud]) for (const v of await violations(kvmMachineType, r, { config })) found.push(`${r.name}: ${v}`);
        expect(found).toEqual([]);
    });

    it("every instance carries the KVM mode its node asked for (nixlab:kvm, GCP label nixlab-kvm)", () => {
        const asked = (r: PlanResource): unknown => r.inputs.tags?.["nixlab:kvm"] ?? r.inputs.labels?.["nixlab-kvm"] ?? r.inputs.metadata?.["nixlab:kvm"];
        const instances = CLOUDS.flatMap((c) =>
            plans[c]
                .filter((r) => /^(aws:ec2\/instance|gcp:compute\/instance|openstack:compute\/instance):Instance$|^azure-native:compute:VirtualMachine$/.test(r.type))
                .map((r) => `${r.name}=${String(asked(r))}`),
        );
        expect(instances.sort()).toEqual([
            "kvm-arm-builder=metal",
            "kvm-arm-host=metal",
            "kvm-azure-node-1=nested",
            "kvm-azure-node-2=nested",
            "kvm-gce-node-1=nested",
            "kvm-gce-node-2=nested",
            "kvm-os-arm-client=none",
            "kvm-os-arm-host-1=metal",
            "kvm-os-arm-host-2=metal",
            "kvm-os-node-1=nested",
            "kvm-os-node-2=nested",
            "kvm-x86-node-1=nested",
            "kvm-x86-node-2=nested",
        ]);
    });

    it("names five policies, all mandatory", () => {
        expect(policies.map((p) => [p.name, p.enforcementLevel])).toEqual([
            ["nixlab-expiry-tag", "mandatory"],
            ["nixlab-no-world-ssh", "mandatory"],
            ["nixlab-disk-encryption", "mandatory"],
            ["nixlab-aws-imdsv2", "mandatory"],
            ["nixlab-kvm-machine-type", "mandatory"],
        ]);
    });
});

describe("nixlab-expiry-tag", () => {
    it("checks exactly the taggable resources of each plan", () => {
        const checked = Object.fromEntries(CLOUDS.map((c) => [c, plans[c].filter((r) => r.type in TAGGABLE).length]));
        expect(checked).toEqual({ "aws-x86_64": 14, "aws-arm64": 13, "gcp-x86_64": 6, "azure-x86_64": 15, "openstack-x86_64": 13, "openstack-arm64": 15 });
    });

    /** `<pkg>:<module>/<file>:<Class>` (azure-native: `azure-native:<module>:<Class>`) → that class's Args interface text. */
    function sdkArgs(type: string): string | undefined {
        const [pkg, mod, cls] = type.split(":") as [string, string, string];
        const file = pkg === "azure-native" ? `${mod}/${cls[0]!.toLowerCase()}${cls.slice(1)}.d.ts` : `${mod}.d.ts`;
        const p = path.join(__dirname, "..", "node_modules", "@pulumi", pkg, file);
        if (!fs.existsSync(p)) return undefined;
        return new RegExp(`export interface ${cls}Args \\{[\\s\\S]*?\\n\\}`).exec(fs.readFileSync(p, "utf8"))?.[0];
    }

    it("TAGGABLE matches the SDKs: listed types have the field, unlisted plan types do not", () => {
        const field = { tags: "tags", labels: "labels", "tag-list": "tags", metadata: "metadata" } as const;
        for (const [type, kind] of Object.entries(TAGGABLE)) {
            expect(sdkArgs(type), type).toMatch(new RegExp(`\\n\\s+${field[kind]}\\?: `));
        }
        const unlisted = new Set(CLOUDS.flatMap((c) => plans[c]).filter((r) => !(r.type in TAGGABLE) && /^(aws|gcp|azure-native|openstack):/.test(r.type)).map((r) => r.type));
        for (const type of unlisted) {
            const args = sdkArgs(type);
            expect(args, `${type} has SDK args`).toBeDefined();
            expect(args, `${type} takes tags/labels but is not in TAGGABLE`).not.toMatch(/\n\s+(tags|labels)\?: /);
        }
        expect([...unlisted].sort()).toEqual([
            "aws:ec2/route:Route",
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "aws:ec2/volumeAttachment:VolumeAttachment",
            "aws:iam/rolePolicy:RolePolicy",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "azure-native:network:Subnet",
            "azure-native:storage:BlobContainer",
            "gcp:compute/attachedDisk:AttachedDisk",
            "gcp:compute/firewall:Firewall",
            "gcp:compute/network:Network",
            "gcp:compute/subnetwork:Subnetwork",
            "gcp:storage/bucketObject:BucketObject",
            "openstack:compute/volumeAttach:VolumeAttach",
            "openstack:networking/floatingIpAssociate:FloatingIpAssociate",
            "openstack:networking/routerInterface:RouterInterface",
            "openstack:networking/secGroupRule:SecGroupRule",
        ]);
    });

    it("AWS: a resource without the tag fails unless the provider's default tags carry it", async () => {
        const vpc = find("aws-x86_64", "kvm-x86-net-vpc");
        delete vpc.inputs.tags["nixlab:expires-at"];
        expect(await violations(expiryTag, vpc, { provider: null })).toEqual([
            "aws:ec2/vpc:Vpc has no nixlab:expires-at tag, so `nixlab gc` and the cloud's own reports cannot tell when it may go. Pass ctx.tags (components/tags.ts labTags; nodeTags for per-node resources) to every taggable resource a backend creates.",
        ]);
        expect(await violations(expiryTag, vpc, { all: plans["aws-x86_64"] })).toEqual([]);
    });

    it("AWS: an instance's root volume needs its own tag", async () => {
        const node = find("aws-x86_64", "kvm-x86-node-1");
        delete node.inputs.rootBlockDevice.tags;
        expect(await violations(expiryTag, node, { all: plans["aws-x86_64"] })).toEqual([
            "its root volume (rootBlockDevice.tags) has no nixlab:expires-at tag, so `nixlab gc` and the cloud's own reports cannot tell when it may go. Set rootBlockDevice.tags to the node's tags; AWS default tags do not reach it.",
        ]);
    });

    it("GCP: labels carry the mapped key and value; a value that is no time fails", async () => {
        expect(fromGcpLabel("2026-11-24t18_00_00_000z")).toBe("2026-11-24T18:00:00.000Z");
        const disk = find("gcp-x86_64", "kvm-gce-node-1-scratch");
        disk.inputs.labels["nixlab-expires-at"] = "tomorrow";
        expect(await violations(expiryTag, disk)).toEqual([
            'gcp:compute/disk:Disk has nixlab:expires-at="tomorrow", which is not a time. Pass ctx.tags (components/tags.ts labTags; nodeTags for per-node resources) to every taggable resource a backend creates.',
        ]);
        const node = find("gcp-x86_64", "kvm-gce-node-1");
        delete node.inputs.labels;
        delete node.inputs.bootDisk.initializeParams.labels;
        expect((await violations(expiryTag, node)).map((v) => v.split(",")[0])).toEqual([
            "gcp:compute/instance:Instance has no nixlab:expires-at tag",
            "its boot disk (bootDisk.initializeParams.labels) has no nixlab:expires-at tag",
        ]);
    });

    it("Azure tags and OpenStack tag lists and metadata", async () => {
        const vm = find("azure-x86_64", "kvm-azure-node-1");
        vm.inputs.tags = { "nixlab:lab": "kvm-azure" };
        expect((await violations(expiryTag, vm)).map((v) => v.split(",")[0])).toEqual(["azure-native:compute:VirtualMachine has no nixlab:expires-at tag"]);
        const port = find("openstack-x86_64", "kvm-os-node-1-port");
        port.inputs.tags = (port.inputs.tags as string[]).filter((t) => !t.startsWith("nixlab:expires-at="));
        expect((await violations(expiryTag, port)).map((v) => v.split(",")[0])).toEqual(["openstack:networking/port:Port has no nixlab:expires-at tag"]);
        const volume = find("openstack-x86_64", "kvm-os-node-1-scratch");
        delete volume.inputs.metadata["nixlab:expires-at"];
        expect((await violations(expiryTag, volume)).map((v) => v.split(",")[0])).toEqual(["openstack:blockstorage/volume:Volume has no nixlab:expires-at tag"]);
    });
});

describe("nixlab-no-world-ssh", () => {
    it("AWS security group: port 22 or all traffic from 0.0.0.0/0 or ::/0 fails; allowWorldSsh permits it", async () => {
        const sg = find("aws-x86_64", "kvm-x86-net-sg");
        sg.inputs.ingress[0].cidrBlocks = ["203.0.113.7/32", "0.0.0.0/0"];
        sg.inputs.ingress.push({ protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["::/0"] });
        const v = await violations(noWorldSsh, sg);
        expect(v).toHaveLength(1);
        expect(v[0]).toMatch(/^aws:ec2\/securityGroup:SecurityGroup lets SSH in from anywhere: ingress\[0\] from 0\.0\.0\.0\/0; ingress\[2\] from ::\/0\. List your own addresses in nixlab:lab\.network\.sshIngressCidrs/);
        expect(await violations(noWorldSsh, sg, { config: { allowWorldSsh: true } })).toEqual([]);
        const https = find("aws-x86_64", "kvm-x86-net-sg");
        https.inputs.ingress.push({ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] });
        expect(await violations(noWorldSsh, https)).toEqual([]);
    });

    it("GCP firewall, Azure NSG rule and OpenStack rule opened to the world fail", async () => {
        const fw = find("gcp-x86_64", "kvm-gce-net-ssh");
        fw.inputs.sourceRanges = ["0.0.0.0/0"];
        expect((await violations(noWorldSsh, fw)).map((v) => v.split(". ")[0])).toEqual(["gcp:compute/firewall:Firewall lets SSH in from anywhere: sourceRanges 0.0.0.0/0"]);

        // The capture's last rule denies "*": only an Allow rule may fail.
        const nsg = find("azure-x86_64", "kvm-azure-net-nsg");
        nsg.inputs.securityRules[0].sourceAddressPrefixes = ["Internet"];
        expect((await violations(noWorldSsh, nsg)).map((v) => v.split(". ")[0])).toEqual([
            "azure-native:network:NetworkSecurityGroup lets SSH in from anywhere: securityRules[0] (ssh-from-allowed-cidrs) from Internet",
        ]);

        const rule = find("openstack-x86_64", "kvm-os-net-ssh-0");
        delete rule.inputs.remoteIpPrefix;
        expect((await violations(noWorldSsh, rule)).map((v) => v.split(". ")[0])).toEqual([
            "openstack:networking/secGroupRule:SecGroupRule lets SSH in from anywhere: rule from 0.0.0.0/0 (no remoteIpPrefix: any source)",
        ]);
    });
});

describe("nixlab-disk-encryption", () => {
    it("AWS: unencrypted EBS volume, root device and snapshot import fail", async () => {
        const vol = find("aws-x86_64", "kvm-x86-node-1-scratch");
        vol.inputs.encrypted = false;
        expect(await violations(diskEncryption, vol)).toEqual(["aws:ebs/volume:Volume is not encrypted; set encrypted: true (EBS encryption costs nothing and cannot be added later)."]);
        const node = find("aws-x86_64", "kvm-x86-node-2");
        delete node.inputs.rootBlockDevice.encrypted;
        node.inputs.ebsBlockDevices = [{ deviceName: "/dev/sdg", volumeSize: 10 }];
        expect(await violations(diskEncryption, node)).toEqual([
            "the instance's root volume is not encrypted; set rootBlockDevice.encrypted: true (an encrypted copy of the AMI's snapshot is made at launch).",
            "ebsBlockDevices[0] (/dev/sdg) is not encrypted; set encrypted: true.",
        ]);
        const snap = find("aws-x86_64", "kvm-x86-image-x86_64-snapshot");
        delete snap.inputs.encrypted;
        expect(await violations(diskEncryption, snap)).toHaveLength(1);
    });

    it("OpenStack: volumes and boot volumes of an unencrypted type fail once the pack names the encrypted types", async () => {
        const config = { openstackEncryptedVolumeTypes: ["encrypted-luks"] };
        // The example stacks use the cloud's default type: not checked without the pack config.
        const vol = find("openstack-x86_64", "kvm-os-node-1-scratch");
        expect(vol.inputs.volumeType).toBeUndefined();
        expect(await violations(diskEncryption, vol)).toEqual([]);
        expect(await violations(diskEncryption, vol, { config })).toEqual([
            'the volume uses volume type "(the cloud\'s default)", not an encrypted one (encrypted-luks); set nixlab:openstack.volumeType.',
        ]);
        vol.inputs.volumeType = "encrypted-luks";
        expect(await violations(diskEncryption, vol, { config })).toEqual([]);
        vol.inputs.volumeType = "standard";
        expect(await violations(diskEncryption, vol, { config })).toEqual([
            'the volume uses volume type "standard", not an encrypted one (encrypted-luks); set nixlab:openstack.volumeType.',
        ]);
        const node = find("openstack-x86_64", "kvm-os-node-1");
        expect(await violations(diskEncryption, node, { config })).toEqual([
            "blockDevices[0] uses volume type \"(the cloud's default)\", not an encrypted one (encrypted-luks); set nixlab:openstack.volumeType.",
        ]);
        node.inputs.blockDevices[0].volumeType = "encrypted-luks";
        expect(await violations(diskEncryption, node, { config })).toEqual([]);
    });

    it("Azure: encryption at host when the pack asks for it", async () => {
        const vm = find("azure-x86_64", "kvm-azure-node-1");
        expect(await violations(diskEncryption, vm)).toEqual([]);
        expect((await violations(diskEncryption, vm, { config: { azureEncryptionAtHost: true } })).map((v) => v.split(",")[0])).toEqual([
            "encryption at host is off",
        ]);
        vm.inputs.securityProfile.encryptionAtHost = true;
        expect(await violations(diskEncryption, vm, { config: { azureEncryptionAtHost: true } })).toEqual([]);
    });
});

describe("nixlab-aws-imdsv2", () => {
    it("fails an instance that allows IMDSv1, explicitly or by default", async () => {
        const node = find("aws-x86_64", "kvm-x86-node-1");
        node.inputs.metadataOptions.httpTokens = "optional";
        expect(await violations(awsImdsV2, node)).toEqual(['IMDSv1 is allowed (metadataOptions.httpTokens is "optional"); set metadataOptions: { httpTokens: "required" }.']);
        delete node.inputs.metadataOptions;
        expect(await violations(awsImdsV2, node)).toEqual(['IMDSv1 is allowed (metadataOptions.httpTokens is "optional (the default)"); set metadataOptions: { httpTokens: "required" }.']);
        node.inputs.metadataOptions = { httpEndpoint: "disabled" };
        expect(await violations(awsImdsV2, node)).toEqual([]);
    });
});

describe("nixlab-kvm-machine-type", () => {
    it("AWS: nested virtualization only on C8i/M8i/R8i; a metal ask needs a metal type", async () => {
        const node1 = find("aws-x86_64", "kvm-x86-node-1");
        expect([node1.inputs.instanceType, node1.inputs.cpuOptions]).toEqual(["m8i-flex.xlarge", { nestedVirtualization: "enabled" }]);
        node1.inputs.instanceType = "m7i.xlarge";
        expect(await violations(kvmMachineType, node1)).toEqual([
            "cpuOptions.nestedVirtualization is enabled on m7i.xlarge, which is not in nixlab's catalog; AWS offers nested virtualization on C8i, M8i and R8i (and flex) only (providers/aws/catalog.ts).",
            "the node asks for nested KVM but m7i.xlarge does not offer it; use a C8i/M8i/R8i type with nestedVirtualization enabled.",
        ]);
        // The captured tag alone says what was asked: without the CPU option the ask still fails.
        const node2 = find("aws-x86_64", "kvm-x86-node-2");
        expect(node2.inputs.tags["nixlab:kvm"]).toBe("nested");
        delete node2.inputs.cpuOptions;
        expect(await violations(kvmMachineType, node2)).toEqual([
            "the node asks for nested KVM but m8i-flex.xlarge does not have cpuOptions.nestedVirtualization enabled; use a C8i/M8i/R8i type with nestedVirtualization enabled.",
        ]);
        node2.inputs.tags["nixlab:kvm"] = "metal";
        expect(await violations(kvmMachineType, node2)).toEqual(["the node asks for metal KVM but m8i-flex.xlarge is not a bare-metal type (a .metal size, providers/aws/catalog.ts)."]);
        node2.inputs.tags["nixlab:kvm"] = "none";
        expect(await violations(kvmMachineType, node2)).toEqual([]);
    });

    it("AWS arm64: metal KVM on Graviton metal passes, on a Graviton VM fails", async () => {
        const host = find("aws-arm64", "kvm-arm-host");
        expect([host.inputs.tags["nixlab:kvm"], host.inputs.instanceType]).toEqual(["metal", "c6g.metal"]);
        expect(await violations(kvmMachineType, host)).toEqual([]);
        host.inputs.instanceType = "c7g.16xlarge";
        expect(await violations(kvmMachineType, host)).toEqual(["the node asks for metal KVM but c7g.16xlarge is not a bare-metal type (a .metal size, providers/aws/catalog.ts)."]);
        host.inputs.cpuOptions = { nestedVirtualization: "enabled" };
        expect((await violations(kvmMachineType, host))[0]).toBe(
            "cpuOptions.nestedVirtualization is enabled on c7g.16xlarge, which is a none type; AWS offers nested virtualization on C8i, M8i and R8i (and flex) only (providers/aws/catalog.ts).",
        );
    });

    it("GCP: nested only on Intel N1/N2/C3, metal only on -metal types", async () => {
        const node = find("gcp-x86_64", "kvm-gce-node-1");
        node.inputs.machineType = "e2-standard-4";
        expect((await violations(kvmMachineType, node)).map((v) => v.split(";")[0])).toEqual([
            "enableNestedVirtualization is on for e2-standard-4, which is a none type",
            "the node asks for nested KVM but e2-standard-4 does not offer it.",
        ]);
        // The captured label alone says what was asked: switching nesting off fails the node.
        const off = find("gcp-x86_64", "kvm-gce-node-2");
        expect(off.inputs.labels["nixlab-kvm"]).toBe("nested");
        delete off.inputs.advancedMachineFeatures;
        expect(await violations(kvmMachineType, off)).toEqual(["the node asks for nested KVM but n2-standard-4 does not have advancedMachineFeatures.enableNestedVirtualization."]);
        const metal = find("gcp-x86_64", "kvm-gce-node-1");
        metal.inputs.labels["nixlab-kvm"] = "metal";
        delete metal.inputs.advancedMachineFeatures;
        expect(await violations(kvmMachineType, metal)).toEqual(["the node asks for metal KVM but n2-standard-4 is not a -metal machine type."]);
    });

    it("Azure: a nested ask needs a series with nested virtualization", async () => {
        const vm = find("azure-x86_64", "kvm-azure-node-1");
        expect([vm.inputs.tags["nixlab:kvm"], vm.inputs.hardwareProfile.vmSize]).toEqual(["nested", "Standard_D4s_v5"]);
        expect(await violations(kvmMachineType, vm)).toEqual([]);
        vm.inputs.hardwareProfile.vmSize = "Standard_D4ps_v5";
        expect(await violations(kvmMachineType, vm)).toEqual([
            "the node asks for nested KVM but Standard_D4ps_v5 (Dpsv5) does not support nested virtualization; use a Dsv5, Dasv5 or Dsv6 size (providers/azure/catalog.ts).",
        ]);
        vm.inputs.tags["nixlab:kvm"] = "none";
        expect(await violations(kvmMachineType, vm)).toEqual([]);
        vm.inputs.tags["nixlab:kvm"] = "metal";
        expect(await violations(kvmMachineType, vm)).toEqual([
            "the node asks for metal KVM, which Azure does not offer (no bare-metal sizes in providers/azure/catalog.ts); use kvm: nested.",
        ]);
    });

    it("OpenStack: the flavor must give what the node asked for, per the stack's flavors in the pack config", async () => {
        const config = kvmConfigOf("openstack-x86_64");
        expect(config).toEqual({ openstackFlavors: { "m1.medium": "none", "kvm.large": "nested", "kvm.xlarge": "nested" } });
        const node = find("openstack-x86_64", "kvm-os-node-1");
        expect([node.inputs.flavorName, node.inputs.metadata["nixlab:kvm"]]).toEqual(["kvm.large", "nested"]);
        node.inputs.flavorName = "m1.medium";
        expect(await violations(kvmMachineType, node, { config })).toEqual([
            "the node asks for nested KVM but flavor m1.medium gives kvm: none (pack config openstackFlavors: m1.medium (none), kvm.large (nested), kvm.xlarge (nested)); use a flavor described with kvm: nested or metal.",
        ]);
        // Flavors are each cloud's own: without the stack's description the check cannot run.
        expect(await violations(kvmMachineType, node)).toEqual([]);
        node.inputs.flavorName = "gpu.huge";
        expect(await violations(kvmMachineType, node, { config })).toEqual([
            "the node asks for nested KVM but flavor gpu.huge is not among the pack's openstackFlavors (m1.medium (none), kvm.large (nested), kvm.xlarge (nested)); describe it in nixlab:openstack.flavors and in the pack config.",
        ]);
        // The Nova tag list says the same when the metadata does not.
        delete node.inputs.metadata["nixlab:kvm"];
        expect(node.inputs.tags).toContain("nixlab:kvm=nested");
        node.inputs.flavorName = "m1.medium";
        expect((await violations(kvmMachineType, node, { config })).map((v) => v.split(" (")[0])).toEqual(["the node asks for nested KVM but flavor m1.medium gives kvm: none"]);

        const arm = kvmConfigOf("openstack-arm64");
        const host = find("openstack-arm64", "kvm-os-arm-host-1");
        expect([host.inputs.flavorName, host.inputs.metadata["nixlab:kvm"]]).toEqual(["bm.ampere", "metal"]);
        host.inputs.flavorName = "a1.medium";
        expect(await violations(kvmMachineType, host, { config: arm })).toEqual([
            "the node asks for metal KVM but flavor a1.medium gives kvm: none (pack config openstackFlavors: bm.ampere (metal), a1.medium (none)); use a flavor described with kvm: metal.",
        ]);
        // A kvm: none node may run on any flavor.
        const client = find("openstack-arm64", "kvm-os-arm-client");
        client.inputs.flavorName = "bm.ampere";
        expect(await violations(kvmMachineType, client, { config: arm })).toEqual([]);
    });
});
