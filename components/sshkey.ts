/**
 * OpenSSH public keys checked for what they are, not only their shape: the base64 must
 * decode, the key type inside the blob must be the one the line declares, and the key
 * material must have the size its type has (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4,
 * OpenSSH PROTOCOL.u2f for the sk-* types). A key that fails here is one sshd on the node
 * would ignore, leaving nobody able to log in.
 */

/** Key types the lab user may be given, and what each blob holds after its type string. */
const KEY_TYPES = {
    "ssh-ed25519": "ed25519",
    "ssh-rsa": "rsa",
    "ecdsa-sha2-nistp256": "ecdsa",
    "ecdsa-sha2-nistp384": "ecdsa",
    "ecdsa-sha2-nistp521": "ecdsa",
    "sk-ssh-ed25519@openssh.com": "sk-ed25519",
    "sk-ecdsa-sha2-nistp256@openssh.com": "sk-ecdsa",
} as const;
export type SshKeyType = keyof typeof KEY_TYPES;
export const SSH_KEY_TYPES = Object.keys(KEY_TYPES) as SshKeyType[];

/** Uncompressed EC point sizes (0x04 || X || Y) per curve. */
const EC_POINT_BYTES: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

/** OpenSSH (9.1+, RequiredRSASize) refuses RSA keys shorter than this. */
export const RSA_MIN_BITS = 1024;

class Reader {
    private off = 0;
    constructor(private readonly buf: Buffer) {}
    string(what: string): Buffer {
        if (this.off + 4 > this.buf.length) throw new Error(`the key blob ends before its ${what}`);
        const len = this.buf.readUInt32BE(this.off);
        if (this.off + 4 + len > this.buf.length) throw new Error(`the key blob ends inside its ${what} (${len} bytes announced)`);
        const out = this.buf.subarray(this.off + 4, this.off + 4 + len);
        this.off += 4 + len;
        return out;
    }
    rest(): number {
        return this.buf.length - this.off;
    }
}

/** Bits of an SSH mpint (big-endian, possibly with a leading 0x00 for the sign). */
function mpintBits(b: Buffer): number {
    let i = 0;
    while (i < b.length && b[i] === 0) i++;
    if (i === b.length) return 0;
    return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]!));
}

/**
 * Why `line` is not a usable OpenSSH public key (`type base64 [comment]`), or undefined.
 * The message says what is wrong and what a good line looks like.
 */
export function sshPublicKeyProblem(line: string): string | undefined {
    const hint = 'paste the whole line of your .pub file, like "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... you@host"';
    const m = /^(\S+) (\S+)(?: .*)?$/.exec(line);
    if (!m) return `is not an OpenSSH public key line (type, base64 key, optional comment); ${hint}`;
    const declared = m[1]!;
    const b64 = m[2]!;
    if (!(declared in KEY_TYPES)) return `key type ${JSON.stringify(declared)} is not one of ${SSH_KEY_TYPES.join(", ")}; ${hint}`;
    // Buffer.from(.., "base64") skips what it cannot decode; insist on canonical base64.
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(b64)) {
        return `the key ${JSON.stringify(short(b64))} is not valid base64 (cut off or mangled when copied?); ${hint}`;
    }
    const blob = Buffer.from(b64, "base64");
    try {
        const r = new Reader(blob);
        const inner = r.string("key type").toString("latin1");
        if (inner !== declared) return `declares ${declared} but the key inside is ${JSON.stringify(short(inner))}; the type and the key must come from the same .pub line`;
        const kind = KEY_TYPES[declared as SshKeyType];
        switch (kind) {
            case "ed25519":
            case "sk-ed25519": {
                const pk = r.string("public key");
                if (pk.length !== 32) return `the ed25519 key is ${pk.length} bytes, not 32; ${hint}`;
                if (kind === "sk-ed25519") r.string("application");
                break;
            }
            case "rsa": {
                r.string("exponent");
                const bits = mpintBits(r.string("modulus"));
                if (bits < RSA_MIN_BITS) return `the RSA key has ${bits} bits; sshd refuses RSA keys under ${RSA_MIN_BITS} bits: use a 3072-bit RSA or an ed25519 key`;
                break;
            }
            case "ecdsa":
            case "sk-ecdsa": {
                const curve = r.string("curve name").toString("latin1");
                const want = /nistp(256|384|521)/.exec(declared)![0];
                if (curve !== want) return `declares ${declared} but its curve is ${JSON.stringify(short(curve))}; ${hint}`;
                const q = r.string("public point");
                if (q.length !== EC_POINT_BYTES[curve] || q[0] !== 0x04) return `the ${curve} public point is ${q.length} bytes, not an uncompressed ${EC_POINT_BYTES[curve]}-byte point; ${hint}`;
                if (kind === "sk-ecdsa") r.string("application");
                break;
            }
        }
        if (r.rest() !== 0) return `the key blob has ${r.rest()} bytes after the key; ${hint}`;
    } catch (e) {
        return `${(e as Error).message} (cut off when copied?); ${hint}`;
    }
    return undefined;
}

function short(s: string): string {
    return s.length > 24 ? `${s.slice(0, 21)}...` : s;
}
