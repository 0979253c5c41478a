/**
 * A model service written by hand, without the components: a Deployment carrying the model labels
 * and the settings annotation the router reads. `hpa: v1|v2` adds an HPA aimed at it (R29).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config();
const provider = new k8s.Provider("raw", { kubeconfig: config.requireSecret("kubeconfig") });
const namespace = new k8s.core.v1.Namespace(
    "models",
    { metadata: { name: "models" } },
    { provider },
);
const labels = { "app.kubernetes.io/name": "scorer", "amlaks.io/model-deployment": "true" };

const deployment = new k8s.apps.v1.Deployment(
    "scorer",
    {
        metadata: {
            name: "scorer",
            namespace: namespace.metadata.name,
            labels,
            annotations: { "amlaks.io/settings": JSON.stringify({ name: "scorer" }) },
        },
        spec: {
            replicas: 1,
            selector: { matchLabels: labels },
            template: {
                metadata: { labels },
                spec: { containers: [{ name: "model", image: config.require("imageRef") }] },
            },
        },
    },
    { provider },
);

const hpa = config.get("hpa");
if (hpa === "v1" || hpa === "v2") {
    const metadata = { name: "scorer", namespace: namespace.metadata.name };
    const spec = {
        scaleTargetRef: {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: deployment.metadata.name,
        },
        minReplicas: 1,
        maxReplicas: 3,
    };
    if (hpa === "v1")
        new k8s.autoscaling.v1.HorizontalPodAutoscaler("scorer", { metadata, spec }, { provider });
    else new k8s.autoscaling.v2.HorizontalPodAutoscaler("scorer", { metadata, spec }, { provider });
}
