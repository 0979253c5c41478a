/**
 * The router e2e program: a FastProd inference cluster in kubeconfig mode (three router pods, which
 * the test kubelet runs as real router processes) and one autoscaled key-auth web service (its
 * pods run the model harness with test/e2e/fixtures/model/score.py). Fast probes and a long queue
 * wait so a load step scales out without a single 503.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { AksInferenceCluster } from "../../../../components/cluster";
import { AksWebservice } from "../../../../components/webservice";

const config = new pulumi.Config();
const root = path.join(__dirname, "..", "..", "..", "..");

const cluster = new AksInferenceCluster("e2e", {
    kubeconfig: config.requireSecret("kubeconfig"),
    clusterPurpose: "FastProd",
    routerImage: config.require("routerImage"),
    routerServiceType: "ClusterIP",
});

const svc = new AksWebservice("diabetes", {
    cluster,
    imageRef: config.require("imageRef"),
    modelDelivery: "prebuilt",
    entryScript: "score.py",
    sourceDirectory: path.join(root, "test", "e2e", "fixtures", "model"),
    models: [path.join(root, "examples", "sample", "model", "sklearn_regression_model.json")],
    cpuCores: 0.1,
    memoryGb: 0.25,
    autoscaleEnabled: true,
    autoscaleMinReplicas: 1,
    autoscaleMaxReplicas: 4,
    autoscaleRefreshSeconds: 1,
    autoscaleTargetUtilization: 70,
    replicaMaxConcurrentRequests: 1,
    maxRequestWaitTime: 20_000,
    scoringTimeoutMs: 10_000,
    periodSeconds: 1,
    timeoutSeconds: 1,
    failureThreshold: 2,
    initialDelaySeconds: 5,
    primaryKey: config.requireSecret("primaryKey"),
    secondaryKey: config.requireSecret("secondaryKey"),
});

export const routerNamespace = cluster.routerNamespace;
export const serviceNamespaces = cluster.serviceNamespaces;
export const deploymentName = svc.deploymentName;
export const namespace = svc.namespace;
export const scoringUri = svc.scoringUri;
