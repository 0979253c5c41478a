/**
 * Arguments of {@link AksInferenceCluster} (kept apart from the component so the pure validator
 * can import them without Pulumi resources). v1 `AksCompute` parameter names in camelCase
 * (aml-v1-spec §2.1/§2.2); strings with documented values instead of unions (anchors §7.2).
 */
import * as pulumi from "@pulumi/pulumi";
import { argNames } from "../common/known-args";

/**
 * What the `workspace` shorthand reads from an `AmlWorkspace` (any object with these members).
 */
export interface WorkspaceLike {
    readonly location: pulumi.Output<string>;
    readonly resourceGroupName: pulumi.Output<string>;
    readonly acrName: pulumi.Output<string>;
    readonly acrLoginServer: pulumi.Output<string>;
    readonly containerRegistryId: pulumi.Output<string>;
    readonly storageAccountName: pulumi.Output<string>;
    readonly logAnalyticsWorkspaceId: pulumi.Output<string>;
    readonly applicationInsightsConnectionString: pulumi.Output<string>;
    /** ARM id of the workspace's storage account: where model data is collected (AmlWorkspace has it). */
    readonly storageAccountId?: pulumi.Output<string>;
    /** Workspace name: the `<workspace>` segment of the model data path (AmlWorkspace has it). */
    readonly workspaceName?: pulumi.Output<string>;
}

/**
 * Typed as they behave: plain types for the args the component branches on (which resources
 * exist, how they are configured at preview), `Input<T>` for values passed into resources.
 */
export interface AksInferenceClusterArgs {
    /**
     * The workspace of the cluster (v1 `ComputeTarget.create(ws, ...)`): `location`,
     * `resourceGroupName`, `acrName`, `acrLoginServer`, `containerRegistryId`,
     * `storageAccountName` and `logAnalyticsWorkspaceId` default to the workspace's, for the
     * mode's args (attach mode keeps the cluster's region; kubeconfig mode has no AcrPull). Its
     * Application Insights becomes `cluster.appInsightsConnectionString`. Explicit args win.
     * Nothing is registered in the workspace.
     * @default - unset
     */
    readonly workspace?: WorkspaceLike;
    /**
     * Application Insights connection string (a secret) the router exports the requests of
     * services with `enableAppInsights` to (docs/app-insights.md): stored in a Secret in the
     * router namespace, read by the router pods through a secretKeyRef. Changing it takes effect
     * when the router pods restart.
     * @default - the `workspace`'s Application Insights; none (no export) without a workspace
     */
    readonly appInsightsConnectionString?: pulumi.Input<string>;

    // ---- Mode: create (default), attach (`resourceId`) or kubeconfig (`kubeconfig`) ----------

    /**
     * Attach mode (R8): ARM id of an existing AKS cluster,
     * `/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.ContainerService/managedClusters/<name>`.
     * The cluster is not modified; the router is installed into it.
     * @default - unset: create a cluster (or use `kubeconfig`)
     */
    readonly resourceId?: pulumi.Input<string>;
    /**
     * Kubeconfig mode: a kubeconfig for any existing Kubernetes cluster (e.g. a local cluster for
     * debugging). Treated as a secret. No AKS API is used: no workspace compute attach, no Azure
     * load balancer annotations, no AcrPull grant, partial `requiredHosts`.
     * @default - unset
     */
    readonly kubeconfig?: pulumi.Input<string>;

    // ---- Cluster (create mode) ------------------------------------------------------------

