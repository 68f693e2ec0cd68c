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

/**
 * The cloud SDKs whose top-level index re-exports every service, with a submodule to
 * import instead. Issue 11 (npm test <= 60 s on 2 cores): a barrel import makes tsc parse
 * and bind every service's declarations (`tsc --extendedDiagnostics`, numbers below).
 */
const CLOUD_SDKS: Record<string, string> = {
    "@pulumi/aws": "@pulumi/aws/ec2",
    "@pulumi/gcp": "@pulumi/gcp/compute",
    "@pulumi/azure-native": "@pulumi/azure-native/compute",
    "@pulumi/openstack": "@pulumi/openstack/compute",
};

/** What the @pulumi/aws and @pulumi/gcp barrels cost tsc (@pulumi/aws 7.48, @pulumi/gcp 9.37). */
const BARREL_COST = "6,412 files / 2.23 M lines of definitions against 2,276 / 1.37 M with submodules, parse time -33 %";

/** The cloud-SDK barrels (`"@pulumi/aws"`, not `"@pulumi/aws/ec2"`) a source text imports, in order. */
export function barrelImports(src: string): string[] {
    const specs = [...src.matchAll(/(?:\bfrom\s*|\brequire\(\s*|\bimport\(\s*|\bimport\s+|types=)["'](@pulumi\/[^"']+)["']/g)].map((m) => m[1]!);
    return specs.filter((s) => s in CLOUD_SDKS);
}

/** Every TypeScript/JavaScript file of the project (node_modules and .git aside). */
function sourceFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) return e.name === "node_modules" || e.name === ".git" ? [] : sourceFiles(p);
        return e.isFile() && /\.(ts|mts|cts|js|mjs|cjs)$/.test(e.name) ? [p] : [];
    });
}

describe("cloud SDK imports", () => {
    it("no project file imports a cloud SDK's top-level barrel (tsc time): import the submodule, e.g. @pulumi/aws/ec2", () => {
        const files = sourceFiles(ROOT);
        expect(files.filter((f) => f.startsWith(path.join(ROOT, "providers", "aws") + path.sep)).length).toBeGreaterThan(3);
        const offenders = files.flatMap((f) =>
            barrelImports(fs.readFileSync(f, "utf8")).map(
                (s) =>
                    `${path.relative(ROOT, f)} imports "${s}", which makes tsc parse every service of the SDK (issue 11: npm test must stay <= 60 s; ` +
                    `the barrels cost ${BARREL_COST}); import the submodule you use instead, e.g. "${CLOUD_SDKS[s]}", "${s}/provider"`,
            ),
        );
        expect(offenders).toEqual([]);
    });

    it("the scan is real: every import form of a barrel is found, submodules are not", () => {
        const p = "@pulumi/"; // so this file does not itself hold the imports it tests
        const src = [
            `import * as aws from "${p}aws";`,
            `import type { ec2 } from '${p}gcp';`,
            `const az = require("${p}azure-native");`,
            `type V = import("${p}openstack").compute.Instance;`,
            `import "${p}aws";`,
            `export * from "${p}gcp";`,
            `import * as ec2 from "${p}aws/ec2";`,
            `import { Provider } from "${p}gcp/provider";`,
            `import * as pulumi from "${p}pulumi";`,
            `import * as awsx from "${p}awsx";`,
        ].join("\n");
        expect(barrelImports(src)).toEqual([`${p}aws`, `${p}gcp`, `${p}azure-native`, `${p}openstack`, `${p}aws`, `${p}gcp`]);
    });
});
