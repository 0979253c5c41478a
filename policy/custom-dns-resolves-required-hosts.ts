/**
 * R11, R23, R24: with custom DNS servers on the VNet, resolving the hosts the cluster needs is the
 * user's job. The pack cannot ask those servers, so it lists what they must resolve (advisory).
 * Where the stack uses private endpoints for the registry, storage or workspace, the matching
 * `privatelink.*` private DNS zone must exist and be linked to the cluster's VNet.
 */
import { azureName, clusterLabel, isAzureType, isManagedCluster, resolveRef } from "./lib/azure";
import { type ResourceView, stackPolicy } from "./lib/core";
import { nodeSubnets } from "./lib/egress";
import {
    clusterRequiredHosts,
    EXTRA_HOSTS_SCHEMA,
    readExtraHosts,
    type RequiredHost,
} from "./lib/required-hosts";
import { arr, at, isUnknown, type JsonObject, str } from "./lib/values";
import type { StackValidationPolicy } from "@pulumi/policy/policy";

export const CUSTOM_DNS_RESOLVES_REQUIRED_HOSTS = "custom-dns-resolves-required-hosts";

/** Private DNS zone of each private-endpoint group id that serves an R23 host. */
export const PRIVATE_LINK_ZONES: Readonly<Record<string, readonly string[]>> = {
    registry: ["privatelink.azurecr.io"],
    blob: ["privatelink.blob.core.windows.net"],
    table: ["privatelink.table.core.windows.net"],
    amlworkspace: ["privatelink.api.azureml.ms", "privatelink.notebooks.azure.net"],
};

const PRIVATE_DNS_MODULES = ["privatedns", "network"] as const;
const isZone = (r: ResourceView) => isAzureType(r.type, PRIVATE_DNS_MODULES, "PrivateZone");
const isZoneLink = (r: ResourceView) =>
    isAzureType(r.type, PRIVATE_DNS_MODULES, "VirtualNetworkLink");
const isVnet = (r: ResourceView) => isAzureType(r.type, "network", "VirtualNetwork");

interface Config {
    readonly extraRequiredHosts: RequiredHost[];
    readonly privateDnsZonesManagedElsewhere: boolean;
}

function zoneName(r: ResourceView): string {
    return azureName(r, "privateZoneName").toLowerCase();
}

/** Group ids of a private endpoint's connections (`registry`, `blob`, ...). */
function groupIds(pe: ResourceView): unknown[] {
    return [
        ...arr(pe.props.privateLinkServiceConnections),
        ...arr(pe.props.manualPrivateLinkServiceConnections),
    ].flatMap((c) => arr(at(c, "groupIds")));
}

/** Zone names a private endpoint's DNS zone groups point at (zones kept in another stack). */
function zoneGroupZones(pe: ResourceView, all: readonly ResourceView[]): string[] {
    const peName = azureName(pe, "privateEndpointName").toLowerCase();
    return all
        .filter((g) => isAzureType(g.type, "network", "PrivateDnsZoneGroup"))
        .filter((g) => {
            const target = str(g.props.privateEndpointName);
            return target !== undefined
                ? target.toLowerCase() === peName
                : (g.propertyDependencies.privateEndpointName ?? []).includes(pe);
        })
        .flatMap((g) => arr(g.props.privateDnsZoneConfigs))
        .flatMap((c) => {
            const id = str(at(c, "privateDnsZoneId"));
            return id ? [id.split("/").pop()!.toLowerCase()] : [];
        });
}

/** True when a virtual network link of the stack links `zone` to `vnet` (any VNet if undefined). */
function linked(zone: ResourceView, vnet: ResourceView | undefined, all: readonly ResourceView[]) {
    return all.some((l) => {
        if (!isZoneLink(l)) return false;
        const target = str(l.props.privateZoneName);
        const ofZone =
            target !== undefined
                ? target.toLowerCase() === zoneName(zone)
                : (l.propertyDependencies.privateZoneName ?? []).includes(zone);
        if (!ofZone) return false;
        if (!vnet) return true;
        const ref = at(l.props, "virtualNetwork.id");
        return resolveRef(l, ref, "virtualNetwork", all, isVnet).includes(vnet);
    });
}

