/** cni-egress-allows-required-hosts (R11, R23): Azure CNI clusters behind a firewall or UDRs. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cniEgressAllowsRequiredHosts as policy } from "../../policy/cni-egress-allows-required-hosts";
import { covers } from "../../policy/lib/firewall";
import { type FakeResource, messages, runStackPolicy, UNKNOWN } from "./harness";
import { managedCluster, SUB } from "./resources";

/** Every R23 host of the cluster below (API server before its FQDN is known). */
const HOSTS = [
    "*.hcp.westeurope.azmk8s.io",
    "mcr.microsoft.com",
    "myacr.azurecr.io",
    "mystore.table.core.windows.net",
    "mystore.blob.core.windows.net",
    "api.azureml.ms",
    "ingest-viennawesteurope.kusto.windows.net",
];

function ruleGroup(targets: readonly string[], extra: Record<string, unknown> = {}): FakeResource {
    return {
        type: "azure-native:network:FirewallPolicyRuleCollectionGroup",
        name: "egress-rules",
        props: {
            name: "aks-egress",
            firewallPolicyName: "fw-policy",
            priority: 200,
            ruleCollections: [
                {
                    ruleCollectionType: "FirewallPolicyFilterRuleCollection",
                    name: "aks",
                    priority: 100,
                    action: { type: "Allow" },
                    rules: [
                        {
                            ruleType: "ApplicationRule",
                            name: "required",
                            sourceAddresses: ["10.1.0.0/16"],
                            protocols: [{ protocolType: "Https", port: 443 }],
                            targetFqdns: [...targets],
                            ...extra,
                        },
                    ],
                },
            ],
        },
    };
}

/** A workspace with its registry and storage, a VNet, a UDR to the firewall, and the cluster. */
function stack(targets: readonly string[] = HOSTS, cluster = managedCluster()): FakeResource[] {
    return [
        {
            type: "azure-native:containerregistry:Registry",
            name: "acr",
            props: { registryName: "myacr", resourceGroupName: "rg" },
        },
        {
            type: "azure-native:storage:StorageAccount",
            name: "sa",
            props: { accountName: "mystore", resourceGroupName: "rg" },
        },
        {
            type: "azure-native:machinelearningservices:Workspace",
            name: "ws",
            props: {
                workspaceName: "ws",
                location: "westeurope",
                containerRegistry: `${SUB}/Microsoft.ContainerRegistry/registries/myacr`,
                storageAccount: `${SUB}/Microsoft.Storage/storageAccounts/mystore`,
            },
            propertyDependencies: { containerRegistry: ["acr"], storageAccount: ["sa"] },
        },
        {
            type: "azure-native:network:VirtualNetwork",
            name: "vnet",
            props: {
                virtualNetworkName: "vnet",
                addressSpace: { addressPrefixes: ["10.1.0.0/16"] },
            },
        },
        {
            type: "azure-native:network:RouteTable",
            name: "rt",
            props: {
                routeTableName: "rt-aks",
                routes: [
                    {
                        name: "default",
                        addressPrefix: "0.0.0.0/0",
                        nextHopType: "VirtualAppliance",
                        nextHopIpAddress: "10.0.1.4",
                    },
                ],
            },
        },
        {
            type: "azure-native:network:Subnet",
            name: "subnet",
            props: {
                subnetName: "aks",
                virtualNetworkName: "vnet",
                addressPrefix: "10.1.0.0/20",
                routeTable: { id: `${SUB}/Microsoft.Network/routeTables/rt-aks` },
            },
            propertyDependencies: { routeTable: ["rt"], virtualNetworkName: ["vnet"] },
        },
        ruleGroup(targets),
        cluster,
    ];
}

const HOW = `route table "rt-aks" on subnet "aks" (0.0.0.0/0 to a virtual appliance (10.0.1.4))`;
const missing = (host: string, usedBy: string, also = "") =>
    `AKS cluster "aks" uses Azure CNI with egress through ${HOW}, but no Azure Firewall rule in this stack allows ${host} (needed by: ${usedBy}). Allow it over HTTPS${also} (R11, R23).`;

