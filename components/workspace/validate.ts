/**
 * Validation of {@link AmlWorkspaceArgs} (pure). Values that are unresolved Outputs are skipped;
 * every problem is collected and thrown together before anything is registered.
 */
import type * as pulumi from "@pulumi/pulumi";
import { ArmIdKind, checkArmId } from "../common/arm-id";
import { argNames, checkKnownArgs } from "../common/known-args";
import {
    ArgBag,
    argBag,
    BOOLEAN_RULE,
    checkWholeNumber,
    exclusiveRule,
    isSet,
    mustBePlain,
    named,
    NAME_RULES,
    oneOf,
    oneOfRule,
    onlyWithRule,
    plainValue,
    Problems,
    requiredRule,
    shownValue,
} from "../common/validation";
import { AmlWorkspaceArgs } from "./args";
import { WORKSPACE_NAME_RULES } from "./names";

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

/** Plain values the component needs to decide its structure. */
export interface ResolvedWorkspaceArgs {
    /** Existing resources the workspace uses; each one not given is created. */
    readonly existing: {
        readonly resourceGroupName: pulumi.Input<string> | undefined;
        readonly storageAccountId: pulumi.Input<string> | undefined;
        readonly keyVaultId: pulumi.Input<string> | undefined;
        readonly applicationInsightsId: pulumi.Input<string> | undefined;
        readonly containerRegistryId: pulumi.Input<string> | undefined;
    };
    /** No Log Analytics workspace is given, and no Application Insights that brings one. */
    readonly createLogAnalytics: boolean;
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
    const a = argBag(args);
    checkKnownArgs(p, args, AML_WORKSPACE_ARG_NAMES);
    if (!isSet(a.location)) {
        p.add("location", undefined, requiredRule("(the Azure region, e.g. westeurope)"));
    } else {
        named(p, "location", a.location, NAME_RULES.location);
    }
    checkNames(p, a);
    checkExistingResources(p, a);
    checkChoices(p, a);
    checkIdentity(p, a);
    p.throwIfAny("AmlWorkspace args");

    const purge = plainValue<boolean>(a.keyVaultEnablePurgeProtection);
    const given = <T>(v: T | null | undefined): T | undefined => v ?? undefined;
    return {
        existing: {
            resourceGroupName: given(args.resourceGroupName),
            storageAccountId: given(args.storageAccountId),
            keyVaultId: given(args.keyVaultId),
            applicationInsightsId: given(args.applicationInsightsId),
            containerRegistryId: given(args.containerRegistryId),
        },
        createLogAnalytics: !isSet(a.logAnalyticsWorkspaceId) && !isSet(a.applicationInsightsId),
        keyVaultEnablePurgeProtection: purge ?? WORKSPACE_DEFAULTS.keyVaultEnablePurgeProtection,
        keyVaultRecoverSoftDeleted: plainValue(a.keyVaultRecoverSoftDeleted) === true,
    };
}

/** Given names follow each resource's naming rule. */
function checkNames(p: Problems, a: ArgBag): void {
    for (const [field, rule] of Object.entries(WORKSPACE_NAME_RULES))
        named(p, field, a[field], rule);
}

/** Existing resources by id: an existing resource or a new one (optionally named), not both. */
const EXISTING: readonly [idField: string, nameField: string, kind: ArmIdKind][] = [
    ["storageAccountId", "storageAccountName", "storageAccount"],
    ["keyVaultId", "keyVaultName", "keyVault"],
    ["applicationInsightsId", "applicationInsightsName", "applicationInsights"],
    ["containerRegistryId", "containerRegistryName", "containerRegistry"],
    ["logAnalyticsWorkspaceId", "logAnalyticsWorkspaceName", "logAnalyticsWorkspace"],
];

