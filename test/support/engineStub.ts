/**
 * Test equipment, not an engine: a ResourceMonitor + Engine gRPC server that Pulumi's own
 * Node.js program runner (`@pulumi/pulumi/cmd/run`, what `pulumi up` executes) talks to. It
 * records each registration (type, name, parent, inputs, options), each invoke and each log
 * line, and answers the way the engine answers a preview of a new stack: URNs built by the
 * engine's rules, no ids, the inputs back as the planned state. It refuses what the engine
 * refuses (a second resource with one URN, a parent or provider that was never registered)
 * and any invoke it has no answer for, so nothing passes by being ignored.
 *
 * Built on the generated protos and the @grpc/grpc-js that @pulumi/pulumi ships, so the
 * wire format is exactly the SDK's.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { createRequire } from "node:module";
import { optionsOfRequest, type ResourceOptionsView } from "../../scripts/offline";

// Resolve from @pulumi/pulumi's own directory: its protos and its copy of grpc-js.
const pulumiRequire = createRequire(require.resolve("@pulumi/pulumi/package.json"));
/* eslint-disable @typescript-eslint/no-explicit-any */
const grpc = pulumiRequire("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
const resourceGrpc = pulumiRequire("./proto/resource_grpc_pb.js") as any;
const resourcePb = pulumiRequire("./proto/resource_pb.js") as any;
const engineGrpc = pulumiRequire("./proto/engine_grpc_pb.js") as any;
const enginePb = pulumiRequire("./proto/engine_pb.js") as any;
const emptyPb = pulumiRequire("google-protobuf/google/protobuf/empty_pb.js") as any;
const structPb = pulumiRequire("google-protobuf/google/protobuf/struct_pb.js") as any;

/** The runner's entry, as the Go language host resolves `@pulumi/pulumi/cmd/run`. */
export const RUNNER = pulumiRequire.resolve("./cmd/run");

export interface Registration {
    type: string;
    name: string;
    urn: string;
    /** Name of the parent resource; null for children of the root stack (as `npm run plan` shows). */
    parent: string | null;
    custom: boolean;
    /** Provider reference (`<urn>::<id>`), when one was passed. */
    provider: string;
    inputs: Record<string, unknown>;
    /** The options `npm run plan` shows, read off the request by the same code (scripts/offline.ts). */
    options: ResourceOptionsView;
    /** When it arrived (Date.now()). */
    at: number;
}

export interface LogLine {
    severity: "DEBUG" | "INFO" | "WARNING" | "ERROR";
    message: string;
    urn: string;
}

export interface InvokeCall {
    token: string;
    args: Record<string, unknown>;
}

/** Answers one invoke; throw to fail it as a provider fails one (the SDK then throws in the program). */
export type InvokeAnswer = (args: Record<string, unknown>) => Record<string, unknown>;

export interface EngineStub {
    /** `127.0.0.1:<port>`, for both --monitor and --engine. */
    address: string;
    registrations: Registration[];
    outputs: Map<string, Record<string, unknown>>;
    invokes: InvokeCall[];
    logs: LogLine[];
    /** Problems the stub refused (duplicate URN, unknown parent...), as the engine would report them. */
    refused: string[];
    close(): Promise<void>;
}

const SEVERITY = ["DEBUG", "INFO", "WARNING", "ERROR"] as const;
const STACK_TYPE = "pulumi:pulumi:Stack";

export async function startEngineStub(opts: { project: string; stack: string; invokes?: Record<string, InvokeAnswer> }): Promise<EngineStub> {
    const stub: Omit<EngineStub, "address" | "close"> = { registrations: [], outputs: new Map(), invokes: [], logs: [], refused: [] };
    const byUrn = new Map<string, Registration>();
    let rootUrn = "";

    const fail = (cb: (err: unknown) => void, message: string) => {
        stub.refused.push(message);
        cb({ code: grpc.status.INVALID_ARGUMENT, details: message, message });
    };

    const monitor = {
        // A current engine advertises its features in one call; the SDK then skips probing.
        getDeploymentInfo(_call: unknown, cb: (e: unknown, r?: unknown) => void) {
            const info = new resourcePb.DeploymentInfo();
            info.setSupportedfeaturesList(Object.values(resourcePb.ResourceMonitorFeature));
            cb(null, info);
        },
        supportsFeature(_call: unknown, cb: (e: unknown, r?: unknown) => void) {
            const resp = new resourcePb.SupportsFeatureResponse();
            resp.setHassupport(true);
            cb(null, resp);
        },
        registerResource(call: any, cb: (e: unknown, r?: unknown) => void) {
            const req = call.request;
            const type: string = req.getType();
            const name: string = req.getName();
            const parentUrn: string = req.getParent();
            const parentReg = parentUrn ? byUrn.get(parentUrn) : undefined;
            if (parentUrn && !parentReg) return fail(cb, `${type} ${name}: parent ${parentUrn} was never registered`);
            // The engine's URN: the qualified type chains ancestor types with '$' below the stack.
            const parentQualified = parentReg && parentReg.type !== STACK_TYPE ? parentUrn.split("::")[2] : undefined;
            const qualified = parentQualified ? `${parentQualified}$${type}` : type;
            const urn = `urn:pulumi:${opts.stack}::${opts.project}::${qualified}::${name}`;
            if (byUrn.has(urn)) return fail(cb, `Duplicate resource URN '${urn}'; try giving it a unique name`);
            const provider: string = req.getProvider();
            if (provider) {
                const providerUrn = provider.split("::").slice(0, -1).join("::");
                if (!byUrn.has(providerUrn)) return fail(cb, `${type} ${name}: provider ${provider} was never registered`);
            }
            for (const dep of req.getDependenciesList() as string[]) {
                if (!byUrn.has(dep)) return fail(cb, `${type} ${name}: dependency ${dep} was never registered`);
            }
            const object = req.getObject();
            const reg: Registration = {
                type,
                name,
                urn,
                parent: parentReg && parentReg.type !== STACK_TYPE ? parentReg.name : null,
                custom: req.getCustom(),
                provider,
                inputs: object ? object.toJavaScript() : {},
                options: optionsOfRequest(req),
                at: Date.now(),
            };
            byUrn.set(urn, reg);
            stub.registrations.push(reg);
            // A preview of a create: no id yet; a custom resource's planned state is its
            // inputs (anything else it will have is unknown); a component's state is empty.
            const resp = new resourcePb.RegisterResourceResponse();
            resp.setUrn(urn);
            resp.setId("");
            resp.setObject(reg.custom && object ? object : structPb.Struct.fromJavaScript({}));
            cb(null, resp);
        },
        registerResourceOutputs(call: any, cb: (e: unknown, r?: unknown) => void) {
            const urn: string = call.request.getUrn();
            if (!byUrn.has(urn)) return fail(cb, `outputs for ${urn}, which was never registered`);
            const outs = call.request.getOutputs();
            stub.outputs.set(urn, outs ? outs.toJavaScript() : {});
            cb(null, new emptyPb.Empty());
        },
        invoke(call: any, cb: (e: unknown, r?: unknown) => void) {
            const token: string = call.request.getTok();
            const args = call.request.getArgs()?.toJavaScript() ?? {};
            stub.invokes.push({ token, args });
            const answer = opts.invokes?.[token];
            if (!answer) return fail(cb, `no answer for invoke ${token} (args ${JSON.stringify(args)})`);
            let result: Record<string, unknown>;
            try {
                result = answer(args);
            } catch (e) {
                // A provider's invoke error comes back from the engine as a gRPC error with
                // this wording (pkg/resource/deploy/source_eval.go, Invoke).
                const details = `invocation of ${token} returned an error: ${e instanceof Error ? e.message : String(e)}`;
                return cb({ code: grpc.status.UNKNOWN, details, message: details });
            }
            const resp = new resourcePb.InvokeResponse();
            resp.setReturn(structPb.Struct.fromJavaScript(result));
            cb(null, resp);
        },
        readResource(call: any, cb: (e: unknown) => void) {
            fail(cb, `read of ${call.request.getType()} ${call.request.getName()}: the program reads no existing resources`);
        },
        call(call: any, cb: (e: unknown) => void) {
            fail(cb, `call ${call.request.getTok()}: the program calls no component methods`);
        },
        registerPackage(_call: unknown, cb: (e: unknown, r?: unknown) => void) {
            const resp = new resourcePb.RegisterPackageResponse();
            resp.setRef("stub-package");
            cb(null, resp);
        },
        signalAndWaitForShutdown(_call: unknown, cb: (e: unknown, r?: unknown) => void) {
            cb(null, new emptyPb.Empty());
        },
    };

    const engine = {
        log(call: any, cb: (e: unknown, r?: unknown) => void) {
            stub.logs.push({ severity: SEVERITY[call.request.getSeverity() as number] ?? "INFO", message: call.request.getMessage(), urn: call.request.getUrn() });
            cb(null, new emptyPb.Empty());
        },
        getRootResource(_call: unknown, cb: (e: unknown, r?: unknown) => void) {
            const resp = new enginePb.GetRootResourceResponse();
            resp.setUrn(rootUrn);
            cb(null, resp);
        },
        setRootResource(call: any, cb: (e: unknown, r?: unknown) => void) {
            rootUrn = call.request.getUrn();
            cb(null, new enginePb.SetRootResourceResponse());
        },
        requirePulumiVersion(_call: unknown, cb: (e: unknown, r?: unknown) => void) {
            cb(null, new emptyPb.Empty());
        },
    };

    const server = new grpc.Server();
    server.addService(resourceGrpc.ResourceMonitorService, monitor as any);
    server.addService(engineGrpc.EngineService, engine as any);
    // Loopback only: the runner is a child process of the test.
    const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return {
        ...stub,
        address: `127.0.0.1:${port}`,
        close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    };
}

export interface RunnerResult {
    code: number | null;
    stdout: string;
    stderr: string;
    /** ms from spawning the runner to its first registration (the root stack), or null. */
    firstRegistrationMs: number | null;
    /** ms from spawning the runner to its first resource after the stack, or null. */
    firstResourceMs: number | null;
    wallMs: number;
}

export interface RunnerOptions {
    /** Project directory (Pulumi.yaml, package.json, tsconfig). */
    cwd: string;
    project: string;
    stack: string;
    /** The config map the CLI hands the language host: full keys, string values. */
    config: Record<string, string>;
    secretKeys?: string[];
    dryRun: boolean;
    /** `runtime.options.typescript` of Pulumi.yaml (the language host's default is true). */
    typescript: boolean;
    /** `runtime.options.tsconfig` of Pulumi.yaml, if set. */
    tsconfig?: string;
    /** More environment (e.g. PULUMI_NODEJS_TRANSPILE_ONLY). */
    env?: Record<string, string>;
    timeoutMs?: number;
}

/**
 * Runs `node @pulumi/pulumi/cmd/run` with the arguments and environment Pulumi's Go
 * language host (sdk/nodejs/cmd/pulumi-language-nodejs/main.go, `constructArguments`,
 * `constructConfig`, `execNodejs`) passes, against this stub.
 */
export async function runProgram(stub: EngineStub, o: RunnerOptions): Promise<RunnerResult> {
    const args = [
        RUNNER,
        "--monitor",
        stub.address,
        "--engine",
        stub.address,
        "--organization",
        "organization",
        "--project",
        o.project,
        "--root-directory",
        o.cwd,
        "--stack",
        o.stack,
        "--pwd",
        o.cwd,
        ...(o.dryRun ? ["--dry-run"] : []),
        // The CLI's default when -p is not given.
        "--parallel",
        "2147483647",
        // The engine passes "." when Pulumi.yaml has no `main`: package.json's main is used.
        ".",
    ];
    // The language host rewrites `ns:key` to the old `ns:config:key` form the SDK reads.
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.config)) {
        const i = k.indexOf(":");
        config[`${k.slice(0, i)}:config:${k.slice(i + 1)}`] = v;
    }
    const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        PULUMI_CONFIG: JSON.stringify(config),
        PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(o.secretKeys ?? []),
        ...(o.typescript ? { PULUMI_NODEJS_TYPESCRIPT: "true" } : {}),
        ...(o.tsconfig ? { PULUMI_NODEJS_TSCONFIG_PATH: o.tsconfig } : {}),
        ...o.env,
    };
    // Nothing of the test runner's own loaders may leak into the program's process.
    delete env.NODE_OPTIONS;
    const start = Date.now();
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, args, { cwd: o.cwd, env });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 300_000);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            const first = stub.registrations[0];
            const firstResource = stub.registrations.find((r) => r.type !== STACK_TYPE);
            resolve({
                code,
                stdout,
                stderr,
                firstRegistrationMs: first ? first.at - start : null,
                firstResourceMs: firstResource ? firstResource.at - start : null,
                wallMs: Date.now() - start,
            });
        });
    });
}

export const PROGRAM_DIR = path.resolve(__dirname, "..", "..");
