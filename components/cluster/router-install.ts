/**
 * The router (azureml-fe equivalent, R18–R21) inside the cluster: pure render functions that turn
 * a {@link RouterRenderConfig} into plain Kubernetes objects, and {@link installRouter}, which
 * creates them with @pulumi/kubernetes on the cluster's provider.
 *
 * Router container contract (the router implements it):
 * - env `ROUTER_BACKEND=kubernetes`, `ROUTER_HTTP_PORT=8080`, `ROUTER_HTTPS_PORT=8443` (TLS only),
 *   `ROUTER_TLS_CERT_FILE` / `ROUTER_TLS_KEY_FILE` under `/etc/amlaks/tls` (TLS only),
 *   `ROUTER_NAMESPACE`, `ROUTER_POD_NAME` (downward API), `ROUTER_CLUSTER_PURPOSE`,
 *   `ROUTER_WATCH_NAMESPACES` (comma list of the service namespaces), `ROUTER_METRICS_PORT=9090`,
 *   `ROUTER_DRAIN_TIMEOUT_MS`; `APPLICATIONINSIGHTS_CONNECTION_STRING` from a Secret when the
 *   cluster has an Application Insights connection string (router-telemetry.ts);
 *   `ROUTER_MODEL_DATA_ACCOUNT_URL|SUBSCRIPTION|RESOURCE_GROUP|WORKSPACE` with model data
 *   collection, plus the workload identity annotation and pod label (model-data.ts);
 * - liveness `GET /healthz`, readiness `GET /readyz` on 8080; `/metrics` and the peer load
 *   endpoint on 9090, which the public Service does not expose (pods carry `prometheus.io/*`
 *   annotations; opt-in: a ServiceMonitor with its ClusterIP metrics Service, and a NetworkPolicy
 *   limiting who reaches 9090);
 * - runs as uid/gid 65532 with a read-only root filesystem (writable `/tmp`);
 * - rollout and shutdown lose nothing (R20): a preStop sleep keeps the pod serving while it leaves
 *   the Service's endpoints, then on SIGTERM the router fails `/readyz`, stops accepting, finishes
 *   queued and in-flight requests (up to `ROUTER_DRAIN_TIMEOUT_MS`) and exits within the grace
 *   period.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createPlannedObjects, plannedChild, type PlannedObject } from "../common/k8s-plan";
import { renderRouterAppInsightsSecret, routerAppInsightsEnv } from "./router-telemetry";
import {
    type RouterModelData,
    WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION,
    WORKLOAD_IDENTITY_USE_LABEL,
} from "./model-data";
import { ClusterPurpose } from "./sizing";
import {
    copyRules,
    ROUTER_METRICS_PORT,
    ROUTER_NAME,
    ROUTER_POD_LABELS,
    ROUTER_RBAC,
} from "./router-rbac";
export {
    DEFAULT_ROUTER_NAMESPACE,
    DEFAULT_SERVICE_NAMESPACE,
    ROUTER_METRICS_PORT,
    ROUTER_POD_LABELS,
} from "./router-rbac";

/** Where the router's TLS certificate and key are mounted. */
export const ROUTER_TLS_DIR = "/etc/amlaks/tls";
/** Router ports inside the pod. */
export const ROUTER_HTTP_PORT = 8080;
export const ROUTER_HTTPS_PORT = 8443;
/** Name of the router's TLS Secret. */
export const ROUTER_TLS_SECRET_NAME = `${ROUTER_NAME}-tls`;
/** uid/gid the router runs as (a non-root id that exists in distroless images). */
export const ROUTER_UID = 65532;

/**
 * Seconds a terminating router pod keeps serving before SIGTERM (preStop), so the Service's load
 * balancer stops sending it new connections first.
 */
export const ROUTER_PRE_STOP_SECONDS = 5;
/**
 * Longest wait for queued and in-flight requests after SIGTERM: the default scoring timeout
 * (60 s), so a request that started just before shutdown can finish.
 */
