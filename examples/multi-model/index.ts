/**
 * Several models behind one web service (R27: up to 1000 per deployment), on any Kubernetes
 * cluster through a kubeconfig: v1's `Model.deploy(ws, "diabetes-models", [ridge, lasso, linear],
 * inference_config, deployment_config, aks_target)`. No Azure API is used.
 *
 *   pulumi config set --secret kubeconfig "$(kubectl config view --minify --raw)"
 *   pulumi config set routerImage <registry>/amlaks-router@sha256:...
 *   pulumi config set imageRef <registry>/amlaks-apps/diabetes-models@sha256:...   # build-context.ts
 *   pulumi up
 *
 * The service image is built by an earlier pipeline step (build-context.ts + docker build/push):
 * `modelDelivery: "prebuilt"`, so `pulumi up` needs no Docker. See README.md.
 */
import * as pulumi from "@pulumi/pulumi";
// In your own program: import { AksInferenceCluster, AksWebservice } from "@amlaks/pulumi-aml-aks";
import { AksInferenceCluster, AksWebservice } from "../../index";
import { ENTRY_SCRIPT, MODELS, SERVICE_NAME, SOURCE_DIRECTORY } from "./service";

const config = new pulumi.Config();

const cluster = new AksInferenceCluster("models", {
    kubeconfig: config.requireSecret("kubeconfig"),
    clusterPurpose: "DevTest",
    routerImage: config.require("routerImage"),
    // No cloud load balancer: reach the router with `kubectl port-forward`.
    routerServiceType: "NodePort",
});

const service = new AksWebservice(SERVICE_NAME, {
    cluster,
    imageRef: config.require("imageRef"),
    modelDelivery: "prebuilt",
    entryScript: ENTRY_SCRIPT,
    sourceDirectory: SOURCE_DIRECTORY,
    models: MODELS,
    description:
        "Ridge, Lasso and least-squares regressions of the diabetes data set in one service",
    cpuCores: 0.5,
    memoryGb: 1,
    autoscaleEnabled: true,
    autoscaleMinReplicas: 1,
    autoscaleMaxReplicas: 3,
    // Optional: your own keys (secrets); without them keys are generated and kept in the state.
    primaryKey: config.getSecret("primaryKey"),
    secondaryKey: config.getSecret("secondaryKey"),
});

/** `/api/v1/service/diabetes-models/score`: a path, the router has no external address here. */
export const scoringPath = service.scoringUri;
export const modelDir = service.modelDir;
export const routerNamespace = cluster.routerNamespace;
export const primaryKey = service.primaryKey; // secret
