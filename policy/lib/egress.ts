/**
 * Where an AKS cluster's nodes live and how their traffic leaves: the subnets of its node pools,
 * the VNets holding them, and whether egress is restricted (`outboundType: userDefinedRouting`, or
 * a route table on a node subnet that sends 0.0.0.0/0 to a virtual appliance such as Azure
 * Firewall, or to a VPN/ExpressRoute gateway). Pure.
 */
import { arr, at, isUnknown, str } from "./values";
import type { ResourceView } from "./core";
import {
    azureName,
    idOf,
    idSegment,
    isAzureType,
    nodePools,
    normId,
    poolsUnknown,
    resolveRef,
} from "./azure";

const isSubnet = (r: ResourceView) => isAzureType(r.type, "network", "Subnet");
const isVnet = (r: ResourceView) => isAzureType(r.type, "network", "VirtualNetwork");
const isRouteTable = (r: ResourceView) => isAzureType(r.type, "network", "RouteTable");
const isRoute = (r: ResourceView) => isAzureType(r.type, "network", "Route");

/** A node subnet: a `Subnet` resource, or a subnet written inline in a `VirtualNetwork`. */
export interface NodeSubnet {
    readonly name: string;
    /** The `Subnet` resource, or the `VirtualNetwork` for an inline subnet. */
    readonly resource: ResourceView;
    /** The VNet, when it is in the stack. */
    readonly vnet?: ResourceView;
    /** `routeTable` of the subnet (an object with `id`), possibly unknown. */
    readonly routeTable: unknown;
}

/** Node subnets of a cluster, and what could not be resolved. */
export interface NodeSubnets {
    readonly subnets: NodeSubnet[];
    /** True when the cluster names subnets (bring-your-own VNet). */
    readonly customVnet: boolean;
    readonly unresolved: string[];
}

function vnetByName(all: readonly ResourceView[], name: string | undefined) {
    if (!name) return undefined;
    return all.find(
        (r) => isVnet(r) && azureName(r, "virtualNetworkName").toLowerCase() === name.toLowerCase(),
    );
}

function inlineSubnets(vnet: ResourceView, only?: string): NodeSubnet[] {
    return arr(vnet.props.subnets)
        .filter((s) => !only || str(at(s, "name"))?.toLowerCase() === only.toLowerCase())
        .map((s) => ({
            name: str(at(s, "name")) ?? "?",
            resource: vnet,
            vnet,
            routeTable: at(s, "routeTable"),
        }));
}

function subnetOf(r: ResourceView, all: readonly ResourceView[]): NodeSubnet {
    const vnetName = str(r.props.virtualNetworkName);
    const vnet =
        vnetByName(all, vnetName) ??
        resolveRef(r, r.props.virtualNetworkName, "virtualNetworkName", all, isVnet)[0];
    return { name: azureName(r, "subnetName"), resource: r, vnet, routeTable: r.props.routeTable };
}

