/**
 * AksWebservice (docs/design.md §4; R26–R29, R35–R37): one model web service on an inference
 * cluster, deployed as plain Kubernetes objects that the amlaks router discovers and scales.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createPlannedObjects, plannedChild } from "../common/k8s-plan";
import { DEFAULT_PLATFORM } from "../image/hash";
import { authMode } from "../settings";
import { appLayerContextDirectory, buildAppLayer, planAppLayout } from "./app-layer";
import { TOKEN_ISSUER, tokenAudience } from "./contract";
import { linkCluster, missingProviderMessage } from "./cluster-link";
import { createKeys, createSigningKey, instrumentationKeyFromConnectionString } from "./keys";
import {
    renderWebserviceObjects,
    preStopActionFor,
    type PreStopAction,
    type WebserviceRenderInput,
} from "./render";
import { validateAksWebserviceArgs } from "./validate";

export * from "./contract";
export { validateAksWebserviceArgs, MODEL_DELIVERIES } from "./validate";

/** Type token of the component. */
export const AKS_WEBSERVICE_TYPE = "amlaks:index:AksWebservice";

/**
 * What the component needs from an inference cluster: `AksInferenceCluster` fits, and so does a
 * test double. Other languages (provider/README.md) pass an object of the cluster's outputs
 * and give the Kubernetes provider in the `providers` resource option.
 */
export interface InferenceClusterLike {
    /**
     * Provider of the cluster; every Kubernetes object of the service is created with it.
     * Declared as an accessor so that the inferred multi-language schema leaves it out (it cannot
     * express provider references); an object with a plain `kubeProvider` property fits too.
     */
    get kubeProvider(): k8s.Provider;
    /** `http(s)://host` of the router; "" when it has no external address yet. */
    readonly scoringBaseUrl: pulumi.Output<string>;
    /** Whether the nodes have NVIDIA GPUs (R9). */
    readonly gpuEnabled: pulumi.Output<boolean>;
    /** Namespace of the router pods (they alone may reach model pods). */
    readonly routerNamespace: pulumi.Output<string>;
    /**
     * Namespaces the router watches (it serves and scales services there only). When given, the
     * service's namespace is checked against it at deploy time, and every child waits for it (the
     * cluster creates its default service namespace and the router's Roles behind this Output).
     * @default - not checked
     */
    readonly serviceNamespaces?: pulumi.Output<string[]>;
    /**
     * Whether the nodes have GPUs, as a plain value when the cluster knows it at construction
     * (`AksInferenceCluster` with a plain or declared vmSize): a GPU service on a CPU cluster is
     * then refused before anything is registered (R9).
     * @default - checked at deploy time against `gpuEnabled`
     */
    readonly gpuKnown?: boolean;
    /**
     * Kubernetes version (`1.29`, `1.29.4`) when known at construction; picks the preStop
     * action (native `sleep` needs 1.30).
     * @default - unknown: the native sleep action
     */
    readonly kubernetesVersion?: string;
}

/** What the component needs from a `ModelImage`: the environment image pinned by digest. */
export interface ModelImageLike {
    readonly imageRef: pulumi.Output<string>;
}

/**
 * Arguments of {@link AksWebservice}. The web-service settings are the v1 `deploy_configuration`
 * fields in camelCase (docs/design.md §3), flat, with the v1 defaults. They are PLAIN values (not
 * Outputs): they are validated before anything is created and decide the shape of the children
 * (GPU resources, who owns the replica count). Only `primaryKey`/`secondaryKey` may be Outputs
 * (secrets from config).
 */
export interface AksWebserviceArgs {
    // ---- Where and what -------------------------------------------------------------------------

