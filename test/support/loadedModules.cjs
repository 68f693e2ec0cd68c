"use strict";
/**
 * Preload (`node --require`) for tests: when the process exits, writes every module it
 * loaded (require.cache keys, one per line) to $NIXLAB_LOADED_MODULES_FILE. Tells what a
 * stack really loads (test/plan-cli.process.test.ts: a libvirt stack loads no cloud SDK).
 */
const fs = require("node:fs");
const out = process.env.NIXLAB_LOADED_MODULES_FILE;
if (out) process.on("exit", () => fs.writeFileSync(out, Object.keys(require.cache).join("\n") + "\n"));
