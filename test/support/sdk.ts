/**
 * Test equipment: reads a provider SDK's generated `.d.ts` (the resource's schema) so a
 * test can decide from the SDK itself, not from a list of its own, which resources take
 * a property (tags on AWS, labels on GCP).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "vitest";
import { PROJECT_DIR } from "../../scripts/plan";

/**
 * Whether the SDK's `<Class>Args` for `type` (`<package>:<module>/<file>:<Class>`, the
 * layout of @pulumi/aws, @pulumi/gcp and @pulumi/openstack) has a top-level `field`.
 */
export function sdkArgsHave(type: string, field: string): boolean {
    const m = /^([a-z]+):([a-zA-Z0-9]+)\/([a-zA-Z0-9]+):([A-Za-z0-9]+)$/.exec(type);
    if (!m) throw new Error(`not a <package>:<module>/<file>:<Class> resource type: ${type}`);
    const text = fs.readFileSync(path.join(PROJECT_DIR, "node_modules", "@pulumi", m[1]!, m[2]!, `${m[3]}.d.ts`), "utf8");
    const start = text.indexOf(`export interface ${m[4]}Args {`);
    expect(start, `${m[4]}Args in ${type}`).toBeGreaterThan(-1);
    return new RegExp(`\\n    ${field}\\?:`).test(text.slice(start, text.indexOf("\n}", start)));
}
