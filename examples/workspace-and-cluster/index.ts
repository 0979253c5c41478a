/**
 * Minimal Azure program: a workspace and a small DevTest inference cluster that takes its region,
 * resource group, registry, storage and Log Analytics workspace from it (`workspace: ws`, as v1's
 * `ComputeTarget.create(ws, ...)`). Nothing is registered in the workspace as a v1 compute.
 *
 *   pulumi config set azure-native:location westeurope
 *   pulumi up
 *
 * The router image is built from the installed package and pushed to the workspace registry
 * (`docker` and `az acr login` where `pulumi up` runs); `pulumi config set routerImage <ref>` uses
 * an image you publish yourself instead.
 *
 * Needs `kubelogin` on PATH (the cluster has local accounts disabled) and rights to create role
 * assignments (Owner or User Access Administrator), or set grantDeployerClusterAdmin: false and
 * give adminGroupObjectIds instead.
 */
import * as pulumi from "@pulumi/pulumi";
// In your own program: import { AmlWorkspace, AksInferenceCluster } from "@amlaks/pulumi-aml-aks";
import { AksInferenceCluster } from "../../components/cluster";
import { AmlWorkspace } from "../../components/workspace";

const config = new pulumi.Config();
const location = new pulumi.Config("azure-native").require("location");

const ws = new AmlWorkspace("ml", { location });

const cluster = new AksInferenceCluster("inference", {
    workspace: ws,
    clusterPurpose: "DevTest",
    agentCount: 1,
    vmSize: "Standard_D4s_v3",
    routerImage: config.get("routerImage"),
});

export const workspaceName = ws.workspaceName;
export const scoringBaseUrl = cluster.scoringBaseUrl;
export const requiredHosts = cluster.requiredHosts;
export const kubeconfig = cluster.kubeconfig; // secret
