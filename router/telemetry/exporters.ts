/**
 * The span exporters of each destination, configured so a slow, failing or unreachable collector
 * costs bounded memory and never blocks anything:
 * - Azure Monitor (`AzureMonitorTraceExporter`): a request timeout, no SDK retries and no offline
 *   disk storage (a failed batch is dropped and counted), and no Statsbeat (the SDK's own usage
 *   reports to a Microsoft endpoint): the router sends telemetry only where it was told to;
 * - OTLP/HTTP (`OTLPTraceExporter`, JSON): the given URL and a timeout.
 * {@link CountingExporter} wraps either: it counts exported and failed spans, bounds the exports
 * in flight, and logs failures (rate-limited, with the instrumentation key scrubbed).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
    AzureMonitorTraceExporter,
    type AzureMonitorExporterOptions,
} from "@azure/monitor-opentelemetry-exporter";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { TelemetryDestination } from "./config";
import { instrumentationKeyOf } from "./connection-string";

type PipelinePolicy = NonNullable<
    AzureMonitorExporterOptions["additionalPolicies"]
>[number]["policy"];

/** Azure Monitor's switch for Statsbeat, read from the environment when an exporter is built. */
const NO_STATSBEAT_ENV = "APPLICATION_INSIGHTS_NO_STATSBEAT";

/** Counts of one destination (read by metrics and tests). */
export interface ExportCounts {
    /** Spans handed to the exporter that the collector accepted. */
    exported: number;
    /** Spans of batches that failed (error, timeout, collector busy). */
    failed: number;
    /** Spans of exports not finished yet. */
    exporting: number;
}

interface BatchState {
    failed: boolean;
}

/**
 * Marks the current Azure export as failed when the ingestion endpoint answers with an error or
 * cannot be reached: with offline storage off, the exporter reports such batches as successful.
 */
function azureOutcomePolicy(
    batches: AsyncLocalStorage<BatchState>,
    timeoutMs: number,
): PipelinePolicy {
    return {
        name: "amlaks-telemetry-outcome",
        async sendRequest(request, next) {
            request.timeout = timeoutMs;
            const state = batches.getStore();
            try {
                const res = await next(request);
                if (state && res.status !== 200 && res.status !== 206) state.failed = true;
                return res;
            } catch (err) {
                if (state) state.failed = true;
                throw err;
            }
        },
    };
}

export interface BuiltExporter {
    readonly exporter: SpanExporter;
    /** Runs one export so that {@link azureOutcomePolicy} can see it (identity for OTLP). */
    readonly run: (state: BatchState, fn: () => void) => void;
    /** Strings that must never appear in logs (the instrumentation key). */
    readonly secrets: readonly string[];
}

/** Options of the Azure Monitor exporter a caller may add: a private CA, a proxy. */
export type AzureMonitorExtraOptions = Pick<
    AzureMonitorExporterOptions,
    "tlsOptions" | "proxyOptions"
>;

/** The SDK exporter of a destination. */
export function buildExporter(
    dest: TelemetryDestination,
    timeoutMs: number,
    azure: AzureMonitorExtraOptions = {},
): BuiltExporter {
    if (dest.kind === "otlp") {
        return {
            exporter: new OTLPTraceExporter({ url: dest.url, timeoutMillis: timeoutMs }),
            run: (_state, fn) => fn(),
            secrets: [],
        };
    }
    process.env[NO_STATSBEAT_ENV] ??= "true";
    const batches = new AsyncLocalStorage<BatchState>();
    const exporter = new AzureMonitorTraceExporter({
        ...azure,
        connectionString: dest.connectionString,
        disableOfflineStorage: true,
        retryOptions: { maxRetries: 0 },
        additionalPolicies: [
            { policy: azureOutcomePolicy(batches, timeoutMs), position: "perCall" },
        ],
    });
    const key = instrumentationKeyOf(dest.connectionString);
    return {
        exporter,
        run: (state, fn) => batches.run(state, fn),
        secrets: [dest.connectionString, ...(key ? [key] : [])],
    };
}