export const ROUTER_DRAIN_TIMEOUT_MS = 60_000;
/** preStop + drain + 10 s margin. */
export const ROUTER_TERMINATION_GRACE_SECONDS =
    ROUTER_PRE_STOP_SECONDS + ROUTER_DRAIN_TIMEOUT_MS / 1000 + 10;

const COMMON_LABELS = {
    ...ROUTER_POD_LABELS,
    "app.kubernetes.io/part-of": "amlaks",
    "app.kubernetes.io/managed-by": "pulumi",
};

/** Azure cloud-provider Service annotations (AKS). */
export const AZURE_LB_INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal";
export const AZURE_LB_INTERNAL_SUBNET =
    "service.beta.kubernetes.io/azure-load-balancer-internal-subnet";
export const AZURE_DNS_LABEL = "service.beta.kubernetes.io/azure-dns-label-name";

/** Router size and self-scaling for one purpose (R10, R18, R20). */
export interface RouterProfile {
    /** Replicas at creation. */
    readonly replicas: number;
    /** HPA bounds on the router Deployment; absent = no self-scaling (DevTest). */
    readonly autoscale?: { readonly min: number; readonly max: number };
    /** Spread replicas across nodes (and zones). */
    readonly spread: boolean;
    readonly requests: { readonly cpu: string; readonly memory: string };
    readonly limits: { readonly cpu: string; readonly memory: string };
}

/** Upper bounds of router replicas, whatever the node count. */
export const ROUTER_MAX_REPLICAS = { FastProd: 10, DenseProd: 20 } as const;

/**
 * Router profile by purpose and node count (unknown node count → the purpose's cap).
 * - DevTest: one replica, no self-scaling (R10: the router's self-scaler is disabled on DevTest).
 * - FastProd: 3 replicas on different nodes, CPU-based HPA on the ROUTER (not on models, R29)
 *   from 3 up to one replica per node (max 10); limits as the AzureML extension's router
 *   (2 vCPU / 1.2 GB, S12).
 * - DenseProd: "many services per cluster": same placement as FastProd, larger replicas, and up
 *   to two replicas per node (max 20), since routing state and connections grow with services.
 */
export function routerProfile(purpose: ClusterPurpose, nodeCount?: number): RouterProfile {
    if (purpose === "DevTest") {
        return {
            replicas: 1,
            spread: false,
            requests: { cpu: "100m", memory: "128Mi" },
            limits: { cpu: "1", memory: "512Mi" },
        };
    }
    const dense = purpose === "DenseProd";
    const cap = ROUTER_MAX_REPLICAS[purpose];
    const perNode = dense ? 2 : 1;
    const max =
        nodeCount === undefined ? cap : Math.min(cap, Math.max(3, Math.floor(nodeCount) * perNode));
    return {
        replicas: 3,
        autoscale: { min: 3, max },
        spread: true,
        requests: dense ? { cpu: "1", memory: "1Gi" } : { cpu: "500m", memory: "512Mi" },
        limits: dense ? { cpu: "4", memory: "2Gi" } : { cpu: "2", memory: "1200Mi" },
    };
}

/** Everything the router objects depend on. Plain values in tests; Inputs where noted. */
export interface RouterRenderConfig {
    readonly namespace: string;
    readonly purpose: ClusterPurpose;
    /** Router image reference. */
    readonly image: pulumi.Input<string>;
    /** TLS termination by the router (custom certificate). */
    readonly tls: boolean;
    /** Service type: `LoadBalancer` (default), `NodePort` or `ClusterIP`. */
    readonly serviceType: string;
    /** `PublicIp` or `InternalLoadBalancer`. */
    readonly loadBalancerType: string;
    readonly loadBalancerSubnet?: pulumi.Input<string>;
    readonly leafDomainLabel?: pulumi.Input<string>;
    /** Add Azure cloud-provider annotations (false for kubeconfig mode). */
    readonly azureAnnotations: boolean;
    /** Namespaces of model services: the router watches these and gets a Role in each. */
    readonly serviceNamespaces: readonly string[];
    /** Create the default service namespace (no routerWatchNamespaces given). */
    readonly createServiceNamespace: boolean;
    /** HPA upper bound (from {@link routerProfile}); ignored on DevTest. */
    readonly maxReplicas?: pulumi.Input<number>;
    /** Changes when the certificate changes, so pods roll to the new one. */
    readonly tlsChecksum?: pulumi.Input<string>;
    /** Render a ServiceMonitor and the metrics Service it selects (`routerServiceMonitor`). */
    readonly serviceMonitor?: boolean;
    /** Extra labels of the ServiceMonitor (`routerServiceMonitorLabels`). */
    readonly serviceMonitorLabels?: Readonly<Record<string, string>>;
    /** With it, a NetworkPolicy limits the metrics port to these namespaces and router pods. */
    readonly metricsNamespaces?: readonly string[];
    /** The Application Insights Secret exists: the router reads it (router-telemetry.ts). */
    readonly appInsights?: boolean;
    /**
     * Model data collection (model-data.ts): the router's workload identity (ServiceAccount
     * annotation, pod label) and its ROUTER_MODEL_DATA_* variables. @default - none
     */
    readonly modelData?: RouterModelData;
}

