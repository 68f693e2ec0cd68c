/**
 * Azure imports a VHD only if it is *fixed* (not dynamic, not VHDX) and its virtual size is
 * a whole number of MiB (learn.microsoft.com/azure/virtual-machines/linux/create-upload-generic).
 * A wrong file uploads for minutes and then fails inside the gallery; checking the 512-byte
 * footer first turns that into an immediate message.
 *
 * Footer layout (Microsoft "Virtual Hard Disk Image Format Specification"): cookie
 * "conectix" at 0, current (virtual) size as a big-endian uint64 at 48, disk type as a
 * big-endian uint32 at 60 (2 = fixed, 3 = dynamic, 4 = differencing).
 */
import * as fs from "node:fs";

const MIB = 1024 * 1024;
const FOOTER = 512;

export function vhdProblem(path: string): string | undefined {
    const size = fs.statSync(path).size;
    if (size < FOOTER) return `${path} is ${size} bytes, too small to be a VHD`;
    const footer = Buffer.alloc(FOOTER);
    const fd = fs.openSync(path, "r");
    try {
        fs.readSync(fd, footer, 0, FOOTER, size - FOOTER);
    } finally {
        fs.closeSync(fd);
    }
    if (footer.toString("latin1", 0, 8) !== "conectix") {
        return `${path} has no VHD footer (cookie "conectix"); Azure needs a fixed VHD: qemu-img convert -O vpc -o subformat=fixed,force_size`;
    }
    const type = footer.readUInt32BE(60);
    if (type !== 2) {
        const kind = type === 3 ? "dynamic" : type === 4 ? "differencing" : `type ${type}`;
        return `${path} is a ${kind} VHD; Azure needs a fixed one: qemu-img convert -O vpc -o subformat=fixed,force_size`;
    }
    const virtual = Number(footer.readBigUInt64BE(48));
    if (virtual % MIB !== 0) {
        return `${path} has a virtual size of ${virtual} bytes, not a whole number of MiB; Azure refuses it. Resize to a MiB multiple before converting (qemu-img resize)`;
    }
    if (size - FOOTER !== virtual) {
        return `${path} is ${size} bytes but its footer says ${virtual} + 512; the file is truncated or not a fixed VHD`;
    }
    return undefined;
}
