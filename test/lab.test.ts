/**
 * The Lab component on a fake backend, run like `pulumi up` under mocks: names, parents,
 * keys, cloud-init, expiry, outputs. (Preview behaviour: lab-preview.test.ts.)
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../components/lab";
import { parseLabConfig } from "../components/spec";
import { labTags, nodeTags } from "../components/tags";
import { OfflineResult, RecordedResource, revealValue, runOffline } from "../scripts/offline";
import { fakeBackend } from "./support/fakeBackend";
import { tempDir } from "./support/tmp";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ alice@laptop";
const SHA = "a".repeat(64);
const DISK = join(tempDir("nixlab-lab-"), "disk.qcow2");
writeFileSync(DISK, "not really a disk");

const spec = parseLabConfig(
    {
        name: "dev",
        owner: "alice",
        ttl: "2h",
        user: { sshAuthorizedKeys: [KEY] },
        image: { artifacts: [{ path: DISK, format: "qcow2", arch: "x86_64", bootMode: "uefi", sha256: SHA }] },
        tags: { team: "kernel" },
        nodes: [
            { name: "builder", volumes: [{ name: "scratch", sizeGiB: 50 }] },
            { name: "runner", kvm: "none" },
        ],
    },
    "dev-stack",
);

/** The fake backend, with `runner` reachable only through a jump host (as libvirt over qemu+ssh is). */
function backendWithJump(): ReturnType<typeof fakeBackend> {
    const base = fakeBackend();
    return {
        ...base,
        createNode: (ctx, name, args) => {
            const node = base.createNode(ctx, name, args);
            return args.node.name === "runner" ? { ...node, sshProxyJump: pulumi.output("ops@hv1.example.com") } : node;
        },
    };
}

let result: OfflineResult;
const byName = (name: string): RecordedResource => {
    const r = result.resources.find((x) => x.name === name);
    if (!r) throw new Error(`no resource ${name}`);
    return r;
};

beforeAll(async () => {
    result = await runOffline({
        stack: "dev-stack",
        config: {},
        preview: false,
        resources: [
            ({ type, name }) => {
                if (type === "tls:index/privateKey:PrivateKey") {
                    return {
                        id: `${name}-id`,
                        state: {
                            algorithm: "ED25519",
                            privateKeyOpenssh: `PRIVATE-${name}\n`,
                            publicKeyOpenssh: `ssh-ed25519 PUB-${name}\n`,
                            publicKeyFingerprintSha256: `SHA256:FP-${name}`,
                        },
                    };
                }
                if (type === "pulumi-nodejs:dynamic/nixlab:Clock") {
                    return { id: "c", state: { ttlMillis: 7_200_000, createdAt: "2026-11-23T10:00:00.000Z", expiresAt: "2026-11-23T12:00:00.000Z" } };
                }
                if (type === "nixlab-test:index:Node") return { id: `${name}-vm`, state: { address: `198.51.100.${name.endsWith("builder") ? 1 : 2}` } };
                return undefined;
            },
        ],
        program: async () => {
            const lab = new Lab("dev", { spec, backend: backendWithJump(), stack: "dev-stack" });
            return { nodes: lab.nodes, sshConfig: lab.sshConfig, knownHosts: lab.knownHosts, ansibleInventory: lab.ansibleInventory, expiresAt: lab.expiresAt };
        },
    });
});

