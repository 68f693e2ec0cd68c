/**
 * The `nixlab` command line against FakeWorkspace: argument handling, what each command
 * calls in which order, what it prints, and gc choosing exactly the expired stacks.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ttlMillis } from "../components/spec";
import type { CliDeps } from "../cli/commands";
import { missingStackFileMessage, StackFileError } from "../cli/stackFiles";
import { commandError, FakeWorkspace } from "./support/fakeWorkspace";
import { gcDecision, labRow, parseTtl, planExpiry } from "../cli/labs";
import { run } from "../cli/main";
import { backendEnv, ensureStateDir } from "../cli/workspace";
import { describeChanges, Progress } from "../cli/progress";

const NOW = new Date("2026-11-24T10:00:00.000Z");
const PROJECT = "/srv/nixlab";

interface Harness {
    stdout: string;
    stderr: string;
    opened: string[];
    sshRuns: { args: string[]; keyDuringRun?: string }[];
}

let home: string;
beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-cli-home-"));
});
afterEach(() => {
    fs.rmSync(home, { recursive: true, force: true });
});

async function nixlab(
    ws: FakeWorkspace,
    argv: string[],
    opts: { env?: NodeJS.ProcessEnv; confirm?: (q: string) => Promise<boolean>; sshExit?: number } = {},
): Promise<Harness & { code: number }> {
    const h: Harness = { stdout: "", stderr: "", opened: [], sshRuns: [] };
    const deps: CliDeps = {
        stdout: { write: (s: string) => (h.stdout += s), isTTY: false },
        stderr: { write: (s: string) => (h.stderr += s) },
        env: opts.env ?? {},
        now: () => NOW,
        projectDir: PROJECT,
        homeDir: home,
        openWorkspace: async (url) => {
            h.opened.push(url);
            ws.backendUrl = url;
            return ws;
        },
        confirm: opts.confirm,
        runSsh: async (args) => {
            const i = args.indexOf("-i");
            h.sshRuns.push({ args, keyDuringRun: i >= 0 ? fs.readFileSync(args[i + 1]!, "utf8") : undefined });
            return opts.sshExit ?? 0;
        },
        // The stack files are the fake's; the message is the real one's.
        readStackFile: (stack) => {
            const file = ws.files.get(stack);
            if (!file) throw new StackFileError(missingStackFileMessage(stack, [...ws.files.keys()].sort(), false));
            return file;
        },
        plan: async () => {
            throw new Error("unexpected: plan (its own tests run the real one)");
        },
    };
    const code = await run(argv, deps);
    return { ...h, code };
}

const LAB = { name: "kvm", owner: "alice@example.com", ttl: "8h", user: { sshAuthorizedKeys: ["ssh-ed25519 AAAA alice"] }, nodes: { count: 2 } };

function stackFile(lab: Record<string, unknown> = LAB): Record<string, string> {
    return { "nixlab:backend": "aws", "nixlab:aws": JSON.stringify({ region: "eu-west-1" }), "nixlab:lab": JSON.stringify(lab) };
}

function labOf(ws: FakeWorkspace, stack: string): Record<string, unknown> {
    return JSON.parse(ws.files.get(stack)!["nixlab:lab"]!) as Record<string, unknown>;
}

const NODES = {
    "node-1": {
        name: "node-1",
        machineType: "c8i.large",
        privateAddress: "10.77.0.10",
        sshHost: "203.0.113.10",
        sshPort: 22,
        user: "lab",
        ssh: "ssh -o HostKeyAlias=kvm-node-1 -o UserKnownHostsFile=~/.ssh/nixlab/kvm.known_hosts -o StrictHostKeyChecking=yes lab@203.0.113.10",
        hostKeyFingerprints: { ed25519: "SHA256:one" },
        ready: "ok",
    },
    "node-2": {
        name: "node-2",
        machineType: "c8i.large",
        privateAddress: "10.77.0.11",
        sshHost: "10.77.0.11",
        sshPort: 2223,
        user: "lab",
        proxyJump: "ops@hv1.example.com",
        ssh: "ssh -o HostKeyAlias=kvm-node-2 -o UserKnownHostsFile=~/.ssh/nixlab/kvm.known_hosts -o StrictHostKeyChecking=yes -p 2223 -J ops@hv1.example.com lab@10.77.0.11",
        hostKeyFingerprints: { ed25519: "SHA256:two" },
        ready: "ok",
    },
};
const KNOWN_HOSTS = "kvm-node-1 ssh-ed25519 AAAAONE\nkvm-node-2 ssh-ed25519 AAAATWO\n";

function deployedOutputs(expiresAt: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { labName: "kvm", owner: "alice@example.com", backendKind: "aws", expiresAt, nodes: NODES, knownHosts: KNOWN_HOSTS, ...extra };
}

const URN = (type: string, name: string) => `urn:pulumi:dev::nixlab::nixlab:index:Lab$${type}::${name}`;
function step(kind: "resourcePreEvent" | "resOutputsEvent", op: "create" | "delete" | "same", type: string, name: string, planning?: boolean): EngineEvent {
    return { sequence: 0, timestamp: 0, [kind]: { planning, metadata: { op, urn: URN(type, name), type, provider: "" } } } as EngineEvent;
}

describe("argument handling", () => {
    it("--help lists every command and exits 0 without opening a workspace", async () => {
        const ws = new FakeWorkspace();
        const r = await nixlab(ws, ["--help"]);
        expect(r.code).toBe(0);
        for (const c of ["up [options] <stack>", "preview [options] <stack>", "destroy [options] <stack>", "list|ls", "gc [options]", "ssh [options] <stack> <node> [ssh-args...]"]) {
            expect(r.stdout).toContain(c);
        }
        expect(r.opened).toEqual([]);
    });

    it("rejects unknown commands, missing arguments and unknown options with exit 2", async () => {
        const ws = new FakeWorkspace();
        const bad = await nixlab(ws, ["bogus"]);
        expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining("error: unknown command 'bogus'")]);
        const missing = await nixlab(ws, ["up"]);
        expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining("error: missing required argument 'stack'")]);
        const unknownOpt = await nixlab(ws, ["gc", "--force"]);
        expect([unknownOpt.code, unknownOpt.stderr]).toEqual([2, expect.stringContaining("error: unknown option '--force'")]);
        expect(ws.calls).toEqual([]);
    });

    it("rejects a bad --ttl before touching the backend", async () => {
        const ws = new FakeWorkspace().addStack("dev", {}, stackFile());
        const r = await nixlab(ws, ["up", "dev", "--ttl", "8 hours", "--yes"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toBe('nixlab: --ttl "8 hours" must be a duration like 90m, 8h or 3d (minutes, hours or days)\n');
        expect(r.opened).toEqual([]);
        expect(ws.calls).toEqual([]);
    });

    it("holds --ttl to 10m..30d unless the lab's own minTtl/maxTtl widen it; absurd values never reach the backend", async () => {
        const refused = async (ttl: string, lab: Record<string, unknown> = LAB) => {
            const ws = new FakeWorkspace().addStack("dev", {}, stackFile(lab));
            const r = await nixlab(ws, ["up", "dev", "--ttl", ttl, "--yes"]);
            expect(r.code).toBe(2);
            expect(ws.log((c) => ["setConfig", "preview", "up"].includes(c.method))).toEqual([]);
            return r.stderr;
        };
        expect(await refused("0m")).toBe('nixlab: --ttl "0m" is shorter than the minimum lab lifetime 1m; use at least 1m (or lower the minimum with nixlab:lab.minTtl / maxTtl in the stack file)\n');
        expect(await refused("99999999d")).toBe(
            'nixlab: --ttl "99999999d" is longer than the maximum lab lifetime 365d; use at most 365d (or raise the maximum with nixlab:lab.minTtl / maxTtl in the stack file, up to 365d)\n',
        );
        expect(await refused("9m")).toBe('nixlab: --ttl "9m" is shorter than the minimum lab lifetime 10m; use at least 10m (or lower the minimum with nixlab:lab.minTtl / maxTtl in the stack file)\n');
        expect(await refused("31d")).toBe(
            'nixlab: --ttl "31d" is longer than the maximum lab lifetime 30d; use at most 30d (or raise the maximum with nixlab:lab.minTtl / maxTtl in the stack file, up to 365d)\n',
        );
        expect(await refused("91d", { ...LAB, maxTtl: "90d" })).toContain('--ttl "91d" is longer than the maximum lab lifetime 90d');
        // A wider maximum in the stack file lets a longer --ttl through.
        const ws = new FakeWorkspace().addStack("dev", {}, stackFile({ ...LAB, maxTtl: "90d" }), { changeSummary: { create: 1 } });
        const r = await nixlab(ws, ["up", "dev", "--ttl", "60d", "--yes"]);
        expect(r.code).toBe(0);
        expect(labOf(ws, "dev")).toMatchObject({ ttl: "60d", expiresAt: "2027-01-23T10:00:00.000Z" });
    });

    it("uses --backend, else PULUMI_BACKEND_URL, else the project's file backend", async () => {
        const ws = new FakeWorkspace();
        expect((await nixlab(ws, ["list"])).opened).toEqual([`file://${PROJECT}/.pulumi-state`]);
        expect((await nixlab(ws, ["list"], { env: { PULUMI_BACKEND_URL: "s3://team-labs" } })).opened).toEqual(["s3://team-labs"]);
        expect((await nixlab(ws, ["--backend", "gs://mine", "list"], { env: { PULUMI_BACKEND_URL: "s3://team-labs" } })).opened).toEqual(["gs://mine"]);
        expect((await nixlab(ws, ["list", "--backend", "file:///tmp/x"])).opened).toEqual(["file:///tmp/x"]);
    });
});

describe("nixlab up", () => {
    function upScript() {
        return {
            events: {
                preview: [step("resourcePreEvent", "create", "aws:ec2/instance:Instance", "kvm-node-1", true), step("resourcePreEvent", "same", "aws:ec2/vpc:Vpc", "kvm-net", true)],
                up: [
                    step("resourcePreEvent", "create", "aws:ec2/instance:Instance", "kvm-node-1"),
                    step("resOutputsEvent", "create", "aws:ec2/instance:Instance", "kvm-node-1"),
                ],
            },
            changeSummary: { create: 9, same: 1 },
            upResult: { outputs: deployedOutputs("2026-11-24T12:00:00.000Z"), resourceCount: 10 },
        };
    }

    it("--ttl writes ttl and expiresAt, previews, deploys and prints how to reach each node", async () => {
        const ws = new FakeWorkspace().addStack("dev", {}, stackFile(), upScript());
        const r = await nixlab(ws, ["up", "dev", "--ttl", "2h", "--yes"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(ws.log()).toEqual(["ensureStack dev", "getAllConfig dev", "setConfig dev", "setConfig dev", "preview dev", "up dev"]);
        expect(ws.calls.filter((c) => c.method === "setConfig").map((c) => c.args)).toEqual([
            ["nixlab:lab.ttl", "2h", { path: true }],
            ["nixlab:lab.expiresAt", "2026-11-24T12:00:00.000Z", { path: true }],
        ]);
        expect(labOf(ws, "dev")).toEqual({ ...LAB, ttl: "2h", expiresAt: "2026-11-24T12:00:00.000Z" });
        expect(r.stdout).toContain("Lab kvm (stack dev, aws) expires 2026-11-24 12:00Z (in 2h 0m): --ttl 2h\n");
        expect(r.stdout).toContain("  +  create   aws:ec2/instance:Instance  kvm-node-1\n");
        expect(r.stdout).not.toContain("kvm-net");
        expect(r.stdout).toContain("Plan: 9 to create\n");
        expect(r.stdout).toContain("  ✓ created aws:ec2/instance:Instance  kvm-node-1 (0s)\n");
        expect(r.stdout).toContain("Done: 9 created\n");
        expect(r.stdout).toContain(
            [
                "NODE    MACHINE    ADDRESS     CONNECT",
                "node-1  c8i.large  10.77.0.10  nixlab ssh dev node-1",
                "node-2  c8i.large  10.77.0.11  nixlab ssh dev node-2",
            ].join("\n"),
        );
        expect(r.stdout).toContain(`  ${NODES["node-2"].ssh}\n`);
        expect(r.stdout).toContain("When done: nixlab destroy dev");
    });

    it("without --ttl a live lab keeps its expiry; a new one gets now + nixlab:lab.ttl", async () => {
        const live = new FakeWorkspace().addStack("dev", { resourceCount: 10 }, stackFile({ ...LAB, expiresAt: "2026-11-24T15:00:00Z" }), upScript());
        await nixlab(live, ["up", "dev", "--yes"]);
        expect(live.log((c) => c.method === "setConfig")).toEqual([]);

        const fresh = new FakeWorkspace().addStack("dev", {}, stackFile({ ...LAB, ttl: "90m", expiresAt: "2026-11-23T00:00:00Z" }), upScript());
        const r = await nixlab(fresh, ["up", "dev", "--yes"]);
        expect(r.code).toBe(0);
        expect(fresh.calls.filter((c) => c.method === "setConfig").map((c) => c.args)).toEqual([["nixlab:lab.expiresAt", "2026-11-24T11:30:00.000Z", { path: true }]]);
    });

    it("asks after the preview; no answer on a non-terminal, or a no, deploys nothing and restores the config", async () => {
        const before = stackFile({ ...LAB, ttl: "4h" });
        const ws = new FakeWorkspace().addStack("dev", {}, { ...before }, upScript());
        const noTty = await nixlab(ws, ["up", "dev", "--ttl", "2h"]);
        expect(noTty.code).toBe(2);
        expect(noTty.stderr).toBe("nixlab: Deploy dev? needs a yes: there is no terminal to ask on, so pass --yes\n");
        expect(ws.files.get("dev")).toEqual(before);

        const questions: string[] = [];
        const no = await nixlab(ws, ["up", "dev", "--ttl", "2h"], {
            confirm: async (q) => {
                questions.push(q);
                return false;
            },
        });
        expect(no.code).toBe(1);
        expect(questions).toEqual(["Deploy dev? [y/N] "]);
        expect(no.stdout).toContain("Cancelled; nothing was deployed.");
        expect(ws.log((c) => c.method === "up")).toEqual([]);
        expect(ws.files.get("dev")).toEqual(before);
    });

    it("removes a stack it created when the preview fails", async () => {
        const ws = new FakeWorkspace();
        ws.files.set("new", stackFile());
        ws.scripts.set("new", { fail: { preview: commandError("CommandError", "error: something broke") } });
        const r = await nixlab(ws, ["up", "new", "--yes"]);
        expect([r.code, r.stderr]).toEqual([1, "nixlab: pulumi failed:\nerror: something broke\n"]);
        expect(ws.log()).toEqual(["ensureStack new", "getAllConfig new", "setConfig new", "preview new", "removeConfig new", "removeStack new"]);
        expect(ws.files.get("new")).toEqual(stackFile());
        expect(ws.stacks.has("new")).toBe(false);
    });

    it("refuses a stack without a stack file before opening the workspace, listing the stacks there", async () => {
        const ws = new FakeWorkspace();
        ws.files.set("dev", stackFile());
        ws.files.set("aws", stackFile());
        for (const cmd of ["up", "preview"]) {
            const r = await nixlab(ws, [cmd, "nope", ...(cmd === "up" ? ["--yes"] : [])]);
            expect([r.code, r.stderr, r.opened]).toEqual([
                2,
                "nixlab: there is no stacks/Pulumi.nope.yaml; stacks there: aws, dev. Copy one to stacks/Pulumi.nope.yaml (e.g. cp stacks/Pulumi.local.yaml stacks/Pulumi.nope.yaml) and edit it.\n",
                [],
            ]);
        }
        expect(ws.log()).toEqual([]);
    });

    it("refuses a stack without nixlab:lab and removes the stack it created for it", async () => {
        const ws = new FakeWorkspace();
        ws.files.set("typo", { "nixlab:backend": "libvirt" });
        const r = await nixlab(ws, ["up", "typo", "--yes"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain("stack typo has no nixlab:lab config. Create stacks/Pulumi.typo.yaml");
        expect(ws.log()).toEqual(["ensureStack typo", "getAllConfig typo", "removeStack typo"]);
        expect(ws.stacks.has("typo")).toBe(false);
    });

    it("passes the policy pack and its config to preview and up with --policy-config", async () => {
        const ws = new FakeWorkspace().addStack("dev", {}, stackFile(), upScript());
        await nixlab(ws, ["up", "dev", "--yes", "--policy-config", "/tmp/pc.json"]);
        const ops = ws.calls.filter((c) => c.method === "preview" || c.method === "up");
        expect(ops.map((c) => c.args)).toEqual([
            [[`${PROJECT}/policy`], ["/tmp/pc.json"]],
            [[`${PROJECT}/policy`], ["/tmp/pc.json"]],
        ]);
    });

    const OPENSTACK = {
        cloud: "mycloud",
        flavors: {
            "m1.medium": { vcpus: 2, memoryGiB: 4, arch: "x86_64", kvm: "none" },
            "kvm.large": { vcpus: 4, memoryGiB: 8, arch: "x86_64", kvm: "nested" },
        },
    };
    function openstackFile(): Record<string, string> {
        return { "nixlab:backend": "openstack", "nixlab:openstack": JSON.stringify(OPENSTACK), "nixlab:lab": JSON.stringify(LAB) };
    }

    it("hands the KVM policy an OpenStack stack's flavors, merged into --policy-config, in a file gone afterwards", async () => {
        const userConfig = path.join(home, "pc.json");
        fs.writeFileSync(userConfig, JSON.stringify({ "nixlab-no-world-ssh": { allowWorldSsh: true }, "nixlab-kvm-machine-type": "advisory" }));
        const ws = new FakeWorkspace().addStack("os", {}, openstackFile(), upScript());
        const r = await nixlab(ws, ["up", "os", "--yes", "--policy-config", userConfig]);
        expect(r.code).toBe(0);
        const merged = {
            "nixlab-no-world-ssh": { allowWorldSsh: true },
            "nixlab-kvm-machine-type": { openstackFlavors: { "m1.medium": "none", "kvm.large": "nested" }, enforcementLevel: "advisory" },
        };
        expect(ws.policyConfigsSeen).toEqual([[merged], [merged]]);
        const files = ws.calls.filter((c) => c.method === "preview" || c.method === "up").map((c) => (c.args![1] as string[])[0]!);
        expect(new Set(files).size).toBe(1);
        expect(files[0]).not.toBe(userConfig);
        expect(fs.existsSync(files[0]!)).toBe(false);

        // --policy alone: the flavors are the whole config; preview reads the stack file for them.
        const p = new FakeWorkspace().addStack("os", {}, openstackFile());
        expect((await nixlab(p, ["preview", "os", "--policy"])).code).toBe(0);
        expect(p.log()).toEqual(["ensureStack os", "getAllConfig os", "preview os"]);
        expect(p.policyConfigsSeen).toEqual([[{ "nixlab-kvm-machine-type": { openstackFlavors: { "m1.medium": "none", "kvm.large": "nested" } } }]]);
    });

    it("refuses a --policy-config that is not a JSON object before deploying, and removes a stack it created", async () => {
        const bad = path.join(home, "bad.json");
        fs.writeFileSync(bad, "[1, 2]");
        const ws = new FakeWorkspace();
        ws.files.set("os", openstackFile());
        const r = await nixlab(ws, ["up", "os", "--yes", "--policy-config", bad]);
        expect([r.code, r.stderr]).toEqual([2, `nixlab: --policy-config ${bad} must hold a JSON object of policy name → config, got [1,2]; see policy/config.example.json\n`]);
        expect(ws.log()).toEqual(["ensureStack os", "getAllConfig os", "removeStack os"]);
    });
});

describe("nixlab preview", () => {
    it("--json prints steps and the change summary, and removes a stack it had to create", async () => {
        const ws = new FakeWorkspace();
        ws.files.set("new", stackFile());
        ws.scripts.set("new", { events: { preview: [step("resourcePreEvent", "create", "aws:ec2/vpc:Vpc", "kvm-net", true)] }, changeSummary: { create: 1 } });
        const r = await nixlab(ws, ["preview", "new", "--json"]);
        expect(r.code).toBe(0);
        expect(JSON.parse(r.stdout)).toEqual({
            stack: "new",
            backendUrl: "file:///srv/nixlab/.pulumi-state",
            changeSummary: { create: 1 },
            steps: [{ op: "create", type: "aws:ec2/vpc:Vpc", name: "kvm-net", urn: URN("aws:ec2/vpc:Vpc", "kvm-net") }],
            diagnostics: [],
            policyViolations: [],
        });
        expect(ws.log()).toEqual(["ensureStack new", "preview new", "removeStack new"]);
    });

    it("exits 1 on a mandatory policy violation and prints it", async () => {
        const ws = new FakeWorkspace().addStack("dev", {}, stackFile(), {
            events: {
                preview: [
                    {
                        sequence: 1,
                        timestamp: 0,
                        policyEvent: {
                            resourceUrn: URN("aws:ec2/instance:Instance", "kvm-node-1"),
                            message: "IMDSv1 is enabled",
                            color: "never",
                            policyName: "nixlab-aws-imdsv2",
                            policyPackName: "nixlab",
                            policyPackVersion: "0.1.0",
                            policyPackVersionTag: "0.1.0",
                            enforcementLevel: "mandatory",
                        },
                    },
                ],
            },
        });
        const r = await nixlab(ws, ["preview", "dev", "--policy"]);
        expect(r.code).toBe(1);
        expect(r.stdout).toContain("policy mandatory: nixlab-aws-imdsv2 on kvm-node-1: IMDSv1 is enabled\n");
    });
});

describe("nixlab destroy", () => {
    it("destroys, forgets the expiry, removes the stack and keeps the stack file's lab", async () => {
        const ws = new FakeWorkspace().addStack("dev", { resourceCount: 10, outputs: deployedOutputs("2026-11-24T12:00:00Z") }, stackFile({ ...LAB, expiresAt: "2026-11-24T12:00:00Z" }), {
            events: { destroy: [step("resourcePreEvent", "delete", "aws:ec2/instance:Instance", "kvm-node-1"), step("resOutputsEvent", "delete", "aws:ec2/instance:Instance", "kvm-node-1")] },
        });
        const r = await nixlab(ws, ["destroy", "dev", "--yes"]);
        expect(r.code).toBe(0);
        expect(ws.log()).toEqual(["outputs dev", "destroy dev", "getAllConfig dev", "removeConfig dev", "removeStack dev"]);
        expect(labOf(ws, "dev")).toEqual(LAB);
        expect(ws.stacks.has("dev")).toBe(false);
        expect(r.stdout).toContain("  ✓ deleted aws:ec2/instance:Instance  kvm-node-1 (0s)\n");
        expect(r.stdout).toContain("Destroyed lab kvm and removed stack dev from file:///srv/nixlab/.pulumi-state.\n");
    });

    it("--keep-stack keeps the empty stack; without a terminal it needs --yes", async () => {
        const ws = new FakeWorkspace().addStack("dev", { resourceCount: 3, outputs: deployedOutputs("2026-11-24T12:00:00Z") }, stackFile());
        const refused = await nixlab(ws, ["destroy", "dev", "--keep-stack"]);
        expect(refused.code).toBe(2);
        expect(ws.log((c) => c.method === "destroy")).toEqual([]);
        const r = await nixlab(ws, ["destroy", "dev", "--keep-stack", "--yes"]);
        expect(r.code).toBe(0);
        expect(ws.stacks.get("dev")).toEqual({ resourceCount: 0, outputs: {} });
        expect(ws.log((c) => c.method === "removeStack")).toEqual([]);
    });
});

describe("nixlab list", () => {
    it("shows every lab stack with owner, node count, created, expires and state", async () => {
        const ws = new FakeWorkspace()
            .addStack("b-live", { resourceCount: 10, outputs: deployedOutputs("2026-11-24T18:00:00Z"), createdAt: "2026-11-24T09:00:00Z" }, stackFile())
            .addStack("a-old", { resourceCount: 4, outputs: deployedOutputs("2026-11-24T09:00:00Z", { labName: "old", owner: "bob" }), createdAt: "2026-11-23T09:00:00Z" })
            .addStack("c-empty", {}, stackFile())
            .addStack("d-cfg", { resourceCount: 2 }, stackFile({ ...LAB, name: "cfg", expiresAt: "2026-11-25T10:00:00Z", nodes: [{ name: "a" }, { name: "b" }, { name: "c" }] }));
        const r = await nixlab(ws, ["list"]);
        expect(r.code).toBe(0);
        expect(r.stdout).toBe(
            [
                "STACK    LAB  OWNER              BACKEND  NODES  CREATED            EXPIRES                        STATE",
                "a-old    old  bob                aws      2      2026-11-23 09:00Z  2026-11-24 09:00Z (1h 0m ago)  expired",
                "b-live   kvm  alice@example.com  aws      2      2026-11-24 09:00Z  2026-11-24 18:00Z (in 8h 0m)   running",
                "c-empty  kvm  alice@example.com  aws      2      -                  -                              empty",
                "d-cfg    cfg  alice@example.com  aws      3      -                  2026-11-25 10:00Z (in 1d 0h)   running",
                "",
            ].join("\n"),
        );
        const json = JSON.parse((await nixlab(ws, ["ls", "--json"])).stdout) as { stack: string; expirySource?: string; state: string }[];
        expect(json.map((j) => [j.stack, j.expirySource ?? null, j.state])).toEqual([
            ["a-old", "output", "expired"],
            ["b-live", "output", "running"],
            ["c-empty", null, "empty"],
            ["d-cfg", "config", "running"],
        ]);
    });

    it("shows a stack it cannot read instead of failing the whole list", async () => {
        const ws = new FakeWorkspace().addStack("ok", { resourceCount: 1, outputs: deployedOutputs("2026-11-24T18:00:00Z") });
        ws.addStack("secret", { resourceCount: 5 }, undefined, {
            fail: { outputs: commandError("CommandError", "error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables") },
        });
        const r = await nixlab(ws, ["list"]);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^secret +- +- +- +- +- +- +unreadable$/m);
        expect(r.stderr).toContain("secret: The state backend file:///srv/nixlab/.pulumi-state encrypts stack secrets with a passphrase, and none is set.");
    });
});

describe("nixlab gc", () => {
    function labs(): FakeWorkspace {
        return (
            new FakeWorkspace()
                // expired by its deployed output
                .addStack("expired-out", { resourceCount: 10, outputs: deployedOutputs("2026-11-24T09:44:00Z") })
                // expired by config only (never deployed successfully: no outputs)
                .addStack("expired-cfg", { resourceCount: 2 }, stackFile({ ...LAB, name: "cfg", expiresAt: "2026-11-20T00:00:00Z" }))
                // output (the backend's truth) says alive even though a stale stack file says expired
                .addStack("alive", { resourceCount: 10, outputs: deployedOutputs("2026-11-24T10:01:00Z") }, stackFile({ ...LAB, expiresAt: "2026-11-01T00:00:00Z" }))
                // no expiry anywhere: never guessed from the name
                .addStack("expired-by-name-only", { resourceCount: 3, outputs: { labName: "x" } })
        );
    }

    it("destroys and removes exactly the expired stacks and reports the rest", async () => {
        const ws = labs();
        const r = await nixlab(ws, ["gc"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(ws.log((c) => ["destroy", "removeStack", "removeConfig"].includes(c.method))).toEqual([
            "destroy expired-cfg",
            "removeConfig expired-cfg",
            "removeStack expired-cfg",
            "destroy expired-out",
            "removeStack expired-out",
        ]);
        expect([...ws.stacks.keys()].sort()).toEqual(["alive", "expired-by-name-only"]);
        expect(r.stdout).toContain(
            [
                "gc on file:///srv/nixlab/.pulumi-state at 2026-11-24T10:00:00.000Z:",
                "STACK                 LAB  OWNER              EXPIRES            RESULT",
                "alive                 kvm  alice@example.com  2026-11-24 10:01Z  not expired (expires in 1m)",
                "expired-by-name-only  x    -                  -                  no expiry, skipped",
                "expired-cfg           cfg  alice@example.com  2026-11-20 00:00Z  destroyed, stack removed (expired 4d 10h ago)",
                "expired-out           kvm  alice@example.com  2026-11-24 09:44Z  destroyed, stack removed (expired 16m ago)",
                "2 destroyed, 0 failed, 2 left alone.",
            ].join("\n"),
        );
    });

    it("--dry-run changes nothing and names the stacks it would destroy", async () => {
        const ws = labs();
        const r = await nixlab(ws, ["gc", "--dry-run"]);
        expect(r.code).toBe(0);
        expect(ws.calls.map((c) => c.method).filter((m) => !["listStacks", "getAllConfig", "outputs"].includes(m))).toEqual([]);
        expect(ws.stacks.size).toBe(4);
        expect(r.stdout).toMatch(/^expired-cfg .* would destroy \(expired 4d 10h ago\)$/m);
        expect(r.stdout).toMatch(/^expired-out .* would destroy \(expired 16m ago\)$/m);
        expect(r.stdout).toContain("2 of 4 stacks would be destroyed; nothing was changed.");
    });

    it("goes on after a failure, says what to do, and exits 1", async () => {
        const ws = labs();
        ws.scripts.set("expired-cfg", {
            fail: {
                destroy: commandError(
                    "ConcurrentUpdateError",
                    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n  file:///srv/nixlab/.pulumi-state/.pulumi/locks/organization/nixlab/expired-cfg/1.json: created by ci@runner (pid 42) at 2026-11-24T09:00:00Z",
                ),
            },
        });
        const r = await nixlab(ws, ["gc"]);
        expect(r.code).toBe(1);
        expect(ws.log((c) => c.method === "removeStack")).toEqual(["removeStack expired-out"]);
        expect(r.stderr).toContain("nixlab gc: expired-cfg: Stack expired-cfg is locked by another update:\n  file:///srv/nixlab/.pulumi-state/.pulumi/locks/organization/nixlab/expired-cfg/1.json: created by ci@runner (pid 42) at 2026-11-24T09:00:00Z");
        expect(r.stderr).toContain("pulumi cancel --yes --stack expired-cfg --cwd /srv/nixlab");
        expect(r.stdout).toMatch(/^expired-cfg .* FAILED: Stack expired-cfg is locked by another update:$/m);
        expect(r.stdout).toContain("1 destroyed, 1 failed, 2 left alone.");
    });
});

describe("nixlab gc never destroys a lab it is unsure of", () => {
    const EXPIRED = "2026-11-24T09:00:00Z";
    const destroys = (ws: FakeWorkspace) => ws.log((c) => ["destroy", "removeStack"].includes(c.method));

    it("skips a stack with an update in progress", async () => {
        const ws = new FakeWorkspace().addStack("busy", { resourceCount: 5, updateInProgress: true, outputs: deployedOutputs(EXPIRED) });
        const r = await nixlab(ws, ["gc"]);
        expect(r.code).toBe(0);
        expect(destroys(ws)).toEqual([]);
        expect(r.stdout).toMatch(/^busy +kvm +alice@example.com +2026-11-24 09:00Z +an update is in progress, skipped$/m);
        expect(r.stdout).toContain("0 destroyed, 0 failed, 1 left alone.");
    });

    it("skips a stack whose update starts after gc listed it (re-read before destroying)", async () => {
        const ws = new FakeWorkspace().addStack("busy", { resourceCount: 5, outputs: deployedOutputs(EXPIRED) });
        ws.onCall = (c, nth) => {
            if (c.method === "listStacks" && nth === 2) ws.stacks.get("busy")!.updateInProgress = true;
        };
        const r = await nixlab(ws, ["gc"]);
        expect(destroys(ws)).toEqual([]);
        expect(r.stdout).toMatch(/busy .* an update is in progress, skipped \(on re-reading it before destroying\)$/m);
    });

    it("skips a stack whose outputs could not be read, even when its config says expired", async () => {
        const ws = new FakeWorkspace().addStack("secret", { resourceCount: 5 }, stackFile({ ...LAB, expiresAt: EXPIRED }), {
            fail: { outputs: commandError("CommandError", "error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables") },
        });
        const r = await nixlab(ws, ["gc"]);
        expect(r.code).toBe(0);
        expect(destroys(ws)).toEqual([]);
        expect(r.stdout).toMatch(/^secret +kvm +alice@example.com +2026-11-24 09:00Z +could not read its outputs, skipped \(The state backend .* encrypts stack secrets with a passphrase, and none is set\.\)$/m);
    });

    it("skips a stack whose config could not be read", async () => {
        const ws = new FakeWorkspace().addStack("nocfg", { resourceCount: 5, outputs: deployedOutputs(EXPIRED) }, undefined, {
            fail: { getAllConfig: commandError("CommandError", "error: could not decrypt configuration value") },
        });
        const r = await nixlab(ws, ["gc"]);
        expect(destroys(ws)).toEqual([]);
        expect(r.stdout).toMatch(/nocfg .* could not read its config, skipped/);
    });

    it("skips a stack whose outputs fail only on the re-read", async () => {
        const ws = new FakeWorkspace().addStack("flaky", { resourceCount: 5, outputs: deployedOutputs(EXPIRED) });
        ws.onCall = (c, nth) => {
            if (c.method === "outputs" && nth === 2) throw commandError("CommandError", "error: read tcp 10.0.0.1:443: connection reset by peer");
        };
        const r = await nixlab(ws, ["gc"]);
        expect(destroys(ws)).toEqual([]);
        expect(r.stdout).toMatch(/flaky .* could not read its outputs, skipped .*\(on re-reading it before destroying\)$/m);
    });

    it("skips a lab extended in config after gc read it (nixlab up --ttl from another machine)", async () => {
        const ws = new FakeWorkspace().addStack("extended", { resourceCount: 5, outputs: deployedOutputs(EXPIRED) }, stackFile({ ...LAB, expiresAt: EXPIRED }));
        ws.onCall = (c, nth) => {
            if (c.method === "getAllConfig" && nth === 2) ws.files.set("extended", stackFile({ ...LAB, expiresAt: "2026-11-24T18:00:00Z" }));
        };
        const r = await nixlab(ws, ["gc"]);
        expect(destroys(ws)).toEqual([]);
        expect(r.stdout).toMatch(/^extended .* expiry moved to 2026-11-24 18:00Z since gc read it, skipped$/m);
    });

    it("skips a lab whose outputs hold a later expiry on the re-read (an update finished meanwhile)", async () => {
        const ws = new FakeWorkspace().addStack("updated", { resourceCount: 5, outputs: deployedOutputs(EXPIRED) });
        ws.onCall = (c, nth) => {
            if (c.method === "outputs" && nth === 2) ws.stacks.get("updated")!.outputs = deployedOutputs("2026-11-24T09:50:00Z");
        };
        const r = await nixlab(ws, ["gc"]);
        expect(destroys(ws)).toEqual([]);
        expect(r.stdout).toMatch(/^updated .* expiry moved to 2026-11-24 09:50Z since gc read it, skipped$/m);
    });

    it("skips a lab whose expiry is not a full ISO-8601 time with a zone", async () => {
        const ws = new FakeWorkspace().addStack("twelve", { resourceCount: 5, outputs: deployedOutputs("12") });
        const r = await nixlab(ws, ["gc"]);
        expect(destroys(ws)).toEqual([]);
        expect(r.stdout).toMatch(/^twelve .* output expiresAt "12" is not an ISO-8601 time with a zone \(like 2026-11-24T18:00:00Z\), skipped$/m);
    });

    it("waits out the grace period; --grace changes it and is checked before anything is read", async () => {
        const ws = () => new FakeWorkspace().addStack("recent", { resourceCount: 5, outputs: deployedOutputs("2026-11-24T09:50:00Z") });
        const kept = ws();
        const r1 = await nixlab(kept, ["gc"]);
        expect(destroys(kept)).toEqual([]);
        expect(r1.stdout).toMatch(/^recent .* expired 10m ago, in the grace period \(destroyed in 5m\)$/m);
        const gone = ws();
        await nixlab(gone, ["gc", "--grace", "5m"]);
        expect(destroys(gone)).toEqual(["destroy recent", "removeStack recent"]);
        const bad = ws();
        const r3 = await nixlab(bad, ["gc", "--grace", "soon"]);
        expect(r3.code).toBe(2);
        expect(r3.stderr).toBe('nixlab: --grace "soon" is not a duration; use minutes, hours or days like 0m, 15m or 1h\n');
        expect(bad.calls).toEqual([]);
    });
});

describe("nixlab ssh", () => {
    function deployed(): FakeWorkspace {
        return new FakeWorkspace().addStack("dev", {
            resourceCount: 10,
            outputs: deployedOutputs("2026-11-24T18:00:00Z", { operatorPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----" }),
            secretOutputs: ["operatorPrivateKey"],
        });
    }

    it("refuses outputs whose host, user or jump host ssh would read as an option", async () => {
        for (const [field, value] of [["sshHost", "-oProxyCommand=touch /tmp/x"], ["user", "-F/tmp/cfg"], ["proxyJump", "-oProxyCommand=x"]] as const) {
            const ws = new FakeWorkspace().addStack("dev", { resourceCount: 10, outputs: deployedOutputs("2026-11-24T18:00:00Z", { nodes: { "node-1": { ...NODES["node-1"], [field]: value } } }) });
            const r = await nixlab(ws, ["ssh", "dev", "node-1"]);
            expect(r.code).toBe(1);
            expect(r.sshRuns).toEqual([]);
            expect(r.stderr).toContain(`node node-1 of stack dev has ${field} ${JSON.stringify(value)} in its outputs, which ssh would read as an option; refusing to run ssh`);
        }
    });

    it("writes the pinned known_hosts and runs ssh with alias, port, jump host and extra args", async () => {
        const r = await nixlab(deployed(), ["ssh", "dev", "node-2", "--", "-L", "8080:localhost:80"], { sshExit: 3 });
        expect(r.code).toBe(3);
        const kh = path.join(home, ".ssh/nixlab/kvm.known_hosts");
        expect(fs.readFileSync(kh, "utf8")).toBe(KNOWN_HOSTS);
        expect(fs.statSync(path.dirname(kh)).mode & 0o777).toBe(0o700);
        expect(r.sshRuns).toEqual([
            {
                args: [
                    "-o",
                    "HostKeyAlias=kvm-node-2",
                    "-o",
                    `UserKnownHostsFile=${kh}`,
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-p",
                    "2223",
                    "-J",
                    "ops@hv1.example.com",
                    "lab@10.77.0.11",
                    "-L",
                    "8080:localhost:80",
                ],
                keyDuringRun: undefined,
            },
        ]);
    });

    it("--operator-key hands ssh the secret key in a private file that is gone afterwards", async () => {
        const r = await nixlab(deployed(), ["ssh", "dev", "node-1", "--operator-key"]);
        expect(r.code).toBe(0);
        const args = r.sshRuns[0]!.args;
        const keyFile = args[args.indexOf("-i") + 1]!;
        expect(args.slice(args.indexOf("-i"), args.indexOf("-i") + 4)).toEqual(["-i", keyFile, "-o", "IdentitiesOnly=yes"]);
        expect(args.at(-1)).toBe("lab@203.0.113.10");
        expect(r.sshRuns[0]!.keyDuringRun).toBe("-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----\n");
        expect(fs.existsSync(keyFile)).toBe(false);
    });

    it("takes user and jump host from the node's own output fields, not from its ssh command line", async () => {
        const ws = new FakeWorkspace().addStack("dev", {
            resourceCount: 10,
            outputs: deployedOutputs("2026-11-24T18:00:00Z", {
                nodes: {
                    "node-1": { ...NODES["node-1"], user: "kernel", ssh: "ssh -J decoy@example.com lab@203.0.113.10" },
                    "node-2": { ...NODES["node-2"], proxyJump: "root@hv2.example.com" },
                },
            }),
        });
        const one = await nixlab(ws, ["ssh", "dev", "node-1"]);
        expect(one.sshRuns[0]!.args.slice(-1)).toEqual(["kernel@203.0.113.10"]);
        expect(one.sshRuns[0]!.args).not.toContain("-J");
        const two = await nixlab(ws, ["ssh", "dev", "node-2"]);
        expect(two.sshRuns[0]!.args.slice(-3)).toEqual(["-J", "root@hv2.example.com", "lab@10.77.0.11"]);
    });

    it("asks for `nixlab up` when the outputs predate the user field", async () => {
        const { user: _user, ...old } = NODES["node-1"];
        const ws = new FakeWorkspace().addStack("dev", { resourceCount: 10, outputs: deployedOutputs("2026-11-24T18:00:00Z", { nodes: { "node-1": old } }) });
        const r = await nixlab(ws, ["ssh", "dev", "node-1"]);
        expect([r.code, r.stderr, r.sshRuns]).toEqual([
            1,
            "nixlab: node node-1 of stack dev has no user in its outputs (written by an older nixlab); run `nixlab up dev` to refresh them\n",
            [],
        ]);
    });

    it("names the lab's nodes when the node does not exist, and says to deploy when nothing is", async () => {
        const r = await nixlab(deployed(), ["ssh", "dev", "node-9"]);
        expect([r.code, r.stderr]).toEqual([1, 'nixlab: lab kvm (stack dev) has no node "node-9"; its nodes are: node-1, node-2\n']);
        const empty = await nixlab(new FakeWorkspace().addStack("dev"), ["ssh", "dev", "node-1"]);
        expect(empty.stderr).toBe("nixlab: stack dev has no labName/nodes/knownHosts outputs: it has not been deployed by nixlab yet (or its last update failed). Run `nixlab up dev`.\n");
        const missing = await nixlab(new FakeWorkspace(), ["ssh", "nope", "node-1"]);
        expect(missing.stderr).toContain("There is no stack nope in file:///srv/nixlab/.pulumi-state.");
    });
});

describe("errors say what to do", () => {
    it("no Pulumi CLI", async () => {
        const ws = new FakeWorkspace();
        ws.failAll = { listStacks: commandError("CommandError", "Command failed with ENOENT: pulumi version\nspawn pulumi ENOENT") };
        const r = await nixlab(ws, ["list"]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("nixlab: nixlab drives the Pulumi CLI (through Pulumi's Automation API), and `pulumi` is not on PATH.");
        expect(r.stderr).toContain("curl -fsSL https://get.pulumi.com | sh");
    });

    it("cloud credentials: names the env vars of the cloud that complained", async () => {
        const ws = new FakeWorkspace().addStack("dev", {}, stackFile(), {
            fail: {
                preview: commandError(
                    "CommandError",
                    "error: pulumi:providers:aws resource 'kvm-net-provider' has a problem: No valid credential sources found.\nPlease see https://www.pulumi.com/registry/packages/aws/installation-configuration/",
                ),
            },
        });
        const r = await nixlab(ws, ["up", "dev", "--yes"]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("nixlab: AWS credentials are missing, expired or rejected. Run `aws sso login --profile <p>` and export AWS_PROFILE=<p>");
        expect(r.stderr).toContain("has a problem: No valid credential sources found.");
        // The failed preview put the config back.
        expect(labOf(ws, "dev")).toEqual(LAB);
    });

    it("Pulumi Cloud backend without a login", async () => {
        const ws = new FakeWorkspace();
        ws.failAll = { listStacks: commandError("CommandError", "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions") };
        const r = await nixlab(ws, ["gc", "--backend", "https://api.pulumi.com"]);
        expect(r.stderr).toContain("nixlab: The state backend https://api.pulumi.com needs a login. Run `pulumi login https://api.pulumi.com`, or export PULUMI_ACCESS_TOKEN");
    });
});

describe("expiry rules", () => {
    it("parses ttls exactly like nixlab:lab.ttl does in the program", () => {
        for (const t of ["1m", "90m", "8h", "3d", "100d"]) expect(parseTtl(t)).toBe(ttlMillis(t));
        for (const t of ["0h", "8", "h", "8H", "1.5h", "8h ", "-1h", "1w"]) expect(parseTtl(t)).toBeUndefined();
    });

    it("gc decides from the output, else the config, and never from the name", () => {
        const row = (outputs: Record<string, unknown>, lab?: Record<string, unknown>) =>
            labRow(
                {
                    summary: { name: "lab-expired-2020", resourceCount: 1 },
                    outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { value: v, secret: false }])),
                    config: lab ? { "nixlab:lab": { value: JSON.stringify(lab) } } : undefined,
                },
                NOW,
            );
        expect(gcDecision(row({ expiresAt: "2026-11-24T10:00:00Z" }), NOW, 0).action).toBe("destroy");
        expect(gcDecision(row({ expiresAt: "2026-11-24T09:45:00Z" }), NOW).action).toBe("destroy");
        expect(gcDecision(row({}, { expiresAt: "2026-11-24T09:00:00Z" }), NOW).action).toBe("destroy");
        expect(gcDecision(row({ expiresAt: "2026-11-24T11:00:00Z" }, { expiresAt: "2026-11-24T09:00:00Z" }), NOW)).toMatchObject({ action: "skip", reason: "not expired (expires in 1h 0m)" });
        // The later of output and config wins: a config extended by `nixlab up --ttl` before its update ran.
        expect(gcDecision(row({ expiresAt: "2026-11-24T09:00:00Z" }, { expiresAt: "2026-11-24T12:00:00Z" }), NOW)).toMatchObject({ action: "skip", reason: "not expired (expires in 2h 0m)" });
        expect(gcDecision(row({}), NOW)).toMatchObject({ action: "skip", reason: "no expiry, skipped" });
    });

    it("gc keeps a lab within the grace period after its expiry (default 15m)", () => {
        const row = (expiresAt: string) => labRow({ summary: { name: "s", resourceCount: 1 }, outputs: { expiresAt: { value: expiresAt, secret: false } } }, NOW);
        expect(gcDecision(row("2026-11-24T09:46:00Z"), NOW)).toMatchObject({ action: "skip", reason: "expired 14m ago, in the grace period (destroyed in 1m)" });
        expect(gcDecision(row("2026-11-24T09:45:00Z"), NOW).action).toBe("destroy");
        expect(gcDecision(row("2026-11-24T09:46:00Z"), NOW, 60 * 60_000)).toMatchObject({ action: "skip" });
        expect(gcDecision(row("2026-11-24T08:59:00Z"), NOW, 60 * 60_000).action).toBe("destroy");
    });

    it("an expiry that is not a full ISO-8601 time with a zone is never acted on", () => {
        const row = (outputs: Record<string, unknown>, lab?: Record<string, unknown>) =>
            labRow(
                {
                    summary: { name: "s", resourceCount: 1 },
                    outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { value: v, secret: false }])),
                    config: lab ? { "nixlab:lab": { value: JSON.stringify(lab) } } : undefined,
                },
                NOW,
            );
        // Each of these Date.parse accepts (as some instant in the past); none is a full ISO time with a zone.
        for (const bad of ["12", "2001", "2026-11-01", "2026-11-01T00:00:00", "2026-11-01 00:00:00Z", "Nov 1 2026", "Sun, 01 Nov 2026 00:00:00 GMT", "2026-02-30T00:00:00Z", "1"]) {
            expect(Number.isFinite(Date.parse(bad)) || bad === "2026-02-30T00:00:00Z").toBe(true);
            expect(gcDecision(row({ expiresAt: bad }), NOW)).toEqual({
                action: "skip",
                row: expect.objectContaining({ state: "bad-expiry" }) as unknown,
                reason: `output expiresAt ${JSON.stringify(bad)} is not an ISO-8601 time with a zone (like 2026-11-24T18:00:00Z), skipped`,
            });
            // A bad value in the config is not outvoted by a valid, expired output either.
            expect(gcDecision(row({ expiresAt: "2026-11-20T00:00:00Z" }, { expiresAt: bad }), NOW)).toMatchObject({
                action: "skip",
                reason: `nixlab:lab.expiresAt ${JSON.stringify(bad)} is not an ISO-8601 time with a zone (like 2026-11-24T18:00:00Z), skipped`,
            });
        }
        for (const good of ["2026-11-20T00:00:00Z", "2026-11-20T00:00Z", "2026-11-20T01:00:00.123+01:00", "2026-11-19T23:00:00-01:00"]) {
            expect(gcDecision(row({ expiresAt: good }), NOW).action).toBe("destroy");
        }
    });

    it("planExpiry rejects a bad configured ttl with the key path", () => {
        expect(() => planExpiry({ ttl: "soon" }, undefined, NOW)).toThrow('nixlab:lab.ttl "soon" must be a duration like 90m, 8h or 3d (minutes, hours or days)');
        expect(() => planExpiry({ ttl: "99999999d" }, undefined, NOW)).toThrow('nixlab:lab.ttl "99999999d" is longer than the maximum lab lifetime 30d');
        expect(planExpiry({}, undefined, NOW)).toEqual({ expiresAt: "2026-11-24T18:00:00.000Z", writes: [{ key: "nixlab:lab.expiresAt", value: "2026-11-24T18:00:00.000Z" }], reason: "nixlab:lab.ttl 8h" });
    });
});

describe("progress", () => {
    it("prints diagnostics, failures and durations; skips unchanged resources and the stack itself", () => {
        let out = "";
        let t = 0;
        const p = new Progress({ write: (s: string) => (out += s), isTTY: false }, "update", { now: () => t });
        p.onEvent(step("resourcePreEvent", "create", "aws:ec2/vpc:Vpc", "kvm-net"));
        p.onEvent(step("resourcePreEvent", "same", "aws:ec2/subnet:Subnet", "kvm-subnet"));
        p.onEvent({ sequence: 0, timestamp: 0, resourcePreEvent: { metadata: { op: "create", urn: "urn:pulumi:dev::nixlab::pulumi:pulumi:Stack::nixlab-dev", type: "pulumi:pulumi:Stack", provider: "" } } });
        t = 42_000;
        p.onEvent(step("resOutputsEvent", "create", "aws:ec2/vpc:Vpc", "kvm-net"));
        p.onEvent({ sequence: 0, timestamp: 0, diagnosticEvent: { urn: URN("aws:ec2/instance:Instance", "kvm-node-1"), message: "InsufficientInstanceCapacity\n", color: "never", severity: "error" } });
        p.onEvent({ sequence: 0, timestamp: 0, diagnosticEvent: { message: "progress bar", color: "never", severity: "info", ephemeral: true } });
        p.onEvent({ sequence: 0, timestamp: 0, resOpFailedEvent: { metadata: { op: "create", urn: URN("aws:ec2/instance:Instance", "kvm-node-1"), type: "aws:ec2/instance:Instance", provider: "" }, status: 1, steps: 1 } });
        p.onEvent({ sequence: 0, timestamp: 0, summaryEvent: { maybeCorrupt: false, durationSeconds: 42, resourceChanges: { create: 1, same: 1 }, policyPacks: {} } });
        p.finish();
        expect(out).toBe(
            ["  ✓ created aws:ec2/vpc:Vpc  kvm-net (42s)", "error: kvm-node-1: InsufficientInstanceCapacity", "  ✗ failed to create aws:ec2/instance:Instance  kvm-node-1", ""].join("\n"),
        );
        expect(describeChanges(p.changes, "done")).toBe("1 created");
        expect(describeChanges({ create: 2, update: 1, delete: 3, same: 9 }, "plan")).toBe("2 to create, 1 to update, 3 to delete");
    });

    it("on a terminal, names what is in flight on the spinner line", () => {
        let out = "";
        // The parts of tty.WriteStream ora draws with.
        const tty = { write: (s: string) => (out += s), isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true };
        const p = new Progress(tty, "update");
        p.onEvent(step("resourcePreEvent", "create", "aws:ec2/instance:Instance", "kvm-node-1"));
        p.onEvent(step("resourcePreEvent", "create", "aws:ec2/instance:Instance", "kvm-node-2"));
        p.finish();
        expect(out).toContain("2 in progress: kvm-node-1, kvm-node-2");
    });
});

describe("secrets at rest on the local file backend", () => {
    const mode = (p: string) => fs.statSync(p).mode & 0o777;

    it("creates a random passphrase file (0600 in a 0700 directory) on first use and reuses it", () => {
        const env: NodeJS.ProcessEnv = {};
        const first = backendEnv("file:///srv/nixlab/.pulumi-state", env, home);
        const file = path.join(home, ".config", "nixlab", "passphrase");
        expect(first).toEqual({ PULUMI_CONFIG_PASSPHRASE_FILE: file });
        expect(mode(file)).toBe(0o600);
        expect(mode(path.dirname(file))).toBe(0o700);
        const phrase = fs.readFileSync(file, "utf8");
        expect(phrase).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(backendEnv("file:///elsewhere/state", env, home)).toEqual({ PULUMI_CONFIG_PASSPHRASE_FILE: file });
        expect(fs.readFileSync(file, "utf8")).toBe(phrase);
        // Another user's file gets another random passphrase.
        const other = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-cli-home2-"));
        try {
            backendEnv("file:///srv/nixlab/.pulumi-state", {}, other);
            expect(fs.readFileSync(path.join(other, ".config/nixlab/passphrase"), "utf8")).not.toBe(phrase);
        } finally {
            fs.rmSync(other, { recursive: true, force: true });
        }
    });

    it("honours XDG_CONFIG_HOME and the user's own passphrase, and generates none for shared backends", () => {
        const xdg = path.join(home, "xdg");
        expect(backendEnv("file:///s", { XDG_CONFIG_HOME: xdg }, home)).toEqual({ PULUMI_CONFIG_PASSPHRASE_FILE: path.join(xdg, "nixlab", "passphrase") });
        fs.rmSync(xdg, { recursive: true });
        expect(backendEnv("file:///s", { PULUMI_CONFIG_PASSPHRASE: "" }, home)).toEqual({});
        expect(backendEnv("file:///s", { PULUMI_CONFIG_PASSPHRASE_FILE: "/run/secrets/p" }, home)).toEqual({});
        expect(backendEnv("s3://team-labs", {}, home)).toEqual({});
        expect(backendEnv("https://api.pulumi.com", {}, home)).toEqual({});
        expect(fs.readdirSync(home)).toEqual([]);
    });

    it("refuses a passphrase file other users can read", () => {
        const file = path.join(home, ".config", "nixlab", "passphrase");
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, "x", { mode: 0o644 });
        fs.chmodSync(file, 0o644);
        expect(() => backendEnv("file:///s", {}, home)).toThrow(`${file} holds the passphrase of your local Pulumi state but other users may read it (mode 0644); run: chmod 600 ${file}`);
    });

    it("creates the state directory 0700", () => {
        const dir = path.join(home, "proj", ".pulumi-state");
        const old = process.umask(0o022);
        try {
            ensureStateDir(`file://${dir}`);
        } finally {
            process.umask(old);
        }
        expect(mode(dir)).toBe(0o700);
    });
});
