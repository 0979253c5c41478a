/**
 * The OpenTelemetry side of the export, run in the export worker (worker.ts): each record becomes
 * the spans of {@link planExchange}, made with the SDK and handed to one batch span processor per
 * destination, in front of which sits a bounded queue (drops counted).
 *
 * Each model service gets its own resource (`service.name` = the model service, App Insights
 * `cloud_RoleName`; `service.instance.id` = this router, `cloud_RoleInstance`), so its telemetry
 * is found under its name.
 */
import {
    ROOT_CONTEXT,
    SpanKind,
    SpanStatusCode,
    trace,
    type Context,
    type Tracer,
} from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
    AlwaysOnSampler,
    BasicTracerProvider,
    BatchSpanProcessor,
    type ReadableSpan,
    type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { destinationNames, type TelemetryDestination } from "./config";
import {
    CountingExporter,
    buildExporter,
    type AzureMonitorExtraOptions,
    type BuiltExporter,
    type ExportFailure,
} from "./exporters";
import { planExchange, type ExportRecord, type SpanPlan } from "./spans";

/** Settings of the pipeline (plain data: they are posted to the worker). */
export interface PipelineOptions {
    readonly destinations: readonly TelemetryDestination[];
    /** Spans waiting for export, per destination. */
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
    readonly scheduledDelayMs: number;
    readonly exportTimeoutMs: number;
    /** `service.instance.id`. */
    readonly routerId: string;
    /** `service.version`. */
    readonly version?: string;
    readonly azureMonitorOptions?: AzureMonitorExtraOptions;
}

/** What one destination did so far. */
export interface DestinationStats {
    readonly destination: string;
    /** Spans waiting for export now. */
    readonly queued: number;
    /** Spans in exports that have not finished. */
    readonly exporting: number;
    /** Spans the collector accepted. */
    readonly exported: number;
    /** Spans of batches that failed (error, timeout, collector busy). */
    readonly failed: number;
    /** Spans dropped because the queue was full. */
    readonly droppedQueueFull: number;
}

/** One destination: bounded queue in front of the SDK's batch processor. */
class Destination {
    queued = 0;
    droppedQueueFull = 0;
    readonly exporter: CountingExporter;
    readonly processor: BatchSpanProcessor;

    constructor(
        readonly name: string,
        built: BuiltExporter,
        o: PipelineOptions,
        report: (failure: ExportFailure) => void,
    ) {
        const batch = Math.min(o.maxExportBatchSize, o.maxQueueSize);
        this.exporter = new CountingExporter({
            destination: name,
            built,
            onDequeue: (n) => (this.queued = Math.max(0, this.queued - n)),
            // The shutdown flush sends every queued batch at once; one more may still hang.
            maxInFlight: Math.ceil(o.maxQueueSize / batch) + 1,
            report,
            shutdownWaitMs: o.exportTimeoutMs,
        });
        // All four set: the SDK would otherwise read OTEL_BSP_* from the environment.
        this.processor = new BatchSpanProcessor(this.exporter, {
            maxQueueSize: o.maxQueueSize,
            maxExportBatchSize: batch,
            scheduledDelayMillis: o.scheduledDelayMs,
            exportTimeoutMillis: o.exportTimeoutMs,
        });
    }

    /** Queues a finished span unless the queue is full (the SDK's own limit is never reached). */
    add(span: ReadableSpan, maxQueueSize: number): void {
        if (this.queued >= maxQueueSize) {
            this.droppedQueueFull++;
            return;
        }
        this.queued++;
        this.processor.onEnd(span);
    }

    stats(): DestinationStats {
        return {
            destination: this.name,
            queued: this.queued,
            exporting: this.exporter.counts.exporting,
            exported: this.exporter.counts.exported,
            failed: this.exporter.counts.failed,
            droppedQueueFull: this.droppedQueueFull,
        };
    }
}

/** Hands each ended span to every destination; shutdown is the pipeline's, not a provider's. */
class FanOut implements SpanProcessor {
    constructor(
        private readonly destinations: readonly Destination[],
        private readonly maxQueueSize: number,
    ) {}
    onStart(): void {}
    onEnd(span: ReadableSpan): void {
        for (const d of this.destinations) d.add(span, this.maxQueueSize);
    }
    forceFlush(): Promise<void> {
        return Promise.resolve();
    }
    shutdown(): Promise<void> {
        return Promise.resolve();
    }
}

export class ExportPipeline {
    private readonly destinations: Destination[];
    private readonly fanOut: FanOut;
    private readonly tracers = new Map<string, Tracer>();
    private closed: Promise<void> | undefined;

    constructor(
        private readonly o: PipelineOptions,
        report: (failure: ExportFailure) => void = () => undefined,
    ) {
        const names = destinationNames(o.destinations);
        this.destinations = o.destinations.map(
            (d, i) =>
                new Destination(
                    names[i],
                    buildExporter(d, o.exportTimeoutMs, o.azureMonitorOptions),
                    o,
                    report,
                ),
        );
        this.fanOut = new FanOut(this.destinations, o.maxQueueSize);
    }

    /** Makes and queues the spans of one finished request. */
    add(record: ExportRecord): void {
        if (this.closed) return;
        const plan = planExchange(record);
        const tracer = this.tracer(record.service);
        const server = start(tracer, plan.server, SpanKind.SERVER, ROOT_CONTEXT);
        if (plan.client) {
            const parent = trace.setSpan(ROOT_CONTEXT, server);
            start(tracer, plan.client, SpanKind.CLIENT, parent).end(plan.client.endTime);
        }
        server.end(plan.server.endTime);
    }

    stats(): DestinationStats[] {
        return this.destinations.map((d) => d.stats());
    }

    /** Exports what is queued (each export bounded by exportTimeoutMs), then stops. Idempotent. */
    close(): Promise<void> {
        this.closed ??= Promise.all(
            this.destinations.map((d) => d.processor.shutdown().catch(() => undefined)),
        ).then(() => undefined);
        return this.closed;
    }

    private tracer(service: string): Tracer {
        let t = this.tracers.get(service);
        if (!t) {
            const provider = new BasicTracerProvider({
                resource: resourceFromAttributes({
                    [ATTR_SERVICE_NAME]: service,
                    "service.instance.id": this.o.routerId,
                    ...(this.o.version ? { [ATTR_SERVICE_VERSION]: this.o.version } : {}),
                }),
                // Which requests are exported is decided per service, not by OTEL_TRACES_SAMPLER.
                sampler: new AlwaysOnSampler(),
                spanProcessors: [this.fanOut],
            });
            t = provider.getTracer("amlaks-router");
            this.tracers.set(service, t);
        }
        return t;
    }
}

function start(
    tracer: Tracer,
    plan: SpanPlan,
    kind: SpanKind,
    ctx: Context,
): ReturnType<Tracer["startSpan"]> {
    const span = tracer.startSpan(
        plan.name,
        { kind, startTime: plan.startTime, attributes: plan.attributes },
        ctx,
    );
    for (const e of plan.events) span.addEvent(e.name, e.attributes, e.time);
    if (plan.error) span.setStatus({ code: SpanStatusCode.ERROR });
    return span;
}
