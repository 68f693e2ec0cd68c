/**
 * The bench's vagrant-libvirt row without running a VM: why it is absent, and what vagrant
 * reads (the Vagrantfile, checked by `vagrant validate` with the vagrant-libvirt plugin;
 * the box metadata; the seed), and the leftovers check its teardown relies on.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { readyCommand } from "../components/cloudinit";
import { parseLabConfig } from "../components/spec";
import { renderVendorData } from "../providers/libvirt/render";
import {
    boxMetadata,
    libvirtPluginVersion,
    MANAGEMENT,
    renderVagrantfile,
    rubyString,
    vagrantAbsence,
    vagrantLeftovers,
    vagrantNetworkConfig,
    vagrantPrereqs,
    vagrantSeedFiles,
    type VagrantfileArgs,
    type VagrantPrereqs,
} from "../bench/vagrant";
import { tempDir } from "./support/tmp";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ bench";
const PLUGINS = "vagrant-libvirt (0.11.2, system)\n";
const ready: VagrantPrereqs = {
    vagrantVersion: "Vagrant 2.3.4",
    pluginList: { ok: true, stdout: PLUGINS },
    root: true,
    fixtureDir: "/root/.cache/nixlab/fixture-x",
    fixtureMissing: [],
};

describe("vagrantAbsence: why the vagrant row is absent", () => {
    it("runs when vagrant, the plugin, root and the fixture are there", () => {
        expect(vagrantAbsence(ready)).toBeUndefined();
    });

    it("names each missing prerequisite and its fix", () => {
        expect(vagrantAbsence({ ...ready, vagrantVersion: undefined })).toBe("vagrant is not installed (Debian: apt-get install vagrant vagrant-libvirt)");
        expect(vagrantAbsence({ ...ready, pluginList: { ok: true, stdout: "No plugins installed.\n" } })).toBe(
            "Vagrant 2.3.4 is installed but the vagrant-libvirt plugin is not (Debian: apt-get install vagrant-libvirt; `vagrant plugin list` shows: No plugins installed.)",
        );
        expect(vagrantAbsence({ ...ready, pluginList: { ok: false, error: "exit 1: boom" } })).toBe("Vagrant 2.3.4 is installed, but `vagrant plugin list` failed: exit 1: boom");
        expect(vagrantAbsence({ ...ready, root: false })).toBe(
            "the vagrant row needs root: it runs vagrant inside netns nixlab-test (ip netns exec) against the test libvirtd",
        );
        expect(vagrantAbsence({ ...ready, fixtureDir: undefined })).toBe("no fixture image (test/libvirt/infra/build-fixture-image.sh printed no directory)");
        expect(vagrantAbsence({ ...ready, fixtureMissing: ["vmlinuz", "initrd.img"] })).toBe(
            "the fixture image in /root/.cache/nixlab/fixture-x is incomplete: missing vmlinuz, initrd.img (rebuild with test/libvirt/infra/build-fixture-image.sh)",
        );
    });

    it("checks in order: vagrant, plugin, root, fixture", () => {
        expect(vagrantAbsence({ vagrantVersion: undefined, root: false, fixtureMissing: ["disk.qcow2"] })).toMatch(/^vagrant is not installed/);
        expect(vagrantAbsence({ ...ready, pluginList: { ok: true, stdout: "" }, root: false })).toMatch(/vagrant-libvirt plugin is not/);
        expect(vagrantAbsence({ ...ready, root: false, fixtureDir: undefined })).toMatch(/needs root/);
    });

    it("what the bench finds at run time: vagrant missing, the plugin missing, plugin list failing (shims on PATH)", async () => {
        const dir = tempDir("nixlab-vagrant-shim-");
        const fixture = path.join(dir, "fixture");
        fs.mkdirSync(fixture);
        for (const f of ["disk.qcow2", "vmlinuz", "image.json"]) fs.writeFileSync(path.join(fixture, f), "x");
        const shim = (name: string, body: string) => {
            const bin = path.join(dir, name);
            fs.mkdirSync(bin);
            fs.writeFileSync(path.join(bin, "vagrant"), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
            return { ...process.env, PATH: `${bin}:/usr/bin:/bin`, VAGRANT_HOME: path.join(dir, "home") };
        };
        const root = process.getuid?.() === 0;
        const none = await vagrantPrereqs(fixture, { ...process.env, PATH: path.join(dir, "nothing") });
        expect(none).toEqual({ root, fixtureDir: fixture, fixtureMissing: ["initrd.img"] });
        expect(vagrantAbsence(none)).toBe("vagrant is not installed (Debian: apt-get install vagrant vagrant-libvirt)");
        const noPlugin = await vagrantPrereqs(fixture, shim("noplugin", 'case "$1" in --version) echo "Vagrant 2.3.4";; plugin) echo "No plugins installed.";; esac'));
        expect(noPlugin.pluginList).toEqual({ ok: true, stdout: "No plugins installed.\n" });
        expect(vagrantAbsence(noPlugin)).toBe(
            "Vagrant 2.3.4 is installed but the vagrant-libvirt plugin is not (Debian: apt-get install vagrant-libvirt; `vagrant plugin list` shows: No plugins installed.)",
        );
        const broken = await vagrantPrereqs(fixture, shim("broken", 'case "$1" in --version) echo "Vagrant 2.3.4";; plugin) echo "Vagrant failed to initialize" >&2; exit 1;; esac'));
        expect(vagrantAbsence(broken)).toBe("Vagrant 2.3.4 is installed, but `vagrant plugin list` failed: exit 1: Vagrant failed to initialize");
        // The real vagrant of this machine (CI installs vagrant and vagrant-libvirt): only the fixture stands in the way.
        const real = await vagrantPrereqs(fixture, { ...process.env, VAGRANT_HOME: path.join(dir, "real-home"), VAGRANT_CHECKPOINT_DISABLE: "1" });
        expect(real.vagrantVersion).toMatch(/^Vagrant \d+\.\d+\.\d+$/);
        expect(real.pluginList?.ok && libvirtPluginVersion(real.pluginList.stdout)).toMatch(/^\d+\.\d+\.\d+$/);
        expect(vagrantAbsence({ ...real, root: true })).toBe(
            `the fixture image in ${fixture} is incomplete: missing initrd.img (rebuild with test/libvirt/infra/build-fixture-image.sh)`,
        );
    });

    it("reads the plugin version from `vagrant plugin list`, whatever else is installed", () => {
        expect(libvirtPluginVersion(PLUGINS)).toBe("0.11.2");
        expect(libvirtPluginVersion("vagrant-mutate (1.2.0, global)\nvagrant-libvirt (0.12.2, global)\n  - Version Constraint: > 0\n")).toBe("0.12.2");
        expect(libvirtPluginVersion("vagrant-libvirt-extra (1.0.0, global)\n")).toBeUndefined();
        expect(libvirtPluginVersion("No plugins installed.\n")).toBeUndefined();
    });
});

const vf: VagrantfileArgs = {
    uri: "qemu:///system",
    kernel: "/var/lib/libvirt/images/nixlab-bench-vagrant/nixlab-bench-vagrant-vmlinuz",
    initrd: "/var/lib/libvirt/images/nixlab-bench-vagrant/nixlab-bench-vagrant-initrd.img",
    cmdline: "root=/dev/vda rw console=ttyS0,115200 mitigations=off no_timer_check",
    seedVolume: "nixlab-bench-vagrant-cidata.iso",
    privateKey: "/tmp/nixlab-bench/bench1/user",
    user: "lab",
    serialLog: "/var/log/libvirt/qemu/nixlab-bench-vagrant-solo.serial.log",
    memoryMiB: 1024,
    rootDiskGiB: 4,
    bootTimeoutSeconds: 1800,
};

/** `vagrant validate` (with the vagrant-libvirt plugin) on a Vagrantfile, in a private VAGRANT_HOME. */
function validate(vagrantfile: string): { code: number; out: string } {
    const dir = tempDir("nixlab-vagrant-");
    fs.writeFileSync(path.join(dir, "Vagrantfile"), vagrantfile);
    const r = spawnSync("vagrant", ["validate"], {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, VAGRANT_HOME: path.join(dir, "home"), VAGRANT_CWD: dir, VAGRANT_DEFAULT_PROVIDER: "libvirt", VAGRANT_CHECKPOINT_DISABLE: "1", VAGRANT_NO_COLOR: "1" },
    });
    return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

