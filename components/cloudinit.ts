/**
 * Renders each node's `#cloud-config`. Pure: keys come in as strings, so the rendering
 * is snapshot-tested and validated with cloud-init's own schema checker.
 */
import { Document, isScalar, visit } from "yaml";
import type { Problem } from "./problems";
import type { LabSpec, NodeSpec } from "./spec";

/** The line every node prints on its console when first boot is done; readiness waits for it. */
export const READY_MARKER = "NIXLAB-READY";

export interface NodeKeys {
    /** The node's SSH host key (ed25519), OpenSSH private key format. */
    hostPrivateKey: string;
    /** `ssh-ed25519 AAAA...` */
    hostPublicKey: string;
    /** The lab's operator key (readiness checks, `nixlab ssh`), authorized for the lab user. */
    operatorPublicKey: string;
}

export interface CloudConfigInput {
    lab: LabSpec;
    node: NodeSpec;
    keys: NodeKeys;
}

/**
 * The marker command: last in runcmd, so it runs after the user's commands. It reports
 * whether /dev/kvm exists so readiness can fail a `kvm: nested|metal` node that has none.
 */
export function readyCommand(node: NodeSpec): string {
    return (
        `k=missing; [ -c /dev/kvm ] && k=ok; ` +
        `echo "${READY_MARKER} node=${node.name} kvm=$k" | tee /dev/console /run/nixlab-ready >/dev/null 2>&1 || true`
    );
}

/**
 * The implicit resolvers of PyYAML's SafeLoader (yaml/resolver.py), which cloud-init uses
 * to read user-data: YAML 1.1, where `no` is false, `0644` is 420, `1:20` is 80 and
 * `2001-12-14` is a date. A plain string matching any of them is read as something else,
 * so it is written double-quoted. The `yaml` library quotes for its own YAML 1.1 schema
 * too; this list is what the reader on the node does, and a test loads every rendering
 * with PyYAML itself.
 */
const PYYAML_IMPLICIT: readonly RegExp[] = [
    /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
    /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
    /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
    /^(?:<<)$/,
    /^(?:~|null|Null|NULL|)$/,
    /^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$/,
    /^(?:=)$/,
];

/** True when PyYAML (YAML 1.1) would read this plain scalar as something other than a string. */
export function readAsNonString11(s: string): boolean {
    return PYYAML_IMPLICIT.some((re) => re.test(s));
}

/**
 * YAML that cloud-init reads back as exactly `doc`: YAML 1.1 rules, and every string
 * that YAML 1.1 would resolve to a bool, number, null, date or merge key double-quoted.
 */
export function stringifyYaml11(doc: unknown): string {
    // Without the merge tag: it would claim the string "<<" and write it bare, which
    // PyYAML then fails to construct (and cloud-init drops the whole document).
    const d = new Document(doc, { version: "1.1", customTags: (tags) => tags.filter((t) => typeof t === "string" || t.tag !== "tag:yaml.org,2002:merge") });
    visit(d, {
        Scalar(_key, node) {
            if (isScalar(node) && typeof node.value === "string" && readAsNonString11(node.value)) node.type = "QUOTE_DOUBLE";
        },
    });
    return d.toString({ lineWidth: 0 });
}

export function renderCloudConfig(input: CloudConfigInput): string {
    return "#cloud-config\n" + stringifyYaml11(cloudConfigDoc(input));
}

/** The cloud-config as data: what cloud-init must read back from renderCloudConfig. */
export function cloudConfigDoc({ lab, node, keys }: CloudConfigInput): Record<string, unknown> {
    const doc: Record<string, unknown> = {
        hostname: node.name,
        // cloud-init owns the hostname (the images leave networking.hostName empty for it).
        preserve_hostname: false,
        // So `sudo` and friends resolve the node's own name (a fresh image has no entry).
        manage_etc_hosts: "localhost",
        users: [
            {
                name: lab.user.name,
                gecos: "nixlab lab user",
                lock_passwd: true,
                sudo: "ALL=(ALL) NOPASSWD:ALL",
                // Nested guests without sudo: /dev/kvm and libvirt's system socket.
                // cloud-init creates a group that the image lacks.
                groups: ["kvm", "libvirtd"],
                ssh_authorized_keys: [...lab.user.sshAuthorizedKeys, keys.operatorPublicKey.trim()],
            },
        ],
        disable_root: true,
        ssh_pwauth: false,
        // Replace whatever host keys the image has with the program's, so the lab's
        // known_hosts is right before the first connection (no StrictHostKeyChecking=no).
        ssh_deletekeys: true,
        // Only ed25519, which ssh_keys provides, so cloud-init generates no key we don't pin.
        ssh_genkeytypes: ["ed25519"],
        ssh_keys: {
            ed25519_private: ensureNewline(keys.hostPrivateKey),
            ed25519_public: keys.hostPublicKey.trim(),
        },
    };
    const extras = node.cloudInit;
    if (extras.packages && extras.packages.length > 0) doc.packages = extras.packages;
    if (extras.writeFiles && extras.writeFiles.length > 0) {
        doc.write_files = extras.writeFiles.map((f) => ({
            path: f.path,
            content: f.content,
            ...(f.permissions ? { permissions: f.permissions } : {}),
            ...(f.owner ? { owner: f.owner } : {}),
            ...(f.encoding ? { encoding: f.encoding } : {}),
        }));
    }
    doc.runcmd = [...(extras.runcmd ?? []), ["sh", "-c", readyCommand(node)]];
    return doc;
}

function ensureNewline(s: string): string {
    return s.endsWith("\n") ? s : `${s}\n`;
}

// Placeholders with the exact lengths tls.PrivateKey produces for ed25519, so the size
// check can run at program start, before the real keys exist.
const PLACEHOLDER_KEYS: NodeKeys = {
    hostPrivateKey:
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" +
        `${"A".repeat(70)}\n`.repeat(5) +
        `${"A".repeat(20)}\n` +
        "-----END OPENSSH PRIVATE KEY-----\n",
    hostPublicKey: `ssh-ed25519 ${"A".repeat(68)}`,
    operatorPublicKey: `ssh-ed25519 ${"A".repeat(68)}`,
};

/**
 * Fails early (at program start, not at `up`) when a node's user-data would exceed the
 * backend's limit, naming the node and the biggest contributors.
 */
export function checkUserDataSize(lab: LabSpec, limitBytes: number, backendName: string): Problem[] {
    const problems: Problem[] = [];
    for (const node of lab.nodes) {
        const size = Buffer.byteLength(renderCloudConfig({ lab, node, keys: PLACEHOLDER_KEYS }), "utf8");
        if (size > limitBytes) {
            problems.push({
                path: `${node.configPath}.cloudInit`,
                message:
                    `user-data for node ${node.name} renders to about ${size} bytes; ${backendName} accepts at most ${limitBytes}. ` +
                    "Move large writeFiles into the NixOS image (images/), or fetch them in runcmd",
            });
        }
    }
    return problems;
}
