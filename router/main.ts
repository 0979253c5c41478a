/**
 * Router process entry. `startRouter(options)` is what the CLI and tests call; `main()` reads the
 * environment (a pod, or `node dist/router/main.js`):
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `ROUTER_BACKEND` | `static` (services and replicas from `ROUTER_SERVICES_FILE`), `kubernetes` (model Deployments in the watched namespaces; several router pods share one scaler), `local` (started by the CLI) | `static` |
 * | `ROUTER_SERVICES_FILE` | JSON or YAML: `{ services: [{ settings, replicas: [{id, url}], auth? }] }` | none |
 * | `ROUTER_NAMESPACE` | kubernetes: the router's own namespace (scaler Lease, peer pods); required | none |
 * | `ROUTER_POD_NAME` | kubernetes: this pod's name (lease identity, peer id); required | none |
 * | `ROUTER_WATCH_NAMESPACES` | kubernetes: comma list of namespaces holding model services; required | none |
 * | `ROUTER_LEASE_DURATION_MS` | kubernetes: how long a silent scaler keeps the Lease | `15000` |
 * | `KUBECONFIG` | kubernetes: kubeconfig file | in-cluster service account |
 * | `ROUTER_HOST` | listen address | `0.0.0.0` |
 * | `ROUTER_HTTP_PORT` | HTTP port (`off` disables) | `8080` |
 * | `ROUTER_HTTPS_PORT` | HTTPS port (needs the two files below) | none |
 * | `ROUTER_TLS_CERT_FILE`, `ROUTER_TLS_KEY_FILE` | PEM files, reloaded on change | none |
 * | `ROUTER_METRICS_PORT` | serve `/metrics` (and the peer load endpoint) only on this port | main ports; `9090` with `kubernetes` |
 * | `ROUTER_SHUTDOWN_DELAY_MS` | after SIGTERM, keep serving (readyz 503) this long before closing | `0` |
 * | `ROUTER_DRAIN_TIMEOUT_MS` | longest wait for queued and in-flight requests on shutdown | `30000` |
 * | `ROUTER_MAX_BODY_BYTES` | request body limit | `104857600` |
 * | `ROUTER_MAX_BUFFERED_BYTES` | bodies and answers held in memory at once (503 above) | `268435456` |
 * | `ROUTER_ACCESS_LOG` | `false` turns access logs off (one JSON line per request, docs/router.md) | `true` |
 * | `ROUTER_METRICS` | `false` turns per-request metrics and `/metrics` off (the peer load endpoint stays) | `true` |
 * | `ROUTER_LOG_LEVEL` | `trace`, `debug`, `info`, `warn`, `error`, `fatal` or `silent` (`warn` keeps only failed requests' access lines) | `info` |
 * | `ROUTER_MODEL_DATA_ACCOUNT_URL` | model data collection (docs/observability.md) to this blob endpoint, `https://<account>.blob.core.windows.net`, with the pod's workload identity; needs the three segment variables below | none: no collection |
 * | `ROUTER_MODEL_DATA_CONNECTION_STRING` | instead: a storage connection string (the Azurite emulator, tests); it holds a key, so the cluster never sets it | none |
 * | `ROUTER_MODEL_DATA_DIR` | instead: write model data below this directory | none |
 * | `ROUTER_MODEL_DATA_CONTAINER` | blob container of model data | `modeldata` |
 * | `ROUTER_MODEL_DATA_SUBSCRIPTION`, `ROUTER_MODEL_DATA_RESOURCE_GROUP`, `ROUTER_MODEL_DATA_WORKSPACE` | the first segments of the model data path (v1: the workspace's) | `local` with a directory |
 * | `ROUTER_MODEL_DATA_MAX_QUEUED_BYTES` | model data held in memory at most (queued records, batches being written); more is dropped and counted | `67108864` |
 * | `ROUTER_MODEL_DATA_FLUSH_MS` | a batch is written at the latest this long after its first record | `10000` |
 * | `APPLICATIONINSIGHTS_CONNECTION_STRING` | export requests, dependencies, exceptions and traces of services with `enableAppInsights` to Application Insights (docs/app-insights.md); from a Secret, never logged | none |
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | the same export to an OTLP/HTTP collector (JSON), at `<url>/v1/traces`; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` gives the full URL | none |
 * | `ROUTER_TELEMETRY_PAYLOADS` | `true`: request and response bodies go along (first 64 KiB, in 8 KiB parts) | `false` |
 * | `ROUTER_TELEMETRY_MAX_QUEUE` | spans waiting for export per destination; more are dropped and counted | `2048` |
 */
