/**
 * Every file the Pulumi CLI (and GitHub) reads, parsed as strictly as they parse it.
 *
 * The CLI reads `Pulumi.yaml` and `stacks/Pulumi.<stack>.yaml` with Go's yaml.v3 before the
 * program starts; a YAML error there stops every `pulumi` command (an unquoted `: ` in a
 * description once did). So: every YAML file in the repository parses as YAML 1.2 with no
 * error and no warning (duplicate keys, unknown tags, several documents included);
 * `Pulumi.yaml` validates against Pulumi's own project schema (test/fixtures/pulumi/, with
 * its source commit); stack files hold only what Pulumi's ProjectStack holds; and each
 * config key `Pulumi.yaml` declares has a value of its declared type in every stack.
 */
import Ajv2020 from "ajv/dist/2020";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments, parse } from "yaml";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS, PROJECT } from "../components/config";

const ROOT = path.join(__dirname, "..");

/** Directories no tool reads project files from (dependencies, VCS, state, build output). */
const SKIP_DIRS = new Set(["node_modules", ".git", ".pulumi", ".pulumi-state", ".cache"]);

function yamlFiles(dir: string): string[] {
    const out: string[] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) {
            if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith("result")) out.push(...yamlFiles(path.join(dir, entry.name)));
        } else if (/\.ya?ml$/.test(entry.name)) {
            out.push(path.relative(ROOT, path.join(dir, entry.name)));
        }
    }
    return out.sort();
}

/**
 * What a strict YAML 1.2 reader reports for a text: errors and warnings of every document,
 * each with its position, and "N documents" when there is more than one (Pulumi and
 * GitHub read the first document only; the rest would be ignored without a word).
 */
export function strictYamlProblems(text: string): string[] {
    const docs = parseAllDocuments(text, { version: "1.2", strict: true, uniqueKeys: true, prettyErrors: true });
    const list = Array.isArray(docs) ? docs : [];
    const problems = list.flatMap((d) => [...d.errors, ...d.warnings].map((e) => `${e.name}: ${e.message.split("\n")[0]}`));
    if (list.length !== 1) problems.push(`${list.length} YAML documents; Pulumi and GitHub read exactly one`);
    return problems;
}

const FILES = yamlFiles(ROOT);
const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");

describe("YAML files parse strictly (YAML 1.2, errors and warnings both fail)", () => {
    it("finds the project file, every stack file, every workflow and the policy pack", () => {
        const stacks = fs.readdirSync(path.join(ROOT, "stacks")).filter((f) => /^Pulumi\..+\.yaml$/.test(f));
        const workflows = fs.readdirSync(path.join(ROOT, ".github", "workflows")).filter((f) => /\.ya?ml$/.test(f));
        expect(stacks.length).toBeGreaterThanOrEqual(7);
        expect(FILES).toEqual(
            expect.arrayContaining([
                "Pulumi.yaml",
                "policy/PulumiPolicy.yaml",
                ...stacks.map((f) => `stacks/${f}`),
                ...workflows.map((f) => `.github/workflows/${f}`),
            ]),
        );
    });

    it.each(FILES)("%s", (rel) => {
        expect(strictYamlProblems(read(rel))).toEqual([]);
    });

    it("the checker is strict: the old Pulumi.yaml line, a duplicate key, an unknown tag and two documents all fail", () => {
        expect(strictYamlProblems("config:\n  backend:\n    description: Where the lab runs: libvirt, aws\n")).toEqual([
            "YAMLParseError: Nested mappings are not allowed in compact mappings at line 3, column 18:",
        ]);
        expect(strictYamlProblems("a: 1\na: 2\n")).toEqual(["YAMLParseError: Map keys must be unique at line 2, column 1:"]);
        expect(strictYamlProblems("a: !!foo x\n")).toEqual(["YAMLWarning: Unresolved tag: tag:yaml.org,2002:foo at line 1, column 4:"]);
        expect(strictYamlProblems("a: 1\n---\nb: 2\n")).toEqual(["2 YAML documents; Pulumi and GitHub read exactly one"]);
    });
});

