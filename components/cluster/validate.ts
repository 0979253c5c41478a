/**
 * Validation of {@link AksInferenceClusterArgs} (R9–R11; aml-v1-spec §2.1–§2.4). Pure and
 * synchronous: values that are still unresolved Outputs/Promises are skipped (their presence
 * still counts for the "given together / exclusive" rules). Every problem is collected and
 * thrown together, before the component registers anything.
 */
import { isUnresolved, plainValue, Problems, REDACTED } from "../common/validation";
import { ARM_ID_SHAPES, parseArmIdOfType } from "./arm-id";
import { checkKnownArgs } from "../common/known-args";
import { AKS_INFERENCE_CLUSTER_ARG_NAMES, AksInferenceClusterArgs } from "./args";
import { KUBELOGIN_MODES, looksLikeKubeconfig } from "./kubeconfig";
import {
    AKS_RESERVED_SERVICE_RANGES,
    Cidr,
    cidrContains,
    cidrsOverlap,
    DEFAULT_KUBENET_POD_CIDR,
    formatIpv4,
    isNetworkAligned,
    MAX_SERVICE_CIDR_PREFIX_BITS,
    parseCidr,
    parseIpv4,
} from "./network";
import { NetworkChoice, resolveNetworkChoice } from "./network-profile";
import { isWorkspaceLike, WORKSPACE_MEMBERS } from "./workspace-link";
import { DEFAULT_ROUTER_NAMESPACE, DEFAULT_SERVICE_NAMESPACE } from "./router-rbac";
import { checkPurposeSizing, CLUSTER_PURPOSES, ClusterPurpose, detectAccelerators } from "./sizing";

/** The three ways to get a cluster. */
export type ClusterMode = "create" | "attach" | "kubeconfig";

/** Defaults of the optional args (v1 defaults where v1 had one, aml-v1-spec §2.1). */
export const CLUSTER_DEFAULTS = {
    clusterPurpose: "FastProd",
    agentCount: 3,
    vmSize: "Standard_D3_v2",
    networkPlugin: "azure",
    networkPluginMode: "overlay",
    networkPolicy: "cilium",
    loadBalancerType: "PublicIp",
    routerNamespace: DEFAULT_ROUTER_NAMESPACE,
    serviceNamespace: DEFAULT_SERVICE_NAMESPACE,
    routerServiceType: "LoadBalancer",
    kubeloginMode: "azurecli",
    /** AKS default service range and DNS IP, used for overlap checks when not given. */
    serviceCidr: "10.0.0.0/16",
    dnsServiceIp: "10.0.0.10",
} as const;

export { NETWORK_PLUGINS, NETWORK_PLUGIN_MODES, NETWORK_POLICIES } from "./network-profile";
export const LOAD_BALANCER_TYPES = ["PublicIp", "InternalLoadBalancer"] as const;
export const ROUTER_SERVICE_TYPES = ["LoadBalancer", "NodePort", "ClusterIP"] as const;
export const SKU_TIERS = ["Free", "Standard", "Premium"] as const;

/**
 * Args that only shape a NEW cluster. Given in attach or kubeconfig mode they are errors
 * (the existing cluster keeps its own settings). `agentCount` is a declaration in kubeconfig
 * mode; `vmSize` and `vmCpuCount` are declarations in both modes.
 */
export const CREATE_ONLY_ARGS = [
    "resourceGroupName",
    "clusterName",
    "kubernetesVersion",
    "skuTier",
    "networkPlugin",
    "networkPluginMode",
    "networkPolicy",
    "vnetSubnetId",
    "vnetSubnetAddressPrefix",
    "serviceCidr",
    "dnsServiceIp",
    "dockerBridgeCidr",
    "podCidr",
    "logAnalyticsWorkspaceId",
    "defenderEnabled",
    "containerInsightsEnabled",
    "azurePolicyEnabled",
    "disableLocalAccounts",
    "adminGroupObjectIds",
    "grantDeployerClusterAdmin",
] as const;

/**
 * Args that need the AKS/Azure APIs, so are unavailable in kubeconfig mode, with the reason.
 */
export const NOT_IN_KUBECONFIG_MODE: Readonly<Record<string, string>> = {
    workspaceName: "attaching a compute to the workspace needs an AKS cluster resource id",
    workspaceResourceGroupName:
        "attaching a compute to the workspace needs an AKS cluster resource id",
    computeName: "attaching a compute to the workspace needs an AKS cluster resource id",
    containerRegistryId: "the AcrPull grant needs the AKS kubelet identity",
    kubeloginMode: "the kubeconfig is used as given",
    loadBalancerSubnet: "Azure load balancer annotations are only added on AKS",
    leafDomainLabel: "Azure DNS labels are only available on AKS",
    overwriteExistingDomain: "Azure DNS labels are only available on AKS",
};

