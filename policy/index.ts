/**
 * The nixlab policy pack. Enable it with `nixlab up <stack> --policy` (or
 * `pulumi preview --policy-pack policy`); configure it with a JSON file passed as
 * `--policy-config` (see policy/README.md). The policies themselves are in policies.ts.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("nixlab", { policies });