    /**
     * Azure region (v1 `location`). Required when creating; in attach mode read from the
     * cluster when unset; in kubeconfig mode only used for `requiredHosts`.
     * @default - required when creating
     */
    readonly location?: pulumi.Input<string>;
    /** Resource group of the new cluster. Create mode only. @default - required when creating */
    readonly resourceGroupName?: pulumi.Input<string>;
    /**
     * Name of the new AKS cluster (1–63 letters, digits, `-`, `_`). Changing it forces a new cluster.
     * @default - derived from the component name
     */
    readonly clusterName?: pulumi.Input<string>;
    /**
     * `DevTest`, `FastProd` or `DenseProd` (R10). FastProd/DenseProd need ≥ 3 nodes AND ≥ 12 vCPUs;
     * DevTest ≥ 2 vCPUs. Sets the router's replicas and self-scaling.
     * @default "FastProd"
     */
    readonly clusterPurpose?: string;
    /**
     * Nodes in the system pool (v1 `agent_count`), a whole number > 0. Create mode; in kubeconfig
     * mode a declaration used for sizing checks and the router's replica bound. Not allowed in
     * attach mode (the node count is read from the cluster).
     * @default 3
     */
    readonly agentCount?: pulumi.Input<number>;
    /**
     * Node VM size (v1 `vm_size`). GPU/FPGA support is detected from it (R9). Changing it forces a
     * new node pool (AKS cannot resize VMs in place). In attach and kubeconfig modes it is a
     * declaration of the existing nodes' SKU, used for sizing and GPU/FPGA detection only.
     * @default "Standard_D3_v2"
     */
    readonly vmSize?: pulumi.Input<string>;
    /**
     * Deploy a FastProd/DenseProd cluster below the sizing rule (fewer than 3 nodes) with a
     * warning instead of an error, e.g. 2 × 8-vCPU nodes. The router then cannot keep its 3
     * replicas on different nodes.
     * @default false
     */
    readonly allowUndersizedCluster?: boolean;
    /**
     * vCPUs per node, overriding the built-in SKU table (required for SKUs not in it when the
     * sizing rule applies).
     * @default - from the SKU table in components/cluster/sizing.ts
     */
    readonly vmCpuCount?: pulumi.Input<number>;
    /**
     * Kubernetes version (`1.31` or `1.31.2`). Create mode. Auto-upgrade (channel `stable`) keeps
     * it current afterwards, so later changes of this arg are ignored.
     * @default - the region's default AKS version
     */
    readonly kubernetesVersion?: pulumi.Input<string>;
    /**
     * AKS control-plane tier: `Free`, `Standard` (uptime SLA) or `Premium`. Create mode.
     * @default "Standard" for FastProd/DenseProd, "Free" for DevTest
     */
    readonly skuTier?: string;

    // ---- Network (R11; create mode) -------------------------------------------------------

    /**
     * `azure` (Azure CNI) or `kubenet` (v1 values). kubenet is retired by Azure (31 March 2028)
     * and gets Calico as its policy engine. An explicit `azure` keeps v1's Azure CNI (pods take
     * addresses from `vnetSubnetId`; `serviceCidr` and `dnsServiceIp` required) unless
     * `networkPluginMode` is `overlay`. Changing it forces a new cluster.
     * @default "azure" with networkPluginMode "overlay" (today's AKS default)
     */
    readonly networkPlugin?: string;
    /**
     * Azure CNI mode: `overlay` (pods get addresses from `podCidr`, not from the VNet;
     * `vnetSubnetId` optional) or `subnet` (v1 Azure CNI). Only with networkPlugin `azure`.
     * @default "overlay" when networkPlugin is unset, "subnet" when it is "azure"
     */
    readonly networkPluginMode?: string;
    /**
     * NetworkPolicy engine that enforces the model services' policies (only the router reaches
     * model pods; no instance metadata endpoint): `cilium` (overlay only; also sets the Cilium
     * dataplane), `calico` (every plugin) or `azure` (Azure NPM, subnet mode only). There is no
     * "none": unenforced policies would let any pod bypass key and token auth.
     * @default "cilium" with overlay, "calico" with kubenet or subnet mode
     */
    readonly networkPolicy?: string;
    /**
     * ARM id of the subnet the nodes join (`.../virtualNetworks/<vnet>/subnets/<subnet>`). Required
     * with `azure`; optional with `kubenet` (bring your own subnet). The cluster identity needs
     * Network Contributor on the VNet (S9).
     * @default - AKS creates a VNet
     */
    readonly vnetSubnetId?: pulumi.Input<string>;
    /**
     * Address prefix of `vnetSubnetId` (e.g. `10.240.0.0/16`), a declaration used only to check
     * that the service, pod and docker bridge ranges do not overlap the subnet (S9).
     * @default - overlap with the subnet is not checked
     */
    readonly vnetSubnetAddressPrefix?: pulumi.Input<string>;
    /**
     * Kubernetes service address range (CIDR, at most /12, not overlapping any subnet, pod range
     * or docker bridge). Give with `dnsServiceIp`.
     * @default - AKS default 10.0.0.0/16
     */
    readonly serviceCidr?: pulumi.Input<string>;
    /**
     * Cluster DNS service IP: inside `serviceCidr`, not its first (`.1`) address. Give with
     * `serviceCidr`.
     * @default - AKS default 10.0.0.10
     */
    readonly dnsServiceIp?: pulumi.Input<string>;
    /**
     * Docker bridge address (v1 `docker_bridge_cidr`, e.g. `172.17.0.1/16`). Deprecated by AKS and
     * no longer sent; accepted so v1 settings keep working, and checked not to overlap the
     * service, pod or subnet ranges.
     * @default - unset
     */
    readonly dockerBridgeCidr?: pulumi.Input<string>;
    /**
     * Pod address range for `kubenet` and Azure CNI overlay.
     * @default - AKS default 10.244.0.0/16
     */
    readonly podCidr?: pulumi.Input<string>;

