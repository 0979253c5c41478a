/**
 * Every AksInferenceCluster validation rule with its exact message (R9-R11, aml-v1-spec §2).
 */
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AksInferenceClusterArgs } from "../../components/cluster/args";
import { validateAksInferenceClusterArgs } from "../../components/cluster/validate";
import { ValidationError, ValidationProblem } from "../../components/common/validation";
import { certKubeconfig } from "./mocks";

const IMAGE = "myacr.azurecr.io/amlaks-router:0.1.0";
const BASE: AksInferenceClusterArgs = {
    location: "westeurope",
    resourceGroupName: "rg",
    routerImage: IMAGE,
};
const AKS_ID =
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1";
const SUBNET_ID =
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/aks";
const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
const CNI = {
    networkPlugin: "azure",
    vnetSubnetId: SUBNET_ID,
    serviceCidr: "10.0.0.0/16",
    dnsServiceIp: "10.0.0.10",
};

function problems(
    args: Partial<AksInferenceClusterArgs> | Record<string, unknown>,
): ValidationProblem[] {
    try {
        validateAksInferenceClusterArgs(args as AksInferenceClusterArgs);
    } catch (e) {
        assert.ok(e instanceof ValidationError, String(e));
        return [...e.problems];
    }
    return [];
}

/** Asserts the args produce exactly these problems (field, value, rule). */
function expectProblems(
    args: Record<string, unknown>,
    expected: [string, unknown, string][],
): void {
    assert.deepEqual(
        problems(args).map((p) => [p.field, p.value, p.rule]),
        expected,
    );
}

