import { describe, expect, it } from "vitest";
import { loadProgramConfig } from "../components/config";
import { backendLoaders } from "../providers";
import { configErrorLines } from "./support/problems";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ alice@laptop";
const lab = JSON.stringify({ owner: "alice", user: { sshAuthorizedKeys: [KEY] }, nodes: { count: 1, kvm: "none" } });

const problems = (config: Record<string, string>): string[] => configErrorLines(() => loadProgramConfig(config, "dev", backendLoaders));

describe("loadProgramConfig", () => {
    it("defaults to the libvirt backend", () => {
        const { spec, backend } = loadProgramConfig({ lab }, "dev", backendLoaders);
        expect(backend.kind).toBe("libvirt");
        expect(spec.name).toBe("dev");
    });

    it("collects problems from every key at once: unknown keys, a stray backend block, the lab and the backend", () => {
        expect(
            problems({
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
            ...problemsOfAws(),
        ]);
    });

    it("names an unknown backend and lists the known ones", () => {
        expect(problems({ backend: "vmware", lab })).toEqual([
            'nixlab:backend: unknown backend "vmware"; choose one of libvirt, aws, gcp, azure, openstack',
        ]);
    });

    it("refuses a structured key given as a plain string", () => {
        expect(problems({ lab: "owner=alice" })).toEqual([
            'nixlab:lab: must be a structured value (a YAML mapping in the stack file), got the string "owner=alice"',
        ]);
    });
});

/** What the AWS factory itself says about `{ regoin: ... }` (its own tests pin the text). */
function problemsOfAws(): string[] {
    return configErrorLines(() => backendLoaders.aws().fromConfig({ regoin: "eu-west-1" }));
}