describe("cni-egress-allows-required-hosts", () => {
    test("is mandatory by default (R11: the user must allow the hosts)", () => {
        assert.equal(policy.enforcementLevel, "mandatory");
    });

    test("a firewall that allows every R23 host passes", async () => {
        assert.deepEqual((await runStackPolicy(policy, stack())).violations, []);
    });

    test("a firewall that misses mcr.microsoft.com is reported by name with who needs it", async () => {
        const run = await runStackPolicy(
            policy,
            stack(HOSTS.filter((h) => h !== "mcr.microsoft.com")),
        );
        assert.deepEqual(run.violations, [
            {
                message: missing(
                    "mcr.microsoft.com",
                    "Microsoft Container Registry",
                    " (and *.data.mcr.microsoft.com, where its layers download)",
                ),
                urn: "urn:pulumi:test::amlaks::azure-native:containerservice:ManagedCluster::aks",
            },
        ]);
    });

    test("each missing host is its own violation", async () => {
        const run = await runStackPolicy(policy, stack(["mcr.microsoft.com", "api.azureml.ms"]));
        assert.deepEqual(messages(run), [
            missing("*.hcp.westeurope.azmk8s.io", "AKS API server"),
            missing("myacr.azurecr.io", "workspace container registry (model images)"),
            missing("mystore.table.core.windows.net", "storage account (table)"),
            missing(
                "mystore.blob.core.windows.net",
                "storage account (blob: configuration, models)",
            ),
            missing("ingest-viennawesteurope.kusto.windows.net", "telemetry upload (Kusto)"),
        ]);
    });

    test("wildcards and the AzureKubernetesService FQDN tag are understood", async () => {
        const rules = ruleGroup(
            ["*.azurecr.io", "*.core.windows.net", "api.azureml.ms", "*.kusto.windows.net"],
            {
                fqdnTags: ["AzureKubernetesService"],
            },
        );
        const s = stack().map((r) => (r.name === "egress-rules" ? rules : r));
        assert.deepEqual((await runStackPolicy(policy, s)).violations, []);
    });

    test("Premium rules by URL (targetUrls) count by their host", async () => {
        const urls = ruleGroup([], {
            targetUrls: HOSTS.map((h) => `${h.replace("*.", "x.")}/v2/*`),
            fqdnTags: ["AzureKubernetesService"],
        });
        const s = stack().map((r) => (r.name === "egress-rules" ? urls : r));
        assert.deepEqual((await runStackPolicy(policy, s)).violations, []);
    });

    test("covers(): Azure Firewall wildcard semantics", () => {
        assert.equal(covers("*", "anything.example"), true);
        assert.equal(covers("*.core.windows.net", "a.blob.core.windows.net"), true);
        assert.equal(covers("*.core.windows.net", "core.windows.net"), false);
        assert.equal(covers("*mcr.microsoft.com", "mcr.microsoft.com"), true);
        assert.equal(covers("MCR.microsoft.com", "mcr.microsoft.com"), true);
        assert.equal(covers("mcr.microsoft.com", "*.data.mcr.microsoft.com"), false);
        assert.equal(covers("*.mcr.microsoft.com", "*.data.mcr.microsoft.com"), true);
        assert.equal(covers("*.westeurope.azmk8s.io", "*.hcp.westeurope.azmk8s.io"), true);
        assert.equal(covers("*.northeurope.azmk8s.io", "*.hcp.westeurope.azmk8s.io"), false);
    });

    test("Deny collections and HTTP-only rules do not allow a host", async () => {
        const deny = ruleGroup(HOSTS);
        (deny.props.ruleCollections as { action: { type: string } }[])[0]!.action.type = "Deny";
        const s1 = stack().map((r) => (r.name === "egress-rules" ? deny : r));
        assert.equal((await runStackPolicy(policy, s1)).violations.length, HOSTS.length);

        const http = ruleGroup(HOSTS, { protocols: [{ protocolType: "Http", port: 80 }] });
        const s2 = stack().map((r) => (r.name === "egress-rules" ? http : r));
        assert.equal((await runStackPolicy(policy, s2)).violations.length, HOSTS.length);
    });

    test("classic Azure Firewall rules and network rules with service tags count", async () => {
        const classic: FakeResource = {
            type: "azure-native:network:AzureFirewall",
            name: "fw",
            props: {
                azureFirewallName: "fw",
                applicationRuleCollections: [
                    {
                        name: "aks",
                        priority: 100,
                        action: { type: "Allow" },
                        rules: [
                            {
                                name: "mcr",
                                protocols: [{ protocolType: "Https", port: 443 }],
                                targetFqdns: ["mcr.microsoft.com", "*.azmk8s.io"],
                            },
                        ],
                    },
                ],
                networkRuleCollections: [
                    {
                        name: "tags",
                        priority: 200,
                        action: { type: "Allow" },
                        rules: [
                            {
                                name: "azure",
                                destinationAddresses: [
                                    "AzureContainerRegistry.WestEurope",
                                    "Storage",
                                    "AzureMachineLearning",
                                ],
                                destinationPorts: ["443"],
                                protocols: ["TCP"],
                            },
                            {
                                name: "kusto",
                                destinationFqdns: ["ingest-viennawesteurope.kusto.windows.net"],
                                destinationPorts: ["443"],
                            },
                        ],
                    },
                ],
            },
        };
        const s = stack().map((r) => (r.name === "egress-rules" ? classic : r));
        assert.deepEqual((await runStackPolicy(policy, s)).violations, []);
    });

    test("kubenet clusters and clusters with open egress are not checked", async () => {
        const kubenet = managedCluster({
            networkProfile: { networkPlugin: "kubenet", outboundType: "userDefinedRouting" },
        });
        assert.deepEqual((await runStackPolicy(policy, stack([], kubenet))).violations, []);
        const open = stack([]).filter((r) => r.name !== "rt" && r.name !== "subnet");
        assert.deepEqual((await runStackPolicy(policy, open)).violations, []);
    });

    test("outboundType userDefinedRouting restricts egress even with no route table in the stack", async () => {
        const udr = managedCluster({
            networkProfile: {
                networkPlugin: "azure",
                networkPolicy: "azure",
                outboundType: "userDefinedRouting",
            },
        });
        const s = stack(
            HOSTS.filter((h) => h !== "api.azureml.ms"),
            udr,
        ).filter((r) => r.name !== "rt" && r.name !== "subnet");
        assert.deepEqual(messages(await runStackPolicy(policy, s)), [
            `AKS cluster "aks" uses Azure CNI with egress through user-defined routes (outboundType userDefinedRouting), but no Azure Firewall rule in this stack allows api.azureml.ms (needed by: Microsoft Entra authentication (Azure ML)). Allow it over HTTPS (R11, R23).`,
        ]);
    });

    test("a firewall kept in another stack: every host is reported unless firewallManagedElsewhere", async () => {
        const s = stack().filter((r) => r.name !== "egress-rules");
        assert.equal((await runStackPolicy(policy, s)).violations.length, HOSTS.length);
        const run = await runStackPolicy(policy, s, {
            "cni-egress-allows-required-hosts": { firewallManagedElsewhere: true },
        });
        assert.deepEqual(run.violations, []);
        assert.equal(
            run.notApplicable,
            `AKS cluster "aks": its firewall is managed in another stack (firewallManagedElsewhere)`,
        );
    });

    test("extraRequiredHosts (R25) are required too", async () => {
        const run = await runStackPolicy(policy, stack(), {
            "cni-egress-allows-required-hosts": {
                extraRequiredHosts: [
                    "db.example.org",
                    { host: "features.example.org", usedBy: "feature store" },
                ],
            },
        });
        assert.deepEqual(messages(run), [
            missing("db.example.org", "policy config (R25)"),
            missing("features.example.org", "feature store"),
        ]);
    });

    test("token auth services add Microsoft Entra sign-in; a known API server FQDN is required as is", async () => {
        const cluster = managedCluster({ fqdn: "aks-1234abcd.hcp.westeurope.azmk8s.io" });
        const provider: FakeResource = {
            type: "pulumi:providers:kubernetes",
            name: "k8s",
            props: {},
            dependsOn: ["aks"],
        };
        const dep: FakeResource = {
            type: "kubernetes:apps/v1:Deployment",
            name: "svc",
            provider: "k8s",
            props: {
                metadata: {
                    name: "svc",
                    namespace: "azureml-services",
                    labels: { "amlaks.io/model-deployment": "true" },
                    annotations: {
                        "amlaks.io/settings": JSON.stringify({
                            name: "svc",
                            tokenAuthEnabled: true,
                        }),
                    },
                },
            },
        };
        const targets = HOSTS.filter((h) => !h.startsWith("*.hcp"));
        const run = await runStackPolicy(policy, [...stack(targets, cluster), provider, dep]);
        assert.deepEqual(messages(run), [
            missing("aks-1234abcd.hcp.westeurope.azmk8s.io", "AKS API server"),
            missing(
                "login.microsoftonline.com",
                "router token auth (Microsoft Entra OIDC discovery and keys)",
            ),
        ]);
    });

    test("preview: the subnet and route table are found through dependencies when ids are unknown", async () => {
        const cluster = managedCluster();
        (cluster.props.agentPoolProfiles as Record<string, unknown>[])[0]!.vnetSubnetID = UNKNOWN;
        const s = stack(
            HOSTS.filter((h) => h !== "mcr.microsoft.com"),
            {
                ...cluster,
                propertyDependencies: { agentPoolProfiles: ["subnet"] },
            },
        ).map((r) =>
            r.name === "subnet" ? { ...r, props: { ...r.props, routeTable: { id: UNKNOWN } } } : r,
        );
        assert.equal(
            messages(await runStackPolicy(policy, s))[0],
            missing(
                "mcr.microsoft.com",
                "Microsoft Container Registry",
                " (and *.data.mcr.microsoft.com, where its layers download)",
            ),
        );
    });

    test("preview: rule targets unknown during preview make the host skipped, never failed", async () => {
        const s = stack([...HOSTS.filter((h) => h !== "myacr.azurecr.io"), UNKNOWN]);
        const run = await runStackPolicy(policy, s);
        assert.deepEqual(run.violations, []);
        assert.match(
            run.notApplicable ?? "",
            /cannot tell whether myacr\.azurecr\.io is allowed: rules are unknown during preview/,
        );
    });

    test("preview: an unknown network plugin is skipped with a reason", async () => {
        const run = await runStackPolicy(
            policy,
            stack([], managedCluster({ networkProfile: { networkPlugin: UNKNOWN } })),
        );
        assert.deepEqual(run.violations, []);
        assert.equal(
            run.notApplicable,
            `AKS cluster "aks": networkPlugin is unknown during preview`,
        );
    });

    test("a cluster tag waives it (reason required)", async () => {
        const cluster = managedCluster({
            tags: { "amlaks-waiver-cni-egress-allows-required-hosts": "hub firewall, see NET-7" },
        });
        assert.deepEqual((await runStackPolicy(policy, stack([], cluster))).violations, []);
    });
});
