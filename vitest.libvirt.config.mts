/**
 * The real-libvirt suite (`npm run test:libvirt`, as root): libvirtd in a network
 * namespace, a debootstrap fixture image, a 2-node lab under TCG. Slow by nature, so it
 * is kept out of `npm test` and runs one file at a time with long timeouts.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/libvirt/**/*.real.test.ts"],
        globalSetup: ["test/libvirt/global-setup.ts"],
        // Each step may boot guests under TCG (minutes); the whole suite stays well under 30.
        testTimeout: 20 * 60_000,
        hookTimeout: 20 * 60_000,
        fileParallelism: false,
        // The suite file skips itself unless run through this config.
        env: { NIXLAB_LIBVIRT_REAL: "1" },
    },
});
