/**
 * Scratch directories that remove themselves: after the test that made one, else after the
 * test file (made at module level or in a beforeAll). The suite's global teardown
 * (test/tmp-teardown.ts) fails the run if anything is left in its private TMPDIR.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, onTestFinished } from "vitest";

const made = new Set<string>();
const remove = (dir: string) => {
    fs.rmSync(dir, { recursive: true, force: true });
    made.delete(dir);
};
// Registered when a test file first imports this module, so it runs after that file's tests.
afterAll(() => {
    for (const dir of [...made]) remove(dir);
});

export function tempDir(prefix: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    made.add(dir);
    try {
        onTestFinished(() => remove(dir));
    } catch {
        // Not inside a test: the file-level afterAll above removes it.
    }
    return dir;
}