import * as k8s from "@kubernetes/client-node";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { ROUTER_METRICS_PORT } from "../components/cluster/router-rbac";
import {
    MAX_TIMER_MS,
    NAMESPACE_PATTERN,
    authMode,
    validateWebserviceSettings,
    type WebserviceSettingsInput,
} from "../components/settings";
import { Problems } from "../components/common/validation";
import { Authenticator } from "./auth";
import { KubernetesBackend } from "./backends/kubernetes";
import { DEFAULT_LEASE_DURATION_MS } from "./backends/kubernetes/lease";
import { kubernetesFleetScaler } from "./backends/kubernetes/scaler";
import { modelDataConfigFromEnv, withModelData } from "./collect";
import { LOG_LEVEL_RULE, createLogger, isLogLevel, type Logger } from "./log";
import type { ExchangeObserver } from "./observe";
import { Router, type RouterOptions } from "./router";
import { RouterServer, type ServerLimits } from "./server";
import { telemetryFromEnv, withTelemetry } from "./telemetry";
import { isExportWorker } from "./telemetry/worker-mark";
import type {
    Backend,
    BackendListener,
    Replica,
    ServiceAuthConfig,
    ServiceDefinition,
} from "./types";

/** A service served from configuration: definition plus fixed replica URLs (no backend). */
export interface StaticService {
    readonly definition: ServiceDefinition;
    readonly replicas: readonly Replica[];
}

/** What an extension (e.g. the autoscaler loop) gets from the running router. */
export interface RouterContext {
    readonly router: Router;
    readonly backend: Backend | undefined;
    readonly registry: Router["registry"];
    readonly logger: Logger;
}

/**
 * A part that runs beside the router: it may sit between the backend and the router to see
 * service events (`wrapListener`), starts once the backend synced and stops before the drain.
 * The autoscaler plugs in as
 * `(ctx) => { const loop = new AutoscalerLoop({ routing: ctx.router, backend: ctx.backend!, registry: ctx.registry });
 *   return { wrapListener: (next) => loop.tee(next), start: () => loop.start(), stop: () => loop.stop() }; }`.
 */
export interface RouterExtension {
    wrapListener?(next: BackendListener): BackendListener;
    start?(): void | Promise<void>;
    stop?(): void | Promise<void>;
}
export type RouterExtensionFactory = (ctx: RouterContext) => RouterExtension;

export interface StartRouterOptions {
    /** @default "127.0.0.1" */
    readonly host?: string;
    /** 0 picks a free port; null disables plain HTTP. @default 8080 */
    readonly httpPort?: number | null;
    /** Needs tlsCertFile and tlsKeyFile. @default - no HTTPS */
    readonly httpsPort?: number;
    readonly tlsCertFile?: string;
    readonly tlsKeyFile?: string;
    /** Separate port for /metrics and the peer load endpoint. @default - /metrics on the main ports */
    readonly metricsPort?: number;
    /** This router's id in its answers to peers. @default os.hostname() */
    readonly routerId?: string;
    /** Where replicas come from (local processes, Kubernetes). @default - none */
    readonly backend?: Backend;
    /** Services with fixed replicas, registered before the backend starts. @default [] */
    readonly services?: readonly StaticService[];
    readonly extensions?: readonly RouterExtensionFactory[];
    /** Router tuning; the authenticator defaults to `new Authenticator()` from router/auth. */
    readonly router?: Omit<RouterOptions, "logger" | "ready">;
    /**
     * Told about every finished request (router/observe.ts), after those in `router.observers`;
     * closed when the router stops, after the drain. @default []
     */
    readonly observers?: readonly ExchangeObserver[];
    readonly limits?: Partial<ServerLimits>;
    /** @default createLogger() */
    readonly logger?: Logger;
    /** Graceful stop: longest wait for queued and in-flight requests. @default 30000 */
    readonly drainTimeoutMs?: number;
    /**
     * Graceful stop: time between readiness turning false and the listener closing, so load
     * balancers stop sending first (Kubernetes: ≥ endpoint propagation, ~5 s). @default 0
     */
    readonly shutdownDelayMs?: number;
}

