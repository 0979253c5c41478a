/**
 * Prometheus metrics of one Router (docs/design.md §5 "Observability"), in its own Registry so
 * several routers (tests) never share state. Names follow the Prometheus conventions: base units
 * (seconds, bytes), `_total` counters, a `service` label on everything per service (bounded: the
 * services the router knows, plus "(unknown)"). Gauges are computed at scrape time from the
 * routing table (no work on the request path); counters and histograms are updated once per
 * request, when it settles. The autoscaler registers its own metrics on `registry`.
 * The list with meanings is in docs/router.md ("Metrics").
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { ServiceHistogram, ServiceStatusCounter } from "./metric-series";
import { utilizationOf } from "./autoscaler/decide";
import { OUTCOMES, type OutcomeReason } from "./outcomes";
import type { ServiceLoad } from "./types";

/** Label used for requests to services the router does not know (bounded cardinality). */
export const UNKNOWN_SERVICE_LABEL = "(unknown)";

export interface RouterMetricsOptions {
    /** Reads the current load of every service at scrape time. */
    readonly loads: () => Iterable<readonly [string, ServiceLoad]>;
    /** Node process metrics (CPU, RSS, event loop lag, GC) in the same registry. @default true */
    readonly defaultMetrics?: boolean;
    /**
     * Update the per-request counters and histograms. False (`ROUTER_METRICS=false`): requests
     * cost no metrics work and /metrics is not served. @default true
     */
    readonly recording?: boolean;
}

/** What a settled request tells the metrics (routing/request.ts RouterRequest satisfies it). */
export interface SettledRequest {
    readonly service: string;
    readonly status: number;
    /** Milliseconds waiting for a slot; undefined when no slot was asked for. */
    readonly queueMs: number | undefined;
    /** Milliseconds the replica worked; undefined when no replica got the request. */
    readonly modelMs: number | undefined;
}

const LATENCY_BUCKETS = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];
const QUEUE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class RouterMetrics {
    readonly registry: Registry;
    /** amlaks_router_requests_total{service,code}; code 499 = client closed the request. */
    readonly requests: ServiceStatusCounter;
    readonly duration: ServiceHistogram;
    readonly queueWait: ServiceHistogram;
    readonly modelDuration: ServiceHistogram;
    /** Requests the router answered itself or cut, by outcome reason (router/outcomes.ts). */
    readonly rejections: Counter<"service" | "reason">;
    readonly authFailures: Counter<"service">;
    readonly payloadLimitRejections: Counter<"service" | "reason">;
    readonly retries: Counter<"service">;
    /** Observer calls that threw (router/observe.ts). */
    readonly observerErrors: Counter;
    /** Per-request counters and histograms are updated (RouterMetricsOptions.recording). */
    readonly recording: boolean;

    constructor(opts: RouterMetricsOptions) {
        const registry = new Registry();
        this.registry = registry;
        this.recording = opts.recording ?? true;
        const registers = [registry];
        // The four series updated on every request: cheaper than prom-client's own (metric-series.ts).
        this.requests = new ServiceStatusCounter({
            name: "amlaks_router_requests_total",
            help: "Scoring and swagger requests by service and HTTP status (499: client closed).",
            registers,
        });
        this.duration = new ServiceHistogram({
            name: "amlaks_router_request_duration_seconds",
            help: "Time from request arrival to the end of the response, including queue wait.",
            buckets: LATENCY_BUCKETS,
            registers,
        });
        this.queueWait = new ServiceHistogram({
            name: "amlaks_router_queue_wait_seconds",
            help: "Time a request waited for a free replica slot (0 when one was free; requests refused from the queue included).",
            buckets: QUEUE_BUCKETS,
            registers,
        });
        this.modelDuration = new ServiceHistogram({
            name: "amlaks_router_model_duration_seconds",
            help: "Time from sending a request to a replica until its answer was complete (or the router cut it).",
            buckets: LATENCY_BUCKETS,
            registers,
        });
        this.rejections = new Counter({
            name: "amlaks_router_rejections_total",
            help: "Requests answered or cut by the router itself, by reason (docs/router.md).",
            labelNames: ["service", "reason"],
            registers,
        });
        this.authFailures = new Counter({
            name: "amlaks_router_auth_failures_total",
            help: 'Requests refused with 401 (missing or wrong key or token); unknown services count under "(unknown)".',
            labelNames: ["service"],
            registers,
        });
        this.payloadLimitRejections = new Counter({
            name: "amlaks_router_payload_limit_rejections_total",
            help: "Request bodies above the body limit (413) and replica answers above the answer limit (502), by reason.",
            labelNames: ["service", "reason"],
            registers,
        });
        this.retries = new Counter({
            name: "amlaks_router_upstream_retries_total",
            help: "Requests retried on another replica after a connection failure before the body was sent.",
            labelNames: ["service"],
            registers,
        });
        this.observerErrors = new Counter({
            name: "amlaks_router_observer_errors_total",
            help: "Calls to exchange observers (data collection, telemetry export) that threw.",
            registers,
        });
        const gauge = (name: string, help: string, pickValue: (l: ServiceLoad) => number): void => {
            new Gauge({
                name,
                help,
                labelNames: ["service"],
                registers,
                collect() {
                    this.reset();
                    for (const [service, load] of opts.loads())
                        this.set({ service }, pickValue(load));
                },
            });
        };
        gauge(
            "amlaks_router_in_flight_requests",
            "Requests being served by replicas.",
            (l) => l.inFlight,
        );
        gauge(
            "amlaks_router_queue_length",
            "Requests waiting for a free replica slot.",
            (l) => l.queued,
        );
        gauge(
            "amlaks_router_ready_replicas",
            "Replicas taking traffic (ready, not draining).",
            (l) => l.readyReplicas,
        );
        gauge(
            "amlaks_router_busy_replicas",
            "Ready replicas with at least one request in flight (R32).",
            (l) => l.busyReplicas,
        );
        gauge(
            "amlaks_router_utilization_ratio",
            "(busy replicas + queued requests) / ready replicas, as the autoscaler computes it (R32).",
            utilizationOf,
        );
        if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
    }

    /** The router answered or cut a request itself for `reason`. */
    rejected(service: string, reason: OutcomeReason): void {
        if (!this.recording) return;
        this.rejections.inc({ service, reason });
        const outcome = OUTCOMES[reason];
        if (!("counter" in outcome)) return;
        if (outcome.counter === "auth_failures") this.authFailures.inc({ service });
        else this.payloadLimitRejections.inc({ service, reason });
    }

    /** A request went to another replica after a connection failure. */
    retried(service: string): void {
        if (this.recording) this.retries.inc({ service });
    }

    /** Once per request, when it settles. `durationMs` is its whole time in the router. */
    settled(r: SettledRequest, durationMs: number): void {
        if (!this.recording) return;
        const service = r.service;
        this.requests.inc(service, r.status);
        this.duration.observe(service, durationMs / 1000);
        if (r.queueMs !== undefined) this.queueWait.observe(service, r.queueMs / 1000);
        if (r.modelMs !== undefined) this.modelDuration.observe(service, r.modelMs / 1000);
    }
}
