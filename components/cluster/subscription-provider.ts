/**
 * An azure-native provider for another subscription (issue 11 item 9): attach mode reads the
 * cluster named by `resourceId`, whose subscription may differ from the default provider's. An
 * explicit provider does not inherit the stack's `azure-native:*` settings, so they are copied.
 */
import { Provider, ProviderArgs } from "@pulumi/azure-native/provider";
import * as pulumi from "@pulumi/pulumi";

/** Settings of the default provider that an explicit one must repeat (authentication, cloud). */
export const INHERITED_PROVIDER_SETTINGS = [
    "auxiliaryTenantIds",
    "clientCertificatePassword",
    "clientCertificatePath",
    "clientId",
    "clientSecret",
    "disableInstanceDiscovery",
    "environment",
    "metadataHost",
    "msiEndpoint",
    "oidcRequestToken",
    "oidcRequestUrl",
    "oidcToken",
    "oidcTokenFilePath",
    "tenantId",
    "useDefaultAzureCredential",
    "useMsi",
    "useOidc",
] as const;

const BOOLEAN_SETTINGS = new Set([
    "disableInstanceDiscovery",
    "useDefaultAzureCredential",
    "useMsi",
    "useOidc",
]);
const SECRET_SETTINGS = new Set([
    "clientSecret",
    "clientCertificatePassword",
    "oidcToken",
    "oidcRequestToken",
]);

/** Provider args for `subscriptionId` with the stack's other azure-native settings (pure). */
export function providerArgsFor(
    subscriptionId: pulumi.Input<string>,
    config: { get(key: string): string | undefined },
): ProviderArgs {
    const out: Record<string, unknown> = { subscriptionId };
    for (const k of INHERITED_PROVIDER_SETTINGS) {
        const v = config.get(k);
        if (v === undefined) continue;
        if (BOOLEAN_SETTINGS.has(k)) out[k] = v === "true";
        else if (k === "auxiliaryTenantIds") out[k] = JSON.parse(v) as string[];
        else out[k] = SECRET_SETTINGS.has(k) ? pulumi.secret(v) : v;
    }
    return out as ProviderArgs;
}

/** A provider for the subscription of an attached cluster, parented to the component. */
export function subscriptionProvider(
    name: string,
    subscriptionId: pulumi.Input<string>,
    parent: pulumi.Resource,
): Provider {
    return new Provider(name, providerArgsFor(subscriptionId, new pulumi.Config("azure-native")), {
        parent,
    });
}
