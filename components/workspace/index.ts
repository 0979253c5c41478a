/**
 * AmlWorkspace: an Azure Machine Learning workspace with its storage account, key vault, Log
 * Analytics + Application Insights (R3) and container registry (R14), secure by default
 * (managed identity, no ACR admin user, TLS 1.2, no public blobs, RBAC key vault with purge
 * protection, identity-based datastores). Any associated resource can be an existing one.
 */
import * as applicationinsights from "@pulumi/azure-native/applicationinsights";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerregistry from "@pulumi/azure-native/containerregistry";
import * as keyvault from "@pulumi/azure-native/keyvault";
import * as machinelearningservices from "@pulumi/azure-native/machinelearningservices";
import * as operationalinsights from "@pulumi/azure-native/operationalinsights";
import * as resources from "@pulumi/azure-native/resources";
import * as storage from "@pulumi/azure-native/storage";
import type { SkuTier } from "@pulumi/azure-native/types/enums/machinelearningservices";
import * as pulumi from "@pulumi/pulumi";
import { parseArmId, requireArmId } from "../common/arm-id";
import { AmlWorkspaceArgs } from "./args";
import { deriveNames, deriveResourceGroupName, DerivedNames, nameSuffix } from "./names";
import { datastoreAuthMode, validateAmlWorkspaceArgs, WORKSPACE_DEFAULTS } from "./validate";

export * from "./args";

/** An Azure ML workspace and its associated resources. */
export class AmlWorkspace extends pulumi.ComponentResource {
    /** ARM id of the workspace. */
    public readonly workspaceId: pulumi.Output<string>;
    /** Workspace name. */
    public readonly workspaceName: pulumi.Output<string>;
    /** Resource group of the workspace. */
    public readonly resourceGroupName: pulumi.Output<string>;
    /** Azure region. */
    public readonly location: pulumi.Output<string>;
    /** Registry login server, e.g. `acrxyz.azurecr.io`. */
    public readonly acrLoginServer: pulumi.Output<string>;
    /** Registry name. */
    public readonly acrName: pulumi.Output<string>;
    /** ARM id of the registry. */
    public readonly containerRegistryId: pulumi.Output<string>;
    /** Storage account name. */
    public readonly storageAccountName: pulumi.Output<string>;
    /** ARM id of the storage account. */
    public readonly storageAccountId: pulumi.Output<string>;
    /** ARM id of the key vault. */
    public readonly keyVaultId: pulumi.Output<string>;
    /** Application Insights connection string (secret). */
    public readonly applicationInsightsConnectionString: pulumi.Output<string>;
    /** Application Insights instrumentation key (secret; v1 `AML_APP_INSIGHTS_KEY`). */
    public readonly applicationInsightsInstrumentationKey: pulumi.Output<string>;
    /** ARM id of Application Insights. */
    public readonly applicationInsightsId: pulumi.Output<string>;
    /** ARM id of the Log Analytics workspace ("" when an existing App Insights has none). */
    public readonly logAnalyticsWorkspaceId: pulumi.Output<string>;

