/**
 * `npm run plan` as a user runs it: a subprocess, real stack files, exit codes.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..");
/**
 * Each case is a whole tsx process compiling the program; several run at once, and on a
 * loaded 2-core machine one takes minutes, so the test timeout is generous (a hang still fails).
 */
const PLAN_TIMEOUT_MS = 300_000;

/** Runs the plan command in its own process (async, so the it.concurrent cases overlap). */
function plan(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [join(ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/plan.ts", ...args], { cwd: ROOT });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), PLAN_TIMEOUT_MS - 10_000);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr });
        });
    });
}

const STACKS = readdirSync(join(ROOT, "stacks"))
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s)
    .sort();

describe("npm run plan", () => {
    it.concurrent("prints a stack's whole graph as JSON, secrets hidden, images not built offline", { timeout: PLAN_TIMEOUT_MS }, async () => {
        const r = await plan(["--stack", "aws-x86_64", "--json"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const out = JSON.parse(r.stdout);
        expect(Object.keys(out)).toEqual(["stack", "nodes", "resources", "outputs"]);
        expect(out.stack).toBe("aws-x86_64");
        const types = out.resources.map((x: { type: string }) => x.type);
        expect(types.filter((t: string) => t === "aws:ec2/instance:Instance")).toHaveLength(2);
        expect(types).toContain("aws:ec2/ami:Ami");
        expect(out.resources.find((x: { type: string }) => x.type === "nixlab:index:Lab").parent).toBeNull();
        expect(out.outputs.operatorPrivateKey).toBe("[secret]");
        expect(out.outputs.backendKind).toBe("aws");
        const instance = out.resources.find((x: { type: string }) => x.type === "aws:ec2/instance:Instance");
        expect(instance.inputs.userData).toBe("[secret]");
        // Sorted by name, so a PR diff of two plans shows only real changes.
        const names = out.resources.map((x: { name: string }) => x.name);
        expect(names).toEqual([...names].sort((a: string, b: string) => a.localeCompare(b)));
        // Resource options beside the inputs: only those set, dependsOn as `<type> <name>`.
        const byName = (type: string, name: string) => out.resources.find((x: { type: string; name: string }) => x.type === type && x.name === name);
        expect(byName("aws:ebs/snapshotImport:SnapshotImport", "kvm-x86-image-x86_64-snapshot").options).toEqual({
            customTimeouts: { create: "90m" },
            dependsOn: ["aws:iam/rolePolicy:RolePolicy kvm-x86-image-x86_64-vmimport"],
        });
        expect(byName("command:remote:Command", "kvm-x86-node-1-ready").options.replaceOnChanges).toEqual(["triggers[*]"]);
        expect(byName("tls:index/privateKey:PrivateKey", "kvm-x86-operator-key").options).toEqual({
            additionalSecretOutputs: ["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"],
        });
        expect(byName("aws:ec2/vpc:Vpc", "kvm-x86-net-vpc").options).toEqual({});
        expect(out.nodes.map((n: { name: string; machineType: string; vcpus: number; memoryGiB: number; rootDiskGiB: number }) => [n.name, n.machineType, n.vcpus, n.memoryGiB, n.rootDiskGiB])).toEqual([
            ["node-1", "m8i-flex.xlarge", 4, 16, 40],
            ["node-2", "m8i-flex.xlarge", 4, 16, 40],
        ]);
    });

    it.concurrent("shows per node the machine type, vCPUs, memory and disks, and per resource the options that are set", { timeout: PLAN_TIMEOUT_MS }, async () => {
        const r = await plan(["--stack", "aws-x86_64"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const lines = r.stdout.split("\n");
        const at = lines.indexOf("Nodes:");
        expect(lines.slice(at, at + 3)).toEqual([
            "Nodes:",
            "    node-1  m8i-flex.xlarge  4 vCPUs  16 GiB memory  root 40 GiB + scratch 100 GiB  kvm: nested",
            "    node-2  m8i-flex.xlarge  4 vCPUs  16 GiB memory  root 40 GiB + scratch 100 GiB  kvm: nested",
        ]);
        expect(lines).toContain("        + aws:ebs/snapshotImport:SnapshotImport  kvm-x86-image-x86_64-snapshot  (timeouts create 90m)");
    });

    it.concurrent("exits 2 with every problem on stderr for invalid config", { timeout: PLAN_TIMEOUT_MS }, async () => {
        const dir = mkdtempSync(join(tmpdir(), "nixlab-plan-"));
        const file = join(dir, "Pulumi.bad.yaml");
        writeFileSync(
            file,
            [
                "config:",
                "  nixlab:backend: libvirt",
                "  nixlab:lab:",
                "    owner: alice",
                "    user: { sshAuthorizedKeys: [] }",
                "    nodes: [{ name: a, memoryGiB: 0 }]",
                "",
            ].join("\n"),
        );
        const r = await plan(["--stack", "bad", "--config-file", file]);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(
            [
                "nixlab: invalid stack configuration (2 problems):",
                "  - nixlab:lab.user.sshAuthorizedKeys: needs at least one key, or nobody can log in (password login is disabled) (got [])",
                "  - nixlab:lab.nodes[0].memoryGiB: must be at least 0.5 (got 0)",
                "",
            ].join("\n"),
        );
    });

    it.concurrent("exits 2 and lists the stacks for an unknown one", { timeout: PLAN_TIMEOUT_MS }, async () => {
        const r = await plan(["--stack", "nope"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/^nixlab plan: no stack config at .*stacks\/Pulumi\.nope\.yaml; stacks here: .*aws-arm64.*\. Copy one/);
    });

    it("covers every stack file, each cloud among them", () => {
        expect(STACKS).toEqual(expect.arrayContaining(["aws-arm64", "aws-x86_64", "gcp-x86_64", "azure-x86_64", "openstack-x86_64", "local"]));
    });

    it.concurrent.each(STACKS)("plans stack %s with no credentials: a Lab with nodes, exit 0", { timeout: PLAN_TIMEOUT_MS }, async (stack) => {
        const r = await plan(["--stack", stack]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const lines = r.stdout.split("\n");
        expect(lines[0]).toMatch(new RegExp(`^Stack ${stack}: \\d+ resources to create$`));
        expect(lines[1]).toMatch(/^ {4}\+ nixlab:index:Lab {2}\S+$/);
        expect(r.stdout).toContain("Outputs:\n");
    });
});
