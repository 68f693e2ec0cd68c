/**
 * Test equipment: the CLI's dependencies for a project directory, with what it writes kept
 * for the test to read and everything it should not reach failing loudly. Pass
 * `overrides` for the parts a test really uses (a workspace, a clock, stack files).
 */
import type { CliDeps } from "../../cli/commands";

export interface RecordedCli {
    deps: CliDeps;
    /** Everything the CLI wrote to stdout / stderr so far. */
    stdout(): string;
    stderr(): string;
}

export function recordingCliDeps(projectDir: string, overrides: Partial<CliDeps> = {}): RecordedCli {
    let stdout = "";
    let stderr = "";
    const deps: CliDeps = {
        stdout: { write: (s: string) => ((stdout += s), true), isTTY: false },
        stderr: { write: (s: string) => ((stderr += s), true) },
        env: {},
        now: () => new Date(),
        projectDir,
        homeDir: projectDir,
        openWorkspace: async () => {
            throw new Error("unexpected: the workspace was opened");
        },
        runSsh: async () => 0,
        readStackFile: () => {
            throw new Error("unexpected: a stack file was read");
        },
        plan: async () => {
            throw new Error("unexpected: plan");
        },
        ...overrides,
    };
    return { deps, stdout: () => stdout, stderr: () => stderr };
}