    constructor(name: string, args: AmlWorkspaceArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validate before anything is registered (not even this component).
        const cfg = validateAmlWorkspaceArgs(args);
        super("amlaks:index:AmlWorkspace", name, {}, opts);
        const parent = { parent: this };
        const tags = args.tags;
        const location = args.location;
        const client = authorization.getClientConfigOutput(parent);

        // Resource group: the given one, or a new one with a per-stack deterministic name.
        const { existing } = cfg;
        const resourceGroupName: pulumi.Output<string> =
            existing.resourceGroupName === undefined
                ? new resources.ResourceGroup(
                      `${name}-rg`,
                      {
                          resourceGroupName: deriveResourceGroupName(name, pulumi.getStack()),
                          location,
                          tags,
                      },
                      parent,
                  ).name
                : pulumi.output(existing.resourceGroupName);

        const suffix = pulumi
            .all([args.nameSuffix, client.subscriptionId, resourceGroupName])
            .apply(([given, sub, rg]) => given ?? nameSuffix(sub, rg, name));
        const names: pulumi.Output<DerivedNames> = pulumi
            .all([suffix, resourceGroupName])
            .apply(([s, rg]) => deriveNames(name, s, rg));
        const pick = <K extends keyof DerivedNames>(
            given: pulumi.Input<string> | undefined,
            key: K,
        ) => (given !== undefined ? pulumi.output(given) : names.apply((n) => n[key]));

        // Storage account (R16: outputs, models, datastores).
        let storageAccountId: pulumi.Output<string>;
        let storageAccountName: pulumi.Output<string>;
        if (existing.storageAccountId === undefined) {
            const sa = new storage.StorageAccount(
                `${name}-st`,
                {
                    resourceGroupName,
                    location,
                    accountName: pick(args.storageAccountName, "storageAccountName"),
                    kind: "StorageV2",
                    sku: { name: args.storageSku ?? WORKSPACE_DEFAULTS.storageSku },
                    minimumTlsVersion:
                        args.storageMinimumTlsVersion ??
                        WORKSPACE_DEFAULTS.storageMinimumTlsVersion,
                    allowBlobPublicAccess:
                        args.storageAllowBlobPublicAccess ??
                        WORKSPACE_DEFAULTS.storageAllowBlobPublicAccess,
                    enableHttpsTrafficOnly:
                        args.storageHttpsOnly ?? WORKSPACE_DEFAULTS.storageHttpsOnly,
                    allowSharedKeyAccess:
                        args.storageAllowSharedKeyAccess ??
                        WORKSPACE_DEFAULTS.storageAllowSharedKeyAccess,
                    allowCrossTenantReplication: false,
                    tags,
                },
                parent,
            );
            storageAccountId = sa.id;
            storageAccountName = sa.name;
        } else {
            storageAccountId = pulumi.output(existing.storageAccountId);
            storageAccountName = storageAccountId.apply((id) => parseArmId(id)?.name ?? "");
        }

        // Key vault.
        let keyVaultId: pulumi.Output<string>;
        if (existing.keyVaultId === undefined) {
            keyVaultId = new keyvault.Vault(
                `${name}-kv`,
                {
                    resourceGroupName,
                    location,
                    vaultName: pick(args.keyVaultName, "keyVaultName"),
                    properties: {
                        tenantId: client.tenantId,
                        sku: { family: "A", name: "standard" },
                        enableRbacAuthorization:
                            args.keyVaultEnableRbacAuthorization ??
                            WORKSPACE_DEFAULTS.keyVaultEnableRbacAuthorization,
                        enableSoftDelete: true,
                        softDeleteRetentionInDays:
                            args.keyVaultSoftDeleteRetentionDays ??
                            WORKSPACE_DEFAULTS.keyVaultSoftDeleteRetentionDays,
                        // ARM rejects `false` here; "off" means leaving it unset.
                        enablePurgeProtection: cfg.keyVaultEnablePurgeProtection ? true : undefined,
                        // After a destroy the purge-protected name stays reserved (soft-deleted)
                        // for the retention period: "recover" brings that vault back instead.
                        createMode: cfg.keyVaultRecoverSoftDeleted ? "recover" : undefined,
                    },
                    tags,
                },
                // createMode only matters when the vault is created; flipping it back later
                // must not update (or replace) a live vault.
                { ...parent, ignoreChanges: ["properties.createMode"] },
            ).id;
        } else {
            keyVaultId = pulumi.output(existing.keyVaultId);
        }

        // Log Analytics + workspace-based Application Insights (R3).
        let logAnalyticsWorkspaceId: pulumi.Output<string>;
        if (cfg.createLogAnalytics) {
            logAnalyticsWorkspaceId = new operationalinsights.Workspace(
                `${name}-logs`,
                {
                    resourceGroupName,
                    location,
                    workspaceName: pick(
                        args.logAnalyticsWorkspaceName,
                        "logAnalyticsWorkspaceName",
                    ),
                    sku: { name: "PerGB2018" },
                    retentionInDays:
                        args.logRetentionInDays ?? WORKSPACE_DEFAULTS.logRetentionInDays,
                    tags,
                },
                parent,
            ).id;
        } else {
            logAnalyticsWorkspaceId = pulumi.output(args.logAnalyticsWorkspaceId ?? "");
        }
        let applicationInsightsId: pulumi.Output<string>;
        let connectionString: pulumi.Output<string>;
        let instrumentationKey: pulumi.Output<string>;
        if (existing.applicationInsightsId === undefined) {
            const appi = new applicationinsights.Component(
                `${name}-appi`,
                {
                    resourceGroupName,
                    location,
                    resourceName: pick(args.applicationInsightsName, "applicationInsightsName"),
                    kind: "web",
                    applicationType: "web",
                    ingestionMode: "LogAnalytics",
                    workspaceResourceId: logAnalyticsWorkspaceId,
                    tags,
                },
                parent,
            );
            applicationInsightsId = appi.id;
            connectionString = appi.connectionString;
            instrumentationKey = appi.instrumentationKey;
        } else {
            applicationInsightsId = pulumi.output(existing.applicationInsightsId);
            const parts = applicationInsightsId.apply((id) =>
                requireArmId(id, "applicationInsightsId"),
            );
            const component = applicationinsights.getComponentOutput(
                { resourceGroupName: parts.resourceGroupName, resourceName: parts.name },
                parent,
            );
            connectionString = component.connectionString;
            instrumentationKey = component.instrumentationKey;
            if (args.logAnalyticsWorkspaceId === undefined) {
                logAnalyticsWorkspaceId = component.apply((c) => c.workspaceResourceId ?? "");
            }
        }

        // Container registry (R14: environment images).
        let containerRegistryId: pulumi.Output<string>;
        let acrName: pulumi.Output<string>;
        let acrLoginServer: pulumi.Output<string>;
        if (existing.containerRegistryId === undefined) {
            const acr = new containerregistry.Registry(
                `${name}-acr`,
                {
                    resourceGroupName,
                    location,
                    registryName: pick(args.containerRegistryName, "containerRegistryName"),
                    sku: {
                        name: args.containerRegistrySku ?? WORKSPACE_DEFAULTS.containerRegistrySku,
                    },
                    adminUserEnabled:
                        args.containerRegistryAdminUserEnabled ??
                        WORKSPACE_DEFAULTS.containerRegistryAdminUserEnabled,
                    tags,
                },
                parent,
            );
            containerRegistryId = acr.id;
            acrName = acr.name;
            acrLoginServer = acr.loginServer;
        } else {
            containerRegistryId = pulumi.output(existing.containerRegistryId);
            const parts = containerRegistryId.apply((id) =>
                requireArmId(id, "containerRegistryId"),
            );
            acrName = parts.name;
            acrLoginServer = containerregistry.getRegistryOutput(
                { resourceGroupName: parts.resourceGroupName, registryName: parts.name },
                parent,
            ).loginServer;
        }

        // The workspace, wired to all of them.
        const identityType = args.identityType ?? WORKSPACE_DEFAULTS.identityType;
        const workspace = new machinelearningservices.Workspace(
            `${name}-ws`,
            {
                resourceGroupName,
                location,
                workspaceName: pick(args.workspaceName, "workspaceName"),
                friendlyName: args.friendlyName,
                description: args.description,
                sku: {
                    name: args.sku ?? WORKSPACE_DEFAULTS.sku,
                    tier: (args.sku ?? WORKSPACE_DEFAULTS.sku) as pulumi.Input<SkuTier>,
                },
                identity:
                    args.userAssignedIdentityId !== undefined
                        ? {
                              type: "UserAssigned",
                              userAssignedIdentities: [args.userAssignedIdentityId],
                          }
                        : { type: identityType },
                primaryUserAssignedIdentity: args.userAssignedIdentityId,
                storageAccount: storageAccountId,
                keyVault: keyVaultId,
                applicationInsights: applicationInsightsId,
                containerRegistry: containerRegistryId,
                publicNetworkAccess:
                    args.publicNetworkAccess ?? WORKSPACE_DEFAULTS.publicNetworkAccess,
                // The API's casing ("Identity", "AccessKey"), whatever spelling was given.
                systemDatastoresAuthMode: pulumi
                    .output(
                        args.systemDatastoresAuthMode ??
                            WORKSPACE_DEFAULTS.systemDatastoresAuthMode,
                    )
                    .apply((m) => datastoreAuthMode(m) ?? m),
                hbiWorkspace: args.hbiWorkspace ?? WORKSPACE_DEFAULTS.hbiWorkspace,
                tags,
            },
            parent,
        );

        this.workspaceId = workspace.id;
        this.workspaceName = workspace.name;
        this.resourceGroupName = resourceGroupName;
        this.location = pulumi.output(location);
        this.acrLoginServer = acrLoginServer;
        this.acrName = acrName;
        this.containerRegistryId = containerRegistryId;
        this.storageAccountName = storageAccountName;
        this.storageAccountId = storageAccountId;
        this.keyVaultId = keyVaultId;
        this.applicationInsightsConnectionString = pulumi.secret(connectionString);
        this.applicationInsightsInstrumentationKey = pulumi.secret(instrumentationKey);
        this.applicationInsightsId = applicationInsightsId;
        this.logAnalyticsWorkspaceId = logAnalyticsWorkspaceId;
        this.registerOutputs({
            workspaceId: this.workspaceId,
            workspaceName: this.workspaceName,
            resourceGroupName: this.resourceGroupName,
            location: this.location,
            acrLoginServer: this.acrLoginServer,
            acrName: this.acrName,
            containerRegistryId: this.containerRegistryId,
            storageAccountName: this.storageAccountName,
            storageAccountId: this.storageAccountId,
            keyVaultId: this.keyVaultId,
            applicationInsightsConnectionString: this.applicationInsightsConnectionString,
            applicationInsightsInstrumentationKey: this.applicationInsightsInstrumentationKey,
            applicationInsightsId: this.applicationInsightsId,
            logAnalyticsWorkspaceId: this.logAnalyticsWorkspaceId,
        });
    }
}
