/**
 * The argv of a package.json script that runs `node ...`, for the bench and the tests that
 * run `npm run plan` the way users do without paying npm's own start (~0.3 s) each time.
 * Read from package.json, not copied: a copy went stale once (tests ran `tsx
 * scripts/plan.ts` after `npm run plan` had moved to scripts/ts-hook.cjs).
 */
import * as fs from "node:fs";
import * as path from "node:path";

const PACKAGE_JSON = path.join(__dirname, "..", "package.json");

/** Arguments after `node` of `npm run <name>`; throws unless the script is a plain `node` command. */
export function nodeScriptArgs(name: string): string[] {
    const scripts = (JSON.parse(fs.readFileSync(PACKAGE_JSON, "utf8")) as { scripts: Record<string, string> }).scripts;
    const script = scripts[name];
    if (script === undefined) throw new Error(`package.json has no script ${JSON.stringify(name)}`);
    const [cmd, ...args] = script.split(" ");
    if (cmd !== "node" || args.some((a) => /["'$`\\|&;<>]/.test(a))) {
        throw new Error(`package.json scripts.${name} must be a plain \`node ...\` command (no shell syntax), got: ${script}`);
    }
    return args;
}
