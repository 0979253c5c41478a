/**
 * AksInferenceCluster (R8–R11, R18–R23, R39): an AKS inference cluster, created or attached, or
 * any Kubernetes cluster through a kubeconfig, with the amlaks router installed into it.
 */
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as monitor from "@pulumi/azure-native/monitor";
import * as operationalinsights from "@pulumi/azure-native/operationalinsights";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { parseArmId } from "./arm-id";
import { AksInferenceClusterArgs } from "./args";
import { DEFAULT_NVIDIA_DEVICE_PLUGIN_IMAGE, renderNvidiaDevicePlugin } from "./gpu";
import { computeRequiredHosts, normalizeRegion, RequiredHost } from "./hosts";
import { decodeKubeconfig, kubeconfigClusterIdentifier, setKubeloginMode } from "./kubeconfig";
import { deriveAksClusterName, deriveDnsPrefix } from "./names";
import { routerImage } from "./router-image";
import { installRouter, RouterRenderConfig, routerProfile } from "./router-install";
import { ROUTER_NAME } from "./router-rbac";
import { checkPurposeSizing, detectAccelerators, lookupVmSku } from "./sizing";
import {
    CONTAINER_INSIGHTS_ASSOCIATION,
    containerInsightsRule,
    containerInsightsRuleName,
} from "./monitoring";
import { subscriptionProvider } from "./subscription-provider";
import { withWorkspace } from "./workspace-link";
import { CLUSTER_DEFAULTS, ResolvedClusterArgs, validateAksInferenceClusterArgs } from "./validate";

export * from "./args";

/** Built-in role "Azure Kubernetes Service RBAC Cluster Admin". */
export const AKS_RBAC_CLUSTER_ADMIN_ROLE_ID = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b";
/** Built-in role "Network Contributor". */
export const NETWORK_CONTRIBUTOR_ROLE_ID = "4d97b98b-1d4f-4787-a291-c67834d212e7";
/** Built-in role "AcrPull". */
export const ACR_PULL_ROLE_ID = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

/** What the cluster looks like, whichever mode produced it. */
interface ClusterFacts {
    id: pulumi.Output<string>;
    name: pulumi.Output<string>;
    location: pulumi.Output<string>;
    fqdn: pulumi.Output<string>;
    kubeletObjectId?: pulumi.Output<string | undefined>;
    gpu: pulumi.Output<boolean>;
    fpga: pulumi.Output<boolean>;
    nodeCount?: pulumi.Input<number>;
    kubeconfig: pulumi.Output<string>;
    clusterIdentifier: pulumi.Output<string>;
    dependsOn: pulumi.Resource[];
}

/**
 * An inference cluster with the amlaks router. Modes:
 * - create (default): a new AKS cluster with secure defaults (Entra ID + Azure RBAC, local
 *   accounts disabled, Defender for Containers, Container Insights, Azure Policy, auto-upgrade);
 * - attach (`resourceId`): an existing AKS cluster, unchanged;
 * - kubeconfig (`kubeconfig`): any Kubernetes cluster, without Azure features.
 * The cluster is never registered as a v1 `AKS` compute of the workspace: that API is retired,
 * needs local accounts and makes Azure install a second router (issue 11 item 2).
 */
