/**
 * Reads the stack's `nixlab:*` config once, validates all of it, and reports every
 * problem together. Backends never read config themselves.
 */
import type { Backend, BackendFactory, BackendKind } from "./backend";
import { BACKENDS } from "./backend";
import { ConfigError, Problem, show } from "./problems";
import { closestKey } from "./schemaText";
import { LabSpec, parseLabConfig } from "./spec";

export const PROJECT = "nixlab";

/** Every key the program reads, without the `nixlab:` prefix. Pulumi.yaml documents each. */
export const CONFIG_KEYS = ["backend", "lab", ...BACKENDS] as const;

export interface ProgramConfig {
    spec: LabSpec;
    backend: Backend;
}

/**
 * @param config every `nixlab:*` key of the stack, values as the CLI hands them to the
 *   program (JSON strings for structured values), keyed without the prefix.
 * @param factories per backend, a loader of its factory (providers/index.ts `backendLoaders`).
 */
export function loadProgramConfig(
    config: Record<string, string | undefined>,
    stack: string,
    factories: { [k in BackendKind]: () => BackendFactory },
): ProgramConfig {
    const problems: Problem[] = [];
    for (const key of Object.keys(config)) {
        if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
            problems.push({
                path: `${PROJECT}:${key}`,
                message: unknownConfigKey(key),
            });
        }
    }
    const kindRaw = config.backend ?? "libvirt";
    const kind = (BACKENDS as readonly string[]).includes(kindRaw) ? (kindRaw as BackendKind) : undefined;
    if (!kind) {
        problems.push({
            path: `${PROJECT}:backend`,
            message: `unknown backend ${show(kindRaw)}; choose one of ${BACKENDS.join(", ")}`,
        });
    }
    for (const other of BACKENDS) {
        if (other !== kind && config[other] !== undefined) {
            problems.push({
                path: `${PROJECT}:${other}`,
                message: `is set but nixlab:backend is ${show(kindRaw)}; remove it or set nixlab:backend: ${other}`,
            });
        }
    }

    let spec: LabSpec | undefined;
    let backend: Backend | undefined;
    const collect = (fn: () => void) => {
        try {
            fn();
        } catch (e) {
            if (e instanceof ConfigError) problems.push(...e.problems);
            else throw e;
        }
    };
    const labRaw = parseJson(config.lab, "lab", problems);
    if (labRaw !== UNPARSABLE) collect(() => (spec = parseLabConfig(labRaw, stack)));
    if (kind) {
        const raw = parseJson(config[kind], kind, problems);
        // Only the chosen backend's loader runs: the others' code and SDKs never load.
        if (raw !== UNPARSABLE) collect(() => (backend = factories[kind]().fromConfig(raw)));
    }
    if (problems.length > 0 || !spec || !backend) throw new ConfigError(problems);
    return { spec, backend };
}

function unknownConfigKey(key: string): string {
    const near = closestKey(key, CONFIG_KEYS);
    const all = CONFIG_KEYS.map((k) => `${PROJECT}:${k}`).join(", ");
    return `unknown config key; ${near ? `did you mean \`${PROJECT}:${near}\`? ` : ""}nixlab reads ${all}`;
}

const UNPARSABLE = Symbol("unparsable");

/** Structured config arrives as JSON text; anything else is reported once, here. */
function parseJson(raw: string | undefined, key: string, problems: Problem[]): unknown {
    if (raw === undefined) return undefined;
    try {
        return JSON.parse(raw);
    } catch {
        problems.push({
            path: `${PROJECT}:${key}`,
            message: `must be a structured value (a YAML mapping in the stack file), got the string ${show(raw)}`,
        });
        return UNPARSABLE;
    }
}