    // ---- Scoring endpoint (load balancer and TLS, R6) -------------------------------------

    /**
     * `PublicIp` or `InternalLoadBalancer` (the router Service gets the Azure internal-LB annotation).
     * @default "PublicIp"
     */
    readonly loadBalancerType?: string;
    /**
     * Subnet (name) of the internal load balancer; only with `InternalLoadBalancer`.
     * @default - the nodes' subnet
     */
    readonly loadBalancerSubnet?: pulumi.Input<string>;
    /**
     * DNS label of the scoring endpoint: `<label>.<region>.cloudapp.azure.com` (no random suffix,
     * unlike v1). Exclusive with the custom certificate; not with an internal load balancer. v1
     * also obtained a Microsoft certificate for it; that service is gone, so this endpoint serves
     * HTTP. Use `sslCname` + `sslCertPem` + `sslKeyPem` for HTTPS.
     * @default - no DNS label
     */
    readonly leafDomainLabel?: pulumi.Input<string>;
    /**
     * v1 `overwrite_existing_domain`; only with `leafDomainLabel`. Kept for v1 compatibility: the
     * Azure DNS label is (re)claimed on every update anyway.
     * @default false
     */
    readonly overwriteExistingDomain?: pulumi.Input<boolean>;
    /** Custom domain of the scoring endpoint (with `sslCertPem`, `sslKeyPem`). @default - none */
    readonly sslCname?: pulumi.Input<string>;
    /** PEM certificate (chain) for `sslCname`; the router terminates TLS (R6). @default - none */
    readonly sslCertPem?: pulumi.Input<string>;
    /** PEM private key for `sslCertPem`. Treated as a secret. @default - none */
    readonly sslKeyPem?: pulumi.Input<string>;

    // ---- Router (R18–R21) -------------------------------------------------------------------

    /**
     * Image reference of the amlaks router (e.g. `<acr>.azurecr.io/amlaks/router@sha256:...`).
     * @default - built from the installed package and pushed to `routerImageRegistry` with a
     * content-hash tag; reused while unchanged, never built during preview
     */
    readonly routerImage?: pulumi.Input<string>;
    /**
     * Registry the router image is built into when `routerImage` is not given (login server, e.g.
     * `myacr.azurecr.io`; `127.0.0.1:5000` and other loopback registries use plain HTTP).
     * @default - acrLoginServer
     */
    readonly routerImageRegistry?: pulumi.Input<string>;
    /** User for `routerImageRegistry`. @default - the Docker engine's stored credentials */
    readonly routerImageRegistryUsername?: pulumi.Input<string>;
    /** Password for `routerImageRegistry` (treated as a secret). @default - the Docker engine's stored credentials */
    readonly routerImageRegistryPassword?: pulumi.Input<string>;
    /**
     * Base image of the router image built by the component (a Node.js runtime with `node` at
     * `/nodejs/bin/node` and user 65532). Plain: it is part of the content hash, known at preview.
     * @default "gcr.io/distroless/nodejs22-debian12:nonroot"
     */
    readonly routerBaseImage?: string;
    /** Namespace of the router. @default "azureml" */
    readonly routerNamespace?: string;
    /**
     * Namespaces where model services live (plain names; each must exist). The router gets a Role
     * in each (read Deployments, EndpointSlices and Secrets, scale Deployments, mark pods for
     * deletion) and nothing cluster-wide (R21). Not the router's namespace.
     * @default - one namespace, `azureml-services`, created by the component
     */
    readonly routerWatchNamespaces?: string[];
    /**
     * Router Service type: `LoadBalancer`, `NodePort` or `ClusterIP` (local clusters without a
     * load balancer; use port-forwarding).
     * @default "LoadBalancer"
     */
    readonly routerServiceType?: string;
    /**
     * Also create a Prometheus Operator `ServiceMonitor` (monitoring.coreos.com/v1) for the router's
     * metrics port (9090), and the ClusterIP Service `amlaks-router-metrics` it selects. Opt-in
     * because the CRD exists only where the Prometheus Operator is installed (kube-prometheus-stack)
     * and Pulumi cannot check for it at preview: on a cluster without it `pulumi up` would fail.
     * The router pods always carry `prometheus.io/scrape|port|path` annotations.
     * @default false
     */
    readonly routerServiceMonitor?: boolean;
    /**
     * Labels on the ServiceMonitor, for Prometheus' `serviceMonitorSelector` (kube-prometheus-stack
     * selects `release: <its release name>` by default). Only with `routerServiceMonitor`.
     * @default {}
     */
    readonly routerServiceMonitorLabels?: Record<string, string>;
    /**
     * Namespaces whose pods may connect to the router's metrics port; with it a NetworkPolicy lets
     * only those pods and the router's own pods (peer load reports) reach port 9090, while the
     * scoring ports stay open. Needs a network policy engine (`networkPolicy`).
     * @default - no NetworkPolicy: any pod in the cluster can scrape the router
     */
    readonly routerMetricsNamespaces?: string[];

