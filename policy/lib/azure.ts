/**
 * azure-native resources as the pack sees them: type tokens (any API version), ARM ids, the facts
 * of an AKS cluster, and how resources of a stack point at each other (by ARM id when it is known,
 * else by the dependencies Pulumi records: ids of resources created in the same run are unknown
 * during preview). Pure.
 */
import type { ResourceView } from "./core";
import { arr, at, isObject, isUnknown, num, str } from "./values";

/**
 * True for `azure-native:<module>:<Type>` in any API version (`azure-native:network/v20240301:…`).
 * `modules` lists accepted module names (e.g. private DNS moved from `network` to `privatedns`).
 */
export function isAzureType(type: string, modules: string | readonly string[], name: string) {
    const m = /^azure-native:([^:/]+)(?:\/[^:]+)?:([^:]+)$/.exec(type);
    if (!m || m[2] !== name) return false;
    return (typeof modules === "string" ? [modules] : modules).includes(m[1]!);
}

export const isManagedCluster = (t: string) => isAzureType(t, "containerservice", "ManagedCluster");
export const isAgentPool = (t: string) => isAzureType(t, "containerservice", "AgentPool");
export const isMlCompute = (t: string) => isAzureType(t, "machinelearningservices", "Compute");
export const isMlWorkspace = (t: string) => isAzureType(t, "machinelearningservices", "Workspace");

/** Lowercased ARM id without a trailing slash, `undefined` when not a known string. */
export function normId(v: unknown): string | undefined {
    const s = str(v);
    return s ? s.replace(/\/+$/, "").toLowerCase() : undefined;
}

/** Value of `…/<segment>/<value>` in an ARM id (case-insensitive segment). */
export function idSegment(id: string | undefined, segment: string): string | undefined {
    if (!id) return undefined;
    const parts = id.split("/");
    for (let i = 0; i < parts.length - 1; i++) {
        if (parts[i]!.toLowerCase() === segment.toLowerCase()) return parts[i + 1];
    }
    return undefined;
}

/** Id of a stack resource: its `id` output (stack policies), when known. */
export function idOf(r: ResourceView): string | undefined {
    return normId(r.props.id);
}

/** Azure resource name: the named input (`resourceName`, `virtualNetworkName`…) or `name`. */
export function azureName(r: ResourceView, nameInput: string): string {
    return str(r.props[nameInput]) ?? str(r.props.name) ?? r.name;
}

/** The resources `r` depends on, directly or through its property dependencies. */
function directDeps(r: ResourceView): ResourceView[] {
    return [...r.dependencies, ...Object.values(r.propertyDependencies).flat()];
}

/**
 * Resolves a reference held by `from` (an ARM id value) to resources of the stack that satisfy
 * `accept`: by id when the value is a known id, else through the dependencies of the property
 * (`property` is the top-level input holding the reference), else through any dependency.
 */
export function resolveRef(
    from: ResourceView,
    value: unknown,
    property: string,
    all: readonly ResourceView[],
    accept: (r: ResourceView) => boolean,
): ResourceView[] {
    const id = normId(value);
    if (id && !isUnknown(value)) {
        const byId = all.filter((r) => accept(r) && idOf(r) === id);
        if (byId.length > 0) return byId;
    }
    const byProperty = (from.propertyDependencies[property] ?? []).filter(accept);
    if (byProperty.length > 0) return byProperty;
    if (isUnknown(value) || value === undefined) return [];
    return directDeps(from).filter(accept);
}

/** One node pool of a cluster. */
export interface NodePool {
    readonly name: string;
    readonly vmSize: string | undefined;
    readonly count: number | undefined;
    /** Created with the cluster (`agentPoolProfiles`), not added later as an `AgentPool`. */
    readonly initial: boolean;
    readonly subnetId: unknown;
}

/** Nodes of a pool: `count` (AKS default 1), `undefined` while unknown. */
function poolCount(pool: unknown): number | undefined {
    const c = at(pool, "count");
    if (isUnknown(c)) return undefined;
    return num(c) ?? num(at(pool, "minCount")) ?? 1;
}

/** Node pools of a ManagedCluster: its own profiles plus `AgentPool` resources aimed at it. */
export function nodePools(cluster: ResourceView, all: readonly ResourceView[]): NodePool[] {
    const pools: NodePool[] = arr(cluster.props.agentPoolProfiles).map((p, i) => ({
        name: str(at(p, "name")) ?? `pool${i}`,
        vmSize: str(at(p, "vmSize")),
        count: poolCount(p),
        initial: true,
        subnetId: at(p, "vnetSubnetID"),
    }));
    const clusterName = azureName(cluster, "resourceName");
    for (const r of all) {
        if (!isAgentPool(r.type)) continue;
        const target = str(r.props.resourceName);
        const linked =
            target !== undefined
                ? target.toLowerCase() === clusterName.toLowerCase()
                : (r.propertyDependencies.resourceName ?? []).includes(cluster);
        if (!linked) continue;
        pools.push({
            name: str(r.props.agentPoolName) ?? r.name,
            vmSize: str(r.props.vmSize),
            count: poolCount(r.props),
            initial: false,
            subnetId: r.props.vnetSubnetID,
        });
    }
    return pools;
}

/** True when the cluster's own node pools are unknown (a preview that cannot know them). */
export function poolsUnknown(cluster: ResourceView): boolean {
    return isUnknown(cluster.props.agentPoolProfiles);
}

/** `networkProfile.networkPlugin` of a cluster (lowercase), `"unknown"` in a preview that cannot know it. */
export function networkPlugin(cluster: ResourceView): string | undefined {
    const v = at(cluster.props, "networkProfile.networkPlugin");
    if (isUnknown(v)) return "unknown";
    return str(v)?.toLowerCase();
}

/** Region of a resource (lowercase, no spaces), when known. */
export function regionOf(r: ResourceView): string | undefined {
    const l = str(r.props.location);
    return l ? l.replace(/\s+/g, "").toLowerCase() : undefined;
}

/** Display label of a ManagedCluster for messages. */
export function clusterLabel(cluster: ResourceView): string {
    return `AKS cluster "${azureName(cluster, "resourceName")}"`;
}

/** True when `v` is a non-empty object (e.g. an inline `routeTable: { id }`). */
export function hasObject(v: unknown): boolean {
    return isObject(v) && Object.keys(v).length > 0;
}
