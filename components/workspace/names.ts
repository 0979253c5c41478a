/**
 * Names of the workspace's resources (pure). Given names are validated by the rules below;
 * missing ones are derived from the component name plus a stable suffix.
 *
 * Suffix choice: storage account, registry and key vault names are globally unique DNS names,
 * so a derived name needs something per deployment. We use the first 8 hex chars of
 * sha256("<subscription id>/<resource group (lowercase)>/<component name>") rather than a
 * RandomString: the same program in the same place always yields the same names (preview shows
 * them, state loss or re-import finds the same resources, no extra resource in state), and two
 * subscriptions or resource groups never collide. No timestamps. Override it with `nameSuffix`
 * (e.g. after destroying a workspace whose key vault still sits in soft-delete/purge protection,
 * which keeps its name reserved for the retention period).
 */
import { createHash } from "node:crypto";
import { NAME_RULES, NameRule } from "../common/validation";

/** The naming rule of each resource; derived names satisfy them too. */
export const WORKSPACE_NAME_RULES = {
    resourceGroupName: NAME_RULES.resourceGroupName,
    workspaceName: NAME_RULES.workspaceName,
    storageAccountName: NAME_RULES.storageAccountName,
    containerRegistryName: NAME_RULES.containerRegistryName,
    /** Key vault: 3–24 letters, digits and dashes, start with a letter, end alphanumeric, no `--`. */
    keyVaultName: {
        pattern: /^(?!.*--)[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/,
        rule: "must be 3-24 characters of letters, digits and dashes, start with a letter, end with a letter or digit, without consecutive dashes (globally unique)",
    },
    /** Log Analytics workspace: 4–63 letters, digits and dashes, starting and ending alphanumeric. */
    logAnalyticsWorkspaceName: {
        pattern: /^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$/,
        rule: "must be 4-63 characters of letters, digits and dashes, starting and ending with a letter or digit",
    },
    /** Application Insights component: 1–255 chars, no `%&\\?/` and not ending in `.` or space. */
    applicationInsightsName: {
        pattern: /^[^%&\\?/]{0,254}[^%&\\?/. ]$/,
        rule: "must be 1-255 characters without % & \\ ? /, not ending with '.' or a space",
    },
    nameSuffix: { pattern: /^[a-z0-9]{1,8}$/, rule: "must be 1-8 lowercase letters and digits" },
} as const satisfies Record<string, NameRule>;

/** The stable suffix (8 lowercase hex chars). */
export function nameSuffix(
    subscriptionId: string,
    resourceGroupName: string,
    componentName: string,
): string {
    return createHash("sha256")
        .update(
            `${subscriptionId.toLowerCase()}/${resourceGroupName.toLowerCase()}/${componentName}`,
        )
        .digest("hex")
        .slice(0, 8);
}

function alnum(text: string): string {
    return text.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/** Names derived for one workspace. */
export interface DerivedNames {
    readonly resourceGroupName: string;
    readonly workspaceName: string;
    readonly storageAccountName: string;
    readonly containerRegistryName: string;
    readonly keyVaultName: string;
    readonly logAnalyticsWorkspaceName: string;
    readonly applicationInsightsName: string;
}

/** Resource group name when none is given: `<component>-<stack>-rg` (per stack, deterministic). */
export function deriveResourceGroupName(componentName: string, stack: string): string {
    const n = `${componentName}-${stack}-rg`.replace(/[^-\w.()]/g, "-").slice(0, 90);
    return n.replace(/\.+$/, "");
}

/** Derives every name from the component name and the suffix; each satisfies its rule above. */
export function deriveNames(
    componentName: string,
    suffix: string,
    resourceGroupName: string,
): DerivedNames {
    const base = alnum(componentName) || "aml";
    const dashed =
        componentName
            .toLowerCase()
            .replace(/[^a-z0-9-]/g, "-")
            .replace(/-+/g, "-")
            .replace(/^-+|-+$/g, "") || "aml";
    let ws = componentName.replace(/[^A-Za-z0-9_-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
    ws = ws.slice(0, 33);
    if (ws.length < 3) ws = `${ws || "aml"}-ws`;
    const kvBase = dashed.slice(0, 24 - 3 - 1 - suffix.length).replace(/-+$/, "");
    const logs = `${dashed.slice(0, 58)}-logs`.replace(/^-+/, "");
    return {
        resourceGroupName,
        workspaceName: ws,
        storageAccountName: `st${base.slice(0, 24 - 2 - suffix.length)}${suffix}`,
        containerRegistryName: `acr${base.slice(0, 50 - 3 - suffix.length)}${suffix}`,
        keyVaultName: kvBase ? `kv-${kvBase}-${suffix}` : `kv-${suffix}`,
        logAnalyticsWorkspaceName: logs.length >= 4 ? logs : `aml-logs`,
        applicationInsightsName: `${dashed.slice(0, 200)}-appi`,
    };
}
