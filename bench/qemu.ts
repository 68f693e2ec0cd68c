/**
 * The limit: the fixture image booted by `qemu-system-x86_64` directly, no libvirt, no
 * program, with the seed nixlab made for the same node (byte for byte), the same machine
 * (q35, TCG, 1 vCPU, 1 GiB, direct kernel boot, virtio disks, virtio-rng, user-mode NIC
 * with the same netdev) inside the bench's own network namespace, until the same ready
 * line is on its serial console.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { must, waitForBanner, within } from "./libvirt";

export interface RawBoot {
    readySeconds: number;
    bannerSeconds: number | undefined;
}

export interface RawBootArgs {
    netns: string;
    work: string;
    fixtureDir: string;
    cmdline: string;
    seedIso: string;
    rootDiskGiB: number;
    memoryMiB: number;
    /** `-netdev` value of the nixlab domain (user mode, hostfwd to the node's port 22). */
    netdev: string;
    mac: string;
    sshPort: number;
    node: string;
    marker: string;
    timeoutSeconds: number;
}

export async function ensureNetns(name: string): Promise<void> {
    if (!fs.existsSync(`/run/netns/${name}`)) await must("ip", ["netns", "add", name]);
    await must("ip", ["-n", name, "link", "set", "lo", "up"]);
}

export async function rawBoot(a: RawBootArgs): Promise<RawBoot> {
    fs.mkdirSync(a.work, { recursive: true });
    const overlay = path.join(a.work, "root.qcow2");
    const serial = path.join(a.work, "serial.log");
    fs.rmSync(overlay, { force: true });
    fs.rmSync(serial, { force: true });
    // What nixlab's root volume is: a qcow2 overlay on the base image, grown to rootDiskGiB.
    await must("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", path.join(a.fixtureDir, "disk.qcow2"), overlay, `${a.rootDiskGiB}G`]);
    const args = [
        "netns", "exec", a.netns,
        "qemu-system-x86_64",
        "-machine", "q35,accel=tcg",
        "-smp", "1",
        "-m", String(a.memoryMiB),
        "-nodefaults", "-no-user-config", "-display", "none",
        "-kernel", path.join(a.fixtureDir, "vmlinuz"),
        "-initrd", path.join(a.fixtureDir, "initrd.img"),
        "-append", a.cmdline,
        "-drive", `file=${overlay},if=virtio,format=qcow2,discard=unmap`,
        "-drive", `file=${a.seedIso},if=virtio,format=raw,readonly=on`,
        "-netdev", a.netdev,
        "-device", `virtio-net-pci,netdev=nixnet0,mac=${a.mac}`,
        "-device", "virtio-rng-pci",
        "-rtc", "base=utc",
        "-serial", `file:${serial}`,
    ];
    const started = Date.now();
    const qemu = spawn("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    qemu.stderr.on("data", (d) => (stderr += d));
    let exited = false;
    qemu.on("close", () => (exited = true));
    const banner = waitForBanner(a.netns, a.sshPort, a.timeoutSeconds * 1000);
    const line = new RegExp(`${a.marker} node=${a.node} `);
    try {
        const deadline = started + a.timeoutSeconds * 1000;
        for (;;) {
            if (fs.existsSync(serial) && line.test(fs.readFileSync(serial, "latin1"))) break;
            if (exited) throw new Error(`raw QEMU exited before the ready line: ${stderr.trim()}`);
            if (Date.now() > deadline) throw new Error(`raw QEMU: no ready line after ${a.timeoutSeconds}s (console: ${serial})`);
            await new Promise((r) => setTimeout(r, 100));
        }
        const readySeconds = (Date.now() - started) / 1000;
        const bannerAt = await within(banner.done, 120_000);
        return { readySeconds, bannerSeconds: bannerAt === undefined ? undefined : (bannerAt - started) / 1000 };
    } finally {
        banner.stop();
        qemu.kill("SIGKILL");
        await new Promise((r) => (exited ? r(undefined) : qemu.on("close", r)));
        fs.rmSync(overlay, { force: true });
    }
}
