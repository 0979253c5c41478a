/**
 * R38: token auth depends on the workspace's region; keep the workspace and the cluster in the same
 * region (an unavailable workspace region makes token auth unavailable; distance adds latency).
 */
import { normalizeRegion } from "../components/cluster/hosts";
import { azureName, clusterLabel, isMlWorkspace, regionOf } from "./lib/azure";
import { type ResourceView, stackPolicy } from "./lib/core";
import { clusterOf, computesOf } from "./lib/graph";
import { AML_WORKSPACE_TOKEN, isModelDeployment, refOf, usesTokenAuth } from "./lib/k8s";
import { isUnknown, str } from "./lib/values";
import type { StackValidationPolicy } from "@pulumi/policy/policy";

export const TOKEN_AUTH_SAME_REGION = "token-auth-same-region";

/** Region from a `location` value (`West Europe` → `westeurope`), `"unknown"` in preview. */
function region(v: unknown): string | undefined {
    if (isUnknown(v)) return "unknown";
    const s = str(v);
    return s ? normalizeRegion(s) : undefined;
}

export const tokenAuthSameRegion: StackValidationPolicy = stackPolicy({
    name: TOKEN_AUTH_SAME_REGION,
    description:
        "Web services with token auth should run on a cluster in the same region as the workspace (R38).",
    severity: "low",
    enforcementLevel: "advisory",
    remediationSteps:
        "Create the inference cluster in the workspace's region (or move the workspace), or use key auth.",
    check(all, ctx) {
        for (const dep of all.filter((r) => isModelDeployment(r) && usesTokenAuth(r))) {
            const label = `Model Deployment "${refOf(dep)}"`;
            const link = clusterOf(dep, all);
            let clusterRegion: string | undefined;
            let clusterName: string;
            let workspaces: ResourceView[] = [];
            if (link.managedCluster) {
                clusterRegion = region(link.managedCluster.props.location);
                clusterName = clusterLabel(link.managedCluster);
                const names = computesOf(link.managedCluster, all).map((c) =>
                    str(c.props.workspaceName)?.toLowerCase(),
                );
                workspaces = all.filter(
                    (w) =>
                        isMlWorkspace(w.type) &&
                        names.includes(azureName(w, "workspaceName").toLowerCase()),
                );
            } else if (link.component) {
                clusterRegion = region(link.component.props.location);
                clusterName = `inference cluster "${link.component.name}"`;
            } else {
                ctx.skip(`${label}: its cluster is not in this stack`);
                continue;
            }
            if (workspaces.length === 0) {
                // Raw workspaces, else AmlWorkspace components (whose child is the raw one).
                const raw = all.filter((w) => isMlWorkspace(w.type));
                workspaces =
                    raw.length > 0 ? raw : all.filter((w) => w.type === AML_WORKSPACE_TOKEN);
            }
            if (clusterRegion === "unknown" || clusterRegion === undefined) {
                ctx.skip(`${label}: the region of ${clusterName} is unknown`);
                continue;
            }
            for (const w of workspaces) {
                const wsRegion =
                    w.type === AML_WORKSPACE_TOKEN ? region(w.props.location) : regionOf(w);
                const wsLabel =
                    w.type === AML_WORKSPACE_TOKEN
                        ? `workspace "${w.name}"`
                        : `workspace "${azureName(w, "workspaceName")}"`;
                if (wsRegion === undefined || wsRegion === "unknown") {
                    ctx.skip(`${label}: the region of ${wsLabel} is unknown`);
                    continue;
                }
                if (wsRegion === clusterRegion) continue;
                ctx.violation(
                    dep,
                    `${label} uses token auth, but ${wsLabel} is in ${wsRegion} and ${clusterName} in ${clusterRegion}. Token auth depends on the workspace region: keep the workspace and the cluster in the same region (R38).`,
                );
            }
        }
    },
});
