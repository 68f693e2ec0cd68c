/**
 * What the bench ran on, so a number can be read against its machine: CPU, cores,
 * memory, kernel, QEMU and libvirt versions, the accelerator, and how busy the machine
 * was when the run started (a shared CI runner is not an idle laptop).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";

export interface Machine {
    date: string;
    cpuModel: string;
    cores: number;
    memoryGiB: number;
    kernel: string;
    qemu: string;
    libvirt: string;
    accel: string;
    loadAverage: string;
}

function firstLine(cmd: string, args: string[]): string {
    try {
        return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n")[0]!.trim();
    } catch {
        return `(${cmd} not available)`;
    }
}

export function describeMachine(uri: string): Machine {
    const cpuinfo = fs.existsSync("/proc/cpuinfo") ? fs.readFileSync("/proc/cpuinfo", "utf8") : "";
    const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown";
    let libvirt = "(virsh not available)";
    try {
        const v = execFileSync("virsh", ["-c", uri, "version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
        const lib = /Using library: libvirt ([\d.]+)/.exec(v)?.[1];
        // Only a daemon of another version than the library says so.
        const daemon = /Running against daemon: ([\d.]+)/.exec(v)?.[1];
        libvirt = `libvirt ${lib ?? "?"}${daemon ? ` (daemon ${daemon})` : ""}`;
    } catch {
        // no daemon: the libvirt rows say so
    }
    let kvm = "no /dev/kvm";
    try {
        fs.accessSync("/dev/kvm", fs.constants.R_OK | fs.constants.W_OK);
        kvm = "/dev/kvm present";
    } catch {
        if (fs.existsSync("/dev/kvm")) kvm = "/dev/kvm not accessible";
    }
    return {
        date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        cpuModel: model,
        cores: os.cpus().length,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        kernel: `${os.type()} ${os.release()}`,
        qemu: firstLine("qemu-system-x86_64", ["--version"]).replace(/^QEMU emulator version /, "QEMU "),
        libvirt,
        // Guests in the bench always run under TCG (as the real-libvirt suite does), so the
        // rows compare like with like on any host; KVM availability is noted only.
        accel: `TCG (${kvm})`,
        loadAverage: os.loadavg().map((l) => l.toFixed(2)).join(" "),
    };
}
