/**
 * nixlab-image.json: the description every images flake package carries next to its
 * disk image (written by images/flake.nix from images/lib.nix) and the build step
 * reads back. Kept free of Pulumi so the Nix tests can check both sides cheaply.
 */
import * as path from "node:path";
import type { Arch, BootMode, ImageFormat } from "../components/spec";

/** The file every flake package carries next to its disk image. */
export const METADATA_FILE = "nixlab-image.json";

// Restated from components/spec.ts, which pulls in Pulumi. Mapped types make the
// compiler refuse a value missing from, or not in, the unions there.
const FORMATS = Object.keys({ qcow2: 0, raw: 0, vhd: 0, vmdk: 0, "tar.gz": 0 } satisfies { [k in ImageFormat]: 0 }) as ImageFormat[];
const ARCH_NAMES = Object.keys({ x86_64: 0, aarch64: 0 } satisfies { [k in Arch]: 0 }) as Arch[];
const BOOT_MODE_NAMES = Object.keys({ uefi: 0, bios: 0 } satisfies { [k in BootMode]: 0 }) as BootMode[];

export interface ImageMetadata {
    /** Absolute path of the disk image inside the store path. */
    file: string;
    format: ImageFormat;
    arch: Arch;
    bootMode: BootMode;
    /** The flake target (`IMAGE_TARGETS[backend].attr`) it was built for. */
    target: string;
    /**
     * libvirt only, optional: direct kernel boot for a disk without a boot loader, as
     * `nixlab:lab.image.artifacts[].kernel/initrd/cmdline` give it for prebuilt images.
     * Absolute paths inside the store path. @default - the disk boots by itself
     */
    kernel?: string;
    initrd?: string;
    cmdline?: string;
}

/** Parses and type-checks nixlab-image.json; `source` names the file in messages. */
export function parseImageMetadata(text: string, source: string): ImageMetadata {
    let raw: unknown;
    try {
        raw = JSON.parse(text);
    } catch (err) {
        throw new Error(`nixlab: ${source} is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
        throw new Error(`nixlab: ${source} must hold a JSON object, got ${JSON.stringify(raw)}`);
    }
    const o = raw as Record<string, unknown>;
    const problems: string[] = [];
    const oneOf = <T extends string>(key: string, allowed: readonly T[]): T => {
        const v = o[key];
        if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
            problems.push(`"${key}" is ${JSON.stringify(v)}, expected one of ${allowed.join(", ")}`);
        }
        return v as T;
    };
    const file = o.file;
    if (typeof file !== "string" || !path.isAbsolute(file)) {
        problems.push(`"file" is ${JSON.stringify(file)}, expected an absolute path`);
    }
    const format = oneOf<ImageFormat>("format", FORMATS);
    const arch = oneOf<Arch>("arch", ARCH_NAMES);
    const bootMode = oneOf<BootMode>("bootMode", BOOT_MODE_NAMES);
    const target = o.target;
    if (typeof target !== "string" || target === "") {
        problems.push(`"target" is ${JSON.stringify(target)}, expected a target name`);
    }
    const boot: Pick<ImageMetadata, "kernel" | "initrd" | "cmdline"> = {};
    for (const key of ["kernel", "initrd"] as const) {
        const v = o[key];
        if (v === undefined) continue;
        if (typeof v !== "string" || !path.isAbsolute(v)) problems.push(`"${key}" is ${JSON.stringify(v)}, expected an absolute path`);
        else boot[key] = v;
    }
    if (o.cmdline !== undefined) {
        if (typeof o.cmdline !== "string") problems.push(`"cmdline" is ${JSON.stringify(o.cmdline)}, expected a kernel command line`);
        else boot.cmdline = o.cmdline;
    }
    if ((o.initrd !== undefined || o.cmdline !== undefined) && o.kernel === undefined) {
        problems.push(`"initrd"/"cmdline" are given without "kernel"; direct kernel boot needs the kernel`);
    }
    if (problems.length > 0) {
        throw new Error(`nixlab: ${source} is not a nixlab image description:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    }
    return { file: file as string, format, arch, bootMode, target: target as string, ...boot };
}
