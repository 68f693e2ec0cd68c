import { describe, expect, it } from "vitest";
import { configErrorLines } from "./support/problems";
import { cidrHost, isCidrV4, labNameFromStack, parseLabConfig, ttlMillis } from "../components/spec";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ alice@laptop";

function base(extra: Record<string, unknown> = {}) {
    return { owner: "alice", user: { sshAuthorizedKeys: [KEY] }, nodes: { count: 2 }, ...extra };
}

const problemsOf = (raw: unknown): string[] => configErrorLines(() => parseLabConfig(raw, "dev"));

describe("parseLabConfig", () => {
    it("applies every default to a counted lab", () => {
        const lab = parseLabConfig(base(), "org/proj/Dev_Stack");
        expect(lab.name).toBe("dev-stack");
        expect(lab.ttl).toBe("8h");
        expect(lab.network).toEqual({ cidr: "10.77.0.0/24", sshIngressCidrs: [], publicAddresses: true });
        expect(lab.user.name).toBe("lab");
        expect(lab.image).toEqual({ flake: "./images", artifacts: undefined });
        expect(lab.nodes.map((n) => n.name)).toEqual(["node-1", "node-2"]);
        expect(lab.nodes[1]).toEqual({
            name: "node-2",
            index: 1,
            configPath: "nixlab:lab.nodes",
            volumesConfigPath: "nixlab:lab.defaults.volumes",
            arch: "x86_64",
            vcpus: 2,
            memoryGiB: 4,
            rootDiskGiB: 20,
            volumes: [],
            kvm: "nested",
            machineType: undefined,
            cloudInit: { packages: [], writeFiles: [], runcmd: [] },
            tags: {},
        });
    });

    it("merges defaults under named nodes, node values winning", () => {
        const lab = parseLabConfig(
            base({
                defaults: { vcpus: 4, tags: { team: "kernel" }, cloudInit: { runcmd: ["echo a"] } },
                nodes: [{ name: "builder", vcpus: 8, cloudInit: { runcmd: ["echo b"] } }, { name: "runner" }],
            }),
            "dev",
        );
        expect(lab.nodes.map((n) => [n.name, n.vcpus, n.configPath])).toEqual([
            ["builder", 8, "nixlab:lab.nodes[0]"],
            ["runner", 4, "nixlab:lab.nodes[1]"],
        ]);
        expect(lab.nodes[0]!.cloudInit.runcmd).toEqual(["echo a", "echo b"]);
        expect(lab.nodes[1]!.tags).toEqual({ team: "kernel" });
    });

    it("reports every problem at once, each with its key path and the value given", () => {
        expect(
            problemsOf({
                owner: "alice",
                user: { sshAuthorizedKeys: [KEY] },
                nodes: [
                    { name: "a", memoryGiB: 0.1 },
                    { name: "b", arch: "riscv64", colour: "blue" },
                ],
                network: { cidr: "10.0.0.5/24" },
            }),
        ).toEqual([
            'nixlab:lab.network.cidr: has host bits set: 10.0.0.5 is not the first address of a /24; the network is 10.0.0.0/24 (or write 10.0.0.5/32 for one address) (got "10.0.0.5/24")',
            "nixlab:lab.nodes[0].memoryGiB: must be at least 0.5 (got 0.1)",
            'nixlab:lab.nodes[1].arch: must be one of `x86_64` or `aarch64` (got "riscv64")',
            "nixlab:lab.nodes[1].colour: unknown key; allowed here: `name`, `arch`, `vcpus`, `memoryGiB`, `rootDiskGiB`, `volumes`, `kvm`, `machineType`, `cloudInit`, `tags`",
        ]);
    });

    it("refuses a missing lab block with a pointer to an example", () => {
        expect(problemsOf(undefined)).toEqual([
            "nixlab:lab: is not set; add a `nixlab:lab` block to stacks/Pulumi.<stack>.yaml (copy stacks/Pulumi.local.yaml)",
        ]);
    });

    it("refuses duplicate names, a too-small CIDR and missing per-arch artifacts", () => {
        expect(
            problemsOf(
                base({
                    nodes: [
                        { name: "a", volumes: [{ name: "d", sizeGiB: 1 }, { name: "d", sizeGiB: 2 }] },
                        { name: "a", arch: "aarch64" },
                    ],
                    network: { cidr: "10.0.0.0/29" },
                    image: { artifacts: [{ path: "/x.qcow2", format: "qcow2", arch: "x86_64", bootMode: "bios" }] },
                }),
            ),
        ).toEqual([
            'nixlab:lab.nodes[0].volumes[1].name: duplicate volume name "d" on node a; volume names must be unique per node',
            'nixlab:lab.nodes[1].name: duplicate node name "a" (also nodes[0]); node names must be unique',
            'nixlab:lab.network.cidr: "10.0.0.0/29" has 6 usable addresses but 2 nodes need 12 (10 are reserved); use a /24 or larger',
            "nixlab:lab.nodes[1].arch: no image artifact for aarch64; add one to nixlab:lab.image.artifacts, or remove artifacts to build images with Nix",
        ]);
    });

    it("reserves the nixlab: tag namespace for the program", () => {
        expect(problemsOf(base({ tags: { "nixlab:owner": "mallory" }, defaults: { tags: { "nixlab:kvm": "metal" } } }))).toEqual([
            'nixlab:lab.defaults.tags.nixlab:kvm: tag keys starting with nixlab: are reserved for nixlab\'s own tags; rename the key (got "nixlab:kvm")',
            'nixlab:lab.tags.nixlab:owner: tag keys starting with nixlab: are reserved for nixlab\'s own tags; rename the key (got "nixlab:owner")',
        ]);
    });

    it("refuses root as the lab user and keyless labs", () => {
        expect(problemsOf(base({ user: { name: "root", sshAuthorizedKeys: [] } }))).toEqual([
            'nixlab:lab.user.name: must not be root; the lab user gets passwordless sudo (got "root")',
            "nixlab:lab.user.sshAuthorizedKeys: needs at least one key, or nobody can log in (password login is disabled) (got [])",
        ]);
    });
});

