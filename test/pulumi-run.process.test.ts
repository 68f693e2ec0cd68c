/**
 * The program loaded the way `pulumi up` / `pulumi preview` loads it: @pulumi/pulumi's own
 * Node.js runner (`cmd/run`, what the Go language host executes), with the arguments and
 * environment the language host passes and Pulumi.yaml's runtime options applied
 * (`typescript: true`: Pulumi's ts-node path, with the TypeScript it resolves from this
 * project and the tsconfig Pulumi.yaml names), talking gRPC to a recording engine stub
 * (test/support/engineStub.ts).
 *
 * For every stack file, in preview: the runner registers exactly the resource graph
 * (types, names, parents) that `npm run plan -- --json` shows. Invalid config ends the run
 * the way Pulumi ends a program that throws a RunError: the message alone, logged as an
 * error, exit 32 ("already reported"), the same text `npm run plan` prints with exit 2.
 *
 * Images: `nix build` of the NixOS images needs nixpkgs, which this machine cannot fetch,
 * so both sides run with the offline plan's image setting (NIXLAB_OFFLINE_PLAN=1: images
 * that need a build are unknown in preview). The stub answers no invokes: any invoke the
 * program made would fail the run.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { nixBuildCommand, OFFLINE_PLAN_ENV } from "../images/build";
import { readStackConfig, stackFile, type PlanJson } from "../scripts/plan";
import { createRequire } from "node:module";
import { PROGRAM_DIR, runProgram, startEngineStub, type EngineStub, type InvokeAnswer, type RunnerResult } from "./support/engineStub";
import { finished, type Finished } from "./support/process";

// Resolve as Pulumi's runner resolves (tsutils.typeScriptRequireStrings), from its own directory.
const pulumiRequire = createRequire(require.resolve("@pulumi/pulumi/package.json"));

const PROJECT = parse(fs.readFileSync(path.join(PROGRAM_DIR, "Pulumi.yaml"), "utf8")) as {
    name: string;
    runtime: { name: string; options?: { typescript?: boolean; tsconfig?: string } };
    config?: Record<string, { default?: unknown }>;
};

const STACKS = fs
    .readdirSync(path.join(PROGRAM_DIR, "stacks"))
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s)
    .sort();

/**
 * The config map the CLI hands the language host for a stack file: every key namespaced,
 * structured values as JSON text, and Pulumi.yaml's declared defaults filled in for keys
 * the stack does not set (the CLI applies them; the program must not need them).
 */
function cliConfig(file: string): Record<string, string> {
    const config = readStackConfig(file);
    for (const [key, decl] of Object.entries(PROJECT.config ?? {})) {
        const full = `${PROJECT.name}:${key}`;
        if (config[full] === undefined && decl.default !== undefined) {
            config[full] = typeof decl.default === "string" ? decl.default : JSON.stringify(decl.default);
        }
    }
    return config;
}

/**
 * One preview through Pulumi's runner against a fresh stub. `offlineImages`: as the offline
 * plan treats images that need a Nix build (unknown); false: as a real preview, which
 * invokes the build (`command:local:run`), answered by `invokes`.
 */
async function preview(
    stack: string,
    file = stackFile(stack),
    opts: { offlineImages: boolean; invokes?: Record<string, InvokeAnswer> } = { offlineImages: true },
): Promise<{ stub: EngineStub; run: RunnerResult }> {
    const stub = await startEngineStub({ project: PROJECT.name, stack, invokes: opts.invokes });
    try {
        const run = await runProgram(stub, {
            cwd: PROGRAM_DIR,
            project: PROJECT.name,
            stack,
            config: cliConfig(file),
            dryRun: true,
            // The language host's default is typescript: true; Pulumi.yaml may say otherwise.
            typescript: PROJECT.runtime.options?.typescript ?? true,
            tsconfig: PROJECT.runtime.options?.tsconfig,
            env: opts.offlineImages ? { [OFFLINE_PLAN_ENV]: "1" } : {},
        });
        return { stub, run };
    } finally {
        await stub.close();
    }
}

/**
 * `npm run -s plan -- <args>` as a user runs it, in its own process (Pulumi's runtime is
 * global: one run per process). npm from PATH, running on this same node.
 */
