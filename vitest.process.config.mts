/**
 * The process suite (`npm run test:process`): the program and the CLIs started as their own
 * Node.js processes, as users and Pulumi start them: Pulumi's own runner (cmd/run) for
 * every stack against a recording engine stub, `npm run plan`'s command per stack (each
 * loading only its own backend), the nixlab bin's exits and pipes. One file at a time
 * per worker, each running its processes one after another (never many at once on a
 * 2-core machine).
 */
import { defineConfig } from "vitest/config";
import { shared } from "./vitest.config.mts";

export default defineConfig({
    test: {
        ...shared,
        include: ["test/**/*.process.test.ts"],
        exclude: ["test/libvirt/**", "node_modules/**"],
    },
});