describe("address helpers", () => {
    it.each([
        ["10.77.0.0/24", true],
        ["10.77.0.1/24", false],
        ["300.1.1.0/24", false],
        ["0.0.0.0/0", true],
        ["203.0.113.7/32", true],
    ])("isCidrV4(%s) = %s", (cidr, ok) => expect(isCidrV4(cidr)).toBe(ok));

    it("numbers hosts inside the CIDR and refuses outside it", () => {
        expect(cidrHost("10.77.0.0/24", 10)).toBe("10.77.0.10");
        expect(() => cidrHost("10.77.0.0/30", 4)).toThrow("host 4 is outside 10.77.0.0/30");
    });

    it("parses ttls and names labs from stacks", () => {
        expect(ttlMillis("90m")).toBe(5_400_000);
        expect(ttlMillis("3d")).toBe(259_200_000);
        expect(labNameFromStack("aws-arm64")).toBe("aws-arm64");
        expect(labNameFromStack("42")).toBe("lab");
    });
});

describe("lab lifetime bounds", () => {
    const NOW = new Date("2026-11-24T10:00:00Z");
    const lifetimeProblems = (extra: Record<string, unknown>): string[] => {
        try {
            parseLabConfig(base(extra), "dev", NOW);
            return [];
        } catch {
            return configErrorLines(() => parseLabConfig(base(extra), "dev", NOW));
        }
    };

    it("accepts 10m to 30d by default and refuses the rest, naming the bound and how to widen it", () => {
        for (const ttl of ["10m", "8h", "30d", "720h"]) expect(lifetimeProblems({ ttl })).toEqual([]);
        expect(lifetimeProblems({ ttl: "0m" })).toEqual([
            'nixlab:lab.ttl: "0m" is shorter than the minimum lab lifetime 10m; use at least 10m (or lower the minimum with nixlab:lab.minTtl / maxTtl)',
        ]);
        expect(lifetimeProblems({ ttl: "9m" })).toEqual([
            'nixlab:lab.ttl: "9m" is shorter than the minimum lab lifetime 10m; use at least 10m (or lower the minimum with nixlab:lab.minTtl / maxTtl)',
        ]);
        expect(lifetimeProblems({ ttl: "31d" })).toEqual([
            'nixlab:lab.ttl: "31d" is longer than the maximum lab lifetime 30d; use at most 30d (or raise the maximum with nixlab:lab.minTtl / maxTtl, up to 365d)',
        ]);
        // Today this passes validation and throws RangeError in the Clock at `up`.
        for (const ttl of ["99999999d", "999999999999d", "9999999999999999999m"]) expect(lifetimeProblems({ ttl })).toHaveLength(1);
    });

    it("minTtl / maxTtl widen the bounds, within 1m..365d", () => {
        expect(lifetimeProblems({ ttl: "90d", maxTtl: "90d" })).toEqual([]);
        expect(lifetimeProblems({ ttl: "2m", minTtl: "1m" })).toEqual([]);
        expect(lifetimeProblems({ maxTtl: "400d" })).toEqual(['nixlab:lab.maxTtl: must be a duration from 1m to 365d, like 10m or 90d (got "400d")']);
        expect(lifetimeProblems({ minTtl: "0m" })).toEqual(['nixlab:lab.minTtl: must be a duration from 1m to 365d, like 10m or 90d (got "0m")']);
        expect(lifetimeProblems({ minTtl: "2d", maxTtl: "1d" })).toEqual(['nixlab:lab.minTtl: "2d" is longer than maxTtl "1d"; make minTtl the shorter one']);
    });

    it("refuses an expiresAt that has passed or lies beyond the maximum lifetime", () => {
        expect(lifetimeProblems({ expiresAt: "2026-11-24T18:00:00Z" })).toEqual([]);
        expect(lifetimeProblems({ expiresAt: "2026-11-24T09:59:59Z" })).toEqual([
            'nixlab:lab.expiresAt: "2026-11-24T09:59:59Z" has already passed (it is 2026-11-24T10:00:00.000Z); remove it, or run `nixlab up <stack> --ttl 8h` to set a new one',
        ]);
        expect(lifetimeProblems({ expiresAt: "2026-11-24T10:00:00Z" })).toHaveLength(1);
        expect(lifetimeProblems({ expiresAt: "2027-01-01T00:00:00Z" })).toEqual([
            'nixlab:lab.expiresAt: "2027-01-01T00:00:00Z" is more than the maximum lab lifetime 30d from now (2026-11-24T10:00:00.000Z); choose an earlier time, or raise the maximum with nixlab:lab.minTtl / maxTtl',
        ]);
        expect(lifetimeProblems({ expiresAt: "2027-01-01T00:00:00Z", maxTtl: "60d" })).toEqual([]);
        // Not a full time with a zone: refused by shape.
        expect(lifetimeProblems({ expiresAt: "12" })).toEqual(['nixlab:lab.expiresAt: must be an RFC 3339 time like 2026-11-24T18:00:00Z (got "12")']);
    });
});

