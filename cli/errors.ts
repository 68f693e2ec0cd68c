/**
 * Turns what the Pulumi CLI, a provider or the program said into what to do next. The
 * Automation API wraps every CLI failure in a CommandError whose message carries the CLI's
 * stderr; we recognise the common failures by the error's class name and that text.
 */
import { BACKENDS, type BackendKind } from "../components/backend";

/** Raised for mistakes the user fixes by changing the command or the stack file (exit 2). */
export class UsageError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "UsageError";
    }
}

export type ProblemKind =
    | "no-cli"
    | "cli-too-old"
    | "locked"
    | "stack-not-found"
    | "passphrase"
    | "backend-login"
    | "credentials"
    | "config"
    | "other";

export interface Explained {
    kind: ProblemKind;
    /** What to print: what happened, then what to do. */
    message: string;
}

export interface ErrorContext {
    backendUrl: string;
    stack?: string;
    /** The lab's backend, when known, to pick credential advice. */
    backendKind?: string;
    projectDir: string;
}

/** What a credential failure means on each backend, and how to give it credentials. */
export const CREDENTIALS: { [k in BackendKind]: { problem: string; fix: string } } = {
    aws: {
        problem: "AWS credentials are missing, expired or rejected.",
        fix:
            "Run `aws sso login --profile <p>` and export AWS_PROFILE=<p>, or export AWS_ACCESS_KEY_ID and " +
            "AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary keys). The region is nixlab:aws.region " +
            "in the stack file, not AWS_REGION.",
    },
    gcp: {
        problem: "Google Cloud credentials are missing, expired or rejected.",
        fix:
            "Run `gcloud auth application-default login`, or export GOOGLE_APPLICATION_CREDENTIALS=<key file> " +
            "(in CI: google-github-actions/auth). The project and zone are nixlab:gcp.* in the stack file.",
    },
    azure: {
        problem: "Azure credentials are missing, expired or rejected.",
        fix:
            "Run `az login`, or export ARM_CLIENT_ID, ARM_TENANT_ID and ARM_CLIENT_SECRET (ARM_USE_OIDC=true " +
            "in CI). The subscription is nixlab:azure.subscriptionId in the stack file.",
    },
    openstack: {
        problem: "OpenStack credentials are missing, expired or rejected.",
        fix:
            "nixlab authenticates with the clouds.yaml entry named by nixlab:openstack.cloud in the stack file " +
            "(~/.config/openstack/clouds.yaml, or OS_CLIENT_CONFIG_FILE); check its auth_url and credentials " +
            "with `openstack --os-cloud <entry> token issue`.",
    },
    libvirt: {
        problem: "libvirtd cannot be reached or refused the connection.",
        fix:
            "Check that `virsh -c qemu:///system list` works as your user (membership of the libvirt group), " +
            "or check nixlab:libvirt.uri in the stack file (qemu+ssh://user@host/system for a remote hypervisor).",
    },
};

