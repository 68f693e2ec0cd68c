/**
 * The README's lab-lifecycle example shows what the stack it names really gets: the lab
 * name, node names, machine types and addresses come from the aws-arm64 plan
 * (test/__snapshots__/plan-aws-arm64.json, which test/aws-arm64.test.ts keeps equal to the
 * real program's plan), rendered by the CLI's own table. cli/README.md points there
 * instead of repeating it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readStackConfig } from "../cli/stackFiles";
import { table } from "../cli/table";

const ROOT = path.join(__dirname, "..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

describe("README lab lifecycle example", () => {
    const block = /```console\n(\$ npx nixlab up [\s\S]*?)```/.exec(README)![1]!;
    const stack = /^\$ npx nixlab up (\S+)/.exec(block)![1]!;

    it("names a stack that exists, with its own lab name", () => {
        const file = path.join(ROOT, "stacks", `Pulumi.${stack}.yaml`);
        expect(fs.existsSync(file), file).toBe(true);
        const lab = JSON.parse(readStackConfig(file)["nixlab:lab"]!) as { name: string };
        expect(block.split("\n")[1]).toMatch(new RegExp(`^Lab ${lab.name} \\(stack ${stack}, aws\\) `));
        expect(block).toContain(`Lab ${lab.name} is up;`);
    });

    it("shows the machine types, addresses and resource count of that stack's plan", () => {
        const plan = JSON.parse(fs.readFileSync(path.join(ROOT, "test/__snapshots__", `plan-${stack}.json`), "utf8")) as {
            resources: { type: string; name: string; inputs: { instanceType?: string; privateIp?: string } }[];
        };
        const lab = JSON.parse(readStackConfig(path.join(ROOT, "stacks", `Pulumi.${stack}.yaml`))["nixlab:lab"]!) as { name: string };
        const rows = plan.resources
            .filter((r) => r.type === "aws:ec2/instance:Instance")
            .map((r) => {
                const node = r.name.slice(`${lab.name}-`.length);
                return [node, r.inputs.instanceType!, r.inputs.privateIp!, `nixlab ssh ${stack} ${node}`];
            })
            .sort((a, b) => a[0]!.localeCompare(b[0]!));
        expect(rows.length).toBeGreaterThan(0);
        const after = block.slice(block.indexOf(" is up;"));
        expect(after.split("\n").slice(1, 2 + rows.length).join("\n")).toBe(table(["NODE", "MACHINE", "ADDRESS", "CONNECT"], rows));
        // `pulumi preview` counts the stack itself too.
        expect(block).toContain(`\nPlan: ${plan.resources.length + 1} to create\n`);
        for (const line of block.split("\n").filter((l) => /^\s+[+✓]/.test(l))) {
            const name = line.trim().split(/\s+/).find((w) => w.startsWith(`${lab.name}-`));
            expect(plan.resources.map((r) => r.name), line).toContain(name);
        }
    });

    it("the later examples use the same stack", () => {
        for (const m of README.matchAll(/\$ npx nixlab (ssh|destroy) (\S+)/g)) expect(m[2], m[0]).toBe(stack);
    });
});

describe("cli/README.md", () => {
    it("links to the README's lab lifecycle instead of repeating it", () => {
        const cli = fs.readFileSync(path.join(ROOT, "cli/README.md"), "utf8");
        expect(cli).toContain("](../README.md#lab-lifecycle)");
        expect(README).toMatch(/^## Lab lifecycle$/m);
        expect(cli).not.toMatch(/```console/);
        // No paragraph of the README's is copied in.
        const paragraphs = README.split("\n\n").filter((p) => p.length > 120);
        for (const p of paragraphs) expect(cli.includes(p), p.slice(0, 60)).toBe(false);
    });
});
