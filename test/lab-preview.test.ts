/**
 * The Lab under preview (what `pulumi preview` and `npm run plan` see): nothing hangs on
 * values only known after deployment, secrets stay secret, and a lab with `expiresAt`
 * set has no Clock.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { Lab } from "../components/lab";
import { parseLabConfig } from "../components/spec";
import { describeValue, OfflineResult, runOffline, SECRET, UNKNOWN } from "../scripts/offline";
import { fakeBackend } from "./support/fakeBackend";
import { tempDir } from "./support/tmp";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ alice@laptop";
const DISK = join(tempDir("nixlab-prev-"), "disk.qcow2");
writeFileSync(DISK, "x");

let result: OfflineResult;
beforeAll(async () => {
    const spec = parseLabConfig(
        {
            owner: "alice",
            expiresAt: "2026-11-24T18:00:00Z",
            user: { sshAuthorizedKeys: [KEY] },
            image: { artifacts: [{ path: DISK, format: "qcow2", arch: "x86_64", bootMode: "bios", sha256: "b".repeat(64) }] },
            nodes: { count: 1 },
        },
        "prev",
        new Date("2026-11-24T10:00:00Z"),
    );
    result = await runOffline({
        stack: "prev",
        config: {},
        preview: true,
        program: async () => {
            const lab = new Lab(spec.name, { spec, backend: fakeBackend(), stack: "prev" });
            return { nodes: lab.nodes, knownHosts: lab.knownHosts, expiresAt: lab.expiresAt, operatorPrivateKey: lab.operatorPrivateKey };
        },
    });
});

it("shows computed values as unknown and secrets as secret", () => {
    expect(result.outputs).toEqual({ nodes: UNKNOWN, knownHosts: UNKNOWN, expiresAt: "2026-11-24T18:00:00Z", operatorPrivateKey: SECRET });
    const node = result.resources.find((r) => r.name === "prev-node-1")!;
    expect(describeValue(node.inputs.userData)).toBe(SECRET);
});

it("uses the configured expiry instead of a Clock", () => {
    expect(result.resources.map((r) => r.type)).not.toContain("pulumi-nodejs:dynamic/nixlab:Clock");
    const net = result.resources.find((r) => r.name === "prev-net")!;
    expect((net.inputs.tags as Record<string, string>)["nixlab:expires-at"]).toBe("2026-11-24T18:00:00Z");
});