function offlinePlan(args: string[]): Promise<Finished> {
    return finished(
        spawn("npm", ["run", "-s", "plan", "--", ...args], {
            cwd: PROGRAM_DIR,
            env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` },
        }),
    );
}

type Node = { type: string; name: string; parent: string | null; options: unknown };
/** What must match: type, name, parent and the resource options the plan shows. */
const graphKey = (r: Node) => `${r.type}  ${r.name}  parent=${r.parent ?? "-"}  options=${JSON.stringify(r.options)}`;

function describeRun(run: RunnerResult, stub: EngineStub): string {
    const errors = stub.logs.filter((l) => l.severity === "ERROR").map((l) => l.message);
    return `exit ${run.code}\nstderr: ${run.stderr}\nerrors: ${errors.join("\n")}\nrefused: ${stub.refused.join("\n")}`;
}

describe("the engine stub refuses what the engine refuses (so a clean run means something)", () => {
    /* eslint-disable @typescript-eslint/no-explicit-any */
    const grpc = pulumiRequire("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
    const resourceGrpc = pulumiRequire("./proto/resource_grpc_pb.js") as any;
    const resourcePb = pulumiRequire("./proto/resource_pb.js") as any;

    function register(client: any, type: string, name: string, parent = ""): Promise<string> {
        const req = new resourcePb.RegisterResourceRequest();
        req.setType(type);
        req.setName(name);
        req.setParent(parent);
        req.setCustom(type !== "pulumi:pulumi:Stack" && !type.startsWith("nixlab:"));
        return new Promise((resolve, reject) => client.registerResource(req, (err: Error | null, resp: any) => (err ? reject(err) : resolve(resp.getUrn()))));
    }

    it("a second resource with the same URN, an unregistered parent, an invoke it has no answer for", async () => {
        const stub = await startEngineStub({ project: "nixlab", stack: "dev" });
        const client = new resourceGrpc.ResourceMonitorClient(stub.address, grpc.credentials.createInsecure());
        try {
            const root = await register(client, "pulumi:pulumi:Stack", "nixlab-dev");
            const lab = await register(client, "nixlab:index:Lab", "dev", root);
            expect(lab).toBe("urn:pulumi:dev::nixlab::nixlab:index:Lab::dev");
            expect(await register(client, "tls:index/privateKey:PrivateKey", "dev-operator-key", lab)).toBe(
                "urn:pulumi:dev::nixlab::nixlab:index:Lab$tls:index/privateKey:PrivateKey::dev-operator-key",
            );
            await expect(register(client, "tls:index/privateKey:PrivateKey", "dev-operator-key", lab)).rejects.toThrow(
                "Duplicate resource URN 'urn:pulumi:dev::nixlab::nixlab:index:Lab$tls:index/privateKey:PrivateKey::dev-operator-key'",
            );
            await expect(register(client, "aws:ec2/vpc:Vpc", "v", "urn:pulumi:dev::nixlab::nixlab:index:Lab::nope")).rejects.toThrow("was never registered");
            const invoke = new resourcePb.ResourceInvokeRequest();
            invoke.setTok("command:local:run");
            await expect(new Promise((resolve, reject) => client.invoke(invoke, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))))).rejects.toThrow(
                "no answer for invoke command:local:run",
            );
            expect(stub.refused).toHaveLength(3);
        } finally {
            client.close();
            await stub.close();
        }
    });
});

// One runner and one plan process at a time (two processes on a 2-core machine); the
// whole loop sits in one test file so it overlaps with the rest of the suite.
describe.sequential("the program under Pulumi's own runner (cmd/run), as `pulumi preview` runs it", () => {
    it("Pulumi.yaml asks for the Node.js runtime with TypeScript, compiled transpile-only (noCheck in the tsconfig it names)", () => {
        expect(PROJECT.runtime.name).toBe("nodejs");
        expect(PROJECT.runtime.options?.typescript ?? true).toBe(true);
        // What cmd/run reads to decide ts-node's transpileOnly: the named file's own
        // compilerOptions, parsed by Pulumi's bundled TypeScript, `extends` not followed.
        const tsutils = pulumiRequire("./tsutils.js") as { loadTypeScriptCompilerOptions(p: string): Record<string, unknown> };
        const tsconfig = path.join(PROGRAM_DIR, PROJECT.runtime.options?.tsconfig ?? "tsconfig.json");
        expect(tsutils.loadTypeScriptCompilerOptions(tsconfig)).toEqual({ noCheck: true, target: "ES2022", module: "commonjs", moduleResolution: "node" });
        // ...and the TypeScript ts-node resolves (this project's, not Pulumi's vendored 3.8)
        // accepts the whole file, `extends` included.
        const ts = pulumiRequire("typescript") as typeof import("typescript");
        const read = ts.readConfigFile(tsconfig, ts.sys.readFile);
        const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, PROGRAM_DIR);
        expect([read.error, ...parsed.errors].filter(Boolean).map((d) => ts.flattenDiagnosticMessageText(d!.messageText, "\n"))).toEqual([]);
        expect(parsed.options.noCheck).toBe(true);
        expect(pulumiRequire.resolve("typescript")).not.toContain(`${path.sep}vendor${path.sep}`);
        expect(Number(ts.version.split(".")[0])).toBeGreaterThanOrEqual(5);
        // No ts-node of our own: users get the ts-node 7.0.1 Pulumi vendors (README says so).
        expect(() => pulumiRequire.resolve("ts-node")).toThrow(/Cannot find module/);
    });

    // Every stack's offline plan from one process (`--all`: each exactly as planned alone),
    // started beside the first runner so the two overlap.
    let allPlans: Promise<{ code: number | null; stdout: string; stderr: string }> | undefined;
    const plans = () => (allPlans ??= offlinePlan(["--all", "--json"]));

    it.each(STACKS)(
        "stack %s registers the same resources, parents and options as `npm run plan -- --json`",
        async (stack) => {
            const [{ stub, run }, all] = await Promise.all([preview(stack), plans()]);
            expect(run.code, describeRun(run, stub)).toBe(0);
            expect(stub.refused).toEqual([]);
            expect(stub.invokes).toEqual([]);
            expect(stub.logs.filter((l) => l.severity === "ERROR" || l.severity === "WARNING")).toEqual([]);
            expect(all.code, all.stderr).toBe(0);
            const plan = (JSON.parse(all.stdout) as Record<string, PlanJson>)[stack]!;
            expect(plan.stack).toBe(stack);

            const planned = plan.resources.map(graphKey).sort();
            const registered = stub.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack").map(graphKey).sort();
            expect(registered).toEqual(planned);
            // The root stack, as the engine names it, holds the program's exports as outputs.
            const root = stub.registrations.filter((r) => r.type === "pulumi:pulumi:Stack");
            expect(root.map((r) => r.name)).toEqual([`${PROJECT.name}-${stack}`]);
            expect(Object.keys(stub.outputs.get(root[0]!.urn) ?? {}).sort()).toEqual(Object.keys(plan.outputs).sort());
        },
        600_000,
    );

    it("invalid config ends the run with the offline plan's message, logged alone as an error (exit 32, no stack trace)", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-run-"));
        try {
            const file = path.join(dir, "Pulumi.bad.yaml");
            fs.writeFileSync(
                file,
                ["config:", "  nixlab:backend: libvirt", "  nixlab:lab:", "    owner: alice", "    user: { sshAuthorizedKeys: [] }", "    nodes: [{ name: a, memoryGiB: 0 }]", ""].join("\n"),
            );
            const [{ stub, run }, plan] = await Promise.all([preview("bad", file), offlinePlan(["--stack", "bad", "--config-file", file])]);
            expect(plan.code).toBe(2);
            // The offline plan's wording is its own tests' business (plan-cli, spec); here
            // the two runs must say exactly the same thing, naming both bad keys.
            const message = plan.stderr.replace(/\n$/, "");
            expect(message.split("\n").map((l) => l.split(":").slice(0, 2).join(":"))).toEqual([
                "nixlab: invalid stack configuration (2 problems)",
                "  - nixlab:lab.user.sshAuthorizedKeys",
                "  - nixlab:lab.nodes[0].memoryGiB",
            ]);
            // cmd/run's uncaught-error handler logs a RunError's message alone, then exits with
            // 32, which tells the language host the user already has an actionable message.
            expect(run.code, describeRun(run, stub)).toBe(32);
            expect(stub.logs.filter((l) => l.severity === "ERROR").map((l) => l.message)).toEqual([message]);
            expect(stub.registrations.map((r) => r.type)).toEqual(["pulumi:pulumi:Stack"]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }, 600_000);
    it("a real preview builds the image: the runner invokes command:local:run with the documented nix build, and a failed build ends the run naming the command", async () => {
        const nixError = "error: unable to download 'https://github.com/NixOS/nixpkgs/archive/x.tar.gz': Could not resolve host: github.com";
        const { stub, run } = await preview("local", stackFile("local"), {
            offlineImages: false,
            invokes: {
                "command:local:run": () => {
                    throw new Error(nixError);
                },
            },
        });
        const command = nixBuildCommand({ flake: "./images", backend: "libvirt", arch: "x86_64" });
        expect(stub.invokes.map((i) => [i.token, i.args.command, i.args.dir])).toEqual([["command:local:run", command, PROGRAM_DIR]]);
        expect(run.code, describeRun(run, stub)).toBe(32);
        const errors = stub.logs.filter((l) => l.severity === "ERROR").map((l) => l.message);
        expect(errors, errors.join("\n----\n")).toHaveLength(1);
        expect(errors[0]).toMatch(/^nixlab: building the x86_64 image for the libvirt backend \(\S+\) failed\.\n/);
        expect(errors[0]).toContain(`\n  command: ${command}\n  in: ${PROGRAM_DIR}\n`);
        expect(errors[0]).toContain(nixError);
    }, 600_000);
});
