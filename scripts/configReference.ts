/**
 * The README's "Configuration reference", generated from the zod schemas the program
 * validates with (their `.meta()` descriptions and defaults), so the document cannot drift
 * from what the program accepts. `npm run docs` rewrites the README section;
 * test/config-reference.test.ts fails when it is stale.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { BACKENDS, type BackendKind } from "../components/backend";
import { expectedText, unwrap, type NixlabMeta } from "../components/schemaText";
import { labConfigSchema, parseLabConfig } from "../components/spec";
import { awsConfigSchema, parseAwsConfig } from "../providers/aws/config";
import { azureConfigSchema, parseAzureConfig } from "../providers/azure/config";
import { gcpConfigSchema, parseGcpConfig } from "../providers/gcp/config";
import { libvirtConfigSchema, parseLibvirtConfig } from "../providers/libvirt/config";
import { openstackConfigSchema, parseOpenStackConfig } from "../providers/openstack/config";

type AnySchema = z.core.$ZodType;

export interface ConfigBlock {
    /** Full config key, e.g. `nixlab:aws`. */
    key: string;
    schema: AnySchema;
    /** When the block must be set. */
    when: string;
    /** What the block is for (the top table's meaning column). */
    what: string;
    /** What the program does with a raw value (throws ConfigError). */
    parse: (raw: unknown) => unknown;
}

/** Every structured `nixlab:*` block. A mapped type: a new backend does not compile until listed. */
export const BACKEND_BLOCKS: { [k in BackendKind]: ConfigBlock } = {
    libvirt: { key: "nixlab:libvirt", schema: libvirtConfigSchema, when: "optional, with `nixlab:backend: libvirt`", what: "A local or remote libvirt hypervisor.", parse: parseLibvirtConfig },
    aws: { key: "nixlab:aws", schema: awsConfigSchema, when: "required with `nixlab:backend: aws`", what: "Where on AWS the lab goes.", parse: parseAwsConfig },
    gcp: { key: "nixlab:gcp", schema: gcpConfigSchema, when: "required with `nixlab:backend: gcp`", what: "Where on Google Cloud the lab goes.", parse: parseGcpConfig },
    azure: { key: "nixlab:azure", schema: azureConfigSchema, when: "required with `nixlab:backend: azure`", what: "Where on Azure the lab goes.", parse: parseAzureConfig },
    openstack: { key: "nixlab:openstack", schema: openstackConfigSchema, when: "required with `nixlab:backend: openstack`", what: "Where on OpenStack the lab goes.", parse: parseOpenStackConfig },
};

export const CONFIG_BLOCKS: ConfigBlock[] = [
    { key: "nixlab:lab", schema: labConfigSchema, when: "required", what: "The lab: owner, expiry, network, login user, image and nodes.", parse: (raw) => parseLabConfig(raw, "stack") },
    ...BACKENDS.map((k) => BACKEND_BLOCKS[k]),
];

function meta(s: AnySchema): NixlabMeta {
    return (z.globalRegistry.get(s) as NixlabMeta | undefined) ?? {};
}

function def(s: AnySchema): { type: string } & Record<string, unknown> {
    return (s as unknown as { _zod: { def: { type: string } & Record<string, unknown> } })._zod.def;
}

function isOptional(s: AnySchema): boolean {
    return (s as unknown as { _zod: { optin?: string } })._zod.optin === "optional";
}