export interface RunningRouter {
    readonly router: Router;
    readonly server: RouterServer;
    readonly backend: Backend | undefined;
    readonly logger: Logger;
    readonly httpUrl: string | undefined;
    readonly httpsUrl: string | undefined;
    /** Graceful stop; idempotent. */
    stop(): Promise<void>;
}

/** Starts the HTTP(S) router, registers static services, starts the backend and extensions. */
export async function startRouter(options: StartRouterOptions = {}): Promise<RunningRouter> {
    const logger = options.logger ?? createLogger();
    const routerOpts = options.router ?? {};
    const router = new Router({
        ...routerOpts,
        authenticator:
            routerOpts.authenticator ??
            new Authenticator({ logger: logger.child({ part: "auth" }) }),
        observers: [...(routerOpts.observers ?? []), ...(options.observers ?? [])],
        logger,
        ready: false,
    });
    const tls =
        options.tlsCertFile && options.tlsKeyFile
            ? { certFile: options.tlsCertFile, keyFile: options.tlsKeyFile }
            : undefined;
    const server = new RouterServer({
        router,
        host: options.host,
        httpPort: options.httpPort,
        httpsPort: options.httpsPort,
        tls,
        metricsPort: options.metricsPort,
        routerId: options.routerId,
        limits: options.limits,
        logger,
    });
    await server.start();
    const backend = options.backend;
    const ctx: RouterContext = { router, backend, registry: router.registry, logger };
    const extensions = (options.extensions ?? []).map((f) => f(ctx));
    try {
        for (const s of options.services ?? []) {
            router.onService(s.definition);
            router.onReplicas(s.definition.name, s.replicas);
        }
        if (backend) {
            let listener: BackendListener = router;
            for (const ext of extensions)
                if (ext.wrapListener) listener = ext.wrapListener(listener);
            await backend.start(listener);
        }
        for (const ext of extensions) await ext.start?.();
    } catch (err) {
        await server.close(0);
        await backend?.stop().catch(() => undefined);
        throw err;
    }
    router.setReady(true);

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
        stopping ??= (async () => {
            router.setReady(false);
            const delay = options.shutdownDelayMs ?? 0;
            if (delay > 0) await new Promise((r) => setTimeout(r, delay));
            for (const ext of [...extensions].reverse()) {
                try {
                    await ext.stop?.();
                } catch (err) {
                    logger.error({ err: (err as Error).message }, "extension failed to stop");
                }
            }
            // Drain first, then stop replicas: in-flight requests finish on live replicas.
            await server.close(options.drainTimeoutMs ?? 30_000);
            await backend?.stop();
        })();
        return stopping;
    };
    return {
        router,
        server,
        backend,
        logger,
        httpUrl: server.httpUrl,
        httpsUrl: server.httpsUrl,
        stop,
    };
}

/** Shape of ROUTER_SERVICES_FILE entries. */
interface StaticServiceFileEntry {
    settings: WebserviceSettingsInput;
    replicas?: Array<{ id?: string; url: string }>;
    /** Token-mode material (signing keys, issuer, OIDC trusts); key mode reads the settings keys. */
    auth?: Partial<ServiceAuthConfig>;
}

