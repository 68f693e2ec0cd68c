/**
 * stacks/Pulumi.gcp-x86_64.yaml under mocks, as `pulumi preview` would run it: the Lab on
 * the GCP backend with the stack's own nixlab:gcp and nixlab:lab. Offline changes: a
 * prebuilt artifact instead of `nix build`, and a fixed expiresAt so labels are known.
 *
 * Writes test/__snapshots__/plan-gcp-x86_64.json.
 */
import { stackId } from "../components/names";
import { describe, expect, it } from "vitest";
import { factory } from "../providers/gcp";
import { describeValue, revealValue } from "../scripts/offline";
import { sdkArgsHave } from "./support/sdk";
import { oneOf, planSnapshot, providerRecorder, useStackRun } from "./support/stackRun";

const STACK = "gcp-x86_64";
const EXPIRES = "2026-12-01T18:00:00Z";
const SHA = "0123456789abcdef".repeat(4);
const PROVIDER = "nixlab:index:Lab$pulumi:providers:gcp::kvm-gce-net-provider";
const LAB_LABELS = {
    "nixlab-lab": "kvm-gce",
    "nixlab-owner": "alice_example_com",
    "nixlab-stack": "gcp-x86_64",
    "nixlab-expires-at": "2026-12-01t18_00_00z",
};

const providers = providerRecorder();

const run = useStackRun({
    stack: STACK,
    artifact: { file: "nixos-gce.raw.tar.gz", format: "tar.gz", arch: "x86_64", bootMode: "uefi", sha256: SHA },
    expiresAt: EXPIRES,
    mode: "preview",
    program: factory,
    resources: [providers.handler],
});

const one = (type: string, name: string) => oneOf(run.resources, type, name);

