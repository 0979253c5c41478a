/**
 * Pure rendering for `AksWebservice`: validated settings (docs/design.md §3) → plain Kubernetes
 * objects (Deployment, Service, auth Secret, App Insights Secret, NetworkPolicy,
 * PodDisruptionBudget) and the resource options that decide who owns `spec.replicas`. No Pulumi
 * resources are created here; values that are only known at deploy time (image reference, keys,
 * router namespace) are passed through as `pulumi.Input`s. Never a HorizontalPodAutoscaler (R29):
 * the router scales.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { PlannedObject } from "../common/k8s-plan";
import { authMode, type WebserviceSettings } from "../settings";
import { APP_UID } from "../image/context";
import {
    AUTH_SECRET_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MODEL_DEPLOYMENT_LABEL,
    MODEL_SERVER_PORT,
    MODEL_SERVER_PORT_NAME,
    MODELS_ANNOTATION,
    NAME_LABEL,
    ROUTER_POD_SELECTOR,
    SECRET_PRIMARY_KEY,
    SECRET_SECONDARY_KEY,
    SECRET_SIGNING_JWKS,
    SECRET_SIGNING_KEY,
    SERVICE_LABEL,
    SETTINGS_ANNOTATION,
    TOKEN_AUDIENCE_ANNOTATION,
    TOKEN_ISSUER,
    TOKEN_ISSUER_ANNOTATION,
    authSecretName,
    renderModelsAnnotation,
    tokenAudience,
    type ModelNameVersion,
} from "./contract";

/** Where the code and the models sit inside the model container (AML contract, aml-v1-spec §5). */
export interface AppLayout {
    /** `AML_APP_ROOT`. */
    readonly appRoot: string;
    /** `AZUREML_SOURCE_DIRECTORY`: absolute path of the source directory in the container. */
    readonly sourceDirectory: string;
    /** `AZUREML_ENTRY_SCRIPT`: the entry script, relative to the source directory (POSIX). */
    readonly entryScript: string;
    /** `AZUREML_MODEL_DIR` (single model: its folder; several: the folder of `<name>/<version>/`). */
    readonly modelDir: string;
    /** Names and versions of the models, in order (the router's {@link MODELS_ANNOTATION}). @default [] */
    readonly models?: readonly ModelNameVersion[];
}

/** Everything the objects of one service are rendered from. */
export interface WebserviceRenderInput {
    /** Output of `validateWebserviceSettings` (defaults applied). */
    readonly settings: WebserviceSettings;
    /** Model image reference, ideally pinned by digest. */
    readonly image: pulumi.Input<string>;
    readonly layout: AppLayout;
    /** Namespace of the router pods allowed to reach the model pods. */
    readonly routerNamespace: pulumi.Input<string>;
    /**
     * How the preStop pause is done: the native `sleep` action (Kubernetes ≥ 1.30, no binary
     * needed in the image) or `exec` of the image's `sleep` (older clusters).
     * @default "sleep"
     */
    readonly preStopAction?: PreStopAction;
    /** Key auth: both keys (already `pulumi.secret`s). */
    readonly keys?: {
        readonly primaryKey: pulumi.Input<string>;
        readonly secondaryKey: pulumi.Input<string>;
    };
    /** Token auth: the signing key (PKCS#8 PEM) and the public JWKs JSON (secrets). */
    readonly tokenSigning?: {
        readonly privateKeyPem: pulumi.Input<string>;
        readonly publicJwks: pulumi.Input<string>;
    };
    /** App Insights (R3): connection string and instrumentation key (secrets). */
    readonly appInsights?: {
        readonly connectionString: pulumi.Input<string>;
        readonly instrumentationKey: pulumi.Input<string>;
    };
}

/**
 * uid/gid of the model server process (non-root): the owner of the app folder in the app layer,
 * so the entry script can write its working directory (v1 behaviour).
 */
export const MODEL_UID = APP_UID;
/**
 * Seconds a terminating model pod keeps serving before SIGTERM, so the router (which watches
 * EndpointSlices) stops sending it new requests first.
 */
export const PRE_STOP_SLEEP_SECONDS = 10;
/** Secret key names of the App Insights Secret. */
export const APPINSIGHTS_CONNECTION_STRING_KEY = "connectionString";
export const APPINSIGHTS_INSTRUMENTATION_KEY_KEY = "instrumentationKey";

