/**
 * Model data collection, assembled: the sink for a configured store, the collector, and the
 * parts `startRouter` takes (the collector as an observer, plus an extension that puts its
 * metrics in the router's registry). Used by router/main.ts (environment) and `amlaks serve`.
 */
import {
    DefaultAzureCredential,
    WorkloadIdentityCredential,
    type TokenCredential,
} from "@azure/identity";
import { createLogger, type Logger } from "../log";
import type { RouterExtensionFactory, StartRouterOptions } from "../main";
import { BlobSink } from "./blob-sink";
import { ModelDataCollector, type ModelDataCollectorOptions } from "./collector";
import type { ModelDataConfig, ModelDataStore } from "./config";
import { DirectorySink } from "./directory-sink";
import type { ModelDataSink } from "./sink";

export { ModelDataCollector, type ModelDataCollectorOptions } from "./collector";
export { modelDataConfigFromEnv, LOCAL_SCOPE, type ModelDataConfig } from "./config";
export { DirectorySink } from "./directory-sink";
export { BlobSink } from "./blob-sink";
export { MODEL_DATA_CONTAINER, type ModelDataScope } from "./layout";

/**
 * The pod's workload identity: AKS's webhook sets AZURE_CLIENT_ID, AZURE_TENANT_ID and
 * AZURE_FEDERATED_TOKEN_FILE in pods labelled `azure.workload.identity/use: "true"`. Elsewhere
 * (a router run by hand) the usual developer credentials.
 */
export function routerCredential(env: NodeJS.ProcessEnv = process.env): TokenCredential {
    return env.AZURE_FEDERATED_TOKEN_FILE
        ? new WorkloadIdentityCredential()
        : new DefaultAzureCredential();
}

export function createModelDataSink(
    store: ModelDataStore,
    credential: () => TokenCredential = routerCredential,
): ModelDataSink {
    switch (store.kind) {
        case "directory":
            return new DirectorySink(store.dir);
        case "blob":
            return new BlobSink({
                accountUrl: store.accountUrl,
                credential: credential(),
                container: store.container,
            });
        case "connection-string":
            return new BlobSink({
                connectionString: store.connectionString,
                container: store.container,
            });
    }
}

export function createModelDataCollector(
    config: ModelDataConfig,
    logger: Logger,
    tuning: Partial<ModelDataCollectorOptions> = {},
): ModelDataCollector {
    return new ModelDataCollector({
        sink: createModelDataSink(config.store),
        scope: config.scope,
        logger,
        ...(config.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: config.maxQueuedBytes }),
        ...(config.flushIntervalMs === undefined
            ? {}
            : { flushIntervalMs: config.flushIntervalMs }),
        ...(config.writerId === undefined ? {} : { writerId: config.writerId }),
        ...tuning,
    });
}

/**
 * What `startRouter` needs for collection: the collector as an observer (the router closes it
 * after the drain, flushing what is queued) and an extension that registers its metrics.
 */
export function modelDataParts(
    collector: ModelDataCollector,
): Required<Pick<StartRouterOptions, "observers" | "extensions">> {
    const register: RouterExtensionFactory = (ctx) => {
        collector.metrics.registerIn(ctx.registry);
        return {
            start: () =>
                ctx.logger.info(
                    { store: collector.description },
                    "model data collection on for services with collectModelData",
                ),
        };
    };
    return { observers: [collector], extensions: [register] };
}

/** Options parts `withModelData` reads and extends. */
type Parts = Pick<StartRouterOptions, "logger" | "observers" | "extensions">;

/**
 * `parts` plus collection to the configured store (router/main.ts: from the environment); the
 * same parts when none is configured. The collector logs through the router's logger.
 */
export function withModelData<T extends Parts>(parts: T, config: ModelDataConfig | undefined): T {
    if (!config) return parts;
    const logger = parts.logger ?? createLogger();
    const data = modelDataParts(
        createModelDataCollector(config, logger.child({ part: "model-data" })),
    );
    return {
        ...parts,
        logger,
        observers: [...(parts.observers ?? []), ...data.observers],
        extensions: [...(parts.extensions ?? []), ...data.extensions],
    };
}