describe("validateAksInferenceClusterArgs: defaults and modes", () => {
    test("accepts the minimal create args and resolves the v1 defaults", () => {
        const r = validateAksInferenceClusterArgs(BASE);
        assert.equal(r.mode, "create");
        assert.equal(r.purpose, "FastProd");
        // Today's AKS default, not v1's kubenet (retired by Azure), always with a policy engine.
        assert.equal(r.networkPlugin, "azure");
        assert.deepEqual(
            [r.network.networkPluginMode, r.network.networkPolicy, r.network.networkDataplane],
            ["overlay", "cilium", "cilium"],
        );
        assert.equal(r.loadBalancerType, "PublicIp");
        assert.equal(r.routerNamespace, "azureml");
        assert.equal(r.agentCount, 3);
        assert.equal(r.vmSize, "Standard_D3_v2");
        assert.equal(r.skuTier, "Standard");
        assert.equal(r.gpu, false);
        assert.equal(r.installNvidiaDevicePlugin, false);
        assert.equal(r.disableLocalAccounts, true);
        assert.equal(r.defenderEnabled, true);
        assert.equal(r.containerInsightsEnabled, true);
        assert.equal(r.tls, undefined);
        // The v1 default (plain HTTP on a public IP) works, with a warning at preview.
        assert.equal(r.warnings.length, 1);
        assert.match(r.warnings[0], /plain HTTP on a public IP.*clear text/);
        const internal = { ...BASE, loadBalancerType: "InternalLoadBalancer" };
        assert.deepEqual(validateAksInferenceClusterArgs(internal).warnings, []);
        assert.equal(
            validateAksInferenceClusterArgs({ ...BASE, clusterPurpose: "DevTest", agentCount: 1 })
                .skuTier,
            "Free",
        );
    });

    test("detects GPU SKUs and installs the NVIDIA plugin only when creating (R9)", () => {
        const gpu = validateAksInferenceClusterArgs({
            ...BASE,
            vmSize: "Standard_NC6s_v3",
            agentCount: 3,
        });
        assert.equal(gpu.gpu, true);
        assert.equal(gpu.installNvidiaDevicePlugin, true);
        const attach = validateAksInferenceClusterArgs({
            resourceId: AKS_ID,
            routerImage: IMAGE,
            vmSize: "Standard_NC6s_v3",
        });
        assert.equal(attach.mode, "attach");
        assert.equal(attach.gpu, true);
        assert.equal(attach.installNvidiaDevicePlugin, false);
        const fpga = validateAksInferenceClusterArgs({
            kubeconfig: certKubeconfig(),
            routerImage: IMAGE,
            vmSize: "Standard_PB6s",
        });
        assert.equal(fpga.mode, "kubeconfig");
        assert.equal(fpga.fpga, true);
        const unknown = validateAksInferenceClusterArgs({
            ...BASE,
            vmSize: pulumi.output("Standard_NC6s_v3"),
        });
        assert.equal(unknown.gpu, undefined);
        assert.equal(unknown.installNvidiaDevicePlugin, undefined);
    });

    test("resourceId and kubeconfig are exclusive", () => {
        expectProblems({ resourceId: AKS_ID, kubeconfig: certKubeconfig(), routerImage: IMAGE }, [
            [
                "resourceId",
                AKS_ID,
                "and kubeconfig are mutually exclusive: set resourceId to attach an existing AKS cluster, kubeconfig for any other cluster, or neither to create one",
            ],
        ]);
    });

    test("resourceId must be a managed cluster id (v1: 9 segments, Microsoft.ContainerService)", () => {
        for (const bad of [
            AKS_ID.replace(
                "Microsoft.ContainerService/managedClusters",
                "Microsoft.Compute/virtualMachines",
            ),
            `${AKS_ID}/agentPools/system`,
            "aks1",
        ]) {
            expectProblems({ resourceId: bad, routerImage: IMAGE }, [
                [
                    "resourceId",
                    bad,
                    "must be an AKS cluster resource id: /subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.ContainerService/managedClusters/<name>",
                ],
            ]);
        }
    });

    test("kubeconfig must look like one and is never echoed", () => {
        const p = problems({ kubeconfig: "token: s3cr3t", routerImage: IMAGE });
        assert.deepEqual(p, [
            {
                field: "kubeconfig",
                value: "(redacted)",
                rule: "must be a kubeconfig document (YAML or JSON with clusters and users)",
            },
        ]);
        assert.doesNotThrow(() =>
            validateAksInferenceClusterArgs({ kubeconfig: pulumi.secret("x"), routerImage: IMAGE }),
        );
    });

    test("creation-only args are errors in attach mode, naming each (agentCount included)", () => {
        expectProblems(
            {
                resourceId: AKS_ID,
                routerImage: IMAGE,
                ...CNI,
                agentCount: 3,
                vmSize: "Standard_D4s_v3",
                kubernetesVersion: "1.31",
            },
            [
                [
                    "kubernetesVersion",
                    "1.31",
                    "is only used when creating a cluster; remove it in attach mode (the existing cluster keeps its own setting)",
                ],
                [
                    "networkPlugin",
                    "azure",
                    "is only used when creating a cluster; remove it in attach mode (the existing cluster keeps its own setting)",
                ],
                [
                    "vnetSubnetId",
                    SUBNET_ID,
                    "is only used when creating a cluster; remove it in attach mode (the existing cluster keeps its own setting)",
                ],
                [
                    "serviceCidr",
                    "10.0.0.0/16",
                    "is only used when creating a cluster; remove it in attach mode (the existing cluster keeps its own setting)",
                ],
                [
                    "dnsServiceIp",
                    "10.0.0.10",
                    "is only used when creating a cluster; remove it in attach mode (the existing cluster keeps its own setting)",
                ],
                [
                    "agentCount",
                    3,
                    "is only used when creating a cluster; in attach mode the node count is read from the cluster",
                ],
            ],
        );
    });

    test("kubeconfig mode: creation-only and Azure-only args are errors; agentCount/vmSize are declarations", () => {
        expectProblems(
            {
                kubeconfig: certKubeconfig(),
                routerImage: IMAGE,
                resourceGroupName: "rg",
                defenderEnabled: true,
                workspaceName: "ws1",
                workspaceResourceGroupName: "rg",
                containerRegistryId:
                    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr12345",
                leafDomainLabel: "scoring",
                agentCount: 1,
                vmSize: "Standard_D4s_v3",
                clusterPurpose: "DevTest",
            },
            [
                [
                    "resourceGroupName",
                    "rg",
                    "is only used when creating a cluster; remove it in kubeconfig mode (the existing cluster keeps its own setting)",
                ],
                [
                    "defenderEnabled",
                    true,
                    "is only used when creating a cluster; remove it in kubeconfig mode (the existing cluster keeps its own setting)",
                ],
                [
                    "workspaceName",
                    "ws1",
                    "is not available in kubeconfig mode: attaching a compute to the workspace needs an AKS cluster resource id",
                ],
                [
                    "workspaceResourceGroupName",
                    "rg",
                    "is not available in kubeconfig mode: attaching a compute to the workspace needs an AKS cluster resource id",
                ],
                [
                    "containerRegistryId",
                    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr12345",
                    "is not available in kubeconfig mode: the AcrPull grant needs the AKS kubelet identity",
                ],
                [
                    "leafDomainLabel",
                    "scoring",
                    "is not available in kubeconfig mode: Azure DNS labels are only available on AKS",
                ],
            ],
        );
        expectProblems(
            {
                kubeconfig: certKubeconfig(),
                routerImage: IMAGE,
                loadBalancerType: "InternalLoadBalancer",
            },
            [
                [
                    "loadBalancerType",
                    "InternalLoadBalancer",
                    "is not available in kubeconfig mode: Azure load balancer annotations are only added on AKS",
                ],
            ],
        );
        // Declared sizing is checked in kubeconfig mode.
        expectProblems(
            {
                kubeconfig: certKubeconfig(),
                routerImage: IMAGE,
                agentCount: 1,
                vmSize: "Standard_D4s_v3",
            },
            [
                [
                    "agentCount",
                    1,
                    `is below 3; FastProd needs at least 3 nodes (R10, current v1 "Deploy to AKS" document) so the router's replicas sit on different nodes. Use DevTest, add nodes, or set allowUndersizedCluster: true to deploy anyway`,
                ],
            ],
        );
    });

    test("create mode needs location and resourceGroupName; routerImage or a registry to build it into", () => {
        expectProblems({}, [
            ["location", undefined, "is required when creating a cluster"],
            ["resourceGroupName", undefined, "is required when creating a cluster"],
            [
                "routerImage",
                undefined,
                "is needed when there is no registry to build the router image into: give routerImage, or routerImageRegistry (or acrLoginServer) to have the component build and push it",
            ],
        ]);
        // A registry is enough: the component builds the router image (issue 9).
        const { routerImage: _omit, ...noImage } = BASE as Record<string, unknown>;
        expectProblems({ ...noImage, routerImageRegistry: "myacr.azurecr.io" }, []);
        expectProblems({ ...noImage, acrLoginServer: "myacr.azurecr.io" }, []);
        expectProblems({ ...BASE, routerImageRegistry: "myacr.azurecr.io" }, [
            [
                "routerImageRegistry",
                "(set)",
                "only applies when the component builds the router image: remove routerImage or this field",
            ],
        ]);
    });

    test("routerWatchNamespaces: plain, non-empty, distinct, not the router's namespace (R21)", () => {
        expectProblems({ ...BASE, routerWatchNamespaces: [] }, [
            [
                "routerWatchNamespaces",
                [],
                "must be a non-empty list of namespace names (leave it unset for the default namespace)",
            ],
        ]);
        expectProblems({ ...BASE, routerWatchNamespaces: ["a", "a", "azureml", "Bad"] }, [
            ["routerWatchNamespaces[1]", "a", "is listed twice"],
            [
                "routerWatchNamespaces[2]",
                "azureml",
                "is the router's own namespace: model services need a namespace of their own (the router can read every Secret of a watched namespace)",
            ],
            [
                "routerWatchNamespaces[3]",
                "Bad",
                "must be a Kubernetes namespace name (lowercase letters, digits and dashes, at most 63 characters)",
            ],
        ]);
        expectProblems({ ...BASE, location: "west-europe!" }, [
            ["location", "west-europe!", "must be an Azure region name such as westeurope"],
        ]);
        expectProblems({ ...BASE, routerImage: "https://myacr.azurecr.io/Router:1" }, [
            [
                "routerImage",
                "https://myacr.azurecr.io/Router:1",
                "must be a Docker image reference ([registry/]path[:tag][@digest], lowercase path), e.g. myacr.azurecr.io/amlaks-router:0.1.0",
            ],
        ]);
    });

    test("args that decide which resources exist must be plain values", () => {
        expectProblems(
            {
                ...BASE,
                clusterPurpose: pulumi.output("DevTest"),
                defenderEnabled: Promise.resolve(true),
            },
            [
                [
                    "clusterPurpose",
                    "(unresolved Output)",
                    "must be a plain value, not an Output: it decides which resources are created",
                ],
                [
                    "defenderEnabled",
                    "(unresolved Output)",
                    "must be a plain value, not an Output: it decides which resources are created",
                ],
            ],
        );
    });

    test("skuTier and kubeloginMode must be plain values (an Output would be ignored)", () => {
        expectProblems(
            { ...BASE, skuTier: pulumi.output("Free"), kubeloginMode: pulumi.output("msi") },
            [
                [
                    "skuTier",
                    "(unresolved Output)",
                    "must be a plain value, not an Output: the tier is chosen from its value before deployment",
                ],
                [
                    "kubeloginMode",
                    "(unresolved Output)",
                    "must be a plain value, not an Output: it is written into the kubeconfig as given",
                ],
            ],
        );
    });
});

