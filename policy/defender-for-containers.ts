/**
 * R39: vulnerability scanning of the inference cluster — Microsoft Defender for Containers, on the
 * cluster (`securityProfile.defender`) or as the subscription's Containers plan.
 */
import { clusterLabel, isAzureType, isManagedCluster } from "./lib/azure";
import { stackPolicy } from "./lib/core";
import { at, bool, isUnknown, type JsonObject, str } from "./lib/values";
import type { StackValidationPolicy } from "@pulumi/policy/policy";

export const DEFENDER_FOR_CONTAINERS = "defender-for-containers";

interface Config {
    readonly enabledAtSubscriptionLevel: boolean;
}

export const defenderForContainers: StackValidationPolicy = stackPolicy<Config>({
    name: DEFENDER_FOR_CONTAINERS,
    description:
        "AKS inference clusters should run Microsoft Defender for Containers (vulnerability scanning, R39).",
    severity: "medium",
    enforcementLevel: "advisory",
    remediationSteps:
        'Keep defenderEnabled: true on AksInferenceCluster (the default), set securityProfile.defender.securityMonitoring.enabled with a Log Analytics workspace, or enable the subscription\'s Defender for Containers plan (azure-native security.Pricing "Containers", tier Standard).',
    config: {
        enabledAtSubscriptionLevel: {
            type: "boolean",
            description:
                "Defender for Containers is enabled for the subscription outside this stack.",
            default: false,
        },
    },
    readConfig: (raw: JsonObject) => ({
        enabledAtSubscriptionLevel: raw.enabledAtSubscriptionLevel === true,
    }),
    check(all, ctx) {
        const plan = all.some(
            (r) =>
                isAzureType(r.type, "security", "Pricing") &&
                (str(r.props.pricingName) ?? r.name).toLowerCase() === "containers" &&
                str(r.props.pricingTier)?.toLowerCase() === "standard",
        );
        for (const cluster of all.filter((r) => isManagedCluster(r.type))) {
            const enabled = at(
                cluster.props,
                "securityProfile.defender.securityMonitoring.enabled",
            );
            if (isUnknown(enabled)) {
                ctx.skip(
                    `${clusterLabel(cluster)}: its Defender setting is unknown during preview`,
                );
                continue;
            }
            if (bool(enabled) === true || plan || ctx.config.enabledAtSubscriptionLevel) continue;
            ctx.violation(
                cluster,
                `${clusterLabel(cluster)} does not run Microsoft Defender for Containers (securityProfile.defender.securityMonitoring.enabled is not true, and this stack has no Defender for Containers plan): its images and nodes are not scanned for vulnerabilities (R39). Enable it (defenderEnabled: true on AksInferenceCluster, the default).`,
            );
        }
    },
});
