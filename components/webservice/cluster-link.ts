/**
 * What an AksWebservice reads from its cluster, however `cluster` arrives:
 * - from TypeScript, an `AksInferenceCluster` (or any object of that shape): Outputs, plain facts
 *   and the cluster's Kubernetes provider;
 * - from another language, through the multi-language package (provider/README.md): plain values
 *   or Outputs, with no provider: the inferred schema cannot carry provider references, so the
 *   Kubernetes provider comes in the `providers` resource option instead. When the engine sends
 *   the whole object as one Output, only the three required members are read from it (the plain
 *   facts and the namespace check are then skipped; the GPU check happens at deploy time).
 */
import * as pulumi from "@pulumi/pulumi";

/** The cluster's members, each normalized to the shape the component uses. */
export interface ClusterLink {
    /** The cluster's own provider (TypeScript); undefined when it comes from resource options. */
    readonly kubeProvider: pulumi.ProviderResource | undefined;
    readonly scoringBaseUrl: pulumi.Output<string>;
    readonly gpuEnabled: pulumi.Output<boolean>;
    readonly routerNamespace: pulumi.Output<string>;
    readonly serviceNamespaces: pulumi.Output<string[]> | undefined;
    /** Plain GPU fact, only when given as a plain boolean. */
    readonly gpuKnown: boolean | undefined;
    /** Plain Kubernetes version, only when given as a plain string. */
    readonly kubernetesVersion: string | undefined;
}

type Member = "scoringBaseUrl" | "gpuEnabled" | "routerNamespace";

/**
 * Normalizes `cluster` (already checked by validateAksWebserviceArgs to have the required
 * members, unless it is an Output).
 */
export function linkCluster(cluster: unknown): ClusterLink {
    if (pulumi.Output.isInstance(cluster)) {
        const whole = cluster as pulumi.Output<Record<string, unknown>>;
        const member = <T>(m: Member): pulumi.Output<T> =>
            whole.apply((c) => c[m] as pulumi.Input<T>) as pulumi.Output<T>;
        return {
            kubeProvider: undefined,
            scoringBaseUrl: member<string>("scoringBaseUrl"),
            gpuEnabled: member<boolean>("gpuEnabled"),
            routerNamespace: member<string>("routerNamespace"),
            serviceNamespaces: undefined,
            gpuKnown: undefined,
            kubernetesVersion: undefined,
        };
    }
    const c = cluster as Record<string, unknown>;
    const provider = c.kubeProvider;
    return {
        kubeProvider: pulumi.Resource.isInstance(provider)
            ? (provider as pulumi.ProviderResource)
            : undefined,
        scoringBaseUrl: pulumi.output(c.scoringBaseUrl as pulumi.Input<string>),
        gpuEnabled: pulumi.output(c.gpuEnabled as pulumi.Input<boolean>),
        routerNamespace: pulumi.output(c.routerNamespace as pulumi.Input<string>),
        serviceNamespaces:
            c.serviceNamespaces === undefined
                ? undefined
                : pulumi.output(c.serviceNamespaces as pulumi.Input<string[]>),
        gpuKnown: typeof c.gpuKnown === "boolean" ? c.gpuKnown : undefined,
        kubernetesVersion:
            typeof c.kubernetesVersion === "string" ? c.kubernetesVersion : undefined,
    };
}

/**
 * The message when no Kubernetes provider is found for the service's objects: without one they
 * would go to whatever cluster the ambient kubeconfig points at.
 */
export function missingProviderMessage(name: string): string {
    return (
        `AksWebservice "${name}": no Kubernetes provider for the service's objects. From ` +
        "TypeScript pass an AksInferenceCluster as `cluster` (its kubeProvider is used); from " +
        "other languages pass the cluster's Kubernetes provider in the `providers` resource " +
        "option (e.g. a kubernetes Provider made from the cluster's kubeconfig output)."
    );
}
