/**
 * Test equipment for real `nix build`s of test/fixtures/nix-image (Debian's Nix 2.8, no
 * nixpkgs, no network). Everything test-only reaches Nix through NIX_CONFIG, so the
 * command the program runs stays byte for byte what users get:
 * - `substituters =`: never ask a binary cache (the network rule);
 * - `flake-registry = <work>/registry.json`: resolves the flake's `nixlab-fixture` input to
 *   the given fixture directory, and keeps Nix from fetching the global registry;
 * - `extra-sandbox-paths`: the host's /bin/sh and coreutils for the flake's builder;
 * - `build-users-group =` when running as root on a host without the nixbld group.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export const NIX_IMAGE_FLAKE = path.resolve(__dirname, "..", "fixtures", "nix-image");

function hasGroup(name: string): boolean {
    try {
        return fs.readFileSync("/etc/group", "utf8").split("\n").some((l) => l.split(":")[0] === name);
    } catch {
        return false;
    }
}

/** `/bin` or `/bin=/usr/bin` (merged /usr): a sandbox path entry for a host directory. */
function sandboxPath(dir: string): string | undefined {
    if (!fs.existsSync(dir)) return undefined;
    const real = fs.realpathSync(dir);
    return real === dir ? dir : `${dir}=${real}`;
}

/**
 * Copies the test flake into `<work>/flake` (Nix writes its lock file there, not into the
 * repository) and returns the NIX_CONFIG value that builds it from `fixtureDir`.
 */
export function prepareNixImageFlake(work: string, fixtureDir: string): { flakeDir: string; nixConfig: string } {
    const flakeDir = path.join(work, "flake");
    fs.mkdirSync(flakeDir, { recursive: true });
    fs.copyFileSync(path.join(NIX_IMAGE_FLAKE, "flake.nix"), path.join(flakeDir, "flake.nix"));
    fs.rmSync(path.join(flakeDir, "flake.lock"), { force: true });
    const registry = path.join(work, "registry.json");
    fs.writeFileSync(
        registry,
        JSON.stringify({ version: 2, flakes: [{ from: { type: "indirect", id: "nixlab-fixture" }, to: { type: "path", path: fixtureDir } }] }),
    );
    const sandbox = ["/bin", "/usr", "/lib", "/lib64"].map(sandboxPath).filter((p): p is string => p !== undefined);
    const lines = ["substituters =", `flake-registry = ${registry}`, `extra-sandbox-paths = ${sandbox.join(" ")}`];
    if (process.getuid?.() === 0 && !hasGroup("nixbld")) lines.push("build-users-group =");
    return { flakeDir, nixConfig: lines.join("\n") };
}
