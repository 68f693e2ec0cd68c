/**
 * A Nix-built image through the whole pipeline: the lab names no artifact, only a flake
 * (test/fixtures/nix-image, which wraps the debootstrap fixture into a store path with a
 * nixlab-image.json, since NixOS itself cannot be built here). The program's image step
 * runs images/build.ts's own `nix build` command for real (test/support/localCommand.ts
 * stands in for the command provider; test-only Nix settings come in NIX_CONFIG), reads
 * the store path from Nix's JSON and boots a NAT-mode node from it, by direct kernel boot
 * as its nixlab-image.json asks. Then destroy leaves nothing behind.
 *
 * Run with `npm run test:libvirt` (as root), under the shared lock.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { nixBuildCommand, storePathHash } from "../../images/build";
import { prepareNixImageFlake } from "../support/nixTest";
import type { ProgramSpec } from "./engine";
import { readState } from "./engine";
import { deleteLabByName, exec, leftovers, LOCAL_URI as URI, oneNodeLab, opLines, POOL_DIR, runEngine } from "./support";

const LAB = "lvnix";
const WORK = path.join(os.tmpdir(), "nixlab-libvirt-real-nix");
let fixtureDir = "";
let nixConfig = "";
let flakeDir = "";
const timings: Record<string, number> = {};

function programSpec(): ProgramSpec {
    const base = oneNodeLab(LAB, "10.213.11.0/24", WORK, fixtureDir);
    const lab = { ...base, image: { flake: flakeDir } };
    return {
        stack: LAB,
        config: {
            "nixlab:backend": "libvirt",
            "nixlab:libvirt": JSON.stringify({ uri: URI, accelerator: "tcg", poolDir: POOL_DIR, networkMode: "nat", readyTimeoutSeconds: 600 }),
            "nixlab:lab": JSON.stringify(lab),
        },
    };
}

async function engine(action: "up" | "destroy", label: string) {
    const { report, seconds } = await runEngine({ action, label, work: WORK, logFile: path.join(WORK, `${label}.log`), env: { NIX_CONFIG: nixConfig } });
    timings[label] = seconds;
    return report;
}

beforeAll(async () => {
    fixtureDir = inject("fixtureDir");
    await deleteLabByName(LAB);
    fs.rmSync(WORK, { recursive: true, force: true });
    fs.mkdirSync(WORK, { recursive: true });
    const keygen = await exec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nixlab-nix-test", "-f", path.join(WORK, "user")]);
    expect(keygen.code, keygen.stderr).toBe(0);
    ({ flakeDir, nixConfig } = prepareNixImageFlake(WORK, fixtureDir));
    fs.writeFileSync(path.join(WORK, "program.json"), JSON.stringify(programSpec(), null, 2));
});

afterAll(async () => {
    if (fs.existsSync(path.join(WORK, "state.json")) && Object.keys(readState(path.join(WORK, "state.json")).resources).length > 0) {
        await engine("destroy", "cleanup").catch(() => deleteLabByName(LAB));
    }
    process.stderr.write(`[nix-image] timings (s): ${JSON.stringify(timings)}\n`);
});

it("builds the image with the program's own nix build and boots a NAT node from the store path", async () => {
    const report = await engine("up", "up");
    const state = readState(path.join(WORK, "state.json"));
    const base = Object.values(state.resources).find((e) => e.name === `${LAB}-image-x86_64`)!;
    const kernel = Object.values(state.resources).find((e) => e.name === `${LAB}-image-x86_64-kernel`)!;
    // The base volume came from the store path Nix printed; its name carries the store hash.
    const source = String(base.inputs.source);
    expect(source).toMatch(/^\/nix\/store\/[0-9a-df-np-sv-z]{32}-nixlab-image-libvirt-x86_64-linux\/disk\.qcow2$/);
    const hash = storePathHash(path.dirname(source))!;
    expect(base.inputs.contentHash).toBe(hash);
    expect(String(kernel.inputs.source)).toBe(`${path.dirname(source)}/vmlinuz`);
    expect(opLines(report.ops)).toEqual(
        [
            "Domain lvnix-solo create",
            "ImageVolume lvnix-image-x86_64 create",
            "ImageVolume lvnix-image-x86_64-initrd create",
            "ImageVolume lvnix-image-x86_64-kernel create",
            "Network lvnix-net create",
            "Pool lvnix-net-pool create",
            "SeedVolume lvnix-solo-cidata create",
            "Volume lvnix-solo-root create",
            "nixlab:Clock lvnix-clock create",
            "tls:index/privateKey:PrivateKey lvnix-operator-key create",
            "tls:index/privateKey:PrivateKey lvnix-solo-host-ed25519 create",
        ].sort(),
    );
    const nodes = report.outputs.nodes as Record<string, { ready: string; privateAddress: string }>;
    expect(nodes.solo!.ready).toMatch(/^NIXLAB-READY node=solo /);
    expect(nodes.solo!.privateAddress).toBe("10.213.11.10");
    // The domain boots the kernel from the store path's files, as nixlab-image.json says.
    const domain = Object.values(state.resources).find((e) => e.type.endsWith(":Domain"))!;
    const xml = await exec("virsh", ["-c", URI, "dumpxml", domain.id]);
    expect(xml.code, xml.stderr).toBe(0);
    expect(xml.stdout).toMatch(/<kernel>[^<]+nixlab-kernel-[0-9a-z]+<\/kernel>/);
    expect(xml.stdout).toContain("<cmdline>root=/dev/vda rw console=ttyS0,115200 mitigations=off</cmdline>");
    // Exactly the command users get; the test's settings were only in NIX_CONFIG.
    const log = fs.readFileSync(path.join(WORK, "up.log"), "utf8");
    expect(log).not.toContain("--option");
    expect(nixBuildCommand({ flake: flakeDir, backend: "libvirt", arch: "x86_64" })).toBe(
        `nix --extra-experimental-features 'nix-command flakes' build --no-link --json '${flakeDir}#packages.x86_64-linux.libvirt'`,
    );
});

it("destroy leaves no domain, volume, pool or network of the lab", async () => {
    await engine("destroy", "destroy");
    expect((await leftovers(`nixlab-${LAB}`)).sort()).toEqual([]);
});
