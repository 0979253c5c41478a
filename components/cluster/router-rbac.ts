/**
 * Exactly what the router may do in the Kubernetes API (R21), in ONE place: the cluster component
 * renders its ClusterRole/Role from these rules, and the router's Kubernetes backend imports the
 * same constant (and the lease name) so the code and its permissions never drift. Pure data.
 */

/** A Kubernetes RBAC PolicyRule as a plain object. */
export interface RbacRule {
    readonly apiGroups: readonly string[];
    readonly resources: readonly string[];
    readonly verbs: readonly string[];
    readonly resourceNames?: readonly string[];
}

/** The Lease the router replicas compete for, so one scaler acts at a time (DESIGN §5). */
export const ROUTER_LEASE_NAME = "amlaks-router-scaler";

/** Default namespace of the router (the v2 AzureML extension uses `azureml` too). */
export const DEFAULT_ROUTER_NAMESPACE = "azureml";

/** Name of the router's ServiceAccount, ClusterRole, Role, bindings, Deployment and Service. */
export const ROUTER_NAME = "amlaks-router";

/** The router's RBAC: cluster-wide rules (ClusterRole) and rules in its own namespace (Role). */
export const ROUTER_RBAC: {
    readonly clusterRules: readonly RbacRule[];
    readonly namespaceRules: readonly RbacRule[];
} = deepFreeze({
    clusterRules: [
        // Discover model Deployments (and the settings the web-service component rendered on them).
        { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "list", "watch"] },
        // The router's autoscaler scales model replicas through the scale subresource only
        // (R29-R32); it never edits the rest of a Deployment.
        {
            apiGroups: ["apps"],
            resources: ["deployments/scale"],
            verbs: ["get", "patch", "update"],
        },
        // Ready model endpoints (pod IPs) to route to (R21: talks to model pods directly).
        {
            apiGroups: ["discovery.k8s.io"],
            resources: ["endpointslices"],
            verbs: ["get", "list", "watch"],
        },
        // Peer router pods (R21: finds the other instances of itself) and model pods.
        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
        // Service keys and token signing keys (R35-R37). RBAC cannot narrow by label, so this is
        // read access to every Secret in watched namespaces: the same trade-off as v1's
        // azureml-fe. Restrict it by watching only dedicated namespaces (routerWatchNamespaces).
        { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] },
        // Scaling decisions and failures show up in `kubectl get events`.
        { apiGroups: [""], resources: ["events"], verbs: ["create"] },
    ],
    namespaceRules: [
        // Create the scaler Lease the first time (create cannot be limited by resourceNames).
        { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
        // Hold and renew only that Lease: one scaler at a time.
        {
            apiGroups: ["coordination.k8s.io"],
            resources: ["leases"],
            verbs: ["get", "update"],
            resourceNames: [ROUTER_LEASE_NAME],
        },
    ],
});

/** A mutable copy of rules, as the Kubernetes SDK types expect. */
export function copyRules(rules: readonly RbacRule[]): {
    apiGroups: string[];
    resources: string[];
    verbs: string[];
    resourceNames?: string[];
}[] {
    return rules.map((r) => ({
        apiGroups: [...r.apiGroups],
        resources: [...r.resources],
        verbs: [...r.verbs],
        ...(r.resourceNames ? { resourceNames: [...r.resourceNames] } : {}),
    }));
}

function deepFreeze<T>(value: T): T {
    if (value && typeof value === "object") {
        for (const v of Object.values(value)) deepFreeze(v);
        Object.freeze(value);
    }
    return value;
}
