/**
 * The aws-arm64 lab as `pulumi up` would see it, with fake cloud answers: keys, instance
 * addresses and the readiness command's output. One setting differs from the stack file to
 * cover its branch: nixlab:aws.vmimportRoleName names an existing role. Checks what only a
 * deployment shows: the rendered user-data, the readiness connection, and the per-node
 * stack outputs.
 */
import { describe, expect, it } from "vitest";
import { factory } from "../providers/aws";
import { revealValue, type ResourceHandler } from "../scripts/offline";
import { fakeKey, fakeKeys, readyCommands } from "./support/fakeCloud";
import { ofType, oneOf, useStackRun } from "./support/stackRun";

const STACK = "aws-arm64";
const USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v alice@laptop";

/** Each instance's public address, as EC2 assigns it: 198.51.100.10 + the last octet of its private one - 10. */
const publicIps: ResourceHandler = ({ type, name, inputs }) =>
    type === "aws:ec2/instance:Instance"
        ? { id: `${name}-id`, state: { ...inputs, publicIp: `198.51.100.${Number(String(inputs.privateIp).split(".")[3])}` } }
        : undefined;

const run = useStackRun({
    stack: STACK,
    artifact: { file: "nixos-amazon-aarch64.vhd", format: "vhd", arch: "aarch64", bootMode: "uefi", sha256: "ab".repeat(32) },
    expiresAt: "2026-12-01T18:00:00Z",
    mode: "up",
    program: factory,
    edit: (config) => {
        config["nixlab:aws"].vmimportRoleName = "vmimport";
    },
    resources: [fakeKeys, readyCommands("kvm-arm"), publicIps],
});

const all = (type: string) => ofType(run.resources, type);
const one = (type: string, name: string) => oneOf(run.resources, type, name);

describe("aws-arm64 up (fake cloud)", () => {
    it("reports each node ready, on its machine type, reachable at its public address", () => {
        expect(run.outputs.nodes).toEqual({
            host: {
                name: "host",
                machineType: "c6g.metal",
                privateAddress: "10.78.0.10",
                sshHost: "198.51.100.10",
                sshPort: 22,
                user: "lab",
                ssh: "ssh -o HostKeyAlias=kvm-arm-host -o UserKnownHostsFile=~/.ssh/nixlab/kvm-arm.known_hosts -o StrictHostKeyChecking=yes lab@198.51.100.10",
                hostKeyFingerprints: { ed25519: fakeKey("kvm-arm-host-host-ed25519").publicKeyFingerprintSha256 },
                ready: "NIXLAB-READY node=host kvm=ok cloud-init-rc=0",
            },
            builder: {
                name: "builder",
                machineType: "c7g.metal",
                privateAddress: "10.78.0.11",
                sshHost: "198.51.100.11",
                sshPort: 22,
                user: "lab",
                ssh: "ssh -o HostKeyAlias=kvm-arm-builder -o UserKnownHostsFile=~/.ssh/nixlab/kvm-arm.known_hosts -o StrictHostKeyChecking=yes lab@198.51.100.11",
                hostKeyFingerprints: { ed25519: fakeKey("kvm-arm-builder-host-ed25519").publicKeyFingerprintSha256 },
                ready: "NIXLAB-READY node=builder kvm=ok cloud-init-rc=0",
            },
        });
    });

    it("renders each node's cloud-init into userData: its host key, the user's and the operator's SSH keys, no passwords", () => {
        for (const node of ["host", "builder"]) {
            const doc = revealValue(one("aws:ec2/instance:Instance", `kvm-arm-${node}`).inputs.userData) as string;
            expect(doc.startsWith("#cloud-config\n")).toBe(true);
            expect(doc).toContain(`hostname: ${node}\n`);
            expect(doc).toContain(USER_KEY);
            expect(doc).toContain(fakeKey("kvm-arm-operator-key").publicKeyOpenssh.trim());
            expect(doc).toContain(fakeKey(`kvm-arm-${node}-host-ed25519`).privateKeyOpenssh.trim().split("\n")[1]!);
            expect(doc).toContain("lock_passwd: true");
            expect(doc).toContain("ssh_pwauth: false");
            expect(Buffer.byteLength(doc)).toBeLessThanOrEqual(16 * 1024);
        }
    });

    it("checks readiness over SSH at the public address with the operator key, pinning the node's host key, once per instance", () => {
        for (const [node, ip] of [
            ["host", "198.51.100.10"],
            ["builder", "198.51.100.11"],
        ]) {
            const cmd = one("command:remote:Command", `kvm-arm-${node}-ready`).inputs;
            expect(revealValue(cmd.connection)).toMatchObject({
                host: ip,
                port: 22,
                user: "lab",
                privateKey: fakeKey("kvm-arm-operator-key").privateKeyOpenssh,
                hostKey: fakeKey(`kvm-arm-${node}-host-ed25519`).publicKeyOpenssh,
            });
            expect(cmd.triggers).toEqual([`kvm-arm-${node}-id`]);
            expect(cmd.create).toContain(`/dev/kvm missing although kvm: metal was asked for`);
        }
    });

    it("gives every node a public address (a lab without one is refused at plan time)", () => {
        for (const i of all("aws:ec2/instance:Instance")) expect(i.inputs.associatePublicIpAddress).toBe(true);
    });

    it("imports through the role named in nixlab:aws.vmimportRoleName and creates none", () => {
        expect(all("aws:iam/role:Role")).toEqual([]);
        expect(all("aws:iam/rolePolicy:RolePolicy")).toEqual([]);
        expect(one("aws:ebs/snapshotImport:SnapshotImport", "kvm-arm-image-aarch64-snapshot").inputs.roleName).toBe("vmimport");
    });
});
