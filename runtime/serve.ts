/**
 * `amlaks serve`: the local runtime (docs/design.md §6). From a validated {@link ServeConfig} it
 * lays the models out under a temporary AZUREML_MODEL_DIR, resolves and stores the keys, starts the
 * router on the given address with the local backend (replicas = model-server processes) and the
 * autoscaler loop, reports progress, and shuts everything down cleanly (drain, then stop
 * replicas, then remove the model layout). No part of it binds anything but `config.host`
 * (router) and 127.0.0.1 (replicas).
 */
import { mkdirSync } from "node:fs";
import { join, relative } from "node:path";
import pino from "pino";
import { Problems, REDACTED } from "../components/common/validation";
import { keyPairProblems } from "../components/settings";
import { AutoscalerLoop, type AutoscalerDecisionEvent } from "../router/autoscaler/loop";
import { LocalBackend, type ReplicaEvent } from "../router/backends/local";
import {
    DirectorySink,
    MODEL_DATA_CONTAINER,
    ModelDataCollector,
    modelDataParts,
} from "../router/collect";
import { modelOf } from "../router/collect/layout";
import { type RouterExtensionFactory, type RunningRouter, startRouter } from "../router/main";
import { REDACTED_PATHS, createLogger } from "../router/log";
import { TelemetryObserver, telemetryParts } from "../router/telemetry";
import type { ServiceDefinition } from "../router/types";
import type { ServeConfig } from "./args";
import { type ConsoleSink, consoleDestination, jsonConsole, jsonDestination } from "./console";
import {
    keysFileProblem,
    readKeysFile,
    resolveServiceAuth,
    watchKeysFile,
    writeKeysFile,
} from "./keys";
import { materializeModelLayout, type MaterializedLayout } from "./models";
import { harnessPath } from "./paths";

/** Replicas always listen on loopback: only the router is reachable from outside. */
const REPLICA_HOST = "127.0.0.1";

export interface ServeIo extends ConsoleSink {
    /** Print keys themselves (a terminal) or only the keys file path (a pipe, a log file). */
    readonly showKeys: boolean;
}

export interface RunningService {
    readonly name: string;
    readonly scoringUri: string;
    readonly swaggerUri: string;
    readonly metricsUri: string;
    readonly keysFile: string;
    readonly router: RunningRouter;
    readonly backend: LocalBackend;
    /** Drains requests, stops replicas, removes the model layout. Idempotent. */
    stop(): Promise<void>;
}

/** The replica argv, environment and working directory for the chosen model server. */
export function replicaLaunch(
    config: ServeConfig,
    modelDir: string,
): { command: string[]; env: Record<string, string> } {
    const s = config.settings;
    const entryRelative = relative(config.sourceDir, config.entryScript);
    // The AML contract's environment (aml-v1-spec §5); SERVER_PORT/SERVER_HOST come from the backend.
    const env: Record<string, string> = {
        AML_APP_ROOT: config.sourceDir,
        AZUREML_SOURCE_DIRECTORY: config.sourceDir,
        AZUREML_ENTRY_SCRIPT: entryRelative,
        AZUREML_MODEL_DIR: modelDir,
        SERVICE_NAME: s.name,
        SERVICE_VERSION: "1",
        WORKSPACE_NAME: "local",
        SCORING_TIMEOUT_MS: String(s.scoringTimeoutMs),
        // One run() per concurrent request slot the router hands this replica.
        WORKER_COUNT: String(s.replicaMaxConcurrentRequests),
        AML_APP_INSIGHTS_ENABLED: "false",
        AML_MODEL_DC_STORAGE_ENABLED: String(s.collectModelData),
        PYTHONUNBUFFERED: "1",
        // Keep the user's source folder free of __pycache__.
        PYTHONDONTWRITEBYTECODE: "1",
    };
    switch (config.server.kind) {
        case "harness":
            return { command: [config.server.python, harnessPath()], env };
        case "azmlinfsrv":
            return {
                command: [
                    config.server.executable,
                    "--entry_script",
                    config.entryScript,
                    "--model_dir",
                    modelDir,
                ],
                env,
            };
        case "command":
            return { command: [...config.server.argv], env };
    }
}

