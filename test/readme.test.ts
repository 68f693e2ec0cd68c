/**
 * The README's commands work as written: read out of README.md itself and run where they
 * can be run here (the plan's JSON, the ssh setup with a stand-in `pulumi` that prints the
 * program's own renderings), checked for what cannot be run here (teardown keeps the stack
 * file; the stack file is edited before the first deploy).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { renderKnownHosts, renderSshConfig, type NodeAccess } from "../components/outputs";

const ROOT = path.join(__dirname, "..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

/** The `## <title>` section's text, up to the next `## ` heading. */
function section(title: string): string {
    const start = README.indexOf(`\n## ${title}\n`);
    expect(start, `README section "${title}"`).toBeGreaterThanOrEqual(0);
    const end = README.indexOf("\n## ", start + 1);
    return README.slice(start, end < 0 ? undefined : end);
}

/** Every line of every ```sh block in `text`. */
function shellLines(text: string): string[] {
    const out: string[] = [];
    for (const m of text.matchAll(/```sh\n([\s\S]*?)```/g)) out.push(...m[1]!.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#")));
    return out;
}

/** A shell line without its trailing `# comment` (none of ours has a `#` inside quotes before it). */
const withoutComment = (line: string) => line.replace(/\s+#\s.*$/, "");

const bash = (script: string, env: Record<string, string>, cwd = ROOT) =>
    spawnSync("bash", ["-euo", "pipefail", "-c", script], { cwd, env: { ...(process.env as Record<string, string>), ...env }, encoding: "utf8" });

describe("README quick start", () => {
    const quick = section("Quick start");

    it("says to edit owner and sshAuthorizedKeys before the command that deploys", () => {
        const deploy = quick.indexOf("pulumi up");
        expect(deploy).toBeGreaterThan(0);
        for (const field of ["owner", "sshAuthorizedKeys"]) {
            const edit = quick.indexOf(`\`${field}\``);
            expect(edit, field).toBeGreaterThanOrEqual(0);
            expect(edit, `${field} is mentioned before \`pulumi up\``).toBeLessThan(deploy);
        }
    });

    it("tears down keeping the stack file (`pulumi stack rm --preserve-config`), everywhere the README removes a stack", () => {
        const removals = README.split("\n").filter((l) => /pulumi stack rm\b/.test(l));
        expect(removals.length).toBeGreaterThanOrEqual(1);
        for (const l of removals) expect(l).toContain("--preserve-config");
    });
});

describe("README plan --json", () => {
    const lines = shellLines(README).filter((l) => /\bplan\b.*--json/.test(l));

    it("every documented --json plan keeps npm's banner out of stdout (npm run -s)", () => {
        expect(lines.length).toBeGreaterThanOrEqual(1);
        for (const l of lines) expect(l).toMatch(/^npm run -s plan -- /);
    });

    it("the documented command's stdout is valid JSON (the plan of the stack it names)", () => {
        const line = withoutComment(lines[0]!);
        const m = /^(.*?)\s*>\s*(\S+)$/.exec(line);
        expect(m, `${line} redirects stdout into a file`).not.toBeNull();
        const [, command, target] = m as unknown as [string, string, string];
        expect(target).toMatch(/\.json$/);
        // The command exactly as written, its stdout captured instead of written into the
        // repository. npm from PATH, running on this same node.
        const r = bash(command, { PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` });
        expect(r.status, r.stderr).toBe(0);
        const plan = JSON.parse(r.stdout) as { stack: string; resources: unknown[] };
        expect(plan.stack).toBe(/--stack (\S+)/.exec(command)![1]);
        expect(plan.resources.length).toBeGreaterThan(0);
    }, 120_000);
});

describe("README ssh setup", () => {
    const quick = section("Quick start");
    // The lines that write ~/.ssh, in README order: mkdir, known_hosts, ssh config, Include.
    const setup = shellLines(quick).filter((l) => l.includes("~/.ssh") && !/^(ssh|pulumi destroy)\b/.test(l.trim()));
    const teardown = shellLines(quick).find((l) => l.startsWith("pulumi destroy"))!;

    const nodes: NodeAccess[] = ["node-1", "node-2"].map((name, i) => ({
        name,
        alias: `local-${name}`,
        user: "lab",
        host: `10.77.0.${10 + i}`,
        port: 22,
        privateAddress: `10.77.0.${10 + i}`,
        hostPublicKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB${i}examplekeyexamplekeyexamplekeyexample`,
        hostKeyFingerprint: "SHA256:x",
        arch: "x86_64",
    }));

    let home: string | undefined;
    afterEach(() => {
        if (home) fs.rmSync(home, { recursive: true, force: true });
    });

    /** A HOME with an existing ~/.ssh/config, and a `pulumi` that prints the program's own outputs. */
    function sandbox(): { env: Record<string, string>; home: string } {
        home = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-readme-"));
        fs.mkdirSync(path.join(home, ".ssh"), { mode: 0o700 });
        fs.writeFileSync(path.join(home, ".ssh", "config"), "Host github.com\n    User git\n");
        const bin = path.join(home, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(home, "sshConfig"), renderSshConfig("local", nodes));
        fs.writeFileSync(path.join(home, "knownHosts"), renderKnownHosts(nodes));
        // `pulumi stack output <name>`: the program's rendering of that output.
        fs.writeFileSync(
            path.join(bin, "pulumi"),
            `#!/bin/bash\n[ "$1 $2" = "stack output" ] || { echo "stand-in pulumi: unexpected $*" >&2; exit 2; }\nexec cat "${home}/$3"\n`,
            { mode: 0o755 },
        );
        return { home, env: { HOME: home, PATH: `${bin}:${process.env.PATH}` } };
    }

    it("finds the setup lines: known_hosts and ssh config per lab under ~/.ssh/nixlab, one Include", () => {
        expect(setup.map((l) => withoutComment(l).split(" ").slice(0, 4).join(" "))).toEqual([
            "mkdir -p ~/.ssh/nixlab",
            "pulumi stack output knownHosts",
            "pulumi stack output sshConfig",
            "grep -qsxF 'Include ~/.ssh/nixlab/*.config'",
        ]);
    });

    it("running them twice leaves one Include line (first) and each Host block once; ssh resolves the nodes and the user's own hosts", () => {
        const s = sandbox();
        for (let i = 0; i < 2; i++) {
            const r = bash(setup.join("\n"), s.env, s.home);
            expect(r.status, r.stderr).toBe(0);
        }
        const config = fs.readFileSync(path.join(s.home, ".ssh", "config"), "utf8");
        expect(config.split("\n").filter((l) => l.startsWith("Include"))).toEqual(["Include ~/.ssh/nixlab/*.config"]);
        expect(config.split("\n")[0]).toBe("Include ~/.ssh/nixlab/*.config");
        expect(config).toContain("Host github.com\n    User git\n");
        const labFile = fs.readFileSync(path.join(s.home, ".ssh", "nixlab", "local.config"), "utf8");
        expect(labFile.split("\n").filter((l) => l.startsWith("Host "))).toEqual(["Host local-node-1", "Host local-node-2"]);
        expect(fs.readFileSync(path.join(s.home, ".ssh", "nixlab", "local.known_hosts"), "utf8")).toBe(renderKnownHosts(nodes));

        // OpenSSH itself: it expands `~` from the password database, not $HOME, so it reads
        // a copy whose paths point into the sandbox.
        const copy = path.join(s.home, "ssh_config.resolved");
        fs.writeFileSync(copy, config.replaceAll("~/", `${s.home}/`));
        const g = (host: string) => spawnSync("ssh", ["-G", "-F", copy, host], { encoding: "utf8" });
        const node = g("local-node-2");
        expect(node.status, node.stderr).toBe(0);
        expect(node.stdout).toMatch(/^hostname 10\.77\.0\.11$/m);
        expect(node.stdout).toMatch(/^user lab$/m);
        expect(node.stdout).toMatch(/^stricthostkeychecking true$/m);
        expect(node.stdout).toMatch(/^hostkeyalias local-node-2$/m);
        expect(g("github.com").stdout).toMatch(/^user git$/m);
    });

    it("the teardown line removes the lab's ssh files", () => {
        const s = sandbox();
        expect(bash(setup.join("\n"), s.env, s.home).status).toBe(0);
        // Only the ssh part: destroy and stack rm need a real Pulumi CLI.
        const rm = teardown.split(" && ").filter((c) => c.startsWith("rm "));
        expect(rm).toEqual(["rm -f ~/.ssh/nixlab/local.config ~/.ssh/nixlab/local.known_hosts"]);
        expect(bash(rm.join("\n"), s.env, s.home).status).toBe(0);
        expect(fs.readdirSync(path.join(s.home, ".ssh", "nixlab"))).toEqual([]);
    });
});
