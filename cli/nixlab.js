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
    require("./main.ts").main();
}