    // ---- Workspace, registry and storage ----------------------------------------------------

    /**
     * v1 compatibility only: the cluster is NOT registered as a v1 `AKS` compute (a retired API
     * that needs local accounts and makes Azure install a second router). Accepted with a
     * warning so v1 settings keep working. Use `workspace` to take settings from an AmlWorkspace.
     * @default - unset
     */
    readonly workspaceName?: pulumi.Input<string>;
    /** v1 compatibility only (see `workspaceName`). @default - unset */
    readonly workspaceResourceGroupName?: pulumi.Input<string>;
    /** v1 compatibility only (see `workspaceName`). @default - unset */
    readonly computeName?: pulumi.Input<string>;
    /** Workspace container registry name, for `requiredHosts` (R23). @default - not listed */
    readonly acrName?: pulumi.Input<string>;
    /** Workspace registry login server (e.g. `myacr.azurecr.io`). @default - `<acrName>.azurecr.io` */
    readonly acrLoginServer?: pulumi.Input<string>;
    /**
     * ARM id of the workspace registry: the cluster's kubelet identity gets `AcrPull` on it so
     * nodes pull model images without credentials (R24 d). Create and attach modes.
     * @default - no role assignment
     */
    readonly containerRegistryId?: pulumi.Input<string>;
    /** Workspace storage account name, for `requiredHosts` (R23). @default - not listed */
    readonly storageAccountName?: pulumi.Input<string>;

    // ---- Model data collection (R4; create and attach modes; docs/observability.md) ----------

    /**
     * Model data collection: with a storage account known (this arg or the `workspace`'s), the
     * cluster gets its OIDC issuer and workload identity turned on (create mode; an attached
     * cluster must have them), the router a user-assigned identity federated with its
     * ServiceAccount, holding Storage Blob Data Contributor on the `modeldata` container only, and
     * the router writes the inputs and predictions of services with `collectModelData` there.
     * `false` turns all of it off.
     * @default true when a storage account is known
     */
    readonly modelDataCollection?: boolean;
    /**
     * ARM id of the storage account model data goes to (container `modeldata`). In the
     * subscription the Azure provider deploys to, unless `createModelDataContainer` is false.
     * @default - the `workspace`'s storage account; none without a workspace
     */
    readonly modelDataStorageAccountId?: pulumi.Input<string>;
    /**
     * The `<workspace>` segment of the model data path
     * (`<subscription>/<resourcegroup>/<workspace>/<service>/...`). Required with
     * `modelDataStorageAccountId` when there is no `workspace`.
     * @default - the `workspace`'s name
     */
    readonly modelDataWorkspaceName?: pulumi.Input<string>;
    /**
     * Create the `modeldata` container (it is kept when the stack is destroyed, with its data).
     * Set false when it exists already (v1 workspaces that collected data have it): the role is
     * then assigned on the existing container.
     * @default true
     */
    readonly createModelDataContainer?: boolean;

    // ---- Security and monitoring (create mode) ----------------------------------------------

