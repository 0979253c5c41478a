/**
 * R5 (docs/design.md §4): `AksWebservice` lets only the router reach model pods with a
 * NetworkPolicy, so that nothing in the cluster calls a model around the router's auth. A
 * NetworkPolicy is only enforced when the cluster runs a network policy engine (Azure NPM, Calico
 * or Cilium).
 */
import { MODEL_DEPLOYMENT_LABEL } from "../components/webservice/contract";
import { clusterLabel } from "./lib/azure";
import { type ResourceView, stackPolicy } from "./lib/core";
import { clusterOf } from "./lib/graph";
import { isKind, isModelDeployment, namespaceOf, podLabelsOf, refOf, selects } from "./lib/k8s";
import { at, isUnknown, str, stringMap } from "./lib/values";
import type { StackValidationPolicy } from "@pulumi/policy/policy";

export const NETWORK_POLICY_ENFORCED = "network-policy-enforced";

/** Network policy engines AKS offers. */
const ENGINES = ["azure", "calico", "cilium"];

/** True when the NetworkPolicy selects the pods of a model Deployment. */
function guardsModelPods(np: ResourceView, models: readonly ResourceView[]): boolean {
    const selector = at(np.props, "spec.podSelector");
    if (stringMap(at(selector, "matchLabels"))[MODEL_DEPLOYMENT_LABEL] === "true") return true;
    const ns = namespaceOf(np);
    return models.some((m) => namespaceOf(m) === ns && selects(selector, podLabelsOf(m)));
}

export const networkPolicyEnforced: StackValidationPolicy = stackPolicy({
    name: NETWORK_POLICY_ENFORCED,
    description:
        "Clusters whose model pods are guarded by a NetworkPolicy must run a network policy engine, or the policy is not enforced (R5).",
    severity: "medium",
    enforcementLevel: "advisory",
    remediationSteps:
        'Create the cluster with networkProfile.networkPolicy "azure", "calico" or "cilium" (with Azure CNI) or "calico" (kubenet).',
    check(all, ctx) {
        const models = all.filter(isModelDeployment);
        const guarded = new Map<ResourceView, ResourceView[]>();
        for (const np of all) {
            if (!isKind(np.type, "networking.k8s.io", "NetworkPolicy")) continue;
            if (!guardsModelPods(np, models)) continue;
            const cluster = clusterOf(np, all).managedCluster;
            if (!cluster) {
                ctx.skip(`NetworkPolicy "${refOf(np)}": its AKS cluster is not in this stack`);
                continue;
            }
            guarded.set(cluster, [...(guarded.get(cluster) ?? []), np]);
        }
        for (const [cluster, policies] of guarded) {
            const label = clusterLabel(cluster);
            const engine = at(cluster.props, "networkProfile.networkPolicy");
            const dataplane = at(cluster.props, "networkProfile.networkDataplane");
            if (isUnknown(engine) || isUnknown(dataplane)) {
                ctx.skip(`${label}: its network policy engine is unknown during preview`);
                continue;
            }
            const value = str(engine)?.toLowerCase();
            if ((value && ENGINES.includes(value)) || str(dataplane)?.toLowerCase() === "cilium") {
                continue;
            }
            const names = policies.map((p) => `"${refOf(p)}"`).join(", ");
            ctx.violation(
                cluster,
                `${label} runs no network policy engine (networkProfile.networkPolicy is ${value ? `"${value}"` : "not set"}), so NetworkPolicy ${names} that lets only the router reach model pods is not enforced: any pod can call the models around the router's auth (R5). Set networkProfile.networkPolicy to "azure", "calico" or "cilium".`,
            );
        }
    },
});