// ---------------------------------------------------------------------------------------

interface ConfigDeclaration {
    type?: "string" | "integer" | "boolean" | "array";
    items?: ConfigDeclaration;
    default?: unknown;
    secret?: boolean;
}
interface ProjectFile {
    name: string;
    runtime: { name: string; options?: Record<string, unknown> };
    stackConfigDir?: string;
    config?: Record<string, ConfigDeclaration | string | number | boolean | unknown[]>;
}

/** Pulumi.yaml as the CLI sees it; a file that does not parse leaves a minimal stand-in so each test reports. */
function loadProject(): ProjectFile {
    try {
        return parse(read("Pulumi.yaml")) as ProjectFile;
    } catch {
        // The strict-parse test above names the error; the tests below then fail on content.
        return { name: "", runtime: { name: "" } };
    }
}
const project = loadProject();

// Pulumi validates Pulumi.yaml against this schema itself (draft 2020-12).
function projectValidator() {
    const schema = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "pulumi", "project.json"), "utf8"));
    // The schema is upstream's: its authoring style (union types, `properties` without
    // `type: object`) is not ours to tighten, so only ajv's schema-style lint is relaxed.
    const ajv = new Ajv2020({ allErrors: true, allowUnionTypes: true, strictTypes: false });
    return ajv.compile(schema);
}

describe("Pulumi.yaml", () => {
    const validate = projectValidator();

    it("validates against Pulumi's project schema", () => {
        const ok = validate(project);
        expect(validate.errors ?? [], JSON.stringify(validate.errors)).toEqual([]);
        expect(ok).toBe(true);
    });

    it("the schema check is real: a config type Pulumi does not have, and a missing runtime, are refused", () => {
        expect(validate({ ...project, config: { lab: { type: "object" } } })).toBe(false);
        expect(validate.errors?.map((e) => e.instancePath)).toContain("/config/lab/type");
        const { runtime: _runtime, ...noRuntime } = project;
        expect(validate(noRuntime)).toBe(false);
        expect(validate.errors?.map((e) => e.message)).toContain("must have required property 'runtime'");
    });

    it("is the nixlab Node.js project, loaded with TypeScript through tsconfig.pulumi.json, its stacks in stacks/", () => {
        expect(project.name).toBe(PROJECT);
        expect(project.runtime).toEqual({ name: "nodejs", options: { typescript: true, tsconfig: "tsconfig.pulumi.json" } });
        expect(project.stackConfigDir).toBe("stacks");
    });

    it("declares only keys the program reads, each default of its declared type", () => {
        for (const [key, decl] of Object.entries(project.config ?? {})) {
            expect(CONFIG_KEYS as readonly string[], key).toContain(key);
            if (isDeclaration(decl) && decl.default !== undefined) expect(typeProblem(decl.default, decl), `${key} default`).toBeUndefined();
        }
    });
});

// ---------------------------------------------------------------------------------------

/**
 * The keys of Pulumi's `workspace.ProjectStack` (sdk/go/common/workspace/project.go): the
 * only ones a stack file may hold. `encryptionsalt` is written by `pulumi stack init` on
 * passphrase backends (the README's file backend), so it is allowed too.
 */
export const STACK_FILE_KEYS = ["config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"] as const;

function isDeclaration(v: unknown): v is ConfigDeclaration {
    return !!v && typeof v === "object" && !Array.isArray(v);
}

