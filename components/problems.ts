import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { UNKNOWN_KEYS_SEPARATOR } from "./schemaText";

/** One thing wrong with the configuration, located by its full config key path. */
export interface Problem {
    /** e.g. `nixlab:lab.nodes[1].memoryGiB` */
    path: string;
    /** What was wrong, the value given, what is allowed and how to fix it. */
    message: string;
}

/**
 * Thrown when stack config is invalid. It extends RunError so the Pulumi CLI prints the
 * message alone, without a JavaScript stack trace that would bury the key paths.
 */
export class ConfigError extends pulumi.RunError {
    readonly problems: Problem[];
    constructor(problems: Problem[]) {
        super(formatProblems(problems));
        this.name = "ConfigError";
        this.problems = problems;
    }
}

export function formatProblems(problems: Problem[]): string {
    const n = problems.length;
    const head = `nixlab: invalid stack configuration (${n} problem${n === 1 ? "" : "s"}):`;
    return [head, ...problems.map((p) => `  - ${p.path}: ${p.message}`)].join("\n");
}

/** Throws one ConfigError carrying every problem, or returns when there are none. */
export function throwIfProblems(problems: Problem[]): void {
    if (problems.length > 0) throw new ConfigError(problems);
}

/** `nixlab:lab` + ["nodes", 1, "memoryGiB"] → `nixlab:lab.nodes[1].memoryGiB` */
export function keyPath(root: string, path: ReadonlyArray<PropertyKey>): string {
    let out = root;
    for (const seg of path) {
        out += typeof seg === "number" ? `[${seg}]` : `.${String(seg)}`;
    }
    return out;
}

/** Shortened JSON for echoing a user's value back in a message. */
export function show(value: unknown): string {
    if (value === undefined) return "nothing";
    const s = JSON.stringify(value);
    if (s === undefined) return String(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
    let cur: unknown = root;
    for (const seg of path) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = (cur as Record<PropertyKey, unknown>)[seg];
    }
    return cur;
}

/**
 * Turns zod issues into Problems whose messages carry the value given. The texts say what
 * is allowed (schemaText.ts's error map, or the check's own message); we add the key path
 * and the value.
 */
export function zodProblems(root: string, input: unknown, error: z.ZodError): Problem[] {
    return issueProblems(root, input, error.issues, []);
}

type Issue = z.ZodError["issues"][number];

function issueProblems(root: string, input: unknown, issues: readonly Issue[], base: PropertyKey[]): Problem[] {
    const problems: Problem[] = [];
    for (const issue of issues) {
        const path = [...base, ...issue.path];
        if (issue.code === "unrecognized_keys") {
            // The error map wrote one line per key, naming the closest allowed key.
            const lines = issue.message.split(UNKNOWN_KEYS_SEPARATOR);
            issue.keys.forEach((key, i) => {
                problems.push({ path: keyPath(root, [...path, key]), message: lines[i] ?? lines[0]! });
            });
            continue;
        }
        if (issue.code === "invalid_union") {
            // Report the branch whose shape the value has
            // (e.g. the list form of `nodes` when a list was given), all of its issues.
            const matching = issue.errors.find((branch) => !branch.some((i) => i.code === "invalid_type" && i.path.length === 0));
            if (matching) {
                problems.push(...issueProblems(root, input, matching, path));
                continue;
            }
        }
        if (issue.code === "invalid_key") {
            // A record key failed its own check: say why, and show the key, not its value.
            problems.push({
                path: keyPath(root, path),
                message: `${issue.issues.map((i) => i.message).join("; ")} (got ${show(path[path.length - 1])})`,
            });
            continue;
        }
        const given = valueAt(input, path);
        // A check's own "must be ..." also fires for a missing key; say that it is missing.
        const missing = given === undefined && issue.message.startsWith("must be ") ? `is required: ${issue.message.slice("must be ".length)}` : issue.message;
        problems.push({
            path: keyPath(root, path),
            message: given === undefined ? missing : `${issue.message} (got ${show(given)})`,
        });
    }
    return problems;
}