/** Name of the ClusterIP Service of the metrics port (selected by the ServiceMonitor). */
export const ROUTER_METRICS_SERVICE_NAME = `${ROUTER_NAME}-metrics`;
/** Label of the metrics Service that the ServiceMonitor selects (not on the public Service). */
const METRICS_SERVICE_LABEL = { "amlaks.io/endpoint": "metrics" };
/** How often Prometheus scrapes the router through the ServiceMonitor. */
export const ROUTER_SCRAPE_INTERVAL = "30s";

function meta(cfg: RouterRenderConfig, name = ROUTER_NAME) {
    return { name, namespace: cfg.namespace, labels: { ...COMMON_LABELS } };
}

/** The router namespace (or, with `name`, the service namespace), enforcing the `restricted` Pod
 * Security Standard: router and model pods both comply. */
export function renderNamespace(
    cfg: RouterRenderConfig,
    name: string = cfg.namespace,
): k8s.types.input.core.v1.Namespace {
    return {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: {
            name,
            labels: {
                "app.kubernetes.io/part-of": "amlaks",
                "app.kubernetes.io/managed-by": "pulumi",
                "pod-security.kubernetes.io/enforce": "restricted",
            },
        },
    };
}

export function renderServiceAccount(
    cfg: RouterRenderConfig,
): k8s.types.input.core.v1.ServiceAccount {
    // The router talks to the API server (R21), so it needs its token.
    const m = meta(cfg);
    return {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: cfg.modelData
            ? {
                  ...m,
                  annotations: { [WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION]: cfg.modelData.clientId },
              }
            : m,
        automountServiceAccountToken: true,
    };
}

/** The Role in the router's namespace: peer pods and the scaler Lease. */
export function renderRole(cfg: RouterRenderConfig): k8s.types.input.rbac.v1.Role {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: meta(cfg),
        rules: copyRules(ROUTER_RBAC.routerNamespaceRules),
    };
}

function binding(cfg: RouterRenderConfig, namespace: string): k8s.types.input.rbac.v1.RoleBinding {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: ROUTER_NAME, namespace, labels: { ...COMMON_LABELS } },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: ROUTER_NAME },
        subjects: [{ kind: "ServiceAccount", name: ROUTER_NAME, namespace: cfg.namespace }],
    };
}

export function renderRoleBinding(cfg: RouterRenderConfig): k8s.types.input.rbac.v1.RoleBinding {
    return binding(cfg, cfg.namespace);
}

/**
 * The Role in one service namespace (R21): read model Deployments, EndpointSlices and Secrets,
 * scale Deployments, mark pods for deletion. Namespaced, so no cluster-wide Secret access.
 */
export function renderServiceRole(
    _cfg: RouterRenderConfig,
    namespace: string,
): k8s.types.input.rbac.v1.Role {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: ROUTER_NAME, namespace, labels: { ...COMMON_LABELS } },
        rules: copyRules(ROUTER_RBAC.serviceNamespaceRules),
    };
}

