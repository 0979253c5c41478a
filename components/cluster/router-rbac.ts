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

/** The Lease the router replicas compete for, so one scaler acts at a time (docs/design.md §5). */
export const ROUTER_LEASE_NAME = "amlaks-router-scaler";

/** Default namespace of the router (the v2 AzureML extension uses `azureml` too). */
export const DEFAULT_ROUTER_NAMESPACE = "azureml";

/**
 * Namespace the cluster component creates for model services when `routerWatchNamespaces` is not
 * given, and the default `namespace` of `AksWebservice`. The router's Secret and scale rights are
 * granted in the watched namespaces only, so services live apart from everything else.
 */
export const DEFAULT_SERVICE_NAMESPACE = "azureml-services";

/** Name of the router's ServiceAccount, Roles, bindings, Deployment and Service. */
export const ROUTER_NAME = "amlaks-router";

/**
 * Router port for `/metrics` and the peer load endpoint ({@link ROUTER_PEER_LOAD_PATH}): on the
 * pod only, never in the public Service.
 */
export const ROUTER_METRICS_PORT = 9090;

/** Where a router pod answers its peers with its per-service load (metrics port only). */
export const ROUTER_PEER_LOAD_PATH = "/internal/v1/load";

/** Labels on every router pod: peers find each other by them, model NetworkPolicies admit them. */
export const ROUTER_POD_LABELS: Readonly<Record<string, string>> = Object.freeze({
    "app.kubernetes.io/name": ROUTER_NAME,
    "app.kubernetes.io/component": "router",
});

/**
 * The router's RBAC (R21), all namespaced: no ClusterRole, so no cluster-wide Secret access.
 * - `routerNamespaceRules`: a Role in the router's own namespace (peers and the scaler Lease);
 * - `serviceNamespaceRules`: a Role in each namespace where model services live (the watched
 *   namespaces), bound to the router's ServiceAccount.
 */
export const ROUTER_RBAC: {
    readonly routerNamespaceRules: readonly RbacRule[];
    readonly serviceNamespaceRules: readonly RbacRule[];
} = deepFreeze({
    routerNamespaceRules: [
        // Peer router pods (R21: the router finds the other instances of itself).
        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
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
    serviceNamespaceRules: [
        // Discover model Deployments and the settings the web-service component rendered on them.
        { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "list", "watch"] },
        // Scale model replicas through the scale subresource only (R29-R32); never edit the rest
        // of a Deployment.
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
        // Before scaling in, mark the drained pods with controller.kubernetes.io/pod-deletion-cost
        // so the ReplicaSet removes those first. Patch only: no read of pod specs.
        { apiGroups: [""], resources: ["pods"], verbs: ["patch"] },
        // Service keys and token signing keys (R35-R37). RBAC cannot narrow by label, so this is
        // every Secret of the namespace: keep model services in their own namespaces.
        { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] },
        // Scaling decisions and failures show up in `kubectl get events`.
        { apiGroups: [""], resources: ["events"], verbs: ["create"] },
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