/** Labels on every object of the service. */
export function serviceLabels(service: string): Record<string, string> {
    return { [NAME_LABEL]: service, [MANAGED_BY_LABEL]: MANAGED_BY, [SERVICE_LABEL]: service };
}

/** Labels that select the model pods (immutable part of the Deployment: never change them). */
export function podSelector(service: string): Record<string, string> {
    return { [NAME_LABEL]: service, [MODEL_DEPLOYMENT_LABEL]: "true" };
}

/** Kubernetes CPU quantity for a number of cores: whole cores as is, else millicores (≥ 1m). */
export function cpuQuantity(cores: number): string {
    if (Number.isInteger(cores)) return String(cores);
    return `${Math.max(1, Math.round(cores * 1000))}m`;
}

/** Kubernetes memory quantity for GB, read as GiB like v1's `memoryInGB` (rounded up to MiB). */
export function memoryQuantity(gb: number): string {
    const mib = Math.max(1, Math.ceil(Number((gb * 1024).toFixed(6))));
    return mib % 1024 === 0 ? `${mib / 1024}Gi` : `${mib}Mi`;
}

/**
 * The settings the router needs, as JSON for {@link SETTINGS_ANNOTATION}: a valid
 * `WebserviceSettingsInput` (so the router re-validates it with the same function) without the
 * keys (they live in the Secret) and without the model list (up to 1000 paths, not needed by the
 * router; annotations are capped at 256 KiB). Map keys are sorted so the text is stable.
 */
export function renderSettingsAnnotation(settings: WebserviceSettings): string {
    const { primaryKey: _p, secondaryKey: _s, models: _m, tags, properties, ...rest } = settings;
    const plain: Record<string, unknown> = { ...rest };
    // Explicit autoscale flag: the router must not guess from numReplicas.
    if (!rest.autoscaleEnabled) {
        for (const k of [
            "autoscaleMinReplicas",
            "autoscaleMaxReplicas",
            "autoscaleRefreshSeconds",
            "autoscaleTargetUtilization",
        ]) {
            delete plain[k]; // the validator rejects autoscale knobs without autoscale
        }
    }
    plain.tags = sortKeys(tags);
    plain.properties = sortKeys(properties);
    return JSON.stringify(plain);
}

function sortKeys(map: Readonly<Record<string, string>>): Record<string, string> {
    return Object.fromEntries(
        Object.keys(map)
            .sort()
            .map((k) => [k, map[k]]),
    );
}

/**
 * Replicas the Deployment is created with: `autoscaleMinReplicas` when the router autoscales,
 * else `numReplicas`.
 */
export function initialReplicas(settings: WebserviceSettings): number {
    return settings.autoscaleEnabled ? settings.autoscaleMinReplicas : (settings.numReplicas ?? 1);
}

/**
 * Resource options of the model Deployment that decide who owns `spec.replicas`.
 *
 * - Autoscale on: the router's autoscaler owns the count (R29–R32). The Deployment is created with
 *   `autoscaleMinReplicas`, and `ignoreChanges: ["spec.replicas"]` keeps a later `pulumi up` from
 *   resetting what the router chose. With server-side apply (the default of @pulumi/kubernetes
 *   v4) the provider drops an ignored field from its apply patch once another field manager (the
 *   router, through the scale subresource) owns it, so there is no field conflict either
 *   (pulumi/pulumi-kubernetes#2566, #2542).
 * - Autoscale off (`numReplicas`): Pulumi owns `spec.replicas` and every `pulumi up` enforces it;
 *   no ignoreChanges. The Deployment also carries `pulumi.com/patchForce: "true"` (see
 *   {@link renderDeployment}) so that after switching from autoscale, Pulumi takes the field back
 *   from the router's field manager instead of failing with an SSA conflict.
 *
 * `ignoreChanges` is a resource option fixed when the resource is registered, so the choice is
 * made from the (plain, validated) settings before the Deployment is created, and re-made on each
 * run: switching modes is an ordinary update.
 */
export function deploymentReplicaOptions(settings: WebserviceSettings): {
    ignoreChanges?: string[];
} {
    return settings.autoscaleEnabled ? { ignoreChanges: ["spec.replicas"] } : {};
}