export function renderServiceRoleBinding(
    cfg: RouterRenderConfig,
    namespace: string,
): k8s.types.input.rbac.v1.RoleBinding {
    return binding(cfg, namespace);
}

/** The TLS Secret; the caller passes the PEMs wrapped in `pulumi.secret`. */
export function renderTlsSecret(
    cfg: RouterRenderConfig,
    certPem: pulumi.Input<string>,
    keyPem: pulumi.Input<string>,
): k8s.types.input.core.v1.Secret {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: meta(cfg, ROUTER_TLS_SECRET_NAME),
        type: "kubernetes.io/tls",
        stringData: { "tls.crt": certPem, "tls.key": keyPem },
    };
}

function routerEnv(cfg: RouterRenderConfig): k8s.types.input.core.v1.EnvVar[] {
    const env: k8s.types.input.core.v1.EnvVar[] = [
        { name: "ROUTER_BACKEND", value: "kubernetes" },
        { name: "ROUTER_HTTP_PORT", value: String(ROUTER_HTTP_PORT) },
    ];
    if (cfg.tls) {
        env.push(
            { name: "ROUTER_HTTPS_PORT", value: String(ROUTER_HTTPS_PORT) },
            { name: "ROUTER_TLS_CERT_FILE", value: `${ROUTER_TLS_DIR}/tls.crt` },
            { name: "ROUTER_TLS_KEY_FILE", value: `${ROUTER_TLS_DIR}/tls.key` },
        );
    }
    env.push(
        {
            name: "ROUTER_NAMESPACE",
            valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } },
        },
        { name: "ROUTER_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "ROUTER_CLUSTER_PURPOSE", value: cfg.purpose },
        { name: "ROUTER_WATCH_NAMESPACES", value: cfg.serviceNamespaces.join(",") },
        { name: "ROUTER_METRICS_PORT", value: String(ROUTER_METRICS_PORT) },
        { name: "ROUTER_DRAIN_TIMEOUT_MS", value: String(ROUTER_DRAIN_TIMEOUT_MS) },
    );
    if (cfg.appInsights) env.push(routerAppInsightsEnv());
    if (cfg.modelData) env.push(...cfg.modelData.env);
    return env;
}

