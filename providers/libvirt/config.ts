/**
 * `nixlab:libvirt`: where and how the lab's VMs run. Validated once by the factory;
 * nothing below reads config again.
 */
import { z } from "zod";
import { ConfigError, show, zodProblems, type Problem } from "../../components/problems";
import { ARCHES, type Arch } from "../../components/spec";

export const CONFIG_KEY = "nixlab:libvirt";

export const ACCELERATORS = ["kvm", "tcg"] as const;
export type Accelerator = (typeof ACCELERATORS)[number];

export const NETWORK_MODES = ["nat", "user"] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

const absolutePath = z.string().startsWith("/", { error: "must be an absolute path" });

export const libvirtConfigSchema = z.strictObject({
    uri: z
        .string()
        .regex(/^[a-z0-9+]+:\/\/[^\s]*\/[a-z]+(\?[^\s]*)?$/, {
            error: "must be a libvirt URI like qemu:///system or qemu+ssh://user@host/system",
        })
        .optional()
        .meta({
            description:
                "libvirt connection URI. `qemu+ssh://user@host/system` puts the lab on a remote hypervisor: images are streamed there with `virsh vol-upload`, serial logs are read over ssh the way libvirt connects (the URI's port, `keyfile`, `command`, `no_verify`), and ssh to the nodes hops through the host (ProxyJump).",
            default: "qemu:///system",
        }),
    accelerator: z
        .enum(ACCELERATORS)
        .optional()
        .meta({
            description:
                "`kvm` runs guests on the hardware (needs /dev/kvm on the hypervisor); `tcg` emulates the CPU in software: slow, but works anywhere (CI containers, foreign arches). `kvm: nested` nodes need `kvm`.",
            default: "kvm",
        }),
    networkMode: z
        .enum(NETWORK_MODES)
        .optional()
        .meta({
            description:
                "`nat`: a libvirt NAT network per lab (bridge + dnsmasq); nodes reach each other and are reached at their private addresses. `user`: QEMU user-mode networking for hosts where bridges are not allowed; each node's SSH is forwarded to a loopback port of the hypervisor and nodes cannot reach each other.",
            default: "nat",
        }),
    sshForwardBasePort: z
        .number()
        .int()
        .min(1024, { error: "must be at least 1024 (unprivileged ports)" })
        .max(65535 - 64, { error: "must leave room for 64 nodes: at most 65471" })
        .optional()
        .meta({ description: "User mode only: node i's SSH is forwarded from 127.0.0.1:(base + i).", default: 2222 }),
    poolDir: absolutePath.optional().meta({ description: "Parent directory of the per-lab storage pools, on the hypervisor.", default: "/var/lib/libvirt/nixlab" }),
    serialLogDir: absolutePath.optional().meta({ description: "Where each node's serial console is logged, on the hypervisor.", default: "/var/log/libvirt/qemu" }),
    uefiLoader: absolutePath.optional().meta({
        description:
            "UEFI firmware code (pflash) for `bootMode: uefi` images, e.g. /usr/share/OVMF/OVMF_CODE_4M.fd (Debian's ovmf) or /run/libvirt/nix-ovmf/OVMF_CODE.fd (NixOS).",
        defaultText: "libvirt picks firmware from the QEMU firmware descriptors (`<os firmware='efi'>`), with Secure Boot off (NixOS images are unsigned)",
    }),
    uefiVarsTemplate: absolutePath
        .optional()
        .meta({ description: "UEFI variable store template matching `uefiLoader`; needs `uefiLoader`.", defaultText: "the firmware descriptor's template" }),
    hypervisorArch: z.enum(ARCHES).optional().meta({
        description: "Architecture of the hypervisor's CPU; KVM runs only guests of the same arch. Set it when a qemu+ssh host differs from this machine.",
        defaultText: "this machine's architecture",
    }),
    readyTimeoutSeconds: z
        .number()
        .int()
        .min(10)
        .max(86400)
        .optional()
        .meta({
            description:
                "How long creating a node may wait for cloud-init to finish (the NIXLAB-READY line on its serial console) before failing with the console's last lines.",
            default: 900,
        }),
    overcommit: z
        .strictObject({
            vcpus: z.number().min(1).max(64).optional().meta({ description: "The lab's total vCPUs may be up to this many times the hypervisor's CPUs.", default: 1 }),
            memory: z.number().min(1).max(4).optional().meta({ description: "The lab's total memory may be up to this many times the hypervisor's memory.", default: 1 }),
            disk: z
                .number()
                .min(1)
                .max(100)
                .optional()
                .meta({ description: "The lab's disks (full virtual size) may be up to this many times the free space where the pool goes.", default: 1 }),
        })
        .optional()
        .meta({
            description:
                "Before anything is created, the lab's total vCPUs, memory and disks are compared with the hypervisor's (virsh nodeinfo, df of the pool directory); a lab that does not fit is refused with the numbers unless these ratios allow it.",
        }),
});

