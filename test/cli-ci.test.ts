/** cli/ci.ts: the preview matrix and the per-stack plan diff the workflows post. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ciMain, diffStack, PLAN_COMMENT_MARKER, previewTargets, readPlans, renderPlanDiff, valueChanges, type PlanSide } from "../cli/ci";

let dir: string;
beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-ci-"));
});
afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
});

function write(rel: string, content: string): void {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
}

describe("matrix", () => {
    beforeEach(() => {
        write("stacks/Pulumi.local.yaml", "config:\n  nixlab:lab: {owner: a}\n");
        write("stacks/Pulumi.aws-x86_64.yaml", "config:\n  nixlab:backend: aws\n  nixlab:aws: {region: eu-west-1}\n");
        write("stacks/Pulumi.azure-x86_64.yaml", "config:\n  nixlab:backend: azure\n  nixlab:azure: {subscriptionId: 00000000-0000-0000-0000-000000000001, location: westeurope}\n");
        write("stacks/Pulumi.gcp-metal.yaml", "config:\n  nixlab:backend: gcp\n  nixlab:lab: {defaults: {arch: aarch64}, nodes: {count: 2}}\n");
        write("stacks/Pulumi.os.yaml", "config:\n  nixlab:backend: openstack\n  nixlab:lab: {defaults: {arch: aarch64}, nodes: [{name: a}, {name: b, arch: x86_64}]}\n");
        write("stacks/README.md", "not a stack");
    });

    it("lists only cloud stacks whose credentials are present, with what their login needs", () => {
        const stacks = path.join(dir, "stacks");
        expect(previewTargets(stacks, {})).toEqual([]);
        expect(previewTargets(stacks, { HAS_AWS: "true", HAS_AZURE: "true", HAS_GCP: "false", HAS_OPENSTACK: "" })).toEqual([
            { stack: "aws-x86_64", backend: "aws", runner: "ubuntu-latest", emulate: false, awsRegion: "eu-west-1" },
            { stack: "azure-x86_64", backend: "azure", runner: "ubuntu-latest", emulate: false, azureSubscriptionId: "00000000-0000-0000-0000-000000000001" },
        ]);
        expect(previewTargets(stacks, { HAS_GCP: "true", HAS_OPENSTACK: "true" })).toEqual([
            { stack: "gcp-metal", backend: "gcp", runner: "ubuntu-24.04-arm", emulate: false },
            { stack: "os", backend: "openstack", runner: "ubuntu-latest", emulate: true },
        ]);
    });

    it("prints the matrix as one JSON line for $GITHUB_OUTPUT", async () => {
        let out = "";
        const code = await ciMain(["matrix"], { stdout: (s) => (out += s), env: { HAS_GCP: "true" }, cwd: dir });
        expect([code, out]).toEqual([0, '[{"stack":"gcp-metal","backend":"gcp","runner":"ubuntu-24.04-arm","emulate":false}]\n']);
    });
});

const plan = (resources: { type: string; name: string; parent?: string; inputs: unknown }[], outputs: Record<string, unknown> = {}) => ({
    plan: { stack: "s", resources: resources.map((r) => ({ parent: null, ...r })), outputs },
});

describe("plan diff", () => {
    const vpc = { type: "aws:ec2/vpc:Vpc", name: "kvm-net", parent: "kvm", inputs: { cidrBlock: "10.77.0.0/24", tags: { "nixlab:lab": "kvm" } } };
    const sg = { type: "aws:ec2/securityGroup:SecurityGroup", name: "kvm-net-sg", parent: "kvm", inputs: { ingress: [{ cidrBlocks: ["203.0.113.7/32"], fromPort: 22 }] } };
    const node1 = { type: "aws:ec2/instance:Instance", name: "kvm-node-1", parent: "kvm", inputs: { instanceType: "c8i.large" } };
    const node2 = { ...node1, name: "kvm-node-2" };

    it("names every changed leaf by path", () => {
        expect(valueChanges({ a: [1, { b: "x" }], c: 1 }, { a: [1, { b: "y" }, 3], d: true })).toEqual([
            'a[1].b: "x" → "y"',
            "a[2]: (none) → 3",
            "c: 1 → (none)",
            "d: (none) → true",
        ]);
        expect(valueChanges({ same: 1 }, { same: 1 })).toEqual([]);
    });

    it("classifies added, changed and removed resources and output changes", () => {
        const sgOpen = { ...sg, inputs: { ingress: [{ cidrBlocks: ["0.0.0.0/0"], fromPort: 22 }] } };
        const d = diffStack("aws", plan([vpc, sg, node1], { labName: "kvm" }), plan([vpc, sgOpen, node2], { labName: "kvm2" }));
        expect(d).toEqual({
            stack: "aws",
            status: "changed",
            added: ["aws:ec2/instance:Instance  kvm-node-2"],
            removed: ["aws:ec2/instance:Instance  kvm-node-1"],
            changed: [{ resource: "aws:ec2/securityGroup:SecurityGroup  kvm-net-sg", changes: ['ingress[0].cidrBlocks[0]: "203.0.113.7/32" → "0.0.0.0/0"'] }],
            outputs: ['labName: "kvm" → "kvm2"'],
            baseCount: 3,
            headCount: 3,
        });
        expect(diffStack("x", plan([vpc]), plan([vpc])).status).toBe("unchanged");
        expect(diffStack("x", undefined, plan([vpc]))).toMatchObject({ status: "new stack", added: ["aws:ec2/vpc:Vpc  kvm-net"] });
        expect(diffStack("x", plan([vpc]), undefined).status).toBe("removed stack");
        expect(diffStack("x", plan([vpc]), { error: "nixlab: invalid stack configuration" })).toMatchObject({ status: "head plan failed", error: "nixlab: invalid stack configuration" });
        expect(diffStack("x", { error: "Missing script: plan" }, plan([vpc]))).toMatchObject({ status: "base plan failed", added: ["aws:ec2/vpc:Vpc  kvm-net"] });
    });

    it("renders one marked comment with a table and a collapsible diff per changed stack", () => {
        const base = new Map([
            ["aws", plan([vpc, sg])],
            ["same", plan([vpc])],
            ["gone", plan([vpc])],
        ]);
        const head = new Map<string, PlanSide>([
            ["aws", plan([vpc, sg, node1])],
            ["same", plan([vpc])],
            ["broken", { error: "nixlab: invalid stack configuration (1 problem):\n  - nixlab:lab.owner: Required" }],
        ]);
        const { markdown } = renderPlanDiff(base, head, { baseRef: "`main`", headRef: "abc1234" });
        expect(markdown).toBe(
            [
                PLAN_COMMENT_MARKER,
                "### nixlab offline plan",
                "What `pulumi preview` would register for every stack in `stacks/`, computed offline (`npm run plan`, no cloud credentials), abc1234 against `main`.",
                "",
                "| stack | resources (base → head) | change |",
                "|---|---|---|",
                "| `aws` | 2 → 3 | +1 ~0 -0 |",
                "| `broken` | - → - | **head plan failed** |",
                "| `gone` | - → - | removed stack |",
                "| `same` | 1 → 1 | unchanged |",
                "",
                "<details><summary><code>aws</code>: +1 ~0 -0</summary>",
                "",
                "```diff",
                "+ aws:ec2/instance:Instance  kvm-node-1",
                "```",
                "</details>",
                "",
                "<details open><summary><code>broken</code>: head plan failed</summary>",
                "",
                "```diff",
                "! nixlab: invalid stack configuration (1 problem):",
                "!   - nixlab:lab.owner: Required",
                "```",
                "</details>",
                "",
            ].join("\n"),
        );
    });

    it("reads plan files and failure files, and exits 1 when a head plan failed", async () => {
        write("base/aws.json", JSON.stringify(plan([vpc]).plan));
        write("head/aws.json", JSON.stringify(plan([vpc, node1]).plan));
        write("head/bad.failed", "boom\n");
        write("head/garbled.json", "{not json");
        const head = readPlans(path.join(dir, "head"));
        expect([...head.keys()]).toEqual(["aws", "bad", "garbled"]);
        expect(head.get("bad")).toEqual({ error: "boom" });
        expect(head.get("garbled")).toMatchObject({ error: expect.stringMatching(/^unreadable plan output: /) });
        let out = "";
        const code = await ciMain(["plan-diff", "--base", "base", "--head", "head"], { stdout: (s) => (out += s), env: {}, cwd: dir });
        expect(code).toBe(1);
        expect(out).toContain("| `aws` | 1 → 2 | +1 ~0 -0 |");
        expect(out).toContain("| `bad` | - → - | **head plan failed** |");
    });
});
