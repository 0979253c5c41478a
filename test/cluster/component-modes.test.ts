/**
 * AksInferenceCluster variants under Pulumi mocks: DevTest + GPU + internal LB, leaf domain
 * label, attach mode and kubeconfig mode (each with its own component name in one process).
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
    certKubeconfig,
    EXISTING_CLUSTER,
    isSecretInput,
    KUBELET_OID,
    LB_IP,
    one,
    Recorded,
    reveal,
    settle,
    setupMocks,
    SUBSCRIPTION,
    UAI_OID,
    unwrap,
} from "./mocks";
import { validateK8sObject } from "./k8s-validate";
import { AksInferenceCluster } from "../../components/cluster";

const mocks = setupMocks();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
type Cluster = InstanceType<typeof AksInferenceCluster>;

const IMAGE = "acrml0001.azurecr.io/amlaks-router:0.1.0";
const AKS_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${EXISTING_CLUSTER.rg}/providers/Microsoft.ContainerService/managedClusters/${EXISTING_CLUSTER.name}`;
const LAW_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/mon/providers/Microsoft.OperationalInsights/workspaces/central`;

/** Resources registered for one component (its children are named `${name}-...`). */
function of(name: string): Recorded[] {
    return mocks.resources.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
}
function types(name: string): string[] {
    return of(name)
        .map((r) => r.type)
        .sort();
}

let devtest: Cluster;
let leaf: Cluster;
let attached: Cluster;
let local: Cluster;
let sharedLogs: Cluster;
let ilb: Cluster;
let kubenetByo: Cluster;
const ILB_VNET = `/subscriptions/${SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet`;
const ILB_NODE_SUBNET = `${ILB_VNET}/subnets/nodes`;

before(async () => {
    devtest = new AksInferenceCluster("dev", {
        location: "eastus",
        resourceGroupName: "rg-dev",
        clusterPurpose: "DevTest",
        agentCount: 1,
        vmSize: "Standard_NC6s_v3",
        loadBalancerType: "InternalLoadBalancer",
        loadBalancerSubnet: "aks-lb",
        disableLocalAccounts: false,
        defenderEnabled: false,
        containerInsightsEnabled: false,
        azurePolicyEnabled: false,
        routerImage: IMAGE,
    });
    leaf = new AksInferenceCluster("leaf", {
        location: "West Europe",
        resourceGroupName: "rg-leaf",
        leafDomainLabel: "myscoring",
        routerImage: IMAGE,
    });
    attached = new AksInferenceCluster("att", {
        resourceId: AKS_ID,
        workspaceName: "ws-ml",
        workspaceResourceGroupName: "rg-ml",
        computeName: "aks-prod",
        containerRegistryId: `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-ml/providers/Microsoft.ContainerRegistry/registries/acrml0001`,
        routerImage: IMAGE,
    });
    local = new AksInferenceCluster("local", {
        kubeconfig: certKubeconfig("https://127.0.0.1:6443"),
        clusterPurpose: "DevTest",
        routerServiceType: "NodePort",
        routerWatchNamespaces: ["models"],
        routerImage: "localhost:5000/amlaks-router:dev",
        location: "westeurope",
        acrName: "acrml0001",
    });
    sharedLogs = new AksInferenceCluster("shared", {
        location: "westeurope",
        resourceGroupName: "rg-s",
        logAnalyticsWorkspaceId: LAW_ID,
        grantDeployerClusterAdmin: false,
        routerImage: IMAGE,
    });
    ilb = new AksInferenceCluster("ilb", {
        location: "westeurope",
        resourceGroupName: "rg-ilb",
        networkPlugin: "azure",
        vnetSubnetId: ILB_NODE_SUBNET,
        serviceCidr: "10.2.0.0/16",
        dnsServiceIp: "10.2.0.10",
        loadBalancerType: "InternalLoadBalancer",
        loadBalancerSubnet: "scoring-lb",
        routerImage: IMAGE,
    });
    kubenetByo = new AksInferenceCluster("byo", {
        location: "westeurope",
        resourceGroupName: "rg-byo",
        networkPlugin: "kubenet",
        vnetSubnetId: ILB_NODE_SUBNET,
        routerImage: IMAGE,
    });
    for (const c of [devtest, leaf, attached, local, sharedLogs, ilb, kubenetByo]) {
        await unwrap(c.requiredHosts);
        await unwrap(c.scoringBaseUrl);
    }
    await settle(mocks.resources);
});

