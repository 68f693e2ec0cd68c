/**
 * The portable lab model: what a lab is, independent of any cloud. Stack config
 * (`nixlab:lab`) is parsed and validated here once, at program start; everything after
 * this works on the resolved, defaulted `LabSpec`.
 */
import { z } from "zod";
import { DEFAULT_LAB_TTL, parseDuration, TTL_CEILING, TTL_DEFAULT_MAX, TTL_DEFAULT_MIN, TTL_FLOOR, ttlProblem } from "./duration";
import { ConfigError, Problem, keyPath, show, zodProblems } from "./problems";
import { sshPublicKeyProblem } from "./sshkey";

export const ARCHES = ["x86_64", "aarch64"] as const;
export type Arch = (typeof ARCHES)[number];

/** none: no /dev/kvm needed; nested: KVM inside a VM; metal: a bare-metal machine. */
export const KVM_MODES = ["none", "nested", "metal"] as const;
export type KvmMode = (typeof KVM_MODES)[number];

export const BOOT_MODES = ["uefi", "bios"] as const;
export type BootMode = (typeof BOOT_MODES)[number];

/** Disk image formats an artifact may have. `tar.gz` is GCE's disk.raw-in-a-tarball. */
export const IMAGE_FORMATS = ["qcow2", "raw", "vhd", "vmdk", "tar.gz"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export const LAB_CONFIG_KEY = "nixlab:lab";

/**
 * Most nodes in one lab, counted or named alike. Keeps every derived number in range
 * (user-mode ports base+i, addresses .10+i) and the plan small: 10,000 named nodes ran
 * the plan out of memory before this cap.
 */
export const MAX_NODES = 64;

// RFC 1123 label, kept short because clouds append suffixes to resource names
// (GCP names max 63, Azure storage accounts 24) and hostnames end up in DNS.
const dnsLabel = z
    .string()
    .regex(/^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/, {
        error: "must be a lowercase DNS label: a-z first, then a-z, 0-9 or '-', at most 32 characters, not ending in '-'",
    });

const ttl = z.string().regex(/^\d+[mhd]$/, { error: "must be a duration like 90m, 8h or 3d" });
/** minTtl / maxTtl: a duration within TTL_FLOOR..TTL_CEILING. */
const ttlBound = z.string().refine((t) => ttlProblem(t, { min: TTL_FLOOR, max: TTL_CEILING }) === undefined, {
    error: `must be a duration from ${TTL_FLOOR} to ${TTL_CEILING}, like 10m or 90d`,
});

/** Any IPv4 CIDR with its host bits clear (who may reach SSH: public ranges allowed). */
const cidrV4 = z.string().superRefine((s, ctx) => {
    const problem = cidrV4Problem(s);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});


/**
 * Characters XML 1.0 cannot hold at all, escaped or not (tags land in libvirt's
 * <metadata>): C0 controls other than tab/newline/CR, lone surrogates, U+FFFE/U+FFFF.
 */
// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// Descriptions and defaults live in each schema's .meta(): the README's configuration
// reference is generated from them (npm run docs), and validation messages come from the
// same schemas (components/schemaText.ts).
const tags = z.record(
    z
        .string()
        .regex(/^[A-Za-z0-9_.:/=+@-]{1,63}$/, {
            error: "must be a tag key of 1-63 characters of A-Z a-z 0-9 _ . : / = + @ -",
        })
        // gc, list and the policy pack trust nixlab:* tags; only the program writes them.
        .refine((k) => !k.startsWith("nixlab:"), { error: "tag keys starting with nixlab: are reserved for nixlab's own tags; rename the key" }),
    z
        .string()
        .max(255, { error: "tag values are at most 255 characters" })
        .refine((v) => !NOT_XML_CHAR.test(v), { error: "tag values must not hold control characters (other than tab and newline) or unpaired surrogates: they cannot be written into XML metadata" }),
);

const writeFile = z.strictObject({
    path: z.string().startsWith("/", { error: "must be an absolute path" }).meta({ description: "Absolute path of the file in the guest." }),
    content: z.string().meta({ description: "The file's content (encoded as `encoding` says)." }),
    permissions: z
        .string()
        .regex(/^0[0-7]{3}$/, { error: "must be an octal mode string like \"0644\"" })
        .optional()
        .meta({ description: "Octal mode, quoted in YAML.", default: "0644" }),
    owner: z.string().min(1).optional().meta({ description: "`user:group` that owns the file.", default: "root:root" }),
    encoding: z
        .enum(["b64", "gzip+b64", "text/plain"])
        .optional()
        .meta({ description: "How `content` is encoded: base64, gzipped then base64, or plain text.", default: "text/plain" }),
});

const cloudInitExtras = z.strictObject({
    packages: z
        .array(z.string().min(1))
        .optional()
        .meta({ description: "Packages for cloud-init's package module. On NixOS images, prefer adding them to the image.", default: [] }),
    writeFiles: z.array(writeFile).optional().meta({ description: "Files cloud-init writes at first boot.", default: [] }),
    runcmd: z
        .array(z.union([z.string(), z.array(z.string())]).meta({ expected: "a shell command line, or a list of argv words" }))
        .optional()
        .meta({ description: "Commands run once at first boot, after the lab's own setup.", default: [] }),
});

const volume = z.strictObject({
    name: dnsLabel.meta({ description: "Volume name, unique per node; part of the disk's resource name." }),
    sizeGiB: z.number().int().min(1).max(16384).meta({ description: "Size in GiB." }),
});

/** Fields a node can set; all optional so `defaults` and per-node entries can both use them. */
const nodeFields = {
    arch: z.enum(ARCHES).optional().meta({ description: "CPU architecture; picks the image and the machine type.", default: "x86_64" }),
    vcpus: z.number().int().min(1).max(448).optional().meta({ description: "Virtual CPUs.", default: 2 }),
    memoryGiB: z.number().min(0.5).max(12288).optional().meta({ description: "Memory in GiB.", default: 4 }),
    rootDiskGiB: z.number().int().min(4).max(16384).optional().meta({ description: "Root disk size in GiB.", default: 20 }),
    volumes: z.array(volume).optional().meta({ description: "Extra blank volumes, attached in order.", default: [] }),
    kvm: z
        .enum(KVM_MODES)
        .optional()
        .meta({ description: "`/dev/kvm` in the node: `none`, `nested` (KVM inside a VM) or `metal` (a bare-metal machine).", default: "nested" }),
    machineType: z
        .string()
        .min(1)
        .optional()
        .meta({ description: "A backend-specific machine type/size/flavor that overrides the catalog; still checked for arch and kvm.", defaultText: "the smallest catalog type that fits" }),
    cloudInit: cloudInitExtras.optional().meta({ description: "cloud-init extras, merged after nixlab's own setup (defaults first, then the node's)." }),
    tags: tags.optional().meta({ description: "Extra tags on this node's resources.", default: {} }),
};

const nodeDefaults = z.strictObject(nodeFields);
const namedNode = z.strictObject({
    name: dnsLabel.meta({ description: "Node name, unique in the lab; the hostname and the ssh alias `<lab>-<name>`." }),
    ...nodeFields,
});
const countedNodes = z.strictObject({
    count: z.number().int().min(1).max(MAX_NODES).meta({ description: "How many identical nodes." }),
    namePrefix: dnsLabel.optional().meta({ description: "Nodes are named `<namePrefix>-1`, `<namePrefix>-2` ...", default: "node" }),
    ...nodeFields,
});

const artifact = z.strictObject({
    path: z.string().min(1).meta({ description: "Path to the image file (a Nix store path or any file)." }),
    format: z.enum(IMAGE_FORMATS).meta({ description: "Disk image format; `tar.gz` is GCE's disk.raw in a tarball." }),
    arch: z.enum(ARCHES).meta({ description: "Architecture the image boots on; one artifact per arch." }),
    bootMode: z.enum(BOOT_MODES).meta({ description: "How the image boots." }),
    sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/, { error: "must be 64 lowercase hex digits" })
        .optional()
        .meta({ description: "Content hash naming the uploaded image.", defaultText: "sha256 of the file, computed at deploy time" }),
    kernel: z.string().min(1).optional().meta({ description: "libvirt only: boot this kernel directly (images without a boot loader).", defaultText: "boot the image's own loader" }),
    initrd: z.string().min(1).optional().meta({ description: "libvirt only: initrd for `kernel`; needs `kernel`.", defaultText: "none" }),
    cmdline: z.string().optional().meta({ description: "libvirt only: kernel command line for `kernel`; needs `kernel`.", defaultText: "none" }),
});

