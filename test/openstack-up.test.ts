/**
 * The openstack-x86_64 stack as `pulumi up` would wire it, under mocks that answer like
 * OpenStack (UUIDs, floating addresses): image → boot volume, port → instance, volume →
 * attachment, floating IP → association → readiness, the user-data field, and the outputs.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revealValue, runOffline, type OfflineResult, type RecordedResource } from "../scripts/offline";
import { readStackConfig, stackFile } from "../scripts/plan";

const STACK = "openstack-x86_64";
const SHA = "3b".repeat(32);
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

let dir: string;
let result: OfflineResult;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const get = (type: string, name: string): RecordedResource => {
    const found = result.resources.filter((r) => r.type === type && r.name === name);
    expect(found, `${type} ${name}`).toHaveLength(1);
    return found[0]!;
};
const inputsOf = (type: string, name: string): Any => revealValue(get(type, name).inputs);

/** OpenStack-like answers: a UUID-ish id per resource, an address per floating IP. */
function openstackState(args: { type: string; name: string; inputs: Record<string, Any> }): { id: string; state: Record<string, unknown> } | undefined {
    const fipAddress: Record<string, string> = { "kvm-os-node-1-fip": "192.0.2.21", "kvm-os-node-2-fip": "192.0.2.22" };
    if (args.type.startsWith("openstack:")) {
        const id = `uuid-${args.name}`;
        return { id, state: { ...args.inputs, ...(fipAddress[args.name] ? { address: fipAddress[args.name] } : {}) } };
    }
    if (args.type === "tls:index/privateKey:PrivateKey") {
        return {
            id: args.name,
            state: {
                ...args.inputs,
                privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${args.name}\n-----END OPENSSH PRIVATE KEY-----\n`,
                publicKeyOpenssh: `ssh-ed25519 AAAA${args.name.replace(/-/g, "")}`,
                publicKeyFingerprintSha256: `SHA256:${args.name}`,
            },
        };
    }
    if (args.type === "command:remote:Command") {
        const node = /kvm-os-(node-\d)-ready/.exec(args.name)![1];
        return { id: args.name, state: { ...args.inputs, stdout: `NIXLAB-READY node=${node} kvm=ok cloud-init-rc=0\n` } };
    }
    return undefined;
}

beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-openstack-up-"));
    const qcow2 = path.join(dir, "nixos-x86_64.qcow2");
    fs.writeFileSync(qcow2, Buffer.from("QFI\xfb", "latin1"));
    const doc = parse(fs.readFileSync(stackFile(STACK), "utf8"));
    doc.config["nixlab:lab"].image = { artifacts: [{ path: qcow2, format: "qcow2", arch: "x86_64", bootMode: "bios", sha256: SHA }] };
    doc.config["nixlab:lab"].expiresAt = "2026-11-24T18:00:00Z";
    const file = path.join(dir, "stack.yaml");
    fs.writeFileSync(file, stringify(doc));
    result = await runOffline({
        stack: STACK,
        config: readStackConfig(file),
        preview: false,
        program: async () => ({ ...(await import("../index")) }),
        resources: [(args) => openstackState(args)],
        calls: {},
    });
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

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
        const nodes = result.outputs.nodes as Record<string, Any>;
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
        expect(result.outputs.backendKind).toBe("openstack");
    });
});
