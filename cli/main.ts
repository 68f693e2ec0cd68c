#!/usr/bin/env node
/**
 * `nixlab`: start, find, reach and end labs. Argument parsing is commander's; every
 * command's behaviour is in cli/commands.ts against the LabWorkspace seam.
 *
 *   nixlab plan <stack> [--json]              offline plan: no Pulumi CLI, no credentials (= npm run plan)
 *   nixlab up <stack> [--ttl 8h] [--yes]      preview, confirm, deploy, print how to reach each node
 *   nixlab preview <stack> [--json]           what `up` would change
 *   nixlab destroy <stack> [--keep-stack]     destroy the lab, then remove its stack
 *   nixlab list [--json]                      every lab stack: owner, nodes, created, expires, state
 *   nixlab gc [--dry-run] [--grace 15m]       destroy every lab whose expiry (+ grace) has passed
 *   nixlab ssh <stack> <node> [-- args...]    ssh with the lab's pinned known_hosts
 *   nixlab cleanup <stack> [--dry-run]        remove libvirt objects stamped for the stack that its state does not know
 */
import { spawn } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline/promises";
import { Command, CommanderError, Option } from "commander";
import { Cli, EXIT, credentialsHelp, type CliDeps, type PolicyOptions } from "./commands";
import { exitAfterFlush } from "./exit";
import { readStackConfig, resolveStackFile } from "./stackFiles";
import { backendEnv, createPulumiWorkspace, PROJECT_DIR, resolveBackendUrl } from "./workspace";

interface GlobalOpts {
    backend?: string;
}

function policyOptions(cmd: Command): Command {
    return cmd
        .option("--policy", "also run the nixlab policy pack (policy/): expiry tags, SSH exposure, disk encryption, IMDSv2, KVM")
        .option("--policy-config <file>", "JSON config for the policy pack (implies --policy), e.g. to allow world-open SSH");
}

/** Builds the command tree; `exit` receives each command's exit code. */
export function buildProgram(deps: CliDeps, exit: (code: number) => void): Command {
    const program = new Command()
        .name("nixlab")
        .description("Ephemeral KVM-capable NixOS labs: start, find, reach and end them.")
        .option("--backend <url>", "Pulumi state backend (default: $PULUMI_BACKEND_URL, else file://<project>/.pulumi-state)")
        .showHelpAfterError("(run `nixlab <command> --help` for usage)")
        .exitOverride()
        .configureOutput({
            writeOut: (s) => void deps.stdout.write(s),
            writeErr: (s) => void deps.stderr.write(s),
        })
        .addHelpText(
            "after",
            [
                "",
                "A lab's life: nixlab up <stack> → nixlab list → nixlab ssh <stack> <node> → nixlab destroy <stack>",
                "(or let `nixlab gc`, from cron or CI, destroy it once its expiry has passed).",
                "",
                "Credentials for each lab backend:",
                credentialsHelp(),
            ].join("\n"),
        );

    const cli = (cmd: Command) => new Cli(deps, resolveBackendUrl(cmd.optsWithGlobals<GlobalOpts>().backend, deps.env, deps.projectDir));

    program
        .command("plan")
        .description("offline plan of a stack: the resources and outputs `up` would create; no Pulumi CLI, no credentials (= npm run plan)")
        .argument("<stack>", "stack name (config in stacks/Pulumi.<stack>.yaml)")
        .option("--config-file <path>", "stack config file to read instead of stacks/Pulumi.<stack>.yaml")
        .option("--json", "print the plan as JSON: {stack, resources: [{type, name, parent, inputs}], outputs}")
        .action(async (stack: string, opts: { configFile?: string; json?: boolean }) => {
            exit(await deps.plan({ stack, configFile: opts.configFile, json: opts.json }));
        });

    policyOptions(
        program
            .command("up")
            .description("preview, confirm, deploy; ends with how to reach each node")
            .argument("<stack>", "stack name (config in stacks/Pulumi.<stack>.yaml)")
            .option("--ttl <duration>", "lifetime from now, like 90m, 8h or 3d; writes nixlab:lab.ttl and nixlab:lab.expiresAt")
            .option("-y, --yes", "deploy without asking after the preview"),
    ).action(async (stack: string, opts: { ttl?: string; yes?: boolean } & PolicyOptions, cmd: Command) => {
        const c = cli(cmd);
        exit(await c.guard({ stack }, () => c.up(stack, opts)));
    });

    policyOptions(
        program
            .command("preview")
            .description("show what `nixlab up` would change (needs the Pulumi CLI and cloud credentials)")
            .argument("<stack>", "stack name")
            .option("--json", "print steps, diagnostics and policy violations as JSON"),
    ).action(async (stack: string, opts: { json?: boolean } & PolicyOptions, cmd: Command) => {
        const c = cli(cmd);
        exit(await c.guard({ stack }, () => c.preview(stack, opts)));
    });

    program
        .command("destroy")
        .description("destroy a lab, then remove its stack from the backend (the stack file is kept)")
        .argument("<stack>", "stack name")
        .option("--keep-stack", "keep the empty stack in the backend")
        .option("-y, --yes", "destroy without asking")
        .action(async (stack: string, opts: { keepStack?: boolean; yes?: boolean }, cmd: Command) => {
            const c = cli(cmd);
            exit(await c.guard({ stack }, () => c.destroy(stack, opts)));
        });

    program
        .command("list")
        .alias("ls")
        .description("every lab stack with owner, node count, created, expires and state")
        .option("--json", "print the rows as JSON")
        .action(async (opts: { json?: boolean }, cmd: Command) => {
            const c = cli(cmd);
            exit(await c.guard({}, () => c.list(opts)));
        });

    program
        .command("gc")
        .description("destroy every lab stack whose expiry has passed and remove the stack; safe from cron or CI")
        .option("--dry-run", "report what would be destroyed; change nothing")
        .option("--grace <duration>", "how long after its expiry a lab is kept before gc destroys it, like 0m, 15m or 2h (default: 15m)")
        .action(async (opts: { dryRun?: boolean; grace?: string }, cmd: Command) => {
            const c = cli(cmd);
            exit(await c.guard({}, () => c.gc(opts)));
        });

    program
        .command("cleanup")
        .description("libvirt: remove objects stamped for a stack that its state does not know (left by an interrupted up)")
        .argument("<stack>", "stack name")
        .option("--dry-run", "list what would be removed; change nothing")
        .option("-y, --yes", "remove without asking")
        .action(async (stack: string, opts: { dryRun?: boolean; yes?: boolean }, cmd: Command) => {
            const c = cli(cmd);
            exit(await c.guard({ stack, backendKind: "libvirt" }, () => c.cleanup(stack, opts)));
        });

    program
        .command("ssh")
        .description("ssh to a node, trusting only the lab's pinned host key")
        .argument("<stack>", "stack name")
        .argument("<node>", "node name, as in `nixlab up`'s table")
        .argument("[ssh-args...]", "after `--`: more ssh options or a remote command")
        .addOption(new Option("--operator-key", "log in with the lab's generated operator key (a secret output) instead of your own"))
        .action(async (stack: string, node: string, extra: string[], opts: { operatorKey?: boolean }, cmd: Command) => {
            const c = cli(cmd);
            exit(await c.guard({ stack }, () => c.ssh(stack, node, { operatorKey: opts.operatorKey, extra })));
        });

    return program;
}

