/**
 * Validation of {@link AmlWorkspaceArgs} (pure). Values that are unresolved Outputs are skipped;
 * every problem is collected and thrown together before anything is registered.
 */
import { argNames, checkKnownArgs } from "../common/known-args";
import { isUnresolved, plainValue, Problems } from "../common/validation";
import { ARM_ID_SHAPES, parseArmIdOfType } from "../cluster/arm-id";

import { AmlWorkspaceArgs } from "./args";
import {
    APP_INSIGHTS_NAME,
    CONTAINER_REGISTRY_NAME,
    KEY_VAULT_NAME,
    LOG_ANALYTICS_NAME,
    NAME_SUFFIX,
    RESOURCE_GROUP_NAME,
    STORAGE_ACCOUNT_NAME,
    WORKSPACE_NAME,
} from "./names";

export const WORKSPACE_DEFAULTS = {
    sku: "Basic",
    publicNetworkAccess: "Enabled",
    systemDatastoresAuthMode: "Identity",
    hbiWorkspace: false,
    identityType: "SystemAssigned",
    storageSku: "Standard_LRS",
    storageMinimumTlsVersion: "TLS1_2",
    storageAllowBlobPublicAccess: false,
    storageHttpsOnly: true,
    storageAllowSharedKeyAccess: true,
    keyVaultEnableRbacAuthorization: true,
    keyVaultEnablePurgeProtection: true,
    keyVaultSoftDeleteRetentionDays: 90,
    logRetentionInDays: 30,
    containerRegistrySku: "Standard",
    containerRegistryAdminUserEnabled: false,
} as const;

/** Every argument name of {@link AmlWorkspaceArgs}; others are rejected (issue 11 item 7). */
export const AML_WORKSPACE_ARG_NAMES = argNames<AmlWorkspaceArgs>({
    location: true,
    resourceGroupName: true,
    workspaceName: true,
    friendlyName: true,
    description: true,
    sku: true,
    publicNetworkAccess: true,
    systemDatastoresAuthMode: true,
    hbiWorkspace: true,
    identityType: true,
    userAssignedIdentityId: true,
    nameSuffix: true,
    storageAccountId: true,
    storageAccountName: true,
    storageSku: true,
    storageMinimumTlsVersion: true,
    storageAllowBlobPublicAccess: true,
    storageHttpsOnly: true,
    storageAllowSharedKeyAccess: true,
    keyVaultId: true,
    keyVaultName: true,
    keyVaultEnableRbacAuthorization: true,
    keyVaultEnablePurgeProtection: true,
    keyVaultSoftDeleteRetentionDays: true,
    keyVaultRecoverSoftDeleted: true,
    logAnalyticsWorkspaceId: true,
    logAnalyticsWorkspaceName: true,
    logRetentionInDays: true,
    applicationInsightsId: true,
    applicationInsightsName: true,
    containerRegistryId: true,
    containerRegistryName: true,
    containerRegistrySku: true,
    containerRegistryAdminUserEnabled: true,
    tags: true,
});

export const WORKSPACE_SKUS = ["Basic", "Free", "Standard", "Premium"] as const;
export const PUBLIC_NETWORK_ACCESS = ["Enabled", "Disabled"] as const;
/** The API's casing (Microsoft.MachineLearningServices `systemDatastoresAuthMode`). */
export const DATASTORE_AUTH_MODES = ["Identity", "AccessKey"] as const;

/**
 * `systemDatastoresAuthMode` in the API's casing; earlier spellings (`identity`, `accessKey`)
 * are accepted case-insensitively. `undefined` when not a known mode.
 */
export function datastoreAuthMode(v: unknown): (typeof DATASTORE_AUTH_MODES)[number] | undefined {
    if (typeof v !== "string") return undefined;
    return DATASTORE_AUTH_MODES.find((m) => m.toLowerCase() === v.toLowerCase());
}
export const IDENTITY_TYPES = ["SystemAssigned", "UserAssigned"] as const;
export const STORAGE_SKUS = [
    "Standard_LRS",
    "Standard_ZRS",
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
] as const;
export const TLS_VERSIONS = ["TLS1_2", "TLS1_3"] as const;
export const REGISTRY_SKUS = ["Basic", "Standard", "Premium"] as const;

function isSet(v: unknown): boolean {
    return v !== undefined && v !== null;
}

const plain = plainValue;

/** Plain values the component needs to decide its structure. */
export interface ResolvedWorkspaceArgs {
    readonly createResourceGroup: boolean;
    readonly createStorage: boolean;
    readonly createKeyVault: boolean;
    readonly createLogAnalytics: boolean;
    readonly createApplicationInsights: boolean;
    readonly createRegistry: boolean;
    readonly keyVaultEnablePurgeProtection: boolean | undefined;
    /** Create the vault with `createMode: "recover"`. */
    readonly keyVaultRecoverSoftDeleted: boolean;
}

/**
 * Validates workspace args. Throws one `ValidationError` ("Invalid AmlWorkspace args: ...")
 * listing every problem.
 */