export const customDnsResolvesRequiredHosts: StackValidationPolicy = stackPolicy<Config>({
    name: CUSTOM_DNS_RESOLVES_REQUIRED_HOSTS,
    description:
        "A VNet with custom DNS servers must resolve every host of R23 for the AKS clusters in it; private endpoints need their privatelink DNS zone linked to the cluster's VNet (R11, R23).",
    severity: "medium",
    enforcementLevel: "advisory",
    remediationSteps:
        "Make the custom DNS servers resolve each listed host (forward Azure names to Azure DNS, 168.63.129.16, including the privatelink zones). For each private endpoint, create the privatelink private DNS zone and link it to the cluster's VNet (or attach it with a private DNS zone group).",
    config: {
        extraRequiredHosts: EXTRA_HOSTS_SCHEMA,
        privateDnsZonesManagedElsewhere: {
            type: "boolean",
            description:
                "Private DNS zones live in another stack (hub): do not ask for them in this one.",
            default: false,
        },
    },
    readConfig: (raw: JsonObject) => ({
        extraRequiredHosts: readExtraHosts(raw.extraRequiredHosts),
        privateDnsZonesManagedElsewhere: raw.privateDnsZonesManagedElsewhere === true,
    }),
    check(all, ctx) {
        const clusters = all.filter((r) => isManagedCluster(r.type));
        if (clusters.length === 0) return;
        const privateEndpoints = all.filter((r) =>
            isAzureType(r.type, "network", "PrivateEndpoint"),
        );
        const clusterVnets = new Map<ResourceView, ResourceView[]>();
        for (const cluster of clusters) {
            const { subnets, unresolved } = nodeSubnets(cluster, all);
            for (const u of unresolved) ctx.skip(`${clusterLabel(cluster)}: ${u}`);
            const vnets = [...new Set(subnets.flatMap((s) => (s.vnet ? [s.vnet] : [])))];
            clusterVnets.set(cluster, vnets);
            for (const vnet of vnets) {
                const servers = at(vnet.props, "dhcpOptions.dnsServers");
                const vnetLabel = `VNet "${azureName(vnet, "virtualNetworkName")}"`;
                if (isUnknown(servers)) {
                    ctx.skip(`${vnetLabel}: its DNS servers are unknown during preview`);
                    continue;
                }
                const list = arr(servers).flatMap((s) => (str(s) ? [str(s)!] : []));
                if (list.length === 0) continue; // Azure-provided DNS resolves all of them
                const { hosts, unknown } = clusterRequiredHosts(
                    cluster,
                    all,
                    ctx.config.extraRequiredHosts,
                );
                for (const u of unknown) ctx.skip(`${clusterLabel(cluster)}: ${u} during preview`);
                const rows = hosts.map((h) => `${h.host} (${h.usedBy})`).join(", ");
                const pl =
                    privateEndpoints.length > 0
                        ? " and the privatelink zones of this stack's private endpoints"
                        : "";
                ctx.violation(
                    vnet,
                    `${vnetLabel} uses custom DNS servers (${list.join(", ")}) for ${clusterLabel(cluster)}: they must resolve ${rows}${pl} (R11, R23). Forward Azure names to Azure DNS (168.63.129.16).`,
                );
            }
        }
        if (ctx.config.privateDnsZonesManagedElsewhere) return;
        const zones = all.filter(isZone);
        const vnets = [...new Set([...clusterVnets.values()].flat())];
        const reported = new Set<string>();
        for (const pe of privateEndpoints) {
            const peLabel = `Private endpoint "${azureName(pe, "privateEndpointName")}"`;
            const ids = groupIds(pe);
            if (ids.some(isUnknown)) {
                ctx.skip(`${peLabel}: its group ids are unknown during preview`);
                continue;
            }
            const viaGroups = zoneGroupZones(pe, all);
            for (const id of ids) {
                const group = String(id).toLowerCase();
                for (const name of PRIVATE_LINK_ZONES[group] ?? []) {
                    const zone = zones.find((z) => zoneName(z) === name);
                    if (!zone) {
                        if (viaGroups.includes(name)) continue; // a zone kept elsewhere, attached
                        ctx.violation(
                            pe,
                            `${peLabel} (${group}) needs the private DNS zone ${name} so the cluster resolves the service to its private address (R23), but no such zone is in this stack. Create it and link it to the cluster's VNet, or attach an existing one with a private DNS zone group.`,
                        );
                        continue;
                    }
                    const targets = vnets.length > 0 ? vnets : [undefined];
                    for (const vnet of targets) {
                        const key = `${zone.urn}|${vnet?.urn ?? ""}`;
                        if (reported.has(key) || linked(zone, vnet, all)) continue;
                        reported.add(key);
                        const where = vnet
                            ? `VNet "${azureName(vnet, "virtualNetworkName")}"`
                            : "any VNet";
                        ctx.violation(
                            zone,
                            `Private DNS zone ${name} has no virtual network link to ${where}, so the cluster cannot resolve private endpoint "${azureName(pe, "privateEndpointName")}" (${group}) (R23). Add a virtualNetworkLinks entry for that VNet.`,
                        );
                    }
                }
            }
        }
    },
});
