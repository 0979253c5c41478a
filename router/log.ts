/**
 * Structured JSON logs (R3) with pino. Access logs carry service, status, duration, replica and
 * request id; never keys, tokens, headers or payloads (docs/design.md §5). The redaction list is a
 * second line of defence in case a caller logs an object that holds one.
 */
import pino from "pino";
import { LineBatcher } from "./log-batch";

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
    /** Where lines go (pino destination). @default stdoutDestination() */
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

/** Log lines are written to stdout once this many characters wait (about 15 access lines)... */
export const LOG_BATCH_CHARS = 4096;
/** ...or at the latest this long after the first of them was logged. */
export const LOG_FLUSH_MS = 100;

let stdout: LineBatcher | undefined;

/**
 * The process's stdout for log lines, shared by every logger so lines never interleave: lines
 * wait in memory ({@link LineBatcher}) and go out in one synchronous write per batch of
 * {@link LOG_BATCH_CHARS}, at the latest {@link LOG_FLUSH_MS} after the first, and when the
 * process exits, also after an uncaught error; only a SIGKILL loses lines, those of the last
 * {@link LOG_FLUSH_MS}. The write is pino's sonic-boom (sync, as pino's default), which handles
 * partial writes and a full pipe.
 */
export function stdoutDestination(): pino.DestinationStream {
    if (stdout === undefined) {
        const out = pino.destination({ dest: 1, sync: true });
        const batcher = new LineBatcher(out, {
            maxChars: LOG_BATCH_CHARS,
            maxDelayMs: LOG_FLUSH_MS,
        });
        process.once("exit", () => {
            try {
                batcher.flush();
            } catch {
                // stdout is gone (closed pipe): nothing left to write to.
            }
        });
        stdout = batcher;
    }
    return stdout;
}

let lastTimeMs = -1;
let lastTime = "";

/**
 * pino's ISO 8601 `time` field, formatted once per millisecond: at thousands of lines per second
 * most lines share their millisecond with the previous one. Same text as `isoTime`.
 */
export function cachedIsoTime(): string {
    const now = Date.now();
    if (now !== lastTimeMs) {
        lastTimeMs = now;
        lastTime = `,"time":"${new Date(now).toISOString()}"`;
    }
    return lastTime;
}

/**
 * Loggers made by {@link createLogger}: no formatters, mixins or hooks, so an access line can be
 * written for them without pino's generic serialisation ({@link accessLog}).
 */
const plainLoggers = new WeakSet<Logger>();

