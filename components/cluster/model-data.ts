/**
 * Model data collection on the cluster (R4, docs/observability.md): the router writes the inputs
 * and predictions of services with `collectModelData` to the `modeldata` container of the
 * workspace's storage account, as itself — a user-assigned identity federated with the router's
 * ServiceAccount through the cluster's OIDC issuer (AKS workload identity), holding Storage Blob
 * Data Contributor on that one container. No account key or SAS reaches the cluster.
 *
 * Pure parts (argument checks, the plan, the router's env and the cluster's security profile)
 * and {@link installModelDataIdentity}, which creates the Azure resources.
 */
import * as authorization from "@pulumi/azure-native/authorization";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as storage from "@pulumi/azure-native/storage";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { MODEL_DATA_CONTAINER } from "../../router/collect/layout";
import { checkArmId, parseArmId } from "../common/arm-id";
import {
    type ArgBag,
    BOOLEAN_RULE,
    isSet,
    named,
    NAME_RULES,
    onlyWithRule,
    plainValue,
    type Problems,
    requiredRule,
    shownValue,
} from "../common/validation";
import type { AksInferenceClusterArgs } from "./args";
import { ROUTER_NAME } from "./router-rbac";

/** Built-in role "Storage Blob Data Contributor": read, write and delete blobs and containers. */
export const STORAGE_BLOB_DATA_CONTRIBUTOR_ROLE_ID = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
/** ServiceAccount annotation naming the identity the workload identity webhook injects. */
export const WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id";
/** Pod label that makes the webhook inject AZURE_CLIENT_ID, AZURE_TENANT_ID and the token file. */
export const WORKLOAD_IDENTITY_USE_LABEL = "azure.workload.identity/use";
/** Audience of the federated token (Microsoft Entra ID's token exchange). */
export const FEDERATED_TOKEN_AUDIENCE = "api://AzureADTokenExchange";
/** Name of the federated credential on the router's identity. */
export const ROUTER_FEDERATED_CREDENTIAL = "amlaks-router";

type Input<T> = pulumi.Input<T>;
type ClusterMode = "create" | "attach" | "kubeconfig";

/** Where the router writes model data, decided from the args (pure). */
export interface ModelDataPlan {
    readonly storageAccountId: Input<string>;
    /** `<workspace>` segment of the path. */
    readonly workspaceName: Input<string>;
    /** `<resourcegroup>` segment: the workspace's, else the storage account's. */
    readonly resourceGroupName: Input<string>;
    /** Create the `modeldata` container (kept when the stack is destroyed). */
    readonly createContainer: boolean;
}

/** What the router objects need: the identity's client id and the router's variables. */
export interface RouterModelData {
    readonly clientId: Input<string>;
    readonly env: readonly k8s.types.input.core.v1.EnvVar[];
}

/** Members of an `AmlWorkspace` read here beyond those of the `workspace` shorthand. */
interface WorkspaceStorage {
    readonly storageAccountId?: Input<string>;
    readonly workspaceName?: Input<string>;
    readonly resourceGroupName?: Input<string>;
}

function workspaceOf(a: ArgBag): WorkspaceStorage | undefined {
    const ws = a.workspace as WorkspaceStorage | undefined;
    return ws !== null && typeof ws === "object" ? ws : undefined;
}

/** The storage account: the explicit arg, else the workspace's. */
function storageAccountOf(a: ArgBag): Input<string> | undefined {
    return (
        (a.modelDataStorageAccountId as Input<string> | undefined) ??
        workspaceOf(a)?.storageAccountId
    );
}

/**
 * Checks the model data args (called by the cluster validator): types and ids, the mode (the
 * identity federation needs AKS), and what must come with an explicit storage account.
 */