/** One line per scaling decision: `scale diabetes 1 → 3 (utilization 240% > 70%)`. */
export function formatDecision(e: AutoscalerDecisionEvent, target: number): string | undefined {
    const d = e.decision;
    if (d.direction === "none") return undefined;
    const util = `${Math.round(d.utilization * 100)}%`;
    const why: Record<string, string> = {
        "above-target": `utilization ${util} > ${target}%`,
        "below-target": `utilization ${util} < ${target}%`,
        "below-min": "below autoscaleMinReplicas",
        "above-max": "above autoscaleMaxReplicas",
        "fixed-replicas": "numReplicas",
    };
    return `scale ${e.service} ${e.current} → ${d.desired} (${why[d.reason] ?? d.reason})`;
}

/** A path relative to the working directory when it is below it, else absolute. */
function shownPath(path: string): string {
    const rel = relative(process.cwd(), path);
    return rel && !rel.startsWith("..") ? rel : path;
}

function seconds(ms: number): string {
    return `${(ms / 1000).toFixed(1)} s`;
}

/** Starts the service; resolves once the first replica is ready (or rejects, all stopped). */
export async function startService(
    config: ServeConfig,
    terminal: ServeIo,
): Promise<RunningService> {
    const json = config.logFormat === "json";
    // JSON lines are for log collectors: keys are never printed there, only the file's path.
    const io: ServeIo = json ? { ...jsonConsole(terminal), showKeys: false } : terminal;
    const settings = config.settings;
    const name = settings.name;
    const t0 = Date.now();

    // Keys first: a fixed name for the file, reused across restarts.
    const previous = readKeysFile(config.keysFile, name);
    const resolved = await resolveServiceAuth(settings, previous);
    if (resolved.auth.mode === "key") {
        // Keys reused from the file obey the settings' rules too (issue 15); never echoed.
        const p = new Problems();
        for (const k of keyPairProblems(resolved.auth.primaryKey, resolved.auth.secondaryKey)) {
            p.add(`${k.field} (from ${config.keysFile} or the settings)`, REDACTED, k.rule);
        }
        p.throwIfAny("keys for `amlaks serve` (fix or delete the keys file to generate new ones)");
    }
    // Written now, before anything listens: a keys file that cannot be written is a bad
    // argument, not a failure of a running service (issue 15). The URIs are added once known.
    const keysProblem = keysFileProblem(config.keysFile);
    if (keysProblem) {
        const p = new Problems();
        p.add("--keys-file", config.keysFile, keysProblem);
        p.throwIfAny("arguments for `amlaks serve`");
    }
    writeKeysFile(config.keysFile, resolved.file);

    let layout: MaterializedLayout | undefined = materializeModelLayout(config.models);
    const removeLayout = (): void => {
        layout?.remove();
        layout = undefined;
    };
    process.once("exit", removeLayout);

    const definition: ServiceDefinition = {
        name,
        settings: {
            ...settings,
            primaryKey: resolved.auth.primaryKey,
            secondaryKey: resolved.auth.secondaryKey,
            // The flag is the local switch: it collects whatever the settings say.
            collectModelData: settings.collectModelData || config.modelData !== undefined,
            // Likewise --otlp-endpoint exports whatever the settings say.
            enableAppInsights: settings.enableAppInsights || config.otlpEndpoint !== undefined,
        },
        auth: resolved.auth,
        models: layout.plan.models.map((m) => ({ name: m.name, version: String(m.version) })),
    };
    const logger = json
        ? // No pid/hostname: one process on this machine, and replica records carry their own pid.
          createLogger({ base: null, destination: jsonDestination(terminal, config.accessLog) })
        : pino(
              {
                  level: "info",
                  redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
                  base: undefined,
                  timestamp: false,
              },
              consoleDestination(io, config.accessLog),
          );

    const launch = replicaLaunch(config, layout.modelDir);
    const desiredNow = (): number => backend.currentReplicas(name);
    const readyNow = (): number => backend.replicas(name).filter((r) => r.state === "ready").length;
    const started = new Map<string, number>();
    const onReplicaEvent = (e: ReplicaEvent): void => {
        if (e.type === "starting") {
            started.set(e.replica, Date.now());
            io.out(`replica ${e.replica} starting (pid ${e.pid}, port ${e.port})…`);
        } else if (e.type === "ready") {
            const since = started.get(e.replica);
            io.out(
                `replica ${e.replica} ready${since ? ` in ${seconds(Date.now() - since)}` : ""} ` +
                    `(${readyNow()}/${desiredNow()} ready)`,
            );
        } else if (e.type === "stopped") {
            io.out(`replica ${e.replica} stopped (${readyNow()}/${desiredNow()} ready)`);
        } else if (e.type === "failed") {
            io.err(`replica ${e.replica} failed: ${e.error?.reason ?? "unknown reason"}`);
        }
    };
    const backend = new LocalBackend({
        services: [
            {
                definition,
                command: launch.command,
                env: launch.env,
                cwd: config.sourceDir,
                host: REPLICA_HOST,
            },
        ],
        logger,
        onReplicaEvent,
    });
    const autoscaler: RouterExtensionFactory = (ctx) => {
        const loop = new AutoscalerLoop({
            routing: ctx.router,
            backend,
            registry: ctx.registry,
            logger: ctx.logger,
            scaleDownDelayMs: config.scaleDownDelayMs,
            onDecision: (e) => {
                const line = formatDecision(e, settings.autoscaleTargetUtilization);
                if (line) io.out(line);
            },
        });
        return {
            wrapListener: (next) => loop.tee(next),
            start: () => loop.start(),
            stop: () => loop.stop(),
        };
    };

    const replicasAtStart = settings.autoscaleEnabled
        ? settings.autoscaleMinReplicas
        : (settings.numReplicas ?? 1);
    io.out(
        `amlaks: serving "${name}" from ${shownPath(config.entryScript)} ` +
            `(${config.models.length} model${config.models.length === 1 ? "" : "s"}, ` +
            `${config.server.kind === "command" ? "custom replica command" : config.server.kind}, ` +
            `${settings.autoscaleEnabled ? `autoscale ${settings.autoscaleMinReplicas}-${settings.autoscaleMaxReplicas} at ${settings.autoscaleTargetUtilization}%` : `${replicasAtStart} replica${replicasAtStart === 1 ? "" : "s"}`})`,
    );

    const collector =
        config.modelData && modelDataCollector(config.modelData, logger, removeLayout);
    const modelData = collector ? modelDataParts(collector) : undefined;
    const telemetry = config.otlpEndpoint ? otlpTelemetry(config.otlpEndpoint, logger) : undefined;

    let router: RunningRouter;
    try {
        router = await startRouter({
            host: config.host,
            httpPort: config.tls ? null : config.port,
            httpsPort: config.tls ? config.port : undefined,
            tlsCertFile: config.tls?.certFile,
            tlsKeyFile: config.tls?.keyFile,
            backend,
            extensions: [
                autoscaler,
                ...(modelData?.extensions ?? []),
                ...(telemetry?.extensions ?? []),
            ],
            observers: [...(modelData?.observers ?? []), ...(telemetry?.observers ?? [])],
            logger,
            // Without --access-log the console shows only failed requests: build only their lines.
            router: { accessLog: config.accessLog ? true : "failures" },
        });
    } catch (err) {
        await backend.stop().catch(() => undefined);
        removeLayout();
        throw err;
    }

    // Key rotation: the keys file is re-read when it changes (keys set in the settings win).
    const keysWatch =
        resolved.auth.mode === "key"
            ? watchKeysFile({
                  path: config.keysFile,
                  service: name,
                  logger,
                  apply: (keys) => {
                      const primaryKey = settings.primaryKey ?? keys.primaryKey;
                      const secondaryKey = settings.secondaryKey ?? keys.secondaryKey;
                      router.router.onService({
                          ...definition,
                          settings: { ...definition.settings, primaryKey, secondaryKey },
                          auth: { mode: "key", primaryKey, secondaryKey },
                      });
                  },
              })
            : undefined;

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
        stopping ??= (async () => {
            keysWatch?.close();
            try {
                await router.stop();
            } finally {
                removeLayout();
                process.removeListener("exit", removeLayout);
            }
        })();
        return stopping;
    };

    const base = (router.httpUrl ?? router.httpsUrl ?? "").replace(/\/+$/, "");
    const scoringUri = `${base}/api/v1/service/${name}/score`;
    const swaggerUri = `${base}/api/v1/service/${name}/swagger.json`;
    const metricsUri = `${base}/metrics`;
    try {
        writeKeysFile(config.keysFile, { ...resolved.file, scoringUri, swaggerUri });
        await backend.firstReady(name);
    } catch (err) {
        await stop();
        throw err;
    }

    const keysShown = shownPath(config.keysFile);
    io.out(`amlaks: "${name}" is ready in ${seconds(Date.now() - t0)}`);
    io.out(`  scoring URI:  ${scoringUri}`);
    io.out(`  swagger URI:  ${swaggerUri}`);
    io.out(`  metrics:      ${metricsUri}`);
    if (config.modelData) {
        const { dir, scope } = config.modelData;
        const model = modelOf(definition);
        const folder = [
            scope.subscription,
            scope.resourceGroup,
            scope.workspace,
            name,
            model.name,
            model.version,
        ];
        io.out(
            `  model data:   ${shownPath(join(dir, MODEL_DATA_CONTAINER, ...folder))}/{inputs,predictions}/<yyyy>/<mm>/<dd>/ ` +
                `(rate ${settings.modelDataCollectionSampleRate})`,
        );
    } else if (settings.collectModelData) {
        io.out(
            "  model data:   collectModelData is on; add --collect-model-data <dir> to keep inputs and predictions",
        );
    }
    if (config.otlpEndpoint) {
        io.out(`  telemetry:    requests exported to ${config.otlpEndpoint} (OTLP/HTTP)`);
    } else if (settings.enableAppInsights) {
        io.out(
            "  telemetry:    enableAppInsights is on; add --otlp-endpoint <url> to export requests to an OTLP collector",
        );
    }
    if (resolved.auth.mode === "key") {
        const note = resolved.generated.length > 0 ? "generated" : "reused";
        if (io.showKeys) {
            io.out(`  primary key:   ${resolved.auth.primaryKey}`);
            io.out(`  secondary key: ${resolved.auth.secondaryKey}`);
            io.out(`  keys (${note}) are also in ${keysShown} (mode 0600)`);
            if (config.sample)
                io.out(
                    `  try: curl -H "Authorization: Bearer ${resolved.auth.primaryKey}" ` +
                        `-H "Content-Type: application/json" -d '{"data": [[0.038, 0.051, 0.062, 0.022, -0.044, -0.035, -0.043, -0.003, 0.020, -0.018]]}' ${scoringUri}`,
                );
        } else {
            io.out(`  keys (${note}): ${keysShown} (mode 0600; primaryKey, secondaryKey)`);
        }
    } else if (resolved.auth.mode === "token") {
        io.out(`  token auth: signing key in ${keysShown} (mode 0600)`);
        io.out(`  get a token: amlaks token --keys-file ${keysShown}`);
    } else {
        io.out("  auth: off (authEnabled: false)");
    }
    io.out("  Ctrl-C stops the service (requests in flight finish first).");

    return {
        name,
        scoringUri,
        swaggerUri,
        metricsUri,
        keysFile: config.keysFile,
        router,
        backend,
        stop,
    };
}

