/**
 * Application Insights / OTLP export of the router's requests (issue 12 item 3), as an
 * {@link ExchangeObserver}. On the router's thread it only copies each finished request of a
 * service with `enableAppInsights` into a plain record (microseconds) and posts records in
 * batches, on the next turn of the event loop, to an export worker thread (worker.ts), which makes
 * the spans with the OpenTelemetry SDK and exports them (pipeline.ts). The OpenTelemetry batch
 * processor serializes a whole batch when it fills; in the worker that work never delays a
 * request.
 *
 * Memory is bounded on both sides: spans of records waiting for the worker (at most
 * `maxQueueSize`) and spans waiting for export per destination (at most `maxQueueSize`); with
 * payload logging both limits are at most {@link PAYLOAD_QUEUE_LIMIT}. What does not fit is
 * dropped and counted.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { hostname } from "node:os";
import { Worker } from "node:worker_threads";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Logger } from "../log";
import type { ExchangeObserver, ExchangeRecord } from "../observe";
import type { ServiceDefinition } from "../types";
import {
    DEFAULT_MAX_QUEUE,
    destinationNames,
    type TelemetryConfig,
    type TelemetryDestination,
} from "./config";
import type { AzureMonitorExtraOptions } from "./exporters";
import type { DestinationStats, PipelineOptions } from "./pipeline";
import type { FromWorker, ToWorker } from "./protocol";
import { EXPORT_WORKER_MARK } from "./worker-mark";
import { spanCount, toExportRecord, type ExportRecord } from "./spans";

export type { DestinationStats } from "./pipeline";

/**
 * Queue limit with payload logging: a record can hold 2 × 64 KiB of bodies, so 256 of them are
 * 32 MiB on each side of the worker boundary.
 */
export const PAYLOAD_QUEUE_LIMIT = 256;

/** Heap of the export worker; if it runs out, the worker dies and export stops, not the router. */
const WORKER_HEAP_MB = 256;

export interface TelemetryObserverOptions {
    /** Where spans go (at least one). */
    readonly destinations: readonly TelemetryDestination[];
    /** Which services are exported. @default (d) => d.settings.enableAppInsights */
    readonly select?: (definition: ServiceDefinition) => boolean;
    /** Send request and response bodies along (first 64 KiB, payload.ts). @default false */
    readonly logPayloads?: boolean;
    /** Spans waiting for the worker, and spans waiting for export per destination. @default 2048 */
    readonly maxQueueSize?: number;
    /** Spans per export request. @default 512 */
    readonly maxExportBatchSize?: number;
    /** Longest wait before a partial batch is sent. @default 2000 */
    readonly scheduledDelayMs?: number;
    /** One export request longer than this is abandoned (its spans counted as failed). @default 10000 */
    readonly exportTimeoutMs?: number;
    /** `service.instance.id` of the spans (App Insights `cloud_RoleInstance`). @default os.hostname() */
    readonly routerId?: string;
    /** `service.version` of the spans. @default - unset */
    readonly version?: string;
    /** Export failures are logged here (at most once a minute per destination, never secrets). @default - not logged */
    readonly logger?: Logger;
    /**
     * Extra Azure Monitor exporter options, e.g. `tlsOptions.ca` for an ingestion endpoint behind
     * a private CA (the exporter always uses HTTPS). @default {}
     */
    readonly azureMonitorOptions?: AzureMonitorExtraOptions;
}

/**
 * Starts the export worker. Its script: `worker-entry.js` next to this file once compiled; from
 * the TypeScript sources (tests, benchmarks), a small script that registers tsx's loader first (a
 * worker does not inherit it); in the router image, whose code is one bundled file, that file
 * itself: its entry (router/main.ts) runs the worker when `workerData` says so.
 */
