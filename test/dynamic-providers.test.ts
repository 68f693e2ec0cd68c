/**
 * The dynamic providers outside libvirt (the expiry Clock, Azure's page-blob upload) as
 * the real engine runs them: serialized by the SDK into state, then loaded from that text
 * by Pulumi's dynamic-provider host in a plain Node process. (The libvirt providers have
 * the same check in libvirt-local.test.ts.)
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, expect, it } from "vitest";
import { clockProvider } from "../components/clock";
import { pageBlobProvider } from "../providers/azure/pageblob";
import { tempDir } from "./support/tmp";

const ROOT = join(__dirname, "..");
let out: Record<string, unknown>;

beforeAll(async () => {
    // The same call pulumi.dynamic.Resource makes for `__provider`.
    const serialize = async (p: unknown) => (await pulumi.runtime.serializeFunction(() => p, { allowSecrets: true })).text;
    const texts = { clock: await serialize(clockProvider), pageBlob: await serialize(pageBlobProvider) };
    for (const t of Object.values(texts)) expect(t).not.toMatch(/__vi_|__vite_ssr/);
    const file = join(tempDir("nixlab-dyn-"), "providers.json");
    writeFileSync(file, JSON.stringify(texts));
    // The host does `requireFromString(props.__provider).handler()`.
    const script = `
        const load = (t) => require("require-from-string")(t).handler();
        const texts = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        (async () => {
            const clock = load(texts.clock);
            const blob = load(texts.pageBlob);
            const created = await clock.create({ ttlMillis: 3600000 });
            const out = {
                clockMethods: Object.keys(clock).sort(),
                blobMethods: Object.keys(blob).sort(),
                lifetimeMs: Date.parse(created.outs.expiresAt) - Date.parse(created.outs.createdAt),
                clockDiff: await clock.diff(created.id, created.outs, { ttlMillis: 7200000 }),
                clockUpdate: (await clock.update(created.id, created.outs, { ttlMillis: 7200000 })).outs.expiresAt ===
                    new Date(Date.parse(created.outs.createdAt) + 7200000).toISOString(),
                blobDiff: await blob.diff("u", { url: "https://a/b/1", hash: "h", sas: "s1", path: "/x" }, { url: "https://a/b/1", hash: "h", sas: "s2", path: "/x" }),
            };
            process.stdout.write(JSON.stringify(out));
        })().catch((e) => { process.stderr.write(String(e.stack || e)); process.exit(1); });`;
    out = JSON.parse(execFileSync(process.execPath, ["-e", script, file], { cwd: ROOT, encoding: "utf8" }));
});

it("the Clock records creation and counts a new ttl from it", () => {
    expect(out.clockMethods).toEqual(["create", "diff", "update"]);
    expect(out.lifetimeMs).toBe(3_600_000);
    expect(out.clockDiff).toEqual({ changes: true, replaces: [], stables: ["createdAt"] });
    expect(out.clockUpdate).toBe(true);
});

it("the page-blob provider loads with its helpers and keeps a blob when only the SAS changes", () => {
    expect(out.blobMethods).toEqual(["create", "delete", "diff", "update"]);
    expect(out.blobDiff).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
});
