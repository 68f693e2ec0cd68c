/**
 * Where files live: `cli/` holds only what a user runs (everything reachable from the
 * `nixlab` bin); test doubles live under test/support/.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");

/** Relative imports of a TypeScript/JavaScript file, resolved to files. */
function localImports(file: string): string[] {
    const src = fs.readFileSync(file, "utf8");
    const specs = [...src.matchAll(/(?:from\s+|require\(\s*|import\(\s*)["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]!);
    return specs.flatMap((s) => {
        const base = path.resolve(path.dirname(file), s);
        const found = [base, `${base}.ts`, `${base}.js`, path.join(base, "index.ts")].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
        return found ? [found] : [];
    });
}

describe("layout", () => {
    it("every file in cli/ is reachable from the nixlab bin or a workflow's entry point (no test doubles in the product)", () => {
        const seen = new Set<string>();
        // Entry points: the bin, and the helpers the GitHub workflows run (`tsx cli/ci.ts`).
        const workflows = fs.readdirSync(path.join(ROOT, ".github/workflows")).map((f) => fs.readFileSync(path.join(ROOT, ".github/workflows", f), "utf8"));
        const runByCi = [...new Set(workflows.flatMap((w) => [...w.matchAll(/tsx (cli\/[\w.-]+\.ts)/g)].map((m) => m[1]!)))];
        expect(runByCi).toEqual(["cli/ci.ts"]);
        const todo = [path.join(ROOT, "cli/nixlab.js"), ...runByCi.map((f) => path.join(ROOT, f))];
        while (todo.length) {
            const f = todo.pop()!;
            if (seen.has(f)) continue;
            seen.add(f);
            todo.push(...localImports(f));
        }
        const cliFiles = fs
            .readdirSync(path.join(ROOT, "cli"))
            .filter((f) => /\.(ts|js)$/.test(f))
            .map((f) => path.join(ROOT, "cli", f));
        const unreachable = cliFiles.filter((f) => !seen.has(f)).map((f) => path.relative(ROOT, f));
        expect(unreachable).toEqual([]);
        expect(fs.existsSync(path.join(ROOT, "test/support/fakeWorkspace.ts"))).toBe(true);
    });
});
