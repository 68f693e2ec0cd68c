/**
 * stacks/Pulumi.local.yaml through the real program (index.ts) under mocks, as `pulumi up`
 * would run it on the libvirt backend, with every provider faked: the resource graph
 * (types, names, parents, counts), the inputs each libvirt resource gets (pool path,
 * network XML, volume sizes, seed, domain XML, tags in the domain's metadata), and the
 * outputs. The image is built from the stack's flake, so the build invoke
 * (`command:local:run`) is mocked and answers with a fake store path.
 *
 * Writes test/__snapshots__/plan-local.json: review its diff in a pull request to see what
 * a change does to this stack.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readyCommand } from "../components/cloudinit";
import type { NodeSpec } from "../components/spec";
import { describeValue, programOutputs, revealValue, runOffline, type OfflineResult, type RecordedResource } from "../scripts/offline";
import { readStackConfig } from "../scripts/plan";
import { macAddress, renderNetworkConfig, renderNetworkXml, renderVendorData } from "../providers/libvirt/render";
import { tempDir } from "./support/tmp";

const ROOT = path.resolve(__dirname, "..");
const STACK = "local";
const T = "pulumi-nodejs:dynamic/nixlab-libvirt:";
const GiB = 1024 ** 3;
const EXPIRES = "2026-11-24T02:00:00.000Z";
// A store path as `nix build --json` names it (Nix base32: no e, o, t, u).
const STORE_HASH = "0123456789abcdfghijklmnpqrsvwxyz";
const WORK = tempDir("nixlab-libvirt-local-");
const STORE_PATH = path.join(WORK, `${STORE_HASH}-nixos-image-libvirt`);
const DISK = path.join(STORE_PATH, "nixos.qcow2");

let result: OfflineResult;
const invokes: { token: string; inputs: Record<string, unknown> }[] = [];

/** What the providers would return, deterministic: inputs plus made-up computed outputs. */
function fakeOuts(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    const { __provider: _code, ...rest } = revealValue(inputs) as Record<string, unknown>;
    switch (type.replace(T, "")) {
        case "ImageVolume":
            return { ...rest, path: `/var/lib/libvirt/nixlab/local/${rest.name}`, capacityBytes: 3 * GiB };
        case "Volume":
            return { ...rest, path: `/var/lib/libvirt/nixlab/local/${rest.name}`, generation: `gen-${name}` };
        case "SeedVolume":
            return { ...rest, path: `/var/lib/libvirt/nixlab/local/${rest.name}`, instanceId: `iid-${name}` };
        case "Pool":
            return { ...rest, uuid: `uuid-${name}` };
        case "Network":
            return { ...rest, generation: `gen-${name}`, uuid: `uuid-${name}` };
        case "Domain":
            return { ...rest, uuid: `uuid-${name}`, ready: `NIXLAB-READY node=${rest.nodeName} kvm=ok` };
        case "pulumi-nodejs:dynamic/nixlab:Clock":
            return { ...rest, createdAt: "2026-11-23T18:00:00.000Z", expiresAt: EXPIRES };
        case "tls:index/privateKey:PrivateKey":
            return {
                algorithm: "ED25519",
                privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\nPRIVATE-${name}\n-----END OPENSSH PRIVATE KEY-----\n`,
                publicKeyOpenssh: `ssh-ed25519 PUB${name.replace(/-/g, "")}\n`,
                publicKeyFingerprintSha256: `SHA256:FP-${name}`,
            };
        default:
            return rest;
    }
}

beforeAll(async () => {
    fs.mkdirSync(STORE_PATH, { recursive: true });
    fs.writeFileSync(DISK, "not really a disk image");
    fs.writeFileSync(
        path.join(STORE_PATH, "nixlab-image.json"),
        JSON.stringify({ file: DISK, format: "qcow2", arch: "x86_64", bootMode: "uefi", target: "libvirt" }),
    );
    // The build step checks that `nix` exists before it invokes the build; the invoke
    // itself is mocked, so this stand-in never runs.
    fs.mkdirSync(path.join(WORK, "bin"));
    fs.writeFileSync(path.join(WORK, "bin", "nix"), "#!/bin/sh\nexit 99\n", { mode: 0o755 });
    process.env.PATH = `${path.join(WORK, "bin")}${path.delimiter}${process.env.PATH}`;

    result = await runOffline({
        stack: STACK,
        config: readStackConfig(path.join(ROOT, "stacks", `Pulumi.${STACK}.yaml`)),
        preview: false,
        program: async () => programOutputs(await import("../index")),
        resources: [
            (args) => (args.custom === false ? undefined : { id: `${args.name}-id`, state: fakeOuts(args.type, args.name, args.inputs) }),
        ],
        calls: {
            "command:local:run": (args) => {
                invokes.push({ token: args.token, inputs: args.inputs });
                return { command: args.inputs.command, stdout: JSON.stringify([{ drvPath: `${STORE_PATH}.drv`, outputs: { out: STORE_PATH } }]), stderr: "" };
            },
        },
    });
}, 60_000);

function one(type: string, name: string): RecordedResource {
    const found = result.resources.filter((r) => r.type === type && r.name === name);
    expect(found, `${type} ${name}`).toHaveLength(1);
    return found[0]!;
}

function inputsOf(type: string, name: string): Record<string, unknown> {
    const { __provider: _code, ...rest } = describeValue(one(type, name).inputs) as Record<string, unknown>;
    return rest;
}

describe("stacks/Pulumi.local.yaml on libvirt", () => {
    it("registers exactly the lab's resources, all under the Lab", () => {
        const lines = result.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? "(stack)"}`).sort();
        expect(lines).toEqual(
            [
                "nixlab:index:Lab local <- (stack)",
                "pulumi-nodejs:dynamic/nixlab:Clock local-clock <- local",
                "tls:index/privateKey:PrivateKey local-operator-key <- local",
                "tls:index/privateKey:PrivateKey local-node-1-host-ed25519 <- local",
                "tls:index/privateKey:PrivateKey local-node-2-host-ed25519 <- local",
                `${T}Pool local-net-pool <- local`,
                `${T}Network local-net <- local`,
                `${T}ImageVolume local-image-x86_64 <- local`,
                `${T}Volume local-node-1-scratch <- local`,
                `${T}Volume local-node-2-scratch <- local`,
                `${T}Volume local-node-1-root <- local`,
                `${T}Volume local-node-2-root <- local`,
                `${T}SeedVolume local-node-1-cidata <- local`,
                `${T}SeedVolume local-node-2-cidata <- local`,
                `${T}Domain local-node-1 <- local`,
                `${T}Domain local-node-2 <- local`,
            ].sort(),
        );
    });

    it("builds the image once, from the stack's flake", () => {
        expect(invokes).toHaveLength(1);
        expect(invokes[0]!.inputs.command).toBe(
            "nix --extra-experimental-features 'nix-command flakes' build --no-link --json './images#packages.x86_64-linux.libvirt'",
        );
    });

    it("serializes every libvirt provider without module imports or secrets", () => {
        const dynamic = result.resources.filter((r) => r.type.startsWith(T));
        expect(dynamic).toHaveLength(11);
        for (const r of dynamic) {
            const code = r.inputs.__provider;
            expect(typeof code, r.name).toBe("string");
            expect(code as string).toContain("virsh");
            expect(code as string).not.toMatch(/__vi_|__vite_ssr|BEGIN OPENSSH PRIVATE KEY/);
        }
    });

    it("serializes provider code once per provider object: one text for all libvirt resources, one for the Clock", () => {
        // Serialization is paid per provider object (issue 11): six libvirt provider objects
        // made six texts of the same helpers, ~0.25 s more per run.
        const texts = new Map<string, string[]>();
        for (const r of result.resources) {
            const code = r.inputs.__provider;
            if (typeof code === "string") texts.set(code, [...(texts.get(code) ?? []), r.type.replace(T, "")]);
        }
        const users = [...texts.values()].map((types) => [...new Set(types)].sort().join(",")).sort();
        expect(users).toEqual(["Domain,ImageVolume,Network,Pool,SeedVolume,Volume", "pulumi-nodejs:dynamic/nixlab:Clock"]);
    });

    it("one dir pool and one NAT network per lab, DHCP and DNS entries for every node", () => {
        expect(inputsOf(`${T}Pool`, "local-net-pool")).toEqual({
            uri: "qemu:///system",
            name: "nixlab-local",
            path: "/var/lib/libvirt/nixlab/local",
            owner: { stack: "local", lab: "local" },
            kind: "Pool",
        });
        expect(inputsOf(`${T}Network`, "local-net")).toEqual({
            uri: "qemu:///system",
            name: "nixlab-local",
            xml: renderNetworkXml({ lab: "local", cidr: "10.77.0.0/24", owner: { stack: "local", lab: "local" } }),
            hosts: [
                { mac: macAddress("local", "node-1"), name: "node-1", ip: "10.77.0.10" },
                { mac: macAddress("local", "node-2"), name: "node-2", ip: "10.77.0.11" },
            ],
            kind: "Network",
        });
    });

    it("uploads the image once, named by its content hash", () => {
        expect(inputsOf(`${T}ImageVolume`, "local-image-x86_64")).toEqual({
            uri: "qemu:///system",
            pool: "nixlab-local",
            poolUuid: "uuid-local-net-pool",
            name: `nixlab-base-${STORE_HASH.slice(0, 16)}`,
            source: DISK,
            contentHash: STORE_HASH,
            format: "qcow2",
            kind: "ImageVolume",
        });
    });

    it("per node: a 20 GiB overlay on the image, a 10 GiB scratch volume", () => {
        for (const n of ["node-1", "node-2"]) {
            expect(inputsOf(`${T}Volume`, `local-${n}-root`)).toEqual({
                uri: "qemu:///system",
                pool: "nixlab-local",
                poolUuid: "uuid-local-net-pool",
                name: `${n}.root.qcow2`,
                capacityBytes: 20 * GiB,
                backing: { path: `/var/lib/libvirt/nixlab/local/nixlab-base-${STORE_HASH.slice(0, 16)}`, format: "qcow2", capacityBytes: 3 * GiB },
                domain: `nixlab-local.${n}`,
                sizeKey: "nixlab:lab.nodes.rootDiskGiB",
                kind: "Volume",
            });
            expect(inputsOf(`${T}Volume`, `local-${n}-scratch`)).toEqual({
                uri: "qemu:///system",
                pool: "nixlab-local",
                poolUuid: "uuid-local-net-pool",
                name: `${n}.vol-scratch.qcow2`,
                capacityBytes: 10 * GiB,
                domain: `nixlab-local.${n}`,
                sizeKey: "nixlab:lab.nodes.volumes[0].sizeGiB",
                kind: "Volume",
            });
        }
    });

    it("per node: a NoCloud seed with the secret user-data, a MAC-matched static address and the per-boot readiness script", () => {
        const seed = inputsOf(`${T}SeedVolume`, "local-node-2-cidata");
        expect(seed).toEqual({
            uri: "qemu:///system",
            pool: "nixlab-local",
            poolUuid: "uuid-local-net-pool",
            name: "node-2.cidata.iso",
            userData: "[secret]",
            networkConfig: renderNetworkConfig({
                mac: macAddress("local", "node-2"),
                address: "10.77.0.11",
                cidr: "10.77.0.0/24",
                gateway: "10.77.0.1",
                dns: "10.77.0.1",
            }),
            vendorData: renderVendorData(readyCommand({ name: "node-2" } as NodeSpec)),
            hostname: "node-2",
            instanceIdPrefix: "nixlab-local.node-2",
            kind: "SeedVolume",
        });
        const userData = revealValue(one(`${T}SeedVolume`, "local-node-2-cidata").inputs.userData) as string;
        expect(userData).toMatch(/^#cloud-config\n/);
        expect(userData).toContain("PRIVATE-local-node-2-host-ed25519");
    });

    it("per node: a KVM domain with nested virtualization, UEFI, disks in order, on the lab network", () => {
        const d = inputsOf(`${T}Domain`, "local-node-1");
        const xml = d.xml as string;
        expect(xml).toMatch(/^<domain type='kvm'>\n  <name>nixlab-local\.node-1<\/name>\n  <metadata>\n    <nixlab-owner:owner xmlns:nixlab-owner='https:\/\/nixlab\.dev\/xmlns\/libvirt\/owner\/1' stack='local' lab='local' node='node-1'\/>\n  <\/metadata>\n  <memory unit='MiB'>4096<\/memory>\n  <vcpu placement='static'>2<\/vcpu>\n  <os firmware='efi'>\n/);
        expect(xml).toContain("<cpu mode='host-passthrough' check='none' migratable='off'/>");
        expect(xml).toContain("<type arch='x86_64' machine='q35'>hvm</type>");
        expect([...xml.matchAll(/<source file='([^']+)'\/>\n      <target dev='(vd.)'/g)].map((m) => `${m[2]} ${m[1]}`)).toEqual([
            "vda /var/lib/libvirt/nixlab/local/node-1.root.qcow2",
            "vdb /var/lib/libvirt/nixlab/local/node-1.vol-scratch.qcow2",
            "vdc /var/lib/libvirt/nixlab/local/node-1.cidata.iso",
        ]);
        expect(xml).toContain(`<mac address='${macAddress("local", "node-1")}'/>\n      <source network='nixlab-local'/>`);
        expect(xml).toContain("<log file='/var/log/libvirt/qemu/nixlab-local.node-1.serial.log' append='off'/>");
        expect({ ...d, xml: undefined }).toEqual({
            uri: "qemu:///system",
            name: "nixlab-local.node-1",
            xml: undefined,
            tagsXml:
                "<tags>" +
                `<tag key='nixlab:expires-at'>${EXPIRES}</tag>` +
                "<tag key='nixlab:kvm'>nested</tag>" +
                "<tag key='nixlab:lab'>local</tag>" +
                "<tag key='nixlab:node'>node-1</tag>" +
                "<tag key='nixlab:owner'>alice@example.com</tag>" +
                "<tag key='nixlab:stack'>local</tag>" +
                "</tags>",
            metadataUri: "https://nixlab.dev/xmlns/libvirt/tags/1",
            serialLog: "/var/log/libvirt/qemu/nixlab-local.node-1.serial.log",
            hypervisorSsh: [],
            nodeName: "node-1",
            kvm: "nested",
            readyMarker: "NIXLAB-READY",
            readyTimeoutSeconds: 900,
            restartOn: ["gen-local-node-1-root", "iid-local-node-1-cidata", "gen-local-node-1-scratch", "gen-local-net"],
            kind: "Domain",
        });
    });

    it("nodes are reached at their private addresses; ready is the console's readiness line", () => {
        const nodes = result.outputs.nodes as Record<string, Record<string, unknown>>;
        expect(nodes["node-2"]).toMatchObject({
            machineType: "q35",
            privateAddress: "10.77.0.11",
            sshHost: "10.77.0.11",
            sshPort: 22,
            ready: "NIXLAB-READY node=node-2 kvm=ok",
        });
        expect(result.outputs.backendKind).toBe("libvirt");
    });
});

