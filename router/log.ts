/**
 * Structured JSON logs (R3) with pino. Access logs carry service, status, duration, replica and
 * request id; never keys, tokens, headers or payloads (docs/design.md §5). The redaction list is a
 * second line of defence in case a caller logs an object that holds one.
 */
import pino from "pino";

export type Logger = pino.Logger;

/** Levels `ROUTER_LOG_LEVEL` accepts (pino's), most to least verbose, and "silent". */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
    return (LOG_LEVELS as readonly string[]).includes(value);
}

/** The rule a bad level breaks, for `Problems.add` and errors. */
export const LOG_LEVEL_RULE = `must be one of ${LOG_LEVELS.join(", ")}`;

export interface LoggerOptions {
    /** pino level. @default process.env.ROUTER_LOG_LEVEL ?? "info" */
    readonly level?: string;
    /** Where lines go (pino destination). @default stdout */
    readonly destination?: pino.DestinationStream;
    /** Fields on every line; null for none. @default pid and hostname (the pod name on Kubernetes) */
    readonly base?: Record<string, unknown> | null;
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
    const level = opts.level ?? (process.env.ROUTER_LOG_LEVEL || "info");
    if (!isLogLevel(level)) {
        const from = opts.level === undefined ? "ROUTER_LOG_LEVEL" : "level";
        throw new Error(`${from}: ${JSON.stringify(level)} ${LOG_LEVEL_RULE}`);
    }
    return pino(
        {
            name: "amlaks-router",
            level,
            redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
            timestamp: pino.stdTimeFunctions.isoTime,
            ...(opts.base === undefined ? {} : { base: opts.base }),
        },
        opts.destination,
    );
}

/** A silent logger for tests and benchmarks. */
export function silentLogger(): Logger {
    return pino({ level: "silent" });
}

/**
 * One access-log line (`msg: "request"`), besides pino's `level`, `time` (ISO 8601) and `name`.
 * Times are milliseconds with microsecond precision. Never headers, keys, tokens, the query
 * string or payloads: the path is the route, and every field is a number or a short string the
 * router chose or measured.
 */
export interface AccessLogEntry {
    /** `x-ms-request-id` the client got (the router makes one when the client sent none). */
    readonly requestId: string;
    /** Service name, or "(unknown)". */
    readonly service: string;
    readonly method: string;
    /** Path without the query string (a GET query can carry the payload). */
    readonly path: string;
    /** Status the client got; 499 when it closed first. */
    readonly status: number;
    /** Total time in the router. */
    readonly durationMs: number;
    /** Time waiting for a free replica slot (absent when no slot was asked for). */
    readonly queueMs?: number;
    /** Time from sending to the replica until its answer was complete (absent: none got it). */
    readonly modelMs?: number;
    /** Replica that served the request (last one tried). */
    readonly replica?: string;
    /** Upstream attempts (2 when a connection failure was retried). */
    readonly attempts?: number;
    /** Request body bytes read from the client. */
    readonly requestBytes: number;
    /** Response body bytes sent to the client. */
    readonly responseBytes: number;
    /** The client's address as the router's socket saw it (the last proxy's, behind one). */
    readonly clientAddress?: string;
    /** Why the router answered itself or cut the exchange (router/outcomes.ts). */
    readonly reason?: string;
}

/** What `logAccess` reads (routing/request.ts RouterRequest satisfies it). */
export interface AccessLogSource {
    readonly requestId: string;
    readonly service: string;
    readonly req: {
        readonly method?: string;
        readonly socket: { readonly remoteAddress?: string };
    };
    readonly path: string;
    readonly status: number;
    readonly queueMs: number | undefined;
    readonly modelMs: number | undefined;
    readonly replica: string | undefined;
    readonly attempts: number;
    readonly requestBytes: number;
    readonly responseBytes: number;
    readonly reason: string | undefined;
}

const ms = (n: number): number => Math.round(n * 1000) / 1000;

/** The access-log line of a settled request. */
export function accessLogEntry(r: AccessLogSource, durationMs: number): AccessLogEntry {
    return {
        requestId: r.requestId,
        service: r.service,
        method: r.req.method ?? "",
        path: r.path,
        status: r.status,
        durationMs: ms(durationMs),
        queueMs: r.queueMs === undefined ? undefined : ms(r.queueMs),
        modelMs: r.modelMs === undefined ? undefined : ms(r.modelMs),
        replica: r.replica,
        attempts: r.attempts > 0 ? r.attempts : undefined,
        requestBytes: r.requestBytes,
        responseBytes: r.responseBytes,
        clientAddress: r.req.socket.remoteAddress,
        reason: r.reason,
    };
}

/**
 * The logger access lines go through: `logger` without its redaction paths. An access entry is
 * built field by field from values the router chose or measured (`accessLogEntry`), so nothing
 * redaction looks for can be in it, and pino's redaction (wildcard paths walked on every line)
 * cost about 20 times the rest of the line. Same level, bindings and destination as `logger`.
 * Make it once per logger, not per request.
 */
export function accessLogger(logger: Logger): Logger {
    return logger.child({}, { redact: [] });
}

/**
 * Writes the line: `warn` for failures of the router or its replicas (5xx but 503), else `info`.
 * `logger` should be an {@link accessLogger}.
 */
export function logAccess(logger: Logger, r: AccessLogSource, durationMs: number): void {
    const entry = accessLogEntry(r, durationMs);
    if (entry.status >= 500 && entry.status !== 503) logger.warn(entry, "request");
    else logger.info(entry, "request");
}
