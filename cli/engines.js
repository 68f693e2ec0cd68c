"use strict";
// The Node.js version check every entry point runs first (cli/nixlab.js, scripts/plan.ts):
// on an older Node the first failure would otherwise be an obscure error deep inside a
// dependency. The minimum comes from package.json's "engines", so it is stated once.

/** The message for a Node.js older than package.json's engines.node, or undefined. */
function nodeVersionProblem(version = process.versions.node, execPath = process.execPath) {
    const range = require("../package.json").engines.node;
    const min = Number(/^>=\s*(\d+)/.exec(range)[1]);
    const major = Number(version.split(".")[0]);
    if (major >= min) return undefined;
    return [
        `nixlab needs Node.js ${min} or newer (package.json engines: "node": "${range}"), but ${execPath} is Node.js ${version}.`,
        `Install Node.js ${min} (https://nodejs.org/en/download, \`nvm install ${min}\` or \`fnm install ${min}\`), put it first on PATH, and run the command again.`,
    ].join("\n");
}

module.exports = { nodeVersionProblem };