/** The router Deployment: hardened pod, probes, metrics annotations, purpose-sized resources. */
export function renderDeployment(cfg: RouterRenderConfig): k8s.types.input.apps.v1.Deployment {
    const profile = routerProfile(cfg.purpose);
    const ports: k8s.types.input.core.v1.ContainerPort[] = [
        { name: "http", containerPort: ROUTER_HTTP_PORT, protocol: "TCP" },
    ];
    if (cfg.tls) ports.push({ name: "https", containerPort: ROUTER_HTTPS_PORT, protocol: "TCP" });
    ports.push({ name: "metrics", containerPort: ROUTER_METRICS_PORT, protocol: "TCP" });
    const volumeMounts: k8s.types.input.core.v1.VolumeMount[] = [
        { name: "tmp", mountPath: "/tmp" },
    ];
    const volumes: k8s.types.input.core.v1.Volume[] = [
        { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
    ];
    if (cfg.tls) {
        volumeMounts.push({ name: "tls", mountPath: ROUTER_TLS_DIR, readOnly: true });
        volumes.push({
            name: "tls",
            secret: { secretName: ROUTER_TLS_SECRET_NAME, defaultMode: 0o440 },
        });
    }
    const annotations: Record<string, pulumi.Input<string>> = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": String(ROUTER_METRICS_PORT),
        "prometheus.io/path": "/metrics",
    };
    if (cfg.tls && cfg.tlsChecksum !== undefined) {
        annotations["amlaks.io/tls-checksum"] = cfg.tlsChecksum;
    }
    const selector = { ...ROUTER_POD_LABELS };
    const spread: k8s.types.input.core.v1.TopologySpreadConstraint[] = profile.spread
        ? [
              // HA (R18): never two replicas on one node while another node has none.
              {
                  maxSkew: 1,
                  topologyKey: "kubernetes.io/hostname",
                  whenUnsatisfiable: "DoNotSchedule",
                  labelSelector: { matchLabels: selector },
              },
              // Spread across zones when the cluster has them; never blocks scheduling.
              {
                  maxSkew: 1,
                  topologyKey: "topology.kubernetes.io/zone",
                  whenUnsatisfiable: "ScheduleAnyway",
                  labelSelector: { matchLabels: selector },
              },
          ]
        : [];
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: meta(cfg),
        spec: {
            replicas: profile.replicas,
            selector: { matchLabels: selector },
            // R20: a resize or image roll must not drop requests: add before removing.
            strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
            template: {
                metadata: {
                    labels: cfg.modelData
                        ? { ...COMMON_LABELS, [WORKLOAD_IDENTITY_USE_LABEL]: "true" }
                        : { ...COMMON_LABELS },
                    annotations,
                },
                spec: {
                    serviceAccountName: ROUTER_NAME,
                    automountServiceAccountToken: true,
                    // preStop, then drain queued and in-flight requests (see contract).
                    terminationGracePeriodSeconds: ROUTER_TERMINATION_GRACE_SECONDS,
                    nodeSelector: { "kubernetes.io/os": "linux" },
                    securityContext: {
                        runAsNonRoot: true,
                        runAsUser: ROUTER_UID,
                        runAsGroup: ROUTER_UID,
                        fsGroup: ROUTER_UID,
                        seccompProfile: { type: "RuntimeDefault" },
                    },
                    ...(spread.length > 0 ? { topologySpreadConstraints: spread } : {}),
                    containers: [
                        {
                            name: "router",
                            image: cfg.image,
                            imagePullPolicy: "IfNotPresent",
                            ports,
                            env: routerEnv(cfg),
                            resources: {
                                requests: { ...profile.requests },
                                limits: { ...profile.limits },
                            },
                            livenessProbe: {
                                httpGet: { path: "/healthz", port: "http" },
                                initialDelaySeconds: 5,
                                periodSeconds: 10,
                                timeoutSeconds: 2,
                                failureThreshold: 3,
                            },
                            readinessProbe: {
                                httpGet: { path: "/readyz", port: "http" },
                                periodSeconds: 5,
                                timeoutSeconds: 2,
                                failureThreshold: 2,
                            },
                            // Native sleep action: no shell in the image; Kubernetes ≥ 1.30.
                            lifecycle: {
                                preStop: { sleep: { seconds: ROUTER_PRE_STOP_SECONDS } },
                            },
                            securityContext: {
                                runAsNonRoot: true,
                                allowPrivilegeEscalation: false,
                                readOnlyRootFilesystem: true,
                                capabilities: { drop: ["ALL"] },
                                seccompProfile: { type: "RuntimeDefault" },
                            },
                            volumeMounts,
                        },
                    ],
                    volumes,
                },
            },
        },
    };
}

/**
 * The router Service: 80 → 8080 (http) and, with TLS, 443 → 8443 (https). On AKS: internal
 * load balancer (+ subnet) and the Azure DNS label for a leaf domain label.
 */
export function renderService(cfg: RouterRenderConfig): k8s.types.input.core.v1.Service {
    const annotations: Record<string, pulumi.Input<string>> = {};
    if (cfg.azureAnnotations && cfg.serviceType === "LoadBalancer") {
        if (cfg.loadBalancerType === "InternalLoadBalancer") {
            annotations[AZURE_LB_INTERNAL] = "true";
            if (cfg.loadBalancerSubnet !== undefined) {
                annotations[AZURE_LB_INTERNAL_SUBNET] = cfg.loadBalancerSubnet;
            }
        }
        if (cfg.leafDomainLabel !== undefined) annotations[AZURE_DNS_LABEL] = cfg.leafDomainLabel;
    }
    const ports: k8s.types.input.core.v1.ServicePort[] = [
        { name: "http", port: 80, targetPort: "http", protocol: "TCP" },
    ];
    if (cfg.tls) ports.push({ name: "https", port: 443, targetPort: "https", protocol: "TCP" });
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: {
            ...meta(cfg),
            ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
        },
        spec: { type: cfg.serviceType, selector: { ...ROUTER_POD_LABELS }, ports },
    };
}