    /**
     * The inference cluster (an `AksInferenceCluster`). Other languages pass an object of its
     * outputs (`scoringBaseUrl`, `gpuEnabled`, `routerNamespace`, optionally `serviceNamespaces`)
     * and the cluster's Kubernetes provider in the `providers` resource option.
     */
    readonly cluster: InferenceClusterLike;
    /**
     * The environment image: a `ModelImage`, or an image reference pinned by digest (as
     * `imageRef`). Exactly one of `image` and `imageRef` is required. In the multi-language
     * schema this is a string (pass a ModelImage's `imageRef` output).
     * @default - unset (use imageRef)
     */
    readonly image?: ModelImageLike | pulumi.Input<string>;
    /**
     * The environment image as a reference pinned by digest (`<repo>@sha256:<hex>`), for images
     * built elsewhere. Exactly one of `image` and `imageRef` is required.
     * @default - unset (use image)
     */
    readonly imageRef?: pulumi.Input<string>;
    /**
     * Model files or folders (at most 1000, R27), relative to the program directory. Laid out as
     * AML does: one model → `AZUREML_MODEL_DIR=/var/azureml-app/azureml-models/<name>/1`; several →
     * `AZUREML_MODEL_DIR=/var/azureml-app/azureml-models` with `<name>/1/` folders (name = base
     * name without extension). Changing a model rebuilds only the thin app layer.
     * @default []
     */
    readonly models?: string[];
    /**
     * The scoring script (`init()` and `run()`), relative to `sourceDirectory` when that is set
     * (as in v1 `InferenceConfig`), else to the program directory. Must be inside the source
     * directory.
     */
    readonly entryScript: string;
    /**
     * Project folder deployed with the entry script (R12: `.amlignore`/`.gitignore` honoured).
     * @default - the folder of entryScript
     */
    readonly sourceDirectory?: string;
    /**
     * How code and models reach the pods: `image` — a thin image `FROM` the environment image with
     * the snapshot and models, built and pushed to `registryServer` with @pulumi/docker (needs a
     * Docker engine where `pulumi up` runs). `prebuilt` — `imageRef` is already the complete service
     * image (e.g. built from `renderAppLayerContext` by an earlier pipeline step, where `pulumi up`
     * runs without Docker): used as is, nothing is built or pushed, `registryServer` is not needed;
     * `entryScript`, `sourceDirectory` and `models` are still checked and give the in-image layout.
     * `blob` (download from the workspace storage by an init container) is planned and rejected today.
     * @default "image"
     */
    readonly modelDelivery?: string;
    /** Registry the app layer is pushed to (e.g. `<acr>.azurecr.io`). Required with `image` delivery. */
    readonly registryServer?: pulumi.Input<string>;
    /** Registry user. @default - the Docker engine's stored credentials */
    readonly registryUsername?: pulumi.Input<string>;
    /** Registry password (treated as a secret). @default - the Docker engine's stored credentials */
    readonly registryPassword?: pulumi.Input<string>;
    /**
     * Platform (`os/arch`) of the app layer; must match the environment image's.
     * @default "linux/amd64"
     */
    readonly platform?: string;
    /**
     * Whether the cluster's nodes have GPUs, when the program knows it as a plain value (e.g.
     * `detectAccelerators(vmSize).gpu` for a plain vmSize). Lets a GPU service on a CPU cluster
     * fail before anything is created.
     * @default - checked at deploy time against `cluster.gpuEnabled`
     */
    readonly clusterGpuEnabled?: boolean;
    /**
     * preStop pause of model pods: `sleep` (native action, Kubernetes ≥ 1.30, nothing needed in
     * the image) or `exec` (runs `sleep` from the image: clusters older than 1.30).
     * @default "exec" when cluster.kubernetesVersion is below 1.30, else "sleep"
     */
    readonly preStopAction?: string;
    /** App Insights connection string (R3; secret), required with `enableAppInsights`. @default - none */
    readonly appInsightsConnectionString?: pulumi.Input<string>;
    /** Increase to regenerate a generated primary key (R36). @default 0 */
    readonly primaryKeyVersion?: pulumi.Input<number>;
    /** Increase to regenerate a generated secondary key (R36). @default 0 */
    readonly secondaryKeyVersion?: pulumi.Input<number>;
    /**
     * Set, then increase, to replace the token signing key (R37; tokens it signed stop working).
     * @default - unset (the key is kept)
     */
    readonly tokenSigningKeyVersion?: number;

    // ---- The settings vocabulary (components/settings; aml-v1-spec §1.1) -------------------------

