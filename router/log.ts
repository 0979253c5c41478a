/**
 * Structured JSON logs (R3) with pino. Access logs carry service, status, duration, replica and
 * request id; never keys, tokens, headers or payloads (DESIGN §5). The redaction list is a second
 * line of defence in case a caller logs an object that holds one.
 */
import pino from "pino";

export type Logger = pino.Logger;

export interface LoggerOptions {
    /** pino level. @default process.env.ROUTER_LOG_LEVEL ?? "info" */
    readonly level?: string;
    /** Where lines go (pino destination). @default stdout */
    readonly destination?: pino.DestinationStream;
}

/** Field paths that must never reach a log line. */
export const REDACTED_PATHS = [
    "authorization",
    "headers.authorization",
    "req.headers.authorization",
    "*.authorization",
    "primaryKey",
    "secondaryKey",
    "*.primaryKey",
    "*.secondaryKey",
    "token",
    "accessToken",
    "*.token",
    "*.accessToken",
    "body",
    "*.body",
];

export function createLogger(opts: LoggerOptions = {}): Logger {
    const level = opts.level ?? process.env.ROUTER_LOG_LEVEL ?? "info";
    return pino(
        {
            name: "amlaks-router",
            level,
            redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
            timestamp: pino.stdTimeFunctions.isoTime,
        },
        opts.destination,
    );
}

/** A silent logger for tests and benchmarks. */
export function silentLogger(): Logger {
    return pino({ level: "silent" });
}

/** One access-log line. Path without the query string: a GET query can carry the payload. */
export interface AccessLogEntry {
    readonly requestId: string;
    readonly service: string;
    readonly method: string;
    readonly path: string;
    readonly status: number;
    /** Total time in the router, ms. */
    readonly durationMs: number;
    /** Time waiting for a free replica slot, ms. */
    readonly queueMs?: number;
    /** Replica that served the request (last one tried). */
    readonly replica?: string;
    /** Upstream attempts (2 when a connection failure was retried). */
    readonly attempts?: number;
    /** Why the router answered itself or cut the exchange (queue_timeout, scoring_timeout...). */
    readonly reason?: string;
}

export function logAccess(logger: Logger, entry: AccessLogEntry): void {
    if (entry.status >= 500 && entry.status !== 503) logger.warn(entry, "request");
    else logger.info(entry, "request");
}
