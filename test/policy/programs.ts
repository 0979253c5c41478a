/**
 * Whole programs for the evaluatePolicyPack tests: the components plus hand-written resources,
 * as a platform team would write them.
 */
import * as path from "node:path";
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as network from "@pulumi/azure-native/network";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AksInferenceCluster } from "../../components/cluster";
import { AmlWorkspace } from "../../components/workspace";
import { AksWebservice } from "../../components/webservice";

export const SAMPLE = path.join(__dirname, "..", "..", "examples", "sample");
export const ROUTER_IMAGE = `registry.example.io/amlaks-router@sha256:${"a".repeat(64)}`;
export const MODEL_IMAGE = `registry.example.io/amlaks-apps/diabetes@sha256:${"b".repeat(64)}`;

/** A kubeconfig for any cluster (kubeconfig mode: no Azure API is called). */
export const KUBECONFIG = [
    "apiVersion: v1",
    "kind: Config",
    "clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:6443' } }]",
    "contexts: [{ name: c, context: { cluster: c, user: u } }]",
    "current-context: c",
    "users: [{ name: u, user: { token: t } }]",
    "",
].join("\n");

/** The Kubernetes side only: an inference cluster through a kubeconfig and one web service. */
export function kubernetesStack(
    opts: { hpa?: "v1" | "v2"; authEnabled?: boolean; cpuCores?: number } = {},
) {
    const cluster = new AksInferenceCluster("inference", {
        kubeconfig: KUBECONFIG,
        clusterPurpose: "DevTest",
        routerImage: ROUTER_IMAGE,
        routerServiceType: "NodePort",
    });
    const svc = new AksWebservice("diabetes", {
        cluster,
        imageRef: MODEL_IMAGE,
        modelDelivery: "prebuilt",
        entryScript: "score.py",
        sourceDirectory: SAMPLE,
        models: [path.join(SAMPLE, "model", "sklearn_regression_model.json")],
        ...(opts.authEnabled === false ? { authEnabled: false } : {}),
        ...(opts.cpuCores === undefined ? {} : { cpuCores: opts.cpuCores }),
    });
    if (opts.hpa) {
        // What someone used to Kubernetes adds by hand: an HPA on the model Deployment (R29).
        const spec = {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: svc.deploymentName },
            minReplicas: 1,
            maxReplicas: 5,
        };
        const metadata = { name: "diabetes", namespace: svc.namespace };
        const provider = cluster.kubeProvider;
        if (opts.hpa === "v1") {
            new k8s.autoscaling.v1.HorizontalPodAutoscaler(
                "model-hpa",
                { metadata, spec },
                { provider },
            );
        } else {
            new k8s.autoscaling.v2.HorizontalPodAutoscaler(
                "model-hpa",
                { metadata, spec },
                { provider },
            );
        }
    }
    return { cluster, svc };
}

/**
 * An Azure CNI inference cluster in a VNet whose subnet routes 0.0.0.0/0 to an Azure Firewall, and
 * the firewall's application rules: every R23 host unless listed in `omit`.
 */
export function cniStack(opts: { omit?: readonly string[]; literalNames?: boolean } = {}) {
    const rg = "rg-ml";
    const ws = new AmlWorkspace("ml", {
        location: "westeurope",
        resourceGroupName: rg,
        nameSuffix: "t1",
    });
    const vnet = new network.VirtualNetwork("vnet", {
        resourceGroupName: rg,
        virtualNetworkName: "vnet-ml",
        location: "westeurope",
        addressSpace: { addressPrefixes: ["10.1.0.0/16"] },
    });
    const routes = new network.RouteTable("udr", {
        resourceGroupName: rg,
        routeTableName: "rt-aks",
        location: "westeurope",
        routes: [
            {
                name: "to-firewall",
                addressPrefix: "0.0.0.0/0",
                nextHopType: "VirtualAppliance",
                nextHopIpAddress: "10.0.1.4",
            },
        ],
    });
    const subnet = new network.Subnet("aks", {
        resourceGroupName: rg,
        virtualNetworkName: vnet.name,
        subnetName: "aks",
        addressPrefix: "10.1.0.0/20",
        routeTable: { id: routes.id },
    });
    const cluster = new AksInferenceCluster("inference", {
        location: "westeurope",
        resourceGroupName: rg,
        networkPlugin: "azure",
        vnetSubnetId: subnet.id,
        serviceCidr: "10.2.0.0/16",
        dnsServiceIp: "10.2.0.10",
        loadBalancerType: "InternalLoadBalancer",
        routerImage: ROUTER_IMAGE,
        acrName: ws.acrName,
        storageAccountName: ws.storageAccountName,
        workspaceName: ws.workspaceName,
        workspaceResourceGroupName: rg,
    });
    const hosts: pulumi.Input<string>[] = opts.literalNames
        ? ["acrmlt1.azurecr.io", "stmlt1.table.core.windows.net", "stmlt1.blob.core.windows.net"]
        : [
              ws.acrLoginServer,
              pulumi.interpolate`${ws.storageAccountName}.table.core.windows.net`,
              pulumi.interpolate`${ws.storageAccountName}.blob.core.windows.net`,
          ];
    const all: pulumi.Input<string>[] = [
        "*.hcp.westeurope.azmk8s.io",
        "mcr.microsoft.com",
        "*.data.mcr.microsoft.com",
        ...hosts,
        "api.azureml.ms",
        "ingest-viennawesteurope.kusto.windows.net",
        "registry.example.io",
    ];
    const targetFqdns = pulumi
        .all(all)
        .apply((list) => list.filter((h) => !(opts.omit ?? []).includes(h)));
    const policy = new network.FirewallPolicy("fw-policy", {
        resourceGroupName: rg,
        firewallPolicyName: "fw-policy",
        location: "westeurope",
    });
    new network.FirewallPolicyRuleCollectionGroup("aks-egress", {
        resourceGroupName: rg,
        firewallPolicyName: policy.name,
        ruleCollectionGroupName: "aks-egress",
        priority: 200,
        ruleCollections: [
            {
                ruleCollectionType: "FirewallPolicyFilterRuleCollection",
                name: "aks-required",
                priority: 100,
                action: { type: "Allow" },
                rules: [
                    {
                        ruleType: "ApplicationRule",
                        name: "r23",
                        sourceAddresses: ["10.1.0.0/20"],
                        protocols: [{ protocolType: "Https", port: 443 }],
                        targetFqdns,
                    },
                ],
            },
        ],
    });
    return { ws, cluster };
}

/** A hand-written AKS cluster of `nodes` nodes, attached as a FastProd inference cluster. */
export function attachedCluster(nodes: number) {
    const aks = new containerservice.ManagedCluster("aks", {
        resourceGroupName: "rg",
        resourceName: "aks-small",
        location: "westeurope",
        dnsPrefix: "small",
        agentPoolProfiles: [
            { name: "system", mode: "System", count: nodes, vmSize: "Standard_D4s_v3" },
        ],
        networkProfile: { networkPlugin: "kubenet", networkPolicy: "calico" },
        addonProfiles: { omsagent: { enabled: true } },
        securityProfile: { defender: { securityMonitoring: { enabled: true } } },
    });
    return new AksInferenceCluster("inference", {
        resourceId: aks.id,
        clusterPurpose: "FastProd",
        routerImage: ROUTER_IMAGE,
        loadBalancerType: "InternalLoadBalancer",
    });
}