/**
 * ClusterIP Service of the metrics port, for the ServiceMonitor (which selects Services): the
 * public Service never exposes 9090.
 */
export function renderMetricsService(cfg: RouterRenderConfig): k8s.types.input.core.v1.Service {
    const m = meta(cfg, ROUTER_METRICS_SERVICE_NAME);
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { ...m, labels: { ...m.labels, ...METRICS_SERVICE_LABEL } },
        spec: {
            type: "ClusterIP",
            selector: { ...ROUTER_POD_LABELS },
            ports: [
                {
                    name: "metrics",
                    port: ROUTER_METRICS_PORT,
                    targetPort: "metrics",
                    protocol: "TCP",
                },
            ],
        },
    };
}

/** Prometheus Operator ServiceMonitor (monitoring.coreos.com/v1) of the metrics Service. */
export function renderServiceMonitor(cfg: RouterRenderConfig): {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace: string; labels: Record<string, string> };
    spec: Record<string, unknown>;
} {
    const m = meta(cfg);
    return {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        metadata: { ...m, labels: { ...m.labels, ...cfg.serviceMonitorLabels } },
        spec: {
            selector: { matchLabels: { ...ROUTER_POD_LABELS, ...METRICS_SERVICE_LABEL } },
            namespaceSelector: { matchNames: [cfg.namespace] },
            endpoints: [
                {
                    port: "metrics",
                    path: "/metrics",
                    scheme: "http",
                    interval: ROUTER_SCRAPE_INTERVAL,
                },
            ],
        },
    };
}

/**
 * With `metricsNamespaces`: the scoring ports stay open to everyone (clients, the load balancer,
 * kubelet probes) while the metrics port (also the peer load endpoint) takes connections only
 * from router pods and pods in the listed namespaces.
 */
export function renderMetricsNetworkPolicy(
    cfg: RouterRenderConfig,
): k8s.types.input.networking.v1.NetworkPolicy | undefined {
    if (!cfg.metricsNamespaces || cfg.metricsNamespaces.length === 0) return undefined;
    const scoring: k8s.types.input.networking.v1.NetworkPolicyPort[] = [
        { port: ROUTER_HTTP_PORT, protocol: "TCP" },
    ];
    if (cfg.tls) scoring.push({ port: ROUTER_HTTPS_PORT, protocol: "TCP" });
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(cfg, ROUTER_METRICS_SERVICE_NAME),
        spec: {
            podSelector: { matchLabels: { ...ROUTER_POD_LABELS } },
            policyTypes: ["Ingress"],
            ingress: [
                { ports: scoring },
                {
                    from: [
                        { podSelector: { matchLabels: { ...ROUTER_POD_LABELS } } },
                        {
                            namespaceSelector: {
                                matchExpressions: [
                                    {
                                        key: "kubernetes.io/metadata.name",
                                        operator: "In",
                                        values: [...cfg.metricsNamespaces],
                                    },
                                ],
                            },
                        },
                    ],
                    ports: [{ port: ROUTER_METRICS_PORT, protocol: "TCP" }],
                },
            ],
        },
    };
}

/** At most one router pod down at a time during node drains and upgrades (R20). */
export function renderPodDisruptionBudget(
    cfg: RouterRenderConfig,
): k8s.types.input.policy.v1.PodDisruptionBudget {
    // maxUnavailable (not minAvailable) so a single DevTest replica never blocks node drains.
    return {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: meta(cfg),
        spec: { maxUnavailable: 1, selector: { matchLabels: { ...ROUTER_POD_LABELS } } },
    };
}

/**
 * CPU-based HPA on the ROUTER Deployment (FastProd/DenseProd). R29 forbids an HPA on MODEL
 * Deployments only; this one resizes the front end (R20). `undefined` on DevTest.
 */