    /**
     * Service name: 3–32 lowercase letters, digits and dashes, starting with a letter. Names the
     * Deployment, Service, NetworkPolicy and PDB, and the URL path. Changing it replaces the service.
     * @default - the component name
     */
    readonly name?: string;
    /** CPU request per replica (cores). @default 0.1 */
    readonly cpuCores?: number;
    /** Memory request per replica (GB, read as GiB). @default 0.5 */
    readonly memoryGb?: number;
    /** NVIDIA GPUs per replica (whole number; needs a GPU cluster, R9). @default 0 */
    readonly gpuCores?: number;
    /** CPU limit per replica (≥ cpuCores). @default - no limit */
    readonly cpuCoresLimit?: number;
    /** Memory limit per replica (GB, ≥ memoryGb). @default - no limit */
    readonly memoryGbLimit?: number;
    /** Router autoscaling (R2, R29–R33). @default true unless numReplicas is set */
    readonly autoscaleEnabled?: boolean;
    /** Replicas at creation and lower bound (only with autoscaleEnabled: true). @default 1 */
    readonly autoscaleMinReplicas?: number;
    /** Upper bound (only with autoscaleEnabled: true). @default 10 */
    readonly autoscaleMaxReplicas?: number;
    /** Seconds between autoscaler decisions (only with autoscaleEnabled: true). @default 1 */
    readonly autoscaleRefreshSeconds?: number;
    /** Target utilization in percent (only with autoscaleEnabled: true). @default 70 */
    readonly autoscaleTargetUtilization?: number;
    /** Fixed replicas (autoscale off; Pulumi then owns spec.replicas). @default - unset */
    readonly numReplicas?: number;
    /** Key auth (R35). @default true unless tokenAuthEnabled */
    readonly authEnabled?: boolean;
    /** Token auth (R37), exclusive with key auth. @default false */
    readonly tokenAuthEnabled?: boolean;
    /** Primary key, used as is (secret). @default - generated (RandomPassword, 32 chars) */
    readonly primaryKey?: pulumi.Input<string>;
    /** Secondary key, used as is (secret). @default - generated (RandomPassword, 32 chars) */
    readonly secondaryKey?: pulumi.Input<string>;
    /** Scoring timeout in ms (router → 504; model server limit). @default 60000 */
    readonly scoringTimeoutMs?: number;
    /** Concurrent requests per replica (router slots; model-server workers). @default 1 */
    readonly replicaMaxConcurrentRequests?: number;
    /** Maximum router queue wait in ms (→ 503). @default 500 */
    readonly maxRequestWaitTime?: number;
    /** Probe period in seconds. @default 10 */
    readonly periodSeconds?: number;
    /** Liveness probe initial delay in seconds. @default 310 */
    readonly initialDelaySeconds?: number;
    /** Probe timeout in seconds. @default 2 */
    readonly timeoutSeconds?: number;
    /** Readiness success threshold (liveness is always 1 in Kubernetes). @default 1 */
    readonly successThreshold?: number;
    /** Probe failure threshold. @default 3 */
    readonly failureThreshold?: number;
    /** Model data collection (R4). @default false */
    readonly collectModelData?: boolean;
    /**
     * Fraction (0–1) of successful scoring requests whose inputs and predictions the router
     * collects when collectModelData is on (docs/observability.md). @default 1
     */
    readonly modelDataCollectionSampleRate?: number;
    /** Application Insights (R3); needs appInsightsConnectionString. @default false */
    readonly enableAppInsights?: boolean;
    /**
     * Kubernetes namespace: one the cluster's router watches (`cluster.serviceNamespaces`).
     * Changing it replaces the service. @default "azureml-services"
     */
    readonly namespace?: string;
    /** Free text. @default - none */
    readonly description?: string;
    /** Tags. @default {} */
    readonly tags?: Record<string, string>;
    /** Properties. @default {} */
    readonly properties?: Record<string, string>;
}

function trimSlash(url: string): string {
    return url.replace(/\/+$/, "");
}

/**
 * A model web service: Deployment (model server on 5001), Service, auth Secret, NetworkPolicy
 * and PodDisruptionBudget in the cluster, plus the thin app-layer image with its code and models.
 * Scaled by the router (never by an HPA, R29).
 */
