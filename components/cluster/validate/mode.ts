/**
 * Which mode the args select (create, attach by `resourceId`, `kubeconfig`), and the args each
 * mode rejects.
 */
import { checkArmId } from "../../common/arm-id";
import {
    ArgBag,
    exclusiveRule,
    isSet,
    mustBePlain,
    named,
    NAME_RULES,
    plainValue,
    Problems,
    REDACTED,
    requiredRule,
    shownValue,
} from "../../common/validation";
import { looksLikeKubeconfig } from "../kubeconfig";
import type { ClusterMode } from "./context";

/**
 * Args that only shape a NEW cluster. Given in attach or kubeconfig mode they are errors
 * (the existing cluster keeps its own settings). `agentCount` is a declaration in kubeconfig
 * mode; `vmSize` and `vmCpuCount` are declarations in both modes.
 */
export const CREATE_ONLY_ARGS = [
    "resourceGroupName",
    "clusterName",
    "kubernetesVersion",
    "skuTier",
    "networkPlugin",
    "networkPluginMode",
    "networkPolicy",
    "vnetSubnetId",
    "vnetSubnetAddressPrefix",
    "serviceCidr",
    "dnsServiceIp",
    "dockerBridgeCidr",
    "podCidr",
    "logAnalyticsWorkspaceId",
    "defenderEnabled",
    "containerInsightsEnabled",
    "azurePolicyEnabled",
    "disableLocalAccounts",
    "adminGroupObjectIds",
    "grantDeployerClusterAdmin",
] as const;

const NO_COMPUTE = "attaching a compute to the workspace needs an AKS cluster resource id";
const NO_DNS_LABEL = "Azure DNS labels are only available on AKS";
/** Why Azure load balancer settings do nothing outside AKS. */
export const NO_AZURE_LOAD_BALANCER = "Azure load balancer annotations are only added on AKS";

/** Args that need the AKS/Azure APIs, so are unavailable in kubeconfig mode, with the reason. */
export const NOT_IN_KUBECONFIG_MODE: Readonly<Record<string, string>> = {
    workspaceName: NO_COMPUTE,
    workspaceResourceGroupName: NO_COMPUTE,
    computeName: NO_COMPUTE,
    containerRegistryId: "the AcrPull grant needs the AKS kubelet identity",
    kubeloginMode: "the kubeconfig is used as given",
    loadBalancerSubnet: NO_AZURE_LOAD_BALANCER,
    leafDomainLabel: NO_DNS_LABEL,
    overwriteExistingDomain: NO_DNS_LABEL,
};

/** `is not available in kubeconfig mode: <why>`. */
export function notInKubeconfigRule(why: string): string {
    return `is not available in kubeconfig mode: ${why}`;
}

/** Args the component branches on: an Output there cannot decide which resources exist. */
export const STRUCTURAL_ARGS = [
    "clusterPurpose",
    "loadBalancerType",
    "routerServiceType",
    "routerNamespace",
    "networkPlugin",
    "networkPluginMode",
    "networkPolicy",
    "disableLocalAccounts",
    "defenderEnabled",
    "containerInsightsEnabled",
    "azurePolicyEnabled",
    "grantDeployerClusterAdmin",
    "installNvidiaDevicePlugin",
] as const;

/** Why a structural arg must be plain. */
export const DECIDES_RESOURCES = "it decides which resources are created";

/** The mode the args select; `resourceId` wins when both are set (and that is reported). */
export function clusterMode(a: ArgBag): ClusterMode {
    return isSet(a.resourceId) ? "attach" : isSet(a.kubeconfig) ? "kubeconfig" : "create";
}

/** Mode selectors, args the mode rejects, and what the mode requires. */
export function checkMode(p: Problems, a: ArgBag): ClusterMode {
    const mode = clusterMode(a);
    if (isSet(a.resourceId) && isSet(a.kubeconfig)) {
        p.add(
            "resourceId",
            shownValue(a.resourceId),
            exclusiveRule(
                "kubeconfig",
                "set resourceId to attach an existing AKS cluster, kubeconfig for any other cluster, or neither to create one",
            ),
        );
    }
    checkArmId(p, "resourceId", a.resourceId, "managedCluster", true);
    const kubeconfig = plainValue<unknown>(a.kubeconfig);
    if (
        kubeconfig !== undefined &&
        (typeof kubeconfig !== "string" || !looksLikeKubeconfig(kubeconfig))
    ) {
        p.add(
            "kubeconfig",
            REDACTED,
            "must be a kubeconfig document (YAML or JSON with clusters and users)",
        );
    }
    if (mode !== "create") {
        const modeText = mode === "attach" ? "attach mode" : "kubeconfig mode";
        for (const f of CREATE_ONLY_ARGS) {
            if (isSet(a[f])) {
                p.add(
                    f,
                    shownValue(a[f]),
                    `is only used when creating a cluster; remove it in ${modeText} (the existing cluster keeps its own setting)`,
                );
            }
        }
        if (mode === "attach" && isSet(a.agentCount)) {
            p.add(
                "agentCount",
                shownValue(a.agentCount),
                "is only used when creating a cluster; in attach mode the node count is read from the cluster",
            );
        }
    }
    if (mode === "kubeconfig") {
        for (const [f, why] of Object.entries(NOT_IN_KUBECONFIG_MODE)) {
            if (isSet(a[f])) p.add(f, shownValue(a[f]), notInKubeconfigRule(why));
        }
    }
    named(p, "location", a.location, NAME_RULES.location);
    if (mode === "create") {
        const when = requiredRule("when creating a cluster");
        if (!isSet(a.location)) p.add("location", undefined, when);
        if (!isSet(a.resourceGroupName)) p.add("resourceGroupName", undefined, when);
    }
    for (const f of STRUCTURAL_ARGS) mustBePlain(p, f, a[f], DECIDES_RESOURCES);
    return mode;
}