/** `sleep` (native action, Kubernetes ≥ 1.30) or `exec` (runs `sleep` in the container). */
export type PreStopAction = "sleep" | "exec";
export const PRE_STOP_ACTIONS: readonly PreStopAction[] = ["sleep", "exec"];

/** First Kubernetes minor version (1.x) with the native preStop sleep action enabled (GA 1.30). */
export const NATIVE_SLEEP_MIN_MINOR = 30;

/**
 * The preStop action for a cluster version (`"1.29"`, `"1.29.4"`; undefined when unknown):
 * `exec` below 1.30, where the API server does not accept the native `sleep` action.
 */
export function preStopActionFor(kubernetesVersion: string | undefined): PreStopAction {
    const m = /^1\.(\d+)(\.\d+)?$/.exec(kubernetesVersion ?? "");
    return m && Number(m[1]) < NATIVE_SLEEP_MIN_MINOR ? "exec" : "sleep";
}

/** The preStop handler: the native sleep action, or `sleep` run from the model image. */
export function preStopHandler(action: PreStopAction): k8s.types.input.core.v1.LifecycleHandler {
    return action === "exec"
        ? { exec: { command: ["sleep", String(PRE_STOP_SLEEP_SECONDS)] } }
        : { sleep: { seconds: PRE_STOP_SLEEP_SECONDS } };
}

/**
 * Grace period of a model pod: the preStop sleep, then one full scoring timeout so a request that
 * started just before SIGTERM can finish (the model server drains in-flight requests on SIGTERM),
 * plus 5 s of margin. At least 30 s (the Kubernetes default).
 */
export function terminationGracePeriodSeconds(settings: WebserviceSettings): number {
    return Math.max(30, PRE_STOP_SLEEP_SECONDS + Math.ceil(settings.scoringTimeoutMs / 1000) + 5);
}

function env(input: WebserviceRenderInput): k8s.types.input.core.v1.EnvVar[] {
    const s = input.settings;
    const l = input.layout;
    const out: k8s.types.input.core.v1.EnvVar[] = [
        // The AML inference-server contract (aml-v1-spec §5).
        { name: "AML_APP_ROOT", value: l.appRoot },
        { name: "AZUREML_SOURCE_DIRECTORY", value: l.sourceDirectory },
        { name: "AZUREML_ENTRY_SCRIPT", value: l.entryScript },
        { name: "AZUREML_MODEL_DIR", value: l.modelDir },
        { name: "SERVICE_NAME", value: s.name },
        { name: "SERVER_PORT", value: String(MODEL_SERVER_PORT) },
        // The stdlib harness binds loopback by default; the router reaches pods by pod IP.
        { name: "SERVER_HOST", value: "0.0.0.0" },
        // Model-side timeout = the router's (R19 contract: the router answers 504 at the same time).
        { name: "SCORING_TIMEOUT_MS", value: String(s.scoringTimeoutMs) },
        // One worker per concurrent request the router sends to a replica.
        { name: "WORKER_COUNT", value: String(s.replicaMaxConcurrentRequests) },
        // print() in score.py reaches the container log at once (R22: logs via Container Insights).
        { name: "PYTHONUNBUFFERED", value: "1" },
    ];
    if (s.enableAppInsights) {
        const secretName = appInsightsSecretName(s.name);
        out.push(
            { name: "AML_APP_INSIGHTS_ENABLED", value: "true" },
            {
                name: "AML_APP_INSIGHTS_KEY",
                valueFrom: {
                    secretKeyRef: { name: secretName, key: APPINSIGHTS_INSTRUMENTATION_KEY_KEY },
                },
            },
            {
                name: "APPLICATIONINSIGHTS_CONNECTION_STRING",
                valueFrom: {
                    secretKeyRef: { name: secretName, key: APPINSIGHTS_CONNECTION_STRING_KEY },
                },
            },
        );
    }
    if (s.collectModelData) {
        // R4: the model server (and azureml-monitoring's ModelDataCollector) log inputs/outputs.
        out.push({ name: "AML_MODEL_DC_STORAGE_ENABLED", value: "true" });
    }
    return out;
}

/** Name of the App Insights Secret of a service. */
export function appInsightsSecretName(service: string): string {
    return `${service}-appinsights`;
}