/** The subnets the cluster's node pools join. */
export function nodeSubnets(cluster: ResourceView, all: readonly ResourceView[]): NodeSubnets {
    const subnets: NodeSubnet[] = [];
    const unresolved: string[] = [];
    let customVnet = false;
    if (poolsUnknown(cluster)) unresolved.push("its node pools are unknown during preview");
    for (const pool of nodePools(cluster, all)) {
        const value = pool.subnetId;
        if (value === undefined || value === null || value === "") continue;
        customVnet = true;
        const id = normId(value);
        if (id) {
            const vnetName = idSegment(id, "virtualNetworks");
            const subnetName = idSegment(id, "subnets");
            const resource = all.find(
                (r) =>
                    isSubnet(r) &&
                    (idOf(r) === id ||
                        (azureName(r, "subnetName").toLowerCase() === subnetName?.toLowerCase() &&
                            str(r.props.virtualNetworkName)?.toLowerCase() ===
                                vnetName?.toLowerCase())),
            );
            if (resource) subnets.push(subnetOf(resource, all));
            else {
                const vnet = vnetByName(all, vnetName);
                if (vnet) subnets.push(...inlineSubnets(vnet, subnetName));
                // Otherwise the subnet lives in another stack: nothing to check here.
            }
            continue;
        }
        // Unknown id (created in this run): follow the dependencies of the pool's input.
        const deps = [
            ...(cluster.propertyDependencies.agentPoolProfiles ?? []),
            ...(cluster.propertyDependencies.vnetSubnetID ?? []),
        ];
        const subnetDeps = deps.filter(isSubnet);
        const vnetDeps = deps.filter(isVnet);
        if (subnetDeps.length > 0) subnets.push(...subnetDeps.map((s) => subnetOf(s, all)));
        else if (vnetDeps.length > 0) for (const v of vnetDeps) subnets.push(...inlineSubnets(v));
        else unresolved.push(`the subnet of node pool "${pool.name}" is unknown during preview`);
    }
    const seen = new Set<string>();
    return {
        subnets: subnets.filter((s) => {
            const key = `${s.resource.urn}|${s.name}`;
            return seen.has(key) ? false : (seen.add(key), true);
        }),
        customVnet,
        unresolved,
    };
}

/** How a cluster's egress leaves. */
export type Egress =
    | { readonly kind: "restricted"; readonly how: string }
    | { readonly kind: "open" }
    | { readonly kind: "unknown"; readonly reason: string };

function defaultRouteHop(table: ResourceView, all: readonly ResourceView[]): string | undefined {
    const tableName = azureName(table, "routeTableName").toLowerCase();
    const routes: unknown[] = [...arr(table.props.routes)];
    for (const r of all) {
        if (!isRoute(r)) continue;
        const target = str(r.props.routeTableName);
        const linked =
            target !== undefined
                ? target.toLowerCase() === tableName
                : (r.propertyDependencies.routeTableName ?? []).includes(table);
        if (linked) routes.push(r.props);
    }
    for (const route of routes) {
        if (str(at(route, "addressPrefix")) !== "0.0.0.0/0") continue;
        const hop = str(at(route, "nextHopType"));
        if (hop === "VirtualAppliance") {
            const ip = str(at(route, "nextHopIpAddress"));
            return `a virtual appliance${ip ? ` (${ip})` : ""}`;
        }
        if (hop === "VirtualNetworkGateway") return "a virtual network gateway";
        if (hop === "None") return "nowhere (next hop None)";
    }
    return undefined;
}

/** Whether the cluster's egress is restricted, and how. */
export function egressOf(cluster: ResourceView, all: readonly ResourceView[]): Egress {
    const outbound = at(cluster.props, "networkProfile.outboundType");
    if (isUnknown(outbound)) return { kind: "unknown", reason: "outboundType is unknown" };
    if (str(outbound)?.toLowerCase() === "userdefinedrouting") {
        return { kind: "restricted", how: "user-defined routes (outboundType userDefinedRouting)" };
    }
    const { subnets, unresolved } = nodeSubnets(cluster, all);
    for (const s of subnets) {
        const ref = s.routeTable;
        if (isUnknown(ref)) {
            unresolved.push(`the route table of subnet "${s.name}" is unknown during preview`);
            continue;
        }
        if (ref === undefined || ref === null) continue;
        const prop =
            s.resource === s.vnet && s.resource.type.endsWith(":VirtualNetwork")
                ? "subnets"
                : "routeTable";
        const tables = resolveRef(s.resource, at(ref, "id"), prop, all, isRouteTable);
        for (const table of tables) {
            const hop = defaultRouteHop(table, all);
            if (hop) {
                return {
                    kind: "restricted",
                    how: `route table "${azureName(table, "routeTableName")}" on subnet "${s.name}" (0.0.0.0/0 to ${hop})`,
                };
            }
        }
    }
    if (unresolved.length > 0) return { kind: "unknown", reason: unresolved.join("; ") };
    return { kind: "open" };
}