/** Provider messages that mean "no or bad credentials", per backend. */
const CREDENTIAL_PATTERNS: [BackendKind, RegExp][] = [
    [
        "aws",
        /no valid credential sources|NoCredentialProviders|Invalid credentials configured|ExpiredToken|InvalidClientTokenId|security token included in the request is (invalid|expired)|failed to refresh cached credentials|SSO session .* (expired|invalid)/i,
    ],
    ["gcp", /could not find default credentials|invalid_grant|oauth2: cannot fetch token|Reauthentication failed|GOOGLE_APPLICATION_CREDENTIALS/i],
    ["azure", /az login|DefaultAzureCredential|AzureCLICredential|ARM_CLIENT_ID|could not acquire (an )?access token|AADSTS\d+/i],
    ["openstack", /clouds\.yaml|cloud .* (was )?not found|'auth_url' or 'cloud' must be specified|Missing input for argument \[auth_url\]|OS_AUTH_URL|requires authentication|Authentication failed.*keystone|Unable to re-authenticate/i],
    ["libvirt", /libvirt-sock|Failed to connect socket to '.*libvirt|authentication unavailable: no polkit agent|virConnectOpen/i],
];

function isBackendKind(k: string | undefined): k is BackendKind {
    return (BACKENDS as readonly string[]).includes(k ?? "");
}

function text(e: unknown): string {
    if (e instanceof Error) return e.message;
    return String(e);
}

function errorName(e: unknown): string | undefined {
    return e instanceof Error ? e.name : undefined;
}

/** The CLI's stderr without the Automation API's wrapper lines, trimmed to the useful tail. */
function cliStderr(message: string): string {
    const m = /stderr: ([\s\S]*?)(\n err\?:|$)/.exec(message);
    const body = (m ? m[1]! : message).trim();
    const lines = body.split("\n");
    return lines.length > 25 ? ["...", ...lines.slice(-25)].join("\n") : body;
}

function lockLine(message: string): string | undefined {
    return /(\S+locks\S+: created by [^\n]+)/.exec(message)?.[1];
}

export function explainError(e: unknown, ctx: ErrorContext): Explained {
    const msg = text(e);
    const name = errorName(e);
    const stack = ctx.stack ?? "<stack>";
    const env = `PULUMI_BACKEND_URL=${ctx.backendUrl}`;

    if ((e as { code?: string })?.code === "ENOENT" && /pulumi/.test(msg) || /spawn pulumi ENOENT|ENOENT: pulumi version|pulumi: (command )?not found/.test(msg)) {
        return {
            kind: "no-cli",
            message: [
                "nixlab drives the Pulumi CLI (through Pulumi's Automation API), and `pulumi` is not on PATH.",
                "Install it, then check with `pulumi version`:",
                "  curl -fsSL https://get.pulumi.com | sh      # Linux, macOS",
                "  brew install pulumi/tap/pulumi               # macOS",
                "  nix profile install nixpkgs#pulumi-bin       # Nix",
                "Everything that needs no deployment works without it: `nixlab plan <stack>`.",
            ].join("\n"),
        };
    }
    if (/Minimum version requirement failed|minimum required version/i.test(msg)) {
        return {
            kind: "cli-too-old",
            message: `Your Pulumi CLI is older than the Automation API in node_modules needs.\n${cliStderr(msg)}\nUpgrade it (\`pulumi self-update\`, or your package manager) and retry.`,
        };
    }
    if (name === "ConcurrentUpdateError" || /the stack is currently locked|Another update is currently in progress/.test(msg)) {
        const lock = lockLine(msg);
        return {
            kind: "locked",
            message: [
                `Stack ${stack} is locked by another update${lock ? `:\n  ${lock}` : "."}`,
                "Wait for that update to finish. If nothing is running any more (a killed or crashed run left the lock), clear it and reconcile state:",
                `  ${env} pulumi cancel --yes --stack ${stack} --cwd ${ctx.projectDir}`,
                `  ${env} pulumi refresh --yes --stack ${stack} --cwd ${ctx.projectDir}`,
                "then run the nixlab command again.",
            ].join("\n"),
        };
    }
    if (name === "StackNotFoundError" || /no stack named .* found/.test(msg)) {
        return {
            kind: "stack-not-found",
            message: `There is no stack ${stack} in ${ctx.backendUrl}.\n\`nixlab list\` shows the labs there; \`nixlab up ${stack}\` creates one from stacks/Pulumi.${stack}.yaml. If your labs live elsewhere, pass --backend <url> or set PULUMI_BACKEND_URL.`,
        };
    }
    if (/passphrase must be set|PULUMI_CONFIG_PASSPHRASE|incorrect passphrase|failed to decrypt/i.test(msg)) {
        return {
            kind: "passphrase",
            message: [
                `The state backend ${ctx.backendUrl} encrypts stack secrets with a passphrase, and ${/incorrect|failed to decrypt/i.test(msg) ? "the one given is wrong" : "none is set"}.`,
                "export PULUMI_CONFIG_PASSPHRASE='<passphrase>' (or PULUMI_CONFIG_PASSPHRASE_FILE=<file>) and use the same one for every command on this backend.",
                ctx.backendUrl.startsWith("file://")
                    ? "On a local file backend nixlab uses ~/.config/nixlab/passphrase (created on first use) unless one of those is set; state created with an empty passphrase needs export PULUMI_CONFIG_PASSPHRASE= to be read."
                    : "The team that shares this backend shares its passphrase: ask them for it, and keep it in a secret store (CI: a secret), never in the repository.",
            ].join("\n"),
        };
    }
    if (/PULUMI_ACCESS_TOKEN must be set|Unauthorized: No credentials provided|unauthorized.*pulumi login|\[401\]/i.test(msg)) {
        return {
            kind: "backend-login",
            message: `The state backend ${ctx.backendUrl} needs a login. Run \`pulumi login ${ctx.backendUrl}\`, or export PULUMI_ACCESS_TOKEN (Pulumi Cloud; in CI a secret). To keep state locally instead, unset PULUMI_BACKEND_URL (nixlab then uses file://<project>/.pulumi-state).`,
        };
    }
    for (const [kind, pattern] of CREDENTIAL_PATTERNS) {
        if (pattern.test(msg)) {
            const forState = ctx.backendUrl.startsWith(stateScheme(kind)) ? ` The state backend ${ctx.backendUrl} needs these credentials too.` : "";
            return { kind: "credentials", message: `${CREDENTIALS[kind].problem} ${CREDENTIALS[kind].fix}${forState}\n\n${cliStderr(msg)}` };
        }
    }
    // A provider's own wording we do not know yet: the lab's backend says whose credentials.
    if (isBackendKind(ctx.backendKind) && /credential|unauthori[sz]ed|not authenticated|authentication (failed|required)/i.test(msg)) {
        const c = CREDENTIALS[ctx.backendKind];
        return { kind: "credentials", message: `${c.problem} ${c.fix}\n\n${cliStderr(msg)}` };
    }
    if (/nixlab: invalid stack configuration/.test(msg)) {
        const start = msg.indexOf("nixlab: invalid stack configuration");
        const block = msg.slice(start).split("\n").filter((l, i) => i === 0 || /^\s+- /.test(l));
        return { kind: "config", message: `${block.join("\n")}\nFix stacks/Pulumi.${stack}.yaml and retry; \`nixlab plan ${stack}\` checks it offline.` };
    }
    return { kind: "other", message: `${name === "CommandError" ? "pulumi failed:\n" : ""}${cliStderr(msg)}` };
}

/** State backends that live in a cloud's object store need that cloud's credentials. */
function stateScheme(kind: BackendKind): string {
    switch (kind) {
        case "aws":
            return "s3://";
        case "gcp":
            return "gs://";
        case "azure":
            return "azblob://";
        case "openstack":
        case "libvirt":
            return "none:"; // no object-store state backend of their own
    }
}
