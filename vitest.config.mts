import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/** What the fast suite and the process suite share. */
export const shared = {
    // A private TMPDIR per run that must be empty at the end: tests leave nothing behind.
    globalSetup: ["test/tmp-teardown.ts"],
    // Pulumi's runtime is process-global: one program run per test file, files in
    // separate processes.
    pool: "forks" as const,
    // vitest's default is one worker fewer than the cores: on this project's 2-core
    // machines that is ONE worker, the whole suite in series, while much of its time is
    // spent waiting for subprocesses (cloud-init, nft, nix, shellcheck) that leave a core
    // idle. Measured idle: 224 s with 1 worker (issue 11).
    maxWorkers: Math.max(2, availableParallelism()),
    // Limits that stop a hung test, never judge speed: a 2-core machine shared with
    // other work runs subprocess-heavy tests (cloud-init's schema check, shellcheck,
    // plan processes) several times slower than idle (issue 11: "timed out in 30000ms").
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Placement of libvirt labs reads the hypervisor's capacity; these suites never
    // depend on (or reach) the host's libvirtd. test/libvirt-capacity.test.ts runs the
    // check itself, against a virsh shim.
    env: { NIXLAB_CAPACITY_CHECK: "off" },
};

/**
 * The fast suite (`npm test`): everything that runs in the test worker itself, the program
 * under Pulumi's mocks included. Tests that start the program or a CLI as its own Node.js
 * process, the way users and Pulumi start them (`*.process.test.ts`: Pulumi's runner for
 * every stack, `npm run plan` per stack, the nixlab bin) are `npm run test:process`: ~110 s
 * of CPU that would triple this suite. The real-libvirt suite has its own config too
 * (vitest.libvirt.config.mts). CI runs all three.
 */
export default defineConfig({
    test: {
        ...shared,
        include: ["test/**/*.test.ts"],
        exclude: ["test/libvirt/**", "test/**/*.process.test.ts", "node_modules/**"],
    },
});
