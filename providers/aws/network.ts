/**
 * The explicit AWS provider and the lab's isolated network: one VPC holding one subnet
 * (the lab CIDR) in one zone, an internet gateway, and a security group that lets SSH in
 * only from the configured CIDRs.
 */
// Submodules, not "@pulumi/aws": the barrel makes tsc parse every service (test/layout.test.ts).
import * as ec2 from "@pulumi/aws/ec2";
import { Provider } from "@pulumi/aws/provider";
import * as pulumi from "@pulumi/pulumi";
import type { BackendContext } from "../../components/backend";
import { providerDefaultTags, type Tags } from "../../components/tags";
import type { AwsConfig } from "./config";

export interface AwsNet {
    provider: Provider;
    /** `{ parent, provider }` for every child of the lab on AWS. */
    opts: pulumi.CustomResourceOptions;
    availabilityZone: string;
    vpc: ec2.Vpc;
    subnet: ec2.Subnet;
    securityGroup: ec2.SecurityGroup;
    /** Nodes wait for these, so a public address is routable once the instance exists. */
    routing: pulumi.Resource[];
}

/** Lab tags plus a `Name`, which the EC2 console shows as the resource's name. */
export function named(tags: Tags, name: pulumi.Input<string>): Tags {
    return { ...tags, Name: name };
}

export function createAwsNetwork(ctx: BackendContext, name: string, config: AwsConfig): AwsNet {
    const lab = ctx.lab;
    const provider = new Provider(
        `${name}-provider`,
        // Default tags as well as explicit ones: a taggable resource added later without
        // `tags` is still found by `nixlab gc` and the policy pack. Without the expiry,
        // which is unknown until the first `up` (see providerDefaultTags).
        { region: config.region, defaultTags: { tags: providerDefaultTags(ctx.tags) } },
        { parent: ctx.parent },
    );
    const opts: pulumi.CustomResourceOptions = { parent: ctx.parent, provider };

    const vpc = new ec2.Vpc(
        `${name}-vpc`,
        { cidrBlock: lab.network.cidr, enableDnsSupport: true, enableDnsHostnames: true, tags: named(ctx.tags, `${name}-vpc`) },
        opts,
    );
    // One subnet spanning the lab CIDR: node addresses are `.10 + index` of that CIDR, and
    // one zone keeps every node next to its EBS volumes.
    const subnet = new ec2.Subnet(
        `${name}-subnet`,
        {
            vpcId: vpc.id,
            cidrBlock: lab.network.cidr,
            availabilityZone: config.availabilityZone,
            // Public addresses are decided per instance (associatePublicIpAddress), so a lab
            // with publicAddresses: false never gets one by subnet default.
            mapPublicIpOnLaunch: false,
            tags: named(ctx.tags, `${name}-subnet`),
        },
        opts,
    );
    // Created even for labs without public addresses: it costs nothing, and the nodes'
    // outbound traffic (cloud-init packages, nix substituters) needs it.
    const igw = new ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: named(ctx.tags, `${name}-igw`) }, opts);
    const routeTable = new ec2.RouteTable(`${name}-rt`, { vpcId: vpc.id, tags: named(ctx.tags, `${name}-rt`) }, opts);
    const route = new ec2.Route(
        `${name}-default-route`,
        { routeTableId: routeTable.id, destinationCidrBlock: "0.0.0.0/0", gatewayId: igw.id },
        opts,
    );
    const association = new ec2.RouteTableAssociation(`${name}-rt-assoc`, { subnetId: subnet.id, routeTableId: routeTable.id }, opts);

    // Inline rules: the group and its rules are replaced as one, so a plan shows the whole
    // ingress policy in one place and no half-applied rule set can exist.
    const securityGroup = new ec2.SecurityGroup(
        `${name}-sg`,
        {
            vpcId: vpc.id,
            description: `nixlab lab ${lab.name}: SSH from nixlab:lab.network.sshIngressCidrs, all traffic inside the lab`,
            ingress: [
                ...(lab.network.sshIngressCidrs.length > 0
                    ? [{ description: "SSH from nixlab:lab.network.sshIngressCidrs", protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: lab.network.sshIngressCidrs }]
                    : []),
                { description: "all traffic between lab nodes", protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: [lab.network.cidr] },
            ],
            egress: [{ description: "all outbound", protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
            tags: named(ctx.tags, `${name}-sg`),
        },
        opts,
    );

    return {
        provider,
        opts,
        availabilityZone: config.availabilityZone,
        vpc,
        subnet,
        securityGroup,
        routing: [route, association],
    };
}