describe("renderVagrantfile", () => {
    it("passes `vagrant validate` with the vagrant-libvirt provider, which rejects what it does not know", () => {
        const dir = tempDir("nixlab-vagrant-key-");
        const key = path.join(dir, "user");
        fs.writeFileSync(key, "not read by validate\n");
        const text = renderVagrantfile({ ...vf, privateKey: key });
        const ok = validate(text);
        expect(ok.out).toContain("Vagrantfile validated successfully.");
        expect(ok.code).toBe(0);
        // The validator really checks the provider block and the SSH settings.
        const bad = validate(text.replace("      libvirt.cpus = 1\n", "      libvirt.cpus = 1\n      libvirt.cpu_count = 1\n"));
        expect(bad.code).toBe(1);
        expect(bad.out).toContain("The following settings shouldn't exist: cpu_count");
        const noKey = validate(renderVagrantfile({ ...vf, privateKey: path.join(dir, "missing") }));
        expect(noKey.out).toContain(`\`private_key_path\` file must exist: ${path.join(dir, "missing")}`);
    });

    it("boots the raw-QEMU row's machine with the bench's own names, no synced folder, no key insertion, no update check", () => {
        const text = renderVagrantfile(vf);
        for (const line of [
            "  config.vm.box = 'nixlab-bench-vagrant-fixture'",
            "  config.vm.box_check_update = false",
            "  config.vm.boot_timeout = 1800",
            '  config.vm.synced_folder ".", "/vagrant", disabled: true',
            "  config.ssh.insert_key = false",
            "  config.ssh.username = 'lab'",
            "  config.ssh.private_key_path = ['/tmp/nixlab-bench/bench1/user']",
            "  config.vm.define 'solo' do |m|",
            "      libvirt.uri = 'qemu:///system'",
            '      libvirt.driver = "qemu"',
            "      libvirt.default_prefix = 'nixlab-bench-vagrant-'",
            '      libvirt.machine_type = "q35"',
            "      libvirt.cpu_mode = nil",
            "      libvirt.cpus = 1",
            "      libvirt.memory = 1024",
            "      libvirt.machine_virtual_size = 4",
            "      libvirt.kernel = '/var/lib/libvirt/images/nixlab-bench-vagrant/nixlab-bench-vagrant-vmlinuz'",
            "      libvirt.initrd = '/var/lib/libvirt/images/nixlab-bench-vagrant/nixlab-bench-vagrant-initrd.img'",
            "      libvirt.cmd_line = 'root=/dev/vda rw console=ttyS0,115200 mitigations=off no_timer_check'",
            "      libvirt.storage_pool_name = 'nixlab-bench-vagrant'",
            "      libvirt.storage :file, :path => 'nixlab-bench-vagrant-cidata.iso', :type => 'raw', :bus => 'virtio', :device => 'vdb', :allow_existing => true",
            "      libvirt.serial :type => 'file', :source => { :path => '/var/log/libvirt/qemu/nixlab-bench-vagrant-solo.serial.log' }",
            "      libvirt.management_network_name = 'nixlab-bench-vagrant'",
            "      libvirt.management_network_address = '10.213.40.0/24'",
            "      libvirt.management_network_mac = '52:54:00:4e:42:28'",
            '      libvirt.management_network_mode = "none"',
        ])
            expect(text.split("\n")).toContain(line);
        expect(text).not.toMatch(/provision|box_url|box_download/);
    });

    it("quotes strings as Ruby reads them back", () => {
        for (const s of ["plain", "it's", "back\\slash", "\\'", "#{ENV['HOME']}", "a b\tc"]) {
            expect(execFileSync("ruby", ["-e", `print(${rubyString(s)})`], { encoding: "utf8" })).toBe(s);
        }
    });
});

