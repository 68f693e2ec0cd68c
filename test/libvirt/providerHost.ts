/**
 * Pulumi's own dynamic-provider host, run the way the engine runs it, and a gRPC client
 * for it. The test engine (engine.ts) executes every dynamic resource through this and
 * never through the in-process provider objects, so the provider code that runs is the
 * serialized `__provider` text (closure serialization is part of every real run), loaded
 * by the host's `requireFromString(text).handler()` in a plain Node process.
 *
 * How the Pulumi CLI starts it (pulumi/pulumi sdk/nodejs/dist/pulumi-resource-pulumi-nodejs):
 *   node "$(node -e "console.log(require.resolve('@pulumi/pulumi/cmd/dynamic-provider'))")" <engine address>
 * with the project directory as working directory and the CLI's environment. That
 * working directory matters: `require-from-string` resolves the `require` calls inside
 * provider methods from it (Module._nodeModulePaths(path.dirname(''))), so a provider
 * that only works with the repository's own paths fails here as it would under the CLI.
 * The host prints its port on the first stdout line; the engine then calls Configure once
 * and Check/Diff/Create/Update/Delete per resource, with properties as protobuf Structs
 * (so values a Struct cannot carry, like `undefined` in outputs, fail here as they would there).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";

const PROVIDER_KEY = "__provider";

/* eslint-disable @typescript-eslint/no-explicit-any -- protobuf modules ship loose typings */
interface Protos {
    grpc: typeof import("@grpc/grpc-js");
    struct: any;
    empty: any;
    prov: any;
    client: any;
}

/** Pulumi's own copies of grpc-js and the protos, as the host loads them (one google-protobuf instance). */
function loadProtos(projectDir: string): Protos {
    const sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [projectDir] }));
    const from = (m: string) => require(require.resolve(m, { paths: [sdk] }));
    return {
        grpc: from("@grpc/grpc-js"),
        struct: from("google-protobuf/google/protobuf/struct_pb"),
        empty: from("google-protobuf/google/protobuf/empty_pb"),
        prov: require(path.join(sdk, "proto", "provider_pb")),
        client: require(path.join(sdk, "proto", "provider_grpc_pb")).ResourceProviderClient,
    };
}

export interface DiffResult {
    /** true: DIFF_SOME, false: DIFF_NONE, undefined: DIFF_UNKNOWN (the provider had no diff). */
    changes: boolean | undefined;
    replaces: string[];
    deleteBeforeReplace: boolean;
}

export interface CheckFailure {
    property: string;
    reason: string;
}

/** What identifies a resource to the provider (the engine sends URN, type and name with every call). */
export interface ResourceRef {
    urn: string;
    type: string;
    name: string;
}

export class DynamicProviderHost {
    private constructor(
        private readonly child: ChildProcess,
        private readonly protos: Protos,
        private readonly client: any,
        private readonly exited: Promise<number | null>,
    ) {}

    /**
     * Starts the host in `projectDir` with `env` (the CLI's environment) and configures it
     * with an empty provider config, as the engine does before the first resource call.
     * Every stdout/stderr line after the port goes to `log` (the engine shows it as diagnostics).
     */
    static async start(opts: { projectDir: string; env?: NodeJS.ProcessEnv; log: (line: string) => void }): Promise<DynamicProviderHost> {
        const protos = loadProtos(opts.projectDir);
        const script = require.resolve("@pulumi/pulumi/cmd/dynamic-provider", { paths: [opts.projectDir] });
        // The engine's address: the host requires the argument but never dials it.
        const child = spawn(process.execPath, [script, "127.0.0.1:0"], {
            cwd: opts.projectDir,
            env: opts.env ?? process.env,
            stdio: ["ignore", "pipe", "pipe"],
        });
        const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
        readline.createInterface({ input: child.stderr! }).on("line", (l) => opts.log(`provider host: ${l}`));
        const lines = readline.createInterface({ input: child.stdout! });
        const port = await new Promise<string>((resolve, reject) => {
            let first = true;
            lines.on("line", (l) => {
                if (first) {
                    first = false;
                    resolve(l.trim());
                } else opts.log(`provider host: ${l}`);
            });
            void exited.then((code) => reject(new Error(`the dynamic-provider host (${script}) exited with ${code} before printing its port`)));
        });
        if (!/^\d+$/.test(port)) throw new Error(`the dynamic-provider host printed ${JSON.stringify(port)} where its port belongs`);
        const client = new protos.client(`127.0.0.1:${port}`, protos.grpc.credentials.createInsecure());
        const host = new DynamicProviderHost(child, protos, client, exited);
        const req = new protos.prov.ConfigureRequest();
        req.setArgs(protos.struct.Struct.fromJavaScript({}));
        req.setAcceptsecrets(true);
        req.setAcceptresources(true);
        const resp = await host.call<any>("configure", req);
        // The dynamic host does not accept secrets, so the engine sends them unwrapped (revealed).
        if (resp.getAcceptsecrets()) throw new Error("the dynamic-provider host now accepts secrets: the engine must send them marked");
        return host;
    }

