/**
 * Model data collection (R4, aml-v1-spec §8): an {@link ExchangeObserver} that keeps the request
 * body (inputs) and the model's answer (predictions) of sampled, successful `POST .../score`
 * calls of services with `collectModelData` on, and writes them in batches to a sink (directory
 * or blob container) under v1's layout (layout.ts) as JSON Lines (records.ts).
 *
 * Scoring never waits for it: `onExchange` only decides and queues (no I/O, no encoding; bodies
 * are copied only when they are views into a larger buffer, see `detach`); batches are encoded
 * and written later, a bounded number at a time. Memory is
 * bounded by `maxQueuedBytes` over queued records and batches being written: when the store is
 * slower than the traffic, new records are dropped and counted (`queue_full`) instead of
 * growing the queue. Each file write has a timeout and a bounded number of retries with backoff;
 * a batch that still fails is dropped and counted (`store_error`).
 */
import { randomBytes } from "node:crypto";
import type { Registry } from "prom-client";
import { silentLogger, type Logger } from "../log";
import type { ExchangeObserver, ExchangeRecord } from "../observe";
import type { ModelRef, ServiceDefinition } from "../types";
import {
    DESIGNATIONS,
    batchFileName,
    dayPath,
    folderOf,
    modelOf,
    type Designation,
    type ModelDataScope,
} from "./layout";
import { ModelDataMetrics, type DropReason } from "./metrics";
import { recordLine } from "./records";
import { retryDelay, type RetryPolicy } from "./retry";
import { isSampled } from "./sampler";
import { asStoreError, StoreError, type ModelDataSink } from "./sink";

export interface ModelDataCollectorOptions {
    readonly sink: ModelDataSink;
    /** Subscription, resource group and workspace segments of the layout. */
    readonly scope: ModelDataScope;
    /**
     * Registry for the collection series. Usually the router's, which exists only once the
     * collector is passed to it as an observer: then call `metrics.registerIn(router.registry)`
     * (see `modelDataParts`). @default - none yet
     */
    readonly registry?: Registry;
    /** @default a silent logger */
    readonly logger?: Logger;
    /**
     * Bytes held at most: bodies of queued records plus encoded batches being written. Above it
     * new records are dropped (`queue_full`). @default 67108864 (64 MiB)
     */
    readonly maxQueuedBytes?: number;
    /** A request whose two bodies together are larger is not collected (`too_large`). @default 8388608 (8 MiB) */
    readonly maxRecordBytes?: number;
    /** A service's batch is cut at this many requests... @default 1000 */
    readonly maxBatchRecords?: number;
    /** ...or at this many body bytes... @default 4194304 (4 MiB) */
    readonly maxBatchBytes?: number;
    /** ...or this long after its first record, ms. @default 10000 */
    readonly flushIntervalMs?: number;
    /** Batches written at once. @default 2 */
    readonly maxConcurrentBatches?: number;
    /** One file write longer than this is abandoned and counts as a transient failure, ms. @default 30000 */
    readonly writeTimeoutMs?: number;
    /** Retries of a file write after transient errors, and their backoff. @default { maxRetries: 3, baseMs: 500, maxMs: 8000 } */
    readonly retry?: Partial<RetryPolicy>;
    /** `close()` waits this long for queued data, then drops the rest (`shutdown`), ms. @default 10000 */
    readonly closeTimeoutMs?: number;
    /** Part of every file name, telling writers (router pods) apart. @default 8 random hex digits */
    readonly writerId?: string;
}

/** Room for the JSON around a record's bodies (time, request id, keys). */
const RECORD_OVERHEAD_BYTES = 160;
/** At most one "dropping" log line per service and reason in this time. */
const DROP_LOG_INTERVAL_MS = 60_000;

interface QueuedRecord {
    readonly time: number;
    readonly requestId: string;
    readonly model: ModelRef;
    readonly inputs: Buffer;
    readonly predictions: Buffer;
    readonly bytes: number;
}

interface ServiceQueue {
    records: QueuedRecord[];
    bytes: number;
    timer: NodeJS.Timeout | undefined;
}

interface Batch {
    readonly service: string;
    readonly records: QueuedRecord[];
    /** Bytes reserved for it in the budget. */
    bytes: number;
}

