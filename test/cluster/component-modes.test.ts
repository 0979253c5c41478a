/**
 * AksInferenceCluster variants under Pulumi mocks: DevTest + GPU + internal LB, leaf domain
 * label, attach mode and kubeconfig mode (each with its own component name in one process).
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
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
    for (const c of [devtest, leaf, attached, local, sharedLogs]) {
        await unwrap(c.requiredHosts);
        await unwrap(c.scoringBaseUrl);
    }
    await settle(mocks.resources);
});

describe("DevTest + GPU SKU + internal load balancer + local accounts", () => {
    it("creates no Log Analytics workspace, no HPA; installs the NVIDIA device plugin (R9)", () => {
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

    it("AKS: Free tier, local accounts enabled, Defender/Insights/Policy off as asked", () => {
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
        assert.equal(aks.networkProfile.networkPlugin, "kubenet");
    });

    it("uses the admin kubeconfig when local accounts are enabled", () => {
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

    it("router: one replica, internal LB annotations, plain HTTP at the LB address", async () => {
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
    it("sets the Azure DNS label and derives the endpoint FQDN without v1's random suffix", async () => {
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
    it("creates no cluster; reads it through getManagedCluster; attaches it to the workspace", () => {
        assert.deepEqual(types("att"), [
            "amlaks:index:AksInferenceCluster",
            "azure-native:authorization:RoleAssignment",
            "azure-native:machinelearningservices:Compute",
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
            "pulumi:providers:kubernetes",
        ]);
        const get = mocks.calls.find(
            (c) => c.token === "azure-native:containerservice:getManagedCluster",
        );
        assert.deepEqual(get?.inputs, {
            resourceGroupName: EXISTING_CLUSTER.rg,
            resourceName: EXISTING_CLUSTER.name,
        });
        const compute = one(of("att"), "azure-native:machinelearningservices:Compute").inputs;
        assert.equal(compute.computeName, "aks-prod");
        assert.equal(compute.properties.computeType, "AKS");
        assert.equal(compute.properties.resourceId, AKS_ID);
        assert.equal(compute.properties.computeLocation, EXISTING_CLUSTER.location);
        assert.deepEqual(compute.properties.properties, {
            clusterPurpose: "FastProd",
            clusterFqdn: EXISTING_CLUSTER.fqdn,
        });
    });

    it("provider identity is the resource id; facts come from the existing cluster", async () => {
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
    it("calls no Azure API and creates no Azure resource", () => {
        assert.ok(of("local").every((r) => !r.type.startsWith("azure-native:")));
        const p = one(of("local"), "pulumi:providers:kubernetes").inputs;
        assert.ok(isSecretInput(p.kubeconfig));
        assert.equal(reveal(p.kubeconfig), certKubeconfig("https://127.0.0.1:6443"));
        assert.match(p.clusterIdentifier, /^kubeconfig-[0-9a-f]{16}$/);
    });

    it("NodePort Service without Azure annotations; empty scoring URL; partial requiredHosts", async () => {
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
    it("is wired into Defender and Container Insights instead of creating one", () => {
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
