/**
 * Cluster policies: prod-cluster-minimum-size (R10), network-policy-enforced (R5),
 * defender-for-containers (R39), container-insights (R22).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { containerInsights } from "../../policy/container-insights";
import { defenderForContainers } from "../../policy/defender-for-containers";
import { networkPolicyEnforced } from "../../policy/network-policy-enforced";
import { prodClusterMinimumSize } from "../../policy/prod-cluster-minimum-size";
import {
    type FakeResource,
    messages,
    runResourcePolicy,
    runStackPolicy,
    UNKNOWN,
    urnOf,
} from "./harness";
import { managedCluster, modelDeployment, NS, SUB } from "./resources";

const CLUSTER_ID = `${SUB}/Microsoft.ContainerService/managedClusters/aks`;

function compute(purpose?: string, extra: Record<string, unknown> = {}): FakeResource {
    return {
        type: "azure-native:machinelearningservices:Compute",
        name: "compute",
        props: {
            computeName: "aks-compute",
            workspaceName: "ws",
            properties: {
                computeType: "AKS",
                resourceId: UNKNOWN,
                properties: { ...(purpose ? { clusterPurpose: purpose } : {}), ...extra },
            },
        },
        propertyDependencies: { properties: ["aks"] },
    };
}

function pools(...list: [number, string][]) {
    return {
        agentPoolProfiles: list.map(([count, vmSize], i) => ({ name: `p${i}`, count, vmSize })),
    };
}

describe("prod-cluster-minimum-size", () => {
    const policy = prodClusterMinimumSize;
    const message = (
        purpose: string,
        nodes: number,
        capacity: string,
        label = 'AKS cluster "aks"',
    ) =>
        `${label} is ${purpose} but has ${nodes} node(s) (${capacity}); FastProd and DenseProd need at least 3 nodes so the router's replicas sit on different nodes (R10). Add nodes or use DevTest.`;

    test("a FastProd cluster with 3 nodes passes (also with small VMs: 12 vCPUs is advice)", async () => {
        assert.deepEqual(
            (await runStackPolicy(policy, [managedCluster(), compute("FastProd")])).violations,
            [],
        );
        const small = managedCluster(pools([3, "Standard_D2s_v3"]));
        assert.deepEqual(
            (await runStackPolicy(policy, [small, compute("DenseProd")])).violations,
            [],
        );
    });

    test("a FastProd cluster with 1 node is reported with its sizes", async () => {
        const run = await runStackPolicy(policy, [
            managedCluster(pools([1, "Standard_D4s_v3"])),
            compute("FastProd"),
        ]);
        assert.deepEqual(run.violations, [
            {
                message: message("FastProd", 1, "1 x Standard_D4s_v3, 4 vCPUs in total"),
                urn: urnOf(managedCluster()),
            },
        ]);
    });

    test("a compute without purpose is v1's FastProd; pools add up", async () => {
        const run = await runStackPolicy(policy, [
            managedCluster(pools([1, "Standard_D8s_v3"], [1, "Standard_D4s_v3"])),
            compute(),
        ]);
        assert.deepEqual(messages(run), [
            message("FastProd", 2, "1 x Standard_D8s_v3 + 1 x Standard_D4s_v3, 12 vCPUs in total"),
        ]);
    });

    test("DevTest clusters and clusters of unknown purpose are not checked", async () => {
        const small = managedCluster(pools([1, "Standard_D2s_v3"]));
        assert.deepEqual(
            (await runStackPolicy(policy, [small, compute("DevTest")])).violations,
            [],
        );
        assert.deepEqual((await runStackPolicy(policy, [small])).violations, []);
    });

    test("the purpose also comes from the AksInferenceCluster component and the router's env", async () => {
        const small = { ...managedCluster(pools([1, "Standard_D16s_v3"])), parent: "inference" };
        const component = {
            type: "amlaks:index:AksInferenceCluster",
            name: "inference",
            props: { clusterPurpose: "FastProd" },
        };
        assert.deepEqual(messages(await runStackPolicy(policy, [component, small])), [
            message("FastProd", 1, "1 x Standard_D16s_v3, 16 vCPUs in total"),
        ]);

        const router: FakeResource = {
            type: "kubernetes:apps/v1:Deployment",
            name: "router",
            props: {
                metadata: { name: "amlaks-router", namespace: "azureml" },
                spec: {
                    template: {
                        metadata: {
                            labels: {
                                "app.kubernetes.io/name": "amlaks-router",
                                "app.kubernetes.io/component": "router",
                            },
                        },
                        spec: {
                            containers: [
                                {
                                    name: "router",
                                    env: [{ name: "ROUTER_CLUSTER_PURPOSE", value: "DenseProd" }],
                                },
                            ],
                        },
                    },
                },
            },
        };
        assert.match(
            messages(
                await runStackPolicy(policy, [
                    managedCluster(pools([1, "Standard_D16s_v3"])),
                    router,
                ]),
            )[0] ?? "",
            /is DenseProd but has 1 node/,
        );
    });

    test("AgentPool resources add nodes; SKUs missing from the table are counted without vCPUs", async () => {
        const extra: FakeResource = {
            type: "azure-native:containerservice:AgentPool",
            name: "user-pool",
            props: {
                resourceName: "aks",
                agentPoolName: "user",
                count: 2,
                vmSize: "Standard_D4s_v3",
            },
        };
        assert.deepEqual(
            (
                await runStackPolicy(policy, [
                    managedCluster(pools([1, "Standard_D4s_v3"])),
                    extra,
                    compute("FastProd"),
                ])
            ).violations,
            [],
        );
        const exotic = managedCluster(pools([2, "Standard_X9_v9"]));
        assert.deepEqual(messages(await runStackPolicy(policy, [exotic, compute("FastProd")])), [
            message("FastProd", 2, "2 x Standard_X9_v9"),
        ]);
    });

    test("a compute describing a cluster of another stack (v1 attach fields) is checked", async () => {
        const attached = {
            ...compute("FastProd", { agentCount: 2, agentVmSize: "Standard_D3_v2" }),
            propertyDependencies: {},
        };
        (attached.props.properties as Record<string, unknown>).resourceId = CLUSTER_ID;
        assert.deepEqual(messages(await runStackPolicy(policy, [attached])), [
            message(
                "FastProd",
                2,
                "2 x Standard_D3_v2, 8 vCPUs in total",
                'Workspace compute "aks-compute"',
            ),
        ]);
    });

    test("preview: an unknown node count is skipped with a reason", async () => {
        const run = await runStackPolicy(policy, [
            managedCluster({
                agentPoolProfiles: [{ name: "p", count: UNKNOWN, vmSize: "Standard_D4s_v3" }],
            }),
            compute("FastProd"),
        ]);
        assert.deepEqual(run.violations, []);
        assert.equal(
            run.notApplicable,
            `AKS cluster "aks": a node pool's count is unknown during preview`,
        );
    });
});

describe("network-policy-enforced", () => {
    const policy = networkPolicyEnforced;
    const netpol: FakeResource = {
        type: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        name: "diabetes-netpol",
        props: {
            metadata: { name: "diabetes", namespace: NS },
            spec: {
                podSelector: {
                    matchLabels: {
                        "app.kubernetes.io/name": "diabetes",
                        "amlaks.io/model-deployment": "true",
                    },
                },
                policyTypes: ["Ingress"],
            },
        },
    };

    test("a cluster with Azure network policy passes", async () => {
        assert.deepEqual(
            (await runStackPolicy(policy, [managedCluster(), modelDeployment(), netpol]))
                .violations,
            [],
        );
        const cilium = managedCluster({
            networkProfile: { networkPlugin: "azure", networkDataplane: "cilium" },
        });
        assert.deepEqual(
            (await runStackPolicy(policy, [cilium, modelDeployment(), netpol])).violations,
            [],
        );
    });

    test("a cluster without a policy engine is reported with the NetworkPolicy it leaves unenforced", async () => {
        const run = await runStackPolicy(policy, [
            managedCluster({ networkProfile: { networkPlugin: "azure" } }),
            modelDeployment(),
            netpol,
        ]);
        assert.deepEqual(run.violations, [
            {
                message: `AKS cluster "aks" runs no network policy engine (networkProfile.networkPolicy is not set), so NetworkPolicy "${NS}/diabetes" that lets only the router reach model pods is not enforced: any pod can call the models around the router's auth (R5). Set networkProfile.networkPolicy to "azure", "calico" or "cilium".`,
                urn: urnOf(managedCluster()),
            },
        ]);
        const none = await runStackPolicy(policy, [
            managedCluster({ networkProfile: { networkPlugin: "kubenet", networkPolicy: "none" } }),
            modelDeployment(),
            netpol,
        ]);
        assert.match(messages(none)[0] ?? "", /networkProfile\.networkPolicy is "none"/);
    });

    test("NetworkPolicies of other pods do not make it apply", async () => {
        const other = {
            ...netpol,
            props: {
                metadata: { name: "web", namespace: "web" },
                spec: { podSelector: { matchLabels: { app: "web" } } },
            },
        };
        const run = await runStackPolicy(policy, [
            managedCluster({ networkProfile: { networkPlugin: "azure" } }),
            modelDeployment(),
            other,
        ]);
        assert.deepEqual(run.violations, []);
    });

    test("without the cluster in the stack it is skipped with a reason", async () => {
        const run = await runStackPolicy(policy, [modelDeployment(), netpol]);
        assert.deepEqual(run.violations, []);
        assert.equal(
            run.notApplicable,
            `NetworkPolicy "${NS}/diabetes": its AKS cluster is not in this stack`,
        );
    });
});

describe("defender-for-containers", () => {
    const policy = defenderForContainers;

    test("a cluster with Defender passes; so does a subscription Containers plan in the stack", async () => {
        assert.deepEqual((await runStackPolicy(policy, [managedCluster()])).violations, []);
        const plan = {
            type: "azure-native:security:Pricing",
            name: "containers",
            props: { pricingName: "Containers", pricingTier: "Standard" },
        };
        assert.deepEqual(
            (await runStackPolicy(policy, [managedCluster({ securityProfile: {} }), plan]))
                .violations,
            [],
        );
    });

    test("a cluster without Defender is reported", async () => {
        const run = await runStackPolicy(policy, [managedCluster({ securityProfile: undefined })]);
        assert.deepEqual(messages(run), [
            `AKS cluster "aks" does not run Microsoft Defender for Containers (securityProfile.defender.securityMonitoring.enabled is not true, and this stack has no Defender for Containers plan): its images and nodes are not scanned for vulnerabilities (R39). Enable it (defenderEnabled: true on AksInferenceCluster, the default).`,
        ]);
    });

    test("enabledAtSubscriptionLevel and unknown values", async () => {
        const off = managedCluster({ securityProfile: undefined });
        assert.deepEqual(
            (
                await runStackPolicy(policy, [off], {
                    "defender-for-containers": { enabledAtSubscriptionLevel: true },
                })
            ).violations,
            [],
        );
        const unknown = await runStackPolicy(policy, [
            managedCluster({
                securityProfile: { defender: { securityMonitoring: { enabled: UNKNOWN } } },
            }),
        ]);
        assert.deepEqual(unknown.violations, []);
        assert.equal(
            unknown.notApplicable,
            `AKS cluster "aks": its Defender setting is unknown during preview`,
        );
    });
});

describe("container-insights", () => {
    const policy = containerInsights;

    test("a cluster with the omsagent add-on (any key case) passes", async () => {
        assert.deepEqual((await runResourcePolicy(policy, managedCluster())).violations, []);
        const camel = managedCluster({ addonProfiles: { omsAgent: { enabled: true } } });
        assert.deepEqual((await runResourcePolicy(policy, camel)).violations, []);
    });

    test("a cluster without Container Insights is reported", async () => {
        const run = await runResourcePolicy(
            policy,
            managedCluster({ addonProfiles: { omsagent: { enabled: false } } }),
        );
        assert.deepEqual(messages(run), [
            `AKS cluster "aks" does not run Container Insights (the omsagent add-on is not enabled): container logs are not stored, so a failing model's logs are lost with its pod (R22). Enable it with a Log Analytics workspace (containerInsightsEnabled: true on AksInferenceCluster, the default).`,
        ]);
    });

    test("other resource types are not applicable; unknown add-ons are skipped", async () => {
        const other = await runResourcePolicy(policy, modelDeployment());
        assert.equal(
            other.notApplicable,
            "container-insights does not look at kubernetes:apps/v1:Deployment",
        );
        const unknown = await runResourcePolicy(policy, managedCluster({ addonProfiles: UNKNOWN }));
        assert.deepEqual(unknown.violations, []);
        assert.equal(
            unknown.notApplicable,
            `AKS cluster "aks": its add-ons are unknown during preview`,
        );
    });

    test("an Azure tag waiver with a reason waives it", async () => {
        const run = await runResourcePolicy(
            policy,
            managedCluster({
                addonProfiles: {},
                tags: { "amlaks-waiver-container-insights": "logs shipped by our own Fluent Bit" },
            }),
        );
        assert.deepEqual(run.violations, []);
        assert.match(
            run.notApplicable ?? "",
            /by tag amlaks-waiver-container-insights: logs shipped by our own Fluent Bit/,
        );
    });
});
