/**
 * The openstack-x86_64 stack as `pulumi up` would wire it, under mocks that answer like
 * OpenStack (UUIDs, floating addresses): image → boot volume, port → instance, volume →
 * attachment, floating IP → association → readiness, the user-data field, and the outputs.
 */
import { describe, expect, it } from "vitest";
import { revealValue } from "../scripts/offline";
import { namedKeys, readyCommands } from "./support/fakeCloud";
import { QCOW2_MAGIC, oneOf, useStackRun, type Any } from "./support/stackRun";

const STACK = "openstack-x86_64";
const SHA = "3b".repeat(32);
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

const get = (type: string, name: string) => oneOf(run.resources, type, name);
const inputsOf = (type: string, name: string): Any => revealValue(get(type, name).inputs);

/** OpenStack-like answers: a UUID-ish id per resource, an address per floating IP. */
function openstackState(args: { type: string; name: string; inputs: Record<string, Any> }): { id: string; state: Record<string, unknown> } | undefined {
    const fipAddress: Record<string, string> = { "kvm-os-node-1-fip": "192.0.2.21", "kvm-os-node-2-fip": "192.0.2.22" };
    if (args.type.startsWith("openstack:")) {
        const id = `uuid-${args.name}`;
        return { id, state: { ...args.inputs, ...(fipAddress[args.name] ? { address: fipAddress[args.name] } : {}) } };
    }
    return undefined;
}

const run = useStackRun({
    stack: STACK,
    artifact: { file: "nixos-x86_64.qcow2", content: QCOW2_MAGIC, format: "qcow2", arch: "x86_64", bootMode: "bios", sha256: SHA },
    expiresAt: "2026-11-24T18:00:00Z",
    mode: "up",
    program: "index",
    resources: [openstackState, namedKeys, readyCommands("kvm-os")],
    calls: {},
});

describe("openstack-x86_64 up (mocked OpenStack)", () => {
    it("boots each instance from the uploaded image, on its own port in the lab's security group", () => {
        for (const node of ["node-1", "node-2"]) {
            const vm = inputsOf("openstack:compute/instance:Instance", `kvm-os-${node}`);
            expect(vm.blockDevices[0].uuid).toBe("uuid-kvm-os-image-x86_64");
            expect(vm.networks).toEqual([{ port: `uuid-kvm-os-${node}-port` }]);
            const port = inputsOf("openstack:networking/port:Port", `kvm-os-${node}-port`);
            expect(port.networkId).toBe("uuid-kvm-os-net");
            expect(port.fixedIps[0].subnetId).toBe("uuid-kvm-os-net-subnet");
            expect(port.securityGroupIds).toEqual(["uuid-kvm-os-net-secgroup"]);
            expect(inputsOf("openstack:compute/volumeAttach:VolumeAttach", `kvm-os-${node}-scratch-attach`)).toEqual({
                instanceId: `uuid-kvm-os-${node}`,
                volumeId: `uuid-kvm-os-${node}-scratch`,
            });
        }
        for (const rule of ["ssh-0", "internal", "egress"]) {
            expect(inputsOf("openstack:networking/secGroupRule:SecGroupRule", `kvm-os-net-${rule}`).securityGroupId).toBe("uuid-kvm-os-net-secgroup");
        }
        expect(inputsOf("openstack:networking/routerInterface:RouterInterface", "kvm-os-net-router-interface")).toEqual({
            routerId: "uuid-kvm-os-net-router",
            subnetId: "uuid-kvm-os-net-subnet",
        });
    });

    it("hands the cloud-config to Nova's user_data field as is, secret", () => {
        for (const node of ["node-1", "node-2"]) {
            const raw = get("openstack:compute/instance:Instance", `kvm-os-${node}`).inputs;
            expect((raw.userData as Record<string, unknown>)[SECRET_SIG]).toBeDefined();
            const userData = revealValue(raw.userData) as string;
            expect(userData.startsWith(`#cloud-config\nhostname: ${node}\n`)).toBe(true);
            expect(userData).toContain(`    kvm-os-${node}-host-ed25519\n`);
        }
    });

    it("associates each floating IP with its port and checks readiness there", () => {
        for (const [i, node] of ["node-1", "node-2"].entries()) {
            expect(inputsOf("openstack:networking/floatingIpAssociate:FloatingIpAssociate", `kvm-os-${node}-fip-associate`)).toEqual({
                floatingIp: `192.0.2.${21 + i}`,
                portId: `uuid-kvm-os-${node}-port`,
            });
            const check = inputsOf("command:remote:Command", `kvm-os-${node}-ready`);
            expect(check.connection).toMatchObject({ host: `192.0.2.${21 + i}`, port: 22, user: "lab" });
            expect(check.triggers).toEqual([`uuid-kvm-os-${node}`]);
        }
    });

    it("reports per node what the local backend reports, ready included", () => {
        const nodes = run.outputs.nodes as Record<string, Any>;
        expect(Object.keys(nodes)).toEqual(["node-1", "node-2"]);
        expect(nodes["node-2"]).toMatchObject({
            name: "node-2",
            machineType: "kvm.large",
            privateAddress: "10.80.0.11",
            sshHost: "192.0.2.22",
            sshPort: 22,
            user: "lab",
            ready: "NIXLAB-READY node=node-2 kvm=ok cloud-init-rc=0",
        });
        expect(nodes["node-2"]).not.toHaveProperty("proxyJump");
        expect(run.outputs.backendKind).toBe("openstack");
    });
});
