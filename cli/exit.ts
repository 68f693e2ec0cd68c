/**
 * The one way nixlab's entry points end. `process.exit()` right after a large write to a
 * pipe drops whatever the pipe has not taken yet (stdout to a pipe is asynchronous on
 * POSIX; https://nodejs.org/api/process.html#a-note-on-process-io), which cut a 300-node
 * `plan --json | jq` off at 128 KiB. Waiting for both streams first keeps every byte a
 * script reads, while still ending a process that Pulumi's runtime would keep alive.
 */
export async function exitAfterFlush(code: number): Promise<never> {
    const drained = (s: NodeJS.WriteStream) =>
        new Promise<void>((resolve) => {
            // A write's callback runs once it and every write before it were handed to the OS.
            if (s.destroyed || !s.writable) resolve();
            else s.write("", () => resolve());
        });
    await Promise.all([drained(process.stdout), drained(process.stderr)]);
    process.exit(code);
}
