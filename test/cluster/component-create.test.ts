/**
 * AksInferenceCluster, create mode, under Pulumi mocks: the AKS cluster and its secure defaults,
 * the router objects on the cluster's provider, the workspace compute, and the outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
    CLUSTER_OID,
    isSecretInput,
    KUBELET_OID,
    one,
    Recorded,
    reveal,
    settle,
    setupMocks,
    SUBSCRIPTION,
    unwrap,
} from "./mocks";
import { validateK8sObject } from "./k8s-validate";
import { AksInferenceCluster } from "../../components/cluster";
import { ROUTER_RBAC, copyRules } from "../../components/cluster/router-rbac";

const mocks = setupMocks();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const SUBNET_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/aks`;
const ACR_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-ml/providers/Microsoft.ContainerRegistry/registries/acrml0001`;
const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

describe("AksInferenceCluster (create, FastProd, Azure CNI, custom TLS, workspace attach)", () => {
    let c: InstanceType<typeof AksInferenceCluster>;
    let mine: Recorded[];

    before(async () => {
        c = new AksInferenceCluster("prod", {
            location: "westeurope",
            resourceGroupName: "rg-ml",
            routerImage: "acrml0001.azurecr.io/amlaks-router:0.1.0",
            networkPlugin: "azure",
            vnetSubnetId: SUBNET_ID,
            serviceCidr: "10.2.0.0/16",
            dnsServiceIp: "10.2.0.10",
            sslCname: "scoring.contoso.com",
            sslCertPem: CERT,
            sslKeyPem: KEY,
            workspaceName: "ws-ml",
            workspaceResourceGroupName: "rg-ml",
            acrName: "acrml0001",
            storageAccountName: "stml0001",
            containerRegistryId: ACR_ID,
            tags: { env: "test" },
        });
        await unwrap(c.requiredHosts);
        await settle(mocks.resources);
        mine = mocks.resources;
    });

    test("registers the expected children, named from the component name", () => {
        const names = mine.map((r) => `${r.type} ${r.name}`).sort();
        assert.deepEqual(names, [
            "amlaks:index:AksInferenceCluster prod",
            "azure-native:authorization:RoleAssignment prod-acr-pull",
            "azure-native:authorization:RoleAssignment prod-deployer-admin",
            "azure-native:authorization:RoleAssignment prod-subnet-network",
            "azure-native:containerservice:ManagedCluster prod-aks",
            "azure-native:monitor:DataCollectionRule prod-insights-dcr",
            "azure-native:monitor:DataCollectionRuleAssociation prod-insights-dcra",
            "azure-native:operationalinsights:Workspace prod-logs",
            "kubernetes:apps/v1:Deployment prod-router",
            "kubernetes:autoscaling/v2:HorizontalPodAutoscaler prod-router-hpa",
            "kubernetes:core/v1:Namespace prod-router-ns",
            "kubernetes:core/v1:Namespace prod-services-ns-azureml-services",
            "kubernetes:core/v1:Secret prod-router-tls",
            "kubernetes:core/v1:Service prod-router-svc",
            "kubernetes:core/v1:ServiceAccount prod-router-sa",
            "kubernetes:policy/v1:PodDisruptionBudget prod-router-pdb",
            "kubernetes:rbac.authorization.k8s.io/v1:Role prod-router-role",
            "kubernetes:rbac.authorization.k8s.io/v1:Role prod-router-role-azureml-services",
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding prod-router-rolebinding",
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding prod-router-rolebinding-azureml-services",
            "pulumi:providers:kubernetes prod-k8s",
        ]);
    });

    test("AKS: Entra ID + Azure RBAC, local accounts off, managed identity, stable auto-upgrade", () => {
        const aks = one(mine, "azure-native:containerservice:ManagedCluster").inputs;
        assert.equal(aks.resourceName, "prod");
        assert.equal(aks.dnsPrefix, "prod");
        assert.equal(aks.location, "westeurope");
        assert.deepEqual(aks.identity, { type: "SystemAssigned" });
        assert.equal(aks.enableRBAC, true);
        assert.deepEqual(aks.aadProfile, { managed: true, enableAzureRBAC: true });
        assert.equal(aks.disableLocalAccounts, true);
        assert.deepEqual(aks.autoUpgradeProfile, {
            upgradeChannel: "stable",
            nodeOSUpgradeChannel: "NodeImage",
        });
        assert.deepEqual(aks.sku, { name: "Base", tier: "Standard" });
        assert.deepEqual(aks.tags, { env: "test" });
    });

    test("AKS: v1 default node pool (3 x Standard_D3_v2) in the given subnet", () => {
        const aks = one(mine, "azure-native:containerservice:ManagedCluster").inputs;
        assert.deepEqual(aks.agentPoolProfiles, [
            {
                name: "system",
                mode: "System",
                type: "VirtualMachineScaleSets",
                osType: "Linux",
                count: 3,
                vmSize: "Standard_D3_v2",
                vnetSubnetID: SUBNET_ID,
            },
        ]);
    });

    test("AKS: Azure CNI network profile (R11)", () => {
        const aks = one(mine, "azure-native:containerservice:ManagedCluster").inputs;
        // azure-native adds its schema default podCidr (10.244.0.0/16) to every network
        // profile; AKS uses it only for kubenet/overlay.
        const { podCidr, ...profile } = aks.networkProfile;
        assert.deepEqual(profile, {
            networkPlugin: "azure",
            // v1 Azure CNI (pods in the subnet) with an enforcing policy engine.
            networkPolicy: "calico",
            serviceCidr: "10.2.0.0/16",
            dnsServiceIP: "10.2.0.10",
            loadBalancerSku: "standard",
            outboundType: "loadBalancer",
        });
        assert.equal(podCidr, "10.244.0.0/16");
    });

    test("AKS: Defender for Containers (R39) and Container Insights (R22) on a new Log Analytics workspace", async () => {
        const aks = one(mine, "azure-native:containerservice:ManagedCluster").inputs;
        const law = one(mine, "azure-native:operationalinsights:Workspace");
        assert.equal(law.inputs.sku.name, "PerGB2018");
        const lawId = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-ml/providers/Microsoft.OperationalInsights/workspaces/prod-logs`;
        assert.deepEqual(aks.securityProfile, {
            defender: {
                logAnalyticsWorkspaceResourceId: lawId,
                securityMonitoring: { enabled: true },
            },
        });
        assert.deepEqual(aks.addonProfiles, {
            omsagent: {
                enabled: true,
                config: { logAnalyticsWorkspaceResourceID: lawId, useAADAuth: "true" },
            },
            azurepolicy: { enabled: true },
        });
    });

    test("role assignments: deployer gets AKS RBAC Cluster Admin; kubelet gets AcrPull on the workspace ACR", () => {
        const admin = one(
            mine,
            "azure-native:authorization:RoleAssignment",
            "prod-deployer-admin",
        ).inputs;
        assert.equal(admin.principalId, "00000000-0000-0000-0000-0000000000bb");
        assert.equal(
            admin.roleDefinitionId,
            `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b`,
        );
        assert.match(admin.scope, /managedClusters\/prod$/);
        const pull = one(mine, "azure-native:authorization:RoleAssignment", "prod-acr-pull").inputs;
        assert.equal(pull.principalId, KUBELET_OID);
        assert.equal(pull.principalType, "ServicePrincipal");
        assert.equal(pull.scope, ACR_ID);
        assert.match(pull.roleDefinitionId, /7f951dda-4ed3-4680-a7ca-43fe172d538d$/);
    });

    test("cluster identity gets Network Contributor on its subnet (S9)", () => {
        const net = one(
            mine,
            "azure-native:authorization:RoleAssignment",
            "prod-subnet-network",
        ).inputs;
        assert.equal(net.principalId, CLUSTER_OID);
        assert.equal(net.scope, SUBNET_ID);
        assert.equal(
            net.roleDefinitionId,
            `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7`,
        );
    });

    test("Container Insights with Entra auth: a data collection rule to the workspace, associated with the cluster (R22)", async () => {
        const aks = one(mine, "azure-native:containerservice:ManagedCluster");
        const lawId = aks.inputs.addonProfiles.omsagent.config.logAnalyticsWorkspaceResourceID;
        assert.equal(aks.inputs.addonProfiles.omsagent.config.useAADAuth, "true");
        const dcr = one(mine, "azure-native:monitor:DataCollectionRule").inputs;
        assert.equal(dcr.location, "westeurope");
        assert.equal(dcr.dataCollectionRuleName, "MSCI-westeurope-prod");
        const ext = dcr.dataSources.extensions[0];
        assert.equal(ext.extensionName, "ContainerInsights");
        assert.deepEqual(ext.streams, ["Microsoft-ContainerInsights-Group-Default"]);
        const dest = dcr.destinations.logAnalytics[0];
        assert.equal(dest.workspaceResourceId, lawId);
        assert.deepEqual(dcr.dataFlows, [
            { streams: ["Microsoft-ContainerInsights-Group-Default"], destinations: [dest.name] },
        ]);
        const dcra = one(mine, "azure-native:monitor:DataCollectionRuleAssociation").inputs;
        assert.equal(dcra.associationName, "ContainerInsightsExtension");
        assert.match(dcra.resourceUri, /Microsoft.ContainerService\/managedClusters\/prod$/);
        assert.equal(dcra.dataCollectionRuleId, "prod-insights-dcr-id", "the rule created above");
    });

    test("registers no v1 AKS compute in the workspace, even with workspaceName (retired API)", () => {
        assert.equal(
            mine.filter((r) => r.type.startsWith("azure-native:machinelearningservices:")).length,
            0,
        );
    });

    test("every Kubernetes child uses the cluster's provider and is a valid object", () => {
        const provider = one(mine, "pulumi:providers:kubernetes");
        for (const r of mine.filter((x) => x.type.startsWith("kubernetes:"))) {
            assert.match(r.provider ?? "", /pulumi:providers:kubernetes::prod-k8s::/, r.name);
            const [group, kind] = r.type.replace("kubernetes:", "").split(":");
            validateK8sObject({
                ...reveal(r.inputs),
                apiVersion: group.replace(/^core\//, ""),
                kind,
            });
        }
        assert.ok(provider);
    });

    test("kubernetes provider: clusterIdentifier is the cluster resource id; kubeconfig uses kubelogin (azurecli)", async () => {
        const p = one(mine, "pulumi:providers:kubernetes").inputs;
        const clusterId = await unwrap(c.clusterId);
        assert.equal(p.clusterIdentifier, clusterId);
        assert.match(clusterId, /\/managedClusters\/prod$/);
        // Key rotation updates Secrets in place instead of delete-then-create (R36).
        assert.equal(String(p.enableSecretMutable), "true");
        assert.ok(isSecretInput(p.kubeconfig), "kubeconfig is a secret provider input");
        const kubeconfig = reveal<string>(p.kubeconfig);
        assert.match(kubeconfig, /command: kubelogin/);
        assert.match(kubeconfig, /- --login\n\s+- azurecli/);
        assert.doesNotMatch(kubeconfig, /devicecode/);
        const call = mocks.calls.find(
            (x) => x.token === "azure-native:containerservice:listManagedClusterUserCredentials",
        );
        assert.deepEqual(call?.inputs, {
            resourceGroupName: "rg-ml",
            resourceName: "prod",
            format: "exec",
        });
        assert.equal(await pulumi.isSecret(c.kubeconfig), true);
    });

    test("router RBAC equals the shared constant: namespaced Roles only (R21)", () => {
        assert.ok(!mine.some((r) => r.type.includes(":ClusterRole")));
        const roles = mine.filter((r) => r.type === "kubernetes:rbac.authorization.k8s.io/v1:Role");
        const byNs = Object.fromEntries(
            roles.map((r) => [r.inputs.metadata.namespace, r.inputs.rules]),
        );
        assert.deepEqual(byNs, {
            azureml: copyRules(ROUTER_RBAC.routerNamespaceRules),
            "azureml-services": copyRules(ROUTER_RBAC.serviceNamespaceRules),
        });
    });

    test("TLS Secret carries the PEMs as Pulumi secrets; the Deployment mounts it and serves 8443", async () => {
        const secret = one(mine, "kubernetes:core/v1:Secret").inputs;
        assert.ok(isSecretInput(secret.stringData), "stringData is sent as a secret");
        assert.deepEqual(reveal(secret.stringData), { "tls.crt": CERT, "tls.key": KEY });
        assert.equal(secret.type, "kubernetes.io/tls");
        const dep = one(mine, "kubernetes:apps/v1:Deployment").inputs;
        const envNames = dep.spec.template.spec.containers[0].env.map((e: Any) => e.name);
        assert.ok(envNames.includes("ROUTER_HTTPS_PORT"));
        assert.match(
            dep.spec.template.metadata.annotations["amlaks.io/tls-checksum"],
            /^[0-9a-f]{64}$/,
        );
        const svc = one(mine, "kubernetes:core/v1:Service").inputs;
        assert.deepEqual(
            svc.spec.ports.map((p: Any) => p.port),
            [80, 443],
        );
    });

    test("router HPA max is bounded by the node count (3 nodes -> 3)", () => {
        const hpa = one(mine, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs;
        assert.equal(hpa.spec.minReplicas, 3);
        assert.equal(hpa.spec.maxReplicas, 3);
    });

    test("outputs", async () => {
        assert.equal(await unwrap(c.clusterName), "prod");
        assert.equal(await unwrap(c.clusterPurpose), "FastProd");
        assert.equal(await unwrap(c.location), "westeurope");
        assert.equal(await unwrap(c.gpuEnabled), false);
        assert.equal(await unwrap(c.fpgaEnabled), false);
        assert.equal(await unwrap(c.routerNamespace), "azureml");
        assert.equal(await unwrap(c.scoringBaseUrl), "https://scoring.contoso.com");
        const hosts = await unwrap(c.requiredHosts);
        assert.deepEqual(
            hosts.map((h) => h.host),
            [
                "prod-abcd1234.hcp.westeurope.azmk8s.io",
                "mcr.microsoft.com",
                "*.data.mcr.microsoft.com",
                "acrml0001.azurecr.io",
                "stml0001.table.core.windows.net",
                "stml0001.blob.core.windows.net",
                "api.azureml.ms",
                "ingest-viennawesteurope.kusto.windows.net",
                "login.microsoftonline.com",
            ],
        );
    });
});