export function checkModelDataArgs(p: Problems, a: ArgBag, mode: ClusterMode): void {
    const enabled = a.modelDataCollection;
    if (isSet(enabled) && typeof plainValue(enabled) !== "boolean") {
        p.add("modelDataCollection", enabled, BOOLEAN_RULE);
    }
    const create = a.createModelDataContainer;
    if (isSet(create) && typeof plainValue(create) !== "boolean") {
        p.add("createModelDataContainer", create, BOOLEAN_RULE);
    }
    checkArmId(p, "modelDataStorageAccountId", a.modelDataStorageAccountId, "storageAccount", true);
    named(p, "modelDataWorkspaceName", a.modelDataWorkspaceName, NAME_RULES.workspaceName);

    const explicit = isSet(a.modelDataStorageAccountId);
    const known = storageAccountOf(a) !== undefined;
    if (mode === "kubeconfig") {
        const why =
            "the router's identity is federated through the AKS cluster's OIDC issuer; use create or attach mode";
        if (explicit)
            p.add(
                "modelDataStorageAccountId",
                shownValue(a.modelDataStorageAccountId),
                onlyWithRule("an AKS cluster", why),
            );
        if (enabled === true)
            p.add("modelDataCollection", true, onlyWithRule("an AKS cluster", why));
        return;
    }
    if (enabled === true && !known) {
        p.add(
            "modelDataCollection",
            true,
            "needs modelDataStorageAccountId, or a workspace with a storageAccountId (an AmlWorkspace)",
        );
    }
    if (
        explicit &&
        !isSet(a.modelDataWorkspaceName) &&
        workspaceOf(a)?.workspaceName === undefined
    ) {
        p.add(
            "modelDataWorkspaceName",
            undefined,
            requiredRule(
                "with modelDataStorageAccountId and no workspace: it is the <workspace> segment of the model data path",
            ),
        );
    }
    if (!known) {
        for (const f of ["modelDataWorkspaceName", "createModelDataContainer"]) {
            if (isSet(a[f]))
                p.add(
                    f,
                    shownValue(a[f]),
                    onlyWithRule("modelDataStorageAccountId or a workspace"),
                );
        }
    }
}

/**
 * The plan, or undefined when nothing is collected: no storage account known, kubeconfig mode,
 * or `modelDataCollection: false`. Call after {@link checkModelDataArgs} passed.
 */
export function resolveModelData(
    args: AksInferenceClusterArgs,
    mode: ClusterMode,
): ModelDataPlan | undefined {
    const a = args as unknown as ArgBag;
    const storageAccountId = storageAccountOf(a);
    if (
        mode === "kubeconfig" ||
        storageAccountId === undefined ||
        args.modelDataCollection === false
    ) {
        return undefined;
    }
    const ws = workspaceOf(a);
    const workspaceName = args.modelDataWorkspaceName ?? ws?.workspaceName;
    if (workspaceName === undefined) return undefined;
    const fromAccount = pulumi
        .output(storageAccountId)
        .apply((id) => storageParts(id).resourceGroupName);
    return {
        storageAccountId,
        workspaceName,
        resourceGroupName: ws?.resourceGroupName ?? fromAccount,
        createContainer: args.createModelDataContainer ?? true,
    };
}

/** Parts of a storage account id (an Output is checked here, at deploy time). */
function storageParts(id: string): {
    subscriptionId: string;
    resourceGroupName: string;
    name: string;
} {
    const parts = parseArmId(id);
    if (!parts || parts.type.toLowerCase() !== "storageaccounts" || parts.names.length !== 1) {
        throw new Error(
            `AksInferenceCluster: modelDataStorageAccountId ${JSON.stringify(id)} is not a storage account resource id`,
        );
    }
    return parts;
}

/** Name of the plan's storage account (for requiredHosts), or undefined without a plan. */
export function modelDataAccountName(
    plan: ModelDataPlan | undefined,
): pulumi.Output<string> | undefined {
    return plan && pulumi.output(plan.storageAccountId).apply((id) => storageParts(id).name);
}

/** Blob endpoint of an account in Azure's public cloud (the hosts of requiredHosts, R23). */
export function blobEndpoint(accountName: string): string {
    return `https://${accountName.toLowerCase()}.blob.core.windows.net`;
}

/** ARM id of the container (role assignment scope). */
export function containerId(storageAccountId: string, container = MODEL_DATA_CONTAINER): string {
    return `${storageAccountId.replace(/\/+$/, "")}/blobServices/default/containers/${container}`;
}

/** The router's model data variables (router/main.ts; the container is the default, `modeldata`). */
export function routerModelDataEnv(plan: ModelDataPlan): k8s.types.input.core.v1.EnvVar[] {
    const parts = pulumi.output(plan.storageAccountId).apply(storageParts);
    return [
        { name: "ROUTER_MODEL_DATA_ACCOUNT_URL", value: parts.apply((s) => blobEndpoint(s.name)) },
        { name: "ROUTER_MODEL_DATA_SUBSCRIPTION", value: parts.apply((s) => s.subscriptionId) },
        { name: "ROUTER_MODEL_DATA_RESOURCE_GROUP", value: plan.resourceGroupName },
        { name: "ROUTER_MODEL_DATA_WORKSPACE", value: plan.workspaceName },
    ];
}