describe("validateAksInferenceClusterArgs: names, purpose and size (R9, R10)", () => {
    test("clusterName, kubernetesVersion, skuTier, clusterPurpose", () => {
        expectProblems(
            {
                ...BASE,
                clusterName: "-bad",
                kubernetesVersion: "latest",
                skuTier: "Gold",
                clusterPurpose: "Prod",
            },
            [
                [
                    "clusterName",
                    "-bad",
                    "must be 1-63 characters of letters, digits, dashes and underscores, starting and ending with a letter or digit",
                ],
                [
                    "kubernetesVersion",
                    "latest",
                    'must be "<major>.<minor>" or "<major>.<minor>.<patch>", e.g. "1.31"',
                ],
                ["clusterPurpose", "Prod", 'must be one of "DevTest", "FastProd", "DenseProd"'],
                ["skuTier", "Gold", 'must be one of "Free", "Standard", "Premium"'],
            ],
        );
    });

    test("agentCount is a whole number > 0, vmSize a VM size name, vmCpuCount > 0", () => {
        expectProblems({ ...BASE, agentCount: 0, vmSize: "D3_v2", vmCpuCount: 2.5 }, [
            ["agentCount", 0, "must be a whole number from 1 to 1000"],
            ["vmSize", "D3_v2", 'must be an Azure VM size name such as "Standard_D3_v2"'],
            ["vmCpuCount", 2.5, "must be a whole number > 0"],
        ]);
        expectProblems({ ...BASE, agentCount: 1.5 }, [
            ["agentCount", 1.5, "must be a whole number from 1 to 1000"],
        ]);
    });

    test("FastProd sizing uses the defaults when only one of agentCount/vmSize is given", () => {
        expectProblems({ ...BASE, agentCount: 2 }, [
            [
                "agentCount",
                2,
                `is below 3; FastProd needs at least 3 nodes (R10, current v1 "Deploy to AKS" document) so the router's replicas sit on different nodes. Use DevTest, add nodes, or set allowUndersizedCluster: true to deploy anyway`,
            ],
        ]);
        // The older vCPU figure is advice only (issue 11 item 6).
        const small = validateAksInferenceClusterArgs({ ...BASE, vmSize: "Standard_B2s" });
        assert.match(
            small.warnings.join("\n"),
            /gives 6 vCPUs in total; v1 recommended at least 12/,
        );
        assert.deepEqual(problems({ ...BASE, clusterPurpose: "DevTest", agentCount: 1 }), []);
    });

    test("allowUndersizedCluster: 2 x 8-vCPU nodes pass with a warning", () => {
        const args = { ...BASE, agentCount: 2, vmSize: "Standard_D8s_v3" };
        assert.equal(problems(args).length, 1);
        const r = validateAksInferenceClusterArgs({ ...args, allowUndersizedCluster: true });
        assert.equal(r.warnings.filter((w) => w.startsWith("allowUndersizedCluster:")).length, 1);
        expectProblems({ ...args, allowUndersizedCluster: "yes" } as never, [
            ["allowUndersizedCluster", "yes", "must be true or false"],
            [
                "agentCount",
                2,
                `is below 3; FastProd needs at least 3 nodes (R10, current v1 "Deploy to AKS" document) so the router's replicas sit on different nodes. Use DevTest, add nodes, or set allowUndersizedCluster: true to deploy anyway`,
            ],
        ]);
    });

    test("an FPGA SKU is accepted with a warning that FPGA services are not supported", () => {
        const r = validateAksInferenceClusterArgs({ ...BASE, vmSize: "Standard_NP10s" });
        assert.equal(r.fpga, true);
        assert.match(r.warnings.join("\n"), /FPGA model services are not supported/);
        const cpu = validateAksInferenceClusterArgs(BASE);
        assert.ok(!cpu.warnings.some((w) => w.includes("FPGA")));
    });

    test("an unknown SKU is accepted with a warning; vmCpuCount silences it", () => {
        const unknown = {
            ...BASE,
            clusterPurpose: "DevTest",
            vmSize: "Standard_Q2_v9",
            agentCount: 1,
        };
        assert.deepEqual(problems(unknown), []);
        assert.match(
            validateAksInferenceClusterArgs(unknown).warnings.join("\n"),
            /"Standard_Q2_v9" is not in the built-in SKU table/,
        );
        const known = validateAksInferenceClusterArgs({ ...unknown, vmCpuCount: 4 });
        assert.ok(!known.warnings.some((w) => w.includes("SKU table")));
    });

    test("sizing is skipped while a value is an unresolved Output, and in attach mode", () => {
        assert.deepEqual(problems({ ...BASE, agentCount: pulumi.output(1) }), []);
        assert.deepEqual(
            problems({ resourceId: AKS_ID, routerImage: IMAGE, vmSize: "Standard_B1s" }),
            [],
        );
    });
});

