/**
 * The `workspace` shorthand of {@link AksInferenceClusterArgs} (issue 11 item 8): as v1's
 * `ComputeTarget.create(ws, ...)`, the cluster takes its region, resource group, registry,
 * storage and Log Analytics workspace from an `AmlWorkspace`. Explicit args always win, and only
 * the args the cluster's mode uses are filled (attach mode keeps the existing cluster's region
 * and resource group; kubeconfig mode has no AcrPull grant).
 */
import * as pulumi from "@pulumi/pulumi";
import { AksInferenceClusterArgs, WorkspaceLike } from "./args";

/** Members of an `AmlWorkspace` the shorthand reads; a component must have them all. */
export const WORKSPACE_MEMBERS = [
    "location",
    "resourceGroupName",
    "acrName",
    "acrLoginServer",
    "containerRegistryId",
    "storageAccountName",
    "logAnalyticsWorkspaceId",
    "applicationInsightsConnectionString",
] as const;

/** The object has every member the shorthand reads. */
export function isWorkspaceLike(v: unknown): v is WorkspaceLike {
    if (v === null || typeof v !== "object") return false;
    const o = v as Record<string, unknown>;
    return WORKSPACE_MEMBERS.every((m) => o[m] !== undefined);
}

/**
 * Args with the workspace's values filled in where the caller gave none. Returns `args` itself
 * when there is no (valid) workspace: the validator then reports it.
 */
export function withWorkspace(args: AksInferenceClusterArgs): AksInferenceClusterArgs {
    const ws = args?.workspace;
    if (!isWorkspaceLike(ws)) return args;
    const mode =
        args.resourceId !== undefined ? "attach" : args.kubeconfig ? "kubeconfig" : "create";
    const fill: Record<string, unknown> = {
        acrName: ws.acrName,
        acrLoginServer: ws.acrLoginServer,
        storageAccountName: ws.storageAccountName,
    };
    if (mode !== "kubeconfig") fill.containerRegistryId = ws.containerRegistryId;
    if (mode !== "attach") fill.location = ws.location;
    if (mode === "create") {
        fill.resourceGroupName = ws.resourceGroupName;
        // "" when the workspace reuses an Application Insights without Log Analytics: fail with a
        // clear message rather than send an empty id to AKS.
        fill.logAnalyticsWorkspaceId = pulumi.output(ws.logAnalyticsWorkspaceId).apply((id) => {
            if (!id) {
                throw new Error(
                    "AksInferenceCluster: the workspace has no Log Analytics workspace (its existing " +
                        "Application Insights has none); give logAnalyticsWorkspaceId explicitly.",
                );
            }
            return id;
        });
    }
    const out: Record<string, unknown> = { ...args };
    for (const [k, v] of Object.entries(fill)) {
        if (out[k] === undefined) out[k] = v;
    }
    return out as AksInferenceClusterArgs;
}
