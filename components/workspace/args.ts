/**
 * Arguments of {@link AmlWorkspace}. Flat, `pulumi.Input`, strings with documented values
 * (anchors §7.2). Every associated resource is created unless its `...Id` is given.
 */
import * as pulumi from "@pulumi/pulumi";

export interface AmlWorkspaceArgs {
    /** Azure region of the workspace and the resources created with it. */
    readonly location: pulumi.Input<string>;
    /**
     * Existing resource group to deploy into.
     * @default - a new resource group `<component>-<stack>-rg`
     */
    readonly resourceGroupName?: pulumi.Input<string>;
    /**
     * Workspace name (3–33 letters, digits, `_`, `-`). Changing it forces a new workspace.
     * @default - the component name (sanitised)
     */
    readonly workspaceName?: pulumi.Input<string>;
    /** Display name in the studio. @default - the workspace name */
    readonly friendlyName?: pulumi.Input<string>;
    /** Workspace description. @default - none */
    readonly description?: pulumi.Input<string>;
    /** Workspace SKU: `Basic`, `Free`, `Standard` or `Premium`. @default "Basic" */
    readonly sku?: pulumi.Input<string>;
    /**
     * `Enabled` or `Disabled`. Default `Enabled`: this component creates no private endpoints,
     * so a `Disabled` workspace is only usable from a network you wire up yourself. Set
     * `Disabled` (AVM's default) together with private endpoints for production.
     * @default "Enabled"
     */
    readonly publicNetworkAccess?: pulumi.Input<string>;
    /**
     * How the workspace reaches its system datastores: `Identity` (managed identity, no account
     * keys) or `AccessKey` (the API's casing; `identity`/`accessKey` are accepted too).
     * @default "Identity"
     */
    readonly systemDatastoresAuthMode?: pulumi.Input<string>;
    /** High-business-impact workspace (less diagnostic data collected). @default false */
    readonly hbiWorkspace?: pulumi.Input<boolean>;
    /**
     * Workspace identity: `SystemAssigned` or `UserAssigned` (then `userAssignedIdentityId`).
     * @default "SystemAssigned"
     */
    readonly identityType?: pulumi.Input<string>;
    /** ARM id of the user-assigned identity, with `identityType: "UserAssigned"`. @default - none */
    readonly userAssignedIdentityId?: pulumi.Input<string>;
    /**
     * Suffix of derived globally-unique names (1–8 lowercase letters/digits).
     * @default - 8 hex chars of sha256(subscription/resource group/component name)
     */
    readonly nameSuffix?: pulumi.Input<string>;

    // ---- Storage account ---------------------------------------------------------------------

    /** Existing storage account (ARM id); nothing is created then. @default - a new account */
    readonly storageAccountId?: pulumi.Input<string>;
    /** Name of the new storage account (3–24 lowercase alphanumerics). @default - `st<name><suffix>` */
    readonly storageAccountName?: pulumi.Input<string>;
    /** Storage SKU. @default "Standard_LRS" */
    readonly storageSku?: pulumi.Input<string>;
    /** Minimum TLS version: `TLS1_2` or `TLS1_3`. @default "TLS1_2" */
    readonly storageMinimumTlsVersion?: pulumi.Input<string>;
    /** Allow anonymous public read access to blobs. @default false */
    readonly storageAllowBlobPublicAccess?: pulumi.Input<boolean>;
    /** Only HTTPS traffic. @default true */
    readonly storageHttpsOnly?: pulumi.Input<boolean>;
    /**
     * Allow account-key (shared key) access. Kept on by default because tools that upload models
     * and snapshots with keys or SAS still need it; turn off for identity-only access.
     * @default true
     */
    readonly storageAllowSharedKeyAccess?: pulumi.Input<boolean>;

    // ---- Key vault -----------------------------------------------------------------------------

    /** Existing key vault (ARM id). @default - a new vault */
    readonly keyVaultId?: pulumi.Input<string>;
    /** Name of the new key vault (3–24 chars). @default - `kv-<name>-<suffix>` */
    readonly keyVaultName?: pulumi.Input<string>;
    /** Authorize data access with Azure RBAC instead of access policies. @default true */
    readonly keyVaultEnableRbacAuthorization?: pulumi.Input<boolean>;
    /**
     * Purge protection (irreversible once on; deleted vault names stay reserved for the
     * retention period).
     * @default true
     */
    readonly keyVaultEnablePurgeProtection?: pulumi.Input<boolean>;
    /** Soft-delete retention, 7–90 days. @default 90 */
    readonly keyVaultSoftDeleteRetentionDays?: pulumi.Input<number>;
    /**
     * Recover the soft-deleted vault of the same name instead of creating one (`createMode:
     * "recover"`). With purge protection, a destroyed vault's name stays reserved for
     * `keyVaultSoftDeleteRetentionDays`, so `pulumi destroy` then `pulumi up` fails with
     * "vault name already in use"; set this to true for that `up` (or give a new `keyVaultName`).
     * Ignored once the vault exists. Plain boolean.
     * @default false
     */
    readonly keyVaultRecoverSoftDeleted?: boolean;

    // ---- Monitoring ----------------------------------------------------------------------------

    /**
     * Existing Log Analytics workspace (ARM id) for Application Insights (and for the cluster's
     * Container Insights/Defender).
     * @default - a new workspace
     */
    readonly logAnalyticsWorkspaceId?: pulumi.Input<string>;
    /** Name of the new Log Analytics workspace. @default - `<name>-logs` */
    readonly logAnalyticsWorkspaceName?: pulumi.Input<string>;
    /** Log retention in days (30–730). @default 30 */
    readonly logRetentionInDays?: pulumi.Input<number>;
    /** Existing Application Insights component (ARM id). @default - a new workspace-based one */
    readonly applicationInsightsId?: pulumi.Input<string>;
    /** Name of the new Application Insights component. @default - `<name>-appi` */
    readonly applicationInsightsName?: pulumi.Input<string>;

    // ---- Container registry --------------------------------------------------------------------

    /** Existing container registry (ARM id). @default - a new registry */
    readonly containerRegistryId?: pulumi.Input<string>;
    /** Name of the new registry (5–50 alphanumerics). @default - `acr<name><suffix>` */
    readonly containerRegistryName?: pulumi.Input<string>;
    /**
     * Registry SKU: `Basic`, `Standard` or `Premium` (private endpoints need Premium). Environment
     * images are large, so Standard's 100 GB is the default rather than Basic's 10 GB.
     * @default "Standard"
     */
    readonly containerRegistrySku?: pulumi.Input<string>;
    /** Enable the registry admin user (a shared password). @default false */
    readonly containerRegistryAdminUserEnabled?: pulumi.Input<boolean>;

    /** Tags on every resource created. @default {} */
    readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}