export type LibvirtConfigInput = z.infer<typeof libvirtConfigSchema>;

/** `nixlab:libvirt` with every default applied. */
export interface LibvirtConfig {
    uri: string;
    accelerator: Accelerator;
    networkMode: NetworkMode;
    sshForwardBasePort: number;
    poolDir: string;
    serialLogDir: string;
    uefiLoader?: string;
    uefiVarsTemplate?: string;
    hypervisorArch: Arch;
    readyTimeoutSeconds: number;
    /** Ratios of the hypervisor's capacity the lab may ask for; 1 = no overcommit. */
    overcommit: { vcpus: number; memory: number; disk: number };
}

export const LIBVIRT_DEFAULTS = {
    uri: "qemu:///system",
    accelerator: "kvm",
    networkMode: "nat",
    sshForwardBasePort: 2222,
    poolDir: "/var/lib/libvirt/nixlab",
    serialLogDir: "/var/log/libvirt/qemu",
    // First boot of a NixOS image with cloud-init takes 1-3 minutes under KVM; 15 minutes
    // leaves room for TCG and slow disks without hiding a hung boot for an hour.
    readyTimeoutSeconds: 900,
    /** No overcommit of vCPUs, memory or disk unless the stack says so. */
    overcommit: 1,
} as const satisfies Partial<Record<keyof LibvirtConfig, unknown>>;

/** Node's `process.arch` names → ours. */
export function localArch(nodeArch: string = process.arch): Arch {
    return nodeArch === "arm64" ? "aarch64" : "x86_64";
}