const image = z.strictObject({
    flake: z.string().min(1).optional().meta({ description: "Flake that builds the images (`packages.<system>.<target>`).", default: "./images" }),
    artifacts: z
        .array(artifact)
        .min(1)
        .optional()
        .meta({ description: "Prebuilt images, at most one per arch; when set, nothing is built.", defaultText: "build with Nix" }),
});

export const labConfigSchema = z.strictObject({
    name: dnsLabel.optional().meta({ description: "Lab name, used in every resource name and tag.", defaultText: "the stack name" }),
    owner: z
        .string()
        .regex(/^[A-Za-z0-9_.@+-]{1,64}$/, {
            error: "must be an email or user name: 1-64 characters of A-Z a-z 0-9 _ . @ + -",
        })
        .meta({ description: "Who to ask about this lab; goes into the `nixlab:owner` tag." }),
    ttl: ttl.optional().meta({ description: "How long the lab should live (minTtl..maxTtl); becomes the `nixlab:expires-at` tag.", default: "8h" }),
    minTtl: ttlBound.optional().meta({ description: "Shortest ttl (and nearest expiresAt) accepted; at least 1m.", default: "10m" }),
    maxTtl: ttlBound.optional().meta({ description: "Longest ttl (and furthest expiresAt) accepted; at most 365d.", default: "30d" }),
    expiresAt: z.iso
        .datetime({ offset: true, error: "must be an RFC 3339 time like 2026-11-24T18:00:00Z" })
        .optional()
        .meta({ description: "Absolute expiry; `nixlab up --ttl` writes it.", defaultText: "creation time + ttl" }),
    network: z
        .strictObject({
            cidr: cidrV4
                .optional()
                .meta({ description: "The lab's private network (RFC 1918 or 100.64.0.0/10, at most a /16); node i gets address .10+i.", default: "10.77.0.0/24" }),
            sshIngressCidrs: z
                .array(cidrV4)
                .optional()
                .meta({ description: "Clouds: who may reach SSH (port 22). Never opened to the world unless you write 0.0.0.0/0.", default: [] }),
            publicAddresses: z
                .boolean()
                .optional()
                .meta({
                    description: "Clouds: give nodes public addresses. false is refused at plan time: nothing outside a lab's isolated network could reach its nodes (see Security).",
                    default: true,
                }),
        })
        .optional()
        .meta({ description: "The lab's network." }),
    user: z
        .strictObject({
            name: z
                .string()
                .regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: "must be a POSIX user name like \"lab\"" })
                .refine((n) => n !== "root", { error: "must not be root; the lab user gets passwordless sudo" })
                .optional()
                .meta({ description: "Login user created by cloud-init, with passwordless sudo and groups kvm + libvirtd.", default: "lab" }),
            sshAuthorizedKeys: z
                .array(
                    z
                        .string()
                        .superRefine((k, ctx) => {
                            const problem = sshPublicKeyProblem(k);
                            if (problem) ctx.addIssue({ code: "custom", message: problem });
                        })
                        .meta({ expected: 'an OpenSSH public key line like "ssh-ed25519 AAAA... you@host" (ed25519, rsa, ecdsa-sha2-nistp256/384/521 or sk-*)' }),
                )
                .min(1, { error: "needs at least one key, or nobody can log in (password login is disabled)" })
                .meta({ description: "OpenSSH public keys allowed to log in; password login is off." }),
        })
        .meta({ description: "The login user on every node." }),
    image: image.optional().meta({ description: "Where the node image comes from." }),
    defaults: nodeDefaults.optional().meta({ description: "Node fields applied to every node; a node's own value wins." }),
    nodes: z
        .union([countedNodes, z.array(namedNode).min(1).max(MAX_NODES, { error: `at most ${MAX_NODES} nodes in one lab` })])
        .meta({
            description: "The nodes: `{count, namePrefix, ...node fields}` for identical nodes, or a list of `{name, ...node fields}`.",
            expected: "either a list of nodes like [{ name: builder }, { name: runner }] or { count: 2, namePrefix: node }",
        }),
    tags: tags.optional().meta({ description: "Extra tags on every taggable resource; keys starting with `nixlab:` are reserved.", default: {} }),
});

