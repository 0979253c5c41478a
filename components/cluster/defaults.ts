/**
 * Every default of {@link AksInferenceClusterArgs} in one object (v1 defaults where v1 had one,
 * aml-v1-spec §2.1). The validator applies them; the component and its children read the
 * validated plan, never these values directly.
 */
import { DEFAULT_ROUTER_NAMESPACE, DEFAULT_SERVICE_NAMESPACE } from "./router-rbac";

export const CLUSTER_DEFAULTS = {
    clusterPurpose: "FastProd",
    agentCount: 3,
    vmSize: "Standard_D3_v2",
    /** AKS control-plane tier by purpose: DevTest needs no uptime SLA. */
    skuTier: { DevTest: "Free", FastProd: "Standard", DenseProd: "Standard" },
    /** Unset plugin: Azure CNI overlay with Cilium (today's AKS default, network-profile.ts). */
    networkPlugin: "azure",
    networkPluginMode: "overlay",
    networkPolicy: "cilium",
    loadBalancerType: "PublicIp",
    routerNamespace: DEFAULT_ROUTER_NAMESPACE,
    serviceNamespace: DEFAULT_SERVICE_NAMESPACE,
    routerServiceType: "LoadBalancer",
    /**
     * Base image of the router image the component builds: distroless Node.js 22 on Debian 12,
     * `nonroot` variant (uid 65532, no shell). Pin a digest (`...@sha256:...`) for reproducible
     * builds: the reference is hashed as written, so a moved tag does not trigger a rebuild.
     */
    routerBaseImage: "gcr.io/distroless/nodejs22-debian12:nonroot",
    kubeloginMode: "azurecli",
    /** Pinned NVIDIA device plugin image (no drifting `latest`, anchors §1.7). */
    nvidiaDevicePluginImage: "nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
    allowUndersizedCluster: false,
    overwriteExistingDomain: false,
    disableLocalAccounts: true,
    defenderEnabled: true,
    containerInsightsEnabled: true,
    azurePolicyEnabled: true,
    grantDeployerClusterAdmin: true,
    /** AKS default service range and DNS IP, used for overlap checks when not given. */
    serviceCidr: "10.0.0.0/16",
    dnsServiceIp: "10.0.0.10",
    /** AKS default pod range (kubenet, overlay), used for overlap checks when not given. */
    podCidr: "10.244.0.0/16",
    /** Retention of the Log Analytics workspace the component creates when none is given. */
    logRetentionInDays: 30,
} as const;
