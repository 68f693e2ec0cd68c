/**
 * The README's configuration reference is generated from the schemas the program validates
 * with (scripts/configReference.ts, `npm run docs`); these tests fail when it is stale or a
 * key has no description.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { unwrap } from "../components/schemaText";
import { BEGIN, CONFIG_BLOCKS, END, README, renderReference, withReference } from "../scripts/configReference";

type AnySchema = z.core.$ZodType;
const def = (s: AnySchema) => (s as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;

/** Every key of every mapping below a schema, with its path. */
function allKeys(s: AnySchema, at: string, out: { at: string; schema: AnySchema }[] = []): { at: string; schema: AnySchema }[] {
    const d = def(unwrap(s));
    if (d.type === "object") {
        for (const [k, v] of Object.entries(d.shape as Record<string, AnySchema>)) {
            out.push({ at: `${at}.${k}`, schema: v });
            allKeys(v, `${at}.${k}`, out);
        }
    } else if (d.type === "array") allKeys(d.element as AnySchema, `${at}[]`, out);
    else if (d.type === "record") allKeys(d.valueType as AnySchema, `${at}.<name>`, out);
    else if (d.type === "union") for (const o of d.options as AnySchema[]) allKeys(o, at, out);
    return out;
}

describe("configuration reference", () => {
    const readme = fs.readFileSync(README, "utf8");

    it("README's section is what `npm run docs` generates from the schemas (run it after changing a schema)", () => {
        expect(readme).toContain(BEGIN);
        expect(readme).toContain(END);
        expect(withReference(readme, renderReference())).toBe(readme);
    });

    it("every key of every block has a description", () => {
        const missing = CONFIG_BLOCKS.flatMap((b) => allKeys(b.schema, b.key)).filter(
            ({ schema }) => !(z.globalRegistry.get(schema as z.ZodType)?.description ?? z.globalRegistry.get(unwrap(schema) as z.ZodType)?.description),
        );
        expect(missing.map((m) => m.at)).toEqual([]);
    });

    it("documents the keys newcomers could not find, with their defaults", () => {
        const section = readme.slice(readme.indexOf(BEGIN), readme.indexOf(END));
        const row = (table: string, key: string) => {
            const t = section.slice(section.indexOf(`#### ${table}\n`));
            return t.slice(0, t.indexOf("\n#### ")).split("\n").find((l) => l.startsWith(`| \`${key}\` |`));
        };
        expect(row("nixlab:lab.image.artifacts[]", "initrd")).toBe("| `initrd` | a non-empty string | none | libvirt only: initrd for `kernel`; needs `kernel`. |");
        expect(row("nixlab:lab.image.artifacts[]", "cmdline")).toContain("kernel command line");
        expect(row("nixlab:lab.defaults.cloudInit.writeFiles[]", "owner")).toBe("| `owner` | a non-empty string | `root:root` | `user:group` that owns the file. |");
        expect(row("nixlab:lab.defaults.cloudInit.writeFiles[]", "encoding")).toContain("one of `b64`, `gzip+b64` or `text/plain` | `text/plain` |");
        expect(row("nixlab:libvirt", "readyTimeoutSeconds")).toContain("| a whole number from 10 to 86400 | `900` |");
        expect(row("nixlab:openstack", "rootVolume")).toContain("| true or false | `true` |");
        for (const b of CONFIG_BLOCKS) expect(section).toContain(`\n#### ${b.key}\n`);
    });

    it("Pulumi.yaml points to the section, and the section's heading exists", () => {
        const project = fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8");
        expect(project).toContain("README.md#configuration-reference");
        expect(readme).toMatch(/^### Configuration reference$/m);
        expect(JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")).scripts.docs).toBe("tsx scripts/configReference.ts");
    });
});
