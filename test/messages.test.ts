/**
 * Every validation message says what is allowed, for every key of every config block: a
 * walk over the schemas the program parses with makes each key missing, of the wrong type,
 * out of its range, and misspelt, and checks what a user would read.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, keyPath, type Problem } from "../components/problems";
import { unwrap } from "../components/schemaText";
import { parseLabConfig } from "../components/spec";
import { CONFIG_BLOCKS } from "../scripts/configReference";

type AnySchema = z.core.$ZodType;
type Seg = string | number;
const def = (s: AnySchema) => (s as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
const isOptional = (s: AnySchema) => (s as unknown as { _zod: { optin?: string } })._zod.optin === "optional";

/** zod's own wording, which says neither what was expected in user terms nor the fix. */
const GENERIC =
    /Invalid input|Invalid option|Invalid string|Invalid element|Invalid key|Unrecognized key|received (undefined|string|number|boolean|object|array|null)|Too (small|big)|expected (string|number|object|array|boolean|int|nonoptional)\b|\(probe\)|a valid value|>=|<=/;

/** A minimal valid value for each block, to mutate one key at a time. */
const VALID: Record<string, unknown> = {
    "nixlab:lab": { owner: "alice", user: { sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v alice@x"] }, nodes: { count: 1 } },
    "nixlab:libvirt": {},
    "nixlab:aws": { region: "eu-west-1" },
    "nixlab:gcp": { project: "my-kvm-lab" },
    "nixlab:azure": { subscriptionId: "00000000-0000-0000-0000-000000000000", location: "westeurope" },
    "nixlab:openstack": { cloud: "c", flavors: { "m1.x": { vcpus: 2, memoryGiB: 4, arch: "x86_64", kvm: "nested" } } },
};

interface Target {
    path: Seg[];
    schema: AnySchema;
    required: boolean;
}

/** Every value position below a schema (list entries as [0], record values as .k1, every union branch). */
function targets(schema: AnySchema, at: Seg[], out: { values: Target[]; objects: { path: Seg[]; keys: string[] }[] }) {
    const s = unwrap(schema);
    const d = def(s);
    switch (d.type) {
        case "object": {
            const shape = d.shape as Record<string, AnySchema>;
            out.objects.push({ path: at, keys: Object.keys(shape) });
            for (const [k, v] of Object.entries(shape)) {
                out.values.push({ path: [...at, k], schema: v, required: !isOptional(v) });
                targets(v, [...at, k], out);
            }
            break;
        }
        case "array":
            out.values.push({ path: [...at, 0], schema: d.element as AnySchema, required: false });
            targets(d.element as AnySchema, [...at, 0], out);
            break;
        case "record":
            out.values.push({ path: [...at, "k1"], schema: d.valueType as AnySchema, required: false });
            targets(d.valueType as AnySchema, [...at, "k1"], out);
            break;
        case "union":
            for (const o of d.options as AnySchema[]) targets(o, at, out);
            break;
    }
    return out;
}

/** A copy of `root` with `value` at `path` (undefined deletes); containers of the wrong kind are replaced. */
function setAt(root: unknown, p: Seg[], value: unknown): unknown {
    if (p.length === 0) return value;
    const [head, ...rest] = p;
    const wantArray = typeof head === "number";
    const cur = wantArray ? (Array.isArray(root) ? [...root] : []) : root && typeof root === "object" && !Array.isArray(root) ? { ...(root as object) } : {};
    const container = cur as Record<Seg, unknown>;
    const next = setAt(container[head!], rest, value);
    if (next === undefined && rest.length === 0) delete container[head!];
    else container[head!] = next;
    return cur;
}

/** A value of another JSON type than the schema takes. */
function wrongType(schema: AnySchema): unknown {
    switch (def(unwrap(schema)).type) {
        case "string":
        case "enum":
        case "union":
        case "literal":
            return 12345;
        case "number":
            return "twelve";
        case "boolean":
            return "yes";
        default:
            return true;
    }
}

function problemsOf(parse: (raw: unknown) => unknown, raw: unknown): Problem[] {
    try {
        parse(raw);
        return [];
    } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
    }
}

describe.each(CONFIG_BLOCKS.map((b) => [b.key, b] as const))("%s: every message says what is allowed", (key, block) => {
    const walk = targets(block.schema, [], { values: [], objects: [] });
    const base = VALID[key];

    it("has a valid example to start from, and the walk reaches every key", () => {
        expect(problemsOf(block.parse, base)).toEqual([]);
        expect(walk.values.length).toBeGreaterThan(2);
    });

    const check = (what: string, raw: unknown, p: Seg[], message: RegExp) => {
        const problems = problemsOf(block.parse, raw);
        const generic = problems.filter((x) => GENERIC.test(x.message));
        expect(generic, `${what} at ${keyPath(key, p)}`).toEqual([]);
        const here = problems.filter((x) => x.path === keyPath(key, p));
        expect(here.map((x) => x.message), `${what} at ${keyPath(key, p)}: ${JSON.stringify(problems)}`).toEqual([expect.stringMatching(message)]);
    };

    it.each(walk.values.map((t) => [keyPath(key, t.path), t] as const))("%s of the wrong type: `must be <what is allowed> (got ...)`", (_n, t) => {
        const bad = wrongType(t.schema);
        check("wrong type", setAt(base, t.path, bad), t.path, new RegExp(`^(must be|must not|needs|tag keys) .{6,} \\(got ${JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\)$`));
    });

    const required = walk.values.filter((t) => t.required);
    it.each(required.map((t) => [keyPath(key, t.path), t] as const))("%s missing: `is required: <what is allowed>`", (_n, t) => {
        check("missing", setAt(base, t.path, undefined), t.path, /^is required: .{6,}$/);
    });

    it.each(walk.objects.map((o) => [keyPath(key, o.path) || key, o] as const))("%s with a misspelt key: names the closest allowed key", (_n, o) => {
        const near = o.keys[0]!;
        const typo = `${near.slice(0, -1)}${near.endsWith("x") ? "y" : "x"}`;
        // Put the misspelt key into an object of this shape (a list entry or the union's object form).
        const withObject = setAt(base, [...o.path, near], undefined) as unknown;
        check("misspelt key", setAt(withObject, [...o.path, typo], "v"), [...o.path, typo], new RegExp(`^unknown key; did you mean \`${near}\`\\? \\(allowed here: .*\`${near}\``));
    });
});

describe("the examples the issue and the README give", () => {
    const lab = (raw: unknown) => problemsOf((r) => parseLabConfig(r, "s"), raw).map((p) => `${p.path}: ${p.message}`);

    it("missing nodes / nodes: 3 / missing owner say what is expected", () => {
        expect(lab({ owner: "a", user: { sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v a@b"] } })).toEqual([
            "nixlab:lab.nodes: is required: either a list of nodes like [{ name: builder }, { name: runner }] or { count: 2, namePrefix: node }",
        ]);
        expect(lab({ owner: "a", user: { sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v a@b"] }, nodes: 3 })).toEqual([
            "nixlab:lab.nodes: must be either a list of nodes like [{ name: builder }, { name: runner }] or { count: 2, namePrefix: node } (got 3)",
        ]);
        expect(lab({ user: { sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v a@b"] }, nodes: { count: 1 } })).toEqual([
            "nixlab:lab.owner: is required: an email or user name: 1-64 characters of A-Z a-z 0-9 _ . @ + -",
        ]);
    });

    it("the README's example error is what the program prints for that config", () => {
        const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
        const block = /```\n(nixlab: invalid stack configuration[\s\S]*?)\n```/.exec(readme)![1]!;
        const raw = { user: { sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOzhVcmTEVpg5oM2T3zXbZ1EAtLpIhrtZbUU2qmK1v a@b"] }, nodes: [{ name: "a" }, { name: "b", memoryGiB: 0.1, memoryGb: 2 }] };
        let message = "";
        try {
            parseLabConfig(raw, "s");
        } catch (e) {
            message = (e as Error).message;
        }
        expect(message).toBe(block);
    });
});