describe("validateAksInferenceClusterArgs: network (R11)", () => {
    test("Azure CNI needs subnet, service CIDR and DNS IP together", () => {
        const rule =
            'is required with networkPlugin "azure" in subnet mode (Azure CNI joins an existing subnet: give vnetSubnetId, serviceCidr and dnsServiceIp together, or set networkPluginMode "overlay")';
        expectProblems({ ...BASE, networkPlugin: "azure" }, [
            ["vnetSubnetId", undefined, rule],
            ["serviceCidr", undefined, rule],
            ["dnsServiceIp", undefined, rule],
        ]);
        assert.deepEqual(problems({ ...BASE, ...CNI }), []);
        expectProblems({ ...BASE, ...CNI, podCidr: "10.244.0.0/16" }, [
            [
                "podCidr",
                "10.244.0.0/16",
                'is only used with networkPlugin "kubenet" or networkPluginMode "overlay" (Azure CNI in subnet mode gives pods addresses from the subnet)',
            ],
        ]);
        expectProblems({ ...BASE, networkPlugin: "calico" }, [
            ["networkPlugin", "calico", 'must be one of "azure", "kubenet"'],
        ]);
    });

    test("always picks a NetworkPolicy engine; v1 plugin values keep working", () => {
        const net = (extra: Record<string, unknown>) =>
            validateAksInferenceClusterArgs({ ...BASE, ...extra } as never).network;
        assert.deepEqual(net({ networkPlugin: "kubenet" }), {
            networkPlugin: "kubenet",
            networkPluginMode: undefined,
            networkPolicy: "calico",
            networkDataplane: undefined,
            usesPodCidr: true,
            needsSubnet: false,
        });
        const v1Cni = net(CNI);
        assert.deepEqual([v1Cni.networkPluginMode, v1Cni.networkPolicy], ["subnet", "calico"]);
        assert.equal(net({ ...CNI, networkPolicy: "azure" }).networkPolicy, "azure");
        // Overlay needs no subnet and takes a pod range.
        assert.deepEqual(
            problems({
                ...BASE,
                networkPlugin: "azure",
                networkPluginMode: "overlay",
                podCidr: "192.168.0.0/16",
            }),
            [],
        );
        assert.equal(net({ networkPolicy: "calico" }).networkDataplane, undefined);
    });

    test("refuses engine combinations AKS does not support, and no engine at all", () => {
        expectProblems({ ...BASE, networkPlugin: "kubenet", networkPolicy: "cilium" }, [
            [
                "networkPolicy",
                "cilium",
                'must be "calico" with networkPlugin "kubenet" (the only engine AKS supports for kubenet)',
            ],
        ]);
        expectProblems({ ...BASE, ...CNI, networkPolicy: "cilium" }, [
            [
                "networkPolicy",
                "cilium",
                'needs networkPluginMode "overlay" (the Cilium dataplane does not take pod addresses from the node subnet); use "calico" or "azure" in subnet mode',
            ],
        ]);
        expectProblems({ ...BASE, networkPolicy: "azure" }, [
            [
                "networkPolicy",
                "azure",
                'needs networkPluginMode "subnet" (Azure Network Policy Manager does not support overlay); use "cilium" or "calico" with overlay',
            ],
        ]);
        expectProblems({ ...BASE, networkPolicy: "none" }, [
            ["networkPolicy", "none", 'must be one of "cilium", "calico", "azure"'],
        ]);
        expectProblems({ ...BASE, networkPlugin: "kubenet", networkPluginMode: "overlay" }, [
            ["networkPluginMode", "overlay", 'is only used with networkPlugin "azure"'],
        ]);
    });

    test("kubenet accepts a custom service range, as a pair", () => {
        assert.deepEqual(
            problems({ ...BASE, serviceCidr: "10.2.0.0/16", dnsServiceIp: "10.2.0.10" }),
            [],
        );
        expectProblems({ ...BASE, serviceCidr: "10.2.0.0/16" }, [
            [
                "dnsServiceIp",
                undefined,
                "is required when serviceCidr is set (give both or neither)",
            ],
        ]);
        expectProblems({ ...BASE, dnsServiceIp: "10.0.0.10" }, [
            [
                "serviceCidr",
                undefined,
                "is required when dnsServiceIp is set (give both or neither)",
            ],
        ]);
        expectProblems({ ...BASE, vnetSubnetAddressPrefix: "10.240.0.0/16" }, [
            ["vnetSubnetAddressPrefix", "10.240.0.0/16", "is only used with vnetSubnetId"],
        ]);
    });

    test("subnet ids and CIDR syntax", () => {
        expectProblems(
            {
                ...BASE,
                ...CNI,
                vnetSubnetId: "aks-subnet",
                serviceCidr: "10.0.0/16",
                dnsServiceIp: "10.0.0.x",
            },
            [
                [
                    "vnetSubnetId",
                    "aks-subnet",
                    "must be a subnet resource id: /subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>",
                ],
                ["serviceCidr", "10.0.0/16", "must be an IPv4 CIDR such as 10.0.0.0/16"],
                ["dnsServiceIp", "10.0.0.x", "must be an IPv4 address such as 10.0.0.10"],
            ],
        );
        expectProblems({ ...BASE, ...CNI, serviceCidr: "10.0.0.5/16" }, [
            ["serviceCidr", "10.0.0.5/16", "must be a network address: did you mean 10.0.0.0/16?"],
        ]);
    });

    test("service CIDR at most /12 and outside AKS' reserved ranges", () => {
        expectProblems({ ...BASE, ...CNI, serviceCidr: "10.0.0.0/8" }, [
            [
                "serviceCidr",
                "10.0.0.0/8",
                "is larger than /12; Kubernetes allows at most /12 for services",
            ],
        ]);
        expectProblems(
            { ...BASE, ...CNI, serviceCidr: "172.30.0.0/16", dnsServiceIp: "172.30.0.10" },
            [
                [
                    "serviceCidr",
                    "172.30.0.0/16",
                    "overlaps 172.30.0.0/16, which AKS reserves; choose another range",
                ],
            ],
        );
    });

    test("DNS service IP inside the service CIDR, not its network, first or broadcast address", () => {
        expectProblems({ ...BASE, ...CNI, dnsServiceIp: "10.1.0.10" }, [
            ["dnsServiceIp", "10.1.0.10", "must be inside serviceCidr 10.0.0.0/16"],
        ]);
        for (const ip of ["10.0.0.0", "10.0.0.1", "10.0.255.255"]) {
            expectProblems({ ...BASE, ...CNI, dnsServiceIp: ip }, [
                [
                    "dnsServiceIp",
                    ip,
                    "must not be the network address, the first address (used by the kubernetes service) or the broadcast address of serviceCidr 10.0.0.0/16",
                ],
            ]);
        }
    });

    test("service, pod, docker bridge and subnet ranges must not overlap (S9)", () => {
        expectProblems({ ...BASE, podCidr: "10.0.0.0/14" }, [
            [
                "podCidr",
                "10.0.0.0/14",
                "overlaps the default serviceCidr 10.0.0.0/16; pod and service ranges must be disjoint",
            ],
        ]);
        expectProblems({ ...BASE, serviceCidr: "10.244.0.0/16", dnsServiceIp: "10.244.0.10" }, [
            [
                "serviceCidr",
                "10.244.0.0/16",
                "overlaps the default podCidr 10.244.0.0/16; pod and service ranges must be disjoint",
            ],
        ]);
        expectProblems({ ...BASE, ...CNI, dockerBridgeCidr: "10.0.0.1/24" }, [
            [
                "dockerBridgeCidr",
                "10.0.0.1/24",
                "overlaps serviceCidr 10.0.0.0/16; the docker bridge must not be in the service range",
            ],
        ]);
        expectProblems({ ...BASE, podCidr: "172.16.0.0/14", dockerBridgeCidr: "172.17.0.1/16" }, [
            [
                "dockerBridgeCidr",
                "172.17.0.1/16",
                "overlaps podCidr 172.16.0.0/14; the docker bridge must not be in the pod range",
            ],
        ]);
        expectProblems(
            {
                ...BASE,
                ...CNI,
                vnetSubnetAddressPrefix: "10.0.0.0/8",
                dockerBridgeCidr: "10.200.0.1/16",
                serviceCidr: "10.0.0.0/16",
            },
            [
                [
                    "dockerBridgeCidr",
                    "10.200.0.1/16",
                    "overlaps the subnet 10.0.0.0/8 (vnetSubnetAddressPrefix); the docker bridge must not be in any subnet",
                ],
                [
                    "serviceCidr",
                    "10.0.0.0/16",
                    "overlaps the subnet 10.0.0.0/8 (vnetSubnetAddressPrefix); the service range must not overlap any subnet",
                ],
            ],
        );
        expectProblems(
            { ...BASE, vnetSubnetId: SUBNET_ID, vnetSubnetAddressPrefix: "10.0.0.0/12" },
            [
                [
                    "vnetSubnetAddressPrefix",
                    "10.0.0.0/12",
                    "overlaps the default serviceCidr 10.0.0.0/16; set serviceCidr and dnsServiceIp to a range outside the subnet",
                ],
            ],
        );
        expectProblems(
            { ...BASE, vnetSubnetId: SUBNET_ID, vnetSubnetAddressPrefix: "10.244.0.0/20" },
            [
                [
                    "vnetSubnetAddressPrefix",
                    "10.244.0.0/20",
                    "overlaps the default podCidr 10.244.0.0/16; set podCidr to a range outside the subnet",
                ],
            ],
        );
        expectProblems(
            {
                ...BASE,
                vnetSubnetId: SUBNET_ID,
                vnetSubnetAddressPrefix: "10.240.0.0/16",
                podCidr: "10.240.0.0/16",
            },
            [
                [
                    "podCidr",
                    "10.240.0.0/16",
                    "overlaps the subnet 10.240.0.0/16 (vnetSubnetAddressPrefix); the pod range must not overlap the subnet",
                ],
            ],
        );
        // The v1 example values are fine.
        assert.deepEqual(
            problems({
                ...BASE,
                ...CNI,
                dockerBridgeCidr: "172.17.0.1/16",
                vnetSubnetAddressPrefix: "10.240.0.0/16",
            }),
            [],
        );
    });

    test("unresolved network values are skipped", () => {
        assert.deepEqual(
            problems({
                ...BASE,
                ...CNI,
                serviceCidr: pulumi.output("x"),
                dnsServiceIp: pulumi.output("y"),
            }),
            [],
        );
    });
});

