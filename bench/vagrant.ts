/**
 * The peer row: `vagrant up` (vagrant-libvirt) on the same image, kernel, initrd and kernel
 * command line as the raw-QEMU row, against the test libvirtd, run inside its network
 * namespace, timed from start to SSH-ready (vagrant's "Machine booted and ready!") and to
 * the same ready line on the guest's serial console as the nixlab and raw-QEMU rows.
 *
 * Nothing here reaches a network: the box is packed from the fixture image and added from
 * a local file under a bench-private VAGRANT_HOME (never ~/.vagrant.d), checkpoint and box
 * update checks are off, no plugin is installed. Vagrant's management network and storage
 * pool carry the bench's own names and subnet, so they never meet a nixlab lab's; the
 * bench creates the pool and removes pool, network, volumes and domain afterwards, then
 * asks libvirt whether anything with those names is left and fails if so.
 *
 * The pure parts (why the row is absent, the Vagrantfile, the box metadata, the seed's
 * network-config, the leftovers check) are unit-tested in test/bench-vagrant.test.ts.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { readyCommand, renderCloudConfig, stringifyYaml11, type NodeKeys } from "../components/cloudinit";
import type { LabSpec, NodeSpec } from "../components/spec";
import { makeIso, renderMetaData, seedInstanceId } from "../providers/libvirt/provider";
import { renderVendorData } from "../providers/libvirt/render";
import { exec, must } from "./libvirt";

/** Every libvirt object and file of this row is named with this prefix (teardown and the leftovers check go by it). */
export const VAGRANT_PREFIX = "nixlab-bench-vagrant";
const MACHINE = "solo";

export const VAGRANT_NAMES = {
    /** vagrant-libvirt names the domain default_prefix + machine name. */
    domain: `${VAGRANT_PREFIX}-${MACHINE}`,
    network: VAGRANT_PREFIX,
    pool: VAGRANT_PREFIX,
    box: `${VAGRANT_PREFIX}-fixture`,
    seedVolume: `${VAGRANT_PREFIX}-cidata.iso`,
    kernelVolume: `${VAGRANT_PREFIX}-vmlinuz`,
    initrdVolume: `${VAGRANT_PREFIX}-initrd.img`,
} as const;

/**
 * vagrant-libvirt's management network: a /24 no nixlab lab, test or bench uses (labs
 * use 10.77-10.81.x and 10.213.7-21.x), and a fixed MAC so the seed's network-config can
 * match the NIC by address, as nixlab's seeds do.
 */
export const MANAGEMENT = { cidr: "10.213.40.0/24", mac: "52:54:00:4e:42:28" } as const;

// ---------------------------------------------------------------------------------------
// Whether the row can run (pure)

export interface VagrantPrereqs {
    /** `vagrant --version`, or undefined when vagrant does not run. */
    vagrantVersion?: string;
    /** Output of `vagrant plugin list` (what vagrant itself loads), or the error it gave. */
    pluginList?: { ok: true; stdout: string } | { ok: false; error: string };
    root: boolean;
    /** The fixture directory the bench boots, and which of its files are missing. */
    fixtureDir?: string;
    fixtureMissing: string[];
}

/** The vagrant-libvirt version in `vagrant plugin list` output (`vagrant-libvirt (0.11.2, system)`). */
export function libvirtPluginVersion(pluginList: string): string | undefined {
    return /^vagrant-libvirt \(([^,)\s]+)/m.exec(pluginList)?.[1];
}

/** Why the vagrant row cannot be measured here, or undefined when it can. */
export function vagrantAbsence(p: VagrantPrereqs): string | undefined {
    if (!p.vagrantVersion) return "vagrant is not installed (Debian: apt-get install vagrant vagrant-libvirt)";
    if (!p.pluginList) return `${p.vagrantVersion} is installed, but \`vagrant plugin list\` was not run`;
    if (!p.pluginList.ok) return `${p.vagrantVersion} is installed, but \`vagrant plugin list\` failed: ${p.pluginList.error}`;
    if (!libvirtPluginVersion(p.pluginList.stdout))
        return `${p.vagrantVersion} is installed but the vagrant-libvirt plugin is not (Debian: apt-get install vagrant-libvirt; \`vagrant plugin list\` shows: ${p.pluginList.stdout.trim() || "nothing"})`;
    if (!p.root) return "the vagrant row needs root: it runs vagrant inside netns nixlab-test (ip netns exec) against the test libvirtd";
    if (!p.fixtureDir) return "no fixture image (test/libvirt/infra/build-fixture-image.sh printed no directory)";
    if (p.fixtureMissing.length > 0) return `the fixture image in ${p.fixtureDir} is incomplete: missing ${p.fixtureMissing.join(", ")} (rebuild with test/libvirt/infra/build-fixture-image.sh)`;
    return undefined;
}

