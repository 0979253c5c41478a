/**
 * Every policy of the amlaks pack, in the order the docs list them. Shared by `index.ts` (which
 * builds the `PolicyPack`) and `testing.ts` (`evaluatePolicyPack`), so both run the same objects.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy/policy";
import { cniEgressAllowsRequiredHosts } from "./cni-egress-allows-required-hosts";
import { containerInsights } from "./container-insights";
import { customDnsResolvesRequiredHosts } from "./custom-dns-resolves-required-hosts";
import { defenderForContainers } from "./defender-for-containers";
import { gpuServiceOnGpuCluster } from "./gpu-service-on-gpu-cluster";
import { maxModelsPerDeployment } from "./max-models-per-deployment";
import { networkPolicyEnforced } from "./network-policy-enforced";
import { noHpaOnModelDeployments } from "./no-hpa-on-model-deployments";
import { prodClusterMinimumSize } from "./prod-cluster-minimum-size";
import { publicEndpointTls } from "./public-endpoint-tls";
import { tokenAuthSameRegion } from "./token-auth-same-region";
import { webserviceAuthRequired } from "./webservice-auth-required";

/** Name of the policy pack. */
export const POLICY_PACK_NAME = "amlaks";

/** The pack's policies. */
export const AMLAKS_POLICIES: readonly (ResourceValidationPolicy | StackValidationPolicy)[] = [
    noHpaOnModelDeployments,
    cniEgressAllowsRequiredHosts,
    customDnsResolvesRequiredHosts,
    prodClusterMinimumSize,
    gpuServiceOnGpuCluster,
    tokenAuthSameRegion,
    webserviceAuthRequired,
    publicEndpointTls,
    networkPolicyEnforced,
    defenderForContainers,
    containerInsights,
    maxModelsPerDeployment,
];
