/**
 * The OpenStack backend's pure parts: flavor choice from the configured flavors, every
 * refusal (exact texts), config parsing, tag lists per service, and the image properties.
 */
import { describe, expect, it, test } from "vitest";
import { planLab } from "../components/lab";
import { ConfigError } from "../components/problems";
import type { LabSpec } from "../components/spec";
import { OPENSTACK_USER_DATA_LIMIT_BYTES, openstackBackend } from "../providers/openstack";
import { parseOpenStackConfig, type OpenStackConfig } from "../providers/openstack/config";
import { placeOpenStack } from "../providers/openstack/place";
import { glanceDiskFormat, imageProperties } from "../providers/openstack/resources";
import { NEUTRON_TAGS, NOVA_TAGS, novaMetadata, novaMetadataProblems, tagList } from "../providers/openstack/tags";
import { configErrorLines, minimalLab, problemLines } from "./support/problems";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ9m2cQ0q3m7xJ alice@laptop";
const EXT = "2d3c1f4e-8b7a-4c6d-9e0f-1a2b3c4d5e6f";

const FLAVORS = {
    "m1.small": { vcpus: 1, memoryGiB: 2, arch: "x86_64", kvm: "none" },
    "kvm.large": { vcpus: 4, memoryGiB: 8, arch: "x86_64", kvm: "nested" },
    "kvm.large-alt": { vcpus: 4, memoryGiB: 8, arch: "x86_64", kvm: "nested" },
    "kvm.xlarge": { vcpus: 8, memoryGiB: 16, arch: "x86_64", kvm: "nested" },
    "bm.x": { vcpus: 32, memoryGiB: 128, arch: "x86_64", kvm: "metal" },
    "bm.arm": { vcpus: 80, memoryGiB: 256, arch: "aarch64", kvm: "metal" },
};
const CFG: OpenStackConfig = parseOpenStackConfig({ cloud: "mycloud", externalNetworkId: EXT, floatingIpPool: "public", flavors: FLAVORS });
const DESCRIBED =
    "m1.small (x86_64, 1 vCPUs, 2 GiB, kvm: none), kvm.large (x86_64, 4 vCPUs, 8 GiB, kvm: nested), kvm.large-alt (x86_64, 4 vCPUs, 8 GiB, kvm: nested), " +
    "kvm.xlarge (x86_64, 8 vCPUs, 16 GiB, kvm: nested), bm.x (x86_64, 32 vCPUs, 128 GiB, kvm: metal), bm.arm (aarch64, 80 vCPUs, 256 GiB, kvm: metal)";

const lab = (extra: Record<string, unknown>) => minimalLab(KEY, extra);

function problems(spec: LabSpec, cfg = CFG): string[] {
    return problemLines(placeOpenStack(cfg, spec).problems);
}

describe("flavor choice", () => {
    test.each([
        { node: { vcpus: 2, memoryGiB: 4, kvm: "nested" }, flavor: "kvm.large" },
        { node: { vcpus: 4, memoryGiB: 9, kvm: "nested" }, flavor: "kvm.xlarge" },
        { node: { vcpus: 1, memoryGiB: 1, kvm: "none" }, flavor: "m1.small" },
        // kvm: none may use a nested flavor, never bare metal on its own.
        { node: { vcpus: 2, memoryGiB: 4, kvm: "none" }, flavor: "kvm.large" },
        { node: { vcpus: 2, memoryGiB: 4, kvm: "metal" }, flavor: "bm.x" },
        { node: { arch: "aarch64", vcpus: 2, memoryGiB: 4, kvm: "metal" }, flavor: "bm.arm" },
    ])("$node → $flavor", ({ node, flavor }) => {
        const placement = placeOpenStack(CFG, lab({ nodes: [{ name: "n", ...node }] }));
        expect(placement.problems).toEqual([]);
        expect(placement.machines.n!.machineType).toBe(flavor);
        expect(placement.machines.n!.nestedVirtualization).toBe(node.kvm === "nested");
    });

    it("keeps the stack file's order between flavors of equal size, and says why", () => {
        expect(placeOpenStack(CFG, lab({ nodes: [{ name: "n", vcpus: 4, memoryGiB: 8 }] })).machines.n).toEqual({
            machineType: "kvm.large",
            reason: "smallest flavor with at least 4 vCPUs and 8 GiB: kvm.large (x86_64, 4 vCPUs, 8 GiB, kvm: nested) from nixlab:openstack.flavors",
            nestedVirtualization: true,
            vcpus: 4,
            memoryGiB: 8,
        });
    });

    it("takes an explicit flavor, a bare-metal one for a nested node included", () => {
        const placement = placeOpenStack(CFG, lab({ nodes: [{ name: "n", machineType: "bm.x" }] }));
        expect(placement.problems).toEqual([]);
        expect(placement.machines.n).toEqual({
            machineType: "bm.x",
            reason: "set in config (nixlab:lab.nodes[0].machineType): bm.x (x86_64, 32 vCPUs, 128 GiB, kvm: metal) from nixlab:openstack.flavors",
            nestedVirtualization: false,
            vcpus: 32,
            memoryGiB: 128,
        });
    });
});

