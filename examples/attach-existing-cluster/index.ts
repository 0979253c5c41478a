/**
 * Attach an existing AKS cluster (R8): v1's
 *   attach_config = AksCompute.attach_configuration(resource_id=..., cluster_purpose="FastProd",
 *                                                   load_balancer_type="InternalLoadBalancer")
 *   aks_target = ComputeTarget.attach(ws, "myaks", attach_config)
 * The cluster is read through the AKS API and never modified; the router is installed into it and a
 * web service deployed from an image your pipeline built.
 *
 *   pulumi config set aksResourceId /subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.ContainerService/managedClusters/<name>
 *   pulumi config set registryLoginServer myacr.azurecr.io
 *   pulumi config set registryId /subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/myacr
 *   pulumi config set imageRef myacr.azurecr.io/amlaks-apps/diabetes@sha256:<digest>
 *   pulumi up
 *
 * See README.md for what the identity running `pulumi up` needs.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
// In your own program: import { AksInferenceCluster, AksWebservice } from "@amlaks/pulumi-aml-aks";
import { AksInferenceCluster, AksWebservice } from "../../index";

const config = new pulumi.Config();
const sample = path.join(__dirname, "..", "sample");

const cluster = new AksInferenceCluster("myaks", {
    resourceId: config.require("aksResourceId"),
    // FastProd: 3 router replicas on different nodes; the cluster needs at least 3 nodes.
    clusterPurpose: config.get("clusterPurpose") ?? "FastProd",
    // The scoring endpoint on a private IP of the cluster's VNet.
    loadBalancerType: "InternalLoadBalancer",
    // The registry the router image is built into (unless routerImage is given) and the nodes
    // pull model images from; with registryId the nodes' identity gets AcrPull on it.
    acrLoginServer: config.require("registryLoginServer"),
    containerRegistryId: config.get("registryId"),
    routerImage: config.get("routerImage"),
});

const service = new AksWebservice("diabetes", {
    cluster,
    // The complete service image, built by your pipeline (nothing is built by `pulumi up`).
    imageRef: config.require("imageRef"),
    modelDelivery: "prebuilt",
    entryScript: "score.py",
    sourceDirectory: sample,
    models: [path.join(sample, "model", "sklearn_regression_model.json")],
    cpuCores: 0.5,
    memoryGb: 1,
});

export const clusterName = cluster.clusterName;
/** The region, read from the attached cluster. */
export const location = cluster.location;
export const scoringUri = service.scoringUri;
export const primaryKey = service.primaryKey; // secret
export const requiredHosts = cluster.requiredHosts;
