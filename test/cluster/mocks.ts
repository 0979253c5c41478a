/**
 * Azure fixtures for the cluster and workspace component tests, on the shared mocks
 * (test/support/pulumi-mocks.ts): the states of the Azure resources the components create and
 * the answers to the Azure invokes they make, with fixed values.
 */
import type * as pulumi from "@pulumi/pulumi";
import { type Any, installMocks, LB_IP, type MockRecords } from "../support/pulumi-mocks";

export {
    type Any,
    isSecretInput,
    LB_IP,
    one,
    type Recorded,
    reveal,
    settle,
    unwrap,
} from "../support/pulumi-mocks";

export const SUBSCRIPTION = "00000000-0000-0000-0000-000000000001";
export const TENANT = "00000000-0000-0000-0000-0000000000aa";
export const DEPLOYER_OID = "00000000-0000-0000-0000-0000000000bb";
export const KUBELET_OID = "00000000-0000-0000-0000-0000000000cc";
export const CLUSTER_OID = "00000000-0000-0000-0000-0000000000dd";
export const UAI_OID = "00000000-0000-0000-0000-0000000000ee";
export const UAI_CLIENT_ID = "00000000-0000-0000-0000-0000000000ff";
/** OIDC issuer of clusters with it enabled; an attached cluster named `aks-no-oidc` has none. */
export const OIDC_ISSUER = `https://westeurope.oic.prod-aks.azure.com/${TENANT}/11111111-2222-3333-4444-555555555555/`;

/** An AKS `format=exec` user kubeconfig, as AKS returns it (device-code login). */
export function aksExecKubeconfig(
    server = "https://aks-abc123.hcp.westeurope.azmk8s.io:443",
): string {
    return [
        "apiVersion: v1",
        "clusters:",
        "- cluster:",
        "    certificate-authority-data: Q0E=",
        `    server: ${server}`,
        "  name: aks",
        "contexts:",
        "- context:",
        "    cluster: aks",
        "    user: clusterUser_rg_aks",
        "  name: aks",
        "current-context: aks",
        "kind: Config",
        "preferences: {}",
        "users:",
        "- name: clusterUser_rg_aks",
        "  user:",
        "    exec:",
        "      apiVersion: client.authentication.k8s.io/v1beta1",
        "      args:",
        "      - get-token",
        "      - --environment",
        "      - AzurePublicCloud",
        "      - --server-id",
        "      - 6dae42f8-4368-4678-94ff-3960e28e3630",
        "      - --client-id",
        "      - 80faf920-1908-4b52-b5ef-a8e7bedfc67a",
        "      - --tenant-id",
        `      - ${TENANT}`,
        "      - --login",
        "      - devicecode",
        "      command: kubelogin",
        "      env: null",
        "      interactiveMode: IfAvailable",
        "      provideClusterInfo: false",
        "",
    ].join("\n");
}