describe("refusals", () => {
    it("fails an arch/kvm no described flavor serves", () => {
        expect(problems(lab({ nodes: [{ name: "a", arch: "aarch64", kvm: "nested" }] }))).toEqual([
            `nixlab:lab.nodes[0].kvm: node a: none of the flavors in nixlab:openstack.flavors is aarch64 with kvm: nested (described: ${DESCRIBED}); ` +
                "add one (openstack flavor list; kvm: metal for a bare-metal flavor), or change arch/kvm; bare-metal flavor bm.arm fits: set kvm: metal to use it",
        ]);
        const x86only = parseOpenStackConfig({ cloud: "c", flavors: { "m1.small": FLAVORS["m1.small"] }, externalNetworkId: EXT, floatingIpPool: "public" });
        expect(problems(lab({ nodes: [{ name: "a", arch: "aarch64", kvm: "none" }] }), x86only)).toEqual([
            "nixlab:lab.nodes[0].kvm: node a: none of the flavors in nixlab:openstack.flavors is aarch64 with kvm: none " +
                "(described: m1.small (x86_64, 1 vCPUs, 2 GiB, kvm: none)); add one (openstack flavor list; kvm: metal for a bare-metal flavor), or change arch/kvm",
        ]);
    });

    it("fails a request bigger than every nested flavor, pointing at a fitting bare-metal one", () => {
        expect(problems(lab({ nodes: [{ name: "b", vcpus: 16 }] }))).toEqual([
            "nixlab:lab.nodes[0].vcpus: node b: no x86_64 flavor with kvm: nested in nixlab:openstack.flavors has at least 16 vCPUs and 4 GiB; " +
                "the largest is kvm.xlarge (x86_64, 8 vCPUs, 16 GiB, kvm: nested). Describe a bigger flavor there, or lower vcpus/memoryGiB; " +
                "bare-metal flavor bm.x fits: set kvm: metal to use it",
        ]);
    });

    it("fails a flavor the stack file does not describe", () => {
        expect(problems(lab({ nodes: [{ name: "c", machineType: "m1.huge" }] }))).toEqual([
            'nixlab:lab.nodes[0].machineType: node c: flavor "m1.huge" is not described in nixlab:openstack.flavors, so its architecture and KVM support cannot be checked; ' +
                `add it there as m1.huge: { vcpus, memoryGiB, arch, kvm } (described now: ${DESCRIBED})`,
        ]);
    });

    it("fails an explicit flavor of the other arch", () => {
        expect(problems(lab({ nodes: [{ name: "d", machineType: "bm.arm", kvm: "metal" }] }))).toEqual([
            "nixlab:lab.nodes[0].machineType: node d: flavor bm.arm (aarch64, 80 vCPUs, 256 GiB, kvm: metal) is aarch64 but the node's arch is x86_64; choose an x86_64 flavor or change arch",
        ]);
    });

    it("fails an explicit flavor without KVM for kvm: nested, and a VM flavor for kvm: metal", () => {
        expect(problems(lab({ nodes: [{ name: "e", machineType: "m1.small" }, { name: "f", machineType: "kvm.large", kvm: "metal" }] }))).toEqual([
            "nixlab:lab.nodes[0].machineType: node e: flavor m1.small (x86_64, 1 vCPUs, 2 GiB, kvm: none) cannot give kvm: nested (its guests get no /dev/kvm); " +
                "choose a flavor with kvm: nested or metal, or change kvm",
            "nixlab:lab.nodes[1].machineType: node f: flavor kvm.large (x86_64, 4 vCPUs, 8 GiB, kvm: nested) cannot give kvm: metal (it is not a bare-metal flavor); " +
                "choose a flavor with kvm: metal, or change kvm",
        ]);
    });

    it("fails volumes on a bare-metal node", () => {
        expect(problems(lab({ nodes: [{ name: "g", kvm: "metal", volumes: [{ name: "scratch", sizeGiB: 10 }] }] }))).toEqual([
            "nixlab:lab.nodes[0].volumes: node g runs on bare-metal flavor bm.x, and Nova cannot attach volumes to bare-metal (Ironic) instances " +
                "(nova support matrix: attach-volume, ironic: missing); remove the volumes or use a flavor with kvm: nested",
        ]);
    });

    it("fails public addresses without a floating IP pool and an external network", () => {
        const bare = parseOpenStackConfig({ cloud: "mycloud", flavors: FLAVORS });
        expect(problems(lab({ nodes: { count: 1 } }), bare)).toEqual([
            "nixlab:openstack.floatingIpPool: is not set, but nixlab:lab.network.publicAddresses is true and nodes get floating IPs from it; " +
                "set it to the external network's name (openstack network list --external)",
            "nixlab:openstack.externalNetworkId: is not set, but floating IPs (nixlab:lab.network.publicAddresses: true) only work behind a router " +
                "with an external gateway; set it to the external network's UUID (openstack network list --external)",
        ]);
    });

    it("fails a lab nobody can reach for the readiness check", () => {
        const problem = problems(lab({ network: { publicAddresses: false }, nodes: { count: 1 } }), parseOpenStackConfig({ cloud: "mycloud", flavors: FLAVORS }));
        expect(problem).toHaveLength(2);
        expect(problem[0]).toMatch(/^nixlab:lab\.network\.publicAddresses: is false, but then no node has an address reachable from where Pulumi runs/);
        expect(problem[1]).toBe(
            "nixlab:lab.network.sshIngressCidrs: is empty, so nothing outside the lab can reach SSH and `up` would wait for readiness until it times out; " +
                "add the address Pulumi runs from, e.g. [203.0.113.7/32]",
        );
    });

    it("fails artifacts Glance cannot boot", () => {
        const artifacts = [{ path: "/img/disk.raw.tar.gz", format: "tar.gz", arch: "x86_64", bootMode: "bios" }];
        expect(problems(lab({ image: { artifacts }, nodes: { count: 1 } }))).toEqual([
            'nixlab:lab.image.artifacts[0].format: Glance cannot boot "tar.gz" images; use qcow2 (qemu-img convert -O qcow2), raw, vhd or vmdk',
        ]);
        expect(() => glanceDiskFormat("tar.gz")).toThrow("nixlab: Glance cannot boot tar.gz images; build the openstack image target (qcow2)");
    });

    it("stops the program with one ConfigError", () => {
        expect(() => planLab(lab({ nodes: [{ name: "a", arch: "aarch64" }] }), openstackBackend(CFG))).toThrow(ConfigError);
    });
});

