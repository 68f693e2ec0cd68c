/**
 * A Vite plugin for the vitest configs. vitest runs the project's TypeScript through
 * Vite's module runner, which cannot serve a synchronous `require` of a TypeScript file
 * (vitest-dev/vitest#846, closed as wontfix). The program loads each backend lazily with
 * `require("./<backend>")` (providers/index.ts) so a stack loads only its own backend and
 * SDK; under vitest every relative `require("<path>")` in the project's own sources becomes
 * a static import of the same module instead: evaluated eagerly, which tests do not mind,
 * and the same module instances the tests import (one ConfigError class, one registry).
 * The laziness itself is tested where it runs for real, in a subprocess: test/lazy-load.test.ts.
 */

/** The part of Vite's Plugin type used here (vite's own types need moduleResolution bundler). */
interface TransformPlugin {
    name: string;
    transform(code: string, id: string): { code: string; map: null } | undefined;
}

const RELATIVE_REQUIRE = /\brequire\(\s*(["'])(\.{1,2}\/[^"']+)\1\s*\)/g;

/** The rewrite itself, exported for its own test. */
export function rewriteRelativeRequires(code: string): string | undefined {
    const names = new Map<string, string>();
    const body = code.replace(RELATIVE_REQUIRE, (_m, _q: string, spec: string) => {
        let name = names.get(spec);
        if (!name) {
            name = `__nixlab_required_${names.size}`;
            names.set(spec, name);
        }
        return name;
    });
    if (names.size === 0) return undefined;
    const imports = [...names].map(([spec, name]) => `import * as ${name} from ${JSON.stringify(spec)};`).join("\n");
    return `${imports}\n${body}`;
}

export function requireAsImport(root: string): TransformPlugin {
    return {
        name: "nixlab-require-as-import",
        transform(code, id) {
            if (!id.startsWith(root) || id.includes("/node_modules/") || !/\.tsx?$/.test(id)) return undefined;
            const out = rewriteRelativeRequires(code);
            return out === undefined ? undefined : { code: out, map: null };
        },
    };
}
