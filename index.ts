/**
 * The nixlab program: read and validate the stack's config, then build one Lab on the
 * chosen backend. `pulumi up --stack local` runs this; so does `npm run plan` (offline).
 */
import * as pulumi from "@pulumi/pulumi";
import { loadProgramConfig, PROJECT } from "./components/config";
import { Lab } from "./components/lab";
import { backendLoaders } from "./providers";

function nixlabConfig(): Record<string, string | undefined> {
    const prefix = `${PROJECT}:`;
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(pulumi.runtime.allConfig())) {
        if (key.startsWith(prefix)) out[key.slice(prefix.length)] = value;
    }
    return out;
}

const stack = pulumi.getStack();
const { spec, backend, placement } = loadProgramConfig(nixlabConfig(), stack, backendLoaders);
const lab = new Lab(spec.name, { spec, backend, stack, placement });

/** Per node: name, machine type, addresses, ssh command, host key fingerprint, readiness. */
export const nodes = lab.nodes;
/** One file per lab: `pulumi stack output sshConfig > ~/.ssh/nixlab/<lab>.config`, read via `Include ~/.ssh/nixlab/*.config` (README). */
export const sshConfig = lab.sshConfig;
/** Save as ~/.ssh/nixlab/<lab>.known_hosts: `pulumi stack output knownHosts > ...` */
export const knownHosts = lab.knownHosts;
/** `pulumi stack output ansibleInventory > inventory.yaml; ansible -i inventory.yaml all -m ping` */
export const ansibleInventory = lab.ansibleInventory;
export const expiresAt = lab.expiresAt;
export const labName = spec.name;
export const owner = spec.owner;
export const backendKind = backend.kind;
/** Secret: `pulumi stack output --show-secrets operatorPrivateKey` */
export const operatorPrivateKey = lab.operatorPrivateKey;