describe("Lab", () => {
    it("registers exactly the expected children, all parented to the lab", () => {
        // Registration order follows promise resolution, so compare sorted by name.
        const sorted = [...result.resources].sort((a, b) => a.name.localeCompare(b.name));
        expect(sorted.map((r) => [r.type, r.name, r.parent ?? null])).toEqual([
            ["nixlab:index:Lab", "dev", null],
            ["nixlab-test:index:Node", "dev-builder", "dev"],
            ["tls:index/privateKey:PrivateKey", "dev-builder-host-ed25519", "dev"],
            ["nixlab-test:index:Volume", "dev-builder-scratch", "dev"],
            ["pulumi-nodejs:dynamic/nixlab:Clock", "dev-clock", "dev"],
            ["nixlab-test:index:Image", "dev-image-x86_64", "dev"],
            ["nixlab-test:index:Network", "dev-net", "dev"],
            ["tls:index/privateKey:PrivateKey", "dev-operator-key", "dev"],
            ["nixlab-test:index:Node", "dev-runner", "dev"],
            ["tls:index/privateKey:PrivateKey", "dev-runner-host-ed25519", "dev"],
        ]);
    });

    it("tags with the lab's nixlab:* keys and its own tags, expiry from the clock", () => {
        expect(byName("dev-net").inputs.tags).toEqual({
            team: "kernel",
            "nixlab:lab": "dev",
            "nixlab:owner": "alice",
            "nixlab:stack": "dev-stack",
            "nixlab:expires-at": "2026-11-23T12:00:00.000Z",
        });
        expect(byName("dev-clock").inputs.ttlMillis).toBe(7_200_000);
    });

    it("hands each node secret user-data with its own host key and the operator key", () => {
        const raw = byName("dev-builder").inputs.userData as Record<string, unknown>;
        expect(raw).toHaveProperty("4dabf18193072939515e22adb298388d");
        const doc = parse(revealValue(raw) as string);
        expect(doc.hostname).toBe("builder");
        expect(doc.ssh_keys).toEqual({ ed25519_private: "PRIVATE-dev-builder-host-ed25519\n", ed25519_public: "ssh-ed25519 PUB-dev-builder-host-ed25519" });
        expect(doc.users[0].ssh_authorized_keys).toEqual([KEY, "ssh-ed25519 PUB-dev-operator-key"]);
        expect(byName("dev-builder").inputs.privateAddress).toBe("10.77.0.10");
        expect(byName("dev-runner").inputs.privateAddress).toBe("10.77.0.11");
        expect(byName("dev-builder").inputs.volumes).toEqual(["dev-builder-scratch-id"]);
    });

    it("passes the prebuilt artifact to the backend's image", () => {
        expect(byName("dev-image-x86_64").inputs.artifact).toEqual({
            path: DISK,
            format: "qcow2",
            arch: "x86_64",
            bootMode: "uefi",
            hash: SHA,
        });
    });

    it("outputs per-node access and paste-able ssh_config, known_hosts and inventory", () => {
        const nodes = result.outputs.nodes as Record<string, Record<string, unknown>>;
        expect(nodes.builder).toEqual({
            name: "builder",
            machineType: "fake-2x4",
            privateAddress: "10.77.0.10",
            sshHost: "198.51.100.1",
            sshPort: 22,
            user: "lab",
            ssh: "ssh -o HostKeyAlias=dev-builder -o UserKnownHostsFile=~/.ssh/nixlab/dev.known_hosts -o StrictHostKeyChecking=yes lab@198.51.100.1",
            hostKeyFingerprints: { ed25519: "SHA256:FP-dev-builder-host-ed25519" },
            ready: "NIXLAB-READY dev-builder-vm",
        });
        // No jump host: no proxyJump key at all (not undefined, which would be null in outputs).
        expect(Object.keys(nodes.builder!)).not.toContain("proxyJump");
        expect(nodes.runner).toEqual({
            name: "runner",
            machineType: "fake-2x4",
            privateAddress: "10.77.0.11",
            sshHost: "198.51.100.2",
            sshPort: 22,
            user: "lab",
            proxyJump: "ops@hv1.example.com",
            ssh: "ssh -o HostKeyAlias=dev-runner -o UserKnownHostsFile=~/.ssh/nixlab/dev.known_hosts -o StrictHostKeyChecking=yes -J ops@hv1.example.com lab@198.51.100.2",
            hostKeyFingerprints: { ed25519: "SHA256:FP-dev-runner-host-ed25519" },
            ready: "NIXLAB-READY dev-runner-vm",
        });
        expect(result.outputs.knownHosts).toBe(
            "dev-builder ssh-ed25519 PUB-dev-builder-host-ed25519\ndev-runner ssh-ed25519 PUB-dev-runner-host-ed25519\n",
        );
        expect(result.outputs.sshConfig).toContain("Host dev-runner\n    HostName 198.51.100.2\n");
        expect(parse(result.outputs.ansibleInventory as string).all.hosts["dev-runner"]).toMatchObject({ ansible_host: "198.51.100.2", nixlab_node: "runner" });
        expect(result.outputs.expiresAt).toBe("2026-11-23T12:00:00.000Z");
    });
});

describe("nodeTags", () => {
    it("adds nixlab:node and the KVM mode the node asked for", async () => {
        const s = parseLabConfig(
            {
                name: "t",
                owner: "alice",
                user: { sshAuthorizedKeys: [KEY] },
                image: { artifacts: [{ path: DISK, format: "qcow2", arch: "x86_64", bootMode: "uefi", sha256: SHA }] },
                tags: { team: "kernel" },
                defaults: { kvm: "nested" },
                nodes: [{ name: "a", kvm: "metal", tags: { rack: "r1" } }, { name: "c", kvm: "none" }, { name: "d" }],
            },
            "t-stack",
        );
        const lab = labTags(s, "t-stack", "2026-11-23T12:00:00.000Z");
        const of = (i: number) => nodeTags(lab, s.nodes[i]!);
        const base = { team: "kernel", "nixlab:lab": "t", "nixlab:owner": "alice", "nixlab:stack": "t-stack", "nixlab:expires-at": "2026-11-23T12:00:00.000Z" };
        expect(await of(0)).toEqual({ ...base, rack: "r1", "nixlab:node": "a", "nixlab:kvm": "metal" });
        expect(await of(1)).toEqual({ ...base, "nixlab:node": "c", "nixlab:kvm": "none" });
        expect(await of(2)).toEqual({ ...base, "nixlab:node": "d", "nixlab:kvm": "nested" });
    });

    it("keeps the program's nixlab:* values even over tags that bypassed validation", async () => {
        const s = parseLabConfig(
            { name: "t", owner: "alice", user: { sshAuthorizedKeys: [KEY] }, image: { artifacts: [{ path: DISK, format: "qcow2", arch: "x86_64", bootMode: "uefi", sha256: SHA }] }, nodes: [{ name: "a", kvm: "metal" }] },
            "t-stack",
        );
        const forged = { ...s, tags: { "nixlab:kvm": "lab-says" }, nodes: [{ ...s.nodes[0]!, tags: { "nixlab:kvm": "none", "nixlab:node": "b" } }] };
        const lab = labTags(forged, "t-stack", "x");
        const tags = nodeTags(lab, forged.nodes[0]!);
        expect(tags["nixlab:kvm"]).toBe("metal");
        expect(tags["nixlab:node"]).toBe("a");
    });
});