export class AksInferenceCluster extends pulumi.ComponentResource {
    /** Kubernetes provider for this cluster (stable: replaced only when the cluster is). */
    public readonly kubeProvider: k8s.Provider;
    /** Kubeconfig (secret). In create/attach modes with Entra ID it calls `kubelogin`. */
    public readonly kubeconfig: pulumi.Output<string>;
    /** ARM id of the AKS cluster; `kubeconfig-<hash>` in kubeconfig mode. */
    public readonly clusterId: pulumi.Output<string>;
    /** AKS cluster name; "" in kubeconfig mode. */
    public readonly clusterName: pulumi.Output<string>;
    /** AKS API server FQDN; "" in kubeconfig mode. */
    public readonly clusterFqdn: pulumi.Output<string>;
    /** `DevTest`, `FastProd` or `DenseProd`. */
    public readonly clusterPurpose: pulumi.Output<string>;
    /** Azure region of the cluster ("" in kubeconfig mode without `location`). */
    public readonly location: pulumi.Output<string>;
    /** True when the node SKU has NVIDIA GPUs (R9). */
    public readonly gpuEnabled: pulumi.Output<boolean>;
    /**
     * True when the node SKU has FPGAs (R9). Informational only: FPGA model services are not
     * supported (v1's Project Brainwave deployment is retired; no FPGA device plugin is installed).
     */
    public readonly fpgaEnabled: pulumi.Output<boolean>;
    /** Namespace of the router. */
    public readonly routerNamespace: pulumi.Output<string>;
    /** Namespaces where model services may live (the router watches these and only these). */
    public readonly serviceNamespaces: pulumi.Output<string[]>;
    /** The router image the Deployment runs (built by the component unless `routerImage` was given). */
    public readonly routerImage: pulumi.Output<string>;
    /** Name of the router Service. */
    public readonly routerServiceName: pulumi.Output<string>;
    /**
     * Base URL of the scoring endpoint: `https://<sslCname>`, `http://<label>.<region>.cloudapp.azure.com`,
     * or `http://<load balancer IP>`; "" when the router Service has no external address.
     */
    public readonly scoringBaseUrl: pulumi.Output<string>;
    /** Hosts the cluster must resolve and reach (R23). */
    public readonly requiredHosts: pulumi.Output<RequiredHost[]>;

    /**
     * Whether the nodes have NVIDIA GPUs, as a plain value when known at construction (the VM
     * size is a plain value, or declared): `AksWebservice` then refuses a GPU service on a CPU
     * cluster before registering anything. `undefined` when only known at deploy time.
     */
    public readonly gpuKnown: boolean | undefined;
    /** Node VM size when known at construction (create default, or declared); else undefined. */
    public readonly vmSize: string | undefined;
    /**
     * Kubernetes version when given as a plain value at creation; undefined otherwise. Web
     * services pick their preStop action from it (native sleep needs 1.30).
     */
    public readonly kubernetesVersion: string | undefined;
    /** Application Insights connection string of `workspace` (secret); undefined without it. */
    public readonly appInsightsConnectionString: pulumi.Output<string> | undefined;