export function parseLibvirtConfig(raw: unknown): LibvirtConfig {
    const parsed = libvirtConfigSchema.safeParse(raw ?? {});
    if (!parsed.success) throw new ConfigError(zodProblems(CONFIG_KEY, raw, parsed.error));
    const c = parsed.data;
    const problems: Problem[] = [];
    const badUri = c.uri === undefined ? undefined : uriProblem(c.uri);
    if (badUri) problems.push({ path: `${CONFIG_KEY}.uri`, message: `${badUri} (got ${show(c.uri)})` });
    if (c.uefiVarsTemplate && !c.uefiLoader) {
        problems.push({
            path: `${CONFIG_KEY}.uefiVarsTemplate`,
            message: "is set without uefiLoader; set both (a code/vars pair from the same firmware build) or neither",
        });
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return {
        uri: c.uri ?? LIBVIRT_DEFAULTS.uri,
        accelerator: c.accelerator ?? LIBVIRT_DEFAULTS.accelerator,
        networkMode: c.networkMode ?? LIBVIRT_DEFAULTS.networkMode,
        sshForwardBasePort: c.sshForwardBasePort ?? LIBVIRT_DEFAULTS.sshForwardBasePort,
        poolDir: stripSlash(c.poolDir ?? LIBVIRT_DEFAULTS.poolDir),
        serialLogDir: stripSlash(c.serialLogDir ?? LIBVIRT_DEFAULTS.serialLogDir),
        uefiLoader: c.uefiLoader,
        uefiVarsTemplate: c.uefiVarsTemplate,
        hypervisorArch: c.hypervisorArch ?? localArch(),
        readyTimeoutSeconds: c.readyTimeoutSeconds ?? LIBVIRT_DEFAULTS.readyTimeoutSeconds,
        overcommit: {
            vcpus: c.overcommit?.vcpus ?? LIBVIRT_DEFAULTS.overcommit,
            memory: c.overcommit?.memory ?? LIBVIRT_DEFAULTS.overcommit,
            disk: c.overcommit?.disk ?? LIBVIRT_DEFAULTS.overcommit,
        },
    };
}

function stripSlash(p: string): string {
    return p.length > 1 ? p.replace(/\/+$/, "") : p;
}

/** What the URI says about reaching the hypervisor. */
export interface UriTarget {
    /** undefined for a local hypervisor (`qemu:///system`). */
    host?: string;
    user?: string;
    port?: number;
    /** `?keyfile=` of a qemu+ssh URI. */
    keyfile?: string;
}

/**
 * Splits `driver[+transport]://[user@]host[:port]/path[?query]`. Only ssh transports
 * can be remote here: the serial log is read with `ssh` and node SSH hops through it.
 */
export function parseUri(uri: string): UriTarget {
    const m = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/(?:([^@/?]+)@)?([^/:?]*)(?::(\d+))?(\/[^?]*)(?:\?(.*))?$/.exec(uri);
    if (!m || !m[4]) return {};
    const query = new URLSearchParams(m[7] ?? "");
    return {
        host: m[4],
        user: m[3],
        port: m[5] ? Number(m[5]) : undefined,
        keyfile: query.get("keyfile") ?? undefined,
    };
}

/** The `-J` argument for reaching nodes behind a remote hypervisor, e.g. `alice@hv:2222`. */
export function proxyJumpFor(target: UriTarget): string | undefined {
    if (!target.host) return undefined;
    return `${target.user ? `${target.user}@` : ""}${target.host}${target.port ? `:${target.port}` : ""}`;
}

/**
 * How the backend itself runs ssh to a remote hypervisor (to read serial logs): the same
 * program, identity and host-key policy libvirt's ssh transport uses for that URI, so a
 * URI that works for `virsh -c` works for readiness too. libvirt's ssh transport honours
 * `?command=` (the ssh program; a wrapper is how to hand it an ssh config such as a pinned
 * known_hosts, since it ignores `?known_hosts=`, which only its libssh/libssh2 transports
 * read), `?keyfile=` (-i) and `?no_verify=` (non-zero: StrictHostKeyChecking=no).
 * Source: libvirt's uri.html ("Extra parameters"). undefined for a local hypervisor.
 */
export function hypervisorSshFor(uri: string): { command: string; args: string[] } | undefined {
    const target = parseUri(uri);
    if (!target.host) return undefined;
    const query = new URLSearchParams(/\?(.*)$/.exec(uri)?.[1] ?? "");
    const noVerify = Number(query.get("no_verify") ?? "0") !== 0;
    return {
        command: query.get("command") || "ssh",
        args: [
            ...(target.port ? ["-p", String(target.port)] : []),
            ...(target.keyfile ? ["-i", target.keyfile] : []),
            ...(noVerify ? ["-o", "StrictHostKeyChecking=no"] : []),
            // `--`: the destination is never read as an option (uriProblem refuses a host or
            // user starting with "-" too; this holds for state written before that check).
            "--",
            `${target.user ? `${target.user}@` : ""}${target.host}`,
        ],
    };
}

/** Problems with the URI that a regex cannot see (transport we cannot follow for logs). */
export function uriProblem(uri: string): string | undefined {
    const m = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/]*)\//.exec(uri);
    if (!m) return undefined;
    if (m[1] !== "qemu") return `driver ${JSON.stringify(m[1])} is not QEMU; nixlab drives QEMU/KVM guests only (use qemu:///system or qemu+ssh://user@host/system)`;
    // ssh (and libvirt's ssh transport, which runs `ssh [-l user] host`) would read a
    // destination starting with "-" as an option: `-oProxyCommand=...` runs a command.
    const target = parseUri(uri);
    for (const [part, value] of [["host", target.host], ["user", target.user]] as const) {
        if (value?.startsWith("-")) return `the ${part} ${JSON.stringify(value)} begins with "-", which ssh would read as an option; give the hypervisor's real host name or address`;
    }
    const remote = m[3] !== "";
    if (remote && m[2] !== "ssh") {
        return `remote transport ${JSON.stringify(m[2] ?? "tls")} is not supported: nixlab reads serial logs and reaches nodes over ssh; use qemu+ssh://user@host/system`;
    }
    return undefined;
}
