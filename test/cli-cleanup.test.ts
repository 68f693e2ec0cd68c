/**
 * `nixlab cleanup <stack>` against FakeWorkspace (the stack's config and state) and a
 * stand-in `virsh` on PATH holding a hypervisor with: this stack's recorded node, an
 * unrecorded node of the same stack (an interrupted `up`), another stack's node, a
 * hand-made domain, and pools. The real-libvirt suite (faults.real.test.ts) runs the same
 * search and removal against libvirt itself.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Cli, type CliDeps } from "../cli/commands";
import { renderOwnerXml } from "../providers/libvirt/render";
import { FakeWorkspace } from "./support/fakeWorkspace";

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-cli-cleanup-"));
const LOG = path.join(WORK, "calls.log");
const SERIAL = path.join(WORK, "nixlab-dev.node-2.serial.log");
const T = "pulumi-nodejs:dynamic/nixlab-libvirt:";
let savedPath = "";

function domainXml(owner: Parameters<typeof renderOwnerXml>[0] | undefined, log: string): string {
    return `<domain><name>x</name>${owner ? `<metadata>${renderOwnerXml(owner)}</metadata>` : ""}<devices><serial type='pty'><log file='${log}' append='off'/></serial></devices></domain>`;
}

beforeAll(() => {
    fs.mkdirSync(path.join(WORK, "bin"));
    const answers: Record<string, string> = {
        "list --all --name": "nixlab-dev.node-1\nnixlab-dev.node-2\nnixlab-prod.node-1\nhandmade\n\n",
        "domuuid nixlab-dev.node-1": "u-recorded\n",
        "domuuid nixlab-dev.node-2": "u-orphan\n",
        "domuuid nixlab-prod.node-1": "u-prod\n",
        "dumpxml nixlab-dev.node-1": domainXml({ stack: "dev", lab: "dev", node: "node-1" }, "/l/1.log"),
        "dumpxml nixlab-dev.node-2": domainXml({ stack: "dev", lab: "dev", node: "node-2" }, SERIAL),
        "dumpxml nixlab-prod.node-1": domainXml({ stack: "prod", lab: "dev", node: "node-1" }, "/l/3.log"),
        "net-list --all --name": "\n",
        "pool-list --all --name": "default\n\n",
    };
    for (const [k, v] of Object.entries(answers)) fs.writeFileSync(path.join(WORK, k.replace(/ /g, "_")), v);
    fs.writeFileSync(
        path.join(WORK, "bin", "virsh"),
        `#!/bin/sh\nshift 2\nprintf '%s\\n' "$*" >>'${LOG}'\nf='${WORK}/'"$(printf '%s' "$*" | tr ' ' '_')"\nif [ -f "$f" ]; then cat "$f"; fi\nexit 0\n`,
        { mode: 0o755 },
    );
    savedPath = process.env.PATH ?? "";
    process.env.PATH = `${path.join(WORK, "bin")}${path.delimiter}${savedPath}`;
});

afterAll(() => {
    process.env.PATH = savedPath;
    fs.rmSync(WORK, { recursive: true, force: true });
});

beforeEach(() => {
    fs.writeFileSync(LOG, "");
    fs.writeFileSync(SERIAL, "console\n");
});

function calls(): string[] {
    return fs
        .readFileSync(LOG, "utf8")
        .split("\n")
        .filter((l) => l !== "");
}

function workspace(backend = "libvirt"): FakeWorkspace {
    const ws = new FakeWorkspace();
    ws.stacks.set("dev", {
        resourceCount: 3,
        outputs: {},
        resources: [
            { type: "pulumi:pulumi:Stack", outputs: {} },
            { type: `${T}Domain`, outputs: { uuid: "u-recorded", name: "nixlab-dev.node-1" } },
            { type: `${T}Volume`, outputs: { path: "/p/node-1.root.qcow2" } },
        ],
    });
    ws.files.set("dev", { "nixlab:backend": backend, "nixlab:libvirt": JSON.stringify({ uri: "qemu:///system" }) });
    return ws;
}

/** `nixlab cleanup <stack> [flags]` as cli/main.ts wires it (commander parsing is tested in cli.test.ts). */
async function nixlab(ws: FakeWorkspace, argv: string[]) {
    const h = { stdout: "", stderr: "" };
    const deps: CliDeps = {
        stdout: { write: (s: string) => (h.stdout += s), isTTY: false },
        stderr: { write: (s: string) => (h.stderr += s) },
        env: {},
        now: () => new Date("2026-12-01T00:00:00Z"),
        projectDir: "/srv/nixlab",
        homeDir: WORK,
        openWorkspace: async () => ws,
        runSsh: async () => 0,
        readStackFile: (stack) => ws.files.get(stack) ?? {},
        plan: async () => {
            throw new Error("unexpected: plan");
        },
    };
    const [command, stack, ...flags] = argv;
    expect(command).toBe("cleanup");
    const cli = new Cli(deps, "file:///srv/nixlab/.pulumi-state");
    const code = await cli.guard({ stack, backendKind: "libvirt" }, () => cli.cleanup(stack!, { dryRun: flags.includes("--dry-run"), yes: flags.includes("--yes") }));
    return { code, ...h };
}

describe("nixlab cleanup", () => {
    it("--dry-run lists exactly the stack's unrecorded objects and changes nothing", async () => {
        const r = await nixlab(workspace(), ["cleanup", "dev", "--dry-run"]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(r.stdout).toBe(
            [
                "Objects on qemu:///system stamped for stack dev that its state does not know:",
                "KIND    NAME               UUID / PATH  OWNER",
                "domain  nixlab-dev.node-2  u-orphan     lab dev, node node-2",
                "Dry run: 1 object would be removed; nothing was changed.",
                "",
            ].join("\n"),
        );
        expect(calls().filter((c) => !/^(list|domuuid|dumpxml|net-list|pool-list)/.test(c))).toEqual([]);
        expect(fs.existsSync(SERIAL)).toBe(true);
    });

    it("removes the unrecorded node (checked again first) and its serial log; nobody else's", async () => {
        const r = await nixlab(workspace(), ["cleanup", "dev", "--yes"]);
        expect(r.code).toBe(0);
        expect(r.stdout).toContain("removed domain nixlab-dev.node-2\nRemoved 1 object.\n");
        // By the UUID it checked again: never a node made under this name since the listing.
        expect(calls().filter((c) => /^(destroy|undefine)/.test(c))).toEqual(["destroy u-orphan", "undefine u-orphan --nvram"]);
        expect(fs.existsSync(SERIAL)).toBe(false);
    });

    it("without a terminal or --yes it asks for one and removes nothing", async () => {
        const r = await nixlab(workspace(), ["cleanup", "dev"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toBe("nixlab: Remove 1 object from qemu:///system? needs a yes: there is no terminal to ask on, so pass --yes\n");
        expect(calls().filter((c) => /^(destroy|undefine)/.test(c))).toEqual([]);
    });

    it("is refused for a cloud stack", async () => {
        const r = await nixlab(workspace("aws"), ["cleanup", "dev", "--dry-run"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain("nixlab: nixlab cleanup finds libvirt objects a stack's state does not know; stack dev uses the aws backend");
        expect(calls()).toEqual([]);
    });
});