export function createLogger(opts: LoggerOptions = {}): Logger {
    const level = opts.level ?? (process.env.ROUTER_LOG_LEVEL || "info");
    if (!isLogLevel(level)) {
        const from = opts.level === undefined ? "ROUTER_LOG_LEVEL" : "level";
        throw new Error(`${from}: ${JSON.stringify(level)} ${LOG_LEVEL_RULE}`);
    }
    const logger = pino(
        {
            name: "amlaks-router",
            level,
            redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
            timestamp: cachedIsoTime,
            ...(opts.base === undefined ? {} : { base: opts.base }),
        },
        opts.destination ?? stdoutDestination(),
    );
    plainLoggers.add(logger);
    return logger;
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
 * Make it once per logger, not per request. `atLeast: "warn"` keeps only the lines of failed
 * requests ({@link logAccess} logs those at warn); the others are then not even built.
 */
export function accessLogger(logger: Logger, atLeast?: "warn"): Logger {
    const child = logger.child({}, { redact: [] });
    // Raise the level only: a logger at error keeps its access lines off.
    if (atLeast && child.levelVal < child.levels.values[atLeast]) child.level = atLeast;
    return child;
}

/** Writes the access line of each settled request ({@link accessLog}). */
export interface AccessLog {
    write(r: AccessLogSource, durationMs: number): void;
}

/**
 * The access log of a router whose lines go through `logger` (its level, bindings and
 * destination): {@link logAccess} through an {@link accessLogger}. For a logger made by
 * {@link createLogger} the line is built directly, byte for byte what pino writes (tested), at a
 * fraction of the cost of pino's generic serialisation, which walks and escapes every field of
 * every line one character at a time.
 */
export function accessLog(logger: Logger, atLeast?: "warn"): AccessLog {
    const child = accessLogger(logger, atLeast);
    if (!plainLoggers.has(logger)) return { write: (r, d) => logAccess(child, r, d) };
    return new DirectAccessLog(child);
}

const LEVEL_INFO = 30;
const LEVEL_WARN = 40;

/** pino level of an access line: warn for failures of the router or its replicas (5xx but 503). */
function accessLevel(status: number): typeof LEVEL_INFO | typeof LEVEL_WARN {
    return status >= 500 && status !== 503 ? LEVEL_WARN : LEVEL_INFO;
}

/** Access lines of a plain pino logger, written to its destination as pino would write them. */
class DirectAccessLog implements AccessLog {
    private readonly chindings: string;
    private readonly time: () => string;
    private readonly stream: pino.DestinationStream;

    constructor(private readonly logger: Logger) {
        const l = logger as unknown as Record<symbol, unknown>;
        this.chindings = l[pino.symbols.chindingsSym] as string;
        this.time = l[pino.symbols.timeSym] as () => string;
        this.stream = l[pino.symbols.streamSym] as pino.DestinationStream;
    }

    write(r: AccessLogSource, durationMs: number): void {
        const level = accessLevel(r.status);
        if (this.logger.levelVal > level) return;
        // Field order and omissions as accessLogEntry (pino drops undefined fields).
        let line = `{"level":${level}${this.time()}${this.chindings},"requestId":${JSON.stringify(r.requestId)},"service":${JSON.stringify(r.service)},"method":${JSON.stringify(r.req.method ?? "")},"path":${JSON.stringify(r.path)},"status":${num(r.status)},"durationMs":${msText(durationMs)}`;
        if (r.queueMs !== undefined) line += `,"queueMs":${msText(r.queueMs)}`;
        if (r.modelMs !== undefined) line += `,"modelMs":${msText(r.modelMs)}`;
        if (r.replica !== undefined) line += `,"replica":${JSON.stringify(r.replica)}`;
        if (r.attempts > 0) line += `,"attempts":${num(r.attempts)}`;
        line += `,"requestBytes":${num(r.requestBytes)},"responseBytes":${num(r.responseBytes)}`;
        const address = r.req.socket.remoteAddress;
        if (address !== undefined) line += `,"clientAddress":${JSON.stringify(address)}`;
        if (r.reason !== undefined) line += `,"reason":${JSON.stringify(r.reason)}`;
        this.stream.write(`${line},"msg":"request"}\n`);
    }
}

/** A number as pino writes it (null when not finite). */
function num(n: number): string {
    return Number.isFinite(n) ? String(n) : "null";
}

/**
 * `num(ms(n))` from integer arithmetic: the text of a double (shortest round-trip digits) costs
 * several times an integer's, and every access line has up to three durations. Same text.
 */
export function msText(n: number): string {
    const micros = Math.round(n * 1000);
    if (!(micros >= 0 && micros < 1e15)) return num(ms(n));
    const whole = Math.floor(micros / 1000);
    const frac = micros - whole * 1000;
    if (frac === 0) return String(whole);
    if (frac % 100 === 0) return `${whole}.${frac / 100}`;
    if (frac % 10 === 0) return `${whole}.${frac < 100 ? "0" : ""}${frac / 10}`;
    return `${whole}.${frac < 10 ? "00" : frac < 100 ? "0" : ""}${frac}`;
}

/**
 * Writes the line: `warn` for failures of the router or its replicas (5xx but 503), else `info`.
 * `logger` should be an {@link accessLogger}.
 */
export function logAccess(logger: Logger, r: AccessLogSource, durationMs: number): void {
    const level = accessLevel(r.status);
    // A line the level drops is not built.
    if (logger.levelVal > level) return;
    const entry = accessLogEntry(r, durationMs);
    if (level === LEVEL_WARN) logger.warn(entry, "request");
    else logger.info(entry, "request");
}
