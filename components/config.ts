/**
 * Reads the stack's `nixlab:*` config once, validates all of it, and reports every
 * problem together. Backends never read config themselves.
 */
import type { Backend, BackendFactory, BackendKind, Placement } from "./backend";
import { BACKENDS } from "./backend";
import { ConfigError, Problem, show } from "./problems";
import { checkUserDataSize } from "./cloudinit";
import { nameProblems } from "./names";
import { closestKey } from "./schemaText";
import { checkLabConfig, LabSpec, parseLabConfig } from "./spec";

export const PROJECT = "nixlab";

/** Every key the program reads, without the `nixlab:` prefix. Pulumi.yaml documents each. */
export const CONFIG_KEYS = ["backend", "lab", ...BACKENDS] as const;

export interface ProgramConfig {
    spec: LabSpec;
    backend: Backend;
    /** The backend's placement of every node, already checked. */
    placement: Placement;
}

/**
 * @param config every `nixlab:*` key of the stack, values as the CLI hands them to the
 *   program (JSON strings for structured values), keyed without the prefix.
 * @param factories per backend, a loader of its factory (providers/index.ts `backendLoaders`).
 */
export async function loadProgramConfig(
    config: Record<string, string | undefined>,
    stack: string,
    factories: { [k in BackendKind]: () => Promise<BackendFactory> },
    now: Date = new Date(),
): Promise<ProgramConfig> {
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
    let placement: Placement | undefined;
    const collect = (fn: () => void) => {
        try {
            fn();
        } catch (e) {
            if (e instanceof ConfigError) problems.push(...e.problems);
            else throw e;
        }
    };
    const labRaw = parseJson(config.lab, "lab", problems);
    if (labRaw === undefined) collect(() => parseLabConfig(labRaw, stack));
    else if (labRaw !== UNPARSABLE) {
        const checked = checkLabConfig(labRaw, stack, now);
        spec = checked.spec;
        problems.push(...checked.problems);
    }
    if (kind) {
        const raw = parseJson(config[kind], kind, problems);
        // Only the chosen backend's loader runs: the others' code and SDKs never load.
        if (raw !== UNPARSABLE) {
            const factory = await factories[kind]();
            collect(() => (backend = factory.fromConfig(raw)));
        }
    }
    // Placement runs whenever the lab's shape and the backend config parse, so one run
    // reports lab, backend and placement problems together.
    if (spec && backend) {
        const planned = placeLab(spec, backend);
        placement = planned.placement;
        problems.push(...planned.problems);
    }
    if (problems.length > 0 || !spec || !backend || !placement) throw new ConfigError(problems);
    return { spec, backend, placement };
}

/**
 * Everything that can be checked before a resource is registered: child names that config
 * would make collide, the backend's capability check and machine choice, and user-data sizes.
 */
export function placeLab(spec: LabSpec, backend: Backend): { placement: Placement; problems: Problem[] } {
    const placement = backend.place(spec);
    return {
        placement,
        problems: [...nameProblems(spec, backend.naming), ...placement.problems, ...checkUserDataSize(spec, backend.userDataLimitBytes, backend.kind)],
    };
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