/** Plain values after validation and defaults; `undefined` where the input was an Output. */
export interface ResolvedClusterArgs {
    readonly mode: ClusterMode;
    readonly purpose: ClusterPurpose;
    readonly routerNamespace: string;
    readonly routerServiceType: string;
    readonly loadBalancerType: string;
    readonly networkPlugin: string;
    /** Plugin mode, policy engine and dataplane (create mode; see network-profile.ts). */
    readonly network: NetworkChoice;
    /** Router terminates TLS (custom certificate given). */
    readonly tls: boolean;
    /** Leaf domain label given (HTTP endpoint on `<label>.<region>.cloudapp.azure.com`). */
    readonly leafDomain: boolean;
    /** Accelerators from `vmSize`; `undefined` when vmSize is an unresolved Output. */
    readonly gpu: boolean | undefined;
    readonly fpga: boolean | undefined;
    readonly disableLocalAccounts: boolean;
    readonly defenderEnabled: boolean;
    readonly containerInsightsEnabled: boolean;
    readonly azurePolicyEnabled: boolean;
    readonly grantDeployerClusterAdmin: boolean;
    /** Install the NVIDIA plugin; `undefined` when it depends on an unresolved vmSize. */
    readonly installNvidiaDevicePlugin: boolean | undefined;
    readonly kubeloginMode: string;
    /** Declared or default node count; `undefined` when unknown (attach mode, Outputs). */
    readonly agentCount: number | undefined;
    readonly vmSize: string | undefined;
    readonly skuTier: string;
    /** Things that work but deserve the user's attention; the component logs them at preview. */
    readonly warnings: readonly string[];
    /** Namespaces of model services: `routerWatchNamespaces`, else [DEFAULT_SERVICE_NAMESPACE]. */
    readonly serviceNamespaces: readonly string[];
    /** The component creates DEFAULT_SERVICE_NAMESPACE (routerWatchNamespaces not given). */
    readonly createServiceNamespace: boolean;
}

export { isUnresolved };

function isSet(v: unknown): boolean {
    return v !== undefined && v !== null;
}

const plain = plainValue;

/** Kubernetes DNS-1123 label (namespaces). */
export const DNS1123_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Azure public IP DNS label: 3–63 chars, lowercase letters, digits, dashes, starts with a letter. */
export const LEAF_DOMAIN_LABEL = /^[a-z][a-z0-9-]{1,61}[a-z0-9]$/;
/** AKS cluster names: 1–63 chars of letters, digits, `-` and `_`, starting and ending alphanumeric. */
export const AKS_CLUSTER_NAME = /^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;
/** Workspace compute names (aml-v1-spec §2.4). */
export const COMPUTE_NAME = /^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/;
/** AML workspace names: 3–33 chars of letters, digits, `_` and `-`, starting alphanumeric. */
export const WORKSPACE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DNS_NAME =
    /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** Loose image reference check: no whitespace, no scheme, lowercase repository path. */
