/**
 * Test equipment for `up`-mode runs (scripts/offline.ts resource handlers): the answers
 * every cloud gives alike. What a cloud answers for its own resources (IDs, addresses)
 * stays in its test file.
 */
import type { ResourceHandler } from "../../scripts/offline";

const KEY_TYPE = "tls:index/privateKey:PrivateKey";

/** What tls.PrivateKey would hand back, distinct per key (the name, base64-encoded). */
export function fakeKey(name: string) {
    const b64 = Buffer.from(name).toString("base64").replace(/=/g, "");
    return {
        privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`,
        publicKeyOpenssh: `ssh-ed25519 AAAAC3Nza${b64}\n`,
        publicKeyFingerprintSha256: `SHA256:${b64}`,
    };
}

/** Answers every tls.PrivateKey with `fakeKey(name)`. */
export const fakeKeys: ResourceHandler = ({ type, name, inputs }) => (type === KEY_TYPE ? { id: `${name}-id`, state: { ...inputs, ...fakeKey(name) } } : undefined);

/**
 * Answers every tls.PrivateKey with a key whose body is its resource name as is, for tests
 * that match the rendered user-data's text literally (`    kvm-os-node-1-host-ed25519\n`).
 */
export const namedKeys: ResourceHandler = ({ type, name, inputs }) =>
    type === KEY_TYPE
        ? {
              id: `${name}-id`,
              state: {
                  ...inputs,
                  privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${name}\n-----END OPENSSH PRIVATE KEY-----\n`,
                  publicKeyOpenssh: `ssh-ed25519 AAAA${name.replace(/-/g, "")}\n`,
                  publicKeyFingerprintSha256: `SHA256:${name}`,
              },
          }
        : undefined;

/** Answers each `<lab>-<node>-ready` command the way components/ready.ts reads a node that came up with KVM. */
export function readyCommands(lab: string): ResourceHandler {
    const ready = new RegExp(`^${lab}-(.+)-ready$`);
    return ({ type, name, inputs }) => {
        if (type !== "command:remote:Command") return undefined;
        const node = ready.exec(name)![1];
        return { id: `${name}-id`, state: { ...inputs, stdout: `NIXLAB-READY node=${node} kvm=ok cloud-init-rc=0\n`, stderr: "" } };
    };
}