describe("box and seed", () => {
    it("box metadata is v1 libvirt/qcow2 with the virtual size in whole GB, rounded up", () => {
        expect(boxMetadata(2 * 2 ** 30)).toEqual({ provider: "libvirt", format: "qcow2", virtual_size: 2 });
        expect(boxMetadata(2 * 2 ** 30 + 1)).toEqual({ provider: "libvirt", format: "qcow2", virtual_size: 3 });
    });

    it("network-config: DHCP on the NIC matched by its quoted MAC (YAML 1.1)", () => {
        const text = vagrantNetworkConfig("52:54:00:12:34:56");
        expect(text).toBe('version: 2\nethernets:\n  mgmt0:\n    match:\n      macaddress: "52:54:00:12:34:56"\n    dhcp4: true\n');
        expect(parse(text, { version: "1.1" })).toEqual({ version: 2, ethernets: { mgmt0: { match: { macaddress: "52:54:00:12:34:56" }, dhcp4: true } } });
    });

    it("the seed carries nixlab's user-data and vendor-data for the node, and the management MAC", () => {
        const lab = parseLabConfig({ name: "bench1", owner: "bench@example.com", user: { name: "lab", sshAuthorizedKeys: [KEY] }, nodes: [{ name: "solo" }] }, "bench1");
        const keys = { hostPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n", hostPublicKey: "ssh-ed25519 AAAAHOST", operatorPublicKey: "ssh-ed25519 AAAAOP" };
        const files = vagrantSeedFiles({ lab, node: lab.nodes[0]!, keys, mac: MANAGEMENT.mac });
        expect(Object.keys(files).sort()).toEqual(["meta-data", "network-config", "user-data", "vendor-data"]);
        const user = parse(files["user-data"], { version: "1.1" }) as { users: { name: string; ssh_authorized_keys: string[] }[]; runcmd: unknown[] };
        expect(user.users[0]!.name).toBe("lab");
        expect(user.users[0]!.ssh_authorized_keys).toEqual([KEY, "ssh-ed25519 AAAAOP"]);
        expect(user.runcmd.at(-1)).toEqual(["sh", "-c", readyCommand(lab.nodes[0]!)]);
        expect(files["vendor-data"]).toBe(renderVendorData(readyCommand(lab.nodes[0]!)));
        expect(files["network-config"]).toBe(vagrantNetworkConfig("52:54:00:4e:42:28"));
        expect(files["meta-data"]).toMatch(/^instance-id: nixlab-bench-vagrant-solo-[0-9a-f]{16}\nlocal-hostname: solo\n$/);
    });
});

describe("vagrantLeftovers", () => {
    it("finds every domain, network, pool and volume with the row's names, and nothing else", () => {
        expect(
            vagrantLeftovers({
                domains: ["nixlab-bench1-solo", "nixlab-bench-vagrant-solo"],
                networks: ["nixlab-bench8", "nixlab-bench-vagrant"],
                pools: ["nixlab-images", "nixlab-bench-vagrant"],
                volumes: [
                    "nixlab-bench-vagrant/nixlab-bench-vagrant-fixture_vagrant_box_image_0_1764630000_box.img",
                    "nixlab-images/nixlab-base-0123456789abcdef",
                    "default/nixlab-bench-vagrant-solo.img",
                ],
            }),
        ).toEqual([
            "domain nixlab-bench-vagrant-solo",
            "network nixlab-bench-vagrant",
            "pool nixlab-bench-vagrant",
            "volume nixlab-bench-vagrant/nixlab-bench-vagrant-fixture_vagrant_box_image_0_1764630000_box.img",
            "volume default/nixlab-bench-vagrant-solo.img",
        ]);
        expect(vagrantLeftovers({ domains: ["nixlab-bench1-solo"], networks: [], pools: ["default"], volumes: ["default/box.img"] })).toEqual([]);
    });
});
