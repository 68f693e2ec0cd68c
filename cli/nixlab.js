#!/usr/bin/env node
// The `nixlab` bin. Users run the CLI from a checkout, so it stays TypeScript: tsx's
// CommonJS hook compiles cli/*.ts on the fly (no build step, no dist/ to go stale).
"use strict";
const problem = require("./engines").nodeVersionProblem();
if (problem) {
    process.stderr.write(problem + "\n");
    process.exitCode = 1;
} else {
    require("tsx/cjs");
    // The program loads its backend with import() (providers/index.ts, so a stack loads only
    // its own cloud SDK); under tsx's CommonJS hook alone that goes to Node's ESM loader,
    // which cannot resolve `./libvirt` to providers/libvirt/index.ts. tsx's ESM hook can, and
    // hands the CommonJS .ts file back to the same require cache (one instance of each module).
    require("tsx/esm/api").register();
    require("./main.ts").main();
}