describe("nixlab:openstack config", () => {
    it("applies defaults and keeps flavors in file order", () => {
        const cfg = parseOpenStackConfig({ cloud: "mycloud", flavors: { b: FLAVORS["bm.x"], a: FLAVORS["m1.small"] } });
        expect(cfg).toEqual({
            cloud: "mycloud",
            region: undefined,
            externalNetworkId: undefined,
            floatingIpPool: undefined,
            dnsNameservers: undefined,
            availabilityZone: undefined,
            volumeType: undefined,
            rootVolume: true,
            flavors: [
                { name: "b", ...FLAVORS["bm.x"] },
                { name: "a", ...FLAVORS["m1.small"] },
            ],
        });
    });

    it.each([
        [
            undefined,
            [
                "nixlab:openstack: is not set; nixlab:backend is openstack, so add `nixlab:openstack: { cloud: <clouds.yaml entry>, flavors: {...} }` to the stack file (copy stacks/Pulumi.openstack-x86_64.yaml)",
            ],
        ],
        [
            { cloud: "", externalNetworkId: "public", dnsNameservers: ["dns.example"], flavors: {}, authUrl: "x" },
            [
                "nixlab:openstack.authUrl: unknown key; allowed here: `cloud`, `region`, `externalNetworkId`, `floatingIpPool`, `dnsNameservers`, `availabilityZone`, `volumeType`, `rootVolume`, `flavors`",
                'nixlab:openstack.cloud: must name an entry of clouds.yaml (got "")',
                'nixlab:openstack.externalNetworkId: must be the network\'s UUID (openstack network list --external -c ID -c Name) (got "public")',
                'nixlab:openstack.dnsNameservers[0]: must be an IPv4 address like 9.9.9.9 (got "dns.example")',
                "nixlab:openstack.flavors: needs at least one flavor (openstack flavor list) (got {})",
            ],
        ],
        [
            { cloud: "c", flavors: { "m1.x": { vcpus: 2, memoryGiB: 4, arch: "x86_64", kvm: "yes" } } },
            ['nixlab:openstack.flavors.m1.x.kvm: must be one of `none`, `nested` or `metal` (got "yes")'],
        ],
    ])("refuses %j", (raw, expected) => {
        expect(configErrorLines(() => parseOpenStackConfig(raw)).sort()).toEqual([...expected].sort());
    });
});

