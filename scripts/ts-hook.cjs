"use strict";
/**
 * `node --require ./scripts/ts-hook.cjs <file.ts>`: runs this project's TypeScript on
 * plain Node, faster than tsx. Measured on the offline plan (issue 11): tsx's resolver
 * and loader hooks sit in front of every one of the ~1,000 modules @pulumi/pulumi
 * loads, which costs more than the plan itself; here only the project's own `.ts` files
 * are touched. Each is transformed once by esbuild (tsx's own transformer) and the result
 * kept on disk by content; node_modules load natively, with Node's compile cache
 * (V8 bytecode) so @pulumi/pulumi and the TypeScript compiler it embeds are not parsed
 * again on every run.
 *
 * Type checking is `npm run build` / `npm test`'s job (tsc --noEmit), as with tsx.
 * Stack traces show the transformed lines; `node --enable-source-maps` maps them back to
 * the .ts source (the maps are inline). Not on by default: Node then reads the source map
 * of every module it loads, @pulumi/pulumi's hundreds included, which costs ~0.5 s.
 */
const crypto = require("node:crypto");
const fs = require("node:fs");
const Module = require("node:module");
const os = require("node:os");
const path = require("node:path");

const ESBUILD_VERSION = require("esbuild/package.json").version;
const CACHE_DIR = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "nixlab", "ts-hook");

// Bytecode for node_modules (and our transformed files); a no-op on Node without it.
if (typeof Module.enableCompileCache === "function") Module.enableCompileCache(path.join(CACHE_DIR, "v8"));

let esbuild;
function transform(source, filename) {
    const key = crypto.createHash("sha256").update(`${ESBUILD_VERSION}\0${filename}\0${source}`).digest("hex");
    const file = path.join(CACHE_DIR, "js", `${key}.js`);
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        // not cached yet
    }
    esbuild ??= require("esbuild");
    const { code } = esbuild.transformSync(source, {
        loader: "ts",
        format: "cjs",
        target: "node22",
        platform: "node",
        sourcefile: filename,
        sourcemap: "inline",
        // `await import("./x.ts")` must stay in this CommonJS world (and in this hook).
        supported: { "dynamic-import": false },
        tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } },
    });
    try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(`${file}.${process.pid}`, code);
        fs.renameSync(`${file}.${process.pid}`, file);
    } catch {
        // a read-only cache only costs speed
    }
    return code;
}

Module._extensions[".ts"] = function loadTs(module, filename) {
    module._compile(transform(fs.readFileSync(filename, "utf8"), filename), filename);
};
