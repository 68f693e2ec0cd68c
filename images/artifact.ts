/**
 * The only thing images/ hands to providers: a built disk image and what a cloud needs
 * to know to boot it. Upload names derive from `hash`, so an unchanged image uploads
 * nothing and a changed NixOS closure shows up in a preview as an image replacement.
 */
import type { BackendKind } from "../components/backend";
import type { Arch, BootMode, ImageFormat } from "../components/spec";

export interface ImageArtifact {
    /** Absolute path of the disk image file on the machine running Pulumi. */
    path: string;
    format: ImageFormat;
    arch: Arch;
    bootMode: BootMode;
    /**
     * Content key: the Nix store path hash for built images (32 chars, base32), or the
     * file's sha256 (64 hex) for other files. Lowercase alphanumerics only.
     */
    hash: string;
    /** libvirt only: direct kernel boot for images without a boot loader. */
    kernel?: string;
    initrd?: string;
    cmdline?: string;
}

/** A short, name-safe form of the hash for physical resource names (`nixlab-<short>`). */
export function shortHash(hash: string): string {
    return hash.slice(0, 16);
}

/** What each backend's image target builds; the flake's `packages.<system>.<target>` match these. */
export interface ImageTarget {
    /** Flake package attribute name. */
    attr: string;
    format: ImageFormat;
}

export const IMAGE_TARGETS: { [k in BackendKind]: ImageTarget } = {
    libvirt: { attr: "libvirt", format: "qcow2" },
    aws: { attr: "aws", format: "vhd" },
    gcp: { attr: "gcp", format: "tar.gz" },
    azure: { attr: "azure", format: "vhd" },
    openstack: { attr: "openstack", format: "qcow2" },
};

export const NIX_SYSTEMS: { [a in Arch]: string } = {
    x86_64: "x86_64-linux",
    aarch64: "aarch64-linux",
};
