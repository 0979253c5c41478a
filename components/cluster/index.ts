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
import { parseArmId, requireArmId } from "../common/arm-id";
import { AksInferenceClusterArgs } from "./args";
import { renderNvidiaDevicePlugin } from "./gpu";
import { computeRequiredHosts, normalizeRegion, RequiredHost } from "./hosts";
import { decodeKubeconfig, kubeconfigClusterIdentifier, setKubeloginMode } from "./kubeconfig";
import {
    CREATE_ACCESS_WAIT,
    EXISTING_ACCESS_WAIT,
    installAccessChecks,
    kubeconfigAfterAccess,
} from "./access-wait";
import {
    attachedIssuer,
    installModelDataIdentity,
    modelDataAccountName,
    resolveModelData,
    withWorkloadIdentity,
} from "./model-data";
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
import { CLUSTER_DEFAULTS } from "./defaults";
import {
    ResolvedAttachArgs,
    ResolvedCreateArgs,
    ResolvedKubeconfigArgs,
    validateAksInferenceClusterArgs,
} from "./validate";

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
    /** AKS only: the cluster's OIDC issuer URL (model data collection's federated identity). */
    oidcIssuer?: () => pulumi.Output<string>;
    /** AKS only: resource group (and, attach mode, Azure provider) of the cluster. */
    resourceGroupName?: pulumi.Input<string>;
    azureProvider?: pulumi.ProviderResource;
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
/** Each cluster's Kubernetes provider, held here so it is not a class property (see kubeProvider). */
const kubeProviders = new WeakMap<AksInferenceCluster, k8s.Provider>();

export class AksInferenceCluster extends pulumi.ComponentResource {
    /**
     * Kubernetes provider for this cluster (stable: replaced only when the cluster is). An
     * accessor, not a property, so that the inferred multi-language schema leaves it out (it
     * cannot express provider references): other languages make a provider from `kubeconfig`.
     */
    get kubeProvider(): k8s.Provider {
        return kubeProviders.get(this)!;
    }
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
    /**
     * Application Insights connection string (secret) the router exports to: the
     * `appInsightsConnectionString` arg, else the `workspace`'s; undefined without either.
     */
    public readonly appInsightsConnectionString: pulumi.Output<string> | undefined;

