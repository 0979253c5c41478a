/**
 * AmlWorkspace under Pulumi mocks: everything created with secure defaults, and the variant
 * that reuses existing resources by id.
 */
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { one, Recorded, settle, setupMocks, SUBSCRIPTION, TENANT, unwrap } from "../cluster/mocks";
import { AmlWorkspace } from "../../components/workspace";
import { nameSuffix } from "../../components/workspace/names";

const mocks = setupMocks();

type Ws = InstanceType<typeof AmlWorkspace>;
const id = (rg: string, type: string, name: string) =>
    `/subscriptions/${SUBSCRIPTION}/resourceGroups/${rg}/providers/${type}/${name}`;

function of(name: string): Recorded[] {
    return mocks.resources.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
}

let ws: Ws;
let existing: Ws;

before(async () => {
    ws = new AmlWorkspace("ml", { location: "westeurope", tags: { team: "ds" } });
    existing = new AmlWorkspace("reuse", {
        location: "northeurope",
        resourceGroupName: "rg-shared",
        workspaceName: "ws-reuse",
        storageAccountId: id("rg-data", "Microsoft.Storage/storageAccounts", "stshared01"),
        keyVaultId: id("rg-sec", "Microsoft.KeyVault/vaults", "kv-shared"),
        applicationInsightsId: id("rg-mon", "Microsoft.Insights/components", "appi-shared"),
        containerRegistryId: id("rg-reg", "Microsoft.ContainerRegistry/registries", "acrshared01"),
        publicNetworkAccess: "Disabled",
    });
    for (const w of [ws, existing]) {
        await unwrap(w.workspaceId);
        await unwrap(w.acrLoginServer);
        await unwrap(w.logAnalyticsWorkspaceId);
    }
    await settle(mocks.resources);
});

describe("AmlWorkspace: everything new, secure defaults", () => {
    const suffix = nameSuffix(SUBSCRIPTION, "ml-test-rg", "ml");

    test("registers the expected children", () => {
        assert.deepEqual(
            of("ml")
                .map((r) => `${r.type} ${r.name}`)
                .sort(),
            [
                "amlaks:index:AmlWorkspace ml",
                "azure-native:applicationinsights:Component ml-appi",
                "azure-native:containerregistry:Registry ml-acr",
                "azure-native:keyvault:Vault ml-kv",
                "azure-native:machinelearningservices:Workspace ml-ws",
                "azure-native:operationalinsights:Workspace ml-logs",
                "azure-native:resources:ResourceGroup ml-rg",
                "azure-native:storage:StorageAccount ml-st",
            ],
        );
        assert.equal(
            one(of("ml"), "azure-native:resources:ResourceGroup").inputs.resourceGroupName,
            "ml-test-rg",
        );
    });

    test("storage: TLS 1.2, no public blob access, HTTPS only, deterministic global name", () => {
        const st = one(of("ml"), "azure-native:storage:StorageAccount").inputs;
        assert.equal(st.accountName, `stml${suffix}`);
        assert.equal(st.minimumTlsVersion, "TLS1_2");
        assert.equal(st.allowBlobPublicAccess, false);
        assert.equal(st.enableHttpsTrafficOnly, true);
        assert.equal(st.allowSharedKeyAccess, true);
        assert.equal(st.kind, "StorageV2");
        assert.deepEqual(st.sku, { name: "Standard_LRS" });
        assert.deepEqual(st.tags, { team: "ds" });
    });

    test("key vault: RBAC authorization, soft delete, purge protection, tenant from the caller", () => {
        const kv = one(of("ml"), "azure-native:keyvault:Vault").inputs;
        assert.equal(kv.vaultName, `kv-ml-${suffix}`);
        // azure-native adds its schema defaults (enabledFor* false, publicNetworkAccess).
        const {
            enabledForDeployment,
            enabledForDiskEncryption,
            enabledForTemplateDeployment,
            publicNetworkAccess,
            ...props
        } = kv.properties;
        assert.deepEqual(
            [enabledForDeployment, enabledForDiskEncryption, enabledForTemplateDeployment],
            [false, false, false],
        );
        assert.equal(publicNetworkAccess, "enabled");
        assert.deepEqual(props, {
            tenantId: TENANT,
            sku: { family: "A", name: "standard" },
            enableRbacAuthorization: true,
            enableSoftDelete: true,
            softDeleteRetentionInDays: 90,
            enablePurgeProtection: true,
        });
    });

    test("monitoring: Log Analytics + workspace-based Application Insights (R3)", () => {
        const law = one(of("ml"), "azure-native:operationalinsights:Workspace").inputs;
        assert.equal(law.workspaceName, "ml-logs");
        assert.equal(law.retentionInDays, 30);
        const appi = one(of("ml"), "azure-native:applicationinsights:Component").inputs;
        assert.equal(appi.ingestionMode, "LogAnalytics");
        assert.equal(
            appi.workspaceResourceId,
            id("ml-test-rg", "Microsoft.OperationalInsights/workspaces", "ml-logs"),
        );
    });

    test("registry: admin user disabled, Standard SKU", () => {
        const acr = one(of("ml"), "azure-native:containerregistry:Registry").inputs;
        assert.equal(acr.registryName, `acrml${suffix}`);
        assert.equal(acr.adminUserEnabled, false);
        assert.deepEqual(acr.sku, { name: "Standard" });
    });

    test("workspace: wired to all four, system identity, identity datastores, Basic SKU", () => {
        const w = one(of("ml"), "azure-native:machinelearningservices:Workspace").inputs;
        assert.equal(w.workspaceName, "ml-ws");
        assert.deepEqual(w.identity, { type: "SystemAssigned" });
        assert.deepEqual(w.sku, { name: "Basic", tier: "Basic" });
        // The API's casing (the service rejects "identity").
        assert.equal(w.systemDatastoresAuthMode, "Identity");
        assert.equal(w.publicNetworkAccess, "Enabled");
        assert.equal(w.hbiWorkspace, false);
        assert.equal(
            w.storageAccount,
            id("ml-test-rg", "Microsoft.Storage/storageAccounts", `stml${suffix}`),
        );
        assert.equal(w.keyVault, id("ml-test-rg", "Microsoft.KeyVault/vaults", `kv-ml-${suffix}`));
        assert.equal(
            w.applicationInsights,
            id("ml-test-rg", "Microsoft.Insights/components", "ml-appi"),
        );
        assert.equal(
            w.containerRegistry,
            id("ml-test-rg", "Microsoft.ContainerRegistry/registries", `acrml${suffix}`),
        );
    });

    test("outputs, with the App Insights connection string as a secret", async () => {
        assert.equal(await unwrap(ws.workspaceName), "ml-ws");
        assert.equal(await unwrap(ws.resourceGroupName), "ml-test-rg");
        assert.equal(await unwrap(ws.location), "westeurope");
        assert.equal(await unwrap(ws.acrName), `acrml${suffix}`);
        assert.equal(await unwrap(ws.acrLoginServer), `acrml${suffix}.azurecr.io`);
        assert.equal(await unwrap(ws.storageAccountName), `stml${suffix}`);
        assert.match(
            await unwrap(ws.workspaceId),
            /Microsoft.MachineLearningServices\/workspaces\/ml-ws$/,
        );
        assert.match(await unwrap(ws.logAnalyticsWorkspaceId), /workspaces\/ml-logs$/);
        assert.match(await unwrap(ws.applicationInsightsConnectionString), /^InstrumentationKey=/);
        assert.equal(await pulumi.isSecret(ws.applicationInsightsConnectionString), true);
        assert.equal(await pulumi.isSecret(ws.applicationInsightsInstrumentationKey), true);
        assert.equal(await pulumi.isSecret(ws.workspaceId), false);
    });
});

