/**
 * What the program expects of the lab image, checked against images/modules/base.nix
 * itself, so the two cannot drift apart:
 *
 * - every command under /run/current-system/sw/bin that the SSH readiness script or the
 *   Ansible inventory names is provided by a package in base.nix's
 *   environment.systemPackages (base.nix evaluated with nix-instantiate against the fake
 *   module arguments in test/fixtures/images/fake-module-args.nix);
 * - the metadata guard: the nft file the image's unit loads is the one in the repository,
 *   real `nft -c` accepts it, and loaded into a router namespace it drops forwarded
 *   traffic to the metadata addresses and nothing else.
 *
 * Needs nix-instantiate (nix-bin), nft (nftables), ip (iproute2) and root (network
 * namespaces); .ci/run installs them.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { renderAnsibleInventory } from "../components/outputs";
import { NIXOS_SYSTEM_BIN, readinessScript } from "../components/ready";
import type { NodeSpec } from "../components/spec";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "..");
const BASE = path.join(ROOT, "images/modules/base.nix");
const GUARD = path.join(ROOT, "images/modules/metadata-guard.nft");
const ARGS = path.join(ROOT, "test/fixtures/images/fake-module-args.nix");

interface Evaluated {
    bins: string[];
    guard: { wantedBy: string[]; before: string[]; serviceConfig: { Type: string; ExecStart: string; ExecStop: string } };
    /** The store path `${./metadata-guard.nft}` becomes in base.nix. */
    guardStorePath: string;
}

async function evaluate(isx86_64: boolean): Promise<Evaluated> {
    const expr = `
        let
          m = import ${BASE} (import ${ARGS} { isx86_64 = ${isx86_64}; });
        in {
          bins = builtins.concatMap (p: p.nixlabBins) m.environment.systemPackages;
          guard = m.systemd.services.nixlab-metadata-guard;
          guardStorePath = "\${${GUARD}}";
        }`;
    const { stdout } = await run("nix-instantiate", ["--store", "dummy://", "--eval", "--json", "--strict", "-E", expr], { cwd: ROOT });
    return JSON.parse(stdout) as Evaluated;
}

/** Every `/run/current-system/sw/bin/<command>` a text names. */
function systemBinCommands(text: string): string[] {
    const re = new RegExp(`${NIXOS_SYSTEM_BIN.replaceAll("/", "\\/")}\\/([A-Za-z0-9._+-]+)`, "g");
    return [...text.matchAll(re)].map((m) => m[1]!);
}

const node = (kvm: NodeSpec["kvm"]) => ({ name: "n", kvm }) as NodeSpec;

describe("the image provides what the program runs on it", () => {
    let images: Record<"x86_64" | "aarch64", Evaluated>;
    beforeAll(async () => {
        const [x86_64, aarch64] = await Promise.all([evaluate(true), evaluate(false)]);
        images = { x86_64, aarch64 };
    });

    const needed = [
        ...new Set([
            ...(["none", "nested", "metal"] as const).flatMap((k) => systemBinCommands(readinessScript(node(k)))),
            ...systemBinCommands(
                renderAnsibleInventory("lab", [
                    { name: "n", alias: "lab-n", user: "lab", host: "h", port: 22, privateAddress: "10.0.0.10", hostPublicKey: "k", hostKeyFingerprint: "f", arch: "x86_64" },
                ]),
            ),
        ]),
    ].sort();

    test("the readiness script and the inventory name cloud-init and python3 by absolute path", () => {
        expect(needed).toEqual(["cloud-init", "python3"]);
    });

    test.each(["x86_64", "aarch64"] as const)("every one of them is in base.nix's environment.systemPackages (%s)", (arch) => {
        const missing = needed.filter((cmd) => !images[arch].bins.includes(cmd));
        expect(missing, `not installed by images/modules/base.nix: ${missing.join(", ")}`).toEqual([]);
    });

    test("the metadata guard unit loads the repository's nft file, before libvirt, at boot", () => {
        const { guard, guardStorePath } = images.x86_64;
        expect(guardStorePath).toMatch(/^\/nix\/store\/[a-z0-9]{32}-metadata-guard\.nft$/);
        expect(guard.serviceConfig).toEqual({
            Type: "oneshot",
            RemainAfterExit: true,
            ExecStart: `/fake-store/nftables/bin/nft -f ${guardStorePath}`,
            ExecStop: "/fake-store/nftables/bin/nft delete table inet nixlab-metadata-guard",
        });
        expect(guard.wantedBy).toEqual(["multi-user.target"]);
        expect(guard.before).toContain("libvirtd.service");
        expect(images.aarch64.guard).toEqual(guard);
    });
});