export type LabConfig = z.infer<typeof labConfigSchema>;
export type WriteFile = z.infer<typeof writeFile>;
export type CloudInitExtras = z.infer<typeof cloudInitExtras>;
export type VolumeSpec = z.infer<typeof volume>;
export type ImageArtifactSpec = z.infer<typeof artifact>;

/** A node with every default applied. */
export interface NodeSpec {
    name: string;
    /** Position in the lab, 0-based; stable for a given config. */
    index: number;
    arch: Arch;
    vcpus: number;
    memoryGiB: number;
    rootDiskGiB: number;
    volumes: VolumeSpec[];
    kvm: KvmMode;
    machineType?: string;
    cloudInit: CloudInitExtras;
    tags: Record<string, string>;
    /** Config path of this node, for messages: `nixlab:lab.nodes[1]` or `nixlab:lab.nodes`. */
    configPath: string;
    /** Config path of the list `volumes` came from: the node's own, or `nixlab:lab.defaults.volumes`. */
    volumesConfigPath: string;
}

export interface LabSpec {
    name: string;
    owner: string;
    ttl: string;
    expiresAt?: string;
    network: { cidr: string; sshIngressCidrs: string[]; publicAddresses: boolean };
    user: { name: string; sshAuthorizedKeys: string[] };
    image: { flake: string; artifacts?: ImageArtifactSpec[] };
    nodes: NodeSpec[];
    tags: Record<string, string>;
}