export function renderHorizontalPodAutoscaler(
    cfg: RouterRenderConfig,
): k8s.types.input.autoscaling.v2.HorizontalPodAutoscaler | undefined {
    const profile = routerProfile(cfg.purpose);
    if (!profile.autoscale) return undefined;
    return {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: meta(cfg),
        spec: {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: ROUTER_NAME },
            minReplicas: profile.autoscale.min,
            maxReplicas: cfg.maxReplicas ?? profile.autoscale.max,
            metrics: [
                {
                    type: "Resource",
                    resource: {
                        name: "cpu",
                        target: { type: "Utilization", averageUtilization: 70 },
                    },
                },
            ],
            // Out fast, in slowly (R20, like the model autoscaler's ~1 s up / ~1 min down, R33).
            behavior: {
                scaleUp: {
                    stabilizationWindowSeconds: 0,
                    policies: [{ type: "Pods", value: 2, periodSeconds: 30 }],
                },
                scaleDown: {
                    stabilizationWindowSeconds: 300,
                    policies: [{ type: "Pods", value: 1, periodSeconds: 120 }],
                },
            },
        },
    };
}

/** Child name suffixes of the router objects (`<component>-<suffix>`). */
export const ROUTER_CHILDREN = {
    namespace: "router-ns",
    serviceNamespace: (ns: string) => `services-ns-${ns}`,
    serviceAccount: "router-sa",
    role: "router-role",
    roleBinding: "router-rolebinding",
    serviceRole: (ns: string) => `router-role-${ns}`,
    serviceRoleBinding: (ns: string) => `router-rolebinding-${ns}`,
    tlsSecret: "router-tls",
    appInsightsSecret: "router-appinsights",
    deployment: "router",
    service: "router-svc",
    podDisruptionBudget: "router-pdb",
    hpa: "router-hpa",
    metricsService: "router-metrics-svc",
    serviceMonitor: "router-servicemonitor",
    metricsNetworkPolicy: "router-metrics-netpol",
} as const;

/**
 * Every router object in apply order, as `installRouter` creates them: the TLS Secret only
 * with TLS, the Application Insights Secret only with a connection string, the HPA only off
 * DevTest. `tlsPem` and `appInsightsConnectionString` must already be `pulumi.secret`s.
 */