describe("validateAksInferenceClusterArgs: load balancer and TLS (R6)", () => {
    test("load balancer type and subnet", () => {
        expectProblems({ ...BASE, loadBalancerType: "Public" }, [
            ["loadBalancerType", "Public", 'must be one of "PublicIp", "InternalLoadBalancer"'],
        ]);
        expectProblems({ ...BASE, loadBalancerSubnet: "aks-subnet" }, [
            [
                "loadBalancerSubnet",
                "aks-subnet",
                'is only used with loadBalancerType "InternalLoadBalancer"',
            ],
        ]);
        expectProblems(
            { ...BASE, loadBalancerType: "InternalLoadBalancer", loadBalancerSubnet: "bad subnet" },
            [
                [
                    "loadBalancerSubnet",
                    "bad subnet",
                    "must be a subnet name (1-80 letters, digits, '_', '.', '-')",
                ],
            ],
        );
        assert.deepEqual(
            problems({
                ...BASE,
                loadBalancerType: "InternalLoadBalancer",
                loadBalancerSubnet: "aks-subnet",
            }),
            [],
        );
    });

    test("internal load balancer cannot use a leaf domain label", () => {
        expectProblems(
            { ...BASE, loadBalancerType: "InternalLoadBalancer", leafDomainLabel: "scoring" },
            [
                [
                    "leafDomainLabel",
                    "scoring",
                    'cannot be used with loadBalancerType "InternalLoadBalancer": an internal endpoint needs a custom certificate (sslCname, sslCertPem, sslKeyPem)',
                ],
            ],
        );
    });

    test("leaf domain label XOR custom certificate; the custom trio is all-or-nothing", () => {
        expectProblems(
            {
                ...BASE,
                leafDomainLabel: "scoring",
                sslCname: "a.example.com",
                sslCertPem: CERT,
                sslKeyPem: KEY,
            },
            [
                [
                    "leafDomainLabel",
                    "scoring",
                    "and the custom certificate (sslCname, sslCertPem, sslKeyPem) are mutually exclusive: use a leaf domain label or your own domain and certificate",
                ],
            ],
        );
        const rule =
            "is required when any of sslCname, sslCertPem, sslKeyPem is set (custom certificate: give all three)";
        expectProblems({ ...BASE, sslCertPem: CERT }, [
            ["sslCname", undefined, rule],
            ["sslKeyPem", undefined, rule],
        ]);
        assert.deepEqual(
            problems({ ...BASE, sslCname: "a.example.com", sslCertPem: CERT, sslKeyPem: KEY }),
            [],
        );
        assert.deepEqual(
            validateAksInferenceClusterArgs({
                ...BASE,
                sslCname: "a.example.com",
                sslCertPem: CERT,
                sslKeyPem: KEY,
            }).tls,
            { cname: "a.example.com", certPem: CERT, keyPem: KEY },
        );
    });

    test("overwriteExistingDomain only with a leaf label; formats of label and cname", () => {
        expectProblems({ ...BASE, overwriteExistingDomain: true }, [
            ["overwriteExistingDomain", true, "is only used with leafDomainLabel"],
        ]);
        expectProblems({ ...BASE, leafDomainLabel: "Scoring_1" }, [
            [
                "leafDomainLabel",
                "Scoring_1",
                "must be 3-63 characters of lowercase letters, digits and dashes, start with a letter and end with a letter or digit",
            ],
        ]);
        expectProblems({ ...BASE, sslCname: "https://x", sslCertPem: CERT, sslKeyPem: KEY }, [
            ["sslCname", "https://x", "must be a DNS name such as scoring.example.com"],
        ]);
    });

    test("certificate and key must be PEM and are never echoed", () => {
        const p = problems({
            ...BASE,
            sslCname: "a.example.com",
            sslCertPem: "secret-cert",
            sslKeyPem: "secret-key",
        });
        assert.deepEqual(p, [
            {
                field: "sslCertPem",
                value: "(redacted)",
                rule: "must be a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)",
            },
            {
                field: "sslKeyPem",
                value: "(redacted)",
                rule: "must be a PEM private key (-----BEGIN PRIVATE KEY----- ... -----END PRIVATE KEY-----)",
            },
        ]);
        assert.throws(
            () =>
                validateAksInferenceClusterArgs({
                    ...BASE,
                    sslCname: "a.example.com",
                    sslCertPem: "secret-cert",
                    sslKeyPem: "secret-key",
                }),
            (e: Error) => !e.message.includes("secret-cert") && !e.message.includes("secret-key"),
        );
        // RSA/EC key headers are PEM too.
        assert.deepEqual(
            problems({
                ...BASE,
                sslCname: "a.example.com",
                sslCertPem: CERT,
                sslKeyPem: KEY.replace(/PRIVATE KEY/g, "RSA PRIVATE KEY"),
            }),
            [],
        );
    });

    test("router Service type: allowed values, and LoadBalancer for ILB and leaf labels", () => {
        expectProblems({ ...BASE, routerServiceType: "Ingress" }, [
            [
                "routerServiceType",
                "Ingress",
                'must be one of "LoadBalancer", "NodePort", "ClusterIP"',
            ],
        ]);
        expectProblems({ ...BASE, routerServiceType: "NodePort", leafDomainLabel: "scoring" }, [
            [
                "routerServiceType",
                "NodePort",
                'must be "LoadBalancer" with loadBalancerType "InternalLoadBalancer" or leafDomainLabel',
            ],
        ]);
    });
});