/** Validates a services file's content (all problems at once) into static services. */
export function parseStaticServices(doc: unknown): StaticService[] {
    const p = new Problems();
    const list = (doc as { services?: unknown } | null)?.services;
    if (!Array.isArray(list)) {
        p.add("services", list, "must be a list of { settings, replicas }");
        p.throwIfAny("router services file");
    }
    const out: StaticService[] = [];
    (list as StaticServiceFileEntry[]).forEach((entry, i) => {
        try {
            const settings = validateWebserviceSettings(entry.settings);
            const mode = authMode(settings);
            const auth: ServiceAuthConfig = {
                ...entry.auth,
                mode,
                primaryKey: settings.primaryKey,
                secondaryKey: settings.secondaryKey,
            };
            if (mode === "key" && !settings.primaryKey && !settings.secondaryKey) {
                p.add(
                    `services[${i}].settings.primaryKey`,
                    undefined,
                    "is required for key auth in a static services file",
                );
            }
            const replicas = (entry.replicas ?? []).map((r, j) => {
                try {
                    new URL(r.url);
                } catch {
                    p.add(`services[${i}].replicas[${j}].url`, r.url, "must be an http(s) URL");
                }
                return { id: r.id ?? `r${j}`, url: r.url.replace(/\/+$/, "") };
            });
            out.push({ definition: { name: settings.name, settings, auth }, replicas });
        } catch (err) {
            const problems = (
                err as { problems?: Array<{ field: string; value: unknown; rule: string }> }
            ).problems;
            if (!problems) throw err;
            for (const q of problems) p.add(`services[${i}].settings.${q.field}`, q.value, q.rule);
        }
    });
    p.throwIfAny("router services file");
    return out;
}

function intEnv(
    env: NodeJS.ProcessEnv,
    name: string,
    p: Problems,
    max = MAX_TIMER_MS,
): number | undefined {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    const n = Number(raw);
    // Durations become timers: 2^31 ms and more would fire after 1 ms (issue 15).
    if (!Number.isInteger(n) || n < 0 || n > max) {
        p.add(name, raw, `must be a whole number from 0 to ${max}`);
        return undefined;
    }
    return n;
}

/** `true` or `false`; unset or empty is `fallback`. */
function booleanEnv(env: NodeJS.ProcessEnv, name: string, p: Problems, fallback: boolean): boolean {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    if (raw === "true" || raw === "false") return raw === "true";
    p.add(name, raw, "must be true or false");
    return fallback;
}

/** DNS-1123 subdomain: what Kubernetes accepts as a pod name. */
const POD_NAME_PATTERN =
    /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Longest accepted ROUTER_LEASE_DURATION_MS (1 h); below 1 s the renewals would flood the API. */
const LEASE_DURATION_RANGE_MS = [1000, 3_600_000] as const;

/** The `kubernetes` backend's part of the environment, validated. */
export interface KubernetesEnv {
    readonly namespace: string;
    readonly podName: string;
    readonly watchNamespaces: readonly string[];
    readonly leaseDurationMs: number;
    /** Unset: `KubeConfig.loadFromDefault()` (in-cluster service account in a pod). */
    readonly kubeconfig: string | undefined;
}

/** Reads and checks the kubernetes variables, adding every problem to `p`. */
export function kubernetesEnv(env: NodeJS.ProcessEnv, p: Problems): KubernetesEnv {
    const namespace = env.ROUTER_NAMESPACE ?? "";
    if (!NAMESPACE_PATTERN.test(namespace)) {
        p.add(
            "ROUTER_NAMESPACE",
            env.ROUTER_NAMESPACE,
            "is required with ROUTER_BACKEND=kubernetes: the router's namespace, a DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)",
        );
    }
    const podName = env.ROUTER_POD_NAME ?? "";
    if (!POD_NAME_PATTERN.test(podName)) {
        p.add(
            "ROUTER_POD_NAME",
            env.ROUTER_POD_NAME,
            "is required with ROUTER_BACKEND=kubernetes: this pod's name (set it from the downward API, metadata.name)",
        );
    }
    const raw = env.ROUTER_WATCH_NAMESPACES;
    const watchNamespaces = [
        ...new Set(
            (raw ?? "")
                .split(",")
                .map((n) => n.trim())
                .filter((n) => n !== ""),
        ),
    ];
    const bad = watchNamespaces.filter((n) => !NAMESPACE_PATTERN.test(n));
    if (watchNamespaces.length === 0 || bad.length > 0) {
        p.add(
            "ROUTER_WATCH_NAMESPACES",
            raw,
            `must be a comma-separated, non-empty list of namespaces (DNS-1123 labels)${bad.length > 0 ? `; not valid: ${bad.join(", ")}` : ""}`,
        );
    }
    const [minLease, maxLease] = LEASE_DURATION_RANGE_MS;
    const leaseRaw = env.ROUTER_LEASE_DURATION_MS;
    let leaseDurationMs = DEFAULT_LEASE_DURATION_MS;
    if (leaseRaw !== undefined && leaseRaw !== "") {
        const n = Number(leaseRaw);
        if (!Number.isInteger(n) || n < minLease || n > maxLease) {
            p.add(
                "ROUTER_LEASE_DURATION_MS",
                leaseRaw,
                `must be a whole number of milliseconds from ${minLease} to ${maxLease}`,
            );
        } else {
            leaseDurationMs = n;
        }
    }
    return {
        namespace,
        podName,
        watchNamespaces,
        leaseDurationMs,
        kubeconfig: env.KUBECONFIG || undefined,
    };
}