/** A client-certificate kubeconfig (admin credentials, or a local cluster). */
export function certKubeconfig(server = "https://127.0.0.1:6443"): string {
    return [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: local",
        "  cluster:",
        `    server: ${server}`,
        "contexts:",
        "- name: local",
        "  context: { cluster: local, user: admin }",
        "current-context: local",
        "users:",
        "- name: admin",
        "  user: { client-certificate-data: Q0VSVA==, client-key-data: S0VZ }",
        "",
    ].join("\n");
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

function armId(rg: string, type: string, name: string): string {
    return `/subscriptions/${SUBSCRIPTION}/resourceGroups/${rg}/providers/${type}/${name}`;
}

/** Existing AKS cluster returned by getManagedCluster. */
export const EXISTING_CLUSTER = {
    rg: "rg-existing",
    name: "aks-existing",
    location: "northeurope",
    fqdn: "aks-existing-1234abcd.hcp.northeurope.azmk8s.io",
    pools: [{ name: "system", count: 2, vmSize: "Standard_NC6s_v3" }],
};

function stateFor(args: pulumi.runtime.MockResourceArgs): {
    id: string;
    state: Record<string, Any>;
} {
    const i = args.inputs;
    const rg = i.resourceGroupName ?? "rg";
    switch (args.type) {
        case "azure-native:containerservice:ManagedCluster": {
            const name = i.resourceName ?? args.name;
            return {
                id: armId(rg, "Microsoft.ContainerService/managedClusters", name),
                state: {
                    ...i,
                    name,
                    fqdn: `${i.dnsPrefix}-abcd1234.hcp.${i.location}.azmk8s.io`,
                    privateFQDN: "",
                    identity: { ...i.identity, principalId: CLUSTER_OID },
                    identityProfile: { kubeletidentity: { objectId: KUBELET_OID } },
                    oidcIssuerProfile: i.oidcIssuerProfile?.enabled
                        ? { ...i.oidcIssuerProfile, issuerURL: OIDC_ISSUER }
                        : undefined,
                },
            };
        }
        case "azure-native:managedidentity:UserAssignedIdentity":
            return {
                id: armId(rg, "Microsoft.ManagedIdentity/userAssignedIdentities", args.name),
                state: { ...i, name: args.name, principalId: UAI_OID, clientId: UAI_CLIENT_ID },
            };
        case "azure-native:storage:BlobContainer":
            return {
                id: `${armId(rg, "Microsoft.Storage/storageAccounts", i.accountName)}/blobServices/default/containers/${i.containerName}`,
                state: { ...i, name: i.containerName },
            };
        case "azure-native:resources:ResourceGroup":
            return {
                id: `/subscriptions/${SUBSCRIPTION}/resourceGroups/${i.resourceGroupName}`,
                state: { ...i, name: i.resourceGroupName },
            };
        case "azure-native:storage:StorageAccount":
            return {
                id: armId(rg, "Microsoft.Storage/storageAccounts", i.accountName),
                state: { ...i, name: i.accountName },
            };
        case "azure-native:keyvault:Vault":
            return {
                id: armId(rg, "Microsoft.KeyVault/vaults", i.vaultName),
                state: { ...i, name: i.vaultName },
            };
        case "azure-native:operationalinsights:Workspace": {
            const name = i.workspaceName ?? args.name;
            return {
                id: armId(rg, "Microsoft.OperationalInsights/workspaces", name),
                state: { ...i, name },
            };
        }
        case "azure-native:applicationinsights:Component":
            return {
                id: armId(rg, "Microsoft.Insights/components", i.resourceName),
                state: {
                    ...i,
                    name: i.resourceName,
                    connectionString:
                        "InstrumentationKey=11111111-2222-3333-4444-555555555555;IngestionEndpoint=https://x",
                    instrumentationKey: "11111111-2222-3333-4444-555555555555",
                },
            };
        case "azure-native:containerregistry:Registry":
            return {
                id: armId(rg, "Microsoft.ContainerRegistry/registries", i.registryName),
                state: { ...i, name: i.registryName, loginServer: `${i.registryName}.azurecr.io` },
            };
        case "azure-native:machinelearningservices:Workspace":
            return {
                id: armId(rg, "Microsoft.MachineLearningServices/workspaces", i.workspaceName),
                state: { ...i, name: i.workspaceName },
            };
        case "azure-native:machinelearningservices:Compute":
            return {
                id: `${armId(rg, "Microsoft.MachineLearningServices/workspaces", i.workspaceName)}/computes/${i.computeName}`,
                state: { ...i, name: i.computeName },
            };
        case "kubernetes:core/v1:Service":
            return {
                id: `${args.name}-id`,
                state: { ...i, status: { loadBalancer: { ingress: [{ ip: LB_IP }] } } },
            };
        default:
            return { id: `${args.name}-id`, state: { ...i } };
    }
}

function callResult(args: pulumi.runtime.MockCallArgs): Record<string, Any> {
    const i = args.inputs;
    switch (args.token) {
        case "azure-native:authorization:getClientConfig":
            return {
                clientId: "client",
                objectId: DEPLOYER_OID,
                subscriptionId: SUBSCRIPTION,
                tenantId: TENANT,
            };
        case "azure-native:containerservice:listManagedClusterUserCredentials":
            return { kubeconfigs: [{ name: "clusterUser", value: b64(aksExecKubeconfig()) }] };
        case "azure-native:containerservice:listManagedClusterAdminCredentials":
            return {
                kubeconfigs: [
                    {
                        name: "clusterAdmin",
                        value: b64(
                            certKubeconfig("https://aks-abc123.hcp.westeurope.azmk8s.io:443"),
                        ),
                    },
                ],
            };
        case "azure-native:containerservice:getManagedCluster":
            return {
                id: armId(
                    i.resourceGroupName,
                    "Microsoft.ContainerService/managedClusters",
                    i.resourceName,
                ),
                name: i.resourceName,
                location: EXISTING_CLUSTER.location,
                fqdn: EXISTING_CLUSTER.fqdn,
                privateFQDN: "",
                agentPoolProfiles: EXISTING_CLUSTER.pools,
                identityProfile: { kubeletidentity: { objectId: KUBELET_OID } },
                ...(i.resourceName === "aks-no-oidc"
                    ? {}
                    : {
                          oidcIssuerProfile: { enabled: true, issuerURL: OIDC_ISSUER },
                          securityProfile: { workloadIdentity: { enabled: true } },
                      }),
            };
        case "azure-native:containerregistry:getRegistry":
            return { loginServer: `${i.registryName}.azurecr.io`, name: i.registryName };
        case "azure-native:applicationinsights:getComponent":
            return {
                connectionString: "InstrumentationKey=99999999-2222-3333-4444-555555555555",
                instrumentationKey: "99999999-2222-3333-4444-555555555555",
                workspaceResourceId: armId(
                    i.resourceGroupName,
                    "Microsoft.OperationalInsights/workspaces",
                    "existing-logs",
                ),
            };
        default:
            return i;
    }
}

/** Installs the mocks with the Azure fixtures; returns the live records. */
export function setupMocks(): MockRecords {
    return installMocks({ state: stateFor, call: callResult });
}
