/**
 * R11, R23–R25: an Azure CNI cluster joins a VNet the user owns, and so does its egress. When that
 * egress is restricted (user-defined routes, or a route table sending 0.0.0.0/0 to a firewall), the
 * Azure Firewall rules of the stack must let every R23 host through, or the router cannot start
 * (MCR, API server) and model deployments cannot pull images or models (ACR, blob storage).
 */
import { clusterLabel, isManagedCluster, networkPlugin } from "./lib/azure";
import { stackPolicy } from "./lib/core";
import { egressOf } from "./lib/egress";
import { allowedBy, firewallRules } from "./lib/firewall";
import {
    clusterRequiredHosts,
    EXTRA_HOSTS_SCHEMA,
    MCR_DATA_HOST,
    readExtraHosts,
    type RequiredHost,
} from "./lib/required-hosts";
import type { JsonObject } from "./lib/values";
import type { StackValidationPolicy } from "@pulumi/policy/policy";

export const CNI_EGRESS_ALLOWS_REQUIRED_HOSTS = "cni-egress-allows-required-hosts";

interface Config {
    readonly extraRequiredHosts: RequiredHost[];
    readonly firewallManagedElsewhere: boolean;
}

export const cniEgressAllowsRequiredHosts: StackValidationPolicy = stackPolicy<Config>({
    name: CNI_EGRESS_ALLOWS_REQUIRED_HOSTS,
    description:
        "Azure CNI clusters whose egress goes through a firewall or user-defined routes must be allowed to reach every host of R23 (R11, R23, R24).",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Add each missing host to an Allow application rule collection (HTTPS 443) of the Azure Firewall policy the cluster's route table points to, or use the FQDN tag AzureKubernetesService for the AKS hosts. AksInferenceCluster's requiredHosts output lists every host with who needs it. Hosts your models call (R25) go in extraRequiredHosts.",
    config: {
        extraRequiredHosts: EXTRA_HOSTS_SCHEMA,
        firewallManagedElsewhere: {
            type: "boolean",
            description:
                "The firewall is managed in another stack: when this stack holds no firewall rules, skip the check instead of reporting every host.",
            default: false,
        },
    },
    readConfig: (raw: JsonObject) => ({
        extraRequiredHosts: readExtraHosts(raw.extraRequiredHosts),
        firewallManagedElsewhere: raw.firewallManagedElsewhere === true,
    }),
    check(all, ctx) {
        const rules = firewallRules(all);
        for (const cluster of all.filter((r) => isManagedCluster(r.type))) {
            const label = clusterLabel(cluster);
            const plugin = networkPlugin(cluster);
            if (plugin === "unknown") {
                ctx.skip(`${label}: networkPlugin is unknown during preview`);
                continue;
            }
            if (plugin !== "azure") continue; // kubenet: egress configured with the cluster (R11)
            const egress = egressOf(cluster, all);
            if (egress.kind === "unknown") {
                ctx.skip(`${label}: cannot tell how egress leaves (${egress.reason})`);
                continue;
            }
            if (egress.kind === "open") continue;
            if (rules.firewalls === 0 && ctx.config.firewallManagedElsewhere) {
                ctx.skip(
                    `${label}: its firewall is managed in another stack (firewallManagedElsewhere)`,
                );
                continue;
            }
            const { hosts, unknown } = clusterRequiredHosts(
                cluster,
                all,
                ctx.config.extraRequiredHosts,
            );
            for (const u of unknown) ctx.skip(`${label}: ${u} during preview`);
            for (const { host, usedBy } of hosts) {
                if (allowedBy(rules, host)) continue;
                if (rules.unknown.length > 0) {
                    ctx.skip(
                        `${label}: cannot tell whether ${host} is allowed: rules are unknown during preview (${rules.unknown.join(", ")})`,
                    );
                    continue;
                }
                const also =
                    host === "mcr.microsoft.com"
                        ? ` (and ${MCR_DATA_HOST}, where its layers download)`
                        : "";
                ctx.violation(
                    cluster,
                    `${label} uses Azure CNI with egress through ${egress.how}, but no Azure Firewall rule in this stack allows ${host} (needed by: ${usedBy}). Allow it over HTTPS${also} (R11, R23).`,
                );
            }
        }
    },
});
