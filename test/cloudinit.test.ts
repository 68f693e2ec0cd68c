import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { checkUserDataSize, cloudConfigDoc, readAsNonString11, readyCommand, renderCloudConfig } from "../components/cloudinit";
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

/**
 * cloud-init reads user-data with PyYAML (YAML 1.1) through cloudinit.util.load_yaml,
 * which returns None for the WHOLE document when any scalar cannot be constructed (`=`).
 * Each document is loaded exactly that way, by the Debian package's own Python.
 */
function loadAsCloudInit(docs: string[]): unknown[] {
    const dir = tempDir("nixlab-ci11-");
    const files = docs.map((d, i) => {
        const f = join(dir, `user-data-${i}`);
        writeFileSync(f, d);
        return f;
    });
    const py = [
        "import json, sys",
        "from cloudinit import util",
        "print(json.dumps([util.load_yaml(open(f).read()) for f in sys.argv[1:]], default=lambda o: {'__not_json__': repr(o)}))",
    ].join("\n");
    return JSON.parse(execFileSync("/usr/bin/python3", ["-c", py, ...files], { encoding: "utf8" })) as unknown[];
}

describe("cloud-config is read by cloud-init as written (YAML 1.1)", () => {
    // The class, not the examples: every PyYAML implicit type (bool, null, int in each base
    // with underscores, sexagesimal int and float, float, inf/nan, date/timestamp, merge,
    // value) in the spellings YAML 1.1 accepts, plus neighbours that must stay unquoted-safe.
    const TRICKY = [
        ...["y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "true", "True", "TRUE", "false", "False", "FALSE"],
        ...["~", "null", "Null", "NULL", ""],
        ...["0644", "0755", "0", "00", "-0", "+12", "12", "1_000", "0b1010", "-0b1_0", "0x1F", "0xdead_beef", "0o17", "017"],
        ...["1:20", "190:20:30", "-1:20", "1:20.5", "190:20:30.15"],
        ...["1.0", ".5", "1.", "-1.5e+3", "1e3", "6.8523015e+5", "685.230_15e+03", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", ".NAN"],
        ...["2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2002-12-14T00:00:00Z"],
        ...["=", "<<", "-", "?", ":", "#", "@x", "%x", "!x", "&x", "*x", "|", ">", "'", '"', "a: b", "a #b", " lead", "trail ", "x\ny"],
    ];

    function labWith(nodeName: string, userName: string, values: string[]) {
        return parseLabConfig(
            {
                owner: "alice",
                user: { name: userName, sshAuthorizedKeys: [KEY] },
                nodes: [
                    {
                        name: nodeName,
                        kvm: "none",
                        cloudInit: {
                            packages: values.filter((v) => v.length > 0),
                            writeFiles: values.map((v, i) => ({ path: `/etc/nixlab/${i}`, content: v, permissions: i % 2 ? "0644" : "0755", owner: "root:root" })),
                            runcmd: [...values.filter((v) => v.length > 0), values],
                        },
                    },
                ],
            },
            "dev",
        );
    }

    // Node and user names are DNS labels / POSIX names: the YAML 1.1 words among them.
    const NAMES = ["no", "yes", "on", "off", "y", "n", "true", "false", "null"];

    it("loads every rendering back as exactly the document nixlab meant", () => {
        const inputs = NAMES.map((name) => {
            const l = labWith(name, name, TRICKY);
            return { lab: l, node: l.nodes[0]!, keys };
        });
        const loaded = loadAsCloudInit(inputs.map(renderCloudConfig));
        inputs.forEach((input, i) => expect(loaded[i]).toEqual(cloudConfigDoc(input)));
    });

    it("quotes exactly the strings YAML 1.1 would read as something else", () => {
        for (const v of ["no", "Off", "~", "", "0644", "1:20", "1_000", "0b1", ".NaN", "2001-12-14", "=", "<<", "1.0", "+12"]) expect(readAsNonString11(v), v).toBe(true);
        for (const v of ["node-1", "builder", "nan", "1e3", "0o17", "1.2.3", "0x", "yess", "nope", "::1", "2001-12-1"]) expect(readAsNonString11(v), v).toBe(false);
    });

    it("passes cloud-init's schema check with a node named no and a file whose content is yes", () => {
        const l = labWith("no", "off", ["yes", "0644", "1:20", "null"]);
        const doc = renderCloudConfig({ lab: l, node: l.nodes[0]!, keys });
        expect(doc).toContain('hostname: "no"\n');
        expect(validate(doc)).toContain("Valid cloud-config");
        // What the unquoted form means to cloud-init: the checker rejects it.
        expect(() => validate(doc.replace('hostname: "no"', "hostname: no"))).toThrow(/hostname: False is not of type 'string'/);
    });
});
