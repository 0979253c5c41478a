/**
 * AmlWorkspace naming (derived, globally unique names) and every validation rule's message.
 */
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ValidationError, ValidationProblem } from "../../components/common/validation";
import { AmlWorkspaceArgs } from "../../components/workspace/args";
import {
    deriveNames,
    deriveResourceGroupName,
    nameSuffix,
    WORKSPACE_NAME_RULES as RULES,
} from "../../components/workspace/names";
import { validateAmlWorkspaceArgs } from "../../components/workspace/validate";

const SUB = "00000000-0000-0000-0000-000000000001";
const id = (type: string, name: string) =>
    `/subscriptions/${SUB}/resourceGroups/rg/providers/${type}/${name}`;

function problems(args: Record<string, unknown>): [string, unknown, string][] {
    try {
        validateAmlWorkspaceArgs(args as unknown as AmlWorkspaceArgs);
    } catch (e) {
        assert.ok(e instanceof ValidationError);
        return e.problems.map((p: ValidationProblem) => [p.field, p.value, p.rule]);
    }
    return [];
}

describe("derived names", () => {
    test("the suffix is a stable hash of subscription, resource group and component name", () => {
        const s = nameSuffix(SUB, "rg-ml", "ml");
        assert.match(s, /^[0-9a-f]{8}$/);
        assert.equal(
            s,
            nameSuffix(SUB, "RG-ML", "ml"),
            "resource group names are case-insensitive",
        );
        assert.notEqual(s, nameSuffix(SUB, "rg-ml2", "ml"));
        assert.notEqual(s, nameSuffix("00000000-0000-0000-0000-000000000002", "rg-ml", "ml"));
        assert.notEqual(s, nameSuffix(SUB, "rg-ml", "ml2"));
    });

    test("every derived name satisfies its Azure rule, for awkward component names too", () => {
        for (const n of [
            "ml",
            "My Workspace!",
            "a",
            "x".repeat(80),
            "--ml--",
            "9-lives",
            "ws_01",
        ]) {
            const d = deriveNames(n, nameSuffix(SUB, "rg", n), "rg");
            assert.match(d.storageAccountName, RULES.storageAccountName.pattern, n);
            assert.match(d.containerRegistryName, RULES.containerRegistryName.pattern, n);
            assert.match(d.keyVaultName, RULES.keyVaultName.pattern, n);
            assert.match(d.workspaceName, RULES.workspaceName.pattern, n);
            assert.match(d.logAnalyticsWorkspaceName, RULES.logAnalyticsWorkspaceName.pattern, n);
            assert.match(d.applicationInsightsName, RULES.applicationInsightsName.pattern, n);
        }
        assert.deepEqual(deriveNames("ml", "1a2b3c4d", "rg"), {
            resourceGroupName: "rg",
            workspaceName: "ml-ws",
            storageAccountName: "stml1a2b3c4d",
            containerRegistryName: "acrml1a2b3c4d",
            keyVaultName: "kv-ml-1a2b3c4d",
            logAnalyticsWorkspaceName: "ml-logs",
            applicationInsightsName: "ml-appi",
        });
        assert.equal(deriveResourceGroupName("ml", "dev"), "ml-dev-rg");
        assert.match(deriveResourceGroupName("my ws", "prod"), RULES.resourceGroupName.pattern);
    });
});

