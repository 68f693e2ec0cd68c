/**
 * The SSH readiness script (components/ready.ts) run for real: bash with a PATH that
 * holds nothing, Debian's real cloud-init reading the status files a first boot leaves in
 * /run/cloud-init, inside a private mount namespace shaped like a NixOS node:
 *
 * - a tmpfs /run with cloud-init at /run/current-system/sw/bin/cloud-init (Debian's
 *   cloud-init entry point, copied there) and /usr/bin/cloud-init hidden, so only the
 *   NixOS path can be what the script ran;
 * - a tmpfs /dev with /dev/null and, where a case says so, a /dev/kvm character device.
 *
 * Needs root (mount namespaces), unshare (util-linux), mknod and cloud-init (Debian).
 */
import { execFileSync, spawn } from "node:child_process";
import { beforeAll, describe, expect, test } from "vitest";
import { NIXOS_SYSTEM_BIN, READY_EXIT, readinessScript } from "../components/ready";
import type { NodeSpec } from "../components/spec";
import { finished, type Finished } from "./support/process";

interface Case {
    kvm: NodeSpec["kvm"];
    /** cloud-init's outcome, as status.json/result.json record it; "absent": no cloud-init binary anywhere. */
    cloudInit: "done" | "error" | "running-then-done" | "absent";
    devKvm: boolean;
}


/** status.json/result.json as cloud-init writes them: every stage finished, `errors` from the last one. */
function statusFiles(errors: string[]): string {
    const stage = (e: string[]) => ({ errors: e, finished: 2.0, start: 1.0 });
    const status = { v1: { datasource: "DataSourceNoCloud", init: stage([]), "init-local": stage([]), "modules-config": stage([]), "modules-final": stage(errors), stage: null } };
    const result = { v1: { datasource: "DataSourceNoCloud", errors } };
    return `printf '%s' '${JSON.stringify(status)}' > /run/cloud-init/status.json; printf '%s' '${JSON.stringify(result)}' > /run/cloud-init/result.json`;
}

/** The final stage still running: what `cloud-init status --wait` sees during boot. */
const RUNNING =
    `printf '%s' '${JSON.stringify({ v1: { datasource: "DataSourceNoCloud", init: { errors: [], finished: 2.0, start: 1.0 }, "modules-final": { errors: [], finished: null, start: 3.0 }, stage: "modules-final" } })}'` +
    " > /run/cloud-init/status.json";

function runScript(c: Case): Promise<Finished> {
    const node = { name: "node-1", kvm: c.kvm } as NodeSpec;
    const setup = [
        "set -eu",
        "mount --make-rprivate /",
        // Copy the entry point out before hiding the original.
        "ci=$(cat /usr/bin/cloud-init)",
        "mount -t tmpfs tmpfs /run",
        "mount --bind /dev/null /usr/bin/cloud-init",
        "mkdir -p /run/cloud-init",
        c.cloudInit === "absent" ? ":" : `mkdir -p ${NIXOS_SYSTEM_BIN} && printf '%s\\n' "$ci" > ${NIXOS_SYSTEM_BIN}/cloud-init && chmod 755 ${NIXOS_SYSTEM_BIN}/cloud-init`,
        c.cloudInit === "error" ? statusFiles(["runcmd failed: exit status 1"]) : c.cloudInit === "running-then-done" ? RUNNING : statusFiles([]),
        "mount -t tmpfs -o mode=755 tmpfs /dev",
        "mknod -m 666 /dev/null c 1 3",
        c.devKvm ? "mknod -m 666 /dev/kvm c 10 232" : ":",
        // cloud-init finishes a second after the check started waiting.
        c.cloudInit === "running-then-done" ? `( sleep 1; ${statusFiles([])} ) &` : ":",
        'exec env -i PATH=/nonexistent HOME=/ /bin/bash -c "$READINESS_SCRIPT"',
    ].join("\n");
    // stdin not a socket: bash would read ~/.bashrc as if started by sshd.
    return finished(
        spawn("unshare", ["-m", "/bin/bash", "-c", setup], {
            env: { PATH: process.env.PATH, READINESS_SCRIPT: readinessScript(node) },
            stdio: ["ignore", "pipe", "pipe"],
        }),
    );
}

beforeAll(() => {
    try {
        execFileSync("test", ["-x", "/usr/bin/cloud-init"]);
        execFileSync("unshare", ["-m", "true"]);
    } catch {
        throw new Error("these tests need root (unshare -m) and Debian's cloud-init at /usr/bin/cloud-init: apt-get install cloud-init (.ci/run does)");
    }
});

describe.concurrent("the readiness script, run by bash with an empty PATH in a NixOS-shaped mount namespace", () => {
    test("cloud-init done and /dev/kvm present: exit 0 and the ready line", async () => {
        expect(await runScript({ kvm: "nested", cloudInit: "done", devKvm: true })).toEqual({ code: 0, stdout: "NIXLAB-READY node=node-1 kvm=ok cloud-init-rc=0\n", stderr: "" });
    });

    test("waits while cloud-init still runs, then reports ready", async () => {
        expect(await runScript({ kvm: "metal", cloudInit: "running-then-done", devKvm: true })).toEqual({
            code: 0,
            stdout: "NIXLAB-READY node=node-1 kvm=ok cloud-init-rc=0\n",
            stderr: "",
        });
    });

    test("cloud-init failed: exits 1 with cloud-init's own long status on stderr", async () => {
        const r = await runScript({ kvm: "nested", cloudInit: "error", devKvm: true });
        expect(r.code).toBe(READY_EXIT.cloudInitFailed);
        expect(r.stdout).toBe("");
        expect(r.stderr).toMatch(/^status: error\n/);
        expect(r.stderr).toContain("\ndetail:\nruncmd failed: exit status 1\n");
    });

    test("kvm asked for but no /dev/kvm: exits 3 naming the node and the fix", async () => {
        expect(await runScript({ kvm: "nested", cloudInit: "done", devKvm: false })).toEqual({
            code: READY_EXIT.kvmMissing,
            stdout: "",
            stderr: "node node-1: /dev/kvm missing although kvm: nested was asked for; check the machine type\n",
        });
    });

    test("kvm: none needs no /dev/kvm", async () => {
        expect(await runScript({ kvm: "none", cloudInit: "done", devKvm: false })).toEqual({
            code: 0,
            stdout: "NIXLAB-READY node=node-1 kvm=not-required cloud-init-rc=0\n",
            stderr: "",
        });
    });

    test("no cloud-init on the image: exits 4 saying where it looked and what to fix", async () => {
        expect(await runScript({ kvm: "nested", cloudInit: "absent", devKvm: true })).toEqual({
            code: READY_EXIT.noCloudInit,
            stdout: "",
            stderr:
                "node node-1: no cloud-init at /run/current-system/sw/bin/cloud-init, /usr/bin/cloud-init, /usr/local/bin/cloud-init; " +
                "the image must install it (images/modules/base.nix: environment.systemPackages)\n",
        });
    });
});
