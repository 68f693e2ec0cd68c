/**
 * The nixlab program: read and validate the stack's config, then build one Lab on the
 * chosen backend. `pulumi up --stack local` runs this; so does `npm run plan` (offline).
 *
 * The module exports one async function, which Pulumi's Node.js runner calls and awaits;
 * the object it returns is the stack's outputs (pulumi/pulumi sdk/nodejs/cmd/run/run.ts:
 * "If the exported value was itself a Function, then just execute it"). Async because the
 * chosen backend, and with it its cloud SDK, is loaded with `import()` only once the
 * config names it (providers/index.ts): a libvirt stack never loads @pulumi/aws.
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

/** The stack outputs (`pulumi stack output <name>`). */
interface StackOutputs {
    /** Per node: name, machine type, addresses, ssh command, host key fingerprint, readiness. */
    nodes: Lab["nodes"];
    /** One file per lab: `pulumi stack output sshConfig > ~/.ssh/nixlab/<lab>.config`, read via `Include ~/.ssh/nixlab/*.config` (README). */
    sshConfig: Lab["sshConfig"];
    /** Save as ~/.ssh/nixlab/<lab>.known_hosts: `pulumi stack output knownHosts > ...` */
    knownHosts: Lab["knownHosts"];
    /** `pulumi stack output ansibleInventory > inventory.yaml; ansible -i inventory.yaml all -m ping` */
    ansibleInventory: Lab["ansibleInventory"];
    expiresAt: Lab["expiresAt"];
    labName: string;
    owner: string;
    backendKind: string;
    /** Secret: `pulumi stack output --show-secrets operatorPrivateKey` */
    operatorPrivateKey: Lab["operatorPrivateKey"];
}

async function main(): Promise<StackOutputs> {
    const stack = pulumi.getStack();
    const { spec, backend, placement } = await loadProgramConfig(nixlabConfig(), stack, backendLoaders);
    const lab = new Lab(spec.name, { spec, backend, stack, placement });
    return {
        nodes: lab.nodes,
        sshConfig: lab.sshConfig,
        knownHosts: lab.knownHosts,
        ansibleInventory: lab.ansibleInventory,
        expiresAt: lab.expiresAt,
        labName: spec.name,
        owner: spec.owner,
        backendKind: backend.kind,
        operatorPrivateKey: lab.operatorPrivateKey,
    };
}

// `export =`, not `export default`: Pulumi's runner `require`s a CommonJS program and calls
// module.exports itself when it is a function; a default export would be an object holding
// the function, which Pulumi would publish as an output instead of running.
export = main;