export function validateAmlWorkspaceArgs(args: AmlWorkspaceArgs): ResolvedWorkspaceArgs {
    const p = new Problems();
    const a = (args ?? {}) as unknown as Record<string, unknown>;
    checkKnownArgs(p, args, AML_WORKSPACE_ARG_NAMES);

    const loc = plain<unknown>(a.location);
    if (!isSet(a.location)) {
        p.add("location", undefined, "is required (the Azure region, e.g. westeurope)");
    } else if (
        loc !== undefined &&
        (typeof loc !== "string" || !/^[A-Za-z][A-Za-z0-9 ]*$/.test(loc))
    ) {
        p.add("location", loc, "must be an Azure region name such as westeurope");
    }

    const named = (field: string, rule: RegExp, text: string) => {
        const v = plain<unknown>(a[field]);
        if (v !== undefined && (typeof v !== "string" || !rule.test(v))) p.add(field, v, text);
    };
    named(
        "resourceGroupName",
        RESOURCE_GROUP_NAME,
        "must be 1-90 characters of letters, digits, '_', '-', '.', '(' and ')', not ending with '.'",
    );
    named(
        "workspaceName",
        WORKSPACE_NAME,
        "must be 3-33 characters of letters, digits, underscores and dashes, starting with a letter or digit",
    );
    named(
        "storageAccountName",
        STORAGE_ACCOUNT_NAME,
        "must be 3-24 lowercase letters and digits (globally unique)",
    );
    named(
        "containerRegistryName",
        CONTAINER_REGISTRY_NAME,
        "must be 5-50 letters and digits (globally unique)",
    );
    named(
        "keyVaultName",
        KEY_VAULT_NAME,
        "must be 3-24 characters of letters, digits and dashes, start with a letter, end with a letter or digit, without consecutive dashes (globally unique)",
    );
    named(
        "logAnalyticsWorkspaceName",
        LOG_ANALYTICS_NAME,
        "must be 4-63 characters of letters, digits and dashes, starting and ending with a letter or digit",
    );
    named(
        "applicationInsightsName",
        APP_INSIGHTS_NAME,
        "must be 1-255 characters without % & \\ ? /, not ending with '.' or a space",
    );
    named("nameSuffix", NAME_SUFFIX, "must be 1-8 lowercase letters and digits");

    // An existing resource by id, or a new one (optionally named): not both.
    const pairs: [string, string, string, string][] = [
        [
            "storageAccountId",
            "storageAccountName",
            "Microsoft.Storage/storageAccounts",
            ARM_ID_SHAPES.storageAccount,
        ],
        ["keyVaultId", "keyVaultName", "Microsoft.KeyVault/vaults", ARM_ID_SHAPES.keyVault],
        [
            "applicationInsightsId",
            "applicationInsightsName",
            "Microsoft.Insights/components",
            ARM_ID_SHAPES.applicationInsights,
        ],
        [
            "containerRegistryId",
            "containerRegistryName",
            "Microsoft.ContainerRegistry/registries",
            ARM_ID_SHAPES.containerRegistry,
        ],
        [
            "logAnalyticsWorkspaceId",
            "logAnalyticsWorkspaceName",
            "Microsoft.OperationalInsights/workspaces",
            ARM_ID_SHAPES.logAnalyticsWorkspace,
        ],
    ];
    for (const [idField, nameField, type, shape] of pairs) {
        if (isSet(a[idField]) && isSet(a[nameField])) {
            p.add(
                nameField,
                plain(a[nameField]) ?? "(unresolved Output)",
                `and ${idField} are mutually exclusive: give a name to create a new resource, or an id to use an existing one`,
            );
        }
        const id = plain<unknown>(a[idField]);
        if (id !== undefined && (typeof id !== "string" || !parseArmIdOfType(id, type))) {
            p.add(idField, id, `must be a resource id of the form ${shape}`);
        }
    }
    // Settings of resources that are not created: they would silently do nothing.
    const ownedSettings: [string, string[]][] = [
        [
            "storageAccountId",
            [
                "storageSku",
                "storageMinimumTlsVersion",
                "storageAllowBlobPublicAccess",
                "storageHttpsOnly",
                "storageAllowSharedKeyAccess",
            ],
        ],
        [
            "keyVaultId",
            [
                "keyVaultEnableRbacAuthorization",
                "keyVaultEnablePurgeProtection",
                "keyVaultSoftDeleteRetentionDays",
                "keyVaultRecoverSoftDeleted",
            ],
        ],
        ["containerRegistryId", ["containerRegistrySku", "containerRegistryAdminUserEnabled"]],
    ];
    for (const [idField, fields] of ownedSettings) {
        if (!isSet(a[idField])) continue;
        for (const f of fields) {
            if (isSet(a[f])) {
                p.add(
                    f,
                    plain(a[f]) ?? "(unresolved Output)",
                    `only applies to a resource this component creates; remove it or remove ${idField}`,
                );
            }
        }
    }
    if (isSet(a.logAnalyticsWorkspaceId) || isSet(a.applicationInsightsId)) {
        // No Log Analytics workspace is created then.
        const cause = isSet(a.logAnalyticsWorkspaceId)
            ? "logAnalyticsWorkspaceId"
            : "applicationInsightsId";
        for (const f of [
            "logRetentionInDays",
            ...(cause === "applicationInsightsId" ? ["logAnalyticsWorkspaceName"] : []),
        ]) {
            if (isSet(a[f])) {
                p.add(
                    f,
                    plain(a[f]) ?? "(unresolved Output)",
                    `only applies to a resource this component creates; remove it or remove ${cause}`,
                );
            }
        }
    }

    const oneOf = (field: string, allowed: readonly string[]) => {
        const v = plain<unknown>(a[field]);
        if (v !== undefined && (typeof v !== "string" || !allowed.includes(v))) {
            p.add(field, v, `must be one of ${allowed.map((x) => `"${x}"`).join(", ")}`);
        }
    };
    oneOf("sku", WORKSPACE_SKUS);
    oneOf("publicNetworkAccess", PUBLIC_NETWORK_ACCESS);
    const dsMode = plain<unknown>(a.systemDatastoresAuthMode);
    if (dsMode !== undefined && datastoreAuthMode(dsMode) === undefined) {
        p.add(
            "systemDatastoresAuthMode",
            dsMode,
            `must be one of ${DATASTORE_AUTH_MODES.map((x) => `"${x}"`).join(", ")}`,
        );
    }
    oneOf("identityType", IDENTITY_TYPES);
    oneOf("storageSku", STORAGE_SKUS);
    oneOf("storageMinimumTlsVersion", TLS_VERSIONS);
    oneOf("containerRegistrySku", REGISTRY_SKUS);

    for (const f of [
        "hbiWorkspace",
        "storageAllowBlobPublicAccess",
        "storageHttpsOnly",
        "storageAllowSharedKeyAccess",
        "keyVaultEnableRbacAuthorization",
        "keyVaultEnablePurgeProtection",
        "keyVaultRecoverSoftDeleted",
        "containerRegistryAdminUserEnabled",
    ]) {
        const v = plain<unknown>(a[f]);
        if (v !== undefined && typeof v !== "boolean") p.add(f, v, "must be true or false");
    }
    const intRange = (field: string, min: number, max: number) => {
        const v = plain<unknown>(a[field]);
        if (
            v !== undefined &&
            (!Number.isInteger(v) || (v as number) < min || (v as number) > max)
        ) {
            p.add(field, v, `must be a whole number from ${min} to ${max}`);
        }
    };
    intRange("keyVaultSoftDeleteRetentionDays", 7, 90);
    intRange("logRetentionInDays", 30, 730);

    // Identity-based datastores vs keys.
    if (
        datastoreAuthMode(dsMode) === "AccessKey" &&
        plain(a.storageAllowSharedKeyAccess) === false
    ) {
        p.add(
            "systemDatastoresAuthMode",
            dsMode,
            'needs shared key access on the storage account; use "Identity" or set storageAllowSharedKeyAccess to true',
        );
    }
    const identity = plain<unknown>(a.identityType) ?? WORKSPACE_DEFAULTS.identityType;
    if (identity === "UserAssigned" && !isSet(a.userAssignedIdentityId)) {
        p.add("userAssignedIdentityId", undefined, 'is required with identityType "UserAssigned"');
    }
    if (isSet(a.userAssignedIdentityId) && identity !== "UserAssigned") {
        p.add(
            "userAssignedIdentityId",
            plain(a.userAssignedIdentityId) ?? "(unresolved Output)",
            'is only used with identityType "UserAssigned"',
        );
    }
    const uai = plain<unknown>(a.userAssignedIdentityId);
    if (
        uai !== undefined &&
        (typeof uai !== "string" ||
            !parseArmIdOfType(uai, "Microsoft.ManagedIdentity/userAssignedIdentities"))
    ) {
        p.add(
            "userAssignedIdentityId",
            uai,
            "must be a resource id of the form /subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>",
        );
    }
    if (isUnresolved(a.keyVaultEnablePurgeProtection)) {
        p.add(
            "keyVaultEnablePurgeProtection",
            "(unresolved Output)",
            "must be a plain value, not an Output: purge protection cannot be sent as false, so the component must know it",
        );
    }

    p.throwIfAny("AmlWorkspace args");

    const purge = plain<boolean>(a.keyVaultEnablePurgeProtection);
    return {
        createResourceGroup: !isSet(a.resourceGroupName),
        createStorage: !isSet(a.storageAccountId),
        createKeyVault: !isSet(a.keyVaultId),
        createLogAnalytics: !isSet(a.logAnalyticsWorkspaceId) && !isSet(a.applicationInsightsId),
        createApplicationInsights: !isSet(a.applicationInsightsId),
        createRegistry: !isSet(a.containerRegistryId),
        keyVaultEnablePurgeProtection: purge ?? WORKSPACE_DEFAULTS.keyVaultEnablePurgeProtection,
        keyVaultRecoverSoftDeleted: plain(a.keyVaultRecoverSoftDeleted) === true,
    };
}