export class AksWebservice extends pulumi.ComponentResource {
    /** `<scoringBaseUrl>/api/v1/service/<name>/score` (a path only while the router has no address). */
    public readonly scoringUri: pulumi.Output<string>;
    /** `<scoringBaseUrl>/api/v1/service/<name>/swagger.json`. */
    public readonly swaggerUri: pulumi.Output<string>;
    /** Primary key (secret); "" unless key auth. */
    public readonly primaryKey: pulumi.Output<string>;
    /** Secondary key (secret); "" unless key auth. */
    public readonly secondaryKey: pulumi.Output<string>;
    /** Service name. */
    public readonly name: pulumi.Output<string>;
    /** Kubernetes namespace. */
    public readonly namespace: pulumi.Output<string>;
    /** Name of the model Deployment. */
    public readonly deploymentName: pulumi.Output<string>;
    /** `AZUREML_MODEL_DIR` inside the pods ("" without models). */
    public readonly modelDir: pulumi.Output<string>;
    /** Image the pods run (the app layer, pinned by digest). */
    public readonly imageRef: pulumi.Output<string>;
    /** `key`, `token` or `none` (R35). */
    public readonly authMode: pulumi.Output<string>;
    /** Expected `aud` of tokens (token auth); "" otherwise. */
    public readonly tokenAudience: pulumi.Output<string>;
    /** Expected `iss` of tokens (token auth); "" otherwise. */
    public readonly tokenIssuer: pulumi.Output<string>;