/** Parses `argv` (user arguments only) and runs the command; resolves to the exit code. */
export async function run(argv: string[], deps: CliDeps): Promise<number> {
    let code: number = EXIT.ok;
    const program = buildProgram(deps, (c) => {
        code = c;
    });
    try {
        await program.parseAsync(argv, { from: "user" });
    } catch (e) {
        if (e instanceof CommanderError) {
            // --help and --version end here with exit code 0; usage errors were already printed.
            return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
        }
        throw e;
    }
    return code;
}

function confirmOnTerminal(): CliDeps["confirm"] {
    if (!process.stdin.isTTY || !process.stdout.isTTY) return undefined;
    return async (question) => {
        const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
        try {
            return /^y(es)?$/i.test((await rl.question(question)).trim());
        } finally {
            rl.close();
        }
    };
}

function runSsh(args: string[]): Promise<number> {
    return new Promise((resolve, reject) => {
        const child = spawn("ssh", args, { stdio: "inherit" });
        child.on("error", (e: NodeJS.ErrnoException) =>
            reject(e.code === "ENOENT" ? new Error("ssh is not installed; install the OpenSSH client (openssh-client / openssh)") : e),
        );
        child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
    });
}

export function realDeps(): CliDeps {
    return {
        stdout: process.stdout,
        stderr: process.stderr,
        env: process.env,
        now: () => new Date(),
        projectDir: PROJECT_DIR,
        homeDir: os.homedir(),
        openWorkspace: (backendUrl) => createPulumiWorkspace({ backendUrl, projectDir: PROJECT_DIR, env: backendEnv(backendUrl, process.env, os.homedir()) }),
        confirm: confirmOnTerminal(),
        runSsh,
        readStackFile: (stack) => readStackConfig(resolveStackFile(PROJECT_DIR, stack, undefined, false)),
        // Loaded only for `plan`: it pulls in the whole program and Pulumi's runtime, so
        // importing this module must not load index.ts.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        plan: (opts) =>
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            (require(path.join(PROJECT_DIR, "scripts", "plan")) as typeof import("../scripts/plan")).runPlan(opts, process, async () =>
                // eslint-disable-next-line @typescript-eslint/no-require-imports
                require(path.join(PROJECT_DIR, "index")),
            ),
    };
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
    let code: number;
    try {
        code = await run(argv, realDeps());
    } catch (e) {
        process.stderr.write(`nixlab: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        code = EXIT.failed;
    }
    // `plan` leaves Pulumi's runtime behind, which would keep the process alive; end it,
    // but only once everything written to stdout/stderr reached the pipe.
    await exitAfterFlush(code);
}

if (require.main === module) void main();
