/**
 * The explicit GCP provider and the lab's isolated network: a custom-mode VPC network with
 * one subnetwork (the lab CIDR), a firewall rule letting SSH in only from the configured
 * CIDRs, and one allowing traffic between lab nodes. Egress is Compute Engine's implied
 * allow-all.
 */
// Submodules, not "@pulumi/gcp": the barrel makes tsc parse every service (test/layout.test.ts).
import * as compute from "@pulumi/gcp/compute";
import { Provider } from "@pulumi/gcp/provider";
import type * as pulumi from "@pulumi/pulumi";
import type { BackendContext } from "../../components/backend";
import { providerDefaultTags } from "../../components/tags";
import { fitName } from "../../components/names";
import type { GcpConfig } from "./config";
import { gcpLabelsOf } from "./labels";

export interface GcpNet {
    provider: Provider;
    /** `{ parent, provider }` for every child of the lab on GCP. */
    opts: pulumi.CustomResourceOptions;
    config: GcpConfig;
    network: compute.Network;
    subnetwork: compute.Subnetwork;
    /** Nodes wait for these, so SSH is open when the readiness check starts. */
    firewalls: compute.Firewall[];
}

/** Compute Engine's name rule (RFC 1035 label): at most 63 characters. */
export const GCP_NAME_MAX = 63;
const GCP_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Physical name for a resource whose autoname (logical name + 8) would pass Compute
 * Engine's 63-character limit: a cut name plus a hash of the stack and the full name, so two
 * stacks with the same (long) lab name never get one name. Undefined when the autoname fits,
 * which keeps Pulumi's random suffix (unique per stack by construction).
 */
export function physicalName(logical: string, stack: string): string | undefined {
    if (logical.length + 8 <= GCP_NAME_MAX) return undefined;
    let h = 0;
    for (const c of `${stack}/${logical}`) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
    return checkedGcpName(fitName("", logical, h.toString(16).padStart(8, "0"), GCP_NAME_MAX));
}

/** A name Compute Engine takes, or a programming error that names the rule it breaks. */
export function checkedGcpName(name: string): string {
    if (!GCP_NAME.test(name)) {
        throw new Error(`nixlab: GCP name ${JSON.stringify(name)} breaks Compute Engine's rule ${GCP_NAME} (at most ${GCP_NAME_MAX} characters)`);
    }
    return name;
}

export function createGcpNetwork(ctx: BackendContext, name: string, config: GcpConfig): GcpNet {
    const lab = ctx.lab;
    // Default labels as well as explicit ones: a labelable resource added later without
    // `labels` still carries the lab's, all but the expiry (see providerDefaultTags).
    const provider = new Provider(
        `${name}-provider`,
        { project: config.project, region: config.region, zone: config.zone, defaultLabels: gcpLabelsOf(providerDefaultTags(ctx.tags)) },
        { parent: ctx.parent },
    );
    const opts: pulumi.CustomResourceOptions = { parent: ctx.parent, provider };

    // Networks, subnetworks and firewall rules take no labels in the Compute API; they are
    // found through the lab's name in theirs.
    const network = new compute.Network(
        `${name}-vpc`,
        { autoCreateSubnetworks: false, description: `nixlab lab ${lab.name} (stack ${ctx.stack})` },
        opts,
    );
    const subnetwork = new compute.Subnetwork(
        `${name}-subnet`,
        {
            network: network.id,
            region: config.region,
            ipCidrRange: lab.network.cidr,
            // Nodes without public addresses still reach Google APIs (e.g. GCS).
            privateIpGoogleAccess: true,
            description: `nixlab lab ${lab.name}: node addresses are .10 + index`,
        },
        opts,
    );
    const firewalls = [
        new compute.Firewall(
            `${name}-internal`,
            {
                network: network.id,
                direction: "INGRESS",
                sourceRanges: [lab.network.cidr],
                allows: [{ protocol: "all" }],
                description: "all traffic between lab nodes",
            },
            opts,
        ),
    ];
    if (lab.network.sshIngressCidrs.length > 0) {
        firewalls.push(
            new compute.Firewall(
                `${name}-ssh`,
                {
                    network: network.id,
                    direction: "INGRESS",
                    sourceRanges: lab.network.sshIngressCidrs,
                    allows: [{ protocol: "tcp", ports: ["22"] }],
                    description: "SSH from nixlab:lab.network.sshIngressCidrs",
                },
                opts,
            ),
        );
    }
    return { provider, opts, config, network, subnetwork, firewalls };
}
