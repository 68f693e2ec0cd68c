/**
 * The AMI must not be replaced on every `up` (issue 9, item 3). After the first `up`, the
 * provider's Read stores the block device mapping as EC2 describes it: the snapshot is
 * encrypted, so `encrypted: true`, and gp3 gets its baseline `iops: 3000` and `throughput:
 * 125`. The next `up` diffs the program's inputs against that state the Terraform way:
 * an attribute the program leaves unset is planned as its default, or (if Computed) as the
 * state's value, or else as null; a planned value that differs from state on a ForceNew
 * attribute replaces the resource. ignoreChanges paths keep the state's value.
 *
 * Schema of aws_ami's ebs_block_device, hashicorp/terraform-provider-aws
 * internal/service/ec2/ec2_ami.go (resourceAMI): every field ForceNew; delete_on_termination
 * Default true; volume_type Default "standard"; throughput and volume_size Computed;
 * encrypted and iops neither Computed nor defaulted.
 */
import { describe, expect, it } from "vitest";
import { factory } from "../providers/aws";
import { AMI_IGNORED_CHANGES, GP3_BASELINE_IOPS } from "../providers/aws/image";
import { revealValue } from "../scripts/offline";
import { fakeKeys, readyCommands } from "./support/fakeCloud";
import { oneOf, useStackRun, type Any } from "./support/stackRun";

type Attr = { forceNew: true; computed?: true; default?: unknown };
const EBS_BLOCK_DEVICE: Record<string, Attr> = {
    deleteOnTermination: { forceNew: true, default: true },
    deviceName: { forceNew: true },
    encrypted: { forceNew: true },
    iops: { forceNew: true },
    outpostArn: { forceNew: true },
    snapshotId: { forceNew: true },
    throughput: { forceNew: true, computed: true },
    volumeSize: { forceNew: true, computed: true },
    volumeType: { forceNew: true, default: "standard" },
};

/** ForceNew attributes of one ebsBlockDevices entry whose planned value differs from state. */
function forcedBy(input: Record<string, unknown>, state: Record<string, unknown>, ignored: string[]): string[] {
    return Object.entries(EBS_BLOCK_DEVICE)
        .filter(([attr, a]) => {
            const planned = ignored.includes(`ebsBlockDevices[*].${attr}`)
                ? state[attr]
                : (input[attr] ?? (a.default !== undefined ? a.default : a.computed ? state[attr] : undefined));
            return a.forceNew && planned !== state[attr];
        })
        .map(([attr]) => attr);
}

/** What EC2 reports for the AMI's root mapping after RegisterImage with an encrypted gp3 snapshot. */
const READ_BACK = {
    deleteOnTermination: true,
    deviceName: "/dev/xvda",
    encrypted: true,
    iops: 3000,
    snapshotId: "kvm-x86-image-x86_64-snapshot-id",
    throughput: 125,
    volumeSize: 8,
    volumeType: "gp3",
};

const run = useStackRun({
    stack: "aws-x86_64",
    artifact: { file: "nixos-amazon.vhd", format: "vhd", arch: "x86_64", bootMode: "bios", sha256: "0d".repeat(32) },
    expiresAt: "2026-12-01T18:00:00Z",
    mode: "up",
    program: factory,
    resources: [fakeKeys, readyCommands("kvm-x86")],
});

describe("AMI after a refresh", () => {
    it("plans no replacement against the mapping EC2 reads back", () => {
        const ami = oneOf(run.resources, "aws:ec2/ami:Ami", "kvm-x86-image-x86_64-ami");
        const [device] = (revealValue(ami.inputs) as Any).ebsBlockDevices;
        expect(device).toEqual({
            deviceName: "/dev/xvda",
            snapshotId: "kvm-x86-image-x86_64-snapshot-id",
            volumeType: "gp3",
            deleteOnTermination: true,
            iops: GP3_BASELINE_IOPS,
        });
        expect(ami.options.ignoreChanges).toEqual(["ebsBlockDevices[*].encrypted"]);
        expect(forcedBy(device, READ_BACK, ami.options.ignoreChanges ?? [])).toEqual([]);
    });

    it("the model does see the replacement the mapping without iops and the ignore would cause", () => {
        const withoutFix = { deviceName: "/dev/xvda", snapshotId: READ_BACK.snapshotId, volumeType: "gp3", deleteOnTermination: true };
        expect(forcedBy(withoutFix, READ_BACK, [])).toEqual(["encrypted", "iops"]);
        expect(AMI_IGNORED_CHANGES).toEqual(["ebsBlockDevices[*].encrypted"]);
    });
});
