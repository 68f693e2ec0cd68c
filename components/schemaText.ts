/**
 * What a config value must be, in words, read off the zod schema itself: the validation
 * messages ("must be a whole number from 1 to 448", "is required: either a list of nodes
 * or {count, namePrefix}") and the README's configuration reference (scripts/docs.ts) use
 * the same text, so neither can drift from what the program accepts.
 *
 * zod's own messages ("Invalid input", "expected string, received undefined") say neither
 * what was expected in user terms nor how to fix it; `nixlabErrorMap` replaces every one of
 * them. Messages written next to a check (`{ error: "must be ..." }`) still win: zod tries a
 * schema's own error before the global map.
 */
import { z } from "zod";

/** Extra metadata nixlab keeps in zod's registry next to `description`. */
export interface NixlabMeta {
    description?: string;
    /** What a value must be, when the schema's shape alone says it badly (unions). */
    expected?: string;
    /** The default, in words, when it is not a literal value ("the stack name"). */
    defaultText?: string;
    /** The default as a value (shown as code in the reference). */
    default?: unknown;
}

type AnySchema = z.core.$ZodType;

function meta(s: AnySchema): NixlabMeta {
    return (z.globalRegistry.get(s) as NixlabMeta | undefined) ?? {};
}

function def(s: AnySchema): { type: string } & Record<string, unknown> {
    return (s as unknown as { _zod: { def: { type: string } & Record<string, unknown> } })._zod.def;
}

/** The schema under optional/default/nullable wrappers. */
export function unwrap(s: AnySchema): AnySchema {
    let cur = s;
    for (;;) {
        const d = def(cur);
        if ((d.type === "optional" || d.type === "default" || d.type === "nullable" || d.type === "readonly") && d.innerType) {
            cur = d.innerType as AnySchema;
        } else if (d.type === "pipe" && d.in) {
            cur = d.in as AnySchema;
        } else return cur;
    }
}

function jsonSchema(s: AnySchema): Record<string, unknown> {
    try {
        return z.toJSONSchema(s as z.ZodType, { unrepresentable: "any", io: "input" }) as Record<string, unknown>;
    } catch {
        return {};
    }
}

function range(js: Record<string, unknown>, unit: string): string {
    // `.int()` alone bounds to the safe integers; that is not worth saying.
    const bound = (v: unknown) => (typeof v === "number" && Math.abs(v) < Number.MAX_SAFE_INTEGER ? v : undefined);
    const min = bound(js.minimum);
    const max = bound(js.maximum);
    const xmin = js.exclusiveMinimum as number | undefined;
    if (min !== undefined && max !== undefined) return `${unit} from ${min} to ${max}`;
    if (xmin !== undefined) return `${unit} greater than ${xmin}`;
    if (min !== undefined) return `${unit} of at least ${min}`;
    if (max !== undefined) return `${unit} of at most ${max}`;
    return unit;
}

function list(items: string[], word: string): string {
    if (items.length <= 1) return items.join("");
    return `${items.slice(0, -1).join(", ")} ${word} ${items[items.length - 1]}`;
}

/** Keys of an object schema, required ones first as written. */
export function objectKeys(s: AnySchema): string[] {
    const d = def(unwrap(s));
    return d.type === "object" ? Object.keys(d.shape as object) : [];
}

/**
 * What a value of this schema must be, as a noun phrase: "a whole number from 1 to 448",
 * "one of x86_64 or aarch64", "a list of at least 1 OpenSSH public key line like ...".
 */