describe("plan snapshot", () => {
    it("matches test/__snapshots__/plan-local.json (review its diff to see what a change does to this stack)", async () => {
        const sorted = [...result.resources].sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
        const plan = {
            stack: STACK,
            resources: sorted.map((r) => ({ type: r.type, name: r.name, parent: r.parent ?? null, inputs: describeValue(r.inputs), options: r.options })),
        };
        const text = JSON.stringify(plan, null, 2).split(WORK).join("<fixture>") + "\n";
        await expect(text).toMatchFileSnapshot("__snapshots__/plan-local.json");
    });
});

describe("the serialized provider, loaded the way Pulumi's dynamic provider host loads it", () => {
    it("works outside the test runner: helpers and require() travel with the closure; it dispatches on kind", () => {
        const text = one(`${T}Pool`, "local-net-pool").inputs.__provider as string;
        const file = path.join(WORK, "provider.js");
        fs.writeFileSync(file, text);
        // The host does `requireFromString(props.__provider).handler()` (cmd/dynamic-provider).
        const script = `
            const p = require("require-from-string")(require("fs").readFileSync(process.argv[1], "utf8")).handler();
            (async () => {
                const out = { methods: Object.keys(p).sort() };
                out.poolDiff = await p.diff("p", { uri: "u", name: "n", path: "/a" }, { kind: "Pool", uri: "u", name: "n", path: "/b" });
                out.seedDiff = await p.diff(
                    "s",
                    { uri: "u", pool: "p", name: "n", networkConfig: "c", vendorData: "v", hostname: "h", instanceIdPrefix: "i", userDataSha256: "0" },
                    { kind: "SeedVolume", uri: "u", pool: "p", name: "n2", userData: "#cloud-config", networkConfig: "c", vendorData: "v", hostname: "h", instanceIdPrefix: "i" },
                );
                try {
                    await p.create({ kind: "Volume", uri: "u", pool: "p", name: "n", capacityBytes: 1073741824, backing: { path: "/b", format: "qcow2", capacityBytes: 2147483648 }, domain: "d", sizeKey: "nixlab:lab.nodes[0].rootDiskGiB" });
                } catch (e) { out.volumeError = e.message; }
                process.stdout.write(JSON.stringify(out));
            })();`;
        const out = JSON.parse(execFileSync(process.execPath, ["-e", script, file], { cwd: ROOT, encoding: "utf8" })) as Record<string, unknown>;
        expect(out.methods).toEqual(["check", "create", "delete", "diff", "update"]);
        expect(out.poolDiff).toEqual({ changes: true, replaces: ["path"], deleteBeforeReplace: true });
        expect(out.seedDiff).toEqual({ changes: true, replaces: ["name", "userData"], deleteBeforeReplace: true });
        expect(out.volumeError).toBe(
            "nixlab:lab.nodes[0].rootDiskGiB is 1 GiB but the image's disk is 2 GiB; a node's root disk cannot be smaller than its image: " +
                "set nixlab:lab.nodes[0].rootDiskGiB to at least 2",
        );
    });
});