const FIXTURE_FILES = ["disk.qcow2", "vmlinuz", "initrd.img", "image.json"];

function version(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: true; stdout: string } | { ok: false; error: string }> {
    return exec(cmd, args, { env, timeoutMs: 10 * 60_000 }).then((r) =>
        r.code === 0 ? { ok: true as const, stdout: r.stdout } : { ok: false as const, error: r.code === 127 ? "not found" : `exit ${r.code}: ${r.stderr.trim().split("\n").slice(-3).join(" ")}` },
    );
}

export async function vagrantPrereqs(fixtureDir: string | undefined, env: NodeJS.ProcessEnv): Promise<VagrantPrereqs> {
    const v = await version("vagrant", ["--version"], env);
    const p: VagrantPrereqs = {
        root: process.getuid?.() === 0,
        fixtureDir,
        fixtureMissing: fixtureDir ? FIXTURE_FILES.filter((f) => !fs.existsSync(path.join(fixtureDir, f))) : [],
    };
    if (!v.ok) return p;
    p.vagrantVersion = v.stdout.trim();
    p.pluginList = await version("vagrant", ["plugin", "list"], env);
    return p;
}

// ---------------------------------------------------------------------------------------
// What vagrant reads (pure)

/** metadata.json of a libvirt box (v1 format: one qcow2 `box.img`); virtual_size in whole GB, as vagrant-libvirt reads it. */
export function boxMetadata(virtualSizeBytes: number): { provider: "libvirt"; format: "qcow2"; virtual_size: number } {
    return { provider: "libvirt", format: "qcow2", virtual_size: Math.ceil(virtualSizeBytes / 2 ** 30) };
}