/** Table cells must not break the Markdown table. */
function cell(s: string): string {
    return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function anchor(title: string): string {
    // GitHub's heading anchors: lowercase, spaces to '-', most punctuation dropped.
    return title
        .toLowerCase()
        .replace(/[^a-z0-9 _-]/g, "")
        .replace(/ /g, "-");
}

interface Table {
    title: string;
    intro?: string;
    rows: string[][];
}

/** The mapping schemas below a value: an object, list entries or record values (through unions). */
function nestedObjects(s: AnySchema, at: string): { at: string; schema: AnySchema }[] {
    const u = unwrap(s);
    const d = def(u);
    switch (d.type) {
        case "object":
            return [{ at, schema: u }];
        case "array":
            return nestedObjects(d.element as AnySchema, `${at}[]`);
        case "record":
            return nestedObjects(d.valueType as AnySchema, `${at}.<name>`);
        case "union":
            return (d.options as AnySchema[]).flatMap((o) => nestedObjects(o, at));
        default:
            return [];
    }
}

function typeText(s: AnySchema, links: Map<AnySchema, string>, at: string, anchors: Anchors): string {
    const subs = nestedObjects(s, at);
    if (subs.length === 0) return expectedText(s);
    const d = def(unwrap(s));
    const text =
        d.type === "object" ? "a mapping" : d.type === "array" && def(unwrap(d.element as AnySchema)).type === "object" ? "a list of mappings" : expectedText(s);
    const linked = [...new Set(subs.map((x) => links.get(x.schema) ?? x.at))].map((t) => `[${t}](#${anchors.of(t)})`);
    return `${text}; see ${linked.join(", ")}`;
}

/** GitHub's heading anchors, with its `-1`, `-2` suffixes for repeated headings. */
class Anchors {
    private readonly byTitle = new Map<string, string>();
    private readonly used = new Map<string, number>();
    of(title: string): string {
        let a = this.byTitle.get(title);
        if (a === undefined) {
            const base = anchor(title);
            const n = this.used.get(base) ?? 0;
            this.used.set(base, n + 1);
            a = n === 0 ? base : `${base}-${n}`;
            this.byTitle.set(title, a);
        }
        return a;
    }
}

function defaultText(s: AnySchema, required: boolean): string {
    if (required) return "required";
    const m = meta(s);
    if (m.defaultText) return m.defaultText;
    if (m.default !== undefined) return `\`${typeof m.default === "string" ? m.default : JSON.stringify(m.default)}\``;
    return "not set";
}

/**
 * One table per mapping: the block's own keys, then each nested mapping once. A mapping
 * that has every key of an earlier one (the node fields in `defaults`, `nodes` and
 * `nodes[]`) lists only its own keys and points to the earlier table for the rest.
 */
export function blockTables(block: { key: string; schema: AnySchema }, anchors: Anchors = new Anchors()): Table[] {
    const links = new Map<AnySchema, string>();
    const queue: { at: string; schema: AnySchema }[] = [{ at: block.key, schema: unwrap(block.schema) }];
    const order: { at: string; schema: AnySchema }[] = [];
    // Name every distinct mapping after the first path that reaches it, breadth first.
    while (queue.length) {
        const item = queue.shift()!;
        if (links.has(item.schema)) continue;
        links.set(item.schema, item.at);
        order.push(item);
        const shape = def(item.schema).shape as Record<string, AnySchema>;
        for (const [k, v] of Object.entries(shape)) queue.push(...nestedObjects(v, `${item.at}.${k}`));
    }
    const tables: Table[] = [];
    order.forEach(({ at, schema }, i) => {
        const shape = def(schema).shape as Record<string, AnySchema>;
        const base = order
            .slice(0, i)
            .find((o) => Object.entries(def(o.schema).shape as Record<string, AnySchema>).every(([k, v]) => shape[k] === v));
        const baseKeys = new Set(base ? Object.keys(def(base.schema).shape as object) : []);
        const rows = Object.entries(shape)
            .filter(([k]) => !baseKeys.has(k))
            .map(([k, v]) => [
                `\`${k}\``,
                cell(typeText(v, links, `${at}.${k}`, anchors)),
                cell(defaultText(v, !isOptional(v))),
                cell(meta(v).description ?? meta(unwrap(v)).description ?? ""),
            ]);
        anchors.of(at);
        tables.push({ title: at, intro: base ? `Every key of [${base.at}](#${anchors.of(base.at)}), and:` : undefined, rows });
    });
    return tables;
}

export const BEGIN = "<!-- BEGIN configuration reference: generated by `npm run docs` from the zod schemas; edit those, not this -->";
export const END = "<!-- END configuration reference -->";

/** The Markdown between BEGIN and END. */
export function renderReference(): string {
    const anchors = new Anchors();
    const out: string[] = [
        "",
        "Every key the program reads. Unknown keys are refused (with the closest allowed key named),",
        "so a typo never silently falls back to a default.",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
        `| \`nixlab:backend\` | one of ${BACKENDS.map((b) => `\`${b}\``).join(", ")} | \`libvirt\` | Where the lab runs; its block below configures it. |`,
        ...CONFIG_BLOCKS.map((b) => `| \`${b.key}\` | a mapping; see [${b.key}](#${anchors.of(b.key)}) | ${b.when} | ${b.what} |`),
    ];
    for (const block of CONFIG_BLOCKS) {
        for (const t of blockTables(block, anchors)) {
            out.push("", `#### ${t.title}`, "");
            if (t.intro) out.push(t.intro, "");
            out.push("| key | type | default | meaning |", "| --- | --- | --- | --- |");
            for (const r of t.rows) out.push(`| ${r.join(" | ")} |`);
        }
    }
    out.push("");
    return out.join("\n");
}

export const README = path.resolve(__dirname, "..", "README.md");

/** The README with its reference section replaced by `section`. */
export function withReference(readme: string, section: string): string {
    const start = readme.indexOf(BEGIN);
    const end = readme.indexOf(END);
    if (start < 0 || end < start) throw new Error(`README.md has no ${BEGIN} ... ${END} section`);
    return readme.slice(0, start + BEGIN.length) + "\n" + section + readme.slice(end);
}

if (require.main === module) {
    const before = fs.readFileSync(README, "utf8");
    const after = withReference(before, renderReference());
    if (after !== before) fs.writeFileSync(README, after);
    process.stdout.write(after === before ? "README.md configuration reference is up to date\n" : "README.md configuration reference regenerated\n");
}
