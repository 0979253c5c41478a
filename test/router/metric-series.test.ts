/**
 * The request-path metrics (router/metric-series.ts) expose exactly what prom-client's own
 * Histogram and Counter expose for the same observations, in both exposition formats.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Counter, Histogram, Registry } from "prom-client";
import { ServiceHistogram, ServiceStatusCounter } from "../../router/metric-series";

const BUCKETS = [0.001, 0.005, 0.01, 0.1, 1];
const OBSERVED: [string, number][] = [
    ["a", 0],
    ["a", 0.001], // on a bound: counted in that bucket (le)
    ["a", 0.0011],
    ["b", 0.2],
    ["a", 7], // above every bound: +Inf only
    ["b", 0.005],
];
const STATUSES: [string, number][] = [
    ["a", 200],
    ["a", 200],
    ["a", 503],
    ["(unknown)", 401],
];

async function both(contentType: string): Promise<[string, string]> {
    const ours = new Registry();
    const theirs = new Registry();
    ours.setContentType(contentType as never);
    theirs.setContentType(contentType as never);
    const h = new ServiceHistogram({
        name: "x_seconds",
        help: "X.",
        buckets: BUCKETS,
        registers: [ours],
    });
    const c = new ServiceStatusCounter({ name: "x_total", help: "Y.", registers: [ours] });
    const ph = new Histogram({
        name: "x_seconds",
        help: "X.",
        labelNames: ["service"],
        buckets: BUCKETS,
        registers: [theirs],
    });
    const pc = new Counter({
        name: "x_total",
        help: "Y.",
        labelNames: ["service", "code"],
        registers: [theirs],
    });
    for (const [service, v] of OBSERVED) {
        h.observe(service, v);
        ph.observe({ service }, v);
    }
    for (const [service, code] of STATUSES) {
        c.inc(service, code);
        pc.inc({ service, code: String(code) });
    }
    return [await ours.metrics(), await theirs.metrics()];
}

describe("ServiceHistogram and ServiceStatusCounter", () => {
    test("expose the same text as prom-client's Histogram and Counter (Prometheus format)", async () => {
        const [ours, theirs] = await both(Registry.PROMETHEUS_CONTENT_TYPE);
        assert.equal(ours, theirs);
        assert.match(ours, /^x_seconds_bucket\{le="0.001",service="a"\} 2$/m);
        assert.match(ours, /^x_seconds_bucket\{le="\+Inf",service="a"\} 4$/m);
        assert.match(ours, /^x_total\{service="a",code="200"\} 2$/m);
    });

    test("and in the OpenMetrics format", async () => {
        const [ours, theirs] = await both(Registry.OPENMETRICS_CONTENT_TYPE);
        assert.equal(ours, theirs);
    });

    test("reset empties them; values that are not finite are not observed", async () => {
        const r = new Registry();
        const h = new ServiceHistogram({
            name: "y_seconds",
            help: "Y.",
            buckets: BUCKETS,
            registers: [r],
        });
        h.observe("a", Number.NaN);
        assert.doesNotMatch(await r.metrics(), /y_seconds_count/);
        h.observe("a", 1);
        assert.match(await r.metrics(), /^y_seconds_count\{service="a"\} 1$/m);
        r.resetMetrics();
        assert.doesNotMatch(await r.metrics(), /y_seconds_count/);
    });
});
