import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { checkUserDataSize, readyCommand, renderCloudConfig } from "../components/cloudinit";
import { parseLabConfig } from "../components/spec";
import { tempDir } from "./support/tmp";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ alice@laptop";
const HOST_PRIV = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const keys = {
    hostPrivateKey: HOST_PRIV,
    hostPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHOSTHOSTHOST\n",
    operatorPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOPERATOR\n",
};

const lab = parseLabConfig(
    {
        owner: "alice",
        user: { sshAuthorizedKeys: [KEY] },
        nodes: [
            {
                name: "builder",
                kvm: "nested",
                cloudInit: {
                    packages: ["fio"],
                    writeFiles: [{ path: "/etc/motd", content: "hello\n", permissions: "0644" }],
                    runcmd: ["echo one", ["sh", "-c", "echo two"]],
                },
            },
            { name: "plain", kvm: "none" },
        ],
    },
    "dev",
);

function validate(doc: string): string {
    const dir = tempDir("nixlab-cloudinit-");
    const file = join(dir, "user-data");
    writeFileSync(file, doc);
    // cloud-init's own schema checker (Debian package cloud-init); exits non-zero on errors.
    return execFileSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

describe("renderCloudConfig", () => {
    const builder = renderCloudConfig({ lab, node: lab.nodes[0]!, keys });
    const plain = renderCloudConfig({ lab, node: lab.nodes[1]!, keys });

    it("renders the documented cloud-config exactly", () => {
        expect(builder).toMatchSnapshot();
    });

    it("passes cloud-init's own schema validation", () => {
        expect(validate(builder)).toContain("Valid cloud-config");
        expect(validate(plain)).toContain("Valid cloud-config");
        // The checker really checks: a document it must reject.
        expect(() => validate(builder.replace("ssh_genkeytypes:\n  - ed25519", "ssh_genkeytypes: []"))).toThrow(/ssh_genkeytypes/);
    });

    it("sets hostname, the lab user with keys and no password, and the program's host key", () => {
        const doc = parse(builder);
        expect(builder.startsWith("#cloud-config\n")).toBe(true);
        expect(doc.hostname).toBe("builder");
        expect(doc.ssh_pwauth).toBe(false);
        expect(doc.disable_root).toBe(true);
        expect(doc.users).toEqual([
            {
                name: "lab",
                gecos: "nixlab lab user",
                lock_passwd: true,
                sudo: "ALL=(ALL) NOPASSWD:ALL",
                groups: ["kvm", "libvirtd"],
                ssh_authorized_keys: [KEY, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOPERATOR"],
            },
        ]);
        expect(doc.ssh_keys).toEqual({ ed25519_private: HOST_PRIV, ed25519_public: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHOSTHOSTHOST" });
        expect(doc.ssh_deletekeys).toBe(true);
    });

    it("runs the user's commands first and the ready marker last", () => {
        const doc = parse(builder);
        expect(doc.runcmd).toEqual(["echo one", ["sh", "-c", "echo two"], ["sh", "-c", readyCommand(lab.nodes[0]!)]]);
        expect(doc.packages).toEqual(["fio"]);
        expect(doc.write_files).toEqual([{ path: "/etc/motd", content: "hello\n", permissions: "0644" }]);
        expect(parse(plain).packages).toBeUndefined();
    });
});

describe("checkUserDataSize", () => {
    it("passes a normal lab and names the node, size and limit when over", () => {
        expect(checkUserDataSize(lab, 16384, "aws")).toEqual([]);
        const big = parseLabConfig(
            {
                owner: "alice",
                user: { sshAuthorizedKeys: [KEY] },
                nodes: [{ name: "fat", cloudInit: { writeFiles: [{ path: "/blob", content: "x".repeat(20000) }] } }],
            },
            "dev",
        );
        const problems = checkUserDataSize(big, 16384, "aws");
        expect(problems).toHaveLength(1);
        expect(problems[0]!.path).toBe("nixlab:lab.nodes[0].cloudInit");
        expect(problems[0]!.message).toMatch(
            /^user-data for node fat renders to about 2\d{4} bytes; aws accepts at most 16384\. Move large writeFiles into the NixOS image/,
        );
    });
});
