/** The suite's litter check (test/tmp-teardown.ts, the fast suite's globalSetup). */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import setup, { leftovers } from "./tmp-teardown";
import { tempDir } from "./support/tmp";

describe("litter check", () => {
    it("this run's TMPDIR is the private one the global setup made", () => {
        expect(path.basename(os.tmpdir())).toMatch(/^nixlab-test-run-/);
    });

    it("reports what a test left, ignoring the tools' own caches", () => {
        const dir = tempDir("nixlab-litter-");
        for (const f of ["tsx-0", "node-compile-cache", `ts-node-${"a".repeat(64)}`, "nixlab-plan-abc", "stray.json"]) fs.mkdirSync(path.join(dir, f));
        expect(leftovers(dir)).toEqual(["nixlab-plan-abc", "stray.json"]);
    });

    it("fails the run and still removes the directory when something is left", () => {
        const parent = tempDir("nixlab-litter-parent-");
        const saved = process.env.TMPDIR;
        process.env.TMPDIR = parent;
        const teardown = setup();
        fs.mkdirSync(path.join(process.env.TMPDIR!, "nixlab-left-behind"));
        expect(() => teardown()).toThrow("tests left 1 entry in their TMPDIR (removed now; make the test that creates each remove it): nixlab-left-behind");
        process.env.TMPDIR = saved;
        expect(fs.readdirSync(parent)).toEqual([]);
    });
});
