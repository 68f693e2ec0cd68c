/**
 * Capability check for libvirt: what a hypervisor can and cannot give a node, decided
 * from config alone before any resource exists.
 */
import type { MachineChoice, Placement } from "../../components/backend";
import { LAB_CONFIG_KEY, type Arch, type LabSpec } from "../../components/spec";
import type { Problem } from "../../components/problems";
import { show } from "../../components/problems";
import { CONFIG_KEY, type LibvirtConfig } from "./config";

/** QEMU's default machine per arch: q35 (PCIe, what OVMF is tested on) and virt. */
export const DEFAULT_MACHINE: { [a in Arch]: string } = { x86_64: "q35", aarch64: "virt" };

const MACHINE_PATTERNS: { [a in Arch]: { re: RegExp; hint: string } } = {
    x86_64: { re: /^(q35|pc|pc-q35-\d+\.\d+|pc-i440fx-\d+\.\d+)$/, hint: "q35 (the default), pc, or a versioned pc-q35-<ver> / pc-i440fx-<ver>" },
    aarch64: { re: /^virt(-\d+\.\d+)?$/, hint: "virt (the default) or a versioned virt-<ver>" },
};

/** virtio-blk serials are 20 bytes (VIRTIO_BLK_ID_BYTES); longer ones are cut by QEMU. */
export const VIRTIO_SERIAL_MAX = 20;

export function placeLibvirt(lab: LabSpec, cfg: LibvirtConfig): Placement {
    const problems: Problem[] = [];
    const machines: Record<string, MachineChoice> = {};
    for (const node of lab.nodes) {
        const at = node.configPath;
        switch (node.kvm) {
            case "metal":
                problems.push({
                    path: `${at}.kvm`,
                    message:
                        'is "metal", but libvirt nodes are virtual machines; use kvm: nested (host-passthrough CPU, ' +
                        "needs nested virtualization enabled on the hypervisor) or kvm: none",
                });
                break;
            case "nested":
                if (cfg.accelerator === "tcg") {
                    problems.push({
                        path: `${at}.kvm`,
                        message:
                            `is "nested", but ${CONFIG_KEY}.accelerator is "tcg": nested KVM needs the hypervisor's own KVM to pass VMX/SVM through ` +
                            "(host-passthrough CPU), which emulation cannot do; " +
                            "set kvm: none for this node, or accelerator: kvm on a hypervisor with /dev/kvm",
                    });
                }
                break;
            case "none":
                break;
        }
        if (node.arch !== cfg.hypervisorArch && cfg.accelerator === "kvm") {
            problems.push({
                path: `${at}.arch`,
                message:
                    `is ${show(node.arch)}, but the hypervisor is ${cfg.hypervisorArch} (${CONFIG_KEY}.hypervisorArch) and ${CONFIG_KEY}.accelerator is "kvm": ` +
                    `KVM only runs guests of the host's architecture; set accelerator: tcg (slow emulation), or use an ${node.arch} hypervisor`,
            });
        }
        const machineType = node.machineType ?? DEFAULT_MACHINE[node.arch];
        const pattern = MACHINE_PATTERNS[node.arch];
        if (!pattern.re.test(machineType)) {
            problems.push({
                path: `${at}.machineType`,
                message: `${show(machineType)} is not a QEMU machine type for ${node.arch} guests on libvirt; use ${pattern.hint}`,
            });
        }
        node.volumes.forEach((v, i) => {
            if (v.name.length > VIRTIO_SERIAL_MAX) {
                problems.push({
                    path: `${at}.volumes[${i}].name`,
                    message:
                        `${show(v.name)} is ${v.name.length} characters; the volume's virtio serial (/dev/disk/by-id/virtio-<name>) ` +
                        `holds at most ${VIRTIO_SERIAL_MAX}: use a shorter name`,
                });
            }
        });
        machines[node.name] = {
            machineType,
            reason: node.machineType
                ? "set in config"
                : `QEMU's ${machineType} machine for ${node.arch} (${cfg.accelerator === "kvm" ? "KVM" : "TCG emulation"})`,
            nestedVirtualization: node.kvm === "nested",
            // A domain gets exactly what the node asks for.
            vcpus: node.vcpus,
            memoryGiB: node.memoryGiB,
        };
    }
    if (cfg.networkMode === "user") {
        // Node i's SSH is forwarded from base + i: every one must be a real TCP port.
        const last = cfg.sshForwardBasePort + lab.nodes.length - 1;
        if (last > 65535) {
            problems.push({
                path: `${CONFIG_KEY}.sshForwardBasePort`,
                message: `${cfg.sshForwardBasePort} + ${lab.nodes.length} nodes would forward up to port ${last}, past 65535; use a base of at most ${65536 - lab.nodes.length}`,
            });
        }
    }
    (lab.image.artifacts ?? []).forEach((a, i) => {
        const at = `${LAB_CONFIG_KEY}.image.artifacts[${i}]`;
        if (a.format === "tar.gz") {
            problems.push({
                path: `${at}.format`,
                message: '"tar.gz" (a GCE disk.raw tarball) cannot back a libvirt disk; give a qcow2 (or raw, vmdk, vhd) image',
            });
        }
        if (a.arch === "aarch64" && a.bootMode === "bios" && !a.kernel) {
            problems.push({
                path: `${at}.bootMode`,
                message: '"bios" does not exist on aarch64: aarch64 guests boot UEFI; set bootMode: uefi (or give a kernel for direct boot)',
            });
        }
    });
    return { problems: dedupe(problems), machines };
}

/** Counted nodes share one config path; say each problem once. */
function dedupe(problems: Problem[]): Problem[] {
    const seen = new Set<string>();
    return problems.filter((p) => {
        const k = `${p.path}\n${p.message}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
    });
}
