/**
 * The components on a Kubernetes-only stack, as the policy e2e previews them with
 * `--policy-pack`: an inference cluster through a kubeconfig and one web service. Stack config
 * adds the misconfigurations under test: `hpa` (`v1`/`v2`: an HPA aimed at the model Deployment,
 * R29), `hpaWaiver` (a waiver reason on that HPA) and `authEnabled: false` (R35).
 */
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AksInferenceCluster } from "../../../../components/cluster";
import { AksWebservice } from "../../../../components/webservice";

const config = new pulumi.Config();
const sample = path.join(__dirname, "..", "..", "..", "..", "examples", "sample");

const cluster = new AksInferenceCluster("policy", {
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
    primaryKey: config.requireSecret("primaryKey"),
    secondaryKey: config.requireSecret("secondaryKey"),
    ...(config.getBoolean("authEnabled") === false ? { authEnabled: false } : {}),
});

const hpa = config.get("hpa");
if (hpa === "v1" || hpa === "v2") {
    const waiver = config.get("hpaWaiver");
    const metadata = {
        name: "diabetes",
        namespace: svc.namespace,
        ...(waiver
            ? { annotations: { "waiver.amlaks.io/no-hpa-on-model-deployments": waiver } }
            : {}),
    };
    const spec = {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: svc.deploymentName },
        minReplicas: 1,
        maxReplicas: 4,
    };
    const opts = { provider: cluster.kubeProvider };
    if (hpa === "v1")
        new k8s.autoscaling.v1.HorizontalPodAutoscaler("model-hpa", { metadata, spec }, opts);
    else new k8s.autoscaling.v2.HorizontalPodAutoscaler("model-hpa", { metadata, spec }, opts);
}

export const deploymentName = svc.deploymentName;