/** One file of a batch: a model/day group of its records, one designation. */
interface BatchFile {
    readonly path: string;
    readonly designation: Designation;
    readonly body: Buffer;
    /** Index of its model/day group in the batch. */
    readonly group: number;
    readonly lines: number;
}

type WriteResult = "ok" | "store_error" | "shutdown";

/**
 * The bytes in a Buffer that owns its memory. A view into a larger buffer (Node's 8 KiB pool for
 * small allocations, a socket read) would keep all of that alive while queued, far beyond what
 * the budget counts; a buffer that is its whole allocation is kept as is (no copy).
 */
export function detach(buf: Buffer): Buffer {
    if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return buf;
    const copy = Buffer.allocUnsafeSlow(buf.length);
    buf.copy(copy);
    return copy;
}

/** Is this exchange one whose data is collected (before sampling)? */
export function isCollectable(record: ExchangeRecord): boolean {
    return (
        record.definition?.settings.collectModelData === true &&
        record.method === "POST" &&
        record.status >= 200 &&
        record.status < 300 &&
        record.path.endsWith("/score") &&
        record.requestBody !== undefined &&
        record.responseBody !== undefined
    );
}

export class ModelDataCollector implements ExchangeObserver {
    readonly metrics: ModelDataMetrics;
    private readonly sink: ModelDataSink;
    private readonly scope: ModelDataScope;
    private readonly logger: Logger;
    private readonly maxQueuedBytes: number;
    private readonly maxRecordBytes: number;
    private readonly maxBatchRecords: number;
    private readonly maxBatchBytes: number;
    private readonly flushIntervalMs: number;
    private readonly maxConcurrentBatches: number;
    private readonly writeTimeoutMs: number;
    private readonly retryPolicy: RetryPolicy;
    private readonly closeTimeoutMs: number;
    private readonly writerId: string;
    private readonly queues = new Map<string, ServiceQueue>();
    private readonly waiting: Batch[] = [];
    private readonly lastDropLog = new Map<string, number>();
    /** Aborted when `close()` gives up: in-flight writes and backoff sleeps stop. */
    private readonly stopAll = new AbortController();
    private idleWaiters: Array<() => void> = [];
    private queuedBytes = 0;
    private writing = 0;
    private seq = 0;
    private closing: Promise<void> | undefined;

    constructor(opts: ModelDataCollectorOptions) {
        this.sink = opts.sink;
        this.scope = opts.scope;
        this.logger = opts.logger ?? silentLogger();
        this.maxQueuedBytes = opts.maxQueuedBytes ?? 64 * 1024 * 1024;
        this.maxRecordBytes = opts.maxRecordBytes ?? 8 * 1024 * 1024;
        this.maxBatchRecords = opts.maxBatchRecords ?? 1000;
        this.maxBatchBytes = opts.maxBatchBytes ?? 4 * 1024 * 1024;
        this.flushIntervalMs = opts.flushIntervalMs ?? 10_000;
        this.maxConcurrentBatches = opts.maxConcurrentBatches ?? 2;
        this.writeTimeoutMs = opts.writeTimeoutMs ?? 30_000;
        this.retryPolicy = { maxRetries: 3, baseMs: 500, maxMs: 8000, ...opts.retry };
        this.closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
        this.writerId = opts.writerId ?? randomBytes(4).toString("hex");
        this.metrics = new ModelDataMetrics(() => this.queuedBytes);
        if (opts.registry) this.metrics.registerIn(opts.registry);
    }

    /** Bytes held right now (queued records and batches being written). */
    get heldBytes(): number {
        return this.queuedBytes;
    }

    /** Where data goes, for start-up logs. */
    get description(): string {
        return this.sink.description;
    }

    wantsPayloads(definition: ServiceDefinition): boolean {
        return (
            definition.settings.collectModelData &&
            definition.settings.modelDataCollectionSampleRate > 0
        );
    }