function deploymentAnnotations(
    s: WebserviceSettings,
    models: readonly ModelNameVersion[],
): Record<string, string> {
    const annotations: Record<string, string> = {
        [SETTINGS_ANNOTATION]: renderSettingsAnnotation(s),
    };
    if (models.length > 0) annotations[MODELS_ANNOTATION] = renderModelsAnnotation(models);
    const mode = authMode(s);
    if (mode !== "none") annotations[AUTH_SECRET_ANNOTATION] = authSecretName(s.name);
    if (mode === "token") {
        annotations[TOKEN_AUDIENCE_ANNOTATION] = tokenAudience(s.name);
        annotations[TOKEN_ISSUER_ANNOTATION] = TOKEN_ISSUER;
    }
    // Fixed replicas: Pulumi must win spec.replicas back after an autoscale period (see
    // deploymentReplicaOptions).
    if (!s.autoscaleEnabled) annotations["pulumi.com/patchForce"] = "true";
    return annotations;
}

/** The model Deployment: model server on 5001, probes, resources, hardened pod. */
export function renderDeployment(input: WebserviceRenderInput): k8s.types.input.apps.v1.Deployment {
    const s = input.settings;
    const selector = podSelector(s.name);
    const gpu = s.gpuCores > 0;
    const requests: Record<string, string> = {
        cpu: cpuQuantity(s.cpuCores),
        memory: memoryQuantity(s.memoryGb),
    };
    const limits: Record<string, string> = {};
    if (s.cpuCoresLimit !== undefined) limits.cpu = cpuQuantity(s.cpuCoresLimit);
    if (s.memoryGbLimit !== undefined) limits.memory = memoryQuantity(s.memoryGbLimit);
    // Extended resources go in limits (requests default to them); pods cannot share GPUs (R7).
    if (gpu) limits["nvidia.com/gpu"] = String(s.gpuCores);

    const httpGet = { path: "/", port: MODEL_SERVER_PORT_NAME };
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: {
            name: s.name,
            namespace: s.namespace,
            labels: { ...serviceLabels(s.name), [MODEL_DEPLOYMENT_LABEL]: "true" },
            annotations: deploymentAnnotations(s, input.layout.models ?? []),
        },
        spec: {
            replicas: initialReplicas(s),
            selector: { matchLabels: selector },
            revisionHistoryLimit: 5,
            // CPU: add before removing, no capacity dip during a roll. GPU: the cluster usually
            // has no spare GPU for a surge pod (replicas ≤ GPUs), so replace one at a time.
            strategy: {
                type: "RollingUpdate",
                rollingUpdate: gpu
                    ? { maxSurge: 0, maxUnavailable: 1 }
                    : { maxSurge: "25%", maxUnavailable: 0 },
            },
            template: {
                metadata: {
                    labels: { ...serviceLabels(s.name), ...selector },
                    // No pod-deletion-cost here: the router sets
                    // controller.kubernetes.io/pod-deletion-cost on the live pods it drains before
                    // scaling down, and a template value would be copied onto every new pod.
                },
                spec: {
                    // Model pods never call the Kubernetes API.
                    automountServiceAccountToken: false,
                    enableServiceLinks: false,
                    terminationGracePeriodSeconds: terminationGracePeriodSeconds(s),
                    nodeSelector: { "kubernetes.io/os": "linux" },
                    // Restricted Pod Security Standard.
                    securityContext: {
                        runAsNonRoot: true,
                        runAsUser: MODEL_UID,
                        runAsGroup: MODEL_UID,
                        fsGroup: MODEL_UID,
                        seccompProfile: { type: "RuntimeDefault" },
                    },
                    ...(gpu
                        ? {
                              // AKS GPU node pools are commonly tainted.
                              tolerations: [
                                  {
                                      key: "nvidia.com/gpu",
                                      operator: "Exists",
                                      effect: "NoSchedule",
                                  },
                                  {
                                      key: "sku",
                                      operator: "Equal",
                                      value: "gpu",
                                      effect: "NoSchedule",
                                  },
                              ],
                          }
                        : {}),
                    // Spread replicas over nodes when possible; never blocks scheduling.
                    topologySpreadConstraints: [
                        {
                            maxSkew: 1,
                            topologyKey: "kubernetes.io/hostname",
                            whenUnsatisfiable: "ScheduleAnyway",
                            labelSelector: { matchLabels: selector },
                        },
                    ],
                    containers: [
                        {
                            name: "model",
                            image: input.image,
                            imagePullPolicy: "IfNotPresent",
                            ports: [
                                {
                                    name: MODEL_SERVER_PORT_NAME,
                                    containerPort: MODEL_SERVER_PORT,
                                    protocol: "TCP",
                                },
                            ],
                            env: env(input),
                            resources: {
                                requests,
                                ...(Object.keys(limits).length > 0 ? { limits } : {}),
                            },
                            // v1 probe settings (aml-v1-spec §1.1). Readiness has no initial delay:
                            // the server listens only after init(), so it is ready as soon as it
                            // answers. Kubernetes requires successThreshold 1 on liveness probes,
                            // so the v1 successThreshold applies to readiness only.
                            readinessProbe: {
                                httpGet,
                                periodSeconds: s.periodSeconds,
                                timeoutSeconds: s.timeoutSeconds,
                                successThreshold: s.successThreshold,
                                failureThreshold: s.failureThreshold,
                            },
                            livenessProbe: {
                                httpGet,
                                initialDelaySeconds: s.initialDelaySeconds,
                                periodSeconds: s.periodSeconds,
                                timeoutSeconds: s.timeoutSeconds,
                                successThreshold: 1,
                                failureThreshold: s.failureThreshold,
                            },
                            // Keep serving while the router notices the pod is terminating.
                            lifecycle: { preStop: preStopHandler(input.preStopAction ?? "sleep") },
                            // init() failures show in `kubectl describe pod` (like v1 get_logs(init)).
                            terminationMessagePolicy: "FallbackToLogsOnError",
                            securityContext: {
                                runAsNonRoot: true,
                                allowPrivilegeEscalation: false,
                                capabilities: { drop: ["ALL"] },
                                seccompProfile: { type: "RuntimeDefault" },
                                // Root filesystem stays writable: v1 entry scripts commonly write
                                // to their working directory.
                            },
                        },
                    ],
                },
            },
        },
    };
}