/** A Ruby single-quoted string literal. */
export function rubyString(s: string): string {
    return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export interface VagrantfileArgs {
    uri: string;
    /** Volume paths in the bench's pool (qemu runs as libvirt-qemu and cannot read /root). */
    kernel: string;
    initrd: string;
    cmdline: string;
    /** Name of the seed volume in the pool (attached as vdb, virtio, raw). */
    seedVolume: string;
    privateKey: string;
    user: string;
    serialLog: string;
    memoryMiB: number;
    rootDiskGiB: number;
    bootTimeoutSeconds: number;
}

/**
 * The project Vagrantfile: the same machine as the raw-QEMU row (q35, TCG, 1 vCPU, no
 * <cpu> element so QEMU's default model, virtio disk/NIC/rng, no balloon, no graphics,
 * direct kernel boot) with the bench's names for domain, pool and management network.
 */
export function renderVagrantfile(a: VagrantfileArgs): string {
    const r = rubyString;
    const n = VAGRANT_NAMES;
    return [
        "# Generated by nixlab's bench (bench/vagrant.ts); removed after the run.",
        'Vagrant.configure("2") do |config|',
        `  config.vm.box = ${r(n.box)}`,
        "  config.vm.box_check_update = false",
        // Under TCG on a busy 2-core host a boot takes minutes; vagrant's default is 300 s.
        `  config.vm.boot_timeout = ${a.bootTimeoutSeconds}`,
        '  config.vm.synced_folder ".", "/vagrant", disabled: true',
        "  config.ssh.insert_key = false",
        `  config.ssh.username = ${r(a.user)}`,
        `  config.ssh.private_key_path = [${r(a.privateKey)}]`,
        "  config.ssh.keys_only = true",
        `  config.vm.define ${r(MACHINE)} do |m|`,
        "    m.vm.provider :libvirt do |libvirt|",
        `      libvirt.uri = ${r(a.uri)}`,
        '      libvirt.driver = "qemu"',
        `      libvirt.default_prefix = ${r(`${VAGRANT_PREFIX}-`)}`,
        '      libvirt.machine_type = "q35"',
        // nil: no <cpu> element, QEMU's default model under TCG, as raw QEMU and nixlab
        // ("emulated") use; vagrant-libvirt's default host-model is another CPU.
        "      libvirt.cpu_mode = nil",
        "      libvirt.cpus = 1",
        `      libvirt.memory = ${a.memoryMiB}`,
        `      libvirt.machine_virtual_size = ${a.rootDiskGiB}`,
        "      libvirt.disk_driver :discard => 'unmap'",
        "      libvirt.memballoon_enabled = false",
        "      libvirt.random :model => 'random'",
        '      libvirt.graphics_type = "none"',
        `      libvirt.kernel = ${r(a.kernel)}`,
        `      libvirt.initrd = ${r(a.initrd)}`,
        `      libvirt.cmd_line = ${r(a.cmdline)}`,
        `      libvirt.storage_pool_name = ${r(n.pool)}`,
        `      libvirt.storage :file, :path => ${r(a.seedVolume)}, :type => 'raw', :bus => 'virtio', :device => 'vdb', :allow_existing => true`,
        `      libvirt.serial :type => 'file', :source => { :path => ${r(a.serialLog)} }`,
        `      libvirt.management_network_name = ${r(n.network)}`,
        `      libvirt.management_network_address = ${r(MANAGEMENT.cidr)}`,
        `      libvirt.management_network_mac = ${r(MANAGEMENT.mac)}`,
        // Isolated (no NAT rules): the guest needs only the bench's SSH.
        '      libvirt.management_network_mode = "none"',
        '      libvirt.management_network_guest_ipv6 = "no"',
        "    end",
        "  end",
        "end",
        "",
    ].join("\n");
}

/**
 * The seed's network-config: the management NIC matched by its MAC, DHCP from the
 * management network's dnsmasq (vagrant-libvirt finds the guest by its DHCP lease).
 */
export function vagrantNetworkConfig(mac: string): string {
    return stringifyYaml11({ version: 2, ethernets: { mgmt0: { match: { macaddress: mac }, dhcp4: true } } });
}

// ---------------------------------------------------------------------------------------
// Leftovers (pure)

export interface LibvirtNames {
    domains: string[];
    networks: string[];
    pools: string[];
    /** Volumes of every pool, as `pool/volume`. */
    volumes: string[];
}

/** Every object with the row's names, as `kind name`. */
export function vagrantLeftovers(n: LibvirtNames): string[] {
    const ours = (s: string) => s.startsWith(VAGRANT_PREFIX);
    return [
        ...n.domains.filter(ours).map((d) => `domain ${d}`),
        ...n.networks.filter(ours).map((d) => `network ${d}`),
        ...n.pools.filter(ours).map((d) => `pool ${d}`),
        ...n.volumes.filter((v) => ours(v.split("/")[0]!) || ours(v.split("/").slice(1).join("/"))).map((d) => `volume ${d}`),
    ];
}

// ---------------------------------------------------------------------------------------
// The run

export interface VagrantBoot {
    /** `vagrant up` start to its "Machine booted and ready!" line. */
    sshReadySeconds: number;
    /** `vagrant up` start to the ready line on the serial console (undefined: not seen). */
    readyLineSeconds: number | undefined;
    /** `vagrant up` start to its exit (it has nothing else to do after SSH-ready here). */
    exitSeconds: number;
    vagrantVersion: string;
    pluginVersion: string;
}

export interface VagrantArgs {
    uri: string;
    /** The libvirtd's network namespace: vagrant runs there to reach the guest. */
    netns: string;
    work: string;
    fixtureDir: string;
    cmdline: string;
    /** The NoCloud seed (ISO9660, label cidata) to attach; its network-config must match MANAGEMENT.mac. */
    seedIso: string;
    privateKey: string;
    user: string;
    serialLog: string;
    marker: string;
    memoryMiB: number;
    rootDiskGiB: number;
    timeoutSeconds: number;
    log: (line: string) => void;
}

function virsh(uri: string, args: string[]) {
    return exec("virsh", ["-c", uri, ...args]);
}

async function names(uri: string, args: string[]): Promise<string[]> {
    return (await must("virsh", ["-c", uri, ...args]))
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
}

export async function libvirtNames(uri: string): Promise<LibvirtNames> {
    const pools = await names(uri, ["pool-list", "--all", "--name"]);
    const volumes: string[] = [];
    for (const p of pools) {
        const r = await virsh(uri, ["vol-list", p]);
        // An inactive pool lists nothing (and errors): its volumes are its directory's files.
        for (const line of r.code === 0 ? r.stdout.split("\n").slice(2) : []) {
            const name = line.trim().split(/\s+/)[0];
            if (name) volumes.push(`${p}/${name}`);
        }
    }
    return {
        domains: await names(uri, ["list", "--all", "--name"]),
        networks: await names(uri, ["net-list", "--all", "--name"]),
        pools,
        volumes,
    };
}

export function vagrantEnv(work: string): NodeJS.ProcessEnv {
    return {
        ...process.env,
        VAGRANT_HOME: path.join(work, "home"),
        VAGRANT_CWD: path.join(work, "project"),
        VAGRANT_DEFAULT_PROVIDER: "libvirt",
        VAGRANT_CHECKPOINT_DISABLE: "1",
        VAGRANT_BOX_UPDATE_CHECK_DISABLE: "1",
        VAGRANT_NO_COLOR: "1",
    };
}

/**
 * Removes everything with the row's names from the libvirtd (a crashed earlier run's or
 * this run's), then the work dir. Each step tolerates what is already gone.
 */
export async function vagrantTeardown(uri: string, netns: string, work: string, serialLog: string, log: (l: string) => void): Promise<void> {
    const env = vagrantEnv(work);
    if (fs.existsSync(path.join(env.VAGRANT_CWD!, "Vagrantfile"))) {
        const r = await exec("ip", ["netns", "exec", netns, "vagrant", "destroy", "-f"], { env, timeoutMs: 10 * 60_000 });
        if (r.code !== 0) log(`vagrant destroy -f failed (exit ${r.code}), removing by name: ${(r.stdout + r.stderr).trim().split("\n").slice(-5).join(" | ")}`);
    }
    const n = await libvirtNames(uri);
    for (const d of n.domains.filter((d) => d.startsWith(VAGRANT_PREFIX))) {
        await virsh(uri, ["destroy", d]);
        await virsh(uri, ["undefine", d]);
    }
    // Volumes: the box image vagrant-libvirt uploaded, the domain's disk, seed, kernel, initrd.
    for (const v of n.volumes.filter((v) => v.startsWith(`${VAGRANT_NAMES.pool}/`) || v.split("/")[1]!.startsWith(VAGRANT_PREFIX))) {
        const [pool, ...rest] = v.split("/");
        await virsh(uri, ["vol-delete", rest.join("/"), "--pool", pool!]);
    }
    if (n.pools.includes(VAGRANT_NAMES.pool)) {
        await virsh(uri, ["pool-destroy", VAGRANT_NAMES.pool]);
        await virsh(uri, ["pool-delete", VAGRANT_NAMES.pool]);
        await virsh(uri, ["pool-undefine", VAGRANT_NAMES.pool]);
    }
    for (const net of n.networks.filter((x) => x.startsWith(VAGRANT_PREFIX))) {
        await virsh(uri, ["net-destroy", net]);
        await virsh(uri, ["net-undefine", net]);
    }
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(serialLog, { force: true });
    fs.rmSync(domainLog(), { force: true });
    fs.rmSync(poolDir(), { recursive: true, force: true });
}

/** libvirt's own QEMU log of the domain (libvirtd writes it beside the serial logs and never removes it). */
function domainLog(): string {
    return `/var/log/libvirt/qemu/${VAGRANT_NAMES.domain}.log`;
}

function poolDir(): string {
    return `/var/lib/libvirt/images/${VAGRANT_NAMES.pool}`;
}

async function upload(uri: string, file: string, volume: string, format: "raw"): Promise<string> {
    await must("virsh", ["-c", uri, "vol-create-as", VAGRANT_NAMES.pool, volume, String(fs.statSync(file).size), "--format", format]);
    await must("virsh", ["-c", uri, "vol-upload", "--pool", VAGRANT_NAMES.pool, volume, file]);
    return (await must("virsh", ["-c", uri, "vol-path", "--pool", VAGRANT_NAMES.pool, volume])).trim();
}

/** Packs the fixture as a libvirt box (tar of metadata.json, Vagrantfile, box.img) and adds it under the private VAGRANT_HOME. */
async function addBox(a: VagrantArgs, env: NodeJS.ProcessEnv): Promise<void> {
    const dir = path.join(a.work, "box");
    fs.mkdirSync(dir, { recursive: true });
    const info = JSON.parse(await must("qemu-img", ["info", "--output=json", path.join(a.fixtureDir, "disk.qcow2")])) as { "virtual-size": number };
    fs.writeFileSync(path.join(dir, "metadata.json"), JSON.stringify(boxMetadata(info["virtual-size"])) + "\n");
    fs.writeFileSync(path.join(dir, "Vagrantfile"), 'Vagrant.configure("2") do |config|\nend\n');
    // A hard link where possible (same filesystem): tar reads it once either way.
    try {
        fs.linkSync(path.join(a.fixtureDir, "disk.qcow2"), path.join(dir, "box.img"));
    } catch {
        fs.copyFileSync(path.join(a.fixtureDir, "disk.qcow2"), path.join(dir, "box.img"));
    }
    const box = path.join(a.work, "fixture.box");
    await must("tar", ["-C", dir, "-cf", box, "metadata.json", "Vagrantfile", "box.img"]);
    fs.rmSync(dir, { recursive: true, force: true });
    const r = await exec("vagrant", ["box", "add", "--force", "--name", VAGRANT_NAMES.box, "--provider", "libvirt", box], { env, timeoutMs: 30 * 60_000 });
    if (r.code !== 0) throw new Error(`vagrant box add failed (exit ${r.code}): ${(r.stdout + r.stderr).trim()}`);
    fs.rmSync(box, { force: true });
}

/**
 * Boots the fixture with `vagrant up` and times it; always tears down and checks that
 * libvirt holds nothing with the row's names afterwards (throws naming what is left).
 */
export async function vagrantBoot(a: VagrantArgs, p: VagrantPrereqs): Promise<VagrantBoot> {
    const env = vagrantEnv(a.work);
    await vagrantTeardown(a.uri, a.netns, a.work, a.serialLog, a.log);
    let result: VagrantBoot | undefined;
    let failure: unknown;
    try {
        fs.mkdirSync(env.VAGRANT_CWD!, { recursive: true });
        fs.mkdirSync(env.VAGRANT_HOME!, { recursive: true });
        a.log("vagrant: packing the fixture as a box, adding it under a private VAGRANT_HOME");
        await addBox(a, env);
        await must("virsh", ["-c", a.uri, "pool-define-as", VAGRANT_NAMES.pool, "dir", "--target", poolDir()]);
        await must("virsh", ["-c", a.uri, "pool-build", VAGRANT_NAMES.pool]);
        await must("virsh", ["-c", a.uri, "pool-start", VAGRANT_NAMES.pool]);
        const kernel = await upload(a.uri, path.join(a.fixtureDir, "vmlinuz"), VAGRANT_NAMES.kernelVolume, "raw");
        const initrd = await upload(a.uri, path.join(a.fixtureDir, "initrd.img"), VAGRANT_NAMES.initrdVolume, "raw");
        await upload(a.uri, a.seedIso, VAGRANT_NAMES.seedVolume, "raw");
        fs.writeFileSync(
            path.join(env.VAGRANT_CWD!, "Vagrantfile"),
            renderVagrantfile({
                uri: a.uri,
                kernel,
                initrd,
                cmdline: a.cmdline,
                seedVolume: VAGRANT_NAMES.seedVolume,
                privateKey: a.privateKey,
                user: a.user,
                serialLog: a.serialLog,
                memoryMiB: a.memoryMiB,
                rootDiskGiB: a.rootDiskGiB,
                bootTimeoutSeconds: a.timeoutSeconds,
            }),
        );
        a.log(`vagrant: vagrant up in netns ${a.netns} (TCG guest boot)`);
        result = await timeUp(a, env);
        result.vagrantVersion = p.vagrantVersion ?? "?";
        result.pluginVersion = (p.pluginList?.ok && libvirtPluginVersion(p.pluginList.stdout)) || "?";
    } catch (e) {
        failure = e;
    } finally {
        // Kept beside the transcript (outside everything teardown removes) for reading after the run.
        for (const [from, to] of [
            [a.serialLog, "vagrant-serial.log"],
            [domainLog(), "vagrant-qemu.log"],
        ] as const)
            if (fs.existsSync(from)) fs.copyFileSync(from, path.join(path.dirname(a.work), to));
        a.log("vagrant: vagrant destroy -f and removing pool, volumes, network");
        try {
            await vagrantTeardown(a.uri, a.netns, a.work, a.serialLog, a.log);
        } catch (e) {
            failure ??= e;
        }
    }
    const left = vagrantLeftovers(await libvirtNames(a.uri));
    const leftFiles = [a.work, poolDir(), a.serialLog, domainLog()].filter((f) => fs.existsSync(f));
    if (left.length > 0 || leftFiles.length > 0)
        throw new Error(`vagrant row left things behind on ${a.uri}: ${[...left, ...leftFiles.map((f) => `file ${f}`)].join(", ")}${failure ? ` (after: ${String(failure)})` : ""}`);
    if (failure) throw failure;
    return result!;
}

async function timeUp(a: VagrantArgs, env: NodeJS.ProcessEnv): Promise<VagrantBoot> {
    const started = Date.now();
    const child = spawn("ip", ["netns", "exec", a.netns, "vagrant", "up", "--provider", "libvirt", "--no-provision"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let pending = "";
    let sshReadyAt: number | undefined;
    let readyLineAt: number | undefined;
    // Beside the work dir (which teardown removes), for reading after the run.
    const transcript = path.join(path.dirname(a.work), "vagrant-up.log");
    fs.rmSync(transcript, { force: true });
    const onData = (d: Buffer) => {
        const now = Date.now();
        out += d;
        pending += d;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const raw of lines) {
            // Without the upload's progress meter (thousands of `ESC[K Progress: n%` updates).
            const l = raw
                .split(/\x1b\[K|\r/)
                .filter((x) => x !== "" && !/^Progress: \d+%/.test(x))
                .join("");
            fs.appendFileSync(transcript, `${((now - started) / 1000).toFixed(2)} ${l}\n`);
            if (sshReadyAt === undefined && /Machine booted and ready!/.test(l)) sshReadyAt = now;
        }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const line = new RegExp(`${a.marker} node=${MACHINE} `);
    const poll = setInterval(() => {
        if (readyLineAt === undefined && fs.existsSync(a.serialLog) && line.test(fs.readFileSync(a.serialLog, "latin1"))) readyLineAt = Date.now();
    }, 100);
    const killer = setTimeout(() => child.kill("SIGKILL"), a.timeoutSeconds * 1000 + 10 * 60_000);
    const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? 1)));
    const exitedAt = Date.now();
    clearTimeout(killer);
    // The ready line is printed by cloud-init's runcmd, which may come after sshd answers.
    const deadline = Date.now() + 10 * 60_000;
    while (code === 0 && readyLineAt === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    clearInterval(poll);
    if (code !== 0 || sshReadyAt === undefined)
        throw new Error(`vagrant up failed (exit ${code}${sshReadyAt === undefined ? ', no "Machine booted and ready!"' : ""}):\n${out.trim().split("\n").slice(-30).join("\n")}`);
    return {
        sshReadySeconds: (sshReadyAt - started) / 1000,
        readyLineSeconds: readyLineAt === undefined ? undefined : (readyLineAt - started) / 1000,
        exitSeconds: (exitedAt - started) / 1000,
        vagrantVersion: "",
        pluginVersion: "",
    };
}

// ---------------------------------------------------------------------------------------
// The seed

export interface SeedFilesArgs {
    lab: LabSpec;
    node: NodeSpec;
    keys: NodeKeys;
    mac: string;
}

/**
 * The NoCloud seed's files: nixlab's own user-data and vendor-data for the node (the same
 * user, keys and ready line as a nixlab lab), with a network-config for DHCP on the NIC
 * with `mac` (vagrant-libvirt finds the guest by its lease; nixlab's seeds set a static
 * address instead).
 */
export function vagrantSeedFiles(a: SeedFilesArgs): Record<"user-data" | "meta-data" | "network-config" | "vendor-data", string> {
    const userData = renderCloudConfig({ lab: a.lab, node: a.node, keys: a.keys });
    const networkConfig = vagrantNetworkConfig(a.mac);
    const vendorData = renderVendorData(readyCommand(a.node));
    const instanceId = seedInstanceId({ instanceIdPrefix: `${VAGRANT_PREFIX}-${a.node.name}`, userData, networkConfig, vendorData });
    return { "user-data": userData, "meta-data": renderMetaData(instanceId, a.node.name), "network-config": networkConfig, "vendor-data": vendorData };
}

/** Writes the seed ISO (label cidata) with nixlab's own ISO maker; returns its path. */
export async function writeSeedIso(dir: string, files: Record<string, string>): Promise<string> {
    fs.mkdirSync(dir, { recursive: true });
    for (const [f, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), content, { mode: 0o600 });
    const iso = path.join(dir, "seed.iso");
    fs.rmSync(iso, { force: true });
    await makeIso(dir, iso, Object.keys(files));
    for (const f of Object.keys(files)) fs.rmSync(path.join(dir, f), { force: true });
    return iso;
}
