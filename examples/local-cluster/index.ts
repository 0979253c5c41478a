/**
 * The router on a local Kubernetes cluster (kubeconfig mode): no Azure at all.
 *
 *   kind create cluster && kind load docker-image amlaks-router:dev
 *   pulumi config set --secret kubeconfig "$(kind get kubeconfig)"
 *   pulumi up
 *   kubectl -n azureml port-forward svc/amlaks-router 8080:80
 *
 * Not available here: workspace compute attach, Azure load balancer annotations (internal LB,
 * DNS label), AcrPull grants, AKS API server in requiredHosts.
 */
import * as pulumi from "@pulumi/pulumi";
// In your own program: import { AksInferenceCluster } from "@amlaks/pulumi-aml-aks";
import { AksInferenceCluster } from "../../components/cluster";

const config = new pulumi.Config();

const cluster = new AksInferenceCluster("local", {
    kubeconfig: config.requireSecret("kubeconfig"),
    clusterPurpose: "DevTest",
    routerImage: config.get("routerImage") ?? "amlaks-router:dev",
    // kind has no load balancer: a NodePort Service, reached by port-forwarding.
    routerServiceType: "NodePort",
});

export const routerNamespace = cluster.routerNamespace;
export const clusterId = cluster.clusterId;