describe("AmlWorkspace: existing resources by id", () => {
    test("creates only the workspace, in the given resource group", () => {
        assert.deepEqual(
            of("reuse")
                .map((r) => r.type)
                .sort(),
            ["amlaks:index:AmlWorkspace", "azure-native:machinelearningservices:Workspace"],
        );
        const w = one(of("reuse"), "azure-native:machinelearningservices:Workspace").inputs;
        assert.equal(w.resourceGroupName, "rg-shared");
        assert.equal(w.workspaceName, "ws-reuse");
        assert.equal(
            w.storageAccount,
            id("rg-data", "Microsoft.Storage/storageAccounts", "stshared01"),
        );
        assert.equal(w.keyVault, id("rg-sec", "Microsoft.KeyVault/vaults", "kv-shared"));
        assert.equal(w.publicNetworkAccess, "Disabled");
    });

    test("reads what it needs from the existing resources", async () => {
        assert.equal(await unwrap(existing.storageAccountName), "stshared01");
        assert.equal(await unwrap(existing.acrName), "acrshared01");
        assert.equal(await unwrap(existing.acrLoginServer), "acrshared01.azurecr.io");
        const reg = mocks.calls.find(
            (c) => c.token === "azure-native:containerregistry:getRegistry",
        );
        assert.deepEqual(reg?.inputs, { resourceGroupName: "rg-reg", registryName: "acrshared01" });
        assert.equal(
            await unwrap(existing.logAnalyticsWorkspaceId),
            id("rg-mon", "Microsoft.OperationalInsights/workspaces", "existing-logs"),
        );
        assert.match(
            await unwrap(existing.applicationInsightsConnectionString),
            /^InstrumentationKey=9999/,
        );
        assert.equal(await pulumi.isSecret(existing.applicationInsightsConnectionString), true);
    });
});

describe("AmlWorkspace: destroy, then up again (purge-protected key vault)", () => {
    test("keyVaultRecoverSoftDeleted recovers the soft-deleted vault instead of failing on its name", async () => {
        const again = new AmlWorkspace("again", {
            location: "westeurope",
            resourceGroupName: "rg-again",
            keyVaultRecoverSoftDeleted: true,
            systemDatastoresAuthMode: "accessKey",
        });
        await unwrap(again.keyVaultId);
        await settle(mocks.resources);
        const kv = one(of("again"), "azure-native:keyvault:Vault").inputs;
        assert.equal(kv.properties.createMode, "recover");
        assert.equal(kv.properties.enablePurgeProtection, true, "still purge-protected");
        assert.equal(kv.properties.createMode && kv.vaultName.startsWith("kv-again-"), true);
        const w = one(of("again"), "azure-native:machinelearningservices:Workspace").inputs;
        assert.equal(w.systemDatastoresAuthMode, "AccessKey", "the API's casing");
        // The default vault is created normally.
        assert.equal(
            one(of("ml"), "azure-native:keyvault:Vault").inputs.properties.createMode,
            undefined,
        );
    });
});
