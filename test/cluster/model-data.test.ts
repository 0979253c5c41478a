/**
 * AksInferenceCluster's model data wiring under Pulumi mocks: OIDC issuer and workload identity
 * on the AKS cluster, the router's user-assigned identity federated with its ServiceAccount,
 * Storage Blob Data Contributor on the `modeldata` container only, the ServiceAccount annotation,
 * pod label and ROUTER_MODEL_DATA_* variables — and no account key anywhere.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { AksInferenceCluster } from "../../components/cluster";
import {
    STORAGE_BLOB_DATA_CONTRIBUTOR_ROLE_ID,
    attachedIssuer,
} from "../../components/cluster/model-data";
import { validateAksInferenceClusterArgs } from "../../components/cluster/validate";
import { withWorkspace } from "../../components/cluster/workspace-link";
import { ValidationError } from "../../components/common/validation";
import { AmlWorkspace } from "../../components/workspace";
import { validateK8sObject } from "./k8s-validate";
import {
    type Any,
    EXISTING_CLUSTER,
    OIDC_ISSUER,
    SUBSCRIPTION,
    UAI_CLIENT_ID,
    UAI_OID,
    certKubeconfig,
    one,
    reveal,
    settle,
    setupMocks,
    unwrap,
} from "./mocks";

const mocks = setupMocks();
const IMAGE = "myacr.azurecr.io/amlaks-router:1";
const STORAGE_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdata01`;
const AKS_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${EXISTING_CLUSTER.rg}/providers/Microsoft.ContainerService/managedClusters/${EXISTING_CLUSTER.name}`;

function of(name: string) {
    return mocks.resources.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
}

function envOf(name: string): Record<string, unknown> {
    const d = one(of(name), "kubernetes:apps/v1:Deployment", `${name}-router`).inputs;
    return Object.fromEntries(
        (d.spec.template.spec.containers[0].env as Array<{ name: string; value?: unknown }>).map(
            (e) => [e.name, e.value],
        ),
    );
}

let ws: AmlWorkspace;
let fromWs: AksInferenceCluster;
let explicit: AksInferenceCluster;

before(async () => {
    ws = new AmlWorkspace("ml", { location: "westeurope", resourceGroupName: "rg-ml" });
    fromWs = new AksInferenceCluster("wsmd", {
        workspace: ws,
        clusterPurpose: "DevTest",
        agentCount: 1,
        routerImage: IMAGE,
    });
    explicit = new AksInferenceCluster("expmd", {
        location: "westeurope",
        resourceGroupName: "rg-inf",
        clusterPurpose: "DevTest",
        agentCount: 1,
        routerImage: IMAGE,
        defenderEnabled: true,
        modelDataStorageAccountId: STORAGE_ID,
        modelDataWorkspaceName: "ws-prod",
        createModelDataContainer: false,
    });
    const clusters = [
        fromWs,
        explicit,
        new AksInferenceCluster("offmd", {
            workspace: ws,
            clusterPurpose: "DevTest",
            agentCount: 1,
            routerImage: IMAGE,
            modelDataCollection: false,
        }),
        new AksInferenceCluster("attmd", {
            resourceId: AKS_ID,
            routerImage: IMAGE,
            modelDataStorageAccountId: STORAGE_ID,
            modelDataWorkspaceName: "ws-prod",
        }),
    ];
    for (const c of clusters) await unwrap(c.requiredHosts);
    await settle(mocks.resources);
});

describe("AksInferenceCluster model data collection (workspace shorthand, create mode)", () => {
    test("turns on the cluster's OIDC issuer and workload identity, keeping Defender", () => {
        const aks = one(of("wsmd"), "azure-native:containerservice:ManagedCluster").inputs;
        assert.deepEqual(aks.oidcIssuerProfile, { enabled: true });
        assert.deepEqual(aks.securityProfile.workloadIdentity, { enabled: true });
        assert.ok(aks.securityProfile.defender, "Defender (on by default) is kept");
    });

    test("creates the router's identity and trusts only its ServiceAccount, through the issuer", async () => {
        const uai = one(of("wsmd"), "azure-native:managedidentity:UserAssignedIdentity").inputs;
        assert.equal(uai.resourceGroupName, "rg-ml");
        assert.equal(uai.location, "westeurope");
        const fic = one(
            of("wsmd"),
            "azure-native:managedidentity:FederatedIdentityCredential",
        ).inputs;
        assert.deepEqual(
            {
                issuer: fic.issuer,
                subject: fic.subject,
                audiences: fic.audiences,
                resourceName: fic.resourceName,
            },
            {
                issuer: OIDC_ISSUER,
                subject: `system:serviceaccount:${await unwrap(fromWs.routerNamespace)}:amlaks-router`,
                audiences: ["api://AzureADTokenExchange"],
                resourceName: "wsmd-router-identity",
            },
        );
    });

    test("grants Storage Blob Data Contributor on the modeldata container only (never the account)", async () => {
        const sa = await unwrap(ws.storageAccountName);
        const container = one(of("wsmd"), "azure-native:storage:BlobContainer").inputs;
        assert.deepEqual(
            {
                accountName: container.accountName,
                resourceGroupName: container.resourceGroupName,
                containerName: container.containerName,
                publicAccess: container.publicAccess,
            },
            {
                accountName: sa,
                resourceGroupName: "rg-ml",
                containerName: "modeldata",
                publicAccess: "None",
            },
        );
        const role = one(
            of("wsmd"),
            "azure-native:authorization:RoleAssignment",
            "wsmd-router-modeldata",
        ).inputs;
        assert.equal(role.principalId, UAI_OID);
        assert.equal(role.principalType, "ServicePrincipal");
        assert.equal(
            role.roleDefinitionId,
            `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${STORAGE_BLOB_DATA_CONTRIBUTOR_ROLE_ID}`,
        );
        assert.equal(
            role.scope,
            `${await unwrap(ws.storageAccountId)}/blobServices/default/containers/modeldata`,
        );
    });

    test("annotates the ServiceAccount, labels the pods and tells the router where to write", async () => {
        const sa = one(of("wsmd"), "kubernetes:core/v1:ServiceAccount").inputs;
        assert.equal(sa.metadata.annotations["azure.workload.identity/client-id"], UAI_CLIENT_ID);
        validateK8sObject(reveal(sa));
        const d = one(of("wsmd"), "kubernetes:apps/v1:Deployment", "wsmd-router").inputs;
        assert.equal(d.spec.template.metadata.labels["azure.workload.identity/use"], "true");
        assert.equal(
            d.spec.selector.matchLabels["azure.workload.identity/use"],
            undefined,
            "the selector (immutable) is unchanged",
        );
        validateK8sObject(reveal(d));
        const env = envOf("wsmd");
        assert.deepEqual(
            {
                url: env.ROUTER_MODEL_DATA_ACCOUNT_URL,
                sub: env.ROUTER_MODEL_DATA_SUBSCRIPTION,
                rg: env.ROUTER_MODEL_DATA_RESOURCE_GROUP,
                ws: env.ROUTER_MODEL_DATA_WORKSPACE,
            },
            {
                url: `https://${await unwrap(ws.storageAccountName)}.blob.core.windows.net`,
                sub: SUBSCRIPTION,
                rg: "rg-ml",
                ws: await unwrap(ws.workspaceName),
            },
        );
        // No key, SAS or connection string is read or rendered for the router.
        assert.ok(!mocks.calls.some((c) => /listStorageAccountKeys|listAccountSas/i.test(c.token)));
        const text = JSON.stringify(of("wsmd").map((r) => reveal(r.inputs)));
        assert.ok(
            !/AccountKey|SharedAccessSignature|ROUTER_MODEL_DATA_CONNECTION_STRING/.test(text),
        );
    });
});

describe("explicit storage account, existing container, attach mode, opt-out", () => {
    test("explicit account: the role goes to the existing container; segments from the id and the arg", async () => {
        assert.equal(
            of("expmd").filter((r) => r.type === "azure-native:storage:BlobContainer").length,
            0,
        );
        const role = one(
            of("expmd"),
            "azure-native:authorization:RoleAssignment",
            "expmd-router-modeldata",
        ).inputs;
        assert.equal(role.scope, `${STORAGE_ID}/blobServices/default/containers/modeldata`);
        const aks = one(of("expmd"), "azure-native:containerservice:ManagedCluster").inputs;
        assert.ok(aks.securityProfile.defender && aks.securityProfile.workloadIdentity.enabled);
        const env = envOf("expmd");
        assert.equal(env.ROUTER_MODEL_DATA_ACCOUNT_URL, "https://stdata01.blob.core.windows.net");
        assert.equal(env.ROUTER_MODEL_DATA_RESOURCE_GROUP, "rg-data");
        assert.equal(env.ROUTER_MODEL_DATA_WORKSPACE, "ws-prod");
        const hosts = (await unwrap(explicit.requiredHosts)).map((h) => h.host);
        assert.ok(hosts.includes("stdata01.blob.core.windows.net"), "egress to the account (R23)");
    });

    test("attach mode: the existing cluster is not modified; its issuer is trusted", () => {
        const mine = of("attmd");
        assert.equal(
            mine.filter((r) => r.type === "azure-native:containerservice:ManagedCluster").length,
            0,
        );
        const uai = one(mine, "azure-native:managedidentity:UserAssignedIdentity");
        assert.equal(uai.inputs.resourceGroupName, EXISTING_CLUSTER.rg);
        assert.match(
            uai.provider ?? "",
            /attmd-azure/,
            "created in the attached cluster's subscription",
        );
        const fic = one(mine, "azure-native:managedidentity:FederatedIdentityCredential").inputs;
        assert.equal(fic.issuer, OIDC_ISSUER);
    });

    test("an attached cluster without OIDC issuer or workload identity: a clear deploy-time error", () => {
        assert.equal(
            attachedIssuer({
                oidcIssuerProfile: { enabled: true, issuerURL: OIDC_ISSUER },
                securityProfile: { workloadIdentity: { enabled: true } },
            }),
            OIDC_ISSUER,
        );
        assert.throws(
            () => attachedIssuer({ oidcIssuerProfile: { enabled: true, issuerURL: OIDC_ISSUER } }),
            /--enable-oidc-issuer --enable-workload-identity\), or set modelDataCollection: false/,
        );
        assert.throws(() => attachedIssuer({}), /OIDC issuer and workload identity/);
    });

    test("modelDataCollection: false: no identity, no role, no OIDC issuer, no router variables", () => {
        const mine = of("offmd");
        for (const type of [
            "azure-native:managedidentity:UserAssignedIdentity",
            "azure-native:managedidentity:FederatedIdentityCredential",
            "azure-native:storage:BlobContainer",
        ]) {
            assert.equal(mine.filter((r) => r.type === type).length, 0, type);
        }
        const aks = one(mine, "azure-native:containerservice:ManagedCluster").inputs;
        assert.equal(aks.oidcIssuerProfile, undefined);
        assert.equal(aks.securityProfile?.workloadIdentity, undefined);
        assert.ok(!Object.keys(envOf("offmd")).some((k) => k.startsWith("ROUTER_MODEL_DATA_")));
        const sa = one(mine, "kubernetes:core/v1:ServiceAccount").inputs as Any;
        assert.equal(sa.metadata.annotations, undefined);
    });
});

describe("model data args are checked before anything is created", () => {
    function problems(args: Record<string, unknown>): string[] {
        try {
            validateAksInferenceClusterArgs(
                withWorkspace({ routerImage: IMAGE, ...args } as never),
            );
            return [];
        } catch (e) {
            assert.ok(e instanceof ValidationError, String(e));
            return e.problems
                .filter((p) => /modelData|ModelData/.test(p.field))
                .map((p) => `${p.field}: ${JSON.stringify(p.value)} ${p.rule}`);
        }
    }
    const create = { location: "westeurope", resourceGroupName: "rg" };

    test("names the field, the value and the rule", () => {
        assert.deepEqual(
            problems({
                ...create,
                modelDataStorageAccountId: "/subscriptions/x/stdata",
                modelDataCollection: "yes",
            }),
            [
                'modelDataCollection: "yes" must be true or false',
                'modelDataStorageAccountId: "/subscriptions/x/stdata" must be a storage account resource id: /subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>',
                "modelDataWorkspaceName: undefined is required with modelDataStorageAccountId and no workspace: it is the <workspace> segment of the model data path",
            ],
        );
        assert.deepEqual(problems({ ...create, modelDataCollection: true }), [
            "modelDataCollection: true needs modelDataStorageAccountId, or a workspace with a storageAccountId (an AmlWorkspace)",
        ]);
        assert.deepEqual(problems({ ...create, createModelDataContainer: false }), [
            "createModelDataContainer: false is only used with modelDataStorageAccountId or a workspace",
        ]);
        assert.deepEqual(
            problems({
                ...create,
                modelDataStorageAccountId: STORAGE_ID,
                modelDataWorkspaceName: "bad name!",
            }).length,
            1,
        );
    });

    test("kubeconfig mode: refused when asked for explicitly, skipped for a workspace", () => {
        const kube = { kubeconfig: certKubeconfig(), clusterPurpose: "DevTest" };
        assert.deepEqual(
            problems({
                ...kube,
                modelDataStorageAccountId: STORAGE_ID,
                modelDataWorkspaceName: "ws-prod",
            }),
            [
                `modelDataStorageAccountId: "${STORAGE_ID}" is only used with an AKS cluster (the router's identity is federated through the AKS cluster's OIDC issuer; use create or attach mode)`,
            ],
        );
        assert.deepEqual(problems({ ...kube, workspace: ws }), []);
    });
});