export const NODE_DEFAULTS = {
    arch: "x86_64",
    vcpus: 2,
    memoryGiB: 4,
    rootDiskGiB: 20,
    kvm: "nested",
} as const satisfies Partial<NodeSpec>;

/**
 * Parses and validates `nixlab:lab`, applies defaults, and checks what a schema cannot
 * (unique names, addresses fitting the CIDR, an image per arch). Throws one ConfigError
 * with every problem found.
 */
export function parseLabConfig(raw: unknown, stackName: string, now: Date = new Date()): LabSpec {
    if (raw === undefined) {
        throw new ConfigError([
            {
                path: LAB_CONFIG_KEY,
                message:
                    "is not set; add a `nixlab:lab` block to stacks/Pulumi.<stack>.yaml (copy stacks/Pulumi.local.yaml)",
            },
        ]);
    }
    const { spec, problems } = checkLabConfig(raw, stackName, now);
    if (problems.length > 0 || !spec) throw new ConfigError(problems);
    return spec;
}

/**
 * parseLabConfig without the throw: every problem, and the resolved lab whenever its shape
 * is right (even with cross-field problems), so later stages (placement) can still report
 * theirs in the same run.
 */
export function checkLabConfig(raw: unknown, stackName: string, now: Date = new Date()): { spec?: LabSpec; problems: Problem[] } {
    // The cap bites before anything walks the list: a huge list would otherwise be parsed
    // (and each bad entry reported) before its length is checked.
    const nodes = raw && typeof raw === "object" ? (raw as { nodes?: unknown }).nodes : undefined;
    if (Array.isArray(nodes) && nodes.length > MAX_NODES) {
        return { problems: [{ path: `${LAB_CONFIG_KEY}.nodes`, message: `lists ${nodes.length} nodes; a lab has at most ${MAX_NODES} (split it into several labs)` }] };
    }
    const parsed = labConfigSchema.safeParse(raw);
    if (!parsed.success) return { problems: zodProblems(LAB_CONFIG_KEY, raw, parsed.error) };
    const spec = resolveLab(parsed.data, stackName);
    return { spec, problems: [...checkLifetime(parsed.data, now), ...checkLab(spec, parsed.data)] };
}