    constructor(
        name: string,
        argsIn: AksInferenceClusterArgs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        // The `workspace` shorthand fills unset args; then validate before anything is
        // registered (not even this component).
        const args = withWorkspace(argsIn);
        const cfg = validateAksInferenceClusterArgs(args);
        super("amlaks:index:AksInferenceCluster", name, {}, opts);
        for (const w of cfg.warnings) void pulumi.log.warn(w, this);

        if (args.dockerBridgeCidr !== undefined) {
            void pulumi.log.warn(
                "dockerBridgeCidr is deprecated by AKS and no longer sent; it was only checked for overlaps.",
                this,
            );
        }

        const facts =
            cfg.mode === "create"
                ? this.createCluster(name, args, cfg)
                : cfg.mode === "attach"
                  ? this.attachCluster(name, args, cfg)
                  : this.useKubeconfig(args, cfg);

        this.kubeconfig = pulumi.secret(facts.kubeconfig);
        this.kubeProvider = new k8s.Provider(
            `${name}-k8s`,
            {
                kubeconfig: this.kubeconfig,
                clusterIdentifier: facts.clusterIdentifier,
                // Key rotation updates the auth Secret in place. By default the provider replaces a
                // Secret whose data changed (delete, then create: the name is fixed), and for that
                // moment the router has no keys (R36: rotating one key must not fail the other).
                enableSecretMutable: true,
            },
            { parent: this },
        );

        // AcrPull for the kubelet identity, so nodes pull model images without credentials.
        if (args.containerRegistryId !== undefined && facts.kubeletObjectId) {
            const acr = new authorization.RoleAssignment(
                `${name}-acr-pull`,
                {
                    principalId: facts.kubeletObjectId.apply((id) => id ?? ""),
                    principalType: "ServicePrincipal",
                    roleDefinitionId: pulumi
                        .output(args.containerRegistryId)
                        .apply(
                            (id) =>
                                `/subscriptions/${parseArmId(id)?.subscriptionId ?? ""}/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL_ROLE_ID}`,
                        ),
                    scope: args.containerRegistryId,
                },
                { parent: this },
            );
            facts.dependsOn.push(acr);
        }

        // The router (R18-R21).
        const maxReplicas =
            cfg.purpose === "DevTest"
                ? undefined
                : facts.nodeCount === undefined
                  ? routerProfile(cfg.purpose).autoscale?.max
                  : pulumi
                        .output(facts.nodeCount)
                        .apply((n) => routerProfile(cfg.purpose, n).autoscale?.max ?? 3);
        // Rolls router pods when the certificate changes. Hash of the certificate only (public;
        // a new key always comes with a new certificate), so nothing secret leaves the secret.
        const tlsChecksum = cfg.tls
            ? pulumi.unsecret(
                  pulumi
                      .output(args.sslCertPem!)
                      .apply((c) => createHash("sha256").update(c).digest("hex")),
              )
            : undefined;
        // No routerImage: build it from the installed package into the cluster's registry,
        // content-hash tagged and reused while unchanged (never built during preview).
        const image: pulumi.Input<string> =
            args.routerImage ??
            routerImage(
                name,
                {
                    registryServer: (args.routerImageRegistry ?? args.acrLoginServer)!,
                    registryUsername: args.routerImageRegistryUsername,
                    registryPassword: args.routerImageRegistryPassword,
                    baseImage: args.routerBaseImage,
                },
                { parent: this },
            ).imageRef;
        const renderCfg: RouterRenderConfig = {
            namespace: cfg.routerNamespace,
            purpose: cfg.purpose,
            image,
            tls: cfg.tls,
            serviceType: cfg.routerServiceType,
            loadBalancerType: cfg.loadBalancerType,
            loadBalancerSubnet: args.loadBalancerSubnet,
            leafDomainLabel: args.leafDomainLabel,
            azureAnnotations: cfg.mode !== "kubeconfig",
            serviceNamespaces: cfg.serviceNamespaces,
            createServiceNamespace: cfg.createServiceNamespace,
            maxReplicas,
            tlsChecksum,
        };
        const router = installRouter(
            name,
            renderCfg,
            cfg.tls
                ? {
                      certPem: pulumi.secret(args.sslCertPem!),
                      keyPem: pulumi.secret(args.sslKeyPem!),
                  }
                : undefined,
            { parent: this, provider: this.kubeProvider, dependsOn: facts.dependsOn },
        );

        // NVIDIA device plugin for GPU SKUs (R7, R9).
        const pluginImage = args.nvidiaDevicePluginImage ?? DEFAULT_NVIDIA_DEVICE_PLUGIN_IMAGE;
        if (cfg.installNvidiaDevicePlugin === undefined) {
            void pulumi.log.warn(
                "vmSize is an unresolved Output, so GPU support cannot be detected before deployment; " +
                    "set installNvidiaDevicePlugin explicitly for GPU SKUs.",
                this,
            );
        }
        if (cfg.installNvidiaDevicePlugin === true) {
            new k8s.apps.v1.DaemonSet(
                `${name}-nvidia-device-plugin`,
                renderNvidiaDevicePlugin(pluginImage, cfg.routerNamespace),
                { parent: this, provider: this.kubeProvider, dependsOn: facts.dependsOn },
            );
        }

        // Outputs.
        const service = router.service;
        let scoringBaseUrl: pulumi.Output<string>;
        if (cfg.tls) {
            scoringBaseUrl = pulumi.interpolate`https://${args.sslCname!}`;
        } else if (cfg.leafDomain) {
            scoringBaseUrl = pulumi
                .all([args.leafDomainLabel!, facts.location])
                .apply(([l, r]) => `http://${l}.${normalizeRegion(r)}.cloudapp.azure.com`);
        } else if (cfg.routerServiceType === "LoadBalancer") {
            scoringBaseUrl = service.status.apply((s) => {
                const ingress = s?.loadBalancer?.ingress?.[0];
                const host = ingress?.ip ?? ingress?.hostname;
                return host ? `http://${host}` : "";
            });
        } else {
            scoringBaseUrl = pulumi.output("");
        }

        this.gpuKnown = cfg.mode === "attach" && cfg.vmSize === undefined ? undefined : cfg.gpu;
        this.vmSize = cfg.vmSize;
        this.kubernetesVersion =
            typeof args.kubernetesVersion === "string" ? args.kubernetesVersion : undefined;
        this.appInsightsConnectionString = argsIn.workspace
            ? pulumi.secret(argsIn.workspace.applicationInsightsConnectionString)
            : undefined;
        this.clusterId = facts.id;
        this.clusterName = facts.name;
        this.clusterFqdn = facts.fqdn;
        this.clusterPurpose = pulumi.output(cfg.purpose);
        this.location = facts.location;
        this.gpuEnabled = facts.gpu;
        this.fpgaEnabled = facts.fpga;
        this.routerNamespace = pulumi.output(cfg.routerNamespace);
        // Carries the created namespace and the router's RoleBindings as dependencies, so a web
        // service that waits on this list is created after them (first `pulumi up` ordering).
        this.serviceNamespaces = pulumi
            .all([
                ...router.serviceNamespaces.map((n) => n.metadata.name),
                ...router.serviceBindings.map((b) => b.urn),
            ])
            .apply(() => [...cfg.serviceNamespaces]);
        this.routerImage = pulumi.output(image);
        this.routerServiceName = pulumi.output(ROUTER_NAME);
        this.scoringBaseUrl = scoringBaseUrl;
        this.requiredHosts = pulumi
            .all([
                facts.fqdn,
                facts.location,
                args.acrName,
                args.acrLoginServer,
                args.storageAccountName,
                args.leafDomainLabel,
                image,
                cfg.installNvidiaDevicePlugin ? pluginImage : undefined,
            ])
            .apply(([fqdn, region, acrName, acrLoginServer, sa, label, routerImage, plugin]) =>
                computeRequiredHosts({
                    clusterFqdn: fqdn || undefined,
                    region: region || undefined,
                    acrName,
                    acrLoginServer: acrLoginServer ? hostOf(acrLoginServer) : undefined,
                    storageAccountName: sa,
                    leafDomainLabel: label,
                    customDomain: cfg.tls,
                    routerImage,
                    extraImages: plugin ? [plugin] : [],
                }),
            );

        this.registerOutputs({
            kubeProvider: this.kubeProvider,
            kubeconfig: this.kubeconfig,
            clusterId: this.clusterId,
            clusterName: this.clusterName,
            clusterFqdn: this.clusterFqdn,
            clusterPurpose: this.clusterPurpose,
            location: this.location,
            gpuEnabled: this.gpuEnabled,
            fpgaEnabled: this.fpgaEnabled,
            routerNamespace: this.routerNamespace,
            serviceNamespaces: this.serviceNamespaces,
            routerImage: this.routerImage,
            routerServiceName: this.routerServiceName,
            scoringBaseUrl: this.scoringBaseUrl,
            requiredHosts: this.requiredHosts,
        });
    }