function newWorker(pipeline: PipelineOptions): Worker {
    const options = {
        workerData: { [EXPORT_WORKER_MARK]: pipeline },
        resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    };
    if (__filename.endsWith(".ts")) {
        const tsx = createRequire(__filename).resolve("tsx/cjs");
        const entry = join(__dirname, "worker-entry.ts");
        return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(entry)});`, {
            ...options,
            eval: true,
        });
    }
    const entry = join(__dirname, "worker-entry.js");
    return new Worker(existsSync(entry) ? entry : __filename, options);
}

/** Longest wait for fresh numbers from the worker before the last known ones are used. */
const STATS_WAIT_MS = 1000;

export class TelemetryObserver implements ExchangeObserver {
    private readonly select: (definition: ServiceDefinition) => boolean;
    private readonly logPayloads: boolean;
    private readonly queueLimit: number;
    private readonly pipeline: PipelineOptions;
    private worker: Worker | undefined;
    private workerFailed = false;
    private pending: ExportRecord[] = [];
    private pendingSpans = 0;
    private unackedRecords = 0;
    private unackedSpans = 0;
    /** Spans dropped before reaching the worker (counted for every destination). */
    private droppedSpans = 0;
    private postScheduled = false;
    private last: DestinationStats[];
    private readonly waiting = new Map<number, (stats: DestinationStats[]) => void>();
    private nextId = 1;
    private closed: Promise<void> | undefined;
    private workerDone: Promise<void> = Promise.resolve();

    constructor(private readonly o: TelemetryObserverOptions) {
        if (o.destinations.length === 0) throw new Error("TelemetryObserver needs a destination");
        this.select = o.select ?? ((d) => d.settings.enableAppInsights);
        this.logPayloads = o.logPayloads ?? false;
        const maxQueue = o.maxQueueSize ?? DEFAULT_MAX_QUEUE;
        this.queueLimit = this.logPayloads ? Math.min(maxQueue, PAYLOAD_QUEUE_LIMIT) : maxQueue;
        this.pipeline = {
            destinations: o.destinations,
            maxQueueSize: this.queueLimit,
            maxExportBatchSize: o.maxExportBatchSize ?? 512,
            scheduledDelayMs: o.scheduledDelayMs ?? 2000,
            exportTimeoutMs: o.exportTimeoutMs ?? 10_000,
            routerId: o.routerId ?? hostname(),
            ...(o.version ? { version: o.version } : {}),
            ...(o.azureMonitorOptions ? { azureMonitorOptions: o.azureMonitorOptions } : {}),
        };
        this.last = destinationNames(o.destinations).map((destination) => ({
            destination,
            queued: 0,
            exporting: 0,
            exported: 0,
            failed: 0,
            droppedQueueFull: 0,
        }));
    }

    /**
     * Starts the export worker now rather than on the first exported request (the router does
     * this when it starts). Idempotent.
     */
    start(): void {
        if (this.closed === undefined && !this.workerFailed) this.startWorker();
    }

    wantsPayloads(definition: ServiceDefinition): boolean {
        return this.logPayloads && this.closed === undefined && this.select(definition);
    }

    onExchange(record: ExchangeRecord): void {
        const d = record.definition;
        if (!d || this.closed !== undefined || !this.select(d)) return;
        const spans = spanCount(record);
        if (this.workerFailed || this.pendingSpans + this.unackedSpans + spans > this.queueLimit) {
            this.droppedSpans += spans;
            return;
        }
        this.pending.push(toExportRecord(record, this.logPayloads));
        this.pendingSpans += spans;
        if (!this.postScheduled) {
            this.postScheduled = true;
            setImmediate(() => this.post());
        }
    }

    /**
     * Per destination: spans queued (here and in the worker), in exports, exported, failed and
     * dropped. Asks the worker; its last known numbers when it does not answer within a second.
     */
    async stats(): Promise<DestinationStats[]> {
        const w = this.worker;
        if (w && !this.workerFailed && this.closed === undefined) {
            const id = this.nextId++;
            let timer: NodeJS.Timeout | undefined;
            await new Promise<void>((resolve) => {
                timer = setTimeout(resolve, STATS_WAIT_MS);
                this.waiting.set(id, () => resolve());
                this.send({ type: "stats", id });
            });
            clearTimeout(timer);
            this.waiting.delete(id);
        }
        const local = this.pendingSpans + this.unackedSpans;
        return this.last.map((s) => ({
            ...s,
            queued: s.queued + local,
            droppedQueueFull: s.droppedQueueFull + this.droppedSpans,
        }));
    }

    /**
     * `amlaks_router_telemetry_spans_total{destination,outcome}` (exported, failed, queue_full)
     * and `amlaks_router_telemetry_queued_spans{destination}`, read at scrape time.
     */
    registerMetrics(registry: Registry): void {
        const stats = (): Promise<DestinationStats[]> => this.stats();
        new Counter({
            name: "amlaks_router_telemetry_spans_total",
            help: "Telemetry spans by destination and outcome: exported, failed (batch refused, timed out or collector busy), queue_full (dropped before export).",
            labelNames: ["destination", "outcome"],
            registers: [registry],
            async collect() {
                const all = await stats();
                this.reset();
                for (const s of all) {
                    this.inc({ destination: s.destination, outcome: "exported" }, s.exported);
                    this.inc({ destination: s.destination, outcome: "failed" }, s.failed);
                    this.inc(
                        { destination: s.destination, outcome: "queue_full" },
                        s.droppedQueueFull,
                    );
                }
            },
        });
        new Gauge({
            name: "amlaks_router_telemetry_queued_spans",
            help: "Telemetry spans waiting for export, by destination.",
            labelNames: ["destination"],
            registers: [registry],
            async collect() {
                for (const s of await stats()) this.set({ destination: s.destination }, s.queued);
            },
        });
    }

    /**
     * Sends what is waiting, lets the worker export its queues (each export bounded by
     * exportTimeoutMs), then stops it. Idempotent; the router bounds the wait with its drain.
     */
    close(): Promise<void> {
        this.closed ??= (async () => {
            this.post();
            const w = this.worker;
            if (!w || this.workerFailed) return;
            this.send({ type: "close" });
            let timer: NodeJS.Timeout | undefined;
            const late = new Promise<void>((resolve) => {
                timer = setTimeout(resolve, this.pipeline.exportTimeoutMs * 2 + 1000);
            });
            await Promise.race([this.workerDone, late]);
            clearTimeout(timer);
            await w.terminate();
        })();
        return this.closed;
    }

    private post(): void {
        this.postScheduled = false;
        if (this.pending.length === 0 || this.workerFailed) return;
        const records = this.pending;
        const spans = this.pendingSpans;
        this.pending = [];
        this.pendingSpans = 0;
        this.unackedRecords += records.length;
        this.unackedSpans += spans;
        this.send({ type: "records", records, spans });
    }

    private send(m: ToWorker): void {
        this.startWorker().postMessage(m);
    }

    private startWorker(): Worker {
        if (this.worker) return this.worker;
        const w = newWorker(this.pipeline);
        // Never what keeps the process alive; close() waits for it explicitly.
        w.unref();
        let done!: () => void;
        this.workerDone = new Promise<void>((resolve) => (done = resolve));
        w.on("message", (m: FromWorker) => this.onMessage(m, done));
        w.on("error", (err) => {
            this.workerFailed = true;
            this.droppedSpans += this.pendingSpans + this.unackedSpans;
            this.pending = [];
            this.pendingSpans = this.unackedRecords = this.unackedSpans = 0;
            this.o.logger?.error(
                { err: err.message },
                "telemetry export worker failed; requests are no longer exported",
            );
        });
        w.on("exit", () => done());
        this.worker = w;
        return w;
    }

    private onMessage(m: FromWorker, done: () => void): void {
        switch (m.type) {
            case "ack":
                this.unackedRecords -= m.records;
                this.unackedSpans -= m.spans;
                this.last = m.stats;
                break;
            case "stats":
                this.last = m.stats;
                this.waiting.get(m.id)?.(m.stats);
                break;
            case "failure":
                this.o.logger?.warn({ ...m.failure }, "telemetry export failed; spans dropped");
                break;
            case "closed":
                this.last = m.stats;
                done();
                break;
        }
    }
}

/** The observer for a validated {@link TelemetryConfig}. */
export function telemetryObserver(
    config: TelemetryConfig,
    extra: Omit<TelemetryObserverOptions, "destinations" | "logPayloads" | "maxQueueSize"> = {},
): TelemetryObserver {
    return new TelemetryObserver({
        ...extra,
        destinations: config.destinations,
        logPayloads: config.logPayloads,
        maxQueueSize: config.maxQueueSize,
    });
}
