/** Test equipment for child processes the tests start themselves. */
import type { ChildProcess } from "node:child_process";

export interface Finished {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** A spawned process's exit code and whole output (spawn it with stdout and stderr piped). */
export function finished(child: ChildProcess): Promise<Finished> {
    return new Promise((resolve, reject) => {
        let stdout = "";
        let stderr = "";
        child.stdout?.on("data", (d) => (stdout += d));
        child.stderr?.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}
