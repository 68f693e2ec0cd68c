/**
 * The peer row: `vagrant up` (vagrant-libvirt) to SSH-ready on the same image and kernel.
 * Not measured yet; the row says why, with what is installed.
 */
import { execFileSync } from "node:child_process";

export type VagrantResult = { seconds: number } | { absent: string };

function version(cmd: string, args: string[]): string | undefined {
    try {
        return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
        return undefined;
    }
}

export async function vagrantRow(): Promise<VagrantResult> {
    const vagrant = version("vagrant", ["--version"]);
    if (!vagrant) return { absent: "vagrant is not installed (Debian: apt-get install vagrant vagrant-libvirt)" };
    const plugin = version("dpkg-query", ["-W", "-f", "${Version}", "vagrant-libvirt"]);
    if (!plugin) return { absent: `${vagrant} is installed but vagrant-libvirt is not (Debian: apt-get install vagrant-libvirt)` };
    return {
        absent:
            `${vagrant} and vagrant-libvirt ${plugin} are installed, but this bench does not yet build a vagrant box ` +
            "from the fixture image. Boxes normally download; a local one needs the fixture packed as a libvirt box, " +
            "a `vagrant` user with vagrant's insecure key (a cidata seed attached as a CD-ROM), a storage pool and " +
            "vagrant's management network, and vagrant itself run inside the namespace to reach the guest.",
    };
}
