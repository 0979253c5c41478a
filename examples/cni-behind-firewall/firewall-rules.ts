/**
 * Azure Firewall application rules from an inference cluster's `requiredHosts` (R23): one rule per
 * host, HTTPS on 443, from the cluster's subnet. Pure, so a platform team can test its rule set.
 */
import type * as azure from "@pulumi/azure-native";
// In your own program: import type { RequiredHost } from "@amlaks/pulumi-aml-aks";
import type { RequiredHost } from "../../index";

type ApplicationRule = azure.types.input.network.ApplicationRuleArgs;
type FilterRuleCollection = azure.types.input.network.FirewallPolicyFilterRuleCollectionArgs;

/** A rule name Azure accepts (letters, digits, `.`, `-`, `_`; at most 80 characters). */
export function ruleName(host: string): string {
    return host
        .replace(/^\*\./, "any.")
        .replace(/[^A-Za-z0-9._-]/g, "-")
        .slice(0, 80);
}

/** One Allow rule per host: `targetFqdns: [host]`, HTTPS 443, from `sourceAddresses`. */
export function requiredHostRules(
    hosts: readonly RequiredHost[],
    sourceAddresses: readonly string[],
): ApplicationRule[] {
    return hosts.map((h) => ({
        ruleType: "ApplicationRule",
        name: ruleName(h.host),
        description: `needed by: ${h.usedBy}`.slice(0, 140),
        sourceAddresses: [...sourceAddresses],
        protocols: [{ protocolType: "Https", port: 443 }],
        targetFqdns: [h.host],
    }));
}

/** The Allow collection holding {@link requiredHostRules}. */
export function requiredHostsCollection(
    hosts: readonly RequiredHost[],
    sourceAddresses: readonly string[],
    priority = 100,
): FilterRuleCollection {
    return {
        ruleCollectionType: "FirewallPolicyFilterRuleCollection",
        name: "aml-inference-required-hosts",
        priority,
        action: { type: "Allow" },
        rules: requiredHostRules(hosts, sourceAddresses),
    };
}
