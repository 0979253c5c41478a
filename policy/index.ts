/**
 * The amlaks CrossGuard policy pack: `pulumi preview --policy-pack <this folder>`. Only assembles
 * the pack; each policy lives in its own file (see policies.ts and docs/policy.md). Constructing
 * the PolicyPack starts the analyzer's gRPC server, so nothing else may import this file.
 */
import { PolicyPack } from "@pulumi/policy";
import { AMLAKS_POLICIES, POLICY_PACK_NAME } from "./policies";

new PolicyPack(POLICY_PACK_NAME, {
    description:
        'Azure ML v1 \'deploy a model to AKS\' rules (R9-R11, R22-R25, R27, R29, R35-R39) for stacks built with @amlaks/pulumi-aml-aks or by hand. Advisory by default except where the seed states a hard rule; policy config {"all": "mandatory"} raises every policy.',
    enforcementLevel: "advisory",
    policies: [...AMLAKS_POLICIES],
});