/** Loads the API credentials: KUBECONFIG when set, else the defaults (in a pod: in-cluster). */
function loadKubeConfig(k: KubernetesEnv, p: Problems): k8s.KubeConfig | undefined {
    const kc = new k8s.KubeConfig();
    try {
        if (k.kubeconfig) kc.loadFromFile(k.kubeconfig);
        else kc.loadFromDefault();
    } catch (err) {
        p.add(
            "KUBECONFIG",
            k.kubeconfig,
            `cannot be loaded (${(err as Error).message}); unset it in a pod to use the service account`,
        );
        return undefined;
    }
    if (!kc.getCurrentCluster()) {
        p.add("KUBECONFIG", k.kubeconfig, "has no current context with a cluster");
        return undefined;
    }
    return kc;
}

/**
 * The kubernetes backend and its fleet scaler. The backend puts drained victims back in rotation
 * through the Router, which only exists once `startRouter` built it: a first extension hands it
 * over before the backend starts.
 */
function kubernetesParts(
    k: KubernetesEnv,
    kc: k8s.KubeConfig,
    metricsPort: number,
): Pick<StartRouterOptions, "backend" | "extensions" | "logger" | "routerId"> {
    const logger = createLogger();
    let router: Router | undefined;
    const backend = new KubernetesBackend({
        kubeConfig: kc,
        namespaces: k.watchNamespaces,
        logger: logger.child({ part: "kubernetes" }),
        instance: k.podName,
        routing: { undrain: (service, replicaId) => router?.undrain(service, replicaId) ?? false },
    });
    const bindRouter: RouterExtensionFactory = (ctx) => {
        router = ctx.router;
        return {};
    };
    return {
        backend,
        logger,
        routerId: k.podName,
        extensions: [
            bindRouter,
            kubernetesFleetScaler({
                kubeConfig: kc,
                namespace: k.namespace,
                podName: k.podName,
                metricsPort,
                leaseDurationMs: k.leaseDurationMs,
                logger,
            }),
        ],
    };
}