/** ClusterIP Service on 5001: its EndpointSlices are how the router finds ready model pods. */
export function renderService(input: WebserviceRenderInput): k8s.types.input.core.v1.Service {
    const s = input.settings;
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name) },
        spec: {
            type: "ClusterIP",
            selector: podSelector(s.name),
            ports: [
                {
                    name: MODEL_SERVER_PORT_NAME,
                    port: MODEL_SERVER_PORT,
                    targetPort: MODEL_SERVER_PORT_NAME,
                    protocol: "TCP",
                },
            ],
        },
    };
}

/**
 * The auth Secret the router reads (R35–R37): both keys for key auth, the signing key and its
 * public JWKs for token auth; `undefined` when auth is off. Model pods never mount it.
 */
export function renderAuthSecret(
    input: WebserviceRenderInput,
): k8s.types.input.core.v1.Secret | undefined {
    const s = input.settings;
    const mode = authMode(s);
    let stringData: Record<string, pulumi.Input<string>>;
    if (mode === "key") {
        if (!input.keys) throw new Error("key auth needs keys");
        stringData = {
            [SECRET_PRIMARY_KEY]: input.keys.primaryKey,
            [SECRET_SECONDARY_KEY]: input.keys.secondaryKey,
        };
    } else if (mode === "token") {
        if (!input.tokenSigning) throw new Error("token auth needs a signing key");
        stringData = {
            [SECRET_SIGNING_KEY]: input.tokenSigning.privateKeyPem,
            [SECRET_SIGNING_JWKS]: input.tokenSigning.publicJwks,
        };
    } else {
        return undefined;
    }
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
            name: authSecretName(s.name),
            namespace: s.namespace,
            labels: serviceLabels(s.name),
        },
        type: "Opaque",
        stringData,
    };
}