    /** Create mode: a new AKS cluster with secure defaults. */
    private createCluster(
        name: string,
        args: AksInferenceClusterArgs,
        cfg: ResolvedClusterArgs,
    ): ClusterFacts {
        const location = args.location!;
        const resourceGroupName = args.resourceGroupName!;
        let logAnalyticsId: pulumi.Input<string> | undefined = args.logAnalyticsWorkspaceId;
        if (logAnalyticsId === undefined && (cfg.defenderEnabled || cfg.containerInsightsEnabled)) {
            // Defender (R39) and Container Insights (R22) both need a Log Analytics workspace.
            logAnalyticsId = new operationalinsights.Workspace(
                `${name}-logs`,
                {
                    resourceGroupName,
                    location,
                    sku: { name: "PerGB2018" },
                    retentionInDays: 30,
                    tags: args.tags,
                },
                { parent: this },
            ).id;
        }
        const clusterName = args.clusterName ?? deriveAksClusterName(name);
        const networkRoleDefinition = (subnetId: pulumi.Input<string>) =>
            pulumi
                .output(subnetId)
                .apply(
                    (id) =>
                        `/subscriptions/${parseArmId(id)?.subscriptionId ?? ""}/providers/Microsoft.Authorization/roleDefinitions/${NETWORK_CONTRIBUTOR_ROLE_ID}`,
                );
        // S9: the cluster identity needs Network Contributor on its subnet (load balancers,
        // internal IPs), or on the VNet when an internal load balancer goes to another subnet
        // (loadBalancerSubnet). The Azure CLI grants it; ARM does not, so we do.
        const networkScope = (subnetId: pulumi.Input<string>) =>
            args.loadBalancerSubnet ? pulumi.output(subnetId).apply(vnetOfSubnet) : subnetId;
        // kubenet in your own subnet writes the route table while the cluster is created, so its
        // identity must hold the role BEFORE creation: a user-assigned identity granted first
        // (a system-assigned one only exists once the cluster does; issue 11 item 4).
        let preGranted: authorization.RoleAssignment | undefined;
        let clusterIdentity: containerservice.ManagedClusterArgs["identity"] = {
            type: "SystemAssigned",
        };
        if (args.vnetSubnetId !== undefined && cfg.network.networkPlugin === "kubenet") {
            const uai = new managedidentity.UserAssignedIdentity(
                `${name}-identity`,
                { resourceGroupName, location, tags: args.tags },
                { parent: this },
            );
            preGranted = new authorization.RoleAssignment(
                `${name}-subnet-network`,
                {
                    principalId: uai.principalId,
                    principalType: "ServicePrincipal",
                    roleDefinitionId: networkRoleDefinition(args.vnetSubnetId),
                    scope: networkScope(args.vnetSubnetId),
                },
                { parent: this },
            );
            clusterIdentity = { type: "UserAssigned", userAssignedIdentities: [uai.id] };
        }
        const cluster = new containerservice.ManagedCluster(
            `${name}-aks`,
            {
                resourceGroupName,
                resourceName: clusterName,
                location,
                dnsPrefix: pulumi.output(clusterName).apply(deriveDnsPrefix),
                kubernetesVersion: args.kubernetesVersion,
                identity: clusterIdentity,
                sku: { name: "Base", tier: cfg.skuTier },
                enableRBAC: true,
                aadProfile: {
                    managed: true,
                    enableAzureRBAC: true,
                    adminGroupObjectIDs: args.adminGroupObjectIds,
                },
                disableLocalAccounts: cfg.disableLocalAccounts,
                autoUpgradeProfile: { upgradeChannel: "stable", nodeOSUpgradeChannel: "NodeImage" },
                agentPoolProfiles: [
                    {
                        name: "system",
                        mode: "System",
                        type: "VirtualMachineScaleSets",
                        osType: "Linux",
                        count: args.agentCount ?? CLUSTER_DEFAULTS.agentCount,
                        vmSize: args.vmSize ?? CLUSTER_DEFAULTS.vmSize,
                        vnetSubnetID: args.vnetSubnetId,
                    },
                ],
                networkProfile: {
                    // A policy engine is always set: without one the model services'
                    // NetworkPolicies are not enforced (issue 11 item 1, network-profile.ts).
                    networkPlugin: cfg.network.networkPlugin,
                    networkPluginMode:
                        cfg.network.networkPluginMode === "overlay" ? "overlay" : undefined,
                    networkPolicy: cfg.network.networkPolicy,
                    networkDataplane: cfg.network.networkDataplane,
                    serviceCidr: args.serviceCidr,
                    dnsServiceIP: args.dnsServiceIp,
                    podCidr: cfg.network.usesPodCidr ? args.podCidr : undefined,
                    loadBalancerSku: "standard",
                    outboundType: "loadBalancer",
                },
                addonProfiles: {
                    omsagent: cfg.containerInsightsEnabled
                        ? {
                              enabled: true,
                              config: {
                                  logAnalyticsWorkspaceResourceID: logAnalyticsId!,
                                  useAADAuth: "true",
                              },
                          }
                        : { enabled: false },
                    azurepolicy: { enabled: cfg.azurePolicyEnabled },
                },
                securityProfile: cfg.defenderEnabled
                    ? {
                          defender: {
                              logAnalyticsWorkspaceResourceId: logAnalyticsId,
                              securityMonitoring: { enabled: true },
                          },
                      }
                    : undefined,
                tags: args.tags,
            },
            {
                parent: this,
                dependsOn: preGranted ? [preGranted] : [],
                // Auto-upgrade (channel "stable") moves the version; do not fight it on every up
                // (pulumi-azure-native#2059). kubernetesVersion is therefore create-only.
                ignoreChanges: ["kubernetesVersion", "agentPoolProfiles[*].orchestratorVersion"],
            },
        );

        const dependsOn: pulumi.Resource[] = [cluster];
        if (cfg.containerInsightsEnabled) {
            // R22: with Entra auth the agent collects nothing without a rule and its association.
            const body = pulumi.output(logAnalyticsId!).apply(containerInsightsRule);
            const rule = new monitor.DataCollectionRule(
                `${name}-insights-dcr`,
                {
                    resourceGroupName,
                    location,
                    dataCollectionRuleName: pulumi
                        .all([location, cluster.name])
                        .apply(([l, c]) => containerInsightsRuleName(l, c)),
                    kind: body.kind,
                    dataSources: body.dataSources,
                    destinations: body.destinations,
                    dataFlows: body.dataFlows,
                    tags: args.tags,
                },
                { parent: this },
            );
            new monitor.DataCollectionRuleAssociation(
                `${name}-insights-dcra`,
                {
                    associationName: CONTAINER_INSIGHTS_ASSOCIATION,
                    resourceUri: cluster.id,
                    dataCollectionRuleId: rule.id,
                },
                { parent: this },
            );
        }
        if (preGranted) {
            dependsOn.push(preGranted);
        } else if (args.vnetSubnetId !== undefined) {
            dependsOn.push(
                new authorization.RoleAssignment(
                    `${name}-subnet-network`,
                    {
                        principalId: cluster.identity.apply((i) => i?.principalId ?? ""),
                        principalType: "ServicePrincipal",
                        roleDefinitionId: networkRoleDefinition(args.vnetSubnetId),
                        scope: networkScope(args.vnetSubnetId),
                    },
                    { parent: this },
                ),
            );
        }
        if (cfg.grantDeployerClusterAdmin) {
            // Under Azure RBAC nobody has Kubernetes rights by default, not even the creator.
            const client = authorization.getClientConfigOutput({ parent: this });
            dependsOn.push(
                new authorization.RoleAssignment(
                    `${name}-deployer-admin`,
                    {
                        principalId: client.objectId,
                        roleDefinitionId: pulumi.interpolate`/subscriptions/${client.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${AKS_RBAC_CLUSTER_ADMIN_ROLE_ID}`,
                        scope: cluster.id,
                    },
                    { parent: this },
                ),
            );
        }

        const kubeconfig = credentials(
            resourceGroupName,
            cluster.name,
            cfg.disableLocalAccounts ? "user" : "admin",
            cfg.kubeloginMode,
            this,
        );
        return {
            id: cluster.id,
            name: cluster.name,
            location: pulumi.output(location),
            fqdn: pulumi.all([cluster.fqdn, cluster.privateFQDN]).apply(([f, p]) => f || p || ""),
            kubeletObjectId: cluster.identityProfile.apply((p) => p?.kubeletidentity?.objectId),
            gpu: pulumi.output(
                cfg.gpu ?? pulumi.output(args.vmSize!).apply((v) => detectAccelerators(v).gpu),
            ),
            fpga: pulumi.output(
                cfg.fpga ?? pulumi.output(args.vmSize!).apply((v) => detectAccelerators(v).fpga),
            ),
            nodeCount: args.agentCount ?? CLUSTER_DEFAULTS.agentCount,
            kubeconfig,
            clusterIdentifier: cluster.id,
            dependsOn,
        };
    }

