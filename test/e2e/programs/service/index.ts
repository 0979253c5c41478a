/**
 * The e2e suite's main program: an inference cluster in kubeconfig mode and one web service with
 * a prebuilt image (no Docker provider here) and explicit keys (the random and tls providers cannot
 * be built offline). Every value the tests vary comes from stack config.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { AksInferenceCluster } from "../../../../components/cluster";
import { AksWebservice } from "../../../../components/webservice";

const config = new pulumi.Config();
const sample = path.join(__dirname, "..", "..", "..", "..", "examples", "sample");

const cluster = new AksInferenceCluster("e2e", {
    kubeconfig: config.requireSecret("kubeconfig"),
    clusterPurpose: "DevTest",
    routerImage: config.require("routerImage"),
    routerServiceType: "NodePort",
});

const svc = new AksWebservice("diabetes", {
    cluster,
    imageRef: config.require("imageRef"),
    modelDelivery: "prebuilt",
    entryScript: "score.py",
    sourceDirectory: sample,
    models: [path.join(sample, "model", "sklearn_regression_model.json")],
    cpuCores: 0.1,
    memoryGb: config.getNumber("memoryGb") ?? 0.5,
    autoscaleEnabled: true,
    autoscaleMinReplicas: 1,
    autoscaleMaxReplicas: 4,
    primaryKey: config.requireSecret("primaryKey"),
    secondaryKey: config.requireSecret("secondaryKey"),
});

export const routerNamespace = cluster.routerNamespace;
export const clusterId = cluster.clusterId;
export const scoringUri = svc.scoringUri;
export const deploymentName = svc.deploymentName;
export const namespace = svc.namespace;
export const primaryKey = svc.primaryKey;
