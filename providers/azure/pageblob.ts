/**
 * Uploads a local fixed VHD as a *page* blob. Azure builds managed disks and gallery image
 * versions only from page blobs, and @pulumi/azure-native's `storage.Blob` creates only Block
 * and Append blobs (its BlobType enum; provider/pkg/resources/customresources in
 * pulumi/pulumi-azure-native), so this small dynamic provider speaks the Blob REST API itself:
 * "Put Blob" with x-ms-blob-type: PageBlob, then "Put Page" for each 4 MiB range holding data.
 * Page blobs start zeroed, so all-zero ranges (most of a fresh NixOS disk) are skipped.
 *
 * Authorization is a service SAS for this one blob, minted by ARM (listStorageAccountServiceSAS),
 * so no key or signing code lives here. The provider object is serialized into state: its
 * functions use only their arguments and `require` what they need inside.
 */
import * as pulumi from "@pulumi/pulumi";

export interface PageBlobInputs {
    /** `https://<account>.blob.core.windows.net/<container>/<blob>`, without a query. */
    url: string;
    /** SAS query string (no leading "?") allowing create/write/delete on this blob. Secret. */
    sas: string;
    /** Local file to upload; its size must be a multiple of 512 bytes (a fixed VHD is). */
    path: string;
    /** Content key of the file: a different hash is a different blob. */
    hash: string;
}

export interface PageBlobOutputs extends PageBlobInputs {
    sizeBytes: number;
    /** Bytes actually sent (non-zero 4 MiB ranges). */
    uploadedBytes: number;
}

/** The REST calls, exported so tests can run them against a local fake of the Blob service. */
export async function uploadPageBlob(inputs: PageBlobInputs): Promise<PageBlobOutputs> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require("node:fs") as typeof import("node:fs");
    const CHUNK = 4 * 1024 * 1024; // Put Page accepts at most 4 MiB per request.
    const PARALLEL = 4;
    const sizeBytes = fs.statSync(inputs.path).size;
    if (sizeBytes % 512 !== 0) {
        throw new Error(`nixlab: ${inputs.path} is ${sizeBytes} bytes; page blobs need a multiple of 512 (is it a fixed VHD?)`);
    }
    await blobRequest("PUT", inputs, "", {
        "x-ms-blob-type": "PageBlob",
        "x-ms-blob-content-length": String(sizeBytes),
        "x-ms-blob-content-type": "application/octet-stream",
    });
    const fd = fs.openSync(inputs.path, "r");
    let uploadedBytes = 0;
    try {
        const offsets: number[] = [];
        for (let o = 0; o < sizeBytes; o += CHUNK) offsets.push(o);
        const worker = async () => {
            for (let o = offsets.shift(); o !== undefined; o = offsets.shift()) {
                const len = Math.min(CHUNK, sizeBytes - o);
                const buf = Buffer.alloc(len);
                fs.readSync(fd, buf, 0, len, o);
                if (buf.every((b) => b === 0)) continue;
                await blobRequest("PUT", inputs, "comp=page", { "x-ms-page-write": "update", "x-ms-range": `bytes=${o}-${o + len - 1}` }, buf);
                uploadedBytes += len;
            }
        };
        await Promise.all(Array.from({ length: PARALLEL }, worker));
    } finally {
        fs.closeSync(fd);
    }
    return { ...inputs, sizeBytes, uploadedBytes };
}

/** One Blob service request with retries on throttling and server errors. Returns the status. */
export async function blobRequest(
    method: string,
    target: { url: string; sas: string },
    query: string,
    headers: Record<string, string>,
    body?: Buffer,
): Promise<number> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { URL } = require("node:url") as typeof import("node:url");
    const url = new URL(`${target.url}?${[query, target.sas].filter((s) => s).join("&")}`);
    // Plain http only ever points at a local fake in tests; Azure is https.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const transport = (url.protocol === "http:" ? require("node:http") : require("node:https")) as typeof import("node:https");
    const send = () =>
        new Promise<{ status: number; text: string }>((resolve, reject) => {
            const req = transport.request(
                url,
                {
                    method,
                    headers: { "x-ms-version": "2021-08-06", "Content-Length": String(body?.length ?? 0), ...headers },
                    timeout: 120_000,
                },
                (res) => {
                    const parts: Buffer[] = [];
                    res.on("data", (d: Buffer) => parts.push(d));
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString("utf8") }));
                },
            );
            req.on("timeout", () => req.destroy(new Error("timed out")));
            req.on("error", reject);
            req.end(body);
        });
    for (let attempt = 1; ; attempt++) {
        let result: { status: number; text: string } | undefined;
        let failure: unknown;
        try {
            result = await send();
        } catch (e) {
            failure = e;
        }
        const retryable = failure !== undefined || result!.status === 429 || result!.status >= 500;
        if (!retryable) {
            if (result!.status >= 200 && result!.status < 300) return result!.status;
            if (method === "DELETE" && (result!.status === 404 || result!.status === 403)) return result!.status;
            // The SAS is in the URL: report the path only.
            throw new Error(`nixlab: ${method} ${url.pathname}?${query} failed with HTTP ${result!.status}: ${result!.text.slice(0, 500)}`);
        }
        if (attempt >= 5) {
            const why = failure instanceof Error ? failure.message : `HTTP ${result?.status}`;
            throw new Error(`nixlab: ${method} ${url.pathname}?${query} failed after ${attempt} attempts: ${why}`);
        }
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
}

export const pageBlobProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: PageBlobInputs): Promise<pulumi.dynamic.CreateResult<PageBlobOutputs>> {
        const outs = await uploadPageBlob(inputs);
        return { id: inputs.url, outs };
    },
    async diff(_id: string, olds: PageBlobOutputs, news: PageBlobInputs): Promise<pulumi.dynamic.DiffResult> {
        // The URL carries the content hash, so new content is a new blob. A new SAS (the lab's
        // expiry moved) or another local path to the same content needs no upload.
        const replaces = (["url", "hash"] as const).filter((k) => olds[k] !== news[k]);
        const changed = replaces.length > 0 || olds.sas !== news.sas || olds.path !== news.path;
        return { changes: changed, replaces, deleteBeforeReplace: false };
    },
    async update(_id: string, olds: PageBlobOutputs, news: PageBlobInputs): Promise<pulumi.dynamic.UpdateResult<PageBlobOutputs>> {
        return { outs: { ...olds, sas: news.sas, path: news.path } };
    },
    async delete(_id: string, props: PageBlobOutputs): Promise<void> {
        // 404: already gone. 403: the stored SAS expired (a lab kept long past its expiry); the
        // blob then goes with the lab's storage account, which the same destroy deletes.
        await blobRequest("DELETE", props, "", { "x-ms-delete-snapshots": "include" });
    },
};

export interface PageBlobArgs {
    url: pulumi.Input<string>;
    sas: pulumi.Input<string>;
    path: pulumi.Input<string>;
    hash: pulumi.Input<string>;
}

/** A page blob uploaded from a local file; replaced when its URL (content hash) changes. */
export class PageBlob extends pulumi.dynamic.Resource {
    declare readonly url: pulumi.Output<string>;
    declare readonly sizeBytes: pulumi.Output<number>;
    declare readonly uploadedBytes: pulumi.Output<number>;
    constructor(name: string, args: PageBlobArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            pageBlobProvider,
            name,
            { ...args, sizeBytes: undefined, uploadedBytes: undefined },
            // The SAS is also an output (delete needs it); dynamic outputs are not kept secret
            // on their own (pulumi/pulumi#3012).
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["sas"] }),
            "nixlab",
            "AzurePageBlob",
        );
    }
}