/** The App Insights Secret the model pods read (R3); `undefined` unless enableAppInsights. */
export function renderAppInsightsSecret(
    input: WebserviceRenderInput,
): k8s.types.input.core.v1.Secret | undefined {
    const s = input.settings;
    if (!s.enableAppInsights) return undefined;
    if (!input.appInsights) throw new Error("enableAppInsights needs a connection string");
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
            name: appInsightsSecretName(s.name),
            namespace: s.namespace,
            labels: serviceLabels(s.name),
        },
        type: "Opaque",
        stringData: {
            [APPINSIGHTS_CONNECTION_STRING_KEY]: input.appInsights.connectionString,
            [APPINSIGHTS_INSTRUMENTATION_KEY_KEY]: input.appInsights.instrumentationKey,
        },
    };
}

/**
 * Only the router reaches model pods, and only on the model port. Ingress only: egress stays open
 * because entry scripts may call databases, REST APIs or storage (R25); restrict it with your own
 * policy when you know those hosts. Kubelet probes come from the node and are always allowed by
 * NetworkPolicy semantics.
 */
export function renderNetworkPolicy(
    input: WebserviceRenderInput,
): k8s.types.input.networking.v1.NetworkPolicy {
    const s = input.settings;
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name) },
        spec: {
            podSelector: { matchLabels: podSelector(s.name) },
            policyTypes: ["Ingress", "Egress"],
            ingress: [
                {
                    from: [
                        {
                            // Both selectors in ONE peer: router pods in the router namespace
                            // (kubernetes.io/metadata.name is set on every namespace, k8s ≥ 1.22).
                            namespaceSelector: {
                                matchLabels: {
                                    "kubernetes.io/metadata.name": input.routerNamespace,
                                },
                            },
                            podSelector: { matchLabels: { ...ROUTER_POD_SELECTOR } },
                        },
                    ],
                    ports: [{ protocol: "TCP", port: MODEL_SERVER_PORT }],
                },
            ],
            // Egress: everything a scoring script may need (DNS, other pods, storage, APIs)
            // except the instance metadata endpoint, which hands out the node's managed-identity
            // tokens to any pod that asks (issue 11 item 1).
            egress: [
                {
                    to: [
                        {
                            ipBlock: {
                                cidr: "0.0.0.0/0",
                                except: [`${INSTANCE_METADATA_IP}/32`],
                            },
                        },
                        { ipBlock: { cidr: "::/0" } },
                        // Pod addresses: some engines (Azure NPM) do not match pods by ipBlock.
                        { namespaceSelector: {} },
                    ],
                },
            ],
        },
    };
}

/** Azure Instance Metadata Service (and its managed-identity token endpoint). */
export const INSTANCE_METADATA_IP = "169.254.169.254";

/**
 * At most one model pod evicted at a time (node drains, upgrades). `maxUnavailable: 1` rather than
 * a `minAvailable` count because the router changes the replica count at run time, and so a
 * single-replica service never blocks a node drain. Unhealthy pods may always be evicted.
 */
export function renderPodDisruptionBudget(
    input: WebserviceRenderInput,
): k8s.types.input.policy.v1.PodDisruptionBudget {
    const s = input.settings;
    return {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name) },
        spec: {
            maxUnavailable: 1,
            selector: { matchLabels: podSelector(s.name) },
            unhealthyPodEvictionPolicy: "AlwaysAllow",
        },
    };
}

/**
 * Every object of a service in creation order, as the component creates them (Secrets first;
 * the Deployment waits for the App Insights Secret its pods read at start).
 */
export function renderWebserviceObjects(input: WebserviceRenderInput): PlannedObject[] {
    const out: PlannedObject[] = [];
    const auth = renderAuthSecret(input);
    if (auth) out.push({ suffix: "auth", kind: "Secret", object: auth });
    const ai = renderAppInsightsSecret(input);
    if (ai) out.push({ suffix: "appinsights", kind: "Secret", object: ai });
    const replicas = deploymentReplicaOptions(input.settings).ignoreChanges;
    out.push(
        {
            suffix: "deployment",
            kind: "Deployment",
            object: renderDeployment(input),
            dependsOn: ai ? ["appinsights"] : [],
            // Who owns spec.replicas: the router (autoscale) or Pulumi (numReplicas).
            ...(replicas ? { ignoreChanges: replicas } : {}),
        },
        { suffix: "service", kind: "Service", object: renderService(input) },
        { suffix: "netpol", kind: "NetworkPolicy", object: renderNetworkPolicy(input) },
        { suffix: "pdb", kind: "PodDisruptionBudget", object: renderPodDisruptionBudget(input) },
    );
    return out;
}
