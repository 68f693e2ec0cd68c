/**
 * How long the engine waits for a lab machine, so no `up` or `destroy` can hang forever on
 * one (Pulumi's customTimeouts override the provider's own defaults). Every backend's
 * instance resource takes one of these.
 */
import type * as pulumi from "@pulumi/pulumi";

/**
 * A virtual machine boots in a minute or two; the providers' defaults are 10m create on
 * AWS, 20m on GCP, 30m on OpenStack (terraform-provider-aws internal/service/ec2/ec2_instance.go,
 * terraform-provider-google compute_instance, terraform-provider-openstack
 * compute_instance_v2 Timeouts). 20 minutes covers a slow image pull without hiding a hang.
 */
export const VM_TIMEOUTS: pulumi.CustomTimeouts = { create: "20m", update: "20m", delete: "20m" };

/**
 * Bare metal runs firmware, POST and (on OpenStack Ironic) a deploy ramdisk that writes the
 * image to disk before the OS starts, and Ironic cleans the disks on delete: tens of minutes
 * each way (AWS: "metal instances can take longer to launch", docs.aws.amazon.com/AWSEC2/
 * latest/UserGuide/ec2-instance-lifecycle.html; Ironic: docs.openstack.org/ironic/latest/
 * admin/cleaning.html).
 */
export const METAL_TIMEOUTS: pulumi.CustomTimeouts = { create: "90m", update: "60m", delete: "60m" };

export function instanceTimeouts(metal: boolean): pulumi.CustomTimeouts {
    return metal ? METAL_TIMEOUTS : VM_TIMEOUTS;
}