/** The managed cluster's security profile with workload identity on (Defender settings kept). */
export function withWorkloadIdentity<T extends object>(
    profile: T | undefined,
): T & { workloadIdentity: { enabled: true } } {
    return { ...(profile ?? ({} as T)), workloadIdentity: { enabled: true } };
}

/** Where the router's identity is created and whom it trusts. */
export interface IdentityTarget {
    /** The cluster's OIDC issuer URL (empty or rejected when the cluster has none). */
    readonly issuerUrl: pulumi.Output<string>;
    readonly resourceGroupName: Input<string>;
    readonly location: Input<string>;
    readonly routerNamespace: string;
    /** Azure provider of the cluster's subscription (attach mode). @default the default provider */
    readonly provider?: pulumi.ProviderResource;
    readonly tags?: Input<Record<string, Input<string>>>;
}

/**
 * The router's identity and its rights: a user-assigned identity in the cluster's resource group,
 * a federated credential for `system:serviceaccount:<routerNamespace>:amlaks-router`, the
 * `modeldata` container (unless it exists already; retained on delete, so destroying the cluster
 * never deletes collected data), and Storage Blob Data Contributor scoped to that container.
 */
export function installModelDataIdentity(
    name: string,
    plan: ModelDataPlan,
    target: IdentityTarget,
    parent: pulumi.Resource,
): { router: RouterModelData; resources: pulumi.Resource[] } {
    const clusterSide: pulumi.CustomResourceOptions = { parent, provider: target.provider };
    const identity = new managedidentity.UserAssignedIdentity(
        `${name}-router-identity`,
        {
            resourceGroupName: target.resourceGroupName,
            location: target.location,
            tags: target.tags,
        },
        clusterSide,
    );
    const federated = new managedidentity.FederatedIdentityCredential(
        `${name}-router-federated`,
        {
            resourceGroupName: target.resourceGroupName,
            resourceName: identity.name,
            federatedIdentityCredentialResourceName: ROUTER_FEDERATED_CREDENTIAL,
            issuer: target.issuerUrl,
            subject: `system:serviceaccount:${target.routerNamespace}:${ROUTER_NAME}`,
            audiences: [FEDERATED_TOKEN_AUDIENCE],
        },
        clusterSide,
    );
    const account = pulumi.output(plan.storageAccountId).apply(storageParts);
    let scope: Input<string>;
    const resources: pulumi.Resource[] = [identity, federated];
    if (plan.createContainer) {
        const container = new storage.BlobContainer(
            `${name}-modeldata`,
            {
                accountName: account.apply((s) => s.name),
                resourceGroupName: account.apply((s) => s.resourceGroupName),
                containerName: MODEL_DATA_CONTAINER,
                publicAccess: "None",
            },
            { parent, retainOnDelete: true },
        );
        scope = container.id;
        resources.push(container);
    } else {
        scope = pulumi.output(plan.storageAccountId).apply((id) => containerId(id));
    }
    resources.push(
        new authorization.RoleAssignment(
            `${name}-router-modeldata`,
            {
                principalId: identity.principalId,
                principalType: "ServicePrincipal",
                roleDefinitionId: account.apply(
                    (s) =>
                        `/subscriptions/${s.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${STORAGE_BLOB_DATA_CONTRIBUTOR_ROLE_ID}`,
                ),
                scope,
            },
            { parent },
        ),
    );
    return { router: { clientId: identity.clientId, env: routerModelDataEnv(plan) }, resources };
}

/**
 * The issuer URL of an attached cluster, or a deploy-time error saying how to turn on what is
 * missing (attach mode never modifies the cluster).
 */
export function attachedIssuer(cluster: {
    readonly oidcIssuerProfile?: { readonly enabled?: boolean; readonly issuerURL?: string };
    readonly securityProfile?: { readonly workloadIdentity?: { readonly enabled?: boolean } };
}): string {
    const url = cluster.oidcIssuerProfile?.issuerURL;
    if (!url || cluster.securityProfile?.workloadIdentity?.enabled !== true) {
        throw new Error(
            "AksInferenceCluster: model data collection needs the attached cluster's OIDC issuer and " +
                "workload identity (az aks update --enable-oidc-issuer --enable-workload-identity), " +
                "or set modelDataCollection: false.",
        );
    }
    return url;
}
