import { describe, expect, it } from "vitest";
import { loadProgramConfig } from "../components/config";
import { backendLoaders } from "../providers";
import { configErrorLines, configErrorLinesAsync } from "./support/problems";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ alice@laptop";
const lab = JSON.stringify({ owner: "alice", user: { sshAuthorizedKeys: [KEY] }, nodes: { count: 1, kvm: "none" } });

const problems = (config: Record<string, string>): Promise<string[]> => configErrorLinesAsync(() => loadProgramConfig(config, "dev", backendLoaders));

describe("loadProgramConfig", () => {
    it("defaults to the libvirt backend", async () => {
        const { spec, backend } = await loadProgramConfig({ lab }, "dev", backendLoaders);
        expect(backend.kind).toBe("libvirt");
        expect(spec.name).toBe("dev");
    });

    it("collects problems from every key at once: unknown keys, a stray backend block, the lab and the backend", async () => {
        expect(
            await problems({
                backend: "aws",
                labs: "{}",
                gcp: JSON.stringify({ project: "p" }),
                lab: JSON.stringify({ owner: "alice", user: { sshAuthorizedKeys: [KEY] }, nodes: { count: 0 } }),
                aws: JSON.stringify({ regoin: "eu-west-1" }),
            }),
        ).toEqual([
            "nixlab:labs: unknown config key; did you mean `nixlab:lab`? nixlab reads nixlab:backend, nixlab:lab, nixlab:libvirt, nixlab:aws, nixlab:gcp, nixlab:azure, nixlab:openstack",
            'nixlab:gcp: is set but nixlab:backend is "aws"; remove it or set nixlab:backend: gcp',
            "nixlab:lab.nodes.count: must be at least 1 (got 0)",
            ...(await problemsOfAws()),
        ]);
    });

    it("reports lab, backend-choice and placement problems in one run", async () => {
        // Cross-field lab problems (duplicate names, a public CIDR, a lifetime too long) do not
        // stop placement: its refusals (metal on libvirt, a too-long volume name) come too.
        const labWithEverything = JSON.stringify({
            owner: "alice",
            ttl: "90d",
            network: { cidr: "8.8.8.0/24" },
            user: { sshAuthorizedKeys: [KEY] },
            nodes: [
                { name: "a", kvm: "metal" },
                { name: "a", kvm: "none", volumes: [{ name: "a-very-long-volume-name", sizeGiB: 1 }] },
            ],
        });
        // (The duplicate name also makes child names meet: names.ts reports those separately.)
        expect((await problems({ lab: labWithEverything, gcp: JSON.stringify({ project: "p" }) })).filter((l) => !l.includes(" would be named "))).toEqual([
            'nixlab:gcp: is set but nixlab:backend is "libvirt"; remove it or set nixlab:backend: gcp',
            'nixlab:lab.ttl: "90d" is longer than the maximum lab lifetime 30d; use at most 30d (or raise the maximum with nixlab:lab.minTtl / maxTtl, up to 365d)',
            'nixlab:lab.nodes[1].name: duplicate node name "a" (also nodes[0]); node names must be unique',
            'nixlab:lab.network.cidr: "8.8.8.0/24" is not a private range; use a network inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 (like 10.77.0.0/24)',
            expect.stringMatching(/^nixlab:lab\.nodes\[0\]\.kvm: is "metal", but libvirt nodes are virtual machines/) as unknown as string,
            expect.stringMatching(/^nixlab:lab\.nodes\[1\]\.volumes\[0\]\.name: "a-very-long-volume-name" is 23 characters/) as unknown as string,
        ]);
    });

    it("names an unknown backend and lists the known ones", async () => {
        expect(await problems({ backend: "vmware", lab })).toEqual([
            'nixlab:backend: unknown backend "vmware"; choose one of libvirt, aws, gcp, azure, openstack',
        ]);
    });

    it("refuses a structured key given as a plain string", async () => {
        expect(await problems({ lab: "owner=alice" })).toEqual([
            'nixlab:lab: must be a structured value (a YAML mapping in the stack file), got the string "owner=alice"',
        ]);
    });
});

/** What the AWS factory itself says about `{ regoin: ... }` (its own tests pin the text). */
async function problemsOfAws(): Promise<string[]> {
    const aws = await backendLoaders.aws();
    return configErrorLines(() => aws.fromConfig({ regoin: "eu-west-1" }));
}
