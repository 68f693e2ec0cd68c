/**
 * The one seam between `nixlab` and Pulumi: a small interface over the Automation API.
 * The real implementation drives the `pulumi` CLI through `LocalWorkspace` over this
 * project; tests use `FakeWorkspace` (test/support/fakeWorkspace.ts), so every command's logic runs
 * without a CLI, a backend or a cloud.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { EngineEvent, OpMap } from "@pulumi/pulumi/automation";

/** The project root: where Pulumi.yaml, index.ts and stacks/ live. */
export const PROJECT_DIR = path.resolve(__dirname, "..");

/**
 * Where state lives when the user names no backend: a directory inside the project, so a
 * first lab needs no account and no `pulumi login`.
 */
export function defaultBackendUrl(projectDir: string = PROJECT_DIR): string {
    return `file://${path.join(projectDir, ".pulumi-state")}`;
}

/**
 * Where `nixlab` keeps the passphrase that encrypts secrets in local file backends: one
 * per user, outside the project (so it is never committed, copied or archived with it).
 */
export function passphraseFile(env: NodeJS.ProcessEnv, homeDir: string): string {
    return path.join(env.XDG_CONFIG_HOME || path.join(homeDir, ".config"), "nixlab", "passphrase");
}

/**
 * Environment the Pulumi CLI needs for this backend beyond the user's own. A file backend
 * encrypts stack secrets (operator and host private keys) with a passphrase; an empty one
 * is no protection at all. Unless the user chose one (PULUMI_CONFIG_PASSPHRASE, even
 * empty for existing state, or PULUMI_CONFIG_PASSPHRASE_FILE), nixlab creates a random
 * one on first use, mode 0600 in a 0700 directory, and hands it over by file so it never
 * appears in a process listing. Other backends (s3://, Pulumi Cloud) are shared by a
 * team and need the team's passphrase or login: nothing is generated for them.
 */
export function backendEnv(backendUrl: string, env: NodeJS.ProcessEnv, homeDir: string): Record<string, string> {
    if (!backendUrl.startsWith("file://")) return {};
    if (env.PULUMI_CONFIG_PASSPHRASE !== undefined || env.PULUMI_CONFIG_PASSPHRASE_FILE) return {};
    const file = passphraseFile(env, homeDir);
    ensurePassphraseFile(file);
    return { PULUMI_CONFIG_PASSPHRASE_FILE: file };
}

