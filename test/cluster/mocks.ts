/**
 * Pulumi mocks shared by the cluster and workspace component tests: records every registered
 * resource and invoke, and answers the Azure invokes the components make with fixed values.
 * One `setMocks` per test file (each file runs in its own process).
 */
import * as pulumi from "@pulumi/pulumi";

/** Recorded inputs are untyped JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = any;

export const SUBSCRIPTION = "00000000-0000-0000-0000-000000000001";
export const TENANT = "00000000-0000-0000-0000-0000000000aa";
export const DEPLOYER_OID = "00000000-0000-0000-0000-0000000000bb";
export const KUBELET_OID = "00000000-0000-0000-0000-0000000000cc";
export const LB_IP = "20.1.2.3";
export const CLUSTER_OID = "00000000-0000-0000-0000-0000000000dd";
export const UAI_OID = "00000000-0000-0000-0000-0000000000ee";

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, Any>;
    provider?: string;
    custom?: boolean;
}

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
                },
            };
        }
        case "azure-native:managedidentity:UserAssignedIdentity":
            return {
                id: armId(rg, "Microsoft.ManagedIdentity/userAssignedIdentities", args.name),
                state: { ...i, name: args.name, principalId: UAI_OID },
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

/** Installs the mocks; returns the live lists of registered resources and invokes. */
export function setupMocks(): {
    resources: Recorded[];
    calls: { token: string; inputs: Any; provider?: string }[];
} {
    const resources: Recorded[] = [];
    const calls: { token: string; inputs: Any; provider?: string }[] = [];
    void pulumi.runtime.setMocks(
        {
            newResource(args) {
                resources.push({
                    type: args.type,
                    name: args.name,
                    inputs: args.inputs,
                    provider: args.provider,
                    custom: args.custom,
                });
                return stateFor(args);
            },
            call(args) {
                calls.push({ token: args.token, inputs: args.inputs, provider: args.provider });
                return callResult(args);
            },
        },
        "amlaks",
        "test",
        false,
    );
    return { resources, calls };
}

/** Resolves an Output's value. */
export function unwrap<T>(o: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** Waits until no new resources have been registered for a few event-loop turns. */
export async function settle(list: unknown[]): Promise<void> {
    let last = -1;
    let stable = 0;
    while (stable < 5) {
        await new Promise((r) => setTimeout(r, 10));
        if (list.length === last) stable++;
        else {
            stable = 0;
            last = list.length;
        }
    }
}

/** The one recorded resource of `type` (and `name` when given); throws when not exactly one. */
export function one(resources: Recorded[], type: string, name?: string): Recorded {
    const found = resources.filter(
        (r) => r.type === type && (name === undefined || r.name === name),
    );
    if (found.length !== 1) {
        throw new Error(
            `expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}: ${resources.map((r) => `${r.type}/${r.name}`).join(", ")}`,
        );
    }
    return found[0];
}

/** Pulumi's wire marker of a secret value; mock inputs keep it, so tests can see secrets. */
const SECRET_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** True when a recorded input value was a Pulumi secret. */
export function isSecretInput(v: unknown): boolean {
    return (
        typeof v === "object" &&
        v !== null &&
        (v as Record<string, unknown>)[SECRET_KEY] === SECRET_SIG
    );
}

/** Recorded input with secret markers removed (deeply). */
export function reveal<T = Any>(v: unknown): T {
    if (isSecretInput(v)) return reveal((v as { value: unknown }).value);
    if (Array.isArray(v)) return v.map((x) => reveal(x)) as T;
    if (typeof v === "object" && v !== null) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)])) as T;
    }
    return v as T;
}
