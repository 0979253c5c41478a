/**
 * Happy-path resources for the policy tests (what a compliant stack holds); each test changes one
 * thing and expects one exact message.
 */
import type { FakeResource } from "./harness";

export const SUB =
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers";
export const NS = "azureml-services";

/** The settings annotation a model Deployment carries (as AksWebservice renders it). */
export function settings(extra: Record<string, unknown> = {}): string {
    return JSON.stringify({
        name: "diabetes",
        authEnabled: true,
        tokenAuthEnabled: false,
        ...extra,
    });
}

/** A model Deployment as AksWebservice renders it (labels, settings annotation). */
export function modelDeployment(
    over: Partial<FakeResource> & {
        settings?: Record<string, unknown>;
        container?: Record<string, unknown>;
    } = {},
): FakeResource {
    const name = String(
        (over.props?.metadata as { name?: string } | undefined)?.name ?? "diabetes",
    );
    return {
        type: "kubernetes:apps/v1:Deployment",
        name: over.name ?? "diabetes-deployment",
        ...(over.parent ? { parent: over.parent } : {}),
        ...(over.provider ? { provider: over.provider } : {}),
        props: over.props ?? {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: {
                name,
                namespace: NS,
                labels: {
                    "app.kubernetes.io/name": name,
                    "app.kubernetes.io/managed-by": "amlaks",
                    "amlaks.io/service": name,
                    "amlaks.io/model-deployment": "true",
                },
                annotations: { "amlaks.io/settings": settings(over.settings) },
            },
            spec: {
                replicas: 1,
                selector: {
                    matchLabels: {
                        "app.kubernetes.io/name": name,
                        "amlaks.io/model-deployment": "true",
                    },
                },
                template: {
                    metadata: {
                        labels: {
                            "app.kubernetes.io/name": name,
                            "amlaks.io/model-deployment": "true",
                            "amlaks.io/service": name,
                        },
                    },
                    spec: {
                        containers: [
                            {
                                name: "model",
                                image:
                                    "myacr.azurecr.io/amlaks-apps/diabetes@sha256:" +
                                    "a".repeat(64),
                                resources: { requests: { cpu: "100m", memory: "512Mi" } },
                                ...(over.container ?? {}),
                            },
                        ],
                    },
                },
            },
        },
    };
}

/** An HPA (any version) aimed at `target`. */
export function hpa(
    target: string,
    version = "v2",
    extra: Record<string, unknown> = {},
): FakeResource {
    return {
        type: `kubernetes:autoscaling/${version}:HorizontalPodAutoscaler`,
        name: `hpa-${version}`,
        props: {
            metadata: { name: `${target}-hpa`, namespace: NS, ...extra },
            spec: {
                scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: target },
                minReplicas: 1,
                maxReplicas: 5,
            },
        },
    };
}

/** An AKS cluster: Azure CNI in a custom VNet, Defender, Container Insights, Azure NPM, 3 x D4s_v3. */
export function managedCluster(over: Record<string, unknown> = {}, name = "aks"): FakeResource {
    return {
        type: "azure-native:containerservice:ManagedCluster",
        name,
        props: {
            resourceName: name,
            resourceGroupName: "rg",
            location: "westeurope",
            dnsPrefix: name,
            agentPoolProfiles: [
                {
                    name: "system",
                    mode: "System",
                    count: 3,
                    vmSize: "Standard_D4s_v3",
                    vnetSubnetID: `${SUB}/Microsoft.Network/virtualNetworks/vnet/subnets/aks`,
                },
            ],
            networkProfile: {
                networkPlugin: "azure",
                networkPolicy: "azure",
                serviceCidr: "10.2.0.0/16",
                dnsServiceIP: "10.2.0.10",
                outboundType: "loadBalancer",
            },
            addonProfiles: {
                omsagent: { enabled: true, config: { logAnalyticsWorkspaceResourceID: "x" } },
            },
            securityProfile: {
                defender: {
                    securityMonitoring: { enabled: true },
                    logAnalyticsWorkspaceResourceId: "x",
                },
            },
            ...over,
        },
    };
}