    onExchange(record: ExchangeRecord): void {
        if (this.closing || !isCollectable(record)) return;
        const definition = record.definition as ServiceDefinition;
        if (!isSampled(record.requestId, definition.settings.modelDataCollectionSampleRate)) return;
        const service = record.service;
        const inputs = record.requestBody as Buffer;
        const predictions = record.responseBody as Buffer;
        const bytes = inputs.length + predictions.length + RECORD_OVERHEAD_BYTES;
        if (bytes > this.maxRecordBytes) {
            this.drop(service, "too_large", 1);
            return;
        }
        if (this.queuedBytes + bytes > this.maxQueuedBytes) {
            this.drop(service, "queue_full", 1);
            return;
        }
        let queue = this.queues.get(service);
        if (!queue) {
            queue = { records: [], bytes: 0, timer: undefined };
            this.queues.set(service, queue);
        }
        queue.records.push({
            time: record.startTime,
            requestId: record.requestId,
            model: modelOf(definition),
            inputs: detach(inputs),
            predictions: detach(predictions),
            bytes,
        });
        queue.bytes += bytes;
        this.queuedBytes += bytes;
        this.metrics.collected.inc({ service });
        if (queue.records.length >= this.maxBatchRecords || queue.bytes >= this.maxBatchBytes) {
            this.cut(service);
        } else if (!queue.timer) {
            queue.timer = setTimeout(() => this.cut(service), this.flushIntervalMs);
            queue.timer.unref();
        }
    }

    /** Cuts every pending batch now and resolves once all are written or dropped. */
    async flush(): Promise<void> {
        for (const service of [...this.queues.keys()]) this.cut(service);
        await this.idle();
    }

    /**
     * Stops collecting, writes what is queued for up to `closeTimeoutMs`, then abandons the rest
     * (counted as `shutdown`). Idempotent.
     */
    close(): Promise<void> {
        this.closing ??= (async () => {
            for (const service of [...this.queues.keys()]) this.cut(service);
            let timer: NodeJS.Timeout | undefined;
            const timedOut = await Promise.race([
                this.idle().then(() => false),
                new Promise<boolean>((resolve) => {
                    timer = setTimeout(() => resolve(true), this.closeTimeoutMs);
                }),
            ]);
            clearTimeout(timer);
            if (timedOut) {
                this.stopAll.abort();
                for (const batch of this.waiting.splice(0)) {
                    this.drop(batch.service, "shutdown", batch.records.length);
                    this.release(batch);
                }
                await this.idle();
            }
            await this.sink.close?.().catch(() => undefined);
        })();
        return this.closing;
    }

    // ---- batching --------------------------------------------------------------------------

    private cut(service: string): void {
        const queue = this.queues.get(service);
        if (!queue) return;
        if (queue.timer) clearTimeout(queue.timer);
        this.queues.delete(service);
        if (queue.records.length === 0) return;
        this.waiting.push({ service, records: queue.records, bytes: queue.bytes });
        this.pump();
    }

    private pump(): void {
        while (this.writing < this.maxConcurrentBatches && this.waiting.length > 0) {
            const batch = this.waiting.shift() as Batch;
            this.writing++;
            void this.write(batch).finally(() => {
                this.writing--;
                this.pump();
                this.wakeIfIdle();
            });
        }
        this.wakeIfIdle();
    }

    private idle(): Promise<void> {
        if (this.isIdle()) return Promise.resolve();
        return new Promise((resolve) => this.idleWaiters.push(resolve));
    }

    private isIdle(): boolean {
        return this.writing === 0 && this.waiting.length === 0 && this.queues.size === 0;
    }

    private wakeIfIdle(): void {
        if (!this.isIdle() || this.idleWaiters.length === 0) return;
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
    }

    /** Encodes a batch into its files (one per model/day group and designation). */
    private encode(batch: Batch): { files: BatchFile[]; groups: number[] } {
        const cutAt = Date.now();
        const name = batchFileName(cutAt, this.writerId, ++this.seq);
        const groups = new Map<string, { index: number; records: QueuedRecord[] }>();
        for (const r of batch.records) {
            const key = `${r.model.name}/${r.model.version}/${dayPath(r.time)}`;
            let g = groups.get(key);
            if (!g) {
                g = { index: groups.size, records: [] };
                groups.set(key, g);
            }
            g.records.push(r);
        }
        const files: BatchFile[] = [];
        for (const g of groups.values()) {
            const first = g.records[0];
            for (const designation of DESIGNATIONS) {
                const lines = g.records.map((r) =>
                    recordLine(
                        r.time,
                        r.requestId,
                        designation === "inputs" ? r.inputs : r.predictions,
                    ),
                );
                files.push({
                    path: `${folderOf(this.scope, batch.service, first.model, designation, first.time)}/${name}`,
                    designation,
                    body: Buffer.from(lines.join(""), "utf8"),
                    group: g.index,
                    lines: lines.length,
                });
            }
        }
        return { files, groups: [...groups.values()].map((g) => g.records.length) };
    }

