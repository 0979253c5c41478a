/**
 * What `evaluatePolicyPack`'s mocks answer when the caller's mocks do not: every resource echoes
 * its inputs, plus the outputs Azure and the other providers would compute and the components
 * read (ARM ids, the AKS API server FQDN, registry login servers, generated keys, image digests,
 * Kubernetes auto-names). In a preview, computed outputs stay unknown as they would in
 * `pulumi preview`. Invokes echo their inputs, except the Azure ones the components call.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";

/** Subscription, tenant and object ids the mocks report. */
export const MOCK_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000";
export const MOCK_TENANT = "00000000-0000-0000-0000-000000000001";
export const MOCK_OBJECT_ID = "00000000-0000-0000-0000-000000000002";

type Inputs = Record<string, unknown>;

const hash = (s: string, n = 8) => createHash("sha256").update(s).digest("hex").slice(0, n);

/** ARM path of the azure-native types the pack looks at: provider path and its name inputs. */
const ARM_PATHS: Readonly<Record<string, readonly [string, ...string[]][]>> = {
    "containerservice:ManagedCluster": [
        ["Microsoft.ContainerService/managedClusters", "resourceName"],
    ],
    "containerservice:AgentPool": [
        ["Microsoft.ContainerService/managedClusters", "resourceName"],
        ["agentPools", "agentPoolName"],
    ],
    "network:VirtualNetwork": [["Microsoft.Network/virtualNetworks", "virtualNetworkName"]],
    "network:Subnet": [
        ["Microsoft.Network/virtualNetworks", "virtualNetworkName"],
        ["subnets", "subnetName"],
    ],
    "network:RouteTable": [["Microsoft.Network/routeTables", "routeTableName"]],
    "network:Route": [
        ["Microsoft.Network/routeTables", "routeTableName"],
        ["routes", "routeName"],
    ],
    "network:AzureFirewall": [["Microsoft.Network/azureFirewalls", "azureFirewallName"]],
    "network:FirewallPolicy": [["Microsoft.Network/firewallPolicies", "firewallPolicyName"]],
    "network:FirewallPolicyRuleCollectionGroup": [
        ["Microsoft.Network/firewallPolicies", "firewallPolicyName"],
        ["ruleCollectionGroups", "ruleCollectionGroupName"],
    ],
    "network:PrivateEndpoint": [["Microsoft.Network/privateEndpoints", "privateEndpointName"]],
    "privatedns:PrivateZone": [["Microsoft.Network/privateDnsZones", "privateZoneName"]],
    "privatedns:VirtualNetworkLink": [
        ["Microsoft.Network/privateDnsZones", "privateZoneName"],
        ["virtualNetworkLinks", "virtualNetworkLinkName"],
    ],
    "containerregistry:Registry": [["Microsoft.ContainerRegistry/registries", "registryName"]],
    "storage:StorageAccount": [["Microsoft.Storage/storageAccounts", "accountName"]],
    "operationalinsights:Workspace": [
        ["Microsoft.OperationalInsights/workspaces", "workspaceName"],
    ],
    "machinelearningservices:Workspace": [
        ["Microsoft.MachineLearningServices/workspaces", "workspaceName"],
    ],
    "machinelearningservices:Compute": [
        ["Microsoft.MachineLearningServices/workspaces", "workspaceName"],
        ["computes", "computeName"],
    ],
};

function text(v: unknown): string | undefined {
    return typeof v === "string" && v ? v : undefined;
}

/** The ARM id and name an azure-native resource gets. */
function armId(type: string, name: string, inputs: Inputs): { id: string; name: string } {
    const [, moduleVersion = "", typeName = ""] = type.split(":");
    const key = `${moduleVersion.split("/")[0]}:${typeName}`;
    const sub = `/subscriptions/${MOCK_SUBSCRIPTION}`;
    if (key === "resources:ResourceGroup") {
        const rg = text(inputs.resourceGroupName) ?? name;
        return { id: `${sub}/resourceGroups/${rg}`, name: rg };
    }
    const rg = text(inputs.resourceGroupName) ?? "rg";
    const path = ARM_PATHS[key] ?? [[`Microsoft.${moduleVersion}/${typeName}`, "name"]];
    let own = name;
    const parts = path.map(([segment, input], i) => {
        const value = text(inputs[input]) ?? (i === path.length - 1 ? name : "parent");
        if (i === path.length - 1) own = value;
        return `${segment}/${value}`;
    });
    return { id: `${sub}/resourceGroups/${rg}/providers/${parts.join("/")}`, name: own };
}

const keyPairs = new Map<string, { priv: string; privPkcs8: string; pub: string }>();
/** A real P-256 key per logical name, so the token signing key renders real JWKs. */
function keyPair(name: string) {
    let k = keyPairs.get(name);
    if (!k) {
        const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
        k = {
            priv: privateKey.export({ format: "pem", type: "sec1" }) as string,
            privPkcs8: privateKey.export({ format: "pem", type: "pkcs8" }) as string,
            pub: publicKey.export({ format: "pem", type: "spki" }) as string,
        };
        keyPairs.set(name, k);
    }
    return k;
}