export function expectedText(schema: AnySchema): string {
    const m = meta(schema);
    if (m.expected) return m.expected;
    const s = unwrap(schema);
    if (s !== schema && meta(s).expected) return meta(s).expected!;
    const d = def(s);
    switch (d.type) {
        case "string": {
            // A check's own message ("must be a duration like 90m, 8h or 3d") says it best:
            // provoke it with a value no such check accepts.
            probing++;
            let probe;
            try {
                probe = (s as z.ZodType).safeParse("\u0000");
            } finally {
                probing--;
            }
            const own = probe.success ? undefined : probe.error.issues.find((i) => i.message.startsWith("must be "))?.message;
            if (own) return own.slice("must be ".length);
            const js = jsonSchema(s);
            return (js.minLength as number | undefined) ? "a non-empty string" : "a string";
        }
        case "number": {
            const js = jsonSchema(s);
            return range(js, js.type === "integer" ? "a whole number" : "a number");
        }
        case "boolean":
            return "true or false";
        case "enum": {
            const values = Object.values(d.entries as Record<string, string>).map((v) => String(v));
            return values.length === 1 ? `\`${values[0]}\`` : `one of ${list(values.map((v) => `\`${v}\``), "or")}`;
        }
        case "literal":
            return list((d.values as unknown[]).map((v) => `\`${String(v)}\``), "or");
        case "array": {
            const js = jsonSchema(s);
            const min = js.minItems as number | undefined;
            return `a list${min ? ` of at least ${min}` : ""}, each ${expectedText(d.element as AnySchema)}`;
        }
        case "object": {
            const keys = objectKeys(s);
            return `a mapping with keys ${list(keys.map((k) => `\`${k}\``), "and")}`;
        }
        case "record":
            return `a mapping, each key ${expectedText(d.keyType as AnySchema)} and each value ${expectedText(d.valueType as AnySchema)}`;
        case "union":
            return `either ${list((d.options as AnySchema[]).map(expectedText), "or")}`;
        default:
            return String(jsonSchema(s).type ?? d.type);
    }
}

/** Edit distance, for "did you mean" on unknown keys. */
function distance(a: string, b: string): number {
    const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let diag = prev[0]!;
        prev[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const tmp = prev[j]!;
            prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
            diag = tmp;
        }
    }
    return prev[b.length]!;
}

/** The allowed key a misspelt one most likely meant, if any is close. */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
    const lower = key.toLowerCase();
    let best: { k: string; d: number } | undefined;
    for (const k of allowed) {
        const d = k.toLowerCase() === lower ? 0 : distance(lower, k.toLowerCase());
        if (!best || d < best.d) best = { k, d };
    }
    // At most a third of the key wrong (memoryGb → memoryGiB, colour ✗ → no guess).
    return best && best.d <= Math.max(1, Math.floor(key.length / 3)) ? best.k : undefined;
}

/** The message for an unknown key: the closest allowed key, else every allowed key. */
export function unknownKeyMessage(key: string, allowed: readonly string[]): string {
    const near = closestKey(key, allowed);
    const all = allowed.map((k) => `\`${k}\``).join(", ");
    return near ? `unknown key; did you mean \`${near}\`? (allowed here: ${all})` : `unknown key; allowed here: ${all}`;
}

/** One line per unknown key, in the issue's key order (problems.ts splits them again). */
export const UNKNOWN_KEYS_SEPARATOR = "\n";

type RawIssue = z.core.$ZodRawIssue;

/** >0 while expectedText provokes a check's own message; the map then stays out of the way. */
let probing = 0;

function sizeMessage(iss: RawIssue & { origin?: string; minimum?: unknown; maximum?: unknown; inclusive?: boolean }, small: boolean): string {
    const bound = Number(small ? iss.minimum : iss.maximum);
    switch (iss.origin) {
        case "array":
        case "set":
            return small ? `needs at least ${bound} ${bound === 1 ? "entry" : "entries"}` : `takes at most ${bound} ${bound === 1 ? "entry" : "entries"}`;
        case "string":
            if (small && bound === 1) return "must not be empty";
            return `must be ${small ? "at least" : "at most"} ${bound} characters long`;
        default:
            if (iss.inclusive === false) return `must be ${small ? "greater" : "less"} than ${bound}`;
            return `must be ${small ? "at least" : "at most"} ${bound}`;
    }
}

/**
 * zod's global error map: used for every issue whose check has no message of its own.
 * It says what is allowed; problems.ts adds the key path and the value given.
 */
export function nixlabErrorMap(iss: RawIssue): string {
    if (probing > 0) return "(probe)";
    const inst = (iss as { inst?: AnySchema }).inst;
    const schemaInst = inst && (inst as { _zod?: { def?: { type?: string } } })._zod?.def?.type !== undefined && "safeParse" in (inst as object) ? inst : undefined;
    const expected = () => (schemaInst ? expectedText(schemaInst) : "a valid value");
    switch (iss.code) {
        case "invalid_type":
        case "invalid_union":
        case "invalid_value":
            return iss.input === undefined ? `is required: ${expected()}` : `must be ${expected()}`;
        case "too_small":
            return sizeMessage(iss as never, true);
        case "too_big":
            return sizeMessage(iss as never, false);
        case "unrecognized_keys": {
            const allowed = schemaInst ? objectKeys(schemaInst) : [];
            return (iss as { keys: string[] }).keys.map((k) => unknownKeyMessage(k, allowed)).join(UNKNOWN_KEYS_SEPARATOR);
        }
        case "invalid_format": {
            const f = iss as { format?: string; prefix?: string; suffix?: string; pattern?: string };
            if (schemaInst) return `must be ${expected()}`;
            if (f.format === "starts_with") return `must start with ${JSON.stringify(f.prefix)}`;
            if (f.format === "ends_with") return `must end with ${JSON.stringify(f.suffix)}`;
            if (f.format === "regex") return `must match ${f.pattern}`;
            return `must be a valid ${f.format}`;
        }
        case "not_multiple_of":
            return `must be a multiple of ${String((iss as { divisor?: number }).divisor)}`;
        case "invalid_key":
            return "has a key that is not allowed";
        case "invalid_element":
            return "has an entry that is not allowed";
        case "custom":
            return `must be ${expected()}`;
        default:
            return `must be ${expected()}`;
    }
}

// Set once for the whole program: every schema in nixlab parses through this module's
// importers (problems.ts imports it), so no zod default text reaches a user.
z.config({ customError: nixlabErrorMap as never });
