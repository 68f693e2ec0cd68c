/**
 * Every cloud stack's lab in one `pulumi preview` under mocks (Pulumi's runtime is global:
 * one run per file), as a first preview sees it: no nixlab:lab.expiresAt, so the expiry
 * comes from the Clock and is unknown. Checks what a reviewer and a first `up` depend on:
 *
 * - tags: every key and every value but the expiry readable on every taggable resource;
 * - SSH readiness: each check pins the host key the program generated for that node (never
 *   "accept any key") and carries customTimeouts, so no `up` waits forever. A preview cannot
 *   show the connection (it holds the node's address, unknown until the instance exists,
 *   which makes the whole input unknown), so @pulumi/command's Command is wrapped to note the
 *   args and options the program constructs it with, then registers as usual;
 * - publicAddresses: false, refused at plan time.
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Lab, planLab } from "../components/lab";
import { ConfigError } from "../components/problems";
import { readinessTimeouts } from "../components/ready";
import { parseLabConfig, type LabSpec } from "../components/spec";
import { backendLoaders } from "../providers";
import { TAGGABLE, EXPIRES_AT, GCP_EXPIRES_AT } from "../policy/policies";
import { gcpLabelValue } from "../providers/gcp/labels";
import { describeValue, runOffline, UNKNOWN, type OfflineResult, type RecordedResource } from "../scripts/offline";
import { PROJECT_DIR, stackFile } from "../scripts/plan";
import { fakeKey, fakeKeys } from "./support/fakeCloud";
import { fixedVhd, QCOW2_MAGIC, type Any } from "./support/stackRun";

const SHA = "c0ffee00".repeat(8);
/**
 * Every cloud backend, VMs and bare metal among them (openstack-x86_64 goes through the
 * same code as openstack-arm64), each with the prebuilt artifact its backend accepts.
 */
const STACKS: Record<string, { file: string; content?: string | Buffer; format: string; arch: string; bootMode: string }> = {
    "aws-x86_64": { file: "aws-x86.vhd", format: "vhd", arch: "x86_64", bootMode: "bios" },
    "aws-arm64": { file: "aws-arm.vhd", format: "vhd", arch: "aarch64", bootMode: "uefi" },
    "gcp-x86_64": { file: "gce.raw.tar.gz", format: "tar.gz", arch: "x86_64", bootMode: "uefi" },
    "azure-x86_64": { file: "azure.vhd", content: fixedVhd(), format: "vhd", arch: "x86_64", bootMode: "uefi" },
    "openstack-arm64": { file: "os-arm.qcow2", content: QCOW2_MAGIC, format: "qcow2", arch: "aarch64", bootMode: "uefi" },
};

interface Seen {
    name: string;
    /** The Command's args as the program passed them. */
    props: Record<string, Any>;
    opts: pulumi.CustomResourceOptions;
}

const seen: Seen[] = [];

/**
 * components/ready.ts loads @pulumi/command with require() when it first needs it, from
 * the SDK's lazily loaded `remote/command` module; replacing that module's Command class
 * (a plain, writable export) before the run makes every check go through the wrapper.
 */
function wrapRemoteCommand(): () => void {
    const mod = createRequire(__filename)("@pulumi/command/remote/command") as { Command: new (n: string, p: Any, o?: Any) => object };
    const Real = mod.Command;
    mod.Command = class extends Real {
        constructor(name: string, props: Any, opts?: Any) {
            seen.push({ name, props, opts: opts ?? {} });
            super(name, props, opts);
        }
    };
    return () => {
        mod.Command = Real;
    };
}

let dir: string;
let result: OfflineResult;
const specs = new Map<string, LabSpec>();

let unwrap: () => void;

beforeAll(async () => {
    unwrap = wrapRemoteCommand();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-clouds-preview-"));
    result = await runOffline({
        stack: "clouds-preview",
        config: {},
        // Like `pulumi preview`; every key answered with a fake one, so host keys are known.
        preview: true,
        resources: [fakeKeys],
        program: async () => {
            for (const [stack, { file, content, ...artifact }] of Object.entries(STACKS)) {
                const config = (parse(fs.readFileSync(stackFile(stack), "utf8")) as { config: Record<string, Any> }).config;
                const artifactPath = path.join(dir, file);
                fs.writeFileSync(artifactPath, content ?? "not really a disk image");
                config["nixlab:lab"].image = { artifacts: [{ path: artifactPath, sha256: SHA, ...artifact }] };
                const spec = parseLabConfig(config["nixlab:lab"], stack);
                const factory = await backendLoaders[config["nixlab:backend"] as keyof typeof backendLoaders]();
                specs.set(stack, spec);
                new Lab(spec.name, { spec, backend: factory.fromConfig(config[factory.configKey]), stack, projectDir: PROJECT_DIR });
            }
            return {};
        },
    });
});

