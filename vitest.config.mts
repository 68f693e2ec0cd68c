import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { requireAsImport } from "./test/support/requireAsImport.mts";

// Fast suite (`npm test`). The real-libvirt suite has its own config (vitest.libvirt.config.ts).
export default defineConfig({
    // providers/index.ts loads backends with require(); see the plugin for why.
    plugins: [requireAsImport(fileURLToPath(new URL(".", import.meta.url)))],
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