describe("the lab network is a private range of a sensible size", () => {
    const cidrProblems = (cidr: string): string[] => {
        try {
            parseLabConfig(base({ network: { cidr } }), "dev");
            return [];
        } catch {
            return configErrorLines(() => parseLabConfig(base({ network: { cidr } }), "dev"));
        }
    };

    it("accepts RFC 1918 and 100.64.0.0/10 networks from /16 to what the nodes need", () => {
        for (const c of ["10.0.0.0/16", "10.77.0.0/24", "10.255.255.0/28", "172.16.0.0/24", "172.31.255.0/24", "192.168.122.0/24", "100.64.0.0/24", "100.127.255.0/24"]) {
            expect(cidrProblems(c), c).toEqual([]);
        }
    });

    it("refuses public ranges, ranges straddling a private block, and networks larger than /16", () => {
        const publicRange = (c: string) =>
            `nixlab:lab.network.cidr: "${c}" is not a private range; use a network inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 (like 10.77.0.0/24)`;
        for (const c of ["8.8.8.0/24", "203.0.113.0/24", "172.32.0.0/24", "172.15.0.0/24", "192.169.0.0/24", "100.128.0.0/24", "100.63.0.0/24", "11.0.0.0/24", "0.0.0.0/24"]) {
            expect(cidrProblems(c), c).toEqual([publicRange(c)]);
        }
        // Starts inside 172.16/12 but is larger than it.
        expect(cidrProblems("172.0.0.0/8")).toEqual([publicRange("172.0.0.0/8")]);
        expect(cidrProblems("10.0.0.0/8")).toEqual(['nixlab:lab.network.cidr: "10.0.0.0/8" is a /8; a lab network is at most a /16 (a /24 holds 244 nodes)']);
        expect(cidrProblems("10.0.0.0/15")).toHaveLength(1);
    });

    it("names host bits set as the problem, with the network meant", () => {
        expect(cidrProblems("10.77.0.1/24")).toEqual([
            'nixlab:lab.network.cidr: has host bits set: 10.77.0.1 is not the first address of a /24; the network is 10.77.0.0/24 (or write 10.77.0.1/32 for one address) (got "10.77.0.1/24")',
        ]);
        expect(cidrProblems("192.168.1.77/20")).toEqual([
            'nixlab:lab.network.cidr: has host bits set: 192.168.1.77 is not the first address of a /20; the network is 192.168.0.0/20 (or write 192.168.1.77/32 for one address) (got "192.168.1.77/20")',
        ]);
        expect(configErrorLines(() => parseLabConfig(base({ network: { sshIngressCidrs: ["203.0.113.7/24"] } }), "dev"))).toEqual([
            'nixlab:lab.network.sshIngressCidrs[0]: has host bits set: 203.0.113.7 is not the first address of a /24; the network is 203.0.113.0/24 (or write 203.0.113.7/32 for one address) (got "203.0.113.7/24")',
        ]);
    });
});

describe("tag values are XML-safe", () => {
    it("refuses characters XML cannot hold, accepts everything escaping handles", () => {
        for (const v of ["a\u0000b", "esc\u001b[0m", "\u0007", "\ufffe", "\ud800x"]) {
            expect(configErrorLines(() => parseLabConfig(base({ tags: { team: v } }), "dev"))).toEqual([
                `nixlab:lab.tags.team: tag values must not hold control characters (other than tab and newline) or unpaired surrogates: they cannot be written into XML metadata (got ${JSON.stringify(v)})`,
            ]);
        }
        expect(parseLabConfig(base({ tags: { team: `<a href="x">&'\t\n😀</a>` } }), "dev").tags.team).toBe(`<a href="x">&'\t\n😀</a>`);
    });
});