describe("gcp-x86_64 plan", () => {
    it("registers the whole lab graph", () => {
        expect(run.resources.map((r) => `${r.type} ${r.name}`).sort()).toEqual([
            "command:remote:Command kvm-gce-node-1-ready",
            "command:remote:Command kvm-gce-node-2-ready",
            "gcp:compute/attachedDisk:AttachedDisk kvm-gce-node-1-scratch-attachment",
            "gcp:compute/attachedDisk:AttachedDisk kvm-gce-node-2-scratch-attachment",
            "gcp:compute/disk:Disk kvm-gce-node-1-scratch",
            "gcp:compute/disk:Disk kvm-gce-node-2-scratch",
            "gcp:compute/firewall:Firewall kvm-gce-net-internal",
            "gcp:compute/firewall:Firewall kvm-gce-net-ssh",
            "gcp:compute/image:Image kvm-gce-image-x86_64",
            "gcp:compute/instance:Instance kvm-gce-node-1",
            "gcp:compute/instance:Instance kvm-gce-node-2",
            "gcp:compute/network:Network kvm-gce-net-vpc",
            "gcp:compute/subnetwork:Subnetwork kvm-gce-net-subnet",
            "gcp:storage/bucket:Bucket kvm-gce-image-x86_64-bucket",
            "gcp:storage/bucketObject:BucketObject kvm-gce-image-x86_64-object",
            "nixlab:index:Lab kvm-gce",
            "pulumi:providers:gcp kvm-gce-net-provider",
            "tls:index/privateKey:PrivateKey kvm-gce-node-1-host-ed25519",
            "tls:index/privateKey:PrivateKey kvm-gce-node-2-host-ed25519",
            "tls:index/privateKey:PrivateKey kvm-gce-operator-key",
        ]);
    });

    it("puts every GCP resource on one explicit provider with the configured project/region/zone and the lab labels", () => {
        const p = one("pulumi:providers:gcp", "kvm-gce-net-provider").inputs;
        expect(p).toMatchObject({ project: "my-kvm-lab", region: "europe-west4", zone: "europe-west4-b" });
        // Provider defaults leave out the expiry, unknown at a first preview (providerDefaultTags).
        const { "nixlab-expires-at": _expiry, ...defaults } = LAB_LABELS;
        expect(JSON.parse(p.defaultLabels as string)).toEqual(defaults);
        const gcp = run.resources.filter((r) => r.type.startsWith("gcp:"));
        expect(gcp).toHaveLength(13);
        for (const r of gcp) expect(providers.of(r), `${r.type} ${r.name}`).toContain(`${PROVIDER}::`);
    });

    it("chooses n2-standard-4 with nested virtualization, no OS Login, cloud-init in secret user-data", () => {
        for (const [node, ip] of [
            ["node-1", "10.79.0.10"],
            ["node-2", "10.79.0.11"],
        ] as const) {
            const i = one("gcp:compute/instance:Instance", `kvm-gce-${node}`).inputs;
            expect(i.machineType).toBe("n2-standard-4");
            expect(i.zone).toBe("europe-west4-b");
            expect(i.advancedMachineFeatures).toEqual({ enableNestedVirtualization: true });
            expect(i.minCpuPlatform).toBeUndefined();
            expect(i.scheduling).toBeUndefined();
            // The whole metadata map is secret because user-data is (it holds the host key);
            // user-data itself is unknown until the keys exist.
            expect(describeValue(i.metadata)).toBe("[secret]");
            expect(describeValue(revealValue(i.metadata))).toEqual({ "user-data": "[unknown]", "enable-oslogin": "FALSE", "block-project-ssh-keys": "TRUE" });
            expect(describeValue(i.networkInterfaces)).toEqual([{ subnetwork: "[unknown]", networkIp: ip, accessConfigs: [{}] }]);
            expect(describeValue(i.bootDisk)).toEqual({
                autoDelete: true,
                initializeParams: { image: "[unknown]", size: 40, type: "pd-balanced", labels: { ...LAB_LABELS, "nixlab-node": node, "nixlab-kvm": "nested" } },
            });
            expect(i.serviceAccount).toBeUndefined();
            expect(describeValue(i.shieldedInstanceConfig)).toEqual({ enableSecureBoot: false, enableVtpm: true, enableIntegrityMonitoring: true });
        }
    });

    it("imports the image GCS tar.gz → compute.Image, named after its content hash, UEFI-capable", async () => {
        const short = SHA.slice(0, 16);
        expect(one("gcp:storage/bucket:Bucket", "kvm-gce-image-x86_64-bucket").inputs).toMatchObject({
            location: "europe-west4",
            uniformBucketLevelAccess: true,
            publicAccessPrevention: "enforced",
            forceDestroy: true,
        });
        const object = one("gcp:storage/bucketObject:BucketObject", "kvm-gce-image-x86_64-object").inputs;
        expect(object.name).toBe(`nixlab/${short}.tar.gz`);
        expect(await (object.source as { path: Promise<string> }).path).toBe(run.artifactPath);
        const image = one("gcp:compute/image:Image", "kvm-gce-image-x86_64").inputs;
        expect(image.name).toBe(`nixlab-kvm-gce-${stackId(STACK)}-${short}`);
        expect(describeValue(image.rawDisk)).toEqual({ source: "[unknown]", containerType: "TAR" });
        expect(image.guestOsFeatures).toEqual([{ type: "VIRTIO_SCSI_MULTIQUEUE" }, { type: "GVNIC" }, { type: "IDPF" }, { type: "UEFI_COMPATIBLE" }]);
    });

    it("labels every labelable GCP resource (node resources also with nixlab-node and nixlab-kvm)", () => {
        const labelable = run.resources.filter((r) => r.type.startsWith("gcp:") && sdkArgsHave(r.type, "labels"));
        expect(labelable.map((r) => `${r.type} ${r.name}`).sort()).toEqual([
            "gcp:compute/disk:Disk kvm-gce-node-1-scratch",
            "gcp:compute/disk:Disk kvm-gce-node-2-scratch",
            "gcp:compute/image:Image kvm-gce-image-x86_64",
            "gcp:compute/instance:Instance kvm-gce-node-1",
            "gcp:compute/instance:Instance kvm-gce-node-2",
            "gcp:storage/bucket:Bucket kvm-gce-image-x86_64-bucket",
        ]);
        for (const r of labelable) {
            const node = /kvm-gce-(node-\d)/.exec(r.name)?.[1];
            expect(r.inputs.labels, `${r.type} ${r.name}`).toEqual({ ...LAB_LABELS, ...(node ? { "nixlab-node": node, "nixlab-kvm": "nested" } : {}) });
        }
    });

    it("opens SSH only to the configured CIDR, and everything inside the lab", () => {
        expect(one("gcp:compute/network:Network", "kvm-gce-net-vpc").inputs.autoCreateSubnetworks).toBe(false);
        expect(one("gcp:compute/subnetwork:Subnetwork", "kvm-gce-net-subnet").inputs).toMatchObject({ region: "europe-west4", ipCidrRange: "10.79.0.0/24" });
        expect(one("gcp:compute/firewall:Firewall", "kvm-gce-net-ssh").inputs).toMatchObject({
            direction: "INGRESS",
            sourceRanges: ["203.0.113.7/32"],
            allows: [{ protocol: "tcp", ports: ["22"] }],
        });
        expect(one("gcp:compute/firewall:Firewall", "kvm-gce-net-internal").inputs).toMatchObject({
            direction: "INGRESS",
            sourceRanges: ["10.79.0.0/24"],
            allows: [{ protocol: "all" }],
        });
    });

    it("creates each extra disk in the nodes' zone and attaches it by name", () => {
        for (const node of ["node-1", "node-2"]) {
            expect(one("gcp:compute/disk:Disk", `kvm-gce-${node}-scratch`).inputs).toMatchObject({ zone: "europe-west4-b", size: 100, type: "pd-balanced" });
            expect(one("gcp:compute/attachedDisk:AttachedDisk", `kvm-gce-${node}-scratch-attachment`).inputs).toMatchObject({
                zone: "europe-west4-b",
                deviceName: "scratch",
            });
        }
    });

    it("waits for cloud-init and /dev/kvm on each node over SSH", () => {
        for (const node of ["node-1", "node-2"]) {
            const cmd = one("command:remote:Command", `kvm-gce-${node}-ready`).inputs;
            expect(cmd.create).toContain(`/dev/kvm missing although kvm: nested was asked for`);
            expect(describeValue(cmd.connection)).toBe("[secret]");
        }
    });

    it("matches the reviewed plan snapshot", async () => {
        await expect(await planSnapshot(run, "<fixture>")).toMatchFileSnapshot(`__snapshots__/plan-${STACK}.json`);
    });
});