describe("validateAmlWorkspaceArgs", () => {
    test("accepts the minimal args and plans to create everything", () => {
        assert.deepEqual(validateAmlWorkspaceArgs({ location: "westeurope" }), {
            existing: {
                resourceGroupName: undefined,
                storageAccountId: undefined,
                keyVaultId: undefined,
                applicationInsightsId: undefined,
                containerRegistryId: undefined,
            },
            createLogAnalytics: true,
            keyVaultEnablePurgeProtection: true,
            keyVaultRecoverSoftDeleted: false,
        });
    });

    test("location is required and a region name", () => {
        assert.deepEqual(problems({}), [
            ["location", undefined, "is required (the Azure region, e.g. westeurope)"],
        ]);
        assert.deepEqual(problems({ location: "west-europe!" }), [
            ["location", "west-europe!", "must be an Azure region name such as westeurope"],
        ]);
    });

    test("names given as plain strings follow the Azure rules", () => {
        assert.deepEqual(
            problems({
                location: "westeurope",
                resourceGroupName: "rg.",
                workspaceName: "w",
                storageAccountName: "St-Account",
                containerRegistryName: "acr",
                keyVaultName: "kv--x",
                logAnalyticsWorkspaceName: "-x",
                applicationInsightsName: "a/b",
                nameSuffix: "ABC",
            }),
            [
                [
                    "resourceGroupName",
                    "rg.",
                    "must be 1-90 characters of letters, digits, '_', '-', '.', '(' and ')', not ending with '.'",
                ],
                [
                    "workspaceName",
                    "w",
                    "must be 3-33 characters of letters, digits, underscores and dashes, starting with a letter or digit",
                ],
                [
                    "storageAccountName",
                    "St-Account",
                    "must be 3-24 lowercase letters and digits (a globally unique storage account name)",
                ],
                [
                    "containerRegistryName",
                    "acr",
                    "must be 5-50 letters and digits (a globally unique container registry name, without .azurecr.io)",
                ],
                [
                    "keyVaultName",
                    "kv--x",
                    "must be 3-24 characters of letters, digits and dashes, start with a letter, end with a letter or digit, without consecutive dashes (globally unique)",
                ],
                [
                    "logAnalyticsWorkspaceName",
                    "-x",
                    "must be 4-63 characters of letters, digits and dashes, starting and ending with a letter or digit",
                ],
                [
                    "applicationInsightsName",
                    "a/b",
                    "must be 1-255 characters without % & \\ ? /, not ending with '.' or a space",
                ],
                ["nameSuffix", "ABC", "must be 1-8 lowercase letters and digits"],
            ],
        );
        // Unresolved Outputs are skipped.
        assert.deepEqual(
            problems({ location: "westeurope", storageAccountName: pulumi.output("Bad_Name") }),
            [],
        );
    });

    test("an existing resource id excludes a name for a new one, and must have the right type", () => {
        assert.deepEqual(
            problems({
                location: "westeurope",
                storageAccountId: id("Microsoft.Storage/storageAccounts", "st1"),
                storageAccountName: "st2",
                keyVaultId: id("Microsoft.Storage/storageAccounts", "st1"),
            }),
            [
                [
                    "storageAccountName",
                    "st2",
                    "and storageAccountId are mutually exclusive: give a name to create a new resource, or an id to use an existing one",
                ],
                [
                    "keyVaultId",
                    id("Microsoft.Storage/storageAccounts", "st1"),
                    "must be a key vault resource id: /subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>",
                ],
            ],
        );
    });

    test("settings of resources that are not created are errors", () => {
        assert.deepEqual(
            problems({
                location: "westeurope",
                containerRegistryId: id("Microsoft.ContainerRegistry/registries", "acr12345"),
                containerRegistryAdminUserEnabled: true,
                applicationInsightsId: id("Microsoft.Insights/components", "appi"),
                logRetentionInDays: 60,
                logAnalyticsWorkspaceName: "logs-1",
            }),
            [
                [
                    "containerRegistryAdminUserEnabled",
                    true,
                    "only applies to a resource this component creates; remove it or remove containerRegistryId",
                ],
                [
                    "logRetentionInDays",
                    60,
                    "only applies to a resource this component creates; remove it or remove applicationInsightsId",
                ],
                [
                    "logAnalyticsWorkspaceName",
                    "logs-1",
                    "only applies to a resource this component creates; remove it or remove applicationInsightsId",
                ],
            ],
        );
    });

    test("documented values and ranges", () => {
        assert.deepEqual(
            problems({
                location: "westeurope",
                sku: "Enterprise",
                publicNetworkAccess: "Off",
                systemDatastoresAuthMode: "key",
                storageSku: "Premium_LRS",
                storageMinimumTlsVersion: "TLS1_0",
                containerRegistrySku: "Classic",
                hbiWorkspace: "no",
                keyVaultSoftDeleteRetentionDays: 120,
                logRetentionInDays: 7,
            }),
            [
                ["sku", "Enterprise", 'must be one of "Basic", "Free", "Standard", "Premium"'],
                ["publicNetworkAccess", "Off", 'must be one of "Enabled", "Disabled"'],
                ["systemDatastoresAuthMode", "key", 'must be one of "Identity", "AccessKey"'],
                [
                    "storageSku",
                    "Premium_LRS",
                    'must be one of "Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"',
                ],
                ["storageMinimumTlsVersion", "TLS1_0", 'must be one of "TLS1_2", "TLS1_3"'],
                [
                    "containerRegistrySku",
                    "Classic",
                    'must be one of "Basic", "Standard", "Premium"',
                ],
                ["hbiWorkspace", "no", "must be true or false"],
                ["keyVaultSoftDeleteRetentionDays", 120, "must be a whole number from 7 to 90"],
                ["logRetentionInDays", 7, "must be a whole number from 30 to 730"],
            ],
        );
    });

    test("datastore auth, identity and purge protection rules", () => {
        assert.deepEqual(
            problems({
                location: "westeurope",
                systemDatastoresAuthMode: "accessKey",
                storageAllowSharedKeyAccess: false,
            }),
            [
                [
                    "systemDatastoresAuthMode",
                    "accessKey",
                    'needs shared key access on the storage account; use "Identity" or set storageAllowSharedKeyAccess to true',
                ],
            ],
        );
        assert.deepEqual(problems({ location: "westeurope", identityType: "UserAssigned" }), [
            ["userAssignedIdentityId", undefined, 'is required with identityType "UserAssigned"'],
        ]);
        assert.deepEqual(problems({ location: "westeurope", userAssignedIdentityId: "uai" }), [
            ["userAssignedIdentityId", "uai", 'is only used with identityType "UserAssigned"'],
            [
                "userAssignedIdentityId",
                "uai",
                "must be a user-assigned identity resource id: /subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>",
            ],
        ]);
        assert.deepEqual(
            problems({
                location: "westeurope",
                keyVaultEnablePurgeProtection: pulumi.output(false),
            }),
            [
                [
                    "keyVaultEnablePurgeProtection",
                    "(unresolved Output)",
                    "must be a plain value, not an Output: purge protection cannot be sent as false, so the component must know it",
                ],
            ],
        );
    });
});