/**
 * The local collector: a directory sink, batches written within a second (local traffic is light
 * and a user looks at the files right away). The folder is made now, so a directory that cannot
 * be written is a bad argument rather than a silent loss.
 */
function modelDataCollector(
    modelData: NonNullable<ServeConfig["modelData"]>,
    logger: pino.Logger,
    onError: () => void,
): ModelDataCollector {
    try {
        mkdirSync(join(modelData.dir, MODEL_DATA_CONTAINER), { recursive: true });
    } catch (err) {
        onError();
        const p = new Problems();
        p.add(
            "--collect-model-data",
            modelData.dir,
            `cannot be created: ${(err as Error).message}`,
        );
        p.throwIfAny("arguments for `amlaks serve`");
    }
    return new ModelDataCollector({
        sink: new DirectorySink(modelData.dir),
        scope: modelData.scope,
        logger: logger.child({ part: "model-data" }),
        flushIntervalMs: 1000,
    });
}

/**
 * `--otlp-endpoint`: the Application Insights export of the cluster, to an OTLP/HTTP collector;
 * batches leave within a second (a user looks at the collector right away). No payloads.
 */
function otlpTelemetry(url: string, logger: pino.Logger): ReturnType<typeof telemetryParts> {
    const destinations = [{ kind: "otlp", url } as const];
    const observer = new TelemetryObserver({
        destinations,
        logger: logger.child({ part: "telemetry" }),
        scheduledDelayMs: 1000,
    });
    return telemetryParts(observer, destinations);
}
