/**
 * Which policy pack a run uses and with what config. The KVM policy cannot know what an
 * OpenStack flavor gives (flavors are each cloud's operators' own), but the stack file says
 * so (`nixlab:openstack.flavors.<name>.kvm`): `--policy` hands that to the pack as
 * `openstackFlavors`, merged into the user's own `--policy-config`, in a private temporary
 * file that lives only as long as the command.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UsageError } from "./errors";
import type { ConfigMap, RunHooks } from "./workspace";

export interface PolicyOptions {
    /** Run the nixlab policy pack (policy/) with the operation. */
    policy?: boolean;
    /** JSON file with the pack's config, e.g. `{"nixlab-no-world-ssh": {"allowWorldSsh": true}}`. */
    policyConfig?: string;
}

/** policy/policies.ts kvmMachineType (not imported: the CLI does not load @pulumi/policy). */
export const KVM_POLICY = "nixlab-kvm-machine-type";
const KVM_MODES = ["none", "nested", "metal"];

export interface PolicyRun {
    hooks: Pick<RunHooks, "policyPacks" | "policyPackConfigs">;
    /** Removes the generated config file, if one was written. */
    cleanup: () => void;
}

/**
 * Flavor name → kvm from an OpenStack stack's `nixlab:openstack.flavors`; undefined for other
 * backends or when there is nothing usable. Malformed entries are skipped, not reported:
 * the program itself validates that config and says what is wrong.
 */
export function openstackFlavorKvm(config: ConfigMap): Record<string, string> | undefined {
    if (config["nixlab:backend"]?.value !== "openstack") return undefined;
    let raw: unknown;
    try {
        raw = JSON.parse(config["nixlab:openstack"]?.value ?? "null");
    } catch {
        return undefined;
    }
    const flavors = (raw as { flavors?: unknown } | null)?.flavors;
    if (!flavors || typeof flavors !== "object") return undefined;
    const out: Record<string, string> = {};
    for (const [name, f] of Object.entries(flavors as Record<string, unknown>)) {
        const kvm = (f as { kvm?: unknown } | null)?.kvm;
        if (typeof kvm === "string" && KVM_MODES.includes(kvm)) out[name] = kvm;
    }
    return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The user's pack config with the stack's flavors added to the KVM policy. A policy's entry
 * may be just an enforcement level (`"advisory"`) or an object of properties that may hold
 * `enforcementLevel` too (pulumi/pulumi pkg/resource/analyzer/config.go,
 * parsePolicyPackConfig), so a bare level becomes `{ enforcementLevel }`. The user's own
 * openstackFlavors, if given, win.
 */
export function withOpenStackFlavors(user: Record<string, unknown>, flavors: Record<string, string>): Record<string, unknown> {
    const given = user[KVM_POLICY];
    const own = typeof given === "string" ? { enforcementLevel: given } : given && typeof given === "object" ? given : {};
    return { ...user, [KVM_POLICY]: { openstackFlavors: flavors, ...own } };
}

function readPackConfig(file: string): Record<string, unknown> {
    let v: unknown;
    try {
        v = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new UsageError(`--policy-config ${file} cannot be read as JSON (${(e as Error).message}); see policy/config.example.json`);
    }
    if (!v || typeof v !== "object" || Array.isArray(v)) {
        throw new UsageError(`--policy-config ${file} must hold a JSON object of policy name → config, got ${JSON.stringify(v)}; see policy/config.example.json`);
    }
    return v as Record<string, unknown>;
}

/** The pack and config files for one command; without --policy/--policy-config, none. */
export function policyRun(projectDir: string, p: PolicyOptions, config: ConfigMap): PolicyRun {
    const none = () => {};
    if (!p.policy && !p.policyConfig) return { hooks: {}, cleanup: none };
    const policyPacks = [path.join(projectDir, "policy")];
    const flavors = openstackFlavorKvm(config);
    if (!flavors) return { hooks: { policyPacks, ...(p.policyConfig ? { policyPackConfigs: [path.resolve(p.policyConfig)] } : {}) }, cleanup: none };
    const user = p.policyConfig ? readPackConfig(path.resolve(p.policyConfig)) : {};
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nixlab-policy-"));
    const file = path.join(dir, "policy-config.json");
    fs.writeFileSync(file, JSON.stringify(withOpenStackFlavors(user, flavors), null, 2) + "\n", { mode: 0o600 });
    return { hooks: { policyPacks, policyPackConfigs: [file] }, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
