/**
 * The real LabWorkspace against the real `pulumi` CLI, where one is installed: a throwaway
 * project named `nixlab` whose program registers no resources but exports the outputs a
 * lab exports, in a local file backend. It walks the lifecycle `up --ttl` → `list` → `gc`
 * (with the clock moved past the expiry) and checks the stack is gone. Skipped, saying
 * why, where `pulumi` is not on PATH; everything else is covered against FakeWorkspace.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CliDeps } from "../cli/commands";
import { recordingCliDeps } from "./support/cliDeps";
import { run } from "../cli/main";
import { readStackConfig } from "../cli/stackFiles";
import { createPulumiWorkspace, PROJECT_DIR } from "../cli/workspace";

const pulumiVersion = spawnSync("pulumi", ["version"], { encoding: "utf8" });
const hasPulumi = pulumiVersion.status === 0;
if (!hasPulumi) {
    console.warn(`cli-real: skipping the real Pulumi CLI run: \`pulumi version\` failed (${pulumiVersion.error?.message ?? pulumiVersion.stderr.trim()}); install the Pulumi CLI to run it`);
}

// Inside the project so the program's `require("@pulumi/pulumi")` resolves to node_modules.
const dir = path.join(PROJECT_DIR, ".cache", `cli-real-${process.pid}`);
const stateDir = path.join(dir, "state");

afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
});

// Where there is no CLI, the real workspace's failure is what users without one will see.
describe.skipIf(hasPulumi)("nixlab without a Pulumi CLI", () => {
    it("the real workspace fails with the no-CLI advice", async () => {
        fs.mkdirSync(dir, { recursive: true });
        const cli = recordingCliDeps(dir, {
            openWorkspace: (backendUrl) => createPulumiWorkspace({ backendUrl, projectDir: dir }),
            readStackFile: (stack) => readStackConfig(path.join(dir, `Pulumi.${stack}.yaml`)),
        });
        expect(await run(["--backend", `file://${stateDir}`, "list"], cli.deps)).toBe(1);
        expect(cli.stderr()).toMatch(/^nixlab: nixlab drives the Pulumi CLI \(through Pulumi's Automation API\), and `pulumi` is not on PATH\.\n/);
        // Nothing was left behind for a backend that was never reached.
        expect(fs.existsSync(stateDir)).toBe(false);
    });
});

describe.skipIf(!hasPulumi)("nixlab against the real Pulumi CLI", () => {
    it("up --ttl, list, then gc past the expiry destroys and removes the stack", { timeout: 300_000 }, async () => {
        fs.mkdirSync(stateDir, { recursive: true });
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: nixlab\nruntime: nodejs\ndescription: nixlab CLI test project\n");
        fs.writeFileSync(
            path.join(dir, "index.js"),
            [
                'const pulumi = require("@pulumi/pulumi");',
                'const lab = new pulumi.Config("nixlab").requireObject("lab");',
                "module.exports = {",
                "  labName: lab.name, owner: lab.owner, backendKind: \"libvirt\", expiresAt: lab.expiresAt,",
                '  nodes: { "node-1": { name: "node-1", machineType: "qemu", privateAddress: "10.77.0.10", sshHost: "127.0.0.1", sshPort: 2222, user: "lab",',
                '    ssh: "ssh -p 2222 lab@127.0.0.1", hostKeyFingerprints: { ed25519: "SHA256:x" }, ready: "ok" } },',
                '  knownHosts: "real-node-1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx\\n",',
                "};",
                "",
            ].join("\n"),
        );
        fs.writeFileSync(
            path.join(dir, "Pulumi.real.yaml"),
            "config:\n  nixlab:lab:\n    name: real\n    owner: ci@example.com\n    ttl: 8h\n",
        );

        let now = new Date();
        let stdout = "";
        let stderr = "";
        const env = { PULUMI_CONFIG_PASSPHRASE: "", PULUMI_SKIP_UPDATE_CHECK: "true" };
        const deps: CliDeps = {
            stdout: { write: (s: string) => (stdout += s), isTTY: false },
            stderr: { write: (s: string) => (stderr += s) },
            env: {},
            now: () => now,
            projectDir: dir,
            homeDir: dir,
            openWorkspace: (backendUrl) => createPulumiWorkspace({ backendUrl, projectDir: dir, env }),
            runSsh: async () => 0,
            readStackFile: (stack) => readStackConfig(path.join(dir, `Pulumi.${stack}.yaml`)),
            plan: async () => {
                throw new Error("unexpected: plan");
            },
        };
        const backend = `file://${stateDir}`;

        expect(await run(["--backend", backend, "up", "real", "--ttl", "1h", "--yes"], deps), stderr).toBe(0);
        expect(stdout).toContain("nixlab ssh real node-1");
        const file = fs.readFileSync(path.join(dir, "Pulumi.real.yaml"), "utf8");
        expect(file).toMatch(/ttl: 1h/);
        expect(file).toMatch(/expiresAt: "?\d{4}-\d\d-\d\dT/);

        stdout = "";
        expect(await run(["--backend", backend, "list", "--json"], deps), stderr).toBe(0);
        const rows = JSON.parse(stdout) as { stack: string; lab: string; owner: string; nodes: number; state: string; expirySource: string }[];
        expect(rows.map((r) => [r.stack, r.lab, r.owner, r.nodes, r.state, r.expirySource])).toEqual([["real", "real", "ci@example.com", 1, "running", "output"]]);

        stdout = "";
        expect(await run(["--backend", backend, "gc"], deps), stderr).toBe(0);
        expect(stdout).toMatch(/^real .* not expired/m);

        now = new Date(now.getTime() + 2 * 3_600_000);
        stdout = "";
        expect(await run(["--backend", backend, "gc"], deps), stderr).toBe(0);
        expect(stdout).toMatch(/^real .* destroyed, stack removed/m);
        const ws = await createPulumiWorkspace({ backendUrl: backend, projectDir: dir, env });
        expect(await ws.listStacks()).toEqual([]);
        // The stack file survives `stack rm` (preserveConfig) without the spent expiry.
        expect(fs.readFileSync(path.join(dir, "Pulumi.real.yaml"), "utf8")).not.toMatch(/expiresAt/);
    });
});