function mergeNode(defaults: LabConfig["defaults"], node: z.infer<typeof nodeDefaults>) {
    return {
        arch: node.arch ?? defaults?.arch ?? NODE_DEFAULTS.arch,
        vcpus: node.vcpus ?? defaults?.vcpus ?? NODE_DEFAULTS.vcpus,
        memoryGiB: node.memoryGiB ?? defaults?.memoryGiB ?? NODE_DEFAULTS.memoryGiB,
        rootDiskGiB: node.rootDiskGiB ?? defaults?.rootDiskGiB ?? NODE_DEFAULTS.rootDiskGiB,
        volumes: node.volumes ?? defaults?.volumes ?? [],
        kvm: node.kvm ?? defaults?.kvm ?? NODE_DEFAULTS.kvm,
        machineType: node.machineType ?? defaults?.machineType,
        cloudInit: {
            packages: [...(defaults?.cloudInit?.packages ?? []), ...(node.cloudInit?.packages ?? [])],
            writeFiles: [...(defaults?.cloudInit?.writeFiles ?? []), ...(node.cloudInit?.writeFiles ?? [])],
            runcmd: [...(defaults?.cloudInit?.runcmd ?? []), ...(node.cloudInit?.runcmd ?? [])],
        },
        tags: { ...defaults?.tags, ...node.tags },
    };
}

/** Stack names may hold characters a lab name may not (`org/proj/stack`, `_`, capitals). */
export function labNameFromStack(stackName: string): string {
    const base = stackName.split("/").pop() ?? stackName;
    const cleaned = base
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/^[^a-z]+/, "")
        .slice(0, 32)
        .replace(/-+$/, "");
    return cleaned || "lab";
}

export function resolveLab(cfg: LabConfig, stackName: string): LabSpec {
    const nodes: NodeSpec[] = Array.isArray(cfg.nodes)
        ? cfg.nodes.map((n, index) => ({
              name: n.name,
              index,
              configPath: `${LAB_CONFIG_KEY}.nodes[${index}]`,
              volumesConfigPath: n.volumes ? `${LAB_CONFIG_KEY}.nodes[${index}].volumes` : `${LAB_CONFIG_KEY}.defaults.volumes`,
              ...mergeNode(cfg.defaults, n),
          }))
        : Array.from({ length: cfg.nodes.count }, (_, index) => {
              const { count: _count, namePrefix, ...fields } = cfg.nodes as z.infer<typeof countedNodes>;
              return {
                  name: `${namePrefix ?? "node"}-${index + 1}`,
                  index,
                  configPath: `${LAB_CONFIG_KEY}.nodes`,
                  volumesConfigPath: fields.volumes ? `${LAB_CONFIG_KEY}.nodes.volumes` : `${LAB_CONFIG_KEY}.defaults.volumes`,
                  ...mergeNode(cfg.defaults, fields),
              };
          });
    return {
        name: cfg.name ?? labNameFromStack(stackName),
        owner: cfg.owner,
        ttl: cfg.ttl ?? DEFAULT_LAB_TTL,
        expiresAt: cfg.expiresAt,
        network: {
            cidr: cfg.network?.cidr ?? "10.77.0.0/24",
            sshIngressCidrs: cfg.network?.sshIngressCidrs ?? [],
            publicAddresses: cfg.network?.publicAddresses ?? true,
        },
        user: { name: cfg.user.name ?? "lab", sshAuthorizedKeys: cfg.user.sshAuthorizedKeys },
        image: { flake: cfg.image?.flake ?? "./images", artifacts: cfg.image?.artifacts },
        nodes,
        tags: cfg.tags ?? {},
    };
}

/**
 * ttl and expiresAt within minTtl..maxTtl (10m..30d by default), and an expiresAt that
 * has not passed: a 99999999d ttl would otherwise pass here and throw a RangeError in
 * the Clock at `up`, and a past expiresAt deploys a lab `nixlab gc` destroys at once.
 */
