/**
 * The entry points as a user starts them, in their own processes: `node cli/nixlab.js`
 * (the `nixlab` bin) and `tsx scripts/plan.ts` (`npm run plan`). Wrong Node.js, wrong
 * stack names, wrong files and broken YAML end in one message naming what and where, never
 * a stack trace; output read through a pipe is complete.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../cli/main";
import { readStackConfig, resolveStackFile } from "../cli/stackFiles";
import { nodeScriptArgs } from "../scripts/npmScript";
import { recordingCliDeps } from "./support/cliDeps";
import { tempDir } from "./support/tmp";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { nodeVersionProblem } = require(path.join(__dirname, "..", "cli", "engines.js")) as { nodeVersionProblem(version?: string, execPath?: string): string | undefined };

const ROOT = path.join(__dirname, "..");
/** `npm run plan`'s own command (package.json), minus npm. */
const PLAN_ARGV = nodeScriptArgs("plan");
const tmp = tempDir("nixlab-entry-");

const STACKS = fs
    .readdirSync(path.join(ROOT, "stacks"))
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s)
    .sort();

function exec(node: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(node, args, { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}
const nixlab = (...args: string[]) => exec(process.execPath, [path.join(ROOT, "cli/nixlab.js"), ...args]);
const npmPlan = (...args: string[]) => exec(process.execPath, [...PLAN_ARGV, ...args]);

const BROKEN = ["config:", "  nixlab:backend: libvirt", "  nixlab:lab:", "    owner: alice", "    nodes: { count: 2", "    user: x", ""].join("\n");

describe("Node.js version (package.json engines)", { timeout: 300_000 }, () => {
    it("names the version found, the one needed and how to get it", () => {
        expect(nodeVersionProblem("20.20.2", "/usr/bin/node")).toBe(
            'nixlab needs Node.js 22 or newer (package.json engines: "node": ">=22"), but /usr/bin/node is Node.js 20.20.2.\n' +
                "Install Node.js 22 (https://nodejs.org/en/download, `nvm install 22` or `fnm install 22`), put it first on PATH, and run the command again.",
        );
        expect(nodeVersionProblem("22.0.0")).toBeUndefined();
        expect(nodeVersionProblem("24.1.0")).toBeUndefined();
        expect(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).engines.node).toBe(">=22");
    });

    // This machine has Debian's Node 20 at /usr/bin/node beside Node 22 on PATH.
    const old = spawnSync("/usr/bin/node", ["--version"], { encoding: "utf8" });
    const oldVersion = old.status === 0 ? old.stdout.trim().slice(1) : undefined;
    it.skipIf(!oldVersion || Number(oldVersion.split(".")[0]) >= 22)("the nixlab bin and npm run plan refuse an older Node with that message, exit 1", async () => {
        const expected = nodeVersionProblem(oldVersion, "/usr/bin/node") + "\n";
        const bin = await exec("/usr/bin/node", [path.join(ROOT, "cli/nixlab.js"), "plan", "local"]);
        expect([bin.code, bin.stdout, bin.stderr]).toEqual([1, "", expected]);
        const plan = await exec("/usr/bin/node", [...PLAN_ARGV, "--stack", "local"]);
        expect([plan.code, plan.stdout, plan.stderr]).toEqual([1, "", expected]);
    });
});

// Each case starts Node, tsx and (for plan) Pulumi's SDK: slow on a loaded machine, never wrong.
describe("stack names and files", { timeout: 300_000 }, () => {
    it.concurrent("`nixlab up nope` names the missing stack file and the stacks there, before any Pulumi CLI", async () => {
        const r = await nixlab("up", "nope", "--yes");
        expect([r.code, r.stdout, r.stderr]).toEqual([
            2,
            "",
            `nixlab: there is no stacks/Pulumi.nope.yaml; stacks there: ${STACKS.join(", ")}. Copy one to stacks/Pulumi.nope.yaml (e.g. cp stacks/Pulumi.local.yaml stacks/Pulumi.nope.yaml) and edit it.\n`,
        ]);
    });

    it.concurrent("`nixlab plan nope` and `npm run plan -- --stack nope` say the same, offering --config-file", async () => {
        const expected = `nixlab plan: there is no stacks/Pulumi.nope.yaml; stacks there: ${STACKS.join(", ")}. Copy one to stacks/Pulumi.nope.yaml (e.g. cp stacks/Pulumi.local.yaml stacks/Pulumi.nope.yaml) and edit it, or pass --config-file <file>.\n`;
        for (const r of await Promise.all([nixlab("plan", "nope"), npmPlan("--stack", "nope")])) expect([r.code, r.stdout, r.stderr]).toEqual([2, "", expected]);
    });

    it.concurrent("--config-file that is a directory or missing says so, without suggesting --config-file", async () => {
        const dir = path.join(tmp, "dir");
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, "Pulumi.lab.yaml"), "config: {}\n");
        const asDir = await nixlab("plan", "lab", "--config-file", dir);
        expect([asDir.code, asDir.stderr]).toEqual([
            2,
            `nixlab plan: --config-file ${dir} is a directory; pass the stack file itself (a Pulumi.<stack>.yaml). Did you mean --config-file ${dir}/Pulumi.lab.yaml?\n`,
        ]);
        const other = await npmPlan("--stack", "x", "--config-file", dir);
        expect([other.code, other.stderr]).toEqual([2, `nixlab plan: --config-file ${dir} is a directory; pass the stack file itself (a Pulumi.<stack>.yaml). Stack files in it: Pulumi.lab.yaml.\n`]);
        const missing = await nixlab("plan", "lab", "--config-file", "nope.yaml");
        expect([missing.code, missing.stderr]).toEqual([2, `nixlab plan: --config-file nope.yaml: there is no such file. Check the path; it is read relative to ${ROOT}.\n`]);
    });

    it.concurrent("a YAML syntax error exits 2 naming file, line and column, no stack trace (nixlab plan, npm run plan)", async () => {
        const file = path.join(tmp, "Pulumi.broken.yaml");
        fs.writeFileSync(file, BROKEN);
        const expected = `nixlab plan: ${file}:6:5: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }. Fix the file and run the command again.\n`;
        for (const r of await Promise.all([nixlab("plan", "broken", "--config-file", file), npmPlan("--stack", "broken", "--config-file", file)])) {
            expect([r.code, r.stdout, r.stderr]).toEqual([2, "", expected]);
        }
    });

    it("`nixlab up` and `preview` on a broken stack file: the same message, exit 2, the backend never opened", async () => {
        const project = path.join(tmp, "project");
        fs.mkdirSync(path.join(project, "stacks"), { recursive: true });
        fs.writeFileSync(path.join(project, "stacks", "Pulumi.broken.yaml"), BROKEN);
        fs.writeFileSync(path.join(project, "stacks", "Pulumi.dup.yaml"), "config:\n  nixlab:backend: libvirt\n  nixlab:backend: aws\n");
        for (const [stack, where, reason] of [
            ["broken", "6:5", "Flow map in block collection must be sufficiently indented and end with a }"],
            ["dup", "3:3", "Map keys must be unique"],
        ] as const) {
            for (const cmd of ["up", "preview"]) {
                const cli = recordingCliDeps(project, { readStackFile: (s) => readStackConfig(resolveStackFile(project, s, undefined, false)) });
                expect(await run([cmd, stack], cli.deps)).toBe(2);
                expect(cli.stderr()).toBe(`nixlab: ${project}/stacks/Pulumi.${stack}.yaml:${where}: YAML syntax error: ${reason}. Fix the file and run the command again.\n`);
            }
        }
    });
});

