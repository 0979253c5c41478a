/**
 * R10 (aml-v1-spec §2.3): FastProd and DenseProd clusters need at least 3 nodes, so the router's
 * replicas sit on different nodes — the rule the cluster component enforces
 * (components/cluster/sizing.ts; the older document's 12 vCPUs is advice there, shown here in the
 * message). The purpose of a cluster comes from its workspace compute (`clusterPurpose`, v1
 * default FastProd), the `AksInferenceCluster` that made or attached it, or the router's
 * `ROUTER_CLUSTER_PURPOSE`.
 */
import { lookupVmSku, PROD_MIN_NODES } from "../components/cluster/sizing";
import {
    clusterLabel,
    isManagedCluster,
    isMlCompute,
    type NodePool,
    nodePools,
    poolsUnknown,
} from "./lib/azure";
import { type ResourceView, stackPolicy } from "./lib/core";
import { clusterOf, componentCluster, computesOf } from "./lib/graph";
import { AKS_INFERENCE_CLUSTER_TOKEN, isKind, isRouterSelector, podLabelsOf } from "./lib/k8s";
import { arr, at, isUnknown, num, str } from "./lib/values";
import type { StackValidationPolicy } from "@pulumi/policy/policy";

export const PROD_CLUSTER_MINIMUM_SIZE = "prod-cluster-minimum-size";

/** v1's default purpose when a compute does not say (aml-v1-spec §2.1). */
const DEFAULT_PURPOSE = "FastProd";

/** Purposes the stack states for a cluster; "unknown" when one is unknown during preview. */
function purposesOf(cluster: ResourceView, all: readonly ResourceView[]): string[] {
    const out: string[] = [];
    for (const c of computesOf(cluster, all)) {
        const p = at(c.props, "properties.properties.clusterPurpose");
        out.push(isUnknown(p) ? "unknown" : (str(p) ?? DEFAULT_PURPOSE));
    }
    for (const p of all) {
        if (p.type !== AKS_INFERENCE_CLUSTER_TOKEN || componentCluster(p, all) !== cluster)
            continue;
        const v = p.props.clusterPurpose;
        if (isUnknown(v)) out.push("unknown");
        else if (str(v)) out.push(str(v)!);
    }
    for (const r of all) {
        if (!isKind(r.type, "apps", "Deployment") || !isRouterSelector(podLabelsOf(r))) continue;
        if (clusterOf(r, all).managedCluster !== cluster) continue;
        for (const c of arr(at(r.props, "spec.template.spec.containers"))) {
            for (const e of arr(at(c, "env"))) {
                if (at(e, "name") !== "ROUTER_CLUSTER_PURPOSE") continue;
                const v = at(e, "value");
                out.push(isUnknown(v) ? "unknown" : (str(v) ?? ""));
            }
        }
    }
    return [...new Set(out.filter((p) => p !== ""))];
}

function checkPools(
    subject: ResourceView,
    label: string,
    purpose: string,
    pools: readonly Pick<NodePool, "vmSize" | "count">[],
    ctx: { violation(r: ResourceView, m: string): void; skip(r: string): void },
): void {
    let nodes = 0;
    let vcpus: number | undefined = 0;
    const parts: string[] = [];
    for (const p of pools) {
        if (p.count === undefined) {
            ctx.skip(`${label}: a node pool's count is unknown during preview`);
            return;
        }
        nodes += p.count;
        const perNode = p.vmSize === undefined ? undefined : lookupVmSku(p.vmSize)?.vcpus;
        vcpus =
            vcpus === undefined || perNode === undefined ? undefined : vcpus + p.count * perNode;
        parts.push(`${p.count} x ${p.vmSize ?? "(unknown size)"}`);
    }
    if (nodes >= PROD_MIN_NODES) return;
    const capacity = `${parts.join(" + ") || "no node pools"}${vcpus === undefined ? "" : `, ${vcpus} vCPUs in total`}`;
    ctx.violation(
        subject,
        `${label} is ${purpose} but has ${nodes} node(s) (${capacity}); FastProd and DenseProd need at least ${PROD_MIN_NODES} nodes so the router's replicas sit on different nodes (R10). Add nodes or use DevTest.`,
    );
}

export const prodClusterMinimumSize: StackValidationPolicy = stackPolicy({
    name: PROD_CLUSTER_MINIMUM_SIZE,
    description: `FastProd and DenseProd inference clusters need at least ${PROD_MIN_NODES} nodes (R10).`,
    severity: "medium",
    enforcementLevel: "advisory",
    remediationSteps:
        "Raise the node count (agentCount, or the node pools' count) to 3 or more, or declare the cluster DevTest (not for production: no fault tolerance).",
    check(all, ctx) {
        const linkedComputes = new Set<ResourceView>();
        for (const cluster of all.filter((r) => isManagedCluster(r.type))) {
            const label = clusterLabel(cluster);
            computesOf(cluster, all).forEach((c) => linkedComputes.add(c));
            const purposes = purposesOf(cluster, all);
            if (purposes.includes("unknown")) {
                ctx.skip(`${label}: its purpose is unknown during preview`);
                continue;
            }
            const prod = purposes.find((p) => p === "FastProd" || p === "DenseProd");
            if (!prod) continue;
            if (poolsUnknown(cluster)) {
                ctx.skip(`${label}: its node pools are unknown during preview`);
                continue;
            }
            checkPools(cluster, label, prod, nodePools(cluster, all), ctx);
        }
        // A workspace compute describing a cluster of another stack (v1 attach fields).
        for (const c of all) {
            if (!isMlCompute(c.type) || linkedComputes.has(c)) continue;
            const props = at(c.props, "properties");
            if (String(at(props, "computeType") ?? "").toUpperCase() !== "AKS") continue;
            const purpose = str(at(props, "properties.clusterPurpose")) ?? DEFAULT_PURPOSE;
            const count = at(props, "properties.agentCount");
            const vmSize = at(props, "properties.agentVmSize");
            if (count === undefined || vmSize === undefined) continue;
            if (purpose !== "FastProd" && purpose !== "DenseProd") continue;
            const label = `Workspace compute "${str(c.props.computeName) ?? c.name}"`;
            checkPools(c, label, purpose, [{ count: num(count), vmSize: str(vmSize) }], ctx);
        }
    },
});
