/**
 * The README's user-data limits are the ones the backends enforce (each backend checks the
 * rendered cloud-config against `userDataLimitBytes` before anything is created).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { AWS_USER_DATA_LIMIT_BYTES } from "../providers/aws";
import { AZURE_USER_DATA_LIMIT_BYTES } from "../providers/azure";
import { GCP_USER_DATA_LIMIT_BYTES } from "../providers/gcp";
import { OPENSTACK_USER_DATA_LIMIT_BYTES } from "../providers/openstack";

const README = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");

/** How the README writes a size: whole KiB as `N KiB`, anything else in bytes. */
function size(bytes: number): string {
    return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes.toLocaleString("en-US")} bytes`;
}

describe("README user-data limits", () => {
    it.each([
        ["aws", AWS_USER_DATA_LIMIT_BYTES],
        ["gcp", GCP_USER_DATA_LIMIT_BYTES],
        ["azure", AZURE_USER_DATA_LIMIT_BYTES],
        ["openstack", OPENSTACK_USER_DATA_LIMIT_BYTES],
    ] as const)("%s: the Clouds table states the limit the code enforces", (cloud, limit) => {
        const row = README.split("\n").find((l) => l.startsWith(`| ${cloud} | \`nixlab:${cloud}\``));
        expect(row, cloud).toBeDefined();
        const userData = row!.split(" | ").at(-1)!;
        expect(userData).toContain(size(limit));
    });

    it("OpenStack: 65,535 base64 characters (nova's schema) are 49,149 bytes of cloud-config", () => {
        expect(OPENSTACK_USER_DATA_LIMIT_BYTES).toBe(49_149);
        expect(Buffer.alloc(OPENSTACK_USER_DATA_LIMIT_BYTES).toString("base64").length).toBeLessThanOrEqual(65_535);
        expect(Buffer.alloc(OPENSTACK_USER_DATA_LIMIT_BYTES + 1).toString("base64").length).toBeGreaterThan(65_535);
    });
});
