/**
 * Prometheus metrics of one Router (DESIGN §5 "Observability"), in its own Registry so several
 * routers (tests) never share state. Gauges are computed at scrape time from the routing table
 * (no work on the request path); counters and histograms are updated per request.
 * The autoscaler registers its own metrics on `registry`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ServiceLoad } from "./types";

/** Label used for requests to services the router does not know (bounded cardinality). */
export const UNKNOWN_SERVICE_LABEL = "(unknown)";

export interface RouterMetricsOptions {
    /** Reads the current load of every service at scrape time. */
    readonly loads: () => Iterable<readonly [string, ServiceLoad]>;
    /** Node process metrics (CPU, RSS, event loop lag, GC) in the same registry. @default true */
    readonly defaultMetrics?: boolean;
}

const LATENCY_BUCKETS = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];
const QUEUE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class RouterMetrics {
    readonly registry: Registry;
    /** amlaks_router_requests_total{service,code}; code 499 = client closed the request. */
    readonly requests: Counter<"service" | "code">;
    readonly duration: Histogram<"service">;
    readonly queueWait: Histogram<"service">;
    /** Requests the router answered itself: queue_full, queue_timeout, scoring_timeout... */
    readonly rejections: Counter<"service" | "reason">;
    readonly retries: Counter<"service">;

    constructor(opts: RouterMetricsOptions) {
        const registry = new Registry();
        this.registry = registry;
        const registers = [registry];
        this.requests = new Counter({
            name: "amlaks_router_requests_total",
            help: "Scoring and swagger requests by service and HTTP status (499: client closed).",
            labelNames: ["service", "code"],
            registers,
        });
        this.duration = new Histogram({
            name: "amlaks_router_request_duration_seconds",
            help: "Time from request arrival to the end of the response, including queue wait.",
            labelNames: ["service"],
            buckets: LATENCY_BUCKETS,
            registers,
        });
        this.queueWait = new Histogram({
            name: "amlaks_router_queue_wait_seconds",
            help: "Time a request waited for a free replica slot (0 when one was free).",
            labelNames: ["service"],
            buckets: QUEUE_BUCKETS,
            registers,
        });
        this.rejections = new Counter({
            name: "amlaks_router_rejections_total",
            help: "Requests answered by the router itself, by reason.",
            labelNames: ["service", "reason"],
            registers,
        });
        this.retries = new Counter({
            name: "amlaks_router_upstream_retries_total",
            help: "Requests retried on another replica after a connection failure before the body was sent.",
            labelNames: ["service"],
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
        if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
    }
}
