/**
 * Kubernetes children created from a render plan (awsx `vpc.ts` creates one subnet per planned
 * spec): a component's render function lists its objects, tests check that list, and
 * {@link createPlannedObjects} creates exactly those objects, so the two cannot drift.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import t = k8s.types.input;

/** Kinds a plan may hold, each with its @pulumi/kubernetes resource. */
export type PlannedKind =
    | "Namespace"
    | "ServiceAccount"
    | "Role"
    | "RoleBinding"
    | "Secret"
    | "Deployment"
    | "Service"
    | "PodDisruptionBudget"
    | "HorizontalPodAutoscaler"
    | "NetworkPolicy"
    | "ServiceMonitor";

/** One rendered object and how the component creates it. */
export interface PlannedObject {
    /** Child name suffix: the resource is named `<component name>-<suffix>`. */
    readonly suffix: string;
    readonly kind: PlannedKind;
    readonly object: object;
    /** Suffixes of earlier objects this one waits for (besides the component's dependencies). */
    readonly dependsOn?: readonly string[];
    /** Fields another controller owns (e.g. `spec.replicas` under an autoscaler). */
    readonly ignoreChanges?: readonly string[];
}

/** Options every planned object gets: the provider, parent and the component's dependencies. */
export interface PlanOptions {
    readonly parent: pulumi.Resource;
    readonly provider: pulumi.ProviderResource;
    readonly dependsOn?: pulumi.Input<pulumi.Input<pulumi.Resource>[]>;
}

/**
 * Creates the plan's objects in order, named `${name}-${suffix}`; returns them by suffix. A
 * `dependsOn` suffix must name an earlier object of the plan.
 */
export function createPlannedObjects(
    name: string,
    plan: readonly PlannedObject[],
    opts: PlanOptions,
): Map<string, pulumi.CustomResource> {
    const created = new Map<string, pulumi.CustomResource>();
    for (const o of plan) {
        const siblings = (o.dependsOn ?? []).map((s) => {
            const r = created.get(s);
            if (!r) throw new Error(`render plan: "${o.suffix}" depends on "${s}", not before it`);
            return r;
        });
        const options: pulumi.CustomResourceOptions = {
            parent: opts.parent,
            provider: opts.provider,
            dependsOn: withSiblings(opts.dependsOn, siblings),
            ...(o.ignoreChanges ? { ignoreChanges: [...o.ignoreChanges] } : {}),
        };
        created.set(o.suffix, createObject(`${name}-${o.suffix}`, o, options));
    }
    return created;
}

/** The created object of `suffix`; throws when the plan had none. */
export function plannedChild<T extends pulumi.CustomResource>(
    created: ReadonlyMap<string, pulumi.CustomResource>,
    suffix: string,
): T {
    const r = created.get(suffix);
    if (!r) throw new Error(`render plan: no object "${suffix}"`);
    return r as T;
}

function withSiblings(
    base: pulumi.Input<pulumi.Input<pulumi.Resource>[]> | undefined,
    siblings: pulumi.Resource[],
): pulumi.Input<pulumi.Input<pulumi.Resource>[]> | undefined {
    if (siblings.length === 0) return base;
    if (base === undefined) return siblings;
    return pulumi.output(base).apply((b) => [...(b as pulumi.Resource[]), ...siblings]);
}

function createObject(
    name: string,
    o: PlannedObject,
    opts: pulumi.CustomResourceOptions,
): pulumi.CustomResource {
    switch (o.kind) {
        case "Namespace":
            return new k8s.core.v1.Namespace(name, o.object as t.core.v1.Namespace, opts);
        case "ServiceAccount":
            return new k8s.core.v1.ServiceAccount(name, o.object as t.core.v1.ServiceAccount, opts);
        case "Role":
            return new k8s.rbac.v1.Role(name, o.object as t.rbac.v1.Role, opts);
        case "RoleBinding":
            return new k8s.rbac.v1.RoleBinding(name, o.object as t.rbac.v1.RoleBinding, opts);
        case "Secret":
            return new k8s.core.v1.Secret(name, o.object as t.core.v1.Secret, opts);
        case "Deployment":
            return new k8s.apps.v1.Deployment(name, o.object as t.apps.v1.Deployment, opts);
        case "Service":
            return new k8s.core.v1.Service(name, o.object as t.core.v1.Service, opts);
        case "PodDisruptionBudget":
            return new k8s.policy.v1.PodDisruptionBudget(
                name,
                o.object as t.policy.v1.PodDisruptionBudget,
                opts,
            );
        case "HorizontalPodAutoscaler":
            return new k8s.autoscaling.v2.HorizontalPodAutoscaler(
                name,
                o.object as t.autoscaling.v2.HorizontalPodAutoscaler,
                opts,
            );
        case "NetworkPolicy":
            return new k8s.networking.v1.NetworkPolicy(
                name,
                o.object as t.networking.v1.NetworkPolicy,
                opts,
            );
        case "ServiceMonitor":
            return new k8s.apiextensions.CustomResource(
                name,
                o.object as k8s.apiextensions.CustomResourceArgs,
                opts,
            );
    }
}
