/**
 * Azure Resource Manager id parsing (pure). Used to check ids given as plain strings
 * (attach by `resourceId`, `vnetSubnetId`, existing workspace resources) and to derive names
 * from them without an extra Azure call.
 */
import { GUID, NAME_RULES, plainValue, Problems } from "./validation";

/** Parts of a top-level resource id `/subscriptions/<s>/resourceGroups/<rg>/providers/<ns>/<type>/<name>`. */
export interface ArmId {
    readonly subscriptionId: string;
    readonly resourceGroupName: string;
    readonly providerNamespace: string;
    /** Resource type path below the namespace, e.g. `managedClusters` or `virtualNetworks/subnets`. */
    readonly type: string;
    /** Last name segment. */
    readonly name: string;
    /** Every name segment, outermost first (e.g. `[vnet, subnet]`). */
    readonly names: readonly string[];
}

/**
 * Parses an ARM id of a resource (nested types allowed). Segment names compare
 * case-insensitively like ARM does (v1 built ids with `resourcegroups` in lower case, S5).
 * Returns `undefined` when the text is not such an id.
 */
export function parseArmId(id: string): ArmId | undefined {
    if (typeof id !== "string" || !id.startsWith("/")) return undefined;
    const seg = id.split("/").slice(1);
    if (seg.some((s) => s.length === 0)) return undefined;
    // subscriptions/<s>/resourceGroups/<rg>/providers/<ns>/<type>/<name>[/<type>/<name>]*
    if (seg.length < 8 || seg.length % 2 !== 0) return undefined;
    if (seg[0].toLowerCase() !== "subscriptions" || !GUID.test(seg[1])) return undefined;
    if (
        seg[2].toLowerCase() !== "resourcegroups" ||
        !NAME_RULES.resourceGroupName.pattern.test(seg[3])
    )
        return undefined;
    if (seg[4].toLowerCase() !== "providers" || !/^[A-Za-z]+(\.[A-Za-z]+)+$/.test(seg[5])) {
        return undefined;
    }
    const types: string[] = [];
    const names: string[] = [];
    for (let i = 6; i < seg.length; i += 2) {
        types.push(seg[i]);
        names.push(seg[i + 1]);
    }
    return {
        subscriptionId: seg[1],
        resourceGroupName: seg[3],
        providerNamespace: seg[5],
        type: types.join("/"),
        name: names[names.length - 1],
        names,
    };
}

/**
 * Parses an id that should be valid (plain ids were validated; an Output is only known now);
 * throws an error naming `field` when it is not.
 */
export function requireArmId(id: string, field: string): ArmId {
    const parsed = parseArmId(id);
    if (!parsed) {
        throw new Error(`${field}: ${JSON.stringify(id)} is not an Azure resource id`);
    }
    return parsed;
}

/**
 * Parses `id` and checks it names a resource of `<namespace>/<type>` (case-insensitive).
 * Returns `undefined` when it does not.
 */
export function parseArmIdOfType(id: string, namespaceAndType: string): ArmId | undefined {
    const parsed = parseArmId(id);
    if (!parsed) return undefined;
    const want = namespaceAndType.toLowerCase();
    const got = `${parsed.providerNamespace}/${parsed.type}`.toLowerCase();
    return got === want ? parsed : undefined;
}

const SHAPE_PREFIX = "/subscriptions/<subscription-id>/resourceGroups/<rg>/providers/";

/** The resource kinds args refer to by id: ARM type, words for messages, the id's shape. */
export const ARM_ID_KINDS = {
    managedCluster: {
        type: "Microsoft.ContainerService/managedClusters",
        what: "an AKS cluster",
        shape: `${SHAPE_PREFIX}Microsoft.ContainerService/managedClusters/<name>`,
    },
    subnet: {
        type: "Microsoft.Network/virtualNetworks/subnets",
        what: "a subnet",
        shape: `${SHAPE_PREFIX}Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>`,
    },
    storageAccount: {
        type: "Microsoft.Storage/storageAccounts",
        what: "a storage account",
        shape: `${SHAPE_PREFIX}Microsoft.Storage/storageAccounts/<name>`,
    },
    keyVault: {
        type: "Microsoft.KeyVault/vaults",
        what: "a key vault",
        shape: `${SHAPE_PREFIX}Microsoft.KeyVault/vaults/<name>`,
    },
    applicationInsights: {
        type: "Microsoft.Insights/components",
        what: "an Application Insights",
        shape: `${SHAPE_PREFIX}Microsoft.Insights/components/<name>`,
    },
    containerRegistry: {
        type: "Microsoft.ContainerRegistry/registries",
        what: "a container registry",
        shape: `${SHAPE_PREFIX}Microsoft.ContainerRegistry/registries/<name>`,
    },
    logAnalyticsWorkspace: {
        type: "Microsoft.OperationalInsights/workspaces",
        what: "a Log Analytics workspace",
        shape: `${SHAPE_PREFIX}Microsoft.OperationalInsights/workspaces/<name>`,
    },
    userAssignedIdentity: {
        type: "Microsoft.ManagedIdentity/userAssignedIdentities",
        what: "a user-assigned identity",
        shape: `${SHAPE_PREFIX}Microsoft.ManagedIdentity/userAssignedIdentities/<name>`,
    },
} as const;

export type ArmIdKind = keyof typeof ARM_ID_KINDS;

/** `must be <what> resource id: <shape>`, so users see the expected id. */
export function armIdRule(kind: ArmIdKind): string {
    const k = ARM_ID_KINDS[kind];
    return `must be ${k.what} resource id: ${k.shape}`;
}

/**
 * Adds a problem when the plain value is not an id of `kind` (a top-level one when `topLevel`);
 * true when it is.
 */
export function checkArmId(
    p: Problems,
    field: string,
    value: unknown,
    kind: ArmIdKind,
    topLevel = false,
): boolean {
    const v = plainValue<unknown>(value);
    if (v === undefined) return false;
    const parsed = typeof v === "string" ? parseArmIdOfType(v, ARM_ID_KINDS[kind].type) : undefined;
    if (!parsed || (topLevel && parsed.names.length !== 1)) {
        p.add(field, v, armIdRule(kind));
        return false;
    }
    return true;
}
