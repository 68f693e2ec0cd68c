/**
 * Global setup of the real-libvirt suite (vitest.libvirt.config.mts): a private libvirtd
 * inside the network namespace `nixlab-test` (infra/start-libvirtd.sh) and the fixture
 * image (infra/build-fixture-image.sh, cached under ~/.cache/nixlab). Stops the daemon
 * again afterwards if this run started it.
 *
 * Env: NIXLAB_FIXTURE_DIR   use this fixture instead of building/caching one
 *      NIXLAB_KEEP_LIBVIRTD=1  leave the daemon and namespace running afterwards
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
    export interface ProvidedContext {
        /** Directory with disk.qcow2, vmlinuz, initrd.img and image.json. */
        fixtureDir: string;
        /** Network namespace libvirtd (and so every guest network) lives in. */
        netns: string;
    }
}

const INFRA = path.join(__dirname, "infra");

function script(name: string, args: string[] = []): Promise<string> {
    return new Promise((resolve, reject) => {
        const started = Date.now();
        const child = execFile(path.join(INFRA, name), args, { maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60_000 }, (err, stdout, stderr) => {
            if (err) reject(new Error(`${name} failed: ${err.message}\n${stderr.slice(-4000)}`));
            else {
                process.stderr.write(`[libvirt setup] ${name} done in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
                resolve(stdout.trim().split("\n").pop() ?? "");
            }
        });
        child.stderr?.on("data", (d: Buffer) => process.stderr.write(d));
    });
}

function libvirtdRunning(): boolean {
    try {
        const pid = fs.readFileSync("/run/libvirtd.pid", "utf8").trim();
        return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "libvirtd";
    } catch {
        return false;
    }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
    if (process.getuid?.() !== 0) throw new Error("the real-libvirt suite must run as root (libvirtd, network namespaces, debootstrap)");
    for (const f of ["start-libvirtd.sh", "stop-libvirtd.sh", "build-fixture-image.sh"]) {
        if (!fs.existsSync(path.join(INFRA, f))) throw new Error(`test/libvirt/infra/${f} is missing: the suite needs it`);
    }
    const wasRunning = libvirtdRunning();
    const netns = await script("start-libvirtd.sh");
    const fixtureDir = process.env.NIXLAB_FIXTURE_DIR ?? (await script("build-fixture-image.sh"));
    for (const f of ["image.json", "disk.qcow2", "vmlinuz", "initrd.img"]) {
        if (!fs.existsSync(path.join(fixtureDir, f))) throw new Error(`fixture ${fixtureDir} has no ${f}`);
    }
    project.provide("fixtureDir", fixtureDir);
    project.provide("netns", netns || "nixlab-test");
    return async () => {
        if (!wasRunning && process.env.NIXLAB_KEEP_LIBVIRTD !== "1") await script("stop-libvirtd.sh");
    };
}