/** Reads the `ROUTER_*` environment (see the module comment) into start options. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): StartRouterOptions {
    const p = new Problems();
    const backend = env.ROUTER_BACKEND ?? "static";
    if (backend === "local") {
        throw new Error(
            "ROUTER_BACKEND=local is started by the CLI (amlaks serve), which builds the local backend from a settings file; use ROUTER_BACKEND=static here",
        );
    }
    if (backend !== "static" && backend !== "kubernetes")
        p.add("ROUTER_BACKEND", backend, "must be static, local or kubernetes");
    const kube = backend === "kubernetes" ? kubernetesEnv(env, p) : undefined;
    const httpRaw = env.ROUTER_HTTP_PORT;
    const httpPort = httpRaw === "off" ? null : (intEnv(env, "ROUTER_HTTP_PORT", p) ?? 8080);
    const httpsPort = intEnv(env, "ROUTER_HTTPS_PORT", p);
    const tlsCertFile = env.ROUTER_TLS_CERT_FILE || undefined;
    const tlsKeyFile = env.ROUTER_TLS_KEY_FILE || undefined;
    if (httpsPort !== undefined && (!tlsCertFile || !tlsKeyFile)) {
        p.add("ROUTER_HTTPS_PORT", httpsPort, "needs ROUTER_TLS_CERT_FILE and ROUTER_TLS_KEY_FILE");
    }
    if (httpPort === null && httpsPort === undefined) {
        p.add(
            "ROUTER_HTTP_PORT",
            httpRaw,
            "is off and no ROUTER_HTTPS_PORT is set: nothing to listen on",
        );
    }
    let metricsPort = intEnv(env, "ROUTER_METRICS_PORT", p);
    if (kube) {
        // Peers reach each other on this port, so it must be fixed and the same in every pod.
        if (metricsPort === 0 || (metricsPort ?? 0) > 65535) {
            p.add(
                "ROUTER_METRICS_PORT",
                env.ROUTER_METRICS_PORT,
                "must be a port from 1 to 65535 with ROUTER_BACKEND=kubernetes (peer routers connect to it)",
            );
        }
        metricsPort ??= ROUTER_METRICS_PORT;
    }
    const shutdownDelayMs = intEnv(env, "ROUTER_SHUTDOWN_DELAY_MS", p);
    const drainTimeoutMs = intEnv(env, "ROUTER_DRAIN_TIMEOUT_MS", p);
    const maxBodyBytes = intEnv(env, "ROUTER_MAX_BODY_BYTES", p, Number.MAX_SAFE_INTEGER);
    const maxBufferedBytes = intEnv(env, "ROUTER_MAX_BUFFERED_BYTES", p, Number.MAX_SAFE_INTEGER);
    const accessLog =
        env.ROUTER_ACCESS_LOG === undefined ? true : env.ROUTER_ACCESS_LOG !== "false";
    const metrics = booleanEnv(env, "ROUTER_METRICS", p, true);
    if (env.ROUTER_LOG_LEVEL && !isLogLevel(env.ROUTER_LOG_LEVEL))
        p.add("ROUTER_LOG_LEVEL", env.ROUTER_LOG_LEVEL, LOG_LEVEL_RULE);
    let services: StaticService[] = [];
    if (env.ROUTER_SERVICES_FILE) {
        let doc: unknown;
        try {
            doc = parseYaml(readFileSync(env.ROUTER_SERVICES_FILE, "utf8"));
        } catch (err) {
            p.add(
                "ROUTER_SERVICES_FILE",
                env.ROUTER_SERVICES_FILE,
                `cannot be read as JSON/YAML: ${(err as Error).message}`,
            );
        }
        p.throwIfAny("router environment");
        services = parseStaticServices(doc);
    }
    const modelData = modelDataConfigFromEnv(env, p);
    const telemetry = telemetryFromEnv(env, p);
    // Only a valid environment is worth reading credentials for.
    const kc = kube && p.count === 0 ? loadKubeConfig(kube, p) : undefined;
    p.throwIfAny("router environment");
    return {
        host: env.ROUTER_HOST || "0.0.0.0",
        httpPort,
        httpsPort,
        tlsCertFile,
        tlsKeyFile,
        metricsPort,
        services,
        shutdownDelayMs,
        drainTimeoutMs,
        router: {
            maxBodyBytes,
            ...(maxBufferedBytes === undefined ? {} : { maxBufferedBytes }),
            accessLog,
            metrics,
        },
        ...withTelemetry(
            withModelData(
                kube && kc ? kubernetesParts(kube, kc, metricsPort ?? ROUTER_METRICS_PORT) : {},
                modelData,
            ),
            telemetry,
        ),
    };
}

/** Process entry: env → router; SIGTERM/SIGINT stop it gracefully. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<RunningRouter> {
    const running = await startRouter(optionsFromEnv(env));
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
        if (signalled) return;
        signalled = true;
        running.logger.info({ signal }, "stopping router");
        running.stop().then(
            () => process.exit(0),
            (err: Error) => {
                running.logger.error({ err: err.message }, "router stop failed");
                process.exit(1);
            },
        );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    return running;
}

if (require.main === module) {
    // In the router image this one bundled file is also the telemetry export worker's script.
    if (isExportWorker()) {
        void import("./telemetry/worker").then((w) => w.runExportWorker());
    } else {
        main().catch((err: Error) => {
            process.stderr.write(`router failed to start: ${err.message}\n`);
            process.exit(1);
        });
    }
}