    constructor(
        name: string,
        args: AksInferenceClusterArgs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        // The `workspace` shorthand fills unset args; then validate before anything is
        // registered (not even this component).
        const workspace = args?.workspace;
        args = withWorkspace(args);
        const cfg = validateAksInferenceClusterArgs(args);
        super("amlaks:index:AksInferenceCluster", name, {}, opts);
        for (const w of cfg.warnings) void pulumi.log.warn(w, this);

        if (args.dockerBridgeCidr !== undefined) {
            void pulumi.log.warn(
                "dockerBridgeCidr is deprecated by AKS and no longer sent; it was only checked for overlaps.",
                this,
            );
        }

        // Model data collection (model-data.ts): the workspace's storage account, or the arg's.
        const modelData = resolveModelData(args, cfg.mode);
        const facts =
            cfg.mode === "create"
                ? this.createCluster(name, args, cfg, modelData !== undefined)
                : cfg.mode === "attach"
                  ? this.attachCluster(name, cfg)
                  : this.useKubeconfig(cfg);

        this.kubeconfig = pulumi.secret(facts.kubeconfig);
        // Issue 11 item 4: no Kubernetes object before the deployer's rights took effect.
        const accessChecks = installAccessChecks(cfg.routerNamespace, cfg.serviceNamespaces);
        const providerKubeconfig =
            cfg.mode === "create"
                ? kubeconfigAfterAccess(
                      this.kubeconfig,
                      facts.dependsOn.filter(
                          (r): r is pulumi.CustomResource => r instanceof pulumi.CustomResource,
                      ),
                      accessChecks,
                      CREATE_ACCESS_WAIT,
                      "The deployer gets 'Azure Kubernetes Service RBAC Cluster Admin' on the cluster " +
                          "(grantDeployerClusterAdmin); check that assignment, or grant the identity running " +
                          "pulumi these rights and run `pulumi up` again.",
                      this,
                  )
                : kubeconfigAfterAccess(
                      this.kubeconfig,
                      [],
                      accessChecks,
                      EXISTING_ACCESS_WAIT,
                      "The kubeconfig's user must hold these rights (for example the cluster-admin " +
                          "ClusterRole, or a Role granting them in each namespace).",
                      this,
                  );
        kubeProviders.set(
            this,
            new k8s.Provider(
                `${name}-k8s`,
                {
                    kubeconfig: providerKubeconfig,
                    clusterIdentifier: facts.clusterIdentifier,
                    // Key rotation updates the auth Secret in place. By default the provider
                    // replaces a Secret whose data changed (delete, then create: the name is
                    // fixed), and for that moment the router has no keys (R36: rotating one key
                    // must not fail the other).
                    enableSecretMutable: true,
                },
                { parent: this },
            ),
        );

        // AcrPull for the kubelet identity, so nodes pull model images without credentials.
        const registryId = cfg.containerRegistryId;
        if (registryId !== undefined && facts.kubeletObjectId) {
            const acr = new authorization.RoleAssignment(
                `${name}-acr-pull`,
                {
                    principalId: facts.kubeletObjectId.apply((id) => id ?? ""),
                    principalType: "ServicePrincipal",
                    roleDefinitionId: pulumi
                        .output(registryId)
                        .apply(
                            (id) =>
                                `/subscriptions/${parseArmId(id)?.subscriptionId ?? ""}/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL_ROLE_ID}`,
                        ),
                    scope: registryId,
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
                      .output(cfg.tls.certPem)
                      .apply((c) => createHash("sha256").update(c).digest("hex")),
              )
            : undefined;
        // No routerImage: build it from the installed package into the cluster's registry,
        // content-hash tagged and reused while unchanged (never built during preview).
        const source = cfg.routerImage;
        const image: pulumi.Input<string> =
            source.kind === "given"
                ? source.imageRef
                : routerImage(
                      name,
                      {
                          registryServer: source.registryServer,
                          registryUsername: source.registryUsername,
                          registryPassword: source.registryPassword,
                          baseImage: source.baseImage,
                      },
                      { parent: this },
                  ).imageRef;
        // The router's Application Insights export (router-telemetry.ts): explicit arg, else
        // the workspace's.
        const aiSource =
            args.appInsightsConnectionString ?? workspace?.applicationInsightsConnectionString;
        const appInsightsConnectionString =
            aiSource === undefined ? undefined : pulumi.secret(aiSource);
        const modelDataWiring =
            modelData && facts.oidcIssuer && facts.resourceGroupName !== undefined
                ? installModelDataIdentity(
                      name,
                      modelData,
                      {
                          issuerUrl: facts.oidcIssuer(),
                          resourceGroupName: facts.resourceGroupName,
                          location: facts.location,
                          routerNamespace: cfg.routerNamespace,
                          provider: facts.azureProvider,
                          tags: args.tags,
                      },
                      this,
                  )
                : undefined;
        const renderCfg: RouterRenderConfig = {
            namespace: cfg.routerNamespace,
            purpose: cfg.purpose,
            image,
            tls: cfg.tls !== undefined,
            serviceType: cfg.routerServiceType,
            loadBalancerType: cfg.loadBalancerType,
            loadBalancerSubnet: cfg.loadBalancerSubnet,
            leafDomainLabel: cfg.leafDomainLabel,
            azureAnnotations: cfg.mode !== "kubeconfig",
            serviceNamespaces: cfg.serviceNamespaces,
            createServiceNamespace: cfg.createServiceNamespace,
            maxReplicas,
            tlsChecksum,
            serviceMonitor: cfg.routerMetrics.serviceMonitor,
            serviceMonitorLabels: cfg.routerMetrics.serviceMonitorLabels,
            metricsNamespaces: cfg.routerMetrics.metricsNamespaces,
            appInsights: appInsightsConnectionString !== undefined,
            modelData: modelDataWiring?.router,
        };
        const router = installRouter(
            name,
            renderCfg,
            cfg.tls
                ? {
                      certPem: pulumi.secret(cfg.tls.certPem),
                      keyPem: pulumi.secret(cfg.tls.keyPem),
                  }
                : undefined,
            {
                parent: this,
                provider: this.kubeProvider,
                dependsOn: [...facts.dependsOn, ...(modelDataWiring?.resources ?? [])],
            },
            appInsightsConnectionString,
        );

        // NVIDIA device plugin for GPU SKUs (R7, R9).
        const pluginImage = cfg.nvidiaDevicePluginImage;
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
            scoringBaseUrl = pulumi.interpolate`https://${cfg.tls.cname}`;
        } else if (cfg.leafDomainLabel !== undefined) {
            scoringBaseUrl = pulumi
                .all([cfg.leafDomainLabel, facts.location])
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
        this.kubernetesVersion = cfg.kubernetesVersion;
        this.appInsightsConnectionString = appInsightsConnectionString;
        this.clusterId = facts.id;
        this.clusterName = facts.name;
        this.clusterFqdn = facts.fqdn;
        this.clusterPurpose = pulumi.output(cfg.purpose);
        this.location = facts.location;
        this.gpuEnabled = facts.gpu;
        this.fpgaEnabled = facts.fpga;
        this.routerNamespace = pulumi.output(cfg.routerNamespace);
        // Carries the created namespace, the router's RoleBindings and its ready Deployment as
        // dependencies, so a web service that waits on this list is created after them (first
        // `pulumi up` ordering). The router Deployment is ready only once its pods pulled their
        // image: with the default router image in the workspace registry, that is the kubelet's
        // AcrPull grant proven in effect before any model pod pulls (issue 11 item 4).
        this.serviceNamespaces = pulumi
            .all([
                ...router.serviceNamespaces.map((n) => n.metadata.name),
                ...router.serviceBindings.map((b) => b.urn),
                router.deployment.urn,
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
                // The router writes model data to this account's blob endpoint.
                args.storageAccountName ?? modelDataAccountName(modelData),
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
                    customDomain: cfg.tls !== undefined,
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

    /**
     * Create mode: a new AKS cluster with secure defaults. `@internal` keeps this member out of
     * the declarations the multi-language schema is inferred from (provider/README.md).
     * @internal
     */
    private createCluster(
        name: string,
        args: AksInferenceClusterArgs,
        cfg: ResolvedCreateArgs,
        workloadIdentity: boolean,
    ): ClusterFacts {
        const { location, resourceGroupName } = cfg;
        // Defender (R39) and Container Insights (R22) both need a Log Analytics workspace.
        const logAnalyticsId =
            args.logAnalyticsWorkspaceId ??
            (cfg.defenderEnabled || cfg.containerInsightsEnabled
                ? new operationalinsights.Workspace(
                      `${name}-logs`,
                      {
                          resourceGroupName,
                          location,
                          sku: { name: "PerGB2018" },
                          retentionInDays: CLUSTER_DEFAULTS.logRetentionInDays,
                          tags: args.tags,
                      },
                      { parent: this },
                  ).id
                : undefined);
        const insightsWorkspaceId = cfg.containerInsightsEnabled ? logAnalyticsId : undefined;
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
        const defender = cfg.defenderEnabled
            ? {
                  defender: {
                      logAnalyticsWorkspaceResourceId: logAnalyticsId,
                      securityMonitoring: { enabled: true },
                  },
              }
            : undefined;
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
                        count: cfg.nodeCount,
                        vmSize: cfg.nodeVmSize,
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
                    omsagent:
                        insightsWorkspaceId !== undefined
                            ? {
                                  enabled: true,
                                  config: {
                                      logAnalyticsWorkspaceResourceID: insightsWorkspaceId,
                                      useAADAuth: "true",
                                  },
                              }
                            : { enabled: false },
                    azurepolicy: { enabled: cfg.azurePolicyEnabled },
                },
                securityProfile: workloadIdentity ? withWorkloadIdentity(defender) : defender,
                // Model data collection: the router's identity is federated through this issuer.
                oidcIssuerProfile: workloadIdentity ? { enabled: true } : undefined,
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
        if (insightsWorkspaceId !== undefined) {
            // R22: with Entra auth the agent collects nothing without a rule and its association.
            const body = pulumi.output(insightsWorkspaceId).apply(containerInsightsRule);
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
                cfg.gpu ?? pulumi.output(cfg.nodeVmSize).apply((v) => detectAccelerators(v).gpu),
            ),
            fpga: pulumi.output(
                cfg.fpga ?? pulumi.output(cfg.nodeVmSize).apply((v) => detectAccelerators(v).fpga),
            ),
            nodeCount: cfg.nodeCount,
            kubeconfig,
            clusterIdentifier: cluster.id,
            dependsOn,
            oidcIssuer: () => cluster.oidcIssuerProfile.apply((o) => o?.issuerURL ?? ""),
            resourceGroupName,
        };
    }

    /** Attach mode: an existing AKS cluster, read through the AKS API, never modified. @internal */
    private attachCluster(name: string, cfg: ResolvedAttachArgs): ClusterFacts {
        const id = pulumi.output(cfg.resourceId);
        const parts = id.apply((i) => requireArmId(i, "resourceId"));
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
            const vcpus = cfg.vmCpuCount ?? lookupVmSku(vmSize)?.vcpus;
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
            location: cfg.location !== undefined ? pulumi.output(cfg.location) : aks.location,
            fqdn: pulumi.all([aks.fqdn, aks.privateFQDN]).apply(([f, p]) => f || p || ""),
            kubeletObjectId: aks.apply((r) => r.identityProfile?.kubeletidentity?.objectId),
            gpu: skus.apply((s) => s.some((v) => detectAccelerators(v).gpu)),
            fpga: skus.apply((s) => s.some((v) => detectAccelerators(v).fpga)),
            nodeCount,
            kubeconfig,
            clusterIdentifier: id,
            dependsOn: [],
            oidcIssuer: () => aks.apply(attachedIssuer),
            resourceGroupName: parts.resourceGroupName,
            azureProvider: provider,
        };
    }

    /** Kubeconfig mode: any cluster; no Azure API is called. @internal */
    private useKubeconfig(cfg: ResolvedKubeconfigArgs): ClusterFacts {
        const kubeconfig = pulumi.secret(cfg.kubeconfig);
        const identifier = pulumi.unsecret(kubeconfig.apply(kubeconfigClusterIdentifier));
        return {
            id: identifier,
            name: pulumi.output(""),
            location: pulumi.output(cfg.location ?? ""),
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