describe("validateAksInferenceClusterArgs: router, workspace, security", () => {
    test("router namespace and watched namespaces are DNS labels", () => {
        const rule =
            "must be a Kubernetes namespace name (lowercase letters, digits and dashes, at most 63 characters)";
        expectProblems(
            { ...BASE, routerNamespace: "Azure_ML", routerWatchNamespaces: ["models", "Bad!"] },
            [
                ["routerNamespace", "Azure_ML", rule],
                ["routerWatchNamespaces[1]", "Bad!", rule],
            ],
        );
    });

    test("workspace attach: name and resource group together; compute name rules (§2.4)", () => {
        expectProblems({ ...BASE, workspaceName: "ws1" }, [
            [
                "workspaceResourceGroupName",
                undefined,
                "is required with workspaceName (the compute is attached to that workspace)",
            ],
        ]);
        expectProblems({ ...BASE, workspaceResourceGroupName: "rg" }, [
            [
                "workspaceName",
                undefined,
                "is required with workspaceResourceGroupName (the compute is attached to that workspace)",
            ],
        ]);
        expectProblems({ ...BASE, computeName: "aks-compute" }, [
            ["computeName", "aks-compute", "is only used with workspaceName"],
        ]);
        expectProblems(
            {
                ...BASE,
                workspaceName: "w",
                workspaceResourceGroupName: "rg",
                computeName: "1-compute-name-too-long-xx",
            },
            [
                [
                    "workspaceName",
                    "w",
                    "must be 3-33 characters of letters, digits, underscores and dashes, starting with a letter or digit",
                ],
                [
                    "computeName",
                    "1-compute-name-too-long-xx",
                    "must be 3-24 characters of letters, digits and dashes, start with a letter and end with a letter or digit",
                ],
            ],
        );
        // v1 programs still validate; they are told nothing is registered any more.
        assert.match(
            validateAksInferenceClusterArgs({
                ...BASE,
                workspaceName: "ws1",
                workspaceResourceGroupName: "rg",
            }).warnings.join("\n"),
            /no longer register the cluster as a v1 AKS compute/,
        );
    });

    test("registry and storage names/ids", () => {
        expectProblems(
            { ...BASE, containerRegistryId: "acr", acrName: "a-b", storageAccountName: "Storage" },
            [
                [
                    "containerRegistryId",
                    "acr",
                    "must be a container registry resource id: /subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/<name>",
                ],
                [
                    "acrName",
                    "a-b",
                    "must be 5-50 letters and digits (a globally unique container registry name, without .azurecr.io)",
                ],
                [
                    "storageAccountName",
                    "Storage",
                    "must be 3-24 lowercase letters and digits (a globally unique storage account name)",
                ],
            ],
        );
    });

    test("security settings", () => {
        expectProblems(
            {
                ...BASE,
                kubeloginMode: "password",
                logAnalyticsWorkspaceId: "law",
                adminGroupObjectIds: ["admins"],
                defenderEnabled: "yes",
            },
            [
                ["defenderEnabled", "yes", "must be true or false"],
                [
                    "kubeloginMode",
                    "password",
                    'must be one of "azurecli", "devicecode", "spn", "msi", "workloadidentity", "azd"',
                ],
                [
                    "logAnalyticsWorkspaceId",
                    "law",
                    "must be a Log Analytics workspace resource id: /subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>",
                ],
                ["adminGroupObjectIds[0]", "admins", "must be an Entra ID group object id (GUID)"],
            ],
        );
        expectProblems({ ...BASE, disableLocalAccounts: false, kubeloginMode: "msi" }, [
            [
                "kubeloginMode",
                "msi",
                "is only used with disableLocalAccounts true (with local accounts the admin kubeconfig is used)",
            ],
        ]);
    });

    test("GPU plugin settings", () => {
        expectProblems(
            {
                ...BASE,
                installNvidiaDevicePlugin: "true",
                nvidiaDevicePluginImage: "nvcr.io/NVIDIA/plugin",
            },
            [
                ["installNvidiaDevicePlugin", "true", "must be true or false"],
                [
                    "nvidiaDevicePluginImage",
                    "nvcr.io/NVIDIA/plugin",
                    "must be a Docker image reference ([registry/]path[:tag][@digest], lowercase path), e.g. nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
                ],
            ],
        );
    });

    test("reports ALL problems at once in one readable message", () => {
        let err: unknown;
        try {
            validateAksInferenceClusterArgs({
                routerImage: IMAGE,
                agentCount: 0,
                networkPlugin: "azure",
                loadBalancerSubnet: "x",
                sslCname: "a.example.com",
            } as AksInferenceClusterArgs);
        } catch (e) {
            err = e;
        }
        assert.ok(err instanceof ValidationError);
        assert.equal(err.problems.length, 9);
        assert.equal(
            err.message,
            [
                "Invalid AksInferenceCluster args:",
                "  - location: (unset) is required when creating a cluster",
                "  - resourceGroupName: (unset) is required when creating a cluster",
                "  - agentCount: 0 must be a whole number from 1 to 1000",
                '  - vnetSubnetId: (unset) is required with networkPlugin "azure" in subnet mode (Azure CNI joins an existing subnet: give vnetSubnetId, serviceCidr and dnsServiceIp together, or set networkPluginMode "overlay")',
                '  - serviceCidr: (unset) is required with networkPlugin "azure" in subnet mode (Azure CNI joins an existing subnet: give vnetSubnetId, serviceCidr and dnsServiceIp together, or set networkPluginMode "overlay")',
                '  - dnsServiceIp: (unset) is required with networkPlugin "azure" in subnet mode (Azure CNI joins an existing subnet: give vnetSubnetId, serviceCidr and dnsServiceIp together, or set networkPluginMode "overlay")',
                '  - loadBalancerSubnet: "x" is only used with loadBalancerType "InternalLoadBalancer"',
                "  - sslCertPem: (unset) is required when any of sslCname, sslCertPem, sslKeyPem is set (custom certificate: give all three)",
                "  - sslKeyPem: (unset) is required when any of sslCname, sslCertPem, sslKeyPem is set (custom certificate: give all three)",
            ].join("\n"),
        );
    });
});