    /**
     * Log Analytics workspace for Container Insights (R22) and Defender for Containers (R39).
     * @default - a new workspace `${name}-logs` when either feature is on
     */
    readonly logAnalyticsWorkspaceId?: pulumi.Input<string>;
    /** Microsoft Defender for Containers (R39). @default true */
    readonly defenderEnabled?: boolean;
    /** Container Insights (omsagent add-on, R22: container logs are not stored otherwise). @default true */
    readonly containerInsightsEnabled?: boolean;
    /** Azure Policy add-on. @default true */
    readonly azurePolicyEnabled?: boolean;
    /**
     * Disable local (static certificate) accounts: only Microsoft Entra ID identities reach the
     * API server, and the kubeconfig calls `kubelogin` (must be on PATH where `pulumi up` runs).
     * With `false`, the admin kubeconfig (client certificate) is used and kubelogin is not needed.
     * @default true
     */
    readonly disableLocalAccounts?: boolean;
    /**
     * kubelogin login method for the generated kubeconfig: `azurecli`, `devicecode`, `spn`, `msi`,
     * `workloadidentity` or `azd` (create/attach modes with Entra ID).
     * @default "azurecli"
     */
    readonly kubeloginMode?: string;
    /** Entra ID group object ids with cluster-admin. @default [] */
    readonly adminGroupObjectIds?: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * Grant the identity running `pulumi up` "Azure Kubernetes Service RBAC Cluster Admin" on the
     * new cluster, so the component can install the router under Azure RBAC.
     * @default true
     */
    readonly grantDeployerClusterAdmin?: boolean;

    // ---- GPU ------------------------------------------------------------------------------

    /**
     * Install the NVIDIA device plugin DaemonSet (R7, R9).
     * @default true when creating a cluster with a GPU SKU; false otherwise (existing clusters
     * often have it already)
     */
    readonly installNvidiaDevicePlugin?: boolean;
    /** NVIDIA device plugin image. @default "nvcr.io/nvidia/k8s-device-plugin:v0.17.0" */
    readonly nvidiaDevicePluginImage?: pulumi.Input<string>;

    /** Tags on the Azure resources created. @default {} */
    readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** Every argument name of {@link AksInferenceClusterArgs}; others are rejected (issue 11 item 7). */
export const AKS_INFERENCE_CLUSTER_ARG_NAMES = argNames<AksInferenceClusterArgs>({
    workspace: true,
    appInsightsConnectionString: true,
    resourceId: true,
    kubeconfig: true,
    location: true,
    resourceGroupName: true,
    clusterName: true,
    clusterPurpose: true,
    agentCount: true,
    vmSize: true,
    allowUndersizedCluster: true,
    vmCpuCount: true,
    kubernetesVersion: true,
    skuTier: true,
    networkPlugin: true,
    networkPluginMode: true,
    networkPolicy: true,
    vnetSubnetId: true,
    vnetSubnetAddressPrefix: true,
    serviceCidr: true,
    dnsServiceIp: true,
    dockerBridgeCidr: true,
    podCidr: true,
    loadBalancerType: true,
    loadBalancerSubnet: true,
    leafDomainLabel: true,
    overwriteExistingDomain: true,
    sslCname: true,
    sslCertPem: true,
    sslKeyPem: true,
    routerImage: true,
    routerImageRegistry: true,
    routerImageRegistryUsername: true,
    routerImageRegistryPassword: true,
    routerBaseImage: true,
    routerNamespace: true,
    routerWatchNamespaces: true,
    routerServiceType: true,
    routerServiceMonitor: true,
    routerServiceMonitorLabels: true,
    routerMetricsNamespaces: true,
    workspaceName: true,
    workspaceResourceGroupName: true,
    computeName: true,
    acrName: true,
    acrLoginServer: true,
    containerRegistryId: true,
    storageAccountName: true,
    modelDataCollection: true,
    modelDataStorageAccountId: true,
    modelDataWorkspaceName: true,
    createModelDataContainer: true,
    logAnalyticsWorkspaceId: true,
    defenderEnabled: true,
    containerInsightsEnabled: true,
    azurePolicyEnabled: true,
    disableLocalAccounts: true,
    kubeloginMode: true,
    adminGroupObjectIds: true,
    grantDeployerClusterAdmin: true,
    installNvidiaDevicePlugin: true,
    nvidiaDevicePluginImage: true,
    tags: true,
});
