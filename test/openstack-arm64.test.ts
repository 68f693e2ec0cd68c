/**
 * `npm run plan -- --stack openstack-arm64`, in-process (prebuilt qcow2, fixed expiry):
 * bare-metal (Ironic) flavors for kvm: metal boot from their own disk with a config drive
 * and get no volumes; the kvm: none client boots from a volume and carries the scratch
 * volume; the aarch64 image says UEFI and the `virt` machine.
 */
import { stackId } from "../components/names";
import { describe, expect, it } from "vitest";
import { QCOW2_MAGIC, ofType, oneOf, planInputs as inputs, planSnapshot, useStackRun } from "./support/stackRun";

const STACK = "openstack-arm64";
const SHA = "a5".repeat(32);
const EXPIRES = "2026-11-24T18:00:00Z";
const LAB_TAGS = { "nixlab:lab": "kvm-os-arm", "nixlab:owner": "alice@example.com", "nixlab:stack": STACK, "nixlab:expires-at": EXPIRES };

const run = useStackRun({
    stack: STACK,
    artifact: { file: "nixos-aarch64.qcow2", content: QCOW2_MAGIC, format: "qcow2", arch: "aarch64", bootMode: "uefi", sha256: SHA },
    expiresAt: EXPIRES,
    mode: "preview",
    program: "index",
    calls: {},
});

const one = (t: string, name: string) => inputs(oneOf(run.plan.resources, t, name));
const names = (t: string) => ofType(run.plan.resources, t).map((r) => r.name).sort();

describe("openstack-arm64 plan", () => {
    it("has three instances, three floating IPs, one volume and one attachment", () => {
        expect(run.plan.resources).toHaveLength(32);
        expect(names("openstack:compute/instance:Instance")).toEqual(["kvm-os-arm-client", "kvm-os-arm-host-1", "kvm-os-arm-host-2"]);
        expect(names("openstack:networking/floatingIpAssociate:FloatingIpAssociate")).toHaveLength(3);
        expect(names("openstack:blockstorage/volume:Volume")).toEqual(["kvm-os-arm-client-scratch"]);
        expect(names("openstack:compute/volumeAttach:VolumeAttach")).toEqual(["kvm-os-arm-client-scratch-attach"]);
        expect(names("command:remote:Command")).toEqual(["kvm-os-arm-client-ready", "kvm-os-arm-host-1-ready", "kvm-os-arm-host-2-ready"]);
    });

    it("boots bare-metal hosts from their own disk on the metal flavor", () => {
        for (const host of ["host-1", "host-2"]) {
            const vm = one("openstack:compute/instance:Instance", `kvm-os-arm-${host}`);
            expect(vm).toMatchObject({ flavorName: "bm.ampere", imageId: "[unknown]", configDrive: true, userData: "[secret]" });
            expect(vm.blockDevices).toBeUndefined();
            expect(vm.metadata).toEqual({ ...LAB_TAGS, "nixlab:node": host, "nixlab:kvm": "metal" });
        }
    });

    it("boots the client VM from a volume on the smallest aarch64 flavor without KVM", () => {
        const vm = one("openstack:compute/instance:Instance", "kvm-os-arm-client");
        expect(vm).toMatchObject({
            flavorName: "a1.medium",
            blockDevices: [{ sourceType: "image", uuid: "[unknown]", destinationType: "volume", volumeSize: 40, bootIndex: 0, deleteOnTermination: true }],
            configDrive: true,
        });
        expect(vm.imageId).toBeUndefined();
        expect(vm.metadata).toEqual({ ...LAB_TAGS, "nixlab:node": "client", "nixlab:kvm": "none" });
    });

    it("marks the image aarch64, UEFI, virt machine", () => {
        expect(one("openstack:images/image:Image", "kvm-os-arm-image-aarch64")).toMatchObject({
            name: `nixlab-kvm-os-arm-${stackId(STACK)}-nixos-aarch64-${SHA.slice(0, 16)}`,
            diskFormat: "qcow2",
            containerFormat: "bare",
            properties: { architecture: "aarch64", hw_machine_type: "virt", hw_firmware_type: "uefi", os_type: "linux", os_distro: "nixos", nixlab_image_hash: SHA },
        });
    });

    it("matches the plan snapshot", async () => {
        await expect(await planSnapshot(run, "<fixtures>")).toMatchFileSnapshot("__snapshots__/plan-openstack-arm64.json");
    });
});