    private async write(batch: Batch): Promise<void> {
        const service = batch.service;
        const { files, groups } = this.encode(batch);
        // The encoded files replace the records in the budget (the bodies can be collected now).
        const encoded = files.reduce((n, f) => n + f.body.length, 0);
        this.queuedBytes += encoded - batch.bytes;
        batch.bytes = encoded;
        batch.records.length = 0;
        try {
            const results = await Promise.all(files.map((f) => this.writeFile(service, f)));
            const lost = new Map<number, WriteResult>();
            files.forEach((f, i) => {
                if (results[i] === "ok") {
                    this.metrics.written.inc({ service, designation: f.designation }, f.lines);
                } else if (!lost.has(f.group) || results[i] === "store_error") {
                    lost.set(f.group, results[i]);
                }
            });
            this.metrics.batches.inc({ service, result: lost.size === 0 ? "written" : "failed" });
            for (const [group, reason] of lost) {
                this.drop(service, reason as DropReason, groups[group]);
            }
        } finally {
            this.release(batch);
        }
    }

    private release(batch: Batch): void {
        this.queuedBytes -= batch.bytes;
        batch.bytes = 0;
    }

    /** Writes one file with a timeout per attempt and bounded retries of transient errors. */
    private async writeFile(service: string, file: BatchFile): Promise<WriteResult> {
        for (let retry = 0; ; retry++) {
            if (this.stopAll.signal.aborted) return "shutdown";
            let err: StoreError;
            try {
                await this.attempt(file);
                return "ok";
            } catch (e) {
                if (this.stopAll.signal.aborted) return "shutdown";
                err = asStoreError(e);
            }
            const delay = err.transient ? retryDelay(this.retryPolicy, retry) : undefined;
            if (delay === undefined) {
                this.logger.warn(
                    {
                        service,
                        path: file.path,
                        code: err.code,
                        err: err.message.slice(0, 300),
                        attempts: retry + 1,
                    },
                    "model data write failed; batch dropped",
                );
                return "store_error";
            }
            this.metrics.retries.inc({ service });
            if (!(await this.sleep(delay))) return "shutdown";
        }
    }

    /** One write, abandoned after `writeTimeoutMs` even when the sink ignores the signal. */
    private async attempt(file: BatchFile): Promise<void> {
        const ac = new AbortController();
        const stop = (): void => ac.abort();
        this.stopAll.signal.addEventListener("abort", stop, { once: true });
        let timer: NodeJS.Timeout | undefined;
        const abandoned = new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
                reject(
                    new StoreError(
                        `no answer from the store within ${this.writeTimeoutMs} ms`,
                        true,
                        "timeout",
                    ),
                );
                ac.abort();
            }, this.writeTimeoutMs);
            ac.signal.addEventListener(
                "abort",
                () => reject(new StoreError("write aborted", true, "aborted")),
                { once: true },
            );
        });
        try {
            // race() handles both promises: a sink that settles after the timeout is ignored.
            await Promise.race([this.sink.put(file.path, file.body, ac.signal), abandoned]);
        } finally {
            clearTimeout(timer);
            this.stopAll.signal.removeEventListener("abort", stop);
        }
    }

    /** Resolves true after `ms`, or false at once when `close()` gave up. */
    private sleep(ms: number): Promise<boolean> {
        const signal = this.stopAll.signal;
        if (signal.aborted) return Promise.resolve(false);
        return new Promise((resolve) => {
            const onAbort = (): void => {
                clearTimeout(timer);
                resolve(false);
            };
            const timer = setTimeout(() => {
                signal.removeEventListener("abort", onAbort);
                resolve(true);
            }, ms);
            signal.addEventListener("abort", onAbort, { once: true });
        });
    }

    private drop(service: string, reason: DropReason, count: number): void {
        if (count <= 0) return;
        this.metrics.dropped.inc({ service, reason }, count);
        const key = `${service}\u0000${reason}`;
        const now = Date.now();
        if (now - (this.lastDropLog.get(key) ?? -Infinity) < DROP_LOG_INTERVAL_MS) return;
        this.lastDropLog.set(key, now);
        this.logger.warn(
            { service, reason, count, heldBytes: this.queuedBytes },
            "model data dropped (see amlaks_router_model_data_dropped_total)",
        );
    }
}