    /** Attach mode: an existing AKS cluster, read through the AKS API, never modified. */
    private attachCluster(
        name: string,
        args: AksInferenceClusterArgs,
        cfg: ResolvedClusterArgs,
    ): ClusterFacts {
        const id = pulumi.output(args.resourceId!);
        const parts = id.apply((i) => parseArmId(i)!);
        // The cluster is read in the subscription its id names, not the default provider's.
        const provider = subscriptionProvider(
            `${name}-azure`,
            parts.apply((p) => p.subscriptionId),
            this,
        );
        const aks = containerservice.getManagedClusterOutput(
            {
                resourceGroupName: parts.resourceGroupName,
                resourceName: parts.name,
            },
            { parent: this, provider },
        );
        const pools = aks.apply((r) => r.agentPoolProfiles ?? []);
        const nodeCount = pools.apply((p) => p.reduce((sum, pool) => sum + (pool.count ?? 0), 0));
        const declared = cfg.vmSize;
        const skus = pools.apply((p) =>
            declared ? [declared] : p.map((pool) => pool.vmSize ?? ""),
        );

        // Sizing of an existing cluster is only known now: warn, as v1 checked it service-side.
        pulumi.all([pools, nodeCount]).apply(([p, n]) => {
            const vmSize = declared ?? p[0]?.vmSize;
            if (!vmSize) return;
            const cpu = args.vmCpuCount;
            const vcpus = typeof cpu === "number" ? cpu : lookupVmSku(vmSize)?.vcpus;
            const report = checkPurposeSizing(cfg.purpose, vmSize, n, vcpus);
            for (const sp of report.problems) {
                void pulumi.log.warn(
                    `The attached cluster (${n} x ${vmSize}) does not meet the ${cfg.purpose} sizing rule: ${sp.field} ${sp.rule}`,
                    this,
                );
            }
        });

        const kubeconfig = credentials(
            parts.resourceGroupName,
            parts.name,
            "user",
            cfg.kubeloginMode,
            this,
            provider,
        );
        return {
            id: aks.id,
            name: aks.name,
            location: args.location !== undefined ? pulumi.output(args.location) : aks.location,
            fqdn: pulumi.all([aks.fqdn, aks.privateFQDN]).apply(([f, p]) => f || p || ""),
            kubeletObjectId: aks.apply((r) => r.identityProfile?.kubeletidentity?.objectId),
            gpu: skus.apply((s) => s.some((v) => detectAccelerators(v).gpu)),
            fpga: skus.apply((s) => s.some((v) => detectAccelerators(v).fpga)),
            nodeCount,
            kubeconfig,
            clusterIdentifier: id,
            dependsOn: [],
        };
    }

