/**
 * R22: container logs are not stored by AKS; Container Insights keeps them, so the logs of a model
 * whose pod restarted can still be read (v1's `get_logs()` had the same limit).
 */
import { clusterLabel, isManagedCluster } from "./lib/azure";
import { resourcePolicy } from "./lib/core";
import { at, bool, getCaseInsensitive, isUnknown } from "./lib/values";
import type { ResourceValidationPolicy } from "@pulumi/policy/policy";

export const CONTAINER_INSIGHTS = "container-insights";

export const containerInsights: ResourceValidationPolicy = resourcePolicy({
    name: CONTAINER_INSIGHTS,
    description:
        "AKS inference clusters should run Container Insights: container logs are not stored otherwise (R22).",
    severity: "low",
    enforcementLevel: "advisory",
    remediationSteps:
        "Keep containerInsightsEnabled: true on AksInferenceCluster (the default), or enable the omsagent add-on (addonProfiles.omsagent) with a Log Analytics workspace.",
    appliesTo: isManagedCluster,
    check(cluster, ctx) {
        const oms = getCaseInsensitive(cluster.props.addonProfiles, "omsagent");
        const enabled = at(oms, "enabled");
        const monitor = at(cluster.props, "azureMonitorProfile.containerInsights.enabled");
        if (isUnknown(cluster.props.addonProfiles) || isUnknown(enabled) || isUnknown(monitor)) {
            ctx.skip(`${clusterLabel(cluster)}: its add-ons are unknown during preview`);
            return;
        }
        if (bool(enabled) === true || bool(monitor) === true) return;
        ctx.violation(
            cluster,
            `${clusterLabel(cluster)} does not run Container Insights (the omsagent add-on is not enabled): container logs are not stored, so a failing model's logs are lost with its pod (R22). Enable it with a Log Analytics workspace (containerInsightsEnabled: true on AksInferenceCluster, the default).`,
        );
    },
});
