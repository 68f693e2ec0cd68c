/**
 * Which resources a second `up` replaces, worked out the way the engine does it from two
 * runs of the program under mocks (before and after a change), with the prior run standing
 * for the stack's state:
 *
 * - an input that changed, or that comes from a resource being replaced (its value is then
 *   unknown until the replacement exists), is a change of that resource;
 * - a change replaces the resource when the provider marks that input force-new (the rules
 *   below, each from the provider's schema) or the resource's own `replaceOnChanges` names it;
 * - repeat until nothing new is replaced.
 *
 * A changed input with no rule fails the computation: the model never guesses. What the
 * engine then does with `deleteBeforeReplace` is reported beside each replacement.
 */
import type { RecordedResource } from "../../scripts/offline";

/** Per resource type: input path → "replace" (force-new) or "update" (in place). */
export type ForceNewRules = Record<string, Record<string, "replace" | "update">>;

export interface Replacement {
    /** `<type> <name>` */
    resource: string;
    deleteBeforeReplace: boolean;
    /** Input paths that forced it, sorted. */
    because: string[];
}

export interface ReplacementPlan {
    replaced: Replacement[];
    /** Changed in place: `<type> <name>` → paths. */
    updated: Record<string, string[]>;
    added: string[];
    removed: string[];
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const UNKNOWN_ID = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Secrets revealed, unknowns as a marker: values as the provider's diff would compare them. */
function plain(v: unknown): unknown {
    if (v === UNKNOWN_ID) return "[unknown]";
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (SECRET_SIG in o) return plain(o.value);
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(o)) if (k !== "__provider") out[k] = plain(x);
        return out;
    }
    return v;
}

/** Leaf paths whose values differ (`a.b[0].c`); a value present on one side only counts too. */
export function changedPaths(a: unknown, b: unknown, at = ""): string[] {
    if (JSON.stringify(a) === JSON.stringify(b)) return [];
    const isObj = (x: unknown) => x !== null && typeof x === "object" && !Array.isArray(x);
    if (Array.isArray(a) && Array.isArray(b)) {
        const out: string[] = [];
        for (let i = 0; i < Math.max(a.length, b.length); i++) out.push(...changedPaths(a[i], b[i], `${at}[${i}]`));
        return out;
    }
    if (isObj(a) && isObj(b)) {
        const ao = a as Record<string, unknown>;
        const bo = b as Record<string, unknown>;
        const out: string[] = [];
        for (const k of [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort()) {
            out.push(...changedPaths(ao[k], bo[k], at ? `${at}.${k}` : k));
        }
        return out;
    }
    return [at];
}

/** `a[3].b` → `a[*].b`, `a["b-c"]` → `a.b-c`: one spelling for rules, replaceOnChanges and diffs. */
const generic = (path: string) => path.replace(/\[\d+\]/g, "[*]").replace(/\["([^"]+)"\]/g, ".$1");

/** Whether `path` is `prefix` or lies inside it. */
const within = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);

const key = (r: { type: string; name: string }) => `${r.type} ${r.name}`;

/**
 * Decides one changed path: replace or update. A whole input made unknown by a replaced
 * dependency (`whole`) is force-new if any force-new rule lies inside it.
 */
function decide(r: RecordedResource, path: string, whole: boolean, rules: ForceNewRules): "replace" | "update" {
    const g = generic(path);
    if ((r.options.replaceOnChanges ?? []).map(generic).some((p) => within(g, p) || (whole && within(p, g)))) return "replace";
    const typeRules = rules[r.type];
    if (!typeRules) throw new Error(`replacement model: no force-new rules for ${r.type} (changed: ${path})`);
    const matching = Object.entries(typeRules)
        .filter(([p]) => within(g, p))
        .sort((x, y) => y[0].length - x[0].length);
    if (whole && Object.entries(typeRules).some(([p, v]) => within(p, g) && v === "replace")) return "replace";
    if (matching[0]) return matching[0][1];
    throw new Error(`replacement model: no rule says whether ${r.type} input ${g} forces replacement; add it with its source`);
}

export function replacementPlan(before: RecordedResource[], after: RecordedResource[], rules: ForceNewRules): ReplacementPlan {
    const old = new Map(before.map((r) => [key(r), r]));
    const now = new Map(after.map((r) => [key(r), r]));
    const custom = after.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:") && old.has(key(r)));
    const direct = new Map(custom.map((r) => [key(r), changedPaths(plain(old.get(key(r))!.inputs), plain(r.inputs))]));
    for (const p of after.filter((r) => r.type.startsWith("pulumi:providers:") && old.has(key(r)))) {
        const changed = changedPaths(plain(old.get(key(p))!.inputs), plain(p.inputs));
        if (changed.length > 0) throw new Error(`replacement model: provider ${key(p)} changed (${changed.join(", ")}); not modelled`);
    }

    const replaced = new Map<string, string[]>();
    for (let grew = true; grew; ) {
        grew = false;
        for (const r of custom) {
            if (replaced.has(key(r))) continue;
            const viaDeps = Object.entries(r.inputDependencies)
                .filter(([, deps]) => deps.some((d) => replaced.has(d)))
                .map(([k]) => k);
            const because = [
                ...direct.get(key(r))!.filter((p) => decide(r, p, false, rules) === "replace"),
                ...viaDeps.filter((p) => decide(r, p, true, rules) === "replace").map((p) => `${p} (from a replaced resource)`),
            ];
            if (because.length > 0) {
                replaced.set(key(r), [...new Set(because)].sort());
                grew = true;
            }
        }
    }
    const updated: Record<string, string[]> = {};
    for (const r of custom) {
        const paths = direct.get(key(r))!;
        if (!replaced.has(key(r)) && paths.length > 0) updated[key(r)] = paths;
    }
    return {
        replaced: [...replaced.entries()]
            .map(([k, because]) => ({ resource: k, deleteBeforeReplace: now.get(k)!.options.deleteBeforeReplace === true, because }))
            .sort((a, b) => a.resource.localeCompare(b.resource)),
        updated,
        added: after.filter((r) => !old.has(key(r))).map(key).sort(),
        removed: before.filter((r) => !now.has(key(r))).map(key).sort(),
    };
}
