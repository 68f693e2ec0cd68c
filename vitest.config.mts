import { defineConfig } from "vitest/config";

// Fast suite (`npm test`). The real-libvirt suite has its own config (vitest.libvirt.config.ts).
export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        exclude: ["test/libvirt/**", "node_modules/**"],
        // Pulumi's runtime is process-global: one program run per test file, files in
        // separate processes.
        pool: "forks",
        testTimeout: 30_000,
        hookTimeout: 60_000,
    },
});
