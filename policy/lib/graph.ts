/**
 * Which cluster a Kubernetes object of the stack runs on: through its provider (the provider of an
 * `AksInferenceCluster`, or a provider whose kubeconfig was read from a ManagedCluster), else the
 * only AKS cluster of the stack. Pure.
 */
import { idOf, isManagedCluster, isMlCompute, normId } from "./azure";
import type { ResourceView } from "./core";
import { AKS_INFERENCE_CLUSTER_TOKEN } from "./k8s";
import { at } from "./values";

/** The cluster side of a Kubernetes object. */
export interface ClusterLink {
    /** The AKS ManagedCluster resource, when it is in the stack. */
    readonly managedCluster?: ResourceView;
    /** The `AksInferenceCluster` component, when the object's provider is its. */
    readonly component?: ResourceView;
}

function ancestor(r: ResourceView, type: string): ResourceView | undefined {
    for (let p = r.parent; p; p = p.parent) if (p.type === type) return p;
    return undefined;
}

/** Every resource `r` depends on, transitively (dependencies and property dependencies). */
export function dependencyClosure(r: ResourceView, maxDepth = 6): Set<ResourceView> {
    const seen = new Set<ResourceView>();
    let frontier: ResourceView[] = [r];
    for (let depth = 0; depth < maxDepth && frontier.length > 0; depth++) {
        const next: ResourceView[] = [];
        for (const x of frontier) {
            for (const d of [...x.dependencies, ...Object.values(x.propertyDependencies).flat()]) {
                if (!seen.has(d)) {
                    seen.add(d);
                    next.push(d);
                }
            }
        }
        frontier = next;
    }
    return seen;
}

/**
 * The ManagedCluster of an `AksInferenceCluster` component: its child (create mode), or the
 * cluster its Kubernetes provider was built from (attach mode: the kubeconfig and the provider's
 * cluster identifier come from that cluster). `undefined` in kubeconfig mode.
 */
export function componentCluster(
    component: ResourceView,
    all: readonly ResourceView[],
): ResourceView | undefined {
    const clusters = all.filter((x) => isManagedCluster(x.type));
    const child = clusters.find((c) => ancestor(c, AKS_INFERENCE_CLUSTER_TOKEN) === component);
    if (child) return child;
    const provider = all.find(
        (p) => p.type.startsWith("pulumi:providers:kubernetes") && p.parent === component,
    );
    if (!provider) return undefined;
    const deps = dependencyClosure(provider);
    return clusters.find((c) => deps.has(c));
}

/** The cluster of a Kubernetes object, as far as the stack tells. */
export function clusterOf(r: ResourceView, all: readonly ResourceView[]): ClusterLink {
    const clusters = all.filter((x) => isManagedCluster(x.type));
    const providerUrn = r.provider?.urn;
    const provider = providerUrn ? all.find((x) => x.urn === providerUrn) : undefined;
    if (provider) {
        const component = ancestor(provider, AKS_INFERENCE_CLUSTER_TOKEN);
        if (component) return { component, managedCluster: componentCluster(component, all) };
        const deps = dependencyClosure(provider);
        const managed = clusters.find((c) => deps.has(c));
        if (managed) return { managedCluster: managed };
    }
    if (clusters.length === 1) {
        return {
            managedCluster: clusters[0],
            component: ancestor(clusters[0]!, AKS_INFERENCE_CLUSTER_TOKEN),
        };
    }
    const components = all.filter((x) => x.type === AKS_INFERENCE_CLUSTER_TOKEN);
    if (clusters.length === 0 && components.length === 1) return { component: components[0] };
    return {};
}

/** Workspace computes (`Compute`, type AKS) that attach `cluster`. */
export function computesOf(cluster: ResourceView, all: readonly ResourceView[]): ResourceView[] {
    const id = idOf(cluster);
    return all.filter((c) => {
        if (!isMlCompute(c.type)) return false;
        if (String(at(c.props, "properties.computeType") ?? "").toUpperCase() !== "AKS") {
            return false;
        }
        const ref = normId(at(c.props, "properties.resourceId"));
        // Known ids decide; during preview the ids are unknown and the dependency decides.
        if (ref && id) return ref === id;
        return (
            (c.propertyDependencies.properties ?? []).includes(cluster) ||
            c.dependencies.includes(cluster)
        );
    });
}