function checkLifetime(cfg: LabConfig, now: Date): Problem[] {
    const problems: Problem[] = [];
    const bounds = { min: cfg.minTtl ?? TTL_DEFAULT_MIN, max: cfg.maxTtl ?? TTL_DEFAULT_MAX };
    const widen = `${LAB_CONFIG_KEY}.minTtl / maxTtl`;
    if (parseDuration(bounds.min)! > parseDuration(bounds.max)!) {
        problems.push({ path: `${LAB_CONFIG_KEY}.minTtl`, message: `${show(bounds.min)} is longer than maxTtl ${show(bounds.max)}; make minTtl the shorter one` });
        return problems;
    }
    const ttl = cfg.ttl ?? DEFAULT_LAB_TTL;
    const bad = ttlProblem(ttl, bounds, widen);
    if (bad) problems.push({ path: `${LAB_CONFIG_KEY}.ttl`, message: `${show(ttl)} ${bad}` });
    if (cfg.expiresAt !== undefined) {
        const left = Date.parse(cfg.expiresAt) - now.getTime();
        if (left <= 0) {
            problems.push({
                path: `${LAB_CONFIG_KEY}.expiresAt`,
                message: `${show(cfg.expiresAt)} has already passed (it is ${now.toISOString()}); remove it, or run \`nixlab up <stack> --ttl 8h\` to set a new one`,
            });
        } else if (left > parseDuration(bounds.max)!) {
            problems.push({
                path: `${LAB_CONFIG_KEY}.expiresAt`,
                message: `${show(cfg.expiresAt)} is more than the maximum lab lifetime ${bounds.max} from now (${now.toISOString()}); choose an earlier time, or raise the maximum with ${widen}`,
            });
        }
    }
    return problems;
}

/** Cross-field checks that the schema cannot express. */
function checkLab(spec: LabSpec, cfg: LabConfig): Problem[] {
    const problems: Problem[] = [];
    const seen = new Map<string, number>();
    for (const n of spec.nodes) {
        const prev = seen.get(n.name);
        if (prev !== undefined) {
            problems.push({
                path: keyPath(LAB_CONFIG_KEY, ["nodes", n.index, "name"]),
                message: `duplicate node name ${show(n.name)} (also nodes[${prev}]); node names must be unique`,
            });
        }
        seen.set(n.name, n.index);
        const vols = new Set<string>();
        n.volumes.forEach((v, vi) => {
            if (vols.has(v.name)) {
                problems.push({
                    path: `${n.volumesConfigPath}[${vi}].name`,
                    message: `duplicate volume name ${show(v.name)} on node ${n.name}; volume names must be unique per node`,
                });
            }
            vols.add(v.name);
        });
    }
    const cidrProblem = labCidrProblem(spec.network.cidr);
    if (cidrProblem) problems.push({ path: `${LAB_CONFIG_KEY}.network.cidr`, message: `${show(spec.network.cidr)} ${cidrProblem}` });
    // Nodes get fixed addresses from .10 on (the first addresses are the gateway/DHCP on
    // most clouds), so the CIDR must hold them all.
    const prefix = Number(spec.network.cidr.split("/")[1]);
    const usable = 2 ** (32 - prefix) - 2;
    if (usable < spec.nodes.length + 10) {
        problems.push({
            path: `${LAB_CONFIG_KEY}.network.cidr`,
            message: `${show(spec.network.cidr)} has ${Math.max(usable, 0)} usable addresses but ${spec.nodes.length} nodes need ${spec.nodes.length + 10} (10 are reserved); use a /24 or larger`,
        });
    }
    if (spec.image.artifacts) {
        const byArch = new Map<Arch, number>();
        spec.image.artifacts.forEach((a, i) => {
            if (byArch.has(a.arch)) {
                problems.push({
                    path: `${LAB_CONFIG_KEY}.image.artifacts[${i}].arch`,
                    message: `a second artifact for ${a.arch} (also artifacts[${byArch.get(a.arch)}]); give one image per arch`,
                });
            }
            byArch.set(a.arch, i);
            if ((a.initrd || a.cmdline) && !a.kernel) {
                problems.push({
                    path: `${LAB_CONFIG_KEY}.image.artifacts[${i}].kernel`,
                    message: "initrd/cmdline were given without kernel; set kernel too, or drop them",
                });
            }
        });
        for (const n of spec.nodes) {
            if (!byArch.has(n.arch)) {
                problems.push({
                    path: `${n.configPath}.arch`,
                    message: `no image artifact for ${n.arch}; add one to nixlab:lab.image.artifacts, or remove artifacts to build images with Nix`,
                });
            }
        }
        if (cfg.image?.flake) {
            problems.push({
                path: `${LAB_CONFIG_KEY}.image.flake`,
                message: "set together with artifacts; choose one: prebuilt artifacts, or a flake to build from",
            });
        }
    }
    return problems;
}

