/**
 * Azure Resource Manager id parsing (pure). Used to check ids given as plain strings
 * (attach by `resourceId`, `vnetSubnetId`, existing workspace resources) and to derive names
 * from them without an extra Azure call.
 */

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

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Resource group names: 1–90 chars of letters, digits, `_ - . ( )`, not ending in a period. */
const RG_NAME = /^[-\w.()]{0,89}[-\w()]$/;

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
    if (seg[2].toLowerCase() !== "resourcegroups" || !RG_NAME.test(seg[3])) return undefined;
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

/** Example ids for error messages, so users see the expected shape. */
export const ARM_ID_SHAPES = {
    managedCluster:
        "/subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.ContainerService/managedClusters/<name>",
    subnet: "/subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>",
    storageAccount:
        "/subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>",
    keyVault:
        "/subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>",
    applicationInsights:
        "/subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.Insights/components/<name>",
    containerRegistry:
        "/subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/<name>",
    logAnalyticsWorkspace:
        "/subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>",
} as const;
