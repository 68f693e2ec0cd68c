/**
 * Stack files (`stacks/Pulumi.<stack>.yaml`) as a user names them: on the command line by
 * stack name or `--config-file`. Every way of getting this wrong ends in one message that
 * names the file and what to do, never in a stack trace; `nixlab up/preview/plan` and
 * `npm run plan` all check through here before any engine or Pulumi CLI is involved.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isMap, LineCounter, parseDocument } from "yaml";

/** A stack file that cannot be used; the message names the file (and line/column) and the fix. */
export class StackFileError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "StackFileError";
    }
}

/** Pulumi names a stack's file after the stack's last segment (`org/proj/dev` → Pulumi.dev.yaml). */
export function stackFileName(stack: string): string {
    return `Pulumi.${stack.split("/").pop()}.yaml`;
}

/** Stack names that have a file in `stacksDir`, sorted. */
export function knownStacks(stacksDir: string): string[] {
    let files: string[] = [];
    try {
        files = fs.readdirSync(stacksDir);
    } catch {
        return [];
    }
    return files
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => !!s)
        .sort();
}

/**
 * The file a command should read for `stack`, after checking it exists and is a file.
 * @param configFile `--config-file` as the user gave it (relative to the working directory).
 * @param offerConfigFile whether the command has a --config-file to suggest.
 */
export function resolveStackFile(projectDir: string, stack: string, configFile?: string, offerConfigFile = true): string {
    if (configFile !== undefined) {
        const file = path.resolve(configFile);
        let stat: fs.Stats | undefined;
        try {
            stat = fs.statSync(file);
        } catch {
            throw new StackFileError(`--config-file ${configFile}: there is no such file. Check the path; it is read relative to ${process.cwd()}.`);
        }
        if (stat.isDirectory()) {
            const inside = knownStacks(file);
            const hint = inside.includes(stack)
                ? ` Did you mean --config-file ${path.join(configFile, stackFileName(stack))}?`
                : inside.length
                  ? ` Stack files in it: ${inside.map(stackFileName).join(", ")}.`
                  : "";
            throw new StackFileError(`--config-file ${configFile} is a directory; pass the stack file itself (a Pulumi.<stack>.yaml).${hint}`);
        }
        return file;
    }
    const dir = path.join(projectDir, "stacks");
    const file = path.join(dir, stackFileName(stack));
    if (!fs.existsSync(file)) throw new StackFileError(missingStackFileMessage(stack, knownStacks(dir), offerConfigFile));
    return file;
}

/** "there is no stacks/Pulumi.<stack>.yaml; stacks there: ..." and how to make one. */
export function missingStackFileMessage(stack: string, known: readonly string[], withConfigFileFlag: boolean): string {
    const rel = `stacks/${stackFileName(stack)}`;
    return (
        `there is no ${rel}; ${known.length ? `stacks there: ${known.join(", ")}` : "there are no stack files in stacks/"}. ` +
        `Copy one to ${rel} (e.g. cp stacks/Pulumi.local.yaml ${rel}) and edit it${withConfigFileFlag ? ", or pass --config-file <file>" : ""}.`
    );
}

/**
 * Reads a stack file's `config:` the way the Pulumi CLI hands it to a program: keys with
 * the project prefix, structured values as JSON text, `secure:` values (undecryptable
 * here) as a placeholder. A YAML mistake is reported with the file, line and column.
 */
export function readStackConfig(file: string): Record<string, string> {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e) {
        throw new StackFileError(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}).`);
    }
    const lines = new LineCounter();
    // Strict like the Pulumi CLI's YAML reader: duplicate keys and syntax errors are errors.
    const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
    if (doc.errors.length > 0) {
        const e = doc.errors[0]!;
        const at = lines.linePos(e.pos[0]);
        const reason = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
        const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more)` : "";
        throw new StackFileError(`${file}:${at.line}:${at.col}: YAML syntax error: ${reason}${more}. Fix the file and run the command again.`);
    }
    const root = doc.contents;
    if (root !== null && !isMap(root)) {
        throw new StackFileError(`${file}: must be a YAML mapping with a \`config:\` key (see stacks/Pulumi.local.yaml).`);
    }
    const data = (doc.toJS() ?? {}) as { config?: unknown };
    if (data.config !== undefined && data.config !== null && (typeof data.config !== "object" || Array.isArray(data.config))) {
        const at = lines.linePos((doc.get("config", true) as { range?: [number] } | undefined)?.range?.[0] ?? 0);
        throw new StackFileError(`${file}:${at.line}:${at.col}: \`config:\` must be a mapping of keys like nixlab:lab to values.`);
    }
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries((data.config ?? {}) as Record<string, unknown>)) {
        // The CLI prefixes bare keys with the project name.
        const full = key.includes(":") ? key : `nixlab:${key}`;
        if (value && typeof value === "object" && "secure" in (value as object)) out[full] = "[secret]";
        else out[full] = typeof value === "string" ? value : JSON.stringify(value);
    }
    return out;
}