export function isCidrV4(s: string): boolean {
    return cidrV4Problem(s) === undefined;
}

/** Why `s` is not an IPv4 CIDR with clear host bits, or undefined. */
export function cidrV4Problem(s: string): string | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
    const octets = m ? m.slice(1, 5).map(Number) : [];
    const prefix = m ? Number(m[5]) : NaN;
    if (!m || octets.some((o) => o > 255) || prefix > 32) return "must be an IPv4 CIDR like 10.77.0.0/24";
    // Host bits must be zero: 10.0.0.5/24 is almost always a typo for 10.0.0.0/24 or /32.
    const ip = ipToInt(octets);
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    if ((ip & ~mask) >>> 0 !== 0) {
        const network = `${intToIp((ip & mask) >>> 0)}/${prefix}`;
        return `has host bits set: ${intToIp(ip)} is not the first address of a /${prefix}; the network is ${network} (or write ${intToIp(ip)}/32 for one address)`;
    }
    return undefined;
}

/** Private ranges a lab network may use: RFC 1918 and RFC 6598 shared address space. */
const PRIVATE_V4: readonly { cidr: string; base: number; prefix: number }[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"].map((cidr) => {
    const [a, p] = cidr.split("/");
    return { cidr, base: ipToInt(a!.split(".").map(Number)), prefix: Number(p) };
});
/** The largest lab network: more is a DHCP range no lab needs (checkLab bounds the small end by node count). */
export const LAB_CIDR_MIN_PREFIX = 16;

/**
 * Why a (well-formed) CIDR cannot be a lab network: it must lie inside a private range
 * (a public one would shadow real addresses on every node and the hypervisor), and be a
 * /16 or smaller.
 */
export function labCidrProblem(s: string): string | undefined {
    const [addr, p] = s.split("/");
    const ip = ipToInt(addr!.split(".").map(Number));
    const prefix = Number(p);
    const inside = PRIVATE_V4.find((r) => prefix >= r.prefix && (ip & ((~0 << (32 - r.prefix)) >>> 0)) >>> 0 === r.base);
    if (!inside) return `is not a private range; use a network inside ${PRIVATE_V4.map((r) => r.cidr).join(", ")} (like 10.77.0.0/24)`;
    if (prefix < LAB_CIDR_MIN_PREFIX) return `is a /${prefix}; a lab network is at most a /${LAB_CIDR_MIN_PREFIX} (a /24 holds 244 nodes)`;
    return undefined;
}

function ipToInt(octets: number[]): number {
    return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
}

function intToIp(n: number): string {
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** The n-th address of a CIDR (0 = network address). */
export function cidrHost(cidr: string, n: number): string {
    const [addr, prefix] = cidr.split("/");
    const base = ipToInt(addr!.split(".").map(Number));
    const size = 2 ** (32 - Number(prefix));
    if (n < 0 || n >= size) throw new Error(`host ${n} is outside ${cidr}`);
    return intToIp(base + n);
}

/** Dotted netmask of a CIDR: /24 → 255.255.255.0 */
export function cidrNetmask(cidr: string): string {
    const prefix = Number(cidr.split("/")[1]);
    return intToIp(prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);
}

/** The fixed private address of a node: `.10 + index` of the lab CIDR. */
export function nodeAddress(lab: LabSpec, node: NodeSpec): string {
    return cidrHost(lab.network.cidr, 10 + node.index);
}

/** Parse a ttl like 90m/8h/3d into milliseconds. */
export function ttlMillis(t: string): number {
    const ms = parseDuration(t);
    if (ms === undefined) throw new Error(`bad ttl ${t}`);
    return ms;
}