    constructor(name: string, args: AksWebserviceArgs, opts?: pulumi.ComponentResourceOptions) {
        // `image` as a reference string is `imageRef` (issue 11 item 8).
        args = normalizeImage(args);
        // The cluster's members as Outputs and plain facts, also when another language passed
        // them (plain values, Outputs, no provider).
        const cluster =
            args?.cluster !== null && typeof args?.cluster === "object"
                ? linkCluster(args.cluster)
                : undefined;
        // Validate before anything is registered, not even this component (anchors §7.7–§7.8).
        // The cluster's plain GPU fact refuses a GPU service on a CPU cluster now (R9).
        const knownGpu = args?.clusterGpuEnabled ?? cluster?.gpuKnown;
        const v = validateAksWebserviceArgs(
            name,
            args as unknown as Record<string, unknown>,
            process.cwd(),
            knownGpu,
        );
        super(AKS_WEBSERVICE_TYPE, name, {}, opts);
        // The validator required an object cluster, so it is linked.
        if (cluster === undefined) throw new Error(`AksWebservice "${name}": cluster unchecked`);
        const link = cluster;
        // The cluster's provider, else the one from the resource options (other languages).
        const kubeProvider = link.kubeProvider ?? this.getProvider("kubernetes::");
        if (!kubeProvider) throw new pulumi.ResourceError(missingProviderMessage(name), this);
        const s = v.settings;
        const mode = authMode(s);

        // Deploy-time checks against the cluster; every child waits for them, so a failing check
        // fails the update before any child exists.
        const gates: pulumi.Output<void>[] = [];
        // GPU service on a cluster whose GPU support is only known at deploy time (R9).
        if (s.gpuCores > 0 && knownGpu === undefined) {
            gates.push(
                link.gpuEnabled.apply((gpu) => {
                    if (!gpu) {
                        throw new pulumi.ResourceError(
                            `AksWebservice "${name}": gpuCores is ${s.gpuCores} but the cluster has no GPU ` +
                                "nodes (cluster.gpuEnabled is false). GPU services need a cluster created with " +
                                "a GPU VM size (R9); set gpuCores: 0 or use a GPU cluster.",
                            this,
                        );
                    }
                }),
            );
        }
        // The router only sees services in the namespaces it watches (R21, least privilege).
        if (link.serviceNamespaces) {
            gates.push(
                link.serviceNamespaces.apply((watched) => {
                    if (!watched.includes(s.namespace)) {
                        throw new pulumi.ResourceError(
                            `AksWebservice "${name}": namespace is "${s.namespace}" but the cluster's router ` +
                                `only serves the namespaces [${watched.join(", ")}] (routerWatchNamespaces); ` +
                                "set namespace to one of them or add it to routerWatchNamespaces.",
                            this,
                        );
                    }
                }),
            );
        }
        const dependsOn: pulumi.Input<pulumi.Input<pulumi.Resource>[]> | undefined =
            gates.length > 0 ? pulumi.all(gates).apply(() => [] as pulumi.Resource[]) : undefined;
        const base: pulumi.CustomResourceOptions = { parent: this, dependsOn };

        // Code and models: the thin app layer ("image"), or the given image as is ("prebuilt").
        const layout = planAppLayout(v.files.entryScript, v.files.models);
        const delivery = v.delivery;
        const app =
            delivery.kind === "prebuilt"
                ? { imageRef: pulumi.output(delivery.imageRef) }
                : buildAppLayer(
                      name,
                      {
                          service: s.name,
                          environmentImage: delivery.environmentImage,
                          sourceDirectory: v.files.sourceDirectory,
                          entryScript: v.files.entryScript,
                          models: v.files.models,
                          contextDirectory: appLayerContextDirectory(process.cwd(), name),
                          registryServer: delivery.registryServer,
                          registryUsername: args.registryUsername,
                          registryPassword: args.registryPassword,
                          platform: args.platform ?? DEFAULT_PLATFORM,
                      },
                      base,
                  );

        // Auth material (R35–R37), each key its own resource.
        const keys =
            mode === "key"
                ? createKeys(
                      name,
                      {
                          primaryKey: args.primaryKey,
                          secondaryKey: args.secondaryKey,
                          primaryKeyVersion: args.primaryKeyVersion,
                          secondaryKeyVersion: args.secondaryKeyVersion,
                      },
                      base,
                  )
                : undefined;
        const tokenSigning =
            mode === "token"
                ? createSigningKey(name, args.tokenSigningKeyVersion, base)
                : undefined;
        const appInsights =
            s.enableAppInsights && args.appInsightsConnectionString !== undefined
                ? {
                      connectionString: pulumi.secret(args.appInsightsConnectionString),
                      instrumentationKey: pulumi.secret(
                          pulumi
                              .output(args.appInsightsConnectionString)
                              .apply((cs) => instrumentationKeyFromConnectionString(cs) ?? ""),
                      ),
                  }
                : undefined;

        const input: WebserviceRenderInput = {
            settings: s,
            image: app.imageRef,
            layout,
            routerNamespace: link.routerNamespace,
            preStopAction:
                (args.preStopAction as PreStopAction | undefined) ??
                preStopActionFor(link.kubernetesVersion),
            keys,
            tokenSigning,
            appInsights,
        };

        // The children are exactly the tested render plan. Secret values are pulumi.secret
        // Outputs; k8s.core.v1.Secret also marks its data and stringData outputs secret itself.
        const children = createPlannedObjects(name, renderWebserviceObjects(input), {
            parent: this,
            provider: kubeProvider,
            dependsOn,
        });
        const deployment = plannedChild<k8s.apps.v1.Deployment>(children, "deployment");

        const servicePath = `/api/v1/service/${s.name}`;
        const base_ = link.scoringBaseUrl.apply(trimSlash);
        this.scoringUri = base_.apply((b) => `${b}${servicePath}/score`);
        this.swaggerUri = base_.apply((b) => `${b}${servicePath}/swagger.json`);
        this.primaryKey = keys ? keys.primaryKey : pulumi.secret("");
        this.secondaryKey = keys ? keys.secondaryKey : pulumi.secret("");
        this.name = pulumi.output(s.name);
        this.namespace = pulumi.output(s.namespace);
        this.deploymentName = deployment.metadata.name;
        this.modelDir = pulumi.output(layout.modelDir);
        this.imageRef = app.imageRef;
        this.authMode = pulumi.output(mode);
        this.tokenAudience = pulumi.output(mode === "token" ? tokenAudience(s.name) : "");
        this.tokenIssuer = pulumi.output(mode === "token" ? TOKEN_ISSUER : "");
        this.registerOutputs({
            scoringUri: this.scoringUri,
            swaggerUri: this.swaggerUri,
            primaryKey: this.primaryKey,
            secondaryKey: this.secondaryKey,
            name: this.name,
            namespace: this.namespace,
            deploymentName: this.deploymentName,
            modelDir: this.modelDir,
            imageRef: this.imageRef,
            authMode: this.authMode,
            tokenAudience: this.tokenAudience,
            tokenIssuer: this.tokenIssuer,
        });
    }
}

/** True for a ModelImage-like object (not a string, Output or Promise of one). */
function isModelImage(v: unknown): v is ModelImageLike {
    return (
        typeof v === "object" &&
        v !== null &&
        !pulumi.Output.isInstance(v) &&
        (v as { imageRef?: unknown }).imageRef !== undefined
    );
}

/** Moves an `image` given as a reference (string or Output) to `imageRef`. */
function normalizeImage(args: AksWebserviceArgs): AksWebserviceArgs {
    if (args === null || typeof args !== "object" || args.image === undefined) return args;
    if (isModelImage(args.image)) return args;
    if (typeof args.image === "string" || pulumi.Output.isInstance(args.image)) {
        if (args.imageRef !== undefined) return args; // both given: the validator reports it
        const { image, ...rest } = args;
        return { ...rest, imageRef: image };
    }
    return args;
}
