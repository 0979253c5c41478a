/**
 * Container Insights with Microsoft Entra authentication (R22; issue 11 item 5). With
 * `useAADAuth` the monitoring agent sends nothing until a Data Collection Rule says what to
 * collect and where, and is associated with the cluster; AKS does not create either when the
 * cluster comes from ARM (the Azure CLI and portal do). Pure: the component creates the resources.
 */

/** Stream of the Container Insights extension (container logs v2, inventory, performance). */
export const CONTAINER_INSIGHTS_STREAM = "Microsoft-ContainerInsights-Group-Default";
/** Association name AKS and the Azure CLI use; one per cluster. */
export const CONTAINER_INSIGHTS_ASSOCIATION = "ContainerInsightsExtension";

/** Name of the rule, as the Azure CLI names it (`MSCI-<region>-<cluster>`, at most 64 chars). */
export function containerInsightsRuleName(region: string, clusterName: string): string {
    return `MSCI-${region.replace(/\s+/g, "").toLowerCase()}-${clusterName}`.slice(0, 64);
}

/** The rule's body: the Container Insights extension, sent to one Log Analytics workspace. */
export function containerInsightsRule(logAnalyticsWorkspaceId: string): {
    kind: string;
    dataSources: object;
    destinations: object;
    dataFlows: { streams: string[]; destinations: string[] }[];
} {
    const destination = "ciworkspace";
    return {
        kind: "Linux",
        dataSources: {
            extensions: [
                {
                    name: "ContainerInsightsExtension",
                    extensionName: "ContainerInsights",
                    streams: [CONTAINER_INSIGHTS_STREAM],
                    extensionSettings: {
                        dataCollectionSettings: {
                            interval: "1m",
                            namespaceFilteringMode: "Off",
                            enableContainerLogV2: true,
                        },
                    },
                },
            ],
        },
        destinations: {
            logAnalytics: [{ name: destination, workspaceResourceId: logAnalyticsWorkspaceId }],
        },
        dataFlows: [{ streams: [CONTAINER_INSIGHTS_STREAM], destinations: [destination] }],
    };
}