describe("DevTest + GPU SKU + internal load balancer + local accounts", () => {
    test("creates no Log Analytics workspace, no HPA; installs the NVIDIA device plugin (R9)", () => {
        assert.deepEqual(types("dev"), [
            "amlaks:index:AksInferenceCluster",
            "azure-native:authorization:RoleAssignment",
            "azure-native:containerservice:ManagedCluster",
            "kubernetes:apps/v1:DaemonSet",
            "kubernetes:apps/v1:Deployment",
            "kubernetes:core/v1:Namespace",
            "kubernetes:core/v1:Namespace",
            "kubernetes:core/v1:Service",
            "kubernetes:core/v1:ServiceAccount",
            "kubernetes:policy/v1:PodDisruptionBudget",
            "kubernetes:rbac.authorization.k8s.io/v1:Role",
            "kubernetes:rbac.authorization.k8s.io/v1:Role",
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            "pulumi:providers:kubernetes",
        ]);
        const ds = one(of("dev"), "kubernetes:apps/v1:DaemonSet");
        validateK8sObject({ ...ds.inputs, apiVersion: "apps/v1", kind: "DaemonSet" });
        assert.equal(ds.inputs.metadata.namespace, "kube-system");
    });

    test("AKS: Free tier, local accounts enabled, Defender/Insights/Policy off as asked", () => {
        const aks = one(of("dev"), "azure-native:containerservice:ManagedCluster").inputs;
        assert.deepEqual(aks.sku, { name: "Base", tier: "Free" });
        assert.equal(aks.disableLocalAccounts, false);
        assert.equal(aks.securityProfile, undefined);
        assert.deepEqual(aks.addonProfiles, {
            omsagent: { enabled: false },
            azurepolicy: { enabled: false },
        });
        assert.equal(aks.agentPoolProfiles[0].vmSize, "Standard_NC6s_v3");
        assert.equal(aks.agentPoolProfiles[0].count, 1);
        // Default network: Azure CNI Overlay with Cilium enforcing NetworkPolicies.
        assert.equal(aks.networkProfile.networkPlugin, "azure");
        assert.equal(aks.networkProfile.networkPluginMode, "overlay");
        assert.equal(aks.networkProfile.networkPolicy, "cilium");
        assert.equal(aks.networkProfile.networkDataplane, "cilium");
    });

    test("uses the admin kubeconfig when local accounts are enabled", () => {
        const p = one(of("dev"), "pulumi:providers:kubernetes").inputs;
        assert.ok(isSecretInput(p.kubeconfig));
        assert.match(reveal<string>(p.kubeconfig), /client-certificate-data/);
        assert.ok(
            mocks.calls.some(
                (c) =>
                    c.token ===
                        "azure-native:containerservice:listManagedClusterAdminCredentials" &&
                    c.inputs.resourceName === "dev",
            ),
        );
    });

    test("router: one replica, internal LB annotations, plain HTTP at the LB address", async () => {
        const dep = one(of("dev"), "kubernetes:apps/v1:Deployment").inputs;
        assert.equal(dep.spec.replicas, 1);
        const svc = one(of("dev"), "kubernetes:core/v1:Service").inputs;
        assert.deepEqual(svc.metadata.annotations, {
            "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
            "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "aks-lb",
        });
        assert.equal(await unwrap(devtest.scoringBaseUrl), `http://${LB_IP}`);
        assert.equal(await unwrap(devtest.gpuEnabled), true);
        assert.equal(await unwrap(devtest.clusterPurpose), "DevTest");
        const hosts = (await unwrap(devtest.requiredHosts)).map((h) => h.host);
        assert.ok(hosts.includes("nvcr.io"), "the device plugin registry is listed");
    });
});

