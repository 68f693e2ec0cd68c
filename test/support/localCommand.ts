/**
 * Test equipment: what the command provider (@pulumi/command, pulumi-command's
 * provider/pkg/provider/local/commandOutputs.go `run`) does for the `command:local:run`
 * invoke, so the program's image build runs for real under the offline runner and the
 * real-libvirt engine: `/bin/sh -c <command>` in `dir` (default: the working directory),
 * with the provider's environment (the CLI's) plus `environment`; stdout and stderr with
 * one trailing newline trimmed; a failure is `<exit status>: running "<command>":\n<output>`.
 */
import { spawn } from "node:child_process";

export interface LocalRunInputs {
    command: string;
    dir?: string;
    environment?: Record<string, string>;
    stdin?: string;
}

export function runLocalCommand(inputs: LocalRunInputs): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
        const child = spawn("/bin/sh", ["-c", inputs.command], {
            cwd: inputs.dir ?? process.cwd(),
            env: { ...process.env, ...inputs.environment },
            stdio: ["pipe", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        let both = "";
        child.stdout.on("data", (d: Buffer) => ((stdout += d), (both += d)));
        child.stderr.on("data", (d: Buffer) => ((stderr += d), (both += d)));
        child.stdin.end(inputs.stdin ?? "");
        child.on("error", reject);
        child.on("close", (code, signal) => {
            if (code !== 0) {
                const status = signal ? `signal: ${signal}` : `exit status ${code}`;
                reject(new Error(`${status}: running ${JSON.stringify(inputs.command)}:\n${both}`));
                return;
            }
            resolve({ ...inputs, stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, "") });
        });
    });
}