    private call<T>(method: string, req: unknown): Promise<T> {
        return new Promise((resolve, reject) => {
            this.client[method](req, (err: (Error & { details?: string }) | null, resp: T) => {
                // grpc-js puts the provider's own message in `details`; `message` adds "2 UNKNOWN: ".
                if (err) reject(new Error(err.details || err.message));
                else resolve(resp);
            });
        });
    }

    private struct(v: Record<string, unknown>): unknown {
        return this.protos.struct.Struct.fromJavaScript(v);
    }

    private withRef<R extends { setUrn(u: string): void; setType(t: string): void; setName(n: string): void }>(req: R, ref: ResourceRef): R {
        req.setUrn(ref.urn);
        req.setType(ref.type);
        req.setName(ref.name);
        return req;
    }

    async check(ref: ResourceRef, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<{ inputs: Record<string, unknown>; failures: CheckFailure[] }> {
        const req = this.withRef(new this.protos.prov.CheckRequest(), ref);
        req.setOlds(this.struct(olds));
        req.setNews(this.struct(news));
        const resp = await this.call<any>("check", req);
        return {
            inputs: (resp.getInputs()?.toJavaScript() ?? {}) as Record<string, unknown>,
            failures: resp.getFailuresList().map((f: any) => ({ property: f.getProperty(), reason: f.getReason() })),
        };
    }

    /** `olds` are the resource's last outputs (with their `__provider`), `news` the checked inputs. */
    async diff(ref: ResourceRef, id: string, olds: Record<string, unknown>, news: Record<string, unknown>, oldInputs: Record<string, unknown>): Promise<DiffResult> {
        const req = this.withRef(new this.protos.prov.DiffRequest(), ref);
        req.setId(id);
        req.setOlds(this.struct(olds));
        req.setNews(this.struct(news));
        req.setOldInputs(this.struct(oldInputs));
        const resp = await this.call<any>("diff", req);
        const C = this.protos.prov.DiffResponse.DiffChanges;
        const changes = resp.getChanges();
        return {
            changes: changes === C.DIFF_SOME ? true : changes === C.DIFF_NONE ? false : undefined,
            replaces: resp.getReplacesList(),
            deleteBeforeReplace: resp.getDeletebeforereplace(),
        };
    }

    async create(ref: ResourceRef, props: Record<string, unknown>): Promise<{ id: string; outs: Record<string, unknown> }> {
        const req = this.withRef(new this.protos.prov.CreateRequest(), ref);
        req.setProperties(this.struct(props));
        const resp = await this.call<any>("create", req);
        return { id: resp.getId(), outs: (resp.getProperties()?.toJavaScript() ?? {}) as Record<string, unknown> };
    }

    async update(ref: ResourceRef, id: string, olds: Record<string, unknown>, news: Record<string, unknown>, oldInputs: Record<string, unknown>): Promise<Record<string, unknown>> {
        const req = this.withRef(new this.protos.prov.UpdateRequest(), ref);
        req.setId(id);
        req.setOlds(this.struct(olds));
        req.setNews(this.struct(news));
        req.setOldInputs(this.struct(oldInputs));
        const resp = await this.call<any>("update", req);
        return (resp.getProperties()?.toJavaScript() ?? {}) as Record<string, unknown>;
    }

    /** `props` are the outputs in state: their `__provider` is the code that created the resource. */
    async delete(ref: ResourceRef, id: string, props: Record<string, unknown>, oldInputs: Record<string, unknown>): Promise<void> {
        if (typeof props[PROVIDER_KEY] !== "string") throw new Error(`${ref.urn}: no serialized provider in state; cannot delete ${id}`);
        const req = this.withRef(new this.protos.prov.DeleteRequest(), ref);
        req.setId(id);
        req.setProperties(this.struct(props));
        req.setOldInputs(this.struct(oldInputs));
        await this.call("delete", req);
    }

    /** Ends the host, as the engine does when the update is over. */
    async stop(): Promise<void> {
        this.client.close();
        if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
        await this.exited;
    }
}
/* eslint-enable @typescript-eslint/no-explicit-any */
