/**
 * Application Insights and OTLP export of the router's requests (docs/app-insights.md).
 */
import { createLogger } from "../log";
import type { RouterExtensionFactory, StartRouterOptions } from "../main";
import type { TelemetryConfig, TelemetryDestination } from "./config";
import { telemetryObserver, type TelemetryObserver } from "./observer";

export {
    telemetryFromEnv,
    otlpTracesUrl,
    type TelemetryConfig,
    type TelemetryDestination,
} from "./config";
export { connectionStringProblem } from "./connection-string";
export {
    TelemetryObserver,
    telemetryObserver,
    type DestinationStats,
    type TelemetryObserverOptions,
} from "./observer";
export { PAYLOAD_CAP_BYTES, PAYLOAD_PART_BYTES } from "./payload";

/**
 * What `startRouter` needs for export: the observer (the router closes it after the drain,
 * flushing what is queued) and an extension that registers its metrics and logs where spans go
 * (the destination kinds, never the connection string).
 */
export function telemetryParts(
    observer: TelemetryObserver,
    destinations: readonly TelemetryDestination[],
): Required<Pick<StartRouterOptions, "observers" | "extensions">> {
    const register: RouterExtensionFactory = (ctx) => {
        observer.registerMetrics(ctx.registry);
        return {
            start: () => {
                observer.start();
                ctx.logger.info(
                    { destinations: destinations.map((d) => d.kind) },
                    "telemetry export on for services with enableAppInsights",
                );
            },
        };
    };
    return { observers: [observer], extensions: [register] };
}

type Parts = Pick<StartRouterOptions, "logger" | "observers" | "extensions" | "routerId">;

/**
 * `parts` plus telemetry export (router/main.ts: from the environment); the same parts when no
 * destination is configured. Spans carry `parts.routerId` (the pod name) as the instance.
 */
export function withTelemetry<T extends Parts>(parts: T, config: TelemetryConfig | undefined): T {
    if (!config) return parts;
    const logger = parts.logger ?? createLogger();
    const observer = telemetryObserver(config, {
        routerId: parts.routerId,
        logger: logger.child({ part: "telemetry" }),
    });
    const t = telemetryParts(observer, config.destinations);
    return {
        ...parts,
        logger,
        observers: [...(parts.observers ?? []), ...t.observers],
        extensions: [...(parts.extensions ?? []), ...t.extensions],
    };
}
