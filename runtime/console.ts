/**
 * Turns the router's and the local backend's JSON log records into short lines for a terminal:
 * replica output (`print()` in score.py, tracebacks) as `[diabetes-1] ...`, warnings and errors
 * as `warn: ...`, access logs only when asked. Lifecycle records that the CLI already reports as
 * progress lines are dropped. Keys never appear: records are pino-redacted before they get here,
 * and the access-log line is built from a fixed list of fields. With `--log-format json` the
 * records pass through as JSON instead and the CLI's own lines become JSON records too.
 */

import { stripControlSequences } from "../router/backends/output";

const LEVEL_WARN = 40;

interface LogRecord {
    level?: number;
    msg?: string;
    stream?: string;
    replica?: string;
    requestId?: string;
    service?: string;
    method?: string;
    path?: string;
    status?: number;
    durationMs?: number;
    reason?: string;
    err?: unknown;
}

export interface ConsoleSink {
    out(line: string): void;
    err(line: string): void;
}

/** The line to print for one JSON record, or undefined to drop it. */
export function formatLogRecord(
    record: LogRecord,
    accessLog: boolean,
): { line: string; toErr: boolean } | undefined {
    const level = record.level ?? 30;
    if (record.stream === "stdout" || record.stream === "stderr") {
        // The backend prefixes replica lines with "[<replica>] " and strips control sequences
        // already; strip again here, the one place that writes to a terminal.
        return { line: stripControlSequences(String(record.msg ?? "")), toErr: false };
    }
    if (record.requestId !== undefined && record.status !== undefined) {
        if (!accessLog && level < LEVEL_WARN) return undefined;
        const took =
            typeof record.durationMs === "number" ? `${record.durationMs.toFixed(1)} ms` : "";
        const reason = record.reason ? ` (${record.reason})` : "";
        return {
            line: `${record.method ?? ""} ${record.path ?? ""} ${record.status} ${took}${reason} id=${record.requestId}`,
            toErr: false,
        };
    }
    if (level >= LEVEL_WARN) {
        const err =
            record.err === undefined
                ? ""
                : `: ${typeof record.err === "string" ? record.err : JSON.stringify(record.err)}`;
        return {
            line: `${level >= 50 ? "error" : "warn"}: ${record.msg ?? ""}${err}`
                .split("\n")
                .map(stripControlSequences)
                .join("\n"),
            toErr: true,
        };
    }
    return undefined;
}

/** A pino destination that writes formatted lines to `sink`. */
export function consoleDestination(
    sink: ConsoleSink,
    accessLog: boolean,
): { write(chunk: string): void } {
    return {
        write(chunk: string): void {
            for (const text of chunk.split("\n")) {
                if (!text) continue;
                let record: LogRecord;
                try {
                    record = JSON.parse(text) as LogRecord;
                } catch {
                    sink.err(text);
                    continue;
                }
                const f = formatLogRecord(record, accessLog);
                if (!f) continue;
                if (f.toErr) sink.err(f.line);
                else sink.out(f.line);
            }
        },
    };
}

/**
 * `--log-format json`: the runtime's own lines (progress, replica events, autoscaler decisions)
 * as JSON records shaped like the router's pino lines, on stdout with them.
 */
export function jsonConsole(sink: ConsoleSink, now: () => Date = () => new Date()): ConsoleSink {
    const record = (level: number, line: string): string =>
        JSON.stringify({ level, time: now().toISOString(), name: "amlaks", msg: line.trim() });
    return {
        out: (line) => sink.out(record(30, line)),
        err: (line) => sink.out(record(50, line)),
    };
}

/**
 * `--log-format json`: a pino destination that passes the router's and the backend's JSON lines
 * to stdout unchanged. Without `--access-log`, access lines of successful requests are dropped
 * as in text mode (failed ones are `warn` and stay).
 */
export function jsonDestination(
    sink: ConsoleSink,
    accessLog: boolean,
): { write(chunk: string): void } {
    return {
        write(chunk: string): void {
            for (const text of chunk.split("\n")) {
                if (!text) continue;
                if (!accessLog) {
                    let record: LogRecord | undefined;
                    try {
                        record = JSON.parse(text) as LogRecord;
                    } catch {
                        record = undefined;
                    }
                    if (
                        record?.requestId !== undefined &&
                        record.status !== undefined &&
                        (record.level ?? 30) < LEVEL_WARN
                    )
                        continue;
                }
                sink.out(text);
            }
        },
    };
}
