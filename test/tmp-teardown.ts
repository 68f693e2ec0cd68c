/**
 * vitest globalSetup for `npm test`: the run gets a private TMPDIR (every worker and every
 * process a test starts inherits it, and os.tmpdir() follows it), and the run fails if any
 * file or directory is left in it at the end: tests, and the product code they run (ssh
 * key files, policy configs, libvirt scratch), must clean up after themselves. Then the
 * directory is removed, so even a failing run leaves nothing under /tmp.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** Caches tools keep in TMPDIR on purpose, reused across runs; not litter. */
const CACHES = [/^tsx-\d+$/, /^node-compile-cache$/, /^ts-node-[0-9a-f]{64}$/];

export function leftovers(dir: string): string[] {
    return fs
        .readdirSync(dir)
        .filter((f) => !CACHES.some((c) => c.test(f)))
        .sort();
}

/**
 * Where the run's processes keep the caches Node and ts-node keep in TMPDIR on a user's
 * machine, where they survive from one run to the next: V8 bytecode of @pulumi/pulumi,
 * the SDKs and TypeScript (NODE_COMPILE_CACHE), and ts-node's transpiled program (Pulumi's
 * runner, test/pulumi-run.process.test.ts). In the private TMPDIR they would start cold on every
 * `npm test`, which a user's `pulumi up` never does; cached, each process starts ~0.4 s
 * sooner (issue 11). Only speed depends on them: a stale or missing entry is recompiled.
 */
export function persistentCaches(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    const root = path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "nixlab", "test-run");
    return {
        NODE_COMPILE_CACHE: env.NODE_COMPILE_CACHE || path.join(root, "v8"),
        TS_NODE_CACHE_DIRECTORY: env.TS_NODE_CACHE_DIRECTORY || path.join(root, "ts-node"),
    };
}

export default function setup(): () => void {
    // Set before the workers start: they, and every process a test starts, inherit them.
    Object.assign(process.env, persistentCaches());
    const parent = process.env.TMPDIR || os.tmpdir();
    const dir = fs.mkdtempSync(path.join(parent, "nixlab-test-run-"));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = dir;
    return () => {
        if (before === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = before;
        const left = leftovers(dir);
        fs.rmSync(dir, { recursive: true, force: true });
        if (left.length > 0) {
            throw new Error(`tests left ${left.length} entr${left.length === 1 ? "y" : "ies"} in their TMPDIR (removed now; make the test that creates each remove it): ${left.join(", ")}`);
        }
    };
}