/** Replaces every secret in `text`. */
export function scrub(text: string, secrets: readonly string[]): string {
    let out = text;
    for (const s of secrets) if (s) out = out.split(s).join("[redacted]");
    return out;
}

/** A failure worth a log line: spans dropped since the last report, and why (scrubbed). */
export interface ExportFailure {
    readonly destination: string;
    readonly droppedSpans: number;
    readonly err: string;
}

export interface CountingExporterOptions {
    readonly destination: string;
    readonly built: BuiltExporter;
    /** Called with the number of spans each export takes out of the queue. */
    readonly onDequeue: (spans: number) => void;
    /**
     * Exports in flight at most (a hung one counts until its timeout); more fail at once. The
     * batch processor sends one at a time, and on shutdown every queued batch at once.
     * @default 2
     */
    readonly maxInFlight?: number;
    /** Told about failures, at most once per `logIntervalMs`; never gets a secret. */
    readonly report?: (failure: ExportFailure) => void;
    /** Least time between two failure reports. @default 60000 */
    readonly logIntervalMs?: number;
    /** On shutdown, longest wait for exports in flight. @default 10000 */
    readonly shutdownWaitMs?: number;
}

/** Counts what an exporter does and bounds its concurrency; see the module comment. */
export class CountingExporter implements SpanExporter {
    readonly counts: ExportCounts = { exported: 0, failed: 0, exporting: 0 };
    private inFlight = 0;
    /** Settles when no export is in flight (shutdown waits for it: the SDK does not). */
    private idle: Promise<void> = Promise.resolve();
    private wakeIdle: (() => void) | undefined;
    private lastLog = Number.NEGATIVE_INFINITY;
    private unloggedFailures = 0;

    constructor(private readonly o: CountingExporterOptions) {}

    export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
        this.o.onDequeue(spans.length);
        if (this.inFlight >= (this.o.maxInFlight ?? 2)) {
            this.fail(
                spans.length,
                "the previous exports have not finished (collector slow or unreachable)",
            );
            resultCallback({ code: ExportResultCode.FAILED });
            return;
        }
        if (this.inFlight++ === 0) this.idle = new Promise((r) => (this.wakeIdle = r));
        this.counts.exporting += spans.length;
        const state: BatchState = { failed: false };
        let settled = false;
        // The Azure exporter may call back twice; the first call is the result.
        const done = (result: ExportResult): void => {
            if (settled) return;
            settled = true;
            if (--this.inFlight === 0) this.wakeIdle?.();
            this.counts.exporting -= spans.length;
            if (result.code === ExportResultCode.SUCCESS && !state.failed) {
                this.counts.exported += spans.length;
            } else {
                this.fail(spans.length, result.error?.message ?? "the collector refused the batch");
            }
            resultCallback(result);
        };
        try {
            this.o.built.run(state, () => this.o.built.exporter.export(spans, done));
        } catch (err) {
            done({ code: ExportResultCode.FAILED, error: err as Error });
        }
    }

    private fail(spans: number, why: string): void {
        this.counts.failed += spans;
        this.unloggedFailures += spans;
        const now = Date.now();
        if (!this.o.report || now - this.lastLog < (this.o.logIntervalMs ?? 60_000)) return;
        this.lastLog = now;
        this.o.report({
            destination: this.o.destination,
            droppedSpans: this.unloggedFailures,
            err: scrub(why, this.o.built.secrets),
        });
        this.unloggedFailures = 0;
    }

    forceFlush(): Promise<void> {
        return this.o.built.exporter.forceFlush?.() ?? Promise.resolve();
    }

    async shutdown(): Promise<void> {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((r) => {
            timer = setTimeout(r, this.o.shutdownWaitMs ?? 10_000);
        });
        await Promise.race([this.idle, late]);
        clearTimeout(timer);
        await this.o.built.exporter.shutdown();
    }
}