function ensurePassphraseFile(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
        // 32 random bytes; "wx": two nixlab runs racing on first use keep the first file.
        fs.writeFileSync(file, randomBytes(32).toString("base64url"), { flag: "wx", mode: 0o600 });
        return;
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const st = fs.statSync(file);
    if (!st.isFile() || st.size === 0) throw new Error(`${file} should hold the passphrase of your local Pulumi state but is ${st.isFile() ? "empty" : "not a file"}; remove it (only if no stack uses it) or set PULUMI_CONFIG_PASSPHRASE_FILE`);
    if ((st.mode & 0o077) !== 0) {
        throw new Error(`${file} holds the passphrase of your local Pulumi state but other users may read it (mode 0${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
    }
}

/** A file backend's directory, created 0700 (state holds encrypted secrets and every resource's inputs). */
export function ensureStateDir(backendUrl: string): void {
    const dir = backendUrl.slice("file://".length).split("?")[0]!;
    if (fs.existsSync(dir)) return;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
}

/** `--backend` wins over PULUMI_BACKEND_URL, which wins over the project-local file backend. */
export function resolveBackendUrl(flag: string | undefined, env: NodeJS.ProcessEnv, projectDir: string = PROJECT_DIR): string {
    return flag ?? (env.PULUMI_BACKEND_URL || undefined) ?? defaultBackendUrl(projectDir);
}

export interface StackInfo {
    /** As the backend lists it: `dev`, or `org/nixlab/dev` on some backends. */
    name: string;
    /** RFC 3339 or the backend's own format; informational only. */
    lastUpdate?: string;
    updateInProgress?: boolean;
    resourceCount?: number;
}

/** Config as the CLI reports it: structured values are JSON text. */
export type ConfigMap = Record<string, { value: string; secret?: boolean }>;
export type OutputMap = Record<string, { value: unknown; secret: boolean }>;

export interface RunHooks {
    /** Structured engine events, in order, as they happen. */
    onEvent?: (event: EngineEvent) => void;
    /** Local policy packs to run (`pulumi --policy-pack <dir>`). */
    policyPacks?: string[];
    /** JSON files with each pack's config, same order as policyPacks. */
    policyPackConfigs?: string[];
}

export interface StateResource {
    type: string;
    outputs: Record<string, unknown>;
}

export interface PreviewOutcome {
    changeSummary: OpMap;
}

export interface UpOutcome {
    outputs: OutputMap;
    resourceChanges?: OpMap;
}

export interface LabWorkspace {
    /** The state backend every operation uses. */
    readonly backendUrl: string;
    listStacks(): Promise<StackInfo[]>;
    /** Creates the stack in the backend if needed; true if it was created now. */
    ensureStack(stack: string): Promise<boolean>;
    getAllConfig(stack: string): Promise<ConfigMap>;
    /** `path: true` addresses into structured values: `nixlab:lab.expiresAt`. */
    setConfig(stack: string, key: string, value: string, opts?: { path?: boolean; secret?: boolean }): Promise<void>;
    removeConfig(stack: string, key: string, opts?: { path?: boolean }): Promise<void>;
    outputs(stack: string): Promise<OutputMap>;
    /** When the stack's first resource was created (its root Stack resource), if known. */
    createdAt(stack: string): Promise<string | undefined>;
    /** Every resource in the stack's state: type token and outputs (`pulumi stack export`). */
    stateResources(stack: string): Promise<StateResource[]>;
    preview(stack: string, hooks: RunHooks): Promise<PreviewOutcome>;
    up(stack: string, hooks: RunHooks): Promise<UpOutcome>;
    destroy(stack: string, hooks: RunHooks): Promise<void>;
    /** Removes the (empty) stack from the backend; the stack file in stacks/ is kept. */
    removeStack(stack: string): Promise<void>;
}

export interface PulumiWorkspaceOptions {
    backendUrl: string;
    projectDir?: string;
    /** Extra environment for the CLI (tests, CI). */
    env?: Record<string, string>;
}

/**
 * The real thing: every method is one `pulumi` CLI call through the Automation API.
 * Loaded lazily so `nixlab --help` and the tests never touch @pulumi/pulumi/automation.
 */
export async function createPulumiWorkspace(opts: PulumiWorkspaceOptions): Promise<LabWorkspace> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const auto = require("@pulumi/pulumi/automation") as typeof import("@pulumi/pulumi/automation");
    const projectDir = opts.projectDir ?? PROJECT_DIR;
    const ws = await auto.LocalWorkspace.create({
        workDir: projectDir,
        envVars: { ...opts.env, PULUMI_BACKEND_URL: opts.backendUrl },
    });
    if (opts.backendUrl.startsWith("file://")) {
        // The CLI refuses to log in to a file backend whose directory does not exist. Made
        // only once a CLI was found, so a failed first try leaves nothing behind.
        ensureStateDir(opts.backendUrl);
    }
    const select = (name: string) => auto.Stack.select(name, ws);
    // `color: "never"` keeps escape codes out of diagnostics we print ourselves.
    const common = (hooks: RunHooks) => ({
        color: "never" as const,
        onEvent: hooks.onEvent,
        policyPacks: hooks.policyPacks,
        policyPackConfigs: hooks.policyPackConfigs,
    });

    return {
        backendUrl: opts.backendUrl,
        async listStacks() {
            const stacks = await ws.listStacks();
            return stacks.map((s) => ({
                name: s.name,
                lastUpdate: s.lastUpdate,
                updateInProgress: s.updateInProgress,
                resourceCount: s.resourceCount,
            }));
        },
        async ensureStack(name) {
            try {
                await auto.Stack.create(name, ws);
                return true;
            } catch (e) {
                if (e instanceof auto.StackAlreadyExistsError) return false;
                throw e;
            }
        },
        getAllConfig: (name) => ws.getAllConfig(name),
        setConfig: (name, key, value, o) => ws.setConfig(name, key, { value, secret: o?.secret ?? false }, o?.path ?? false),
        removeConfig: (name, key, o) => ws.removeConfig(name, key, o?.path ?? false),
        outputs: (name) => ws.stackOutputs(name),
        async createdAt(name) {
            const state = await ws.exportStack(name);
            const resources = (state.deployment?.resources ?? []) as { type?: string; created?: string }[];
            return resources.find((r) => r.type === "pulumi:pulumi:Stack")?.created;
        },
        async stateResources(name) {
            const state = await ws.exportStack(name);
            const resources = (state.deployment?.resources ?? []) as { type?: string; outputs?: Record<string, unknown> }[];
            return resources.map((r) => ({ type: r.type ?? "", outputs: r.outputs ?? {} }));
        },
        async preview(name, hooks) {
            const stack = await select(name);
            const r = await stack.preview(common(hooks));
            return { changeSummary: r.changeSummary };
        },
        async up(name, hooks) {
            const stack = await select(name);
            const r = await stack.up(common(hooks));
            return { outputs: r.outputs, resourceChanges: r.summary.resourceChanges };
        },
        async destroy(name, hooks) {
            const stack = await select(name);
            await stack.destroy({ color: "never", onEvent: hooks.onEvent });
        },
        // preserveConfig: `pulumi stack rm` would otherwise delete stacks/Pulumi.<stack>.yaml,
        // which is the lab's committed definition, not state.
        removeStack: (name) => ws.removeStack(name, { preserveConfig: true }),
    };
}