/** Settings of the resources the component creates: with an existing one they would do nothing. */
const OWNED_SETTINGS: readonly [idField: string, fields: readonly string[]][] = [
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

function notCreatedRule(idField: string): string {
    return `only applies to a resource this component creates; remove it or remove ${idField}`;
}

function checkExistingResources(p: Problems, a: ArgBag): void {
    for (const [idField, nameField, kind] of EXISTING) {
        if (isSet(a[idField]) && isSet(a[nameField])) {
            p.add(
                nameField,
                shownValue(a[nameField]),
                exclusiveRule(
                    idField,
                    "give a name to create a new resource, or an id to use an existing one",
                ),
            );
        }
        checkArmId(p, idField, a[idField], kind);
    }
    for (const [idField, fields] of OWNED_SETTINGS) {
        if (!isSet(a[idField])) continue;
        for (const f of fields) {
            if (isSet(a[f])) p.add(f, shownValue(a[f]), notCreatedRule(idField));
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
            if (isSet(a[f])) p.add(f, shownValue(a[f]), notCreatedRule(cause));
        }
    }
}

const BOOLEAN_ARGS = [
    "hbiWorkspace",
    "storageAllowBlobPublicAccess",
    "storageHttpsOnly",
    "storageAllowSharedKeyAccess",
    "keyVaultEnableRbacAuthorization",
    "keyVaultEnablePurgeProtection",
    "keyVaultRecoverSoftDeleted",
    "containerRegistryAdminUserEnabled",
] as const;

/** Documented values, booleans and ranges. */
function checkChoices(p: Problems, a: ArgBag): void {
    oneOf(p, "sku", a.sku, WORKSPACE_SKUS);
    oneOf(p, "publicNetworkAccess", a.publicNetworkAccess, PUBLIC_NETWORK_ACCESS);
    const dsMode = plainValue<unknown>(a.systemDatastoresAuthMode);
    if (dsMode !== undefined && datastoreAuthMode(dsMode) === undefined) {
        p.add("systemDatastoresAuthMode", dsMode, oneOfRule(DATASTORE_AUTH_MODES));
    }
    oneOf(p, "identityType", a.identityType, IDENTITY_TYPES);
    oneOf(p, "storageSku", a.storageSku, STORAGE_SKUS);
    oneOf(p, "storageMinimumTlsVersion", a.storageMinimumTlsVersion, TLS_VERSIONS);
    oneOf(p, "containerRegistrySku", a.containerRegistrySku, REGISTRY_SKUS);
    for (const f of BOOLEAN_ARGS) {
        const v = plainValue<unknown>(a[f]);
        if (v !== undefined && typeof v !== "boolean") p.add(f, v, BOOLEAN_RULE);
    }
    checkWholeNumber(
        p,
        "keyVaultSoftDeleteRetentionDays",
        a.keyVaultSoftDeleteRetentionDays,
        7,
        90,
    );
    checkWholeNumber(p, "logRetentionInDays", a.logRetentionInDays, 30, 730);

    // Identity-based datastores vs keys.
    if (
        datastoreAuthMode(dsMode) === "AccessKey" &&
        plainValue(a.storageAllowSharedKeyAccess) === false
    ) {
        p.add(
            "systemDatastoresAuthMode",
            dsMode,
            'needs shared key access on the storage account; use "Identity" or set storageAllowSharedKeyAccess to true',
        );
    }
}

/** The workspace identity, and purge protection the component must know. */
function checkIdentity(p: Problems, a: ArgBag): void {
    const identity = plainValue<unknown>(a.identityType) ?? WORKSPACE_DEFAULTS.identityType;
    if (identity === "UserAssigned" && !isSet(a.userAssignedIdentityId)) {
        p.add(
            "userAssignedIdentityId",
            undefined,
            requiredRule('with identityType "UserAssigned"'),
        );
    }
    if (isSet(a.userAssignedIdentityId) && identity !== "UserAssigned") {
        p.add(
            "userAssignedIdentityId",
            shownValue(a.userAssignedIdentityId),
            onlyWithRule('identityType "UserAssigned"'),
        );
    }
    checkArmId(p, "userAssignedIdentityId", a.userAssignedIdentityId, "userAssignedIdentity");
    mustBePlain(
        p,
        "keyVaultEnablePurgeProtection",
        a.keyVaultEnablePurgeProtection,
        "purge protection cannot be sent as false, so the component must know it",
    );
}
