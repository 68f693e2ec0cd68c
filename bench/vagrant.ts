/**
 * The peer row: `vagrant up` (vagrant-libvirt) to SSH-ready on the same image and kernel.
 */
import { execFileSync } from "node:child_process";

export type VagrantResult = { seconds: number } | { absent: string };

function installed(cmd: string): boolean {
    try {
        execFileSync("bash", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
        return true;
    } catch {
        return false;
    }
}

export async function vagrantRow(_a: { fixtureDir: string; netns: string; rawReadySeconds: number }): Promise<VagrantResult> {
    if (!installed("vagrant")) return { absent: "vagrant is not installed (Debian: apt-get install vagrant vagrant-libvirt)" };
    return { absent: "not measured yet: a vagrant-libvirt box built from the fixture image is not implemented in this bench" };
}