/** Why `value` is not of the declared type, or undefined when it is. */
function typeProblem(value: unknown, decl: ConfigDeclaration): string | undefined {
    const secure = !!value && typeof value === "object" && "secure" in value;
    switch (decl.type) {
        case undefined:
            return undefined;
        case "string":
            // A secret string is stored as { secure: <ciphertext> }.
            return typeof value === "string" || secure ? undefined : `expected a string, got ${JSON.stringify(value)}`;
        case "integer":
            return Number.isInteger(value) ? undefined : `expected an integer, got ${JSON.stringify(value)}`;
        case "boolean":
            return typeof value === "boolean" ? undefined : `expected a boolean, got ${JSON.stringify(value)}`;
        case "array": {
            if (!Array.isArray(value)) return `expected an array, got ${JSON.stringify(value)}`;
            for (const [i, item] of value.entries()) {
                const p = decl.items ? typeProblem(item, decl.items) : undefined;
                if (p) return `[${i}]: ${p}`;
            }
            return undefined;
        }
        default: {
            const never: never = decl.type;
            return `unknown declared type ${JSON.stringify(never)}`;
        }
    }
}

/** Everything wrong with one stack file's top level and config keys, as messages. */
export function stackFileProblems(doc: unknown, proj: ProjectFile): string[] {
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) return [`the file must be a mapping with a config: block, got ${JSON.stringify(doc)}`];
    const problems: string[] = [];
    for (const key of Object.keys(doc)) {
        if (!(STACK_FILE_KEYS as readonly string[]).includes(key)) problems.push(`${key}: not a stack file key (allowed: ${STACK_FILE_KEYS.join(", ")})`);
    }
    const config = (doc as { config?: unknown }).config ?? {};
    if (typeof config !== "object" || Array.isArray(config) || config === null) return [...problems, `config: must be a mapping`];
    const declared = proj.config ?? {};
    for (const [key, value] of Object.entries(config)) {
        const m = /^([^:]+):([^:]+)$/.exec(key);
        if (!m) {
            problems.push(`config.${key}: not namespaced; write ${proj.name}:${key} (or <provider>:${key})`);
            continue;
        }
        const [, ns, name] = m as unknown as [string, string, string];
        if (ns !== proj.name) continue;
        if (!(CONFIG_KEYS as readonly string[]).includes(name)) problems.push(`config.${key}: the program reads no such key (${CONFIG_KEYS.map((k) => `${proj.name}:${k}`).join(", ")})`);
        const decl = declared[name];
        if (isDeclaration(decl)) {
            const p = typeProblem(value, decl);
            if (p) problems.push(`config.${key}: Pulumi.yaml declares type ${decl.type}; ${p}`);
        }
    }
    return problems;
}

const stackDir = path.join(ROOT, project.stackConfigDir ?? ".");
const STACK_FILES = fs
    .readdirSync(stackDir)
    .filter((f) => /^Pulumi\..+\.yaml$/.test(f))
    .sort();

describe("stack files", () => {
    it.each(STACK_FILES)("%s holds only stack file keys, namespaced config, declared types", (f) => {
        expect(stackFileProblems(parse(fs.readFileSync(path.join(stackDir, f), "utf8")), project)).toEqual([]);
    });

    it("the stack file checks are real: each kind of mistake is named", () => {
        expect(
            stackFileProblems(
                {
                    config: { backend: "aws", "nixlab:backend": 3, "nixlab:labs": {}, "aws:region": "eu-west-1", "nixlab:lab": { owner: "x" } },
                    stacks: {},
                },
                project,
            ),
        ).toEqual([
            "stacks: not a stack file key (allowed: config, secretsprovider, encryptedkey, encryptionsalt, environment)",
            "config.backend: not namespaced; write nixlab:backend (or <provider>:backend)",
            "config.nixlab:backend: Pulumi.yaml declares type string; expected a string, got 3",
            "config.nixlab:labs: the program reads no such key (nixlab:backend, nixlab:lab, nixlab:libvirt, nixlab:aws, nixlab:gcp, nixlab:azure, nixlab:openstack)",
        ]);
        expect(stackFileProblems({ config: { "nixlab:backend": { secure: "v1:abc" } }, encryptionsalt: "v1:x" }, project)).toEqual([]);
    });
});