describe("output read through a pipe", () => {
    // Enough nodes that the JSON is over twice a pipe's 64 KiB buffer; the reader waits
    // before reading so the writer must outlive a full pipe (before the fix: cut at 64 KiB).
    const big = path.join(tmp, "Pulumi.big.yaml");
    fs.writeFileSync(big, fs.readFileSync(path.join(ROOT, "stacks/Pulumi.local.yaml"), "utf8").replace(/^(\s+)count: 2$/m, "$1count: 64"));

    it("`nixlab plan --json | ...` and `npm run plan -- --json | ...` deliver the whole plan, the same one", { timeout: 600_000 }, async () => {
        const piped = (cmd: string, out: string) =>
            new Promise<void>((resolve, reject) => {
                const sh = spawn("sh", ["-c", `${cmd} | { sleep 1; cat > '${out}'; }`], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
                sh.on("error", reject);
                sh.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd}: exit ${code}`))));
            });
        const q = (s: string) => `'${s}'`;
        const a = path.join(tmp, "a.json");
        const b = path.join(tmp, "b.json");
        await Promise.all([
            piped(`${q(process.execPath)} cli/nixlab.js plan big --config-file ${q(big)} --json`, a),
            piped(`${q(process.execPath)} ${PLAN_ARGV.map(q).join(" ")} --stack big --config-file ${q(big)} --json`, b),
        ]);
        const text = fs.readFileSync(a, "utf8");
        expect(text.length).toBeGreaterThan(2 * 65536);
        const plan = JSON.parse(text) as { resources: { type: string }[] };
        expect(plan.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/nixlab-libvirt:Domain")).toHaveLength(64);
        expect(fs.readFileSync(b, "utf8")).toBe(text);
    });
});