const IMAGE_REF =
    /^(?:[A-Za-z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;

function oneOf(
    p: Problems,
    field: string,
    value: unknown,
    allowed: readonly string[],
): string | undefined {
    const v = plain<unknown>(value);
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !allowed.includes(v)) {
        p.add(field, v, `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
        return undefined;
    }
    return v;
}

function bool(p: Problems, field: string, value: unknown, dflt: boolean): boolean {
    const v = plain<unknown>(value);
    if (v === undefined) return dflt;
    if (typeof v !== "boolean") {
        p.add(field, v, "must be true or false");
        return dflt;
    }
    return v;
}

function structural(p: Problems, field: string, value: unknown): void {
    if (isUnresolved(value)) {
        p.add(
            field,
            "(unresolved Output)",
            "must be a plain value, not an Output: it decides which resources are created",
        );
    }
}

/**
 * Validates cluster args and returns the resolved plain configuration.
 * Throws one `ValidationError` ("Invalid AksInferenceCluster args: ...") listing every problem.
 */
export function validateAksInferenceClusterArgs(
    args: AksInferenceClusterArgs,
): ResolvedClusterArgs {
    const p = new Problems();
    const warnings: string[] = [];
    const a = (args ?? {}) as unknown as Record<string, unknown>;
    checkKnownArgs(p, args, AKS_INFERENCE_CLUSTER_ARG_NAMES);
    if (isSet(a.workspace) && !isWorkspaceLike(a.workspace)) {
        p.add(
            "workspace",
            "(object)",
            `must be an AmlWorkspace (an object with ${WORKSPACE_MEMBERS.join(", ")})`,
        );
    }

    // ---- Mode ------------------------------------------------------------------------------
    const attach = isSet(a.resourceId);
    const kube = isSet(a.kubeconfig);
    const mode: ClusterMode = attach ? "attach" : kube ? "kubeconfig" : "create";
    if (attach && kube) {
        p.add(
            "resourceId",
            plain(a.resourceId) ?? "(unresolved Output)",
            "and kubeconfig are mutually exclusive: set resourceId to attach an existing AKS cluster, kubeconfig for any other cluster, or neither to create one",
        );
    }
    const resourceId = plain<unknown>(a.resourceId);
    if (resourceId !== undefined) {
        if (
            typeof resourceId !== "string" ||
            !parseArmIdOfType(resourceId, "Microsoft.ContainerService/managedClusters") ||
            resourceId.split("/").length !== 9
        ) {
            p.add(
                "resourceId",
                resourceId,
                `must be an AKS cluster resource id: ${ARM_ID_SHAPES.managedCluster}`,
            );
        }
    }
    const kubeconfig = plain<unknown>(a.kubeconfig);
    if (kubeconfig !== undefined) {
        if (typeof kubeconfig !== "string" || !looksLikeKubeconfig(kubeconfig)) {
            p.add(
                "kubeconfig",
                REDACTED,
                "must be a kubeconfig document (YAML or JSON with clusters and users)",
            );
        }
    }
    if (mode !== "create") {
        const modeText = mode === "attach" ? "attach mode" : "kubeconfig mode";
        for (const f of CREATE_ONLY_ARGS) {
            if (isSet(a[f])) {
                p.add(
                    f,
                    plain(a[f]) ?? "(unresolved Output)",
                    `is only used when creating a cluster; remove it in ${modeText} (the existing cluster keeps its own setting)`,
                );
            }
        }
        if (mode === "attach" && isSet(a.agentCount)) {
            p.add(
                "agentCount",
                plain(a.agentCount) ?? "(unresolved Output)",
                "is only used when creating a cluster; in attach mode the node count is read from the cluster",
            );
        }
    }
    if (mode === "kubeconfig") {
        for (const [f, why] of Object.entries(NOT_IN_KUBECONFIG_MODE)) {
            if (isSet(a[f])) {
                p.add(
                    f,
                    plain(a[f]) ?? "(unresolved Output)",
                    `is not available in kubeconfig mode: ${why}`,
                );
            }
        }
    }
    const loc = plain<unknown>(a.location);
    if (loc !== undefined && (typeof loc !== "string" || !/^[A-Za-z][A-Za-z0-9 ]*$/.test(loc))) {
        p.add("location", loc, "must be an Azure region name such as westeurope");
    }
    if (mode === "create") {
        if (!isSet(a.location)) p.add("location", undefined, "is required when creating a cluster");
        if (!isSet(a.resourceGroupName)) {
            p.add("resourceGroupName", undefined, "is required when creating a cluster");
        }
    }

    // ---- Structure-deciding args must be plain -----------------------------------------------
    for (const f of [
        "clusterPurpose",
        "loadBalancerType",
        "routerServiceType",
        "routerNamespace",
        "networkPlugin",
        "networkPluginMode",
        "networkPolicy",
        "disableLocalAccounts",
        "defenderEnabled",
        "containerInsightsEnabled",
        "azurePolicyEnabled",
        "grantDeployerClusterAdmin",
        "installNvidiaDevicePlugin",
    ]) {
        structural(p, f, a[f]);
    }

    // ---- Names ------------------------------------------------------------------------------
    const clusterName = plain<unknown>(a.clusterName);
    if (
        clusterName !== undefined &&
        (typeof clusterName !== "string" || !AKS_CLUSTER_NAME.test(clusterName))
    ) {
        p.add(
            "clusterName",
            clusterName,
            "must be 1-63 characters of letters, digits, dashes and underscores, starting and ending with a letter or digit",
        );
    }
    const k8sVersion = plain<unknown>(a.kubernetesVersion);
    if (
        k8sVersion !== undefined &&
        (typeof k8sVersion !== "string" || !/^\d+\.\d+(\.\d+)?$/.test(k8sVersion))
    ) {
        p.add(
            "kubernetesVersion",
            k8sVersion,
            'must be "<major>.<minor>" or "<major>.<minor>.<patch>", e.g. "1.31"',
        );
    }

    // ---- Purpose, size (R9, R10) -----------------------------------------------------------
    const purpose = (oneOf(p, "clusterPurpose", a.clusterPurpose, CLUSTER_PURPOSES) ??
        CLUSTER_DEFAULTS.clusterPurpose) as ClusterPurpose;
    const skuTier =
        oneOf(p, "skuTier", a.skuTier, SKU_TIERS) ?? (purpose === "DevTest" ? "Free" : "Standard");

    let agentCount = plain<unknown>(a.agentCount);
    let agentCountOk = true;
    if (
        agentCount !== undefined &&
        (!Number.isInteger(agentCount) ||
            (agentCount as number) <= 0 ||
            (agentCount as number) > 1000)
    ) {
        p.add("agentCount", agentCount, "must be a whole number from 1 to 1000");
        agentCountOk = false;
    }
    const vmSizeIn = plain<unknown>(a.vmSize);
    let vmSizeOk = true;
    if (
        vmSizeIn !== undefined &&
        (typeof vmSizeIn !== "string" || !/^Standard_[A-Za-z0-9_]+$/i.test(vmSizeIn))
    ) {
        p.add("vmSize", vmSizeIn, 'must be an Azure VM size name such as "Standard_D3_v2"');
        vmSizeOk = false;
    }
    const allowUndersized = bool(p, "allowUndersizedCluster", a.allowUndersizedCluster, false);
    structural(p, "allowUndersizedCluster", a.allowUndersizedCluster);
    const vmCpuCount = plain<unknown>(a.vmCpuCount);
    let vmCpuOk = true;
    if (
        vmCpuCount !== undefined &&
        (!Number.isInteger(vmCpuCount) || (vmCpuCount as number) <= 0)
    ) {
        p.add("vmCpuCount", vmCpuCount, "must be a whole number greater than 0");
        vmCpuOk = false;
    }
    // Defaults apply when creating; in other modes only declared values are known.
    const vmSize =
        mode === "create" && !isSet(a.vmSize)
            ? CLUSTER_DEFAULTS.vmSize
            : (vmSizeIn as string | undefined);
    if (mode === "create" && !isSet(a.agentCount)) agentCount = CLUSTER_DEFAULTS.agentCount;
    const vmSizeKnown =
        vmSizeOk && vmSize !== undefined && (mode === "create" ? !isUnresolved(a.vmSize) : true);
    if (
        mode !== "attach" &&
        vmSizeKnown &&
        agentCountOk &&
        vmCpuOk &&
        typeof agentCount === "number" &&
        typeof vmSize === "string"
    ) {
        const report = checkPurposeSizing(
            purpose,
            vmSize,
            agentCount,
            vmCpuCount as number | undefined,
        );
        for (const sp of report.problems) {
            if (allowUndersized) {
                warnings.push(`allowUndersizedCluster: ${sp.field} ${String(sp.value)} ${sp.rule}`);
            } else {
                p.add(sp.field, sp.value, sp.rule);
            }
        }
        warnings.push(...report.advice);
    }
    const acc = vmSizeKnown && typeof vmSize === "string" ? detectAccelerators(vmSize) : undefined;
    const unresolvedVm = isUnresolved(a.vmSize);
    if (acc?.fpga) {
        // v1's FPGA deployment (Project Brainwave, azureml-accel-models) is retired; we install
        // no FPGA device plugin and AksWebservice has no FPGA setting.
        warnings.push(
            `vmSize "${String(vmSize)}" has FPGAs, but FPGA model services are not supported (v1's ` +
                "Project Brainwave deployment is retired): the nodes serve CPU models only.",
        );
    }

    // ---- Network (R11) -----------------------------------------------------------------------
    const network = resolveNetworkChoice(
        p,
        plain(a.networkPlugin),
        plain(a.networkPluginMode),
        plain(a.networkPolicy),
    );
    const networkPlugin = network.networkPlugin;
    if (mode === "create") validateNetwork(p, a, network);

    // ---- Load balancer and TLS (R6) -----------------------------------------------------------
    const loadBalancerType =
        oneOf(p, "loadBalancerType", a.loadBalancerType, LOAD_BALANCER_TYPES) ??
        CLUSTER_DEFAULTS.loadBalancerType;
    const routerServiceType =
        oneOf(p, "routerServiceType", a.routerServiceType, ROUTER_SERVICE_TYPES) ??
        CLUSTER_DEFAULTS.routerServiceType;
    const internal = loadBalancerType === "InternalLoadBalancer";
    if (mode === "kubeconfig" && internal) {
        p.add(
            "loadBalancerType",
            loadBalancerType,
            "is not available in kubeconfig mode: Azure load balancer annotations are only added on AKS",
        );
    }
    if (isSet(a.loadBalancerSubnet) && !internal) {
        p.add(
            "loadBalancerSubnet",
            plain(a.loadBalancerSubnet) ?? "(unresolved Output)",
            'is only used with loadBalancerType "InternalLoadBalancer"',
        );
    }
    const subnetName = plain<unknown>(a.loadBalancerSubnet);
    if (
        subnetName !== undefined &&
        (typeof subnetName !== "string" || !/^[A-Za-z0-9]([\w.-]{0,78}\w)?$/.test(subnetName))
    ) {
        p.add(
            "loadBalancerSubnet",
            subnetName,
            "must be a subnet name (1-80 letters, digits, '_', '.', '-')",
        );
    }
    const leaf = isSet(a.leafDomainLabel);
    const trio = ["sslCname", "sslCertPem", "sslKeyPem"].filter((f) => isSet(a[f]));
    if (leaf && internal) {
        p.add(
            "leafDomainLabel",
            plain(a.leafDomainLabel) ?? "(unresolved Output)",
            'cannot be used with loadBalancerType "InternalLoadBalancer": an internal endpoint needs a custom certificate (sslCname, sslCertPem, sslKeyPem)',
        );
    }
    if (leaf && trio.length > 0) {
        p.add(
            "leafDomainLabel",
            plain(a.leafDomainLabel) ?? "(unresolved Output)",
            "and the custom certificate (sslCname, sslCertPem, sslKeyPem) are mutually exclusive: use a leaf domain label or your own domain and certificate",
        );
    }
    if (trio.length > 0 && trio.length < 3) {
        for (const f of ["sslCname", "sslCertPem", "sslKeyPem"]) {
            if (!isSet(a[f])) {
                p.add(
                    f,
                    undefined,
                    "is required when any of sslCname, sslCertPem, sslKeyPem is set (custom certificate: give all three)",
                );
            }
        }
    }
    if (isSet(a.overwriteExistingDomain) && !leaf) {
        p.add(
            "overwriteExistingDomain",
            plain(a.overwriteExistingDomain) ?? "(unresolved Output)",
            "is only used with leafDomainLabel",
        );
    }
    bool(p, "overwriteExistingDomain", a.overwriteExistingDomain, false);
    const label = plain<unknown>(a.leafDomainLabel);
    if (label !== undefined && (typeof label !== "string" || !LEAF_DOMAIN_LABEL.test(label))) {
        p.add(
            "leafDomainLabel",
            label,
            "must be 3-63 characters of lowercase letters, digits and dashes, start with a letter and end with a letter or digit",
        );
    }
    const cname = plain<unknown>(a.sslCname);
    if (cname !== undefined && (typeof cname !== "string" || !DNS_NAME.test(cname))) {
        p.add("sslCname", cname, "must be a DNS name such as scoring.example.com");
    }
    const cert = plain<unknown>(a.sslCertPem);
    if (
        cert !== undefined &&
        (typeof cert !== "string" ||
            !/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(cert))
    ) {
        p.add(
            "sslCertPem",
            REDACTED,
            "must be a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)",
        );
    }
    const key = plain<unknown>(a.sslKeyPem);
    if (
        key !== undefined &&
        (typeof key !== "string" ||
            !/-----BEGIN ([A-Z]+ )?PRIVATE KEY-----[\s\S]+-----END ([A-Z]+ )?PRIVATE KEY-----/.test(
                key,
            ))
    ) {
        p.add(
            "sslKeyPem",
            REDACTED,
            "must be a PEM private key (-----BEGIN PRIVATE KEY----- ... -----END PRIVATE KEY-----)",
        );
    }
    if ((internal || leaf) && routerServiceType !== "LoadBalancer") {
        p.add(
            "routerServiceType",
            routerServiceType,
            'must be "LoadBalancer" with loadBalancerType "InternalLoadBalancer" or leafDomainLabel',
        );
    }

    // Keys and tokens travel in clear text over plain HTTP (issue 11 item 6): say so at preview.
    if (leaf) {
        warnings.push(
            "leafDomainLabel gives a plain-HTTP endpoint (v1's Microsoft-issued certificate is not " +
                "available): keys and tokens travel in clear text. For HTTPS use sslCname + sslCertPem + sslKeyPem.",
        );
    } else if (trio.length < 3 && !internal && routerServiceType === "LoadBalancer") {
        warnings.push(
            "The scoring endpoint is plain HTTP on a public IP (the v1 default): keys and tokens travel " +
                "in clear text. Give sslCname + sslCertPem + sslKeyPem for HTTPS, or use " +
                'loadBalancerType "InternalLoadBalancer".',
        );
    }

    // ---- Router --------------------------------------------------------------------------------
    const img = plain<unknown>(a.routerImage);
    if (img !== undefined && (typeof img !== "string" || !IMAGE_REF.test(img))) {
        p.add(
            "routerImage",
            img,
            "must be an image reference such as myacr.azurecr.io/amlaks-router:0.1.0",
        );
    }
    // Without routerImage the component builds the router image and pushes it (router-image.ts).
    if (!isSet(a.routerImage) && !isSet(a.routerImageRegistry) && !isSet(a.acrLoginServer)) {
        p.add(
            "routerImage",
            undefined,
            "is needed when there is no registry to build the router image into: give routerImage, or routerImageRegistry (or acrLoginServer) to have the component build and push it",
        );
    }
    const base = plain<unknown>(a.routerBaseImage);
    if (base !== undefined && (typeof base !== "string" || !IMAGE_REF.test(base))) {
        p.add(
            "routerBaseImage",
            base,
            "must be an image reference such as gcr.io/distroless/nodejs22-debian12:nonroot",
        );
    }
    if (isSet(a.routerImage)) {
        for (const f of [
            "routerImageRegistry",
            "routerImageRegistryUsername",
            "routerImageRegistryPassword",
            "routerBaseImage",
        ]) {
            if (isSet(a[f])) {
                p.add(
                    f,
                    "(set)",
                    "only applies when the component builds the router image: remove routerImage or this field",
                );
            }
        }
    }
    const ns = plain<unknown>(a.routerNamespace);
    if (ns !== undefined && (typeof ns !== "string" || !DNS1123_LABEL.test(ns))) {
        p.add(
            "routerNamespace",
            ns,
            "must be a Kubernetes namespace name (lowercase letters, digits and dashes, at most 63 characters)",
        );
    }
    const routerNs = typeof ns === "string" ? ns : CLUSTER_DEFAULTS.routerNamespace;
    const serviceNamespaces = watchNamespacesProblems(p, a.routerWatchNamespaces, routerNs);

    // ---- Workspace (R8) ------------------------------------------------------------------------
    // v1 programs name the workspace to register the cluster as an `AKS` compute. That API is
    // retired (needs local accounts, makes Azure install a second router): the names are still
    // checked so v1 settings keep working, but nothing is registered (issue 11 item 2).
    const wsName = isSet(a.workspaceName);
    if (wsName || isSet(a.computeName)) {
        warnings.push(
            "workspaceName/computeName no longer register the cluster as a v1 AKS compute of the " +
                "workspace (a retired API that needs local accounts and installs a second router); " +
                "deploy services with AksWebservice, which needs no workspace compute.",
        );
    }
    const wsRg = isSet(a.workspaceResourceGroupName);
    if (mode !== "kubeconfig") {
        if (wsName && !wsRg) {
            p.add(
                "workspaceResourceGroupName",
                undefined,
                "is required with workspaceName (the compute is attached to that workspace)",
            );
        }
        if (wsRg && !wsName) {
            p.add(
                "workspaceName",
                undefined,
                "is required with workspaceResourceGroupName (the compute is attached to that workspace)",
            );
        }
        if (isSet(a.computeName) && !wsName) {
            p.add(
                "computeName",
                plain(a.computeName) ?? "(unresolved Output)",
                "is only used with workspaceName",
            );
        }
    }
    const wsn = plain<unknown>(a.workspaceName);
    if (wsn !== undefined && (typeof wsn !== "string" || !WORKSPACE_NAME.test(wsn))) {
        p.add(
            "workspaceName",
            wsn,
            "must be 3-33 characters of letters, digits, underscores and dashes, starting with a letter or digit",
        );
    }
    const cn = plain<unknown>(a.computeName);
    if (cn !== undefined && (typeof cn !== "string" || !COMPUTE_NAME.test(cn))) {
        p.add(
            "computeName",
            cn,
            "must be 3-24 characters of letters, digits and dashes, start with a letter and end with a letter or digit",
        );
    }
    const acrId = plain<unknown>(a.containerRegistryId);
    if (
        acrId !== undefined &&
        (typeof acrId !== "string" ||
            !parseArmIdOfType(acrId, "Microsoft.ContainerRegistry/registries"))
    ) {
        p.add(
            "containerRegistryId",
            acrId,
            `must be a container registry resource id: ${ARM_ID_SHAPES.containerRegistry}`,
        );
    }
    const acrName = plain<unknown>(a.acrName);
    if (
        acrName !== undefined &&
        (typeof acrName !== "string" || !/^[A-Za-z0-9]{5,50}$/.test(acrName))
    ) {
        p.add(
            "acrName",
            acrName,
            "must be 5-50 letters and digits (a container registry name, without .azurecr.io)",
        );
    }
    const sa = plain<unknown>(a.storageAccountName);
    if (sa !== undefined && (typeof sa !== "string" || !/^[a-z0-9]{3,24}$/.test(sa))) {
        p.add("storageAccountName", sa, "must be 3-24 lowercase letters and digits");
    }

    // ---- Security ------------------------------------------------------------------------------
    const disableLocalAccounts = bool(p, "disableLocalAccounts", a.disableLocalAccounts, true);
    const defenderEnabled = bool(p, "defenderEnabled", a.defenderEnabled, true);
    const containerInsightsEnabled = bool(
        p,
        "containerInsightsEnabled",
        a.containerInsightsEnabled,
        true,
    );
    const azurePolicyEnabled = bool(p, "azurePolicyEnabled", a.azurePolicyEnabled, true);
    const grantDeployerClusterAdmin = bool(
        p,
        "grantDeployerClusterAdmin",
        a.grantDeployerClusterAdmin,
        true,
    );
    const kubeloginMode =
        oneOf(p, "kubeloginMode", a.kubeloginMode, KUBELOGIN_MODES) ??
        CLUSTER_DEFAULTS.kubeloginMode;
    if (mode === "create" && !disableLocalAccounts && isSet(a.kubeloginMode)) {
        p.add(
            "kubeloginMode",
            plain(a.kubeloginMode) ?? "(unresolved Output)",
            "is only used with disableLocalAccounts true (with local accounts the admin kubeconfig is used)",
        );
    }
    const law = plain<unknown>(a.logAnalyticsWorkspaceId);
    if (
        law !== undefined &&
        (typeof law !== "string" ||
            !parseArmIdOfType(law, "Microsoft.OperationalInsights/workspaces"))
    ) {
        p.add(
            "logAnalyticsWorkspaceId",
            law,
            `must be a Log Analytics workspace resource id: ${ARM_ID_SHAPES.logAnalyticsWorkspace}`,
        );
    }
    const groups = plain<unknown>(a.adminGroupObjectIds);
    if (groups !== undefined) {
        if (!Array.isArray(groups)) {
            p.add(
                "adminGroupObjectIds",
                groups,
                "must be a list of Entra ID group object ids (GUIDs)",
            );
        } else {
            groups.forEach((g, i) => {
                const v = plain<unknown>(g);
                if (v !== undefined && (typeof v !== "string" || !GUID.test(v))) {
                    p.add(
                        `adminGroupObjectIds[${i}]`,
                        v,
                        "must be an Entra ID group object id (GUID)",
                    );
                }
            });
        }
    }

    // ---- GPU ---------------------------------------------------------------------------------
    const installPluginIn = plain<unknown>(a.installNvidiaDevicePlugin);
    if (installPluginIn !== undefined && typeof installPluginIn !== "boolean") {
        p.add("installNvidiaDevicePlugin", installPluginIn, "must be true or false");
    }
    const pluginImage = plain<unknown>(a.nvidiaDevicePluginImage);
    if (
        pluginImage !== undefined &&
        (typeof pluginImage !== "string" || !IMAGE_REF.test(pluginImage))
    ) {
        p.add(
            "nvidiaDevicePluginImage",
            pluginImage,
            "must be an image reference such as nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
        );
    }

    p.throwIfAny("AksInferenceCluster args");

    const installNvidiaDevicePlugin =
        typeof installPluginIn === "boolean"
            ? installPluginIn
            : mode === "create"
              ? unresolvedVm
                  ? undefined
                  : (acc?.gpu ?? false)
              : false;
    return {
        mode,
        purpose,
        routerNamespace: (ns as string | undefined) ?? CLUSTER_DEFAULTS.routerNamespace,
        routerServiceType,
        loadBalancerType,
        networkPlugin,
        network,
        tls: trio.length === 3,
        leafDomain: leaf,
        gpu: unresolvedVm ? undefined : (acc?.gpu ?? false),
        fpga: unresolvedVm ? undefined : (acc?.fpga ?? false),
        disableLocalAccounts,
        defenderEnabled,
        containerInsightsEnabled,
        azurePolicyEnabled,
        grantDeployerClusterAdmin,
        installNvidiaDevicePlugin,
        kubeloginMode,
        agentCount: typeof agentCount === "number" ? agentCount : undefined,
        vmSize: typeof vmSize === "string" ? vmSize : undefined,
        skuTier,
        warnings,
        serviceNamespaces: serviceNamespaces ?? [DEFAULT_SERVICE_NAMESPACE],
        createServiceNamespace: serviceNamespaces === undefined,
    };
}

const NAMESPACE_RULE =
    "must be a Kubernetes namespace name (lowercase letters, digits and dashes, at most 63 characters)";

/**
 * `routerWatchNamespaces` (R21, least privilege): a plain, non-empty list of distinct namespace
 * names, without the router's own namespace. Plain because the component creates one Role per
 * namespace. Returns the list, or undefined when not given or invalid.
 */
export function watchNamespacesProblems(
    p: Problems,
    value: unknown,
    routerNamespace: string,
): string[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (isUnresolved(value)) {
        p.add(
            "routerWatchNamespaces",
            "(unresolved Output)",
            "must be a plain list of namespace names: the component creates one Role in each",
        );
        return undefined;
    }
    if (!Array.isArray(value) || value.length === 0) {
        p.add(
            "routerWatchNamespaces",
            value,
            "must be a non-empty list of namespace names (leave it unset for the default namespace)",
        );
        return undefined;
    }
    const seen = new Set<string>();
    let ok = true;
    value.forEach((v: unknown, i) => {
        const field = `routerWatchNamespaces[${i}]`;
        if (typeof v !== "string" || !DNS1123_LABEL.test(v)) {
            p.add(field, isUnresolved(v) ? "(unresolved Output)" : v, NAMESPACE_RULE);
            ok = false;
        } else if (seen.has(v)) {
            p.add(field, v, "is listed twice");
            ok = false;
        } else if (v === routerNamespace) {
            p.add(
                field,
                v,
                "is the router's own namespace: model services need a namespace of their own (the router can read every Secret of a watched namespace)",
            );
            ok = false;
        }
        seen.add(v as string);
    });
    return ok ? (value as string[]) : undefined;
}

/** R11 network rules (create mode). */
function validateNetwork(p: Problems, a: Record<string, unknown>, net: NetworkChoice): void {
    // "azure" below means Azure CNI in subnet mode (pods take subnet addresses, no pod range).
    const azure = !net.usesPodCidr;
    if (net.needsSubnet) {
        for (const f of ["vnetSubnetId", "serviceCidr", "dnsServiceIp"]) {
            if (!isSet(a[f])) {
                p.add(
                    f,
                    undefined,
                    'is required with networkPlugin "azure" in subnet mode (Azure CNI joins an existing subnet: give vnetSubnetId, serviceCidr and dnsServiceIp together, or set networkPluginMode "overlay")',
                );
            }
        }
        if (isSet(a.podCidr)) {
            p.add(
                "podCidr",
                plain(a.podCidr) ?? "(unresolved Output)",
                'is only used with networkPlugin "kubenet" or networkPluginMode "overlay" (Azure CNI in subnet mode gives pods addresses from the subnet)',
            );
        }
    } else {
        // kubenet accepts a custom service range too, but the pair goes together.
        if (isSet(a.serviceCidr) && !isSet(a.dnsServiceIp)) {
            p.add(
                "dnsServiceIp",
                undefined,
                "is required when serviceCidr is set (give both or neither)",
            );
        }
        if (isSet(a.dnsServiceIp) && !isSet(a.serviceCidr)) {
            p.add(
                "serviceCidr",
                undefined,
                "is required when dnsServiceIp is set (give both or neither)",
            );
        }
    }
    if (isSet(a.vnetSubnetAddressPrefix) && !isSet(a.vnetSubnetId)) {
        p.add(
            "vnetSubnetAddressPrefix",
            plain(a.vnetSubnetAddressPrefix) ?? "(unresolved Output)",
            "is only used with vnetSubnetId",
        );
    }
    const subnetId = plain<unknown>(a.vnetSubnetId);
    if (
        subnetId !== undefined &&
        (typeof subnetId !== "string" ||
            !parseArmIdOfType(subnetId, "Microsoft.Network/virtualNetworks/subnets"))
    ) {
        p.add("vnetSubnetId", subnetId, `must be a subnet resource id: ${ARM_ID_SHAPES.subnet}`);
    }

    const cidr = (field: string, aligned: boolean): Cidr | undefined => {
        const v = plain<unknown>(a[field]);
        if (v === undefined) return undefined;
        const c = typeof v === "string" ? parseCidr(v) : undefined;
        if (!c) {
            p.add(field, v, "must be an IPv4 CIDR such as 10.0.0.0/16");
            return undefined;
        }
        if (aligned && !isNetworkAligned(c)) {
            p.add(
                field,
                v,
                `must be a network address: did you mean ${formatIpv4(c.network)}/${c.prefix}?`,
            );
            return undefined;
        }
        return c;
    };
    const service = cidr("serviceCidr", true);
    const pod = azure ? undefined : cidr("podCidr", true);
    const bridge = cidr("dockerBridgeCidr", false); // a bridge address such as 172.17.0.1/16
    const subnet = cidr("vnetSubnetAddressPrefix", false);

    if (service) {
        if (service.prefix < MAX_SERVICE_CIDR_PREFIX_BITS) {
            p.add(
                "serviceCidr",
                service.text,
                `is larger than /${MAX_SERVICE_CIDR_PREFIX_BITS}; Kubernetes allows at most /${MAX_SERVICE_CIDR_PREFIX_BITS} for services`,
            );
        }
        for (const r of AKS_RESERVED_SERVICE_RANGES) {
            if (cidrsOverlap(service, parseCidr(r)!)) {
                p.add(
                    "serviceCidr",
                    service.text,
                    `overlaps ${r}, which AKS reserves; choose another range`,
                );
            }
        }
    }
    const dnsText = plain<unknown>(a.dnsServiceIp);
    if (dnsText !== undefined) {
        const ip = typeof dnsText === "string" ? parseIpv4(dnsText) : undefined;
        if (ip === undefined) {
            p.add("dnsServiceIp", dnsText, "must be an IPv4 address such as 10.0.0.10");
        } else if (service) {
            if (!cidrContains(service, ip)) {
                p.add("dnsServiceIp", dnsText, `must be inside serviceCidr ${service.text}`);
            } else if (
                ip === service.network ||
                ip === service.network + 1 ||
                ip === service.last
            ) {
                p.add(
                    "dnsServiceIp",
                    dnsText,
                    `must not be the network address, the first address (used by the kubernetes service) or the broadcast address of serviceCidr ${service.text}`,
                );
            }
        }
    }

    // Overlaps. When serviceCidr/podCidr are not given, AKS uses its defaults: check those too.
    const serviceForOverlap =
        service ?? (isSet(a.serviceCidr) ? undefined : parseCidr(CLUSTER_DEFAULTS.serviceCidr));
    const serviceLabel = service
        ? `serviceCidr ${service.text}`
        : `the default serviceCidr ${CLUSTER_DEFAULTS.serviceCidr}`;
    const podForOverlap = azure
        ? undefined
        : (pod ?? (isSet(a.podCidr) ? undefined : parseCidr(DEFAULT_KUBENET_POD_CIDR)));
    const podLabel = pod
        ? `podCidr ${pod.text}`
        : `the default podCidr ${DEFAULT_KUBENET_POD_CIDR}`;
    if (pod && serviceForOverlap && cidrsOverlap(pod, serviceForOverlap)) {
        p.add(
            "podCidr",
            pod.text,
            `overlaps ${serviceLabel}; pod and service ranges must be disjoint`,
        );
    } else if (service && !pod && podForOverlap && cidrsOverlap(service, podForOverlap)) {
        p.add(
            "serviceCidr",
            service.text,
            `overlaps ${podLabel}; pod and service ranges must be disjoint`,
        );
    }
    if (bridge) {
        if (serviceForOverlap && cidrsOverlap(bridge, serviceForOverlap)) {
            p.add(
                "dockerBridgeCidr",
                bridge.text,
                `overlaps ${serviceLabel}; the docker bridge must not be in the service range`,
            );
        }
        if (podForOverlap && cidrsOverlap(bridge, podForOverlap)) {
            p.add(
                "dockerBridgeCidr",
                bridge.text,
                `overlaps ${podLabel}; the docker bridge must not be in the pod range`,
            );
        }
        if (subnet && cidrsOverlap(bridge, subnet)) {
            p.add(
                "dockerBridgeCidr",
                bridge.text,
                `overlaps the subnet ${subnet.text} (vnetSubnetAddressPrefix); the docker bridge must not be in any subnet`,
            );
        }
    }
    if (subnet) {
        if (service && cidrsOverlap(subnet, service)) {
            p.add(
                "serviceCidr",
                service.text,
                `overlaps the subnet ${subnet.text} (vnetSubnetAddressPrefix); the service range must not overlap any subnet`,
            );
        } else if (
            !isSet(a.serviceCidr) &&
            serviceForOverlap &&
            cidrsOverlap(subnet, serviceForOverlap)
        ) {
            p.add(
                "vnetSubnetAddressPrefix",
                subnet.text,
                `overlaps the default serviceCidr ${CLUSTER_DEFAULTS.serviceCidr}; set serviceCidr and dnsServiceIp to a range outside the subnet`,
            );
        }
        if (pod && cidrsOverlap(subnet, pod)) {
            p.add(
                "podCidr",
                pod.text,
                `overlaps the subnet ${subnet.text} (vnetSubnetAddressPrefix); the pod range must not overlap the subnet`,
            );
        } else if (
            !azure &&
            !isSet(a.podCidr) &&
            podForOverlap &&
            cidrsOverlap(subnet, podForOverlap)
        ) {
            p.add(
                "vnetSubnetAddressPrefix",
                subnet.text,
                `overlaps the default podCidr ${DEFAULT_KUBENET_POD_CIDR}; set podCidr to a range outside the subnet`,
            );
        }
    }
}