    /** Kubeconfig mode: any cluster; no Azure API is called. */
    private useKubeconfig(args: AksInferenceClusterArgs, cfg: ResolvedClusterArgs): ClusterFacts {
        const kubeconfig = pulumi.secret(args.kubeconfig!);
        const identifier = pulumi.unsecret(kubeconfig.apply(kubeconfigClusterIdentifier));
        return {
            id: identifier,
            name: pulumi.output(""),
            location: pulumi.output(args.location ?? ""),
            fqdn: pulumi.output(""),
            gpu: pulumi.output(cfg.gpu ?? false),
            fpga: pulumi.output(cfg.fpga ?? false),
            nodeCount: cfg.agentCount,
            kubeconfig,
            clusterIdentifier: identifier,
            dependsOn: [],
        };
    }
}

/** The VNet id of a subnet id (`.../virtualNetworks/<vnet>/subnets/<subnet>` → `.../virtualNetworks/<vnet>`). */
export function vnetOfSubnet(subnetId: string): string {
    return subnetId.replace(/\/subnets\/[^/]+\/?$/i, "");
}

/** Host name of a login server or URL (`https://x.azurecr.io/` → `x.azurecr.io`). */
function hostOf(server: string): string {
    return server.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
}

/**
 * Kubeconfig from the AKS API: user credentials in `exec` format (kubelogin, no secret in it)
 * with the chosen login method, or the admin (client certificate) kubeconfig when local accounts
 * are enabled. Always a secret.
 */
function credentials(
    resourceGroupName: pulumi.Input<string>,
    clusterName: pulumi.Input<string>,
    kind: "user" | "admin",
    kubeloginMode: string,
    parent: pulumi.Resource,
    provider?: pulumi.ProviderResource,
): pulumi.Output<string> {
    const result =
        kind === "user"
            ? containerservice.listManagedClusterUserCredentialsOutput(
                  { resourceGroupName, resourceName: clusterName, format: "exec" },
                  { parent, provider },
              )
            : containerservice.listManagedClusterAdminCredentialsOutput(
                  { resourceGroupName, resourceName: clusterName },
                  { parent, provider },
              );
    return pulumi.secret(
        result.kubeconfigs.apply((list) => {
            const text = decodeKubeconfig(list?.[0]?.value ?? "");
            return kind === "user" ? setKubeloginMode(text, kubeloginMode) : text;
        }),
    );
}