describe("tags per service", () => {
    const tags = {
        "nixlab:lab": "kvm-os",
        // 13 + 48 = 61 characters as a tag: one too many for Nova.
        "nixlab:owner": "a-rather-long-owner-name.for-testing@example.com",
        "nixlab:stack": "openstack-x86_64",
        "nixlab:expires-at": "2026-11-24T18:00:00Z",
        "ci/job": "42",
        note: "a,b",
    };

    it("lists key=value tags Neutron takes (no commas)", () => {
        expect(tagList(tags, NEUTRON_TAGS)).toEqual([
            "nixlab:expires-at=2026-11-24T18:00:00Z",
            "nixlab:lab=kvm-os",
            "nixlab:owner=a-rather-long-owner-name.for-testing@example.com",
            "nixlab:stack=openstack-x86_64",
            "ci/job=42",
        ]);
    });

    it("leaves out of Nova's list what Nova refuses (over 60 characters, '/' or ',')", () => {
        expect(tagList(tags, NOVA_TAGS)).toEqual(["nixlab:expires-at=2026-11-24T18:00:00Z", "nixlab:lab=kvm-os", "nixlab:stack=openstack-x86_64"]);
        const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`t${String(i).padStart(2, "0")}`, "x"]));
        const list = tagList({ ...many, "nixlab:lab": "kvm-os" }, NOVA_TAGS);
        expect(list).toHaveLength(50);
        expect(list[0]).toBe("nixlab:lab=kvm-os");
    });
});

describe("Glance image properties", () => {
    it("boots x86_64 BIOS images on q35 and says so for UEFI", () => {
        expect(imageProperties("x86_64", "bios", "h")).toEqual({ architecture: "x86_64", hw_machine_type: "q35", os_type: "linux", os_distro: "nixos", nixlab_image_hash: "h" });
        expect(imageProperties("aarch64", "uefi", "h")).toEqual({
            architecture: "aarch64",
            hw_machine_type: "virt",
            hw_firmware_type: "uefi",
            os_type: "linux",
            os_distro: "nixos",
            nixlab_image_hash: "h",
        });
    });

    it("declares the user-data limit Nova's base64 field leaves", () => {
        expect(OPENSTACK_USER_DATA_LIMIT_BYTES).toBe(49149);
        expect(Buffer.alloc(OPENSTACK_USER_DATA_LIMIT_BYTES).toString("base64").length).toBeLessThanOrEqual(65535);
        expect(Buffer.alloc(OPENSTACK_USER_DATA_LIMIT_BYTES + 1).toString("base64").length).toBeGreaterThan(65535);
    });
});

describe("server metadata (Nova keys match ^[a-zA-Z0-9-_:. ]{1,255}$)", () => {
    it("maps each character Nova refuses in a key to '_', keeps values, and places the lab", () => {
        expect(novaMetadata({ "team/cost-center": "a/b=c", "owner@": "x", "plain.key:1": "y", "k+=": "z" })).toEqual({
            "team_cost-center": "a/b=c",
            "owner_": "x",
            "plain.key:1": "y",
            "k__": "z",
        });
        expect(problems(lab({ tags: { "team/cost-center": "x" }, nodes: [{ name: "n", tags: { "a@b": "y" } }] }))).toEqual([]);
    });

    it("refuses two tag keys that become one metadata key, naming both", () => {
        expect(problems(lab({ tags: { "team/a": "1" }, nodes: [{ name: "n", tags: { team_a: "2" } }] }))).toEqual([
            'nixlab:lab.tags.team/a: tag key "team/a" and "team_a" (nixlab:lab.nodes[0].tags.team_a) both become the Nova metadata key "team_a" ' +
                "(Nova allows only ^[a-zA-Z0-9-_:. ]{1,255}$ in keys; others become '_'); rename one of them",
        ]);
    });

    it("refuses more metadata items than Nova's default quota of 128", () => {
        const tags = Object.fromEntries(Array.from({ length: 122 }, (_, i) => [`k${i}`, "v"]));
        expect(problems(lab({ tags, nodes: [{ name: "n" }] }))).toEqual([]);
        const more = { ...tags, k122: "v" };
        expect(problems(lab({ tags: more, nodes: [{ name: "n" }] }))).toEqual([
            "nixlab:lab.nodes[0].tags: the node would carry 129 server metadata items (6 of them nixlab:*), more than Nova's default quota of 128 (metadata_items); use fewer tags",
        ]);
    });

    it("holds values to Nova's 255 characters", () => {
        expect(novaMetadataProblems([{ key: "k", value: "v".repeat(256), path: "nixlab:lab.tags.k" }], 6, "nixlab:lab.nodes[0]")).toEqual([
            { path: "nixlab:lab.tags.k", message: "is 256 characters; Nova server metadata values hold at most 255: shorten it" },
        ]);
    });
});