export function renderRouterObjects(
    cfg: RouterRenderConfig,
    tlsPem?: { certPem: pulumi.Input<string>; keyPem: pulumi.Input<string> },
    appInsightsConnectionString?: pulumi.Input<string>,
): PlannedObject[] {
    const c = ROUTER_CHILDREN;
    const inNamespace = [c.namespace];
    const out: PlannedObject[] = [
        { suffix: c.namespace, kind: "Namespace", object: renderNamespace(cfg) },
    ];
    // The default service namespace is created here; listed ones must exist.
    const own = (ns: string) => (cfg.createServiceNamespace ? [c.serviceNamespace(ns)] : []);
    for (const ns of cfg.serviceNamespaces) {
        if (cfg.createServiceNamespace) {
            out.push({
                suffix: c.serviceNamespace(ns),
                kind: "Namespace",
                object: renderNamespace(cfg, ns),
            });
        }
    }
    out.push(
        {
            suffix: c.serviceAccount,
            kind: "ServiceAccount",
            object: renderServiceAccount(cfg),
            dependsOn: inNamespace,
        },
        { suffix: c.role, kind: "Role", object: renderRole(cfg), dependsOn: inNamespace },
        {
            suffix: c.roleBinding,
            kind: "RoleBinding",
            object: renderRoleBinding(cfg),
            dependsOn: [c.role, c.serviceAccount],
        },
    );
    for (const ns of cfg.serviceNamespaces) {
        out.push(
            {
                suffix: c.serviceRole(ns),
                kind: "Role",
                object: renderServiceRole(cfg, ns),
                dependsOn: own(ns),
            },
            {
                suffix: c.serviceRoleBinding(ns),
                kind: "RoleBinding",
                object: renderServiceRoleBinding(cfg, ns),
                dependsOn: [...own(ns), c.serviceRole(ns), c.serviceAccount],
            },
        );
    }
    const podDeps: string[] = [
        c.serviceAccount,
        c.roleBinding,
        ...cfg.serviceNamespaces.map(c.serviceRoleBinding),
    ];
    if (cfg.tls && tlsPem) {
        out.push({
            suffix: c.tlsSecret,
            kind: "Secret",
            object: renderTlsSecret(cfg, tlsPem.certPem, tlsPem.keyPem),
            dependsOn: inNamespace,
        });
        podDeps.push(c.tlsSecret);
    }
    if (cfg.appInsights && appInsightsConnectionString !== undefined) {
        out.push({
            suffix: c.appInsightsSecret,
            kind: "Secret",
            object: renderRouterAppInsightsSecret(cfg.namespace, appInsightsConnectionString),
            dependsOn: inNamespace,
        });
        podDeps.push(c.appInsightsSecret);
    }
    const hpa = renderHorizontalPodAutoscaler(cfg);
    out.push(
        {
            suffix: c.deployment,
            kind: "Deployment",
            object: renderDeployment(cfg),
            dependsOn: podDeps,
            // The HPA owns spec.replicas once created; do not reset it on every `pulumi up`.
            ...(hpa ? { ignoreChanges: ["spec.replicas"] } : {}),
        },
        { suffix: c.service, kind: "Service", object: renderService(cfg), dependsOn: inNamespace },
        {
            suffix: c.podDisruptionBudget,
            kind: "PodDisruptionBudget",
            object: renderPodDisruptionBudget(cfg),
            dependsOn: inNamespace,
        },
    );
    if (hpa) {
        out.push({
            suffix: c.hpa,
            kind: "HorizontalPodAutoscaler",
            object: hpa,
            dependsOn: [c.deployment],
        });
    }
    if (cfg.serviceMonitor) {
        out.push(
            {
                suffix: c.metricsService,
                kind: "Service",
                object: renderMetricsService(cfg),
                dependsOn: inNamespace,
            },
            {
                suffix: c.serviceMonitor,
                kind: "ServiceMonitor",
                object: renderServiceMonitor(cfg),
                dependsOn: inNamespace,
            },
        );
    }
    const policy = renderMetricsNetworkPolicy(cfg);
    if (policy) {
        out.push({
            suffix: c.metricsNetworkPolicy,
            kind: "NetworkPolicy",
            object: policy,
            dependsOn: inNamespace,
        });
    }
    return out;
}

/** What {@link installRouter} created that the component exposes. */
export interface InstalledRouter {
    readonly namespace: k8s.core.v1.Namespace;
    /** Service namespaces the component created (the default one), else empty. */
    readonly serviceNamespaces: readonly k8s.core.v1.Namespace[];
    /** The router's RoleBindings in the service namespaces (model services may depend on them). */
    readonly serviceBindings: readonly pulumi.Resource[];
    readonly deployment: k8s.apps.v1.Deployment;
    readonly service: k8s.core.v1.Service;
}

/**
 * Creates the objects of {@link renderRouterObjects} on `provider` as children of `parent`,
 * named `${name}-<suffix>` (see {@link ROUTER_CHILDREN}); each also waits for `dependsOn`.
 */
export function installRouter(
    name: string,
    cfg: RouterRenderConfig,
    tlsPem: { certPem: pulumi.Input<string>; keyPem: pulumi.Input<string> } | undefined,
    opts: {
        parent: pulumi.Resource;
        provider: k8s.Provider;
        dependsOn?: pulumi.Input<pulumi.Resource>[];
    },
    appInsightsConnectionString?: pulumi.Input<string>,
): InstalledRouter {
    const created = createPlannedObjects(
        name,
        renderRouterObjects(cfg, tlsPem, appInsightsConnectionString),
        opts,
    );
    const child = <T extends pulumi.CustomResource>(suffix: string) =>
        plannedChild<T>(created, suffix);
    const c = ROUTER_CHILDREN;
    return {
        namespace: child(c.namespace),
        serviceNamespaces: cfg.createServiceNamespace
            ? cfg.serviceNamespaces.map((ns) => child(c.serviceNamespace(ns)))
            : [],
        serviceBindings: cfg.serviceNamespaces.map((ns) => child(c.serviceRoleBinding(ns))),
        deployment: child(c.deployment),
        service: child(c.service),
    };
}
