/**
 * Prometheus series of model data collection. They join the router's registry (`registerIn`) so
 * they are scraped with the rest of `/metrics`; the collector exists before the router does
 * (it is one of the router's observers), hence no registry at construction. Counts are per
 * request (one inputs line + one predictions line) unless the name says otherwise.
 */
import { Counter, Gauge, type Metric, type Registry } from "prom-client";

/** Why collected data was lost. */
export type DropReason =
    /** The queued bytes would pass the budget (the store is slower than the traffic). */
    | "queue_full"
    /** One request's bodies alone are larger than a record may be. */
    | "too_large"
    /** The store refused or failed the batch after every retry. */
    | "store_error"
    /** Still queued when the router stopped and its drain time ran out. */
    | "shutdown";

export class ModelDataMetrics {
    /** Requests sampled and queued. */
    readonly collected: Counter<"service">;
    /** Lines written, per designation (inputs, predictions). */
    readonly written: Counter<"service" | "designation">;
    /** Batches by result: `written` (both files) or `failed`. */
    readonly batches: Counter<"service" | "result">;
    /** Requests whose data (either file) was lost, by reason. */
    readonly dropped: Counter<"service" | "reason">;
    /** File writes retried after a transient store error. */
    readonly retries: Counter<"service">;

    private readonly all: Metric[];

    constructor(queuedBytes: () => number) {
        const registers: Registry[] = [];
        this.collected = new Counter({
            name: "amlaks_router_model_data_collected_total",
            help: "Scoring requests sampled for model data collection and queued.",
            labelNames: ["service"],
            registers,
        });
        this.written = new Counter({
            name: "amlaks_router_model_data_written_total",
            help: "Model data lines written to the store, by designation (inputs, predictions).",
            labelNames: ["service", "designation"],
            registers,
        });
        this.batches = new Counter({
            name: "amlaks_router_model_data_batches_total",
            help: "Model data batches by result: written (inputs and predictions files) or failed.",
            labelNames: ["service", "result"],
            registers,
        });
        this.dropped = new Counter({
            name: "amlaks_router_model_data_dropped_total",
            help: "Sampled scoring requests whose model data was lost, by reason (queue_full, too_large, store_error, shutdown).",
            labelNames: ["service", "reason"],
            registers,
        });
        this.retries = new Counter({
            name: "amlaks_router_model_data_retries_total",
            help: "Model data file writes retried after a transient store error.",
            labelNames: ["service"],
            registers,
        });
        const held = new Gauge({
            name: "amlaks_router_model_data_queued_bytes",
            help: "Bytes of model data held by the router: queued records and batches being written.",
            registers,
            collect() {
                this.set(queuedBytes());
            },
        });
        this.all = [this.collected, this.written, this.batches, this.dropped, this.retries, held];
    }

    /** Adds the series to `registry` (the router's); once per registry. */
    registerIn(registry: Registry): void {
        for (const m of this.all) registry.registerMetric(m);
    }
}
