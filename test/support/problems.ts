/**
 * Test equipment for the backends' pure parts (placement, config parsing): a minimal lab
 * to place, and problems as `path: message` lines, so tests compare exact texts.
 */
import { ConfigError, type Problem } from "../../components/problems";
import { parseLabConfig, type LabSpec } from "../../components/spec";

/** `path: message` per problem. */
export function problemLines(problems: readonly Problem[]): string[] {
    return problems.map((p) => `${p.path}: ${p.message}`);
}

/** configErrorLines for a check that is async (loadProgramConfig loads the backend with import()). */
export async function configErrorLinesAsync(parse: () => Promise<unknown>): Promise<string[]> {
    try {
        await parse();
    } catch (e) {
        if (e instanceof ConfigError) return problemLines(e.problems);
        throw e;
    }
    throw new Error("expected a ConfigError");
}

/** The problems of the ConfigError `parse` throws; throws itself when `parse` throws nothing or anything else. */
export function configErrorLines(parse: () => unknown): string[] {
    try {
        parse();
    } catch (e) {
        if (e instanceof ConfigError) return problemLines(e.problems);
        throw e;
    }
    throw new Error("expected a ConfigError");
}

/** A valid lab of stack "t" with the least a lab needs (owner, user key `key`, one SSH CIDR), then `extra` on top. */
export function minimalLab(key: string, extra: Record<string, unknown>): LabSpec {
    return parseLabConfig({ owner: "alice", user: { sshAuthorizedKeys: [key] }, network: { sshIngressCidrs: ["203.0.113.7/32"] }, ...extra }, "t");
}