describe("leaf domain label", () => {
    test("sets the Azure DNS label and derives the endpoint FQDN without v1's random suffix", async () => {
        const svc = one(of("leaf"), "kubernetes:core/v1:Service").inputs;
        assert.deepEqual(svc.metadata.annotations, {
            "service.beta.kubernetes.io/azure-dns-label-name": "myscoring",
        });
        assert.equal(
            await unwrap(leaf.scoringBaseUrl),
            "http://myscoring.westeurope.cloudapp.azure.com",
        );
        const hosts = await unwrap(leaf.requiredHosts);
        assert.ok(hosts.some((h) => h.host === "myscoring.westeurope.cloudapp.azure.com"));
        assert.equal(hosts[0].usedBy, "AKS API server");
        assert.match(hosts[0].host, /^leaf-abcd1234\.hcp\..+\.azmk8s\.io$/);
    });
});

describe("attach mode (resourceId)", () => {
    test("creates no cluster and no workspace compute; reads it through getManagedCluster", () => {
        assert.deepEqual(types("att"), [
            "amlaks:index:AksInferenceCluster",
            "azure-native:authorization:RoleAssignment",
            "kubernetes:apps/v1:Deployment",
            "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
            "kubernetes:core/v1:Namespace",
            "kubernetes:core/v1:Namespace",
            "kubernetes:core/v1:Service",
            "kubernetes:core/v1:ServiceAccount",
            "kubernetes:policy/v1:PodDisruptionBudget",
            "kubernetes:rbac.authorization.k8s.io/v1:Role",
            "kubernetes:rbac.authorization.k8s.io/v1:Role",
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            "pulumi:providers:azure-native",
            "pulumi:providers:kubernetes",
        ]);
        const get = mocks.calls.find(
            (c) => c.token === "azure-native:containerservice:getManagedCluster",
        );
        // Read in the subscription the id names (not the default provider's).
        const azure = one(of("att"), "pulumi:providers:azure-native");
        assert.equal(azure.inputs.subscriptionId, AKS_ID.split("/")[2]);
        assert.match(get?.provider ?? "", /pulumi:providers:azure-native::att-azure::/);
        const creds = mocks.calls.find(
            (c) =>
                c.token === "azure-native:containerservice:listManagedClusterUserCredentials" &&
                c.inputs.resourceName === EXISTING_CLUSTER.name,
        );
        assert.match(creds?.provider ?? "", /::att-azure::/);
        assert.deepEqual(get?.inputs, {
            resourceGroupName: EXISTING_CLUSTER.rg,
            resourceName: EXISTING_CLUSTER.name,
        });
    });

    test("provider identity is the resource id; facts come from the existing cluster", async () => {
        const p = one(of("att"), "pulumi:providers:kubernetes").inputs;
        assert.equal(p.clusterIdentifier, AKS_ID);
        const creds = mocks.calls.find(
            (c) =>
                c.token === "azure-native:containerservice:listManagedClusterUserCredentials" &&
                c.inputs.resourceName === EXISTING_CLUSTER.name,
        );
        assert.deepEqual(creds?.inputs, {
            resourceGroupName: EXISTING_CLUSTER.rg,
            resourceName: EXISTING_CLUSTER.name,
            format: "exec",
        });
        assert.equal(await unwrap(attached.clusterId), AKS_ID);
        assert.equal(await unwrap(attached.clusterName), EXISTING_CLUSTER.name);
        assert.equal(await unwrap(attached.location), EXISTING_CLUSTER.location);
        assert.equal(
            await unwrap(attached.gpuEnabled),
            true,
            "GPU detected from the cluster's node pools",
        );
        assert.equal(await unwrap(attached.clusterFqdn), EXISTING_CLUSTER.fqdn);
        // AcrPull for the existing cluster's kubelet identity.
        const pull = one(of("att"), "azure-native:authorization:RoleAssignment").inputs;
        assert.equal(pull.principalId, KUBELET_OID);
        assert.match(pull.roleDefinitionId, /7f951dda-4ed3-4680-a7ca-43fe172d538d$/);
        // HPA bounded by the 2 existing nodes -> stays at the minimum of 3.
        assert.equal(
            one(of("att"), "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs.spec
                .maxReplicas,
            3,
        );
    });
});

describe("kubeconfig mode", () => {
    test("calls no Azure API and creates no Azure resource", () => {
        assert.ok(of("local").every((r) => !r.type.startsWith("azure-native:")));
        const p = one(of("local"), "pulumi:providers:kubernetes").inputs;
        assert.ok(isSecretInput(p.kubeconfig));
        assert.equal(reveal(p.kubeconfig), certKubeconfig("https://127.0.0.1:6443"));
        assert.match(p.clusterIdentifier, /^kubeconfig-[0-9a-f]{16}$/);
    });

    test("NodePort Service without Azure annotations; empty scoring URL; partial requiredHosts", async () => {
        const svc = one(of("local"), "kubernetes:core/v1:Service").inputs;
        assert.equal(svc.spec.type, "NodePort");
        assert.equal(svc.metadata.annotations, undefined);
        const dep = one(of("local"), "kubernetes:apps/v1:Deployment").inputs;
        const env = Object.fromEntries(
            dep.spec.template.spec.containers[0].env.map((e: Any) => [e.name, e.value]),
        );
        assert.equal(env.ROUTER_WATCH_NAMESPACES, "models");
        assert.equal(await unwrap(local.scoringBaseUrl), "");
        assert.equal(await unwrap(local.clusterName), "");
        const hosts = (await unwrap(local.requiredHosts)).map((h) => h.host);
        assert.ok(!hosts.some((h) => h.endsWith(".azmk8s.io")));
        assert.ok(hosts.includes("acrml0001.azurecr.io"));
        assert.ok(hosts.includes("localhost"));
    });
});

describe("existing Log Analytics workspace", () => {
    test("is wired into Defender and Container Insights instead of creating one", () => {
        assert.ok(
            !of("shared").some((r) => r.type === "azure-native:operationalinsights:Workspace"),
        );
        assert.ok(
            !of("shared").some((r) => r.type === "azure-native:authorization:RoleAssignment"),
        );
        const aks = one(of("shared"), "azure-native:containerservice:ManagedCluster").inputs;
        assert.equal(aks.securityProfile.defender.logAnalyticsWorkspaceResourceId, LAW_ID);
        assert.equal(aks.addonProfiles.omsagent.config.logAnalyticsWorkspaceResourceID, LAW_ID);
    });
});

describe("internal load balancer in its own subnet", () => {
    test("Network Contributor covers the VNet, so AKS can place the load balancer in scoring-lb", () => {
        const net = one(
            of("ilb"),
            "azure-native:authorization:RoleAssignment",
            "ilb-subnet-network",
        ).inputs;
        assert.equal(net.scope, ILB_VNET);
        const svc = one(of("ilb"), "kubernetes:core/v1:Service").inputs;
        assert.equal(
            svc.metadata.annotations[
                "service.beta.kubernetes.io/azure-load-balancer-internal-subnet"
            ],
            "scoring-lb",
        );
    });
});

describe("kubenet in your own subnet", () => {
    test("a user-assigned identity holds Network Contributor on the subnet before the cluster is created", () => {
        const uai = one(of("byo"), "azure-native:managedidentity:UserAssignedIdentity");
        const grant = one(
            of("byo"),
            "azure-native:authorization:RoleAssignment",
            "byo-subnet-network",
        );
        assert.equal(grant.inputs.scope, ILB_NODE_SUBNET);
        assert.equal(grant.inputs.principalId, UAI_OID);
        assert.match(grant.inputs.roleDefinitionId, /4d97b98b-1d4f-4787-a291-c67834d212e7$/);
        const aks = one(of("byo"), "azure-native:containerservice:ManagedCluster");
        assert.equal(aks.inputs.identity.type, "UserAssigned");
        assert.deepEqual(aks.inputs.identity.userAssignedIdentities, [
            `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-byo/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${uai.name}`,
        ]);
        assert.equal(aks.inputs.networkProfile.networkPolicy, "calico");
        // Registration order: the grant exists before the cluster is registered (dependsOn).
        const names = mocks.resources.map((r) => r.name);
        assert.ok(names.indexOf("byo-subnet-network") < names.indexOf("byo-aks"));
        // A system-assigned identity (other clusters) is granted after creation instead.
        assert.equal(
            one(of("ilb"), "azure-native:containerservice:ManagedCluster").inputs.identity.type,
            "SystemAssigned",
        );
    });
});