describe("the metadata guard, with the real nft", () => {
    test("nft -c accepts the file (in a fresh network namespace)", async () => {
        await run("unshare", ["-n", "nft", "-c", "-f", GUARD]);
    });

    test("nft -c rejects a broken file, so the check above can fail", async () => {
        const broken = spawn("unshare", ["-n", "nft", "-c", "-f", "-"]);
        broken.stdin.end("table inet t { chain c { type filter hook forward priority filter; ip daddr 169.254.169.254 dorp } }\n");
        const code = await new Promise<number | null>((r) => broken.on("close", r));
        expect(code).toBe(1);
    });

    /**
     * Three namespaces: a nested guest, the lab node routing for it (where the guard is
     * loaded, as the image loads it) and a "cloud" holding the metadata addresses and a
     * control address. A TCP connect from the guest shows what gets through.
     */
    describe("forwarded traffic through a node namespace", () => {
        const id = `${process.pid}`;
        const ns = { guest: `nixlab-mg-guest-${id}`, node: `nixlab-mg-node-${id}`, cloud: `nixlab-mg-cloud-${id}` };
        let server: ChildProcess | undefined;
        const inNs = (n: string, ...cmd: string[]) => run("ip", ["netns", "exec", n, ...cmd]);
        const setup = [
            ["netns", "add", ns.guest],
            ["netns", "add", ns.node],
            ["netns", "add", ns.cloud],
            // No duplicate address detection: addresses (link-local ones too) usable at once.
            ...Object.values(ns).map((n) => ["netns", "exec", n, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"]),
            ["link", "add", "g0", "netns", ns.guest, "type", "veth", "peer", "n0", "netns", ns.node],
            ["link", "add", "n1", "netns", ns.node, "type", "veth", "peer", "c0", "netns", ns.cloud],
            ["-n", ns.guest, "addr", "add", "10.99.0.2/24", "dev", "g0"],
            ["-n", ns.guest, "-6", "addr", "add", "fd00:99::2/64", "dev", "g0", "nodad"],
            ["-n", ns.node, "addr", "add", "10.99.0.1/24", "dev", "n0"],
            ["-n", ns.node, "-6", "addr", "add", "fd00:99::1/64", "dev", "n0", "nodad"],
            ["-n", ns.node, "addr", "add", "10.98.0.1/24", "dev", "n1"],
            ["-n", ns.node, "-6", "addr", "add", "fd00:98::1/64", "dev", "n1", "nodad"],
            ["-n", ns.cloud, "addr", "add", "10.98.0.2/24", "dev", "c0"],
            ["-n", ns.cloud, "-6", "addr", "add", "fd00:98::2/64", "dev", "c0", "nodad"],
            ["-n", ns.cloud, "addr", "add", "169.254.169.254/32", "dev", "c0"],
            ["-n", ns.cloud, "-6", "addr", "add", "fd00:ec2::254/128", "dev", "c0", "nodad"],
            ["-n", ns.guest, "link", "set", "g0", "up"],
            ["-n", ns.node, "link", "set", "n0", "up"],
            ["-n", ns.node, "link", "set", "n1", "up"],
            ["-n", ns.cloud, "link", "set", "c0", "up"],
            ["-n", ns.cloud, "link", "set", "lo", "up"],
            ["-n", ns.guest, "route", "add", "default", "via", "10.99.0.1"],
            ["-n", ns.guest, "-6", "route", "add", "default", "via", "fd00:99::1"],
            ["-n", ns.node, "route", "add", "169.254.169.254/32", "via", "10.98.0.2"],
            ["-n", ns.node, "-6", "route", "add", "fd00:ec2::254/128", "via", "fd00:98::2"],
            ["-n", ns.cloud, "route", "add", "10.99.0.0/24", "via", "10.98.0.1"],
            ["-n", ns.cloud, "-6", "route", "add", "fd00:99::/64", "via", "fd00:98::1"],
        ];

        /**
         * Whether a TCP connection from the guest to addr:8080 is answered within 2 s, in
         * any of 3 attempts (a first packet can wait on neighbour discovery; a loaded
         * machine must not make a reachable address look blocked).
         */
        async function reaches(addr: string): Promise<boolean> {
            for (let attempt = 0; attempt < 3; attempt++) if (await connectOnce(addr)) return true;
            return false;
        }

        async function connectOnce(addr: string): Promise<boolean> {
            const target = addr.includes(":") ? `[${addr}]` : addr;
            try {
                const { stdout } = await inNs(
                    ns.guest,
                    process.execPath,
                    "-e",
                    `const s = require("net").connect({ host: ${JSON.stringify(addr)}, port: 8080, timeout: 2000 });
                     s.on("data", (d) => { process.stdout.write(String(d)); s.end(); });
                     s.on("timeout", () => { process.stdout.write("timeout ${target}"); process.exit(3); });
                     s.on("error", (e) => { process.stdout.write(String(e)); process.exit(4); });`,
                );
                return stdout === "metadata";
            } catch {
                return false;
            }
        }

        beforeAll(async () => {
            for (const args of setup) await run("ip", args);
            await inNs(ns.node, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
            server = spawn("ip", ["netns", "exec", ns.cloud, process.execPath, "-e", `require("net").createServer((s) => s.end("metadata")).listen(8080, "::", () => console.log("listening"))`]);
            await new Promise<void>((resolve, reject) => {
                server!.stdout!.once("data", () => resolve());
                server!.once("exit", (c) => reject(new Error(`listener exited with ${c}`)));
            });
        });

        afterAll(async () => {
            server?.kill();
            for (const n of Object.values(ns)) await run("ip", ["netns", "del", n]).catch(() => undefined);
        });

        test("without the guard, the guest reaches both metadata addresses; with it, neither, and other traffic still flows", async () => {
            expect(await Promise.all(["169.254.169.254", "fd00:ec2::254", "10.98.0.2"].map(reaches))).toEqual([true, true, true]);

            // Twice, as a restarted unit would: the file replaces its table rather than failing.
            await inNs(ns.node, "nft", "-f", GUARD);
            await inNs(ns.node, "nft", "-f", GUARD);

            // One 2 s attempt shows a dropped SYN; the control addresses get the retries.
            expect(await Promise.all([connectOnce("169.254.169.254"), connectOnce("fd00:ec2::254"), reaches("10.98.0.2"), reaches("fd00:98::2")])).toEqual([
                false,
                false,
                true,
                true,
            ]);
            const { stdout } = await inNs(ns.node, "nft", "-j", "list", "table", "inet", "nixlab-metadata-guard");
            const counters = (JSON.parse(stdout).nftables as { rule?: { expr: { counter?: { packets: number } }[] } }[])
                .filter((x) => x.rule)
                .map((x) => x.rule!.expr.find((e) => e.counter)!.counter!.packets);
            expect(counters).toHaveLength(2);
            for (const packets of counters) expect(packets).toBeGreaterThan(0);
            // The node itself still reaches the metadata service (output, not forward).
            const own = await inNs(ns.node, process.execPath, "-e", `require("net").connect(8080, "169.254.169.254").on("data", (d) => { process.stdout.write(String(d)); process.exit(0); })`);
            expect(own.stdout).toBe("metadata");
        });
    });
});

beforeAll(() => {
    for (const [tool, pkg] of [
        ["nix-instantiate", "nix-bin"],
        ["nft", "nftables"],
        ["ip", "iproute2"],
    ]) {
        try {
            execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
        } catch {
            throw new Error(`${tool} is not on PATH; these tests need it: apt-get install ${pkg} (.ci/run does)`);
        }
    }
});