/** Default answer for a registered resource. */
export function defaultResourceState(
    args: pulumi.runtime.MockResourceArgs,
    preview: boolean,
): { id: string; state: Inputs } {
    const inputs = args.inputs as Inputs;
    const state: Inputs = { ...inputs };
    const type = args.type;
    if (type.startsWith("kubernetes:") && !type.startsWith("kubernetes:yaml")) {
        // The provider auto-names objects (known even in a preview).
        const metadata = { ...((inputs.metadata as Inputs | undefined) ?? {}) };
        if (metadata.name === undefined) metadata.name = `${args.name}-${hash(args.name)}`;
        state.metadata = metadata;
        return { id: preview ? "" : `${args.name}-id`, state };
    }
    if (preview) return { id: "", state };
    if (type.startsWith("azure-native:")) {
        const { id, name } = armId(type, args.name, inputs);
        Object.assign(state, { id, name });
        if (type.endsWith(":ManagedCluster")) {
            const prefix = text(inputs.dnsPrefix) ?? name;
            const location = String(inputs.location ?? "eastus")
                .replace(/\s+/g, "")
                .toLowerCase();
            state.fqdn = `${prefix}-${hash(id)}.hcp.${location}.azmk8s.io`;
            state.identity = {
                ...((inputs.identity as Inputs) ?? {}),
                principalId: MOCK_OBJECT_ID,
            };
            state.identityProfile = { kubeletidentity: { objectId: MOCK_OBJECT_ID } };
        } else if (type.endsWith(":Registry")) {
            state.loginServer = `${name.toLowerCase()}.azurecr.io`;
        } else if (/:applicationinsights(\/[^:]+)?:Component$/.test(type)) {
            state.instrumentationKey = "00000000-0000-0000-0000-00000000000a";
            state.connectionString = `InstrumentationKey=${state.instrumentationKey}`;
        }
        return { id, state };
    }
    switch (type) {
        case "random:index/randomPassword:RandomPassword":
        case "random:index/randomString:RandomString": {
            const length = typeof inputs.length === "number" ? inputs.length : 32;
            const seed = `${args.name}|${JSON.stringify(inputs.keepers ?? {})}`;
            state.result = createHash("sha512").update(seed).digest("base64url").slice(0, length);
            break;
        }
        case "tls:index/privateKey:PrivateKey": {
            const k = keyPair(args.name);
            Object.assign(state, {
                privateKeyPem: k.priv,
                privateKeyPemPkcs8: k.privPkcs8,
                publicKeyPem: k.pub,
            });
            break;
        }
        case "docker:index/image:Image": {
            const image = String(inputs.imageName ?? args.name);
            const repo = image.replace(/:[^/:]+$/, "");
            state.repoDigest = `${repo}@sha256:${createHash("sha256").update(image).digest("hex")}`;
            break;
        }
    }
    return { id: `${args.name}-id`, state };
}

/** A kubeconfig as AKS returns it (exec user for kubelogin). */
function aksKubeconfig(cluster: string): string {
    return [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        `- name: ${cluster}`,
        "  cluster:",
        "    certificate-authority-data: Q0E=",
        `    server: https://${cluster}-${hash(cluster)}.hcp.eastus.azmk8s.io:443`,
        "contexts:",
        `- name: ${cluster}`,
        `  context: { cluster: ${cluster}, user: clusterUser }`,
        `current-context: ${cluster}`,
        "users:",
        "- name: clusterUser",
        "  user:",
        "    exec:",
        "      apiVersion: client.authentication.k8s.io/v1beta1",
        "      command: kubelogin",
        "      args: [get-token, --login, azurecli, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]",
        "",
    ].join("\n");
}

/** Default answer for an invoke. */
export function defaultCall(args: pulumi.runtime.MockCallArgs): Inputs {
    const inputs = args.inputs as Inputs;
    const token = args.token.replace(/\/v[^:]+:/, ":");
    switch (token) {
        case "azure-native:authorization:getClientConfig":
            return {
                clientId: "mock-client",
                objectId: MOCK_OBJECT_ID,
                subscriptionId: MOCK_SUBSCRIPTION,
                tenantId: MOCK_TENANT,
            };
        case "azure-native:containerservice:listManagedClusterUserCredentials":
        case "azure-native:containerservice:listManagedClusterAdminCredentials": {
            const cluster = text(inputs.resourceName) ?? "aks";
            const value = Buffer.from(aksKubeconfig(cluster)).toString("base64");
            return { kubeconfigs: [{ name: "clusterUser", value }] };
        }
        case "azure-native:containerregistry:getRegistry":
            return { ...inputs, loginServer: `${String(inputs.registryName)}.azurecr.io` };
        default:
            return inputs;
    }
}