afterAll(() => {
    unwrap?.();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Every node of every stack, with the readiness command the program should register for it. */
function expectedChecks() {
    return [...specs.values()].flatMap((lab) => lab.nodes.map((node) => ({ lab, node, command: `${lab.name}-${node.name}-ready` })));
}

describe("tags in a first preview", () => {
    const EXPIRY = new Set([EXPIRES_AT, GCP_EXPIRES_AT]);

    /** Each taggable resource's tags as `key=value` strings, the way the plan shows them. */
    function shownTags(r: RecordedResource): string[] | string {
        const inputs = describeValue(r.inputs) as Record<string, Any>;
        const kind = TAGGABLE[r.type]!;
        const field = kind === "labels" ? inputs.labels : kind === "metadata" ? inputs.metadata : inputs.tags;
        if (typeof field === "string") return field; // "[unknown]": the whole map hidden
        if (Array.isArray(field)) return field as string[];
        return Object.entries(field as Record<string, string>).map(([k, v]) => `${k}=${v}`);
    }

    const taggable = () => result.resources.filter((r) => r.type in TAGGABLE);

    it("runs with the expiry unknown, as a first `pulumi preview` does", () => {
        const clocks = result.resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource" || r.type.endsWith(":Clock"));
        expect(clocks.map((c) => c.name).sort()).toEqual([...specs.values()].map((l) => `${l.name}-clock`).sort());
        // Every cloud's taggable resource types are among those checked.
        expect(new Set(taggable().map((r) => r.type.split(":")[0]))).toEqual(new Set(["aws", "gcp", "azure-native", "openstack"]));
    });

    it("shows every key, and every value but the expiry, on every taggable resource", () => {
        const hidden: string[] = [];
        for (const r of taggable()) {
            const tags = shownTags(r);
            if (typeof tags === "string") {
                hidden.push(`${r.type} ${r.name}: ${tags}`);
                continue;
            }
            for (const t of tags) {
                // A tag list (OpenStack) shows the unknown `nixlab:expires-at=...` element as a whole.
                if (t === UNKNOWN) continue;
                const [k, v] = [t.slice(0, t.indexOf("=")), t.slice(t.indexOf("=") + 1)];
                if (EXPIRY.has(k)) expect(v, `${r.type} ${r.name} ${k}`).toBe(UNKNOWN);
                else if (v === UNKNOWN || k.includes(UNKNOWN)) hidden.push(`${r.type} ${r.name}: ${t}`);
            }
        }
        expect(hidden).toEqual([]);
    });

    it("names its lab, owner and stack on every taggable resource, in the cloud's own spelling", () => {
        for (const r of taggable()) {
            const tags = shownTags(r) as string[];
            const lab = [...specs.entries()].find(([, l]) => r.name.startsWith(`${l.name}-`))!;
            const [stack, spec] = lab;
            const expected =
                TAGGABLE[r.type] === "labels"
                    ? [`nixlab-lab=${spec.name}`, `nixlab-owner=${gcpLabelValue(spec.owner)}`, `nixlab-stack=${gcpLabelValue(stack)}`]
                    : [`nixlab:lab=${spec.name}`, `nixlab:owner=${spec.owner}`, `nixlab:stack=${stack}`];
            expect(tags, `${r.type} ${r.name}`).toEqual(expect.arrayContaining(expected));
            // Exactly one expiry, unknown for now (a tag list holds it as one unknown element).
            expect(tags.filter((t) => t === UNKNOWN || EXPIRY.has(t.split("=")[0]!)), `${r.type} ${r.name}`).toHaveLength(1);
        }
    });

    it("configures each cloud's provider with every default tag known (all but the expiry)", () => {
        const aws = result.resources.filter((r) => r.type === "pulumi:providers:aws");
        expect(aws).toHaveLength(2);
        for (const p of aws) {
            const tags = JSON.parse(p.inputs.defaultTags as string).tags as Record<string, string>;
            expect(Object.keys(tags).sort()).toEqual(["nixlab:lab", "nixlab:owner", "nixlab:stack"]);
        }
        const gcpProvider = result.resources.find((r) => r.type === "pulumi:providers:gcp")!;
        expect(Object.keys(JSON.parse(gcpProvider.inputs.defaultLabels as string)).sort()).toEqual(["nixlab-lab", "nixlab-owner", "nixlab-stack"]);
    });
});

describe("SSH readiness on the clouds", () => {
    it("registers exactly one readiness command per node of every cloud stack", () => {
        const commands = result.resources.filter((r) => r.type === "command:remote:Command").map((r) => r.name);
        expect(commands.sort()).toEqual(expectedChecks().map((c) => c.command).sort());
        expect(commands).toHaveLength(11);
    });

    it("pins each node's generated host key: connection.hostKey is that node's own public key", async () => {
        for (const { lab, node, command } of expectedChecks()) {
            const connection = seen.find((c) => c.name === command)!.props.connection;
            const hostKey = await new Promise((resolve) => pulumi.output(connection.hostKey).apply(resolve));
            expect(hostKey, command).toBe(fakeKey(`${lab.name}-${node.name}-host-ed25519`).publicKeyOpenssh);
            // No bastion on any cloud today; one would need its own pinned key (SshReadinessArgs.proxy).
            expect(connection.proxy, command).toBeUndefined();
        }
    });

    it("bounds every check with customTimeouts: 30m on VMs, 60m on bare metal", () => {
        expect(seen.map((c) => c.name).sort()).toEqual(expectedChecks().map((c) => c.command).sort());
        const byName = new Map(seen.map((c) => [c.name, c.opts.customTimeouts]));
        const metal: string[] = [];
        for (const { node, command } of expectedChecks()) {
            expect(byName.get(command), command).toEqual(readinessTimeouts(node));
            if (node.kvm === "metal") metal.push(command);
        }
        expect(readinessTimeouts({ kvm: "metal" } as Any)).toEqual({ create: "60m", update: "60m", delete: "1m" });
        expect(readinessTimeouts({ kvm: "nested" } as Any)).toEqual({ create: "30m", update: "30m", delete: "1m" });
        // The stacks cover both: AWS Graviton and OpenStack Ironic hosts are metal.
        expect(metal.sort()).toEqual(["kvm-arm-builder-ready", "kvm-arm-host-ready", "kvm-os-arm-host-1-ready", "kvm-os-arm-host-2-ready"]);
    });
});

describe("publicAddresses: false, refused before anything is created", () => {
    const REFUSAL =
        "nixlab:lab.network.publicAddresses: is false, but then no node has an address reachable from where Pulumi runs: the lab's network is new and isolated " +
        "(no VPN, peering or bastion into it), so `up` would retry the SSH readiness check until it times out, and on AWS " +
        "and GCP the nodes would have no internet egress either (the lab creates no NAT gateway). Remove the setting (default true) " +
        "and keep nixlab:lab.network.sshIngressCidrs to the addresses you connect from: SSH stays key-only with the host key pinned, " +
        "and nothing else is open. For a lab without public addresses, use nixlab:backend: libvirt";

    /** The stack file's lab and backend with publicAddresses: false, planned as `up` would plan it first. */
    async function plan(stack: string): Promise<string[]> {
        const config = (parse(fs.readFileSync(stackFile(stack), "utf8")) as { config: Record<string, Any> }).config;
        config["nixlab:lab"].network.publicAddresses = false;
        config["nixlab:lab"].image = { artifacts: [{ path: "/img/x", format: { aws: "vhd", gcp: "tar.gz", azure: "vhd", openstack: "qcow2", libvirt: "qcow2" }[config["nixlab:backend"] as string], arch: "x86_64", bootMode: "uefi" }] };
        const factory = await backendLoaders[config["nixlab:backend"] as keyof typeof backendLoaders]();
        try {
            planLab(parseLabConfig(config["nixlab:lab"], stack), factory.fromConfig(config[factory.configKey]));
            return [];
        } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            return e.problems.map((p) => `${p.path}: ${p.message}`);
        }
    }

    it.each(["aws-x86_64", "gcp-x86_64", "azure-x86_64", "openstack-x86_64"])("%s: one problem naming the key, why, and what works", async (stack) => {
        expect(await plan(stack)).toEqual([REFUSAL]);
    });

    it("libvirt, whose network the hypervisor itself routes, plans it without a problem", async () => {
        expect(await plan("local")).toEqual([]);
    });
});
